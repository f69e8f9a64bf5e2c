import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrityError, InvalidManifestError, NotFoundError, RangeMismatchError, RateLimitedError } from '../../../src/errors.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import type { ImageRef } from '../../../src/reference/types.js';
import { newClient } from './client-setup.js';
import { sendJson, startServer, type Handler } from './http-server.js';

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
const MANIFEST_DIGEST = computeDigest(MANIFEST);
const BLOB = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
const BLOB_DIGEST = computeDigest(BLOB);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function ref(registry: string, digest?: Digest): ImageRef {
  const base = { domain: registry, registry, repository: 'lib/app', name: `${registry}/lib/app`, toString: () => `${registry}/lib/app` };
  return digest === undefined ? { ...base, tag: 'latest' } : { ...base, digest };
}

/** Starts a registry whose /v2/ answers 200 and whose other paths go to `handler`; returns it and a client. */
async function setup(handler: Handler) {
  const reg = await startServer((req, res) => (req.url === '/v2/' ? sendJson(res, 200, {}) : handler(req, res)));
  const test = newClient(reg.host);
  cleanups.push(() => reg.close(), () => test.close());
  return { reg, ...test };
}

function sendManifest(res: ServerResponse, body: Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': `${MediaType.OciIndex}; charset=utf-8`, 'content-length': body.length, ...headers });
  res.end(body);
}

