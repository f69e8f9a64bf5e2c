/**
 * A minimal test-only pusher (distribution-spec "Pushing blobs" monolithic POST + PUT, "Pushing
 * manifests"), built on Node's fetch. It answers Basic and Bearer challenges once per client, so it
 * can seed the real registry and the fake one alike.
 */
import type { Digest } from '../../src/oci/digest.js';
import type { BuiltImage, BuiltIndex } from './image-builder.js';

export interface PushOptions {
  readonly tag?: string;
  readonly auth?: { readonly username: string; readonly password: string };
  readonly signal?: AbortSignal;
}

interface PushClient {
  request(method: string, pathOrUrl: string, init?: { headers?: Record<string, string>; body?: Uint8Array }): Promise<Response>;
}

/** Returns a client for one repository that keeps the Authorization it earned from a challenge. */
export function createPushClient(registryUrl: string, repo: string, options: PushOptions = {}): PushClient {
  const base = registryUrl.replace(/\/$/, '');
  let authorization: string | undefined;
  const send = (method: string, url: string, init: { headers?: Record<string, string>; body?: Uint8Array }): Promise<Response> =>
    fetch(url, {
      method,
      headers: { ...init.headers, ...(authorization ? { authorization } : {}) },
      ...(init.body ? { body: init.body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      redirect: 'manual',
    });
  return {
    async request(method, pathOrUrl, init = {}) {
      const url = new URL(pathOrUrl, `${base}/`).toString();
      const first = await send(method, url, init);
      if (first.status !== 401 || authorization !== undefined) return first;
      await first.arrayBuffer();
      authorization = await answerChallenge(first.headers.get('www-authenticate') ?? '', repo, options);
      return send(method, url, init);
    },
  };
}

async function answerChallenge(challenge: string, repo: string, options: PushOptions): Promise<string> {
  const basic = options.auth ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}` : undefined;
  if (/^basic/i.test(challenge)) {
    if (!basic) throw new Error('registry wants Basic auth and no credentials were given');
    return basic;
  }
  if (!/^bearer/i.test(challenge)) throw new Error(`unsupported challenge "${challenge}"`);
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
  if (!params.realm) throw new Error(`bearer challenge without realm: "${challenge}"`);
  const tokenUrl = new URL(params.realm);
  if (params.service) tokenUrl.searchParams.set('service', params.service);
  tokenUrl.searchParams.set('scope', `repository:${repo}:pull,push`);
  const res = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {}, ...(options.signal ? { signal: options.signal } : {}) });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error('token endpoint returned no token');
  return `Bearer ${token}`;
}

async function expectStatus(res: Response, expected: number[], what: string): Promise<void> {
  if (expected.includes(res.status)) {
    await res.arrayBuffer();
    return;
  }
  throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
}

/** Uploads one blob unless the registry already has it (HEAD first). */
export async function pushBlob(registryUrl: string, repo: string, bytes: Uint8Array, digest: Digest, options: PushOptions = {}, client = createPushClient(registryUrl, repo, options)): Promise<void> {
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`);
  await head.arrayBuffer();
  if (head.status === 200) return;
  const start = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
  await expectStatus(start, [202], `start upload of ${digest}`);
  const location = start.headers.get('location');
  if (!location) throw new Error(`start upload of ${digest}: no Location`);
  const put = new URL(location, `${registryUrl.replace(/\/$/, '')}/`);
  put.searchParams.set('digest', digest);
  const res = await client.request('PUT', put.toString(), {
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  await expectStatus(res, [201], `upload of ${digest}`);
}

/** Puts a manifest (or index) under `reference` (a tag or its digest). */
export async function pushManifest(registryUrl: string, repo: string, reference: string, bytes: Uint8Array, mediaType: string, options: PushOptions = {}, client = createPushClient(registryUrl, repo, options)): Promise<void> {
  const res = await client.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'content-type': mediaType }, body: bytes });
  await expectStatus(res, [201], `put manifest ${repo}:${reference}`);
}

/** Pushes an image's blobs, then its manifest by digest and, with `tag`, by tag. Returns the manifest digest. */
export async function pushImage(registryUrl: string, repo: string, image: BuiltImage, options: PushOptions = {}): Promise<Digest> {
  const client = createPushClient(registryUrl, repo, options);
  for (const [digest, bytes] of image.blobs) await pushBlob(registryUrl, repo, bytes, digest, options, client);
  const { bytes, digest, mediaType } = image.manifest;
  await pushManifest(registryUrl, repo, options.tag ?? digest, bytes, mediaType, options, client);
  return digest;
}

/** Pushes every image of an index by digest, then the index (by tag when given). Returns the index digest. */
export async function pushIndex(registryUrl: string, repo: string, index: BuiltIndex, options: PushOptions = {}): Promise<Digest> {
  const { tag: _tag, ...byDigest } = options;
  for (const image of index.images) await pushImage(registryUrl, repo, image, byDigest);
  const client = createPushClient(registryUrl, repo, options);
  await pushManifest(registryUrl, repo, options.tag ?? index.index.digest, index.index.bytes, index.index.mediaType, options, client);
  return index.index.digest;
}
