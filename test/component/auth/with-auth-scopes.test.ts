// withAuth over a real loopback server: one retry with the wider scope an insufficient_scope 401 asks
// for, and credentials looked up per repository (auth.json namespace keys).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthError } from '../../../src/errors.js';
import { computeDigest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import type { ImageRef } from '../../../src/reference/types.js';
import type { CredentialLookup } from '../../../src/registry/types.js';
import { newClient } from '../registry/client-setup.js';
import { sendJson, startServer, type TestServer } from '../registry/http-server.js';

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: {}, layers: [] }));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function ref(registry: string, repository: string): ImageRef {
  return { domain: registry, registry, repository, tag: 'latest', name: `${registry}/${repository}`, toString: () => `${registry}/${repository}:latest` };
}

/** A bearer registry whose manifests need `wanted(repo)` in the token; the token server echoes scopes and the user. */
async function registry(wanted: (repo: string) => string, tokenAsks: string[]): Promise<TestServer> {
  const holder: { self?: TestServer } = {};
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const origin = holder.self!.origin;
    const url = new URL(req.url ?? '/', origin);
    const challenge = `Bearer realm="${origin}/token",service="fake"`;
    if (url.pathname === '/token') {
      const user = req.headers.authorization === undefined ? 'anon' : Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':')[0]!;
      const scope = url.searchParams.getAll('scope').join(' ');
      tokenAsks.push(`${user} ${scope}`);
      return sendJson(res, 200, { token: `tok|${user}|${scope}`, expires_in: 300 });
    }
    if (url.pathname === '/v2/') return sendJson(res, 401, {}, { 'www-authenticate': challenge });
    const repo = /^\/v2\/(.+)\/manifests\//.exec(url.pathname)![1]!;
    const need = wanted(repo);
    const auth = req.headers.authorization ?? '';
    if (!auth.endsWith(`|${need}`)) {
      // An anonymous request learns the plain pull scope; only a token that proves too narrow is told the
      // wider one, with insufficient_scope (as distribution does for cross-repository needs).
      const error = auth === '' ? '' : ',error="insufficient_scope"';
      const named = auth === '' ? `repository:${repo}:pull` : need;
      return sendJson(res, 401, { errors: [{ code: 'DENIED', message: 'scope' }] }, { 'www-authenticate': `${challenge},scope="${named}"${error}` });
    }
    res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': MANIFEST.length, 'x-user': auth.split('|')[1]! });
    res.end(MANIFEST);
  };
  const s = await startServer(handler);
  holder.self = s;
  cleanups.push(() => s.close());
  return s;
}

function client(host: string, lookup?: CredentialLookup) {
  const c = newClient(host, lookup);
  cleanups.push(() => c.close());
  return c.client;
}

describe('withAuth scopes and per-repository credentials', () => {
  it('retries once with the wider scope an insufficient_scope 401 names, then remembers it', async () => {
    const asks: string[] = [];
    const wider = (repo: string) => `repository:${repo}:pull repository:shared/base:pull`;
    const reg = await registry(wider, asks);
    const c = client(reg.host);
    const got = await c.getManifest(ref(reg.host, 'team/app'), 'latest');
    expect(got.descriptor.digest).toBe(computeDigest(MANIFEST));
    await c.getManifest(ref(reg.host, 'team/app'), 'latest');
    expect(asks).toEqual(['anon repository:team/app:pull', `anon ${wider('team/app')}`]);
  });

  it('gives up after the one retry when the wider token is refused too', async () => {
    const asks: string[] = [];
    let n = 0;
    const reg = await registry(() => `repository:moving:pull${n++}`, asks);
    await expect(client(reg.host).getManifest(ref(reg.host, 'x/y'), 'latest')).rejects.toThrow(AuthError);
    expect(asks).toHaveLength(2);
  });

  it('looks credentials up per repository, so namespace keys pick different users', async () => {
    const asks: string[] = [];
    const reg = await registry((repo) => `repository:${repo}:pull`, asks);
    const seen: (string | undefined)[] = [];
    const lookup: CredentialLookup = (_registry, repository) => {
      seen.push(repository);
      const username = repository?.startsWith('team/') ? 'teamuser' : 'hostuser';
      return Promise.resolve({ username, password: 'pw', source: 'test' });
    };
    const c = client(reg.host, lookup);
    await c.getManifest(ref(reg.host, 'team/app'), 'latest');
    await c.getManifest(ref(reg.host, 'other/app'), 'latest');
    expect(asks).toEqual(['teamuser repository:team/app:pull', 'hostuser repository:other/app:pull']);
    expect(seen).toEqual(['team/app', 'other/app']);
  });
});
