import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCredentialLookup } from '../../../src/auth/docker-config.js';
import { AuthError } from '../../../src/errors.js';
import { computeDigest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import type { ImageRef } from '../../../src/reference/types.js';
import { newClient, type TestClient } from './client-setup.js';
import { sendJson, startServer, type TestServer } from './http-server.js';

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: {}, layers: [] }));
const BLOB = Buffer.from('layer bytes '.repeat(100));
const BLOB_DIGEST = computeDigest(BLOB);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function ref(registry: string, repository: string): ImageRef {
  return { domain: registry, registry, repository, tag: 'latest', name: `${registry}/${repository}`, toString: () => `${registry}/${repository}:latest` };
}

async function server(handler: (req: IncomingMessage, res: ServerResponse, self: TestServer) => void): Promise<TestServer> {
  const holder: { self?: TestServer } = {};
  const s = await startServer((req, res) => handler(req, res, holder.self!));
  holder.self = s;
  cleanups.push(() => s.close());
  return s;
}

function client(registry: string, lookup?: Parameters<typeof newClient>[1]): TestClient {
  const c = newClient(registry, lookup);
  cleanups.push(() => c.close());
  return c;
}

/** A token-auth registry: /v2/ challenges, /token hands out "tok:<scope>" (to user:pw when `password` is set). */
function bearerRegistry(password?: string) {
  return (req: IncomingMessage, res: ServerResponse, self: TestServer): void => {
    const url = new URL(req.url ?? '/', self.origin);
    const challenge = `Bearer realm="${self.origin}/token",service="fake"`;
    if (url.pathname === '/token') {
      if (password !== undefined && req.headers.authorization !== `Basic ${Buffer.from(`user:${password}`).toString('base64')}`) {
        return sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      }
      return sendJson(res, 200, { token: `tok:${url.searchParams.getAll('scope').join(' ')}`, expires_in: 300 });
    }
    if (url.pathname === '/v2/') return sendJson(res, 401, {}, { 'www-authenticate': challenge });
    const repo = /^\/v2\/(.+)\/manifests\//.exec(url.pathname)?.[1];
    const scope = `repository:${repo}:pull`;
    if (req.headers.authorization !== `Bearer tok:${scope}`) {
      return sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'token' }] }, { 'www-authenticate': `${challenge},scope="${scope}"` });
    }
    res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': MANIFEST.length });
    res.end(MANIFEST);
  };
}

describe('bearer token auth', () => {
  it('fetches one anonymous token per scope across concurrent requests', async () => {
    const reg = await server(bearerRegistry());
    const { client: c } = client(reg.host);
    const results = await Promise.all([...Array(6)].map(() => c.getManifest(ref(reg.host, 'lib/app'), 'latest')));
    await c.getManifest(ref(reg.host, 'lib/other'), 'latest');
    expect(results.every((r) => r.descriptor.digest === computeDigest(MANIFEST))).toBe(true);
    const tokenRequests = reg.seen.filter((r) => r.url.startsWith('/token'));
    expect(tokenRequests.map((r) => new URL(r.url, reg.origin).searchParams.get('scope'))).toEqual(['repository:lib/app:pull', 'repository:lib/other:pull']);
    expect(tokenRequests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(reg.seen.filter((r) => r.url === '/v2/')).toHaveLength(1); // the background warm-up, never awaited
  });

  it('sends config.json credentials to the token server; refused ones give AuthError naming the file, not the secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dray-auth-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const reg = await server(bearerRegistry('right-pw'));
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from('user:wrong-pw').toString('base64') } } }));
    const { client: c } = client(reg.host, createCredentialLookup({ dockerConfigPath: path }));
    const err = await c.getManifest(ref(reg.host, 'lib/app'), 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).exitCode).toBe(4);
    expect((err as AuthError).hint).toContain(path);
    expect(`${(err as AuthError).message} ${(err as AuthError).hint}`).not.toContain('wrong-pw');
    const token = reg.seen.find((r) => r.url.startsWith('/token'));
    expect(token?.headers.authorization).toBe(`Basic ${Buffer.from('user:wrong-pw').toString('base64')}`);
    expect(new URL(token!.url, reg.origin).searchParams.get('account')).toBe('user');
  });
});

/** A Basic-auth registry for user:pw that redirects blobs to `storage` (or to itself when absent). */
function basicRegistry(storage?: () => string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const ok = req.headers.authorization === `Basic ${Buffer.from('user:pw').toString('base64')}`;
    if (!ok) return sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'who are you' }] }, { 'www-authenticate': 'Basic realm="fake"' });
    if (req.url === '/v2/') return sendJson(res, 200, {});
    if (req.url?.startsWith('/v2/lib/app/blobs/')) {
      res.writeHead(307, { location: storage ? `${storage()}/bucket/blob?X-Amz-Signature=s` : '/internal/blob' });
      return void res.end();
    }
    if (req.url === '/internal/blob') {
      res.writeHead(200, { 'content-length': BLOB.length });
      return void res.end(BLOB);
    }
    res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': MANIFEST.length });
    res.end(MANIFEST);
  };
}

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

describe('basic auth', () => {
  it('sends --creds as Basic to the registry', async () => {
    const reg = await server(basicRegistry());
    const { client: c } = client(reg.host, createCredentialLookup({ creds: 'user:pw' }));
    const m = await c.getManifest(ref(reg.host, 'lib/app'), 'latest');
    expect(m.descriptor.mediaType).toBe(MediaType.OciManifest);
    expect(reg.seen.at(-1)?.headers['user-agent']).toBe('dray-test');
  });

  it('refuses wrong credentials with AuthError exit 4, naming --creds and never the password', async () => {
    const reg = await server(basicRegistry());
    const { client: c } = client(reg.host, createCredentialLookup({ creds: 'user:hunter2' }));
    const err = await c.getManifest(ref(reg.host, 'lib/app'), 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).exitCode).toBe(4);
    expect((err as AuthError).hint).toContain('--creds');
    expect(`${(err as AuthError).message} ${(err as AuthError).hint}`).not.toContain('hunter2');
  });

  it('does not send Authorization to blob storage on another origin', async () => {
    const storage = await server((req, res) => {
      res.writeHead(200, { 'content-length': BLOB.length });
      res.end(BLOB);
    });
    const reg = await server(basicRegistry(() => storage.origin));
    const { client: c } = client(reg.host, createCredentialLookup({ creds: 'user:pw' }));
    const blob = await c.openBlob('lib/app', BLOB_DIGEST);
    expect(await readAll(blob.body)).toEqual(BLOB);
    expect(blob.url.origin).toBe(storage.origin);
    expect(storage.seen).toHaveLength(1);
    expect(storage.seen[0]?.headers.authorization).toBeUndefined();
    expect(storage.seen[0]?.headers['accept-encoding']).toBe('identity');
    // the registry itself got the credentials (on the replay after its Basic challenge)
    expect(reg.seen.filter((r) => r.url.startsWith('/v2/lib/app/blobs/')).at(-1)?.headers.authorization).toBeDefined();
  });

  it('keeps Authorization on a same-origin redirect', async () => {
    const reg = await server(basicRegistry());
    const { client: c } = client(reg.host, createCredentialLookup({ creds: 'user:pw' }));
    const blob = await c.openBlob('lib/app', BLOB_DIGEST);
    expect(await readAll(blob.body)).toEqual(BLOB);
    expect(blob.url.pathname).toBe('/internal/blob');
    expect(reg.seen.find((r) => r.url === '/internal/blob')?.headers.authorization).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
  });
});
