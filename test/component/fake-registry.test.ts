/**
 * The fake registry itself: the API subset, auth, and each fault switch observed with plain fetch
 * over real loopback sockets.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeDigest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { startFakeRegistry, type FakeRegistry, type FakeRegistryOptions } from '../helpers/fake-registry.js';
import { buildImage, buildIndex, buildLayer, randomBytes } from '../helpers/image-builder.js';
import { pushImage } from '../helpers/push.js';

const BLOB = randomBytes(200_000, 'fake-registry');
const DIGEST = computeDigest(BLOB);

let registry: FakeRegistry;
async function start(options: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  registry = await startFakeRegistry(options);
  registry.seedBlob('lib/app', BLOB);
  return registry;
}
afterEach(async () => {
  await registry?.close();
});

const blobUrl = (): string => `${registry.url}/v2/lib/app/blobs/${DIGEST}`;

/** Reads a body until it ends or fails; returns the bytes that arrived and the error, if any. */
async function readAll(res: Response): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: Buffer.concat(chunks) };
      chunks.push(value);
    }
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

describe('fake registry: API subset', () => {
  beforeEach(() => start());

  it('serves manifests by tag and digest with Content-Type and Docker-Content-Digest', async () => {
    const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'a', content: 'a' }])] });
    const index = buildIndex([image]);
    registry.seed('lib/app', index, 'latest');
    const byTag = await fetch(`${registry.url}/v2/lib/app/manifests/latest`);
    expect(byTag.headers.get('content-type')).toBe(MediaType.OciIndex);
    expect(byTag.headers.get('docker-content-digest')).toBe(index.index.digest);
    expect(computeDigest(new Uint8Array(await byTag.arrayBuffer()))).toBe(index.index.digest);
    const head = await fetch(`${registry.url}/v2/lib/app/manifests/${image.manifest.digest}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('content-type')]).toEqual([200, String(image.manifest.size), MediaType.OciManifest]);
    const config = await fetch(`${registry.url}/v2/lib/app/blobs/${image.config.digest}`);
    expect(Buffer.from(await config.arrayBuffer()).equals(Buffer.from(image.config.bytes))).toBe(true);
    const missing = await fetch(`${registry.url}/v2/lib/app/manifests/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errors: [{ code: 'MANIFEST_UNKNOWN' }] });
  });

  it('serves blobs whole, by Range with 206 and Content-Range, and 416 past the end', async () => {
    const whole = await fetch(blobUrl());
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await whole.arrayBuffer()).equals(Buffer.from(BLOB))).toBe(true);
    const part = await fetch(blobUrl(), { headers: { range: 'bytes=1000-1999' } });
    expect([part.status, part.headers.get('content-range')]).toEqual([206, `bytes 1000-1999/${BLOB.length}`]);
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(BLOB.subarray(1000, 2000)))).toBe(true);
    const open = await fetch(blobUrl(), { headers: { range: `bytes=${BLOB.length - 10}-` } });
    expect((await open.arrayBuffer()).byteLength).toBe(10);
    const past = await fetch(blobUrl(), { headers: { range: `bytes=${BLOB.length}-` } });
    expect([past.status, past.headers.get('content-range')]).toEqual([416, `bytes */${BLOB.length}`]);
    const head = await fetch(blobUrl(), { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('docker-content-digest')]).toEqual([200, String(BLOB.length), DIGEST]);
  });

  it('logs each request with range, status and bytes sent; blobGets and bytesServed sum them', async () => {
    await (await fetch(blobUrl())).arrayBuffer();
    await (await fetch(blobUrl(), { headers: { range: 'bytes=0-99' } })).arrayBuffer();
    await (await fetch(`${registry.url}/v2/`)).arrayBuffer();
    expect(registry.blobGets(DIGEST).map((r) => [r.status, r.range, r.bytesSent])).toEqual([
      [200, undefined, BLOB.length],
      [206, 'bytes=0-99', 100],
    ]);
    expect(registry.bytesServed()).toBe(BLOB.length + 100 + 2);
  });

  it('is read-only: the test pusher finds seeded blobs by HEAD and its manifest PUT gets 405', async () => {
    const layer = await buildLayer([]);
    const image = buildImage({ layers: [layer] });
    for (const [d, b] of image.blobs) registry.seedBlob('lib/app', b, d);
    // the fake has no upload endpoints, so the push succeeds only if every blob HEAD said 200 first
    await expect(pushImage(registry.url, 'lib/app', image)).rejects.toThrow(/put manifest.*405/);
    expect(registry.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });
});