describe('manifests', () => {
  it('GET by tag computes the digest and takes the media type from Content-Type', async () => {
    const { client, reg } = await setup((_req, res) => sendManifest(res, MANIFEST, { 'docker-content-digest': MANIFEST_DIGEST }));
    const m = await client.getManifest(ref(reg.host), 'latest');
    expect(m.descriptor).toEqual({ mediaType: MediaType.OciIndex, digest: MANIFEST_DIGEST, size: MANIFEST.length });
    expect(Buffer.from(m.bytes)).toEqual(MANIFEST);
    expect(reg.seen.at(-1)?.headers.accept).toContain(MediaType.OciIndex);
  });

  it('HEAD returns the descriptor from Docker-Content-Digest and Content-Length', async () => {
    const { client, reg } = await setup((_req, res) => sendManifest(res, MANIFEST, { 'docker-content-digest': MANIFEST_DIGEST }));
    expect(await client.headManifest(ref(reg.host))).toEqual({ mediaType: MediaType.OciIndex, digest: MANIFEST_DIGEST, size: MANIFEST.length });
    expect(reg.seen.at(-1)?.method).toBe('HEAD');
  });

  it('refuses a manifest over 4 MiB, with or without Content-Length', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const { client, reg } = await setup((req, res) => {
      if (req.url?.endsWith('/chunked')) {
        res.writeHead(200, { 'content-type': MediaType.OciIndex });
        return void res.end(big);
      }
      sendManifest(res, big);
    });
    await expect(client.getManifest(ref(reg.host), 'latest')).rejects.toThrow(InvalidManifestError);
    await expect(client.getManifest(ref(reg.host), 'chunked')).rejects.toThrow(/larger than 4 MiB/);
  });

  it('by digest: bytes that hash differently are an IntegrityError, whatever the header says', async () => {
    const other = Buffer.from('{"schemaVersion":2}');
    const { client, reg } = await setup((_req, res) => sendManifest(res, other, { 'docker-content-digest': MANIFEST_DIGEST }));
    const err = await client.getManifest(ref(reg.host, MANIFEST_DIGEST), MANIFEST_DIGEST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).exitCode).toBe(6);
  });

  it('by tag: a Docker-Content-Digest that disagrees with the bytes is an IntegrityError', async () => {
    const { client, reg } = await setup((_req, res) => sendManifest(res, MANIFEST, { 'docker-content-digest': computeDigest(Buffer.from('x')) }));
    await expect(client.getManifest(ref(reg.host), 'latest')).rejects.toThrow(IntegrityError);
  });

  it('404 MANIFEST_UNKNOWN is a NotFoundError with exit code 3', async () => {
    const { client, reg } = await setup((_req, res) => sendJson(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    const err = await client.getManifest(ref(reg.host), 'nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).exitCode).toBe(3);
    expect((err as NotFoundError).diagnostics).toEqual([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }]);
  });

  it('429 is retried per Retry-After, then a RateLimitedError carrying it', async () => {
    const { client, reg, slept } = await setup((_req, res) => sendJson(res, 429, { message: 'toomanyrequests' }, { 'retry-after': '2' }));
    const err = await client.getManifest(ref(reg.host), 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(2000);
    expect(slept).toEqual([2000, 2000]);
    expect(reg.seen.filter((r) => r.url.includes('/manifests/'))).toHaveLength(3);
  });
});

/** Serves BLOB, honouring Range unless told otherwise; `contentRange` overrides the header sent. */
function blobHandler(options: { ignoreRange?: boolean; contentRange?: string } = {}): Handler {
  return (req, res) => {
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    if (!m || options.ignoreRange) {
      res.writeHead(200, { 'content-length': BLOB.length });
      return void res.end(BLOB);
    }
    const [start, end] = [Number(m[1]), Math.min(Number(m[2]), BLOB.length - 1)];
    res.writeHead(206, { 'content-range': options.contentRange ?? `bytes ${start}-${end}/${BLOB.length}`, 'content-length': end - start + 1 });
    res.end(BLOB.subarray(start, end + 1));
  };
}

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

describe('blobs', () => {
  it('a Range request yields the served range and the total size', async () => {
    const { client, reg } = await setup(blobHandler());
    const blob = await client.openBlob('lib/app', BLOB_DIGEST, { range: { start: 100, end: 199 } });
    expect(blob.served).toEqual({ start: 100, end: 199 });
    expect(blob.totalSize).toBe(1000);
    expect(await readAll(blob.body)).toEqual(BLOB.subarray(100, 200));
    expect(reg.seen.at(-1)?.headers.range).toBe('bytes=100-199');
  });

  it('a range past the end is served up to the last byte', async () => {
    const { client } = await setup(blobHandler());
    const blob = await client.openBlob('lib/app', BLOB_DIGEST, { range: { start: 900, end: 1999 } });
    expect(blob.served).toEqual({ start: 900, end: 999 });
    expect(await readAll(blob.body)).toEqual(BLOB.subarray(900));
  });

  it('a 200 that ignored Range leaves served undefined and reports the whole size', async () => {
    const { client } = await setup(blobHandler({ ignoreRange: true }));
    const blob = await client.openBlob('lib/app', BLOB_DIGEST, { range: { start: 100, end: 199 } });
    expect(blob.served).toBeUndefined();
    expect(blob.totalSize).toBe(1000);
    expect(await readAll(blob.body)).toEqual(BLOB);
  });

  it('a 206 with the wrong Content-Range is a RangeMismatchError', async () => {
    const { client } = await setup(blobHandler({ contentRange: 'bytes 0-99/1000' }));
    await expect(client.openBlob('lib/app', BLOB_DIGEST, { range: { start: 100, end: 199 } })).rejects.toThrow(RangeMismatchError);
  });

  it('a blob 404 is a NotFoundError', async () => {
    const { client } = await setup((_req, res) => sendJson(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
    await expect(client.openBlob('lib/app', BLOB_DIGEST)).rejects.toThrow(NotFoundError);
  });

  it('an expired storage location (403) falls back to the registry URL', async () => {
    const storage = await startServer((_req, res) => sendJson(res, 403, { message: 'Request has expired' }));
    cleanups.push(() => storage.close());
    const { client, reg } = await setup(blobHandler());
    const blob = await client.openBlob('lib/app', BLOB_DIGEST, { location: new URL(`${storage.origin}/bucket/x?X-Amz-Signature=old`), range: { start: 0, end: 9 } });
    expect(await readAll(blob.body)).toEqual(BLOB.subarray(0, 10));
    expect(blob.url.origin).toBe(reg.origin);
    expect(storage.seen).toHaveLength(1);
    expect(reg.seen.at(-1)?.url).toBe(`/v2/lib/app/blobs/${BLOB_DIGEST}`);
  });

  it('a live storage location is used directly', async () => {
    const storage = await startServer(blobHandler());
    cleanups.push(() => storage.close());
    const { client, reg } = await setup(blobHandler());
    const blob = await client.openBlob('lib/app', BLOB_DIGEST, { location: new URL(`${storage.origin}/bucket/x`), range: { start: 5, end: 9 } });
    expect(await readAll(blob.body)).toEqual(BLOB.subarray(5, 10));
    expect(reg.seen.filter((r) => r.url.includes('/blobs/'))).toHaveLength(0);
  });
});