describe('fake registry: auth', () => {
  it('basic: 401 with a Basic challenge, 200 with the right user', async () => {
    await start({ auth: { kind: 'basic', users: { u: 'p' } } });
    const anonymous = await fetch(blobUrl(), { method: 'HEAD' });
    expect([anonymous.status, anonymous.headers.get('www-authenticate')]).toEqual([401, 'Basic realm="fake-registry"']);
    const ok = await fetch(blobUrl(), { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } });
    expect(ok.status).toBe(200);
    const wrong = await fetch(blobUrl(), { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from('u:x').toString('base64')}` } });
    expect(wrong.status).toBe(401);
  });

  it('bearer: the challenge names /token; tokens are scoped to the repository and can be revoked', async () => {
    await start({ auth: { kind: 'bearer', users: { u: 'p' }, service: 'svc' } });
    const challenged = await fetch(blobUrl());
    expect(challenged.headers.get('www-authenticate')).toBe(`Bearer realm="${registry.url}/token",service="svc",scope="repository:lib/app:pull"`);
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    expect((await fetch(`${registry.url}/token?service=svc&scope=repository:lib/app:pull`)).status).toBe(401);
    const tokenRes = await fetch(`${registry.url}/token?service=svc&scope=repository:lib/app:pull`, { headers: { authorization: basic } });
    const { token, expires_in } = (await tokenRes.json()) as { token: string; expires_in: number };
    expect(expires_in).toBe(300);
    const bearer = { authorization: `Bearer ${token}` };
    expect((await fetch(blobUrl(), { method: 'HEAD', headers: bearer })).status).toBe(200);
    expect((await fetch(`${registry.url}/v2/other/blobs/${DIGEST}`, { method: 'HEAD', headers: bearer })).status).toBe(401);
    registry.revokeTokens();
    expect((await fetch(blobUrl(), { method: 'HEAD', headers: bearer })).status).toBe(401);
    expect(registry.tokensIssued).toBe(1);
  });
});

describe('fake registry: fault switches', () => {
  beforeEach(() => start());

  it('ignoreRange answers a ranged GET with 200 and the whole body', async () => {
    registry.faults = { ignoreRange: true };
    const res = await fetch(blobUrl(), { headers: { range: 'bytes=100-' } });
    expect([res.status, res.headers.get('accept-ranges')]).toEqual([200, null]);
    expect((await res.arrayBuffer()).byteLength).toBe(BLOB.length);
  });

  it('wrongContentRange answers 206 with a Content-Range that does not start where asked', async () => {
    registry.faults = { wrongContentRange: true };
    const res = await fetch(blobUrl(), { headers: { range: 'bytes=100-199' } });
    expect([res.status, res.headers.get('content-range')]).toEqual([206, `bytes 101-199/${BLOB.length}`]);
  });

  it('resetAfter closes the connection after N body bytes, for the first K requests only', async () => {
    registry.faults = { resetAfter: { bytes: 70_000, times: 1 } };
    const first = await readAll(await fetch(blobUrl()));
    expect(first.error).toBeDefined();
    expect(first.bytes.equals(Buffer.from(BLOB.subarray(0, 70_000)))).toBe(true);
    expect(registry.blobGets()[0]!.bytesSent).toBe(70_000);
    const second = await readAll(await fetch(blobUrl()));
    expect([second.error, second.bytes.length]).toEqual([undefined, BLOB.length]);
  });

  it('status faults answer the Nth matching request with 429 + Retry-After (seconds or HTTP-date)', async () => {
    const date = new Date(Date.UTC(2030, 0, 1));
    registry.faults = {
      status: [
        { status: 429, path: /\/blobs\//, nth: 2, retryAfter: 3 },
        { status: 503, path: /\/manifests\//, retryAfter: date },
      ],
    };
    expect((await fetch(blobUrl(), { method: 'HEAD' })).status).toBe(200);
    const limited = await fetch(blobUrl(), { method: 'HEAD' });
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '3']);
    expect((await fetch(blobUrl(), { method: 'HEAD' })).status).toBe(200);
    const unavailable = await fetch(`${registry.url}/v2/lib/app/manifests/x`);
    expect([unavailable.status, unavailable.headers.get('retry-after')]).toEqual([503, 'Tue, 01 Jan 2030 00:00:00 GMT']);
  });

  it('corrupt flips exactly one byte of the named digest', async () => {
    registry.faults = { corrupt: [DIGEST] };
    const body = Buffer.from(await (await fetch(blobUrl())).arrayBuffer());
    expect(body.length).toBe(BLOB.length);
    expect([...body].filter((b, i) => b !== BLOB[i]).length).toBe(1);
    expect(computeDigest(body)).not.toBe(DIGEST);
  });

  it('bytesPerSecond trickles the body', async () => {
    registry.faults = { bytesPerSecond: 20_000 };
    const started = Date.now();
    const res = await fetch(blobUrl(), { headers: { range: 'bytes=0-5999' } });
    expect((await res.arrayBuffer()).byteLength).toBe(6000);
    // 6000 bytes at 20 kB/s is 300 ms of ticks; allow generous slack below
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('stallAfter sends N bytes then nothing, until the client gives up', async () => {
    registry.faults = { stallAfter: { bytes: 1000 } };
    const res = await fetch(blobUrl(), { signal: AbortSignal.timeout(300) });
    const { bytes, error } = await readAll(res);
    expect(bytes.length).toBe(1000);
    expect((error as Error).name).toMatch(/TimeoutError|AbortError/);
  });

  it('close() ends a stalled response', async () => {
    registry.faults = { stallAfter: { bytes: 10 } };
    const res = await fetch(blobUrl());
    const reading = readAll(res);
    await new Promise((r) => setTimeout(r, 50));
    await registry.close();
    const { bytes, error } = await reading;
    expect([bytes.length, error !== undefined]).toEqual([10, true]);
  });

  it('omitDigestHeader drops Docker-Content-Digest from blobs and manifests', async () => {
    registry.faults = { omitDigestHeader: true };
    registry.seedManifest('lib/app', Buffer.from('{}'), MediaType.OciManifest, 't');
    expect((await fetch(blobUrl(), { method: 'HEAD' })).headers.get('docker-content-digest')).toBeNull();
    expect((await fetch(`${registry.url}/v2/lib/app/manifests/t`)).headers.get('docker-content-digest')).toBeNull();
  });
});

describe('fake registry: redirects to storage', () => {
  const basic = { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` };
  beforeEach(() => start({ auth: { kind: 'basic', users: { u: 'p' } } }));

  it('cross-origin: fetch follows the 307 and the storage server records no Authorization', async () => {
    registry.faults = { redirectBlobs: 'cross-origin' };
    const res = await fetch(blobUrl(), { headers: basic });
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(BLOB))).toBe(true);
    expect(registry.blobGets()[0]!.status).toBe(307);
    expect(registry.storageRequests.map((r) => [r.server, r.status, r.authorization])).toEqual([['storage', 200, false]]);
    expect(registry.storageSawAuthorization).toBe(false);
  });

  it('cross-origin: a client that forwards Authorization is seen, and rejected when storage refuses it', async () => {
    registry.faults = { redirectBlobs: 'cross-origin', storageRejectsAuthorization: true };
    const redirect = await fetch(blobUrl(), { headers: basic, redirect: 'manual' });
    const location = redirect.headers.get('location')!;
    expect(location.startsWith(registry.storageUrl)).toBe(true);
    const leaked = await fetch(location, { headers: basic });
    expect(leaked.status).toBe(400);
    expect(registry.storageSawAuthorization).toBe(true);
  });

  it('same-origin: the redirect stays on the registry and keeps Authorization', async () => {
    registry.faults = { redirectBlobs: 'same-origin' };
    const res = await fetch(blobUrl(), { headers: basic, redirect: 'manual' });
    expect(res.headers.get('location')!.startsWith(`${registry.url}/storage/`)).toBe(true);
    const followed = await fetch(blobUrl(), { headers: basic });
    expect((await followed.arrayBuffer()).byteLength).toBe(BLOB.length);
    expect(registry.storageRequests.map((r) => [r.server, r.authorization])).toEqual([['registry', true]]);
  });

  it('body faults apply on the storage server too', async () => {
    registry.faults = { redirectBlobs: 'cross-origin', resetAfter: { bytes: 5000 } };
    const { bytes, error } = await readAll(await fetch(blobUrl(), { headers: basic }));
    expect([bytes.length, error !== undefined]).toEqual([5000, true]);
  });
});
