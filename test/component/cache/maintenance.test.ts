import { chmod, mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobPath, ingestDir } from '../../../src/cache/layout.js';
import { cacheUsage, listCache, verifyCache } from '../../../src/cache/maintenance.js';
import { pruneCache } from '../../../src/cache/prune.js';
import type { BlobStore, RefRecord } from '../../../src/cache/types.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { chunks, makeBlob, openStore, owned, signal, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const DAY = 86_400_000;

async function put(store: BlobStore, bytes: Uint8Array): Promise<Digest> {
  const digest = computeDigest(bytes);
  await store.putBytes(digest, bytes);
  return digest;
}

async function setLastUsed(store: BlobStore, digest: Digest, msAgo: number): Promise<void> {
  const t = new Date(Date.now() - msAgo);
  await utimes(blobPath(store.root, digest), t, t);
}

/** Stores index → manifest → config + 2 layers, plus one unrelated blob; returns their digests. */
async function seed(store: BlobStore) {
  const layer1 = makeBlob(3000, 41);
  const layer2 = makeBlob(5000, 42);
  const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux"}');
  const l1 = await put(store, layer1.bytes);
  const l2 = await put(store, layer2.bytes);
  const c = await put(store, config);
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: c, size: config.length },
    layers: [
      { mediaType: MediaType.OciLayerGzip, digest: l1, size: 3000 },
      { mediaType: MediaType.OciLayerGzip, digest: l2, size: 5000 },
    ],
  }));
  const m = await put(store, manifest);
  const index = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ mediaType: MediaType.OciManifest, digest: m, size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } }],
  }));
  const i = await put(store, index);
  const orphan = await put(store, makeBlob(7000, 43).bytes);
  const record: RefRecord = { ref: 'docker.io/library/alpine:3.20', digest: i, mediaType: MediaType.OciIndex, resolvedAt: '2025-06-01T00:00:00.000Z', from: 'registry-1.docker.io' };
  await store.writeRef(record);
  return { l1, l2, c, m, i, orphan, record };
}

describe('refs', () => {
  it('round-trips records, replaces them, and lists them', async () => {
    const store = await openStore(dir);
    const digest = computeDigest(new Uint8Array([1]));
    const record: RefRecord = { ref: 'ghcr.io/o/r:v1', digest, mediaType: MediaType.OciManifest, resolvedAt: '2025-06-01T00:00:00.000Z', from: 'ghcr.io' };
    expect(await store.readRef(record.ref)).toBeUndefined();
    await store.writeRef(record);
    expect(await store.readRef(record.ref)).toEqual(record);
    const newer = { ...record, digest: computeDigest(new Uint8Array([2])) };
    await store.writeRef(newer);
    expect(await store.readRef(record.ref)).toEqual(newer);
    const long: RefRecord = { ...record, ref: `example.com/${'x'.repeat(250)}:tag` };
    await store.writeRef(long);
    expect(await store.readRef(long.ref)).toEqual(long);
    expect((await listCache(store, { signal })).refs.map((r) => r.ref)).toEqual([long.ref, record.ref].sort((a, b) => a.localeCompare(b)));
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});

describe('ls and du', () => {
  it('lists blobs with size and last use, refs, and partial downloads; du totals them', async () => {
    const store = await openStore(dir);
    const seeded = await seed(store);
    await setLastUsed(store, seeded.l1, 3 * DAY);
    const partial = makeBlob(10_000, 44);
    const ingest = owned(await store.beginIngest(partial.desc, { signal }));
    await ingest.writeAt(0, chunks(partial.bytes.subarray(0, 4000)), { signal });
    const listing = await listCache(store, { signal });
    expect(listing.blobs).toHaveLength(6);
    const l1 = listing.blobs.find((b) => b.digest === seeded.l1)!;
    expect(l1.size).toBe(3000);
    expect(Math.abs(Date.parse(l1.lastUsed) - (Date.now() - 3 * DAY))).toBeLessThan(5_000);
    expect(listing.refs).toEqual([seeded.record]);
    expect(listing.ingests).toEqual([expect.objectContaining({ digest: partial.desc.digest, size: 10_000, bytes: 4000, locked: true })]);
    const usage = await cacheUsage(dir, { signal });
    expect(usage.blobs.count).toBe(6);
    expect(usage.blobs.bytes).toBe(listing.blobs.reduce((s, b) => s + b.size, 0));
    const ledgerBytes = (await stat(join(ingestDir(dir, partial.desc.digest), 'ledger.json'))).size;
    expect(usage.ingest).toEqual({ count: 1, bytes: 4000 + ledgerBytes });
    expect(usage.totalBytes).toBe(usage.blobs.bytes + usage.ingest.bytes + usage.tmp.bytes);
    await ingest.abort({ keepPartial: false });
  });
});

describe('prune', () => {
  it('removes only blobs no ref reaches (walking index → manifest → config and layers)', async () => {
    const store = await openStore(dir);
    const s = await seed(store);
    const result = await pruneCache(store, { signal, unreferenced: true, graceMs: 0 });
    expect(result.removed).toEqual([{ digest: s.orphan, size: 7000, reason: 'unreferenced' }]);
    expect(result.freedBytes).toBe(7000);
    expect(await store.stat(s.orphan)).toBeUndefined();
    for (const d of [s.i, s.m, s.c, s.l1, s.l2]) expect(await store.stat(d)).toBeDefined();
  });

  it('keeps recent unreferenced blobs within the grace period, and dry-run removes nothing', async () => {
    const store = await openStore(dir);
    const s = await seed(store);
    expect((await pruneCache(store, { signal, unreferenced: true })).removed).toEqual([]);
    const dry = await pruneCache(store, { signal, unreferenced: true, graceMs: 0, dryRun: true });
    expect(dry.removed.map((r) => r.digest)).toEqual([s.orphan]);
    expect(await store.stat(s.orphan)).toBeDefined();
  });

  it('removes blobs unused for longer than olderThanMs, then least recently used over maxSizeBytes', async () => {
    const store = await openStore(dir);
    const s = await seed(store);
    await setLastUsed(store, s.orphan, 40 * DAY);
    await setLastUsed(store, s.l2, 5 * DAY);
    await setLastUsed(store, s.l1, 4 * DAY);
    const total = (await listCache(store, { signal })).blobs.reduce((sum, b) => sum + b.size, 0);
    const result = await pruneCache(store, { signal, olderThanMs: 30 * DAY, maxSizeBytes: total - 7000 - 5000 });
    expect(result.removed).toEqual([
      { digest: s.orphan, size: 7000, reason: 'older-than' },
      { digest: s.l2, size: 5000, reason: 'over-size' },
    ]);
    expect(result.keptBytes).toBe(total - 12_000);
    expect(await store.stat(s.l1)).toBeDefined();
  });

  it('removes stale partial downloads nobody holds, keeps locked and recent ones', async () => {
    const store = await openStore(dir);
    const stale = makeBlob(1000, 45);
    const held = makeBlob(1000, 46);
    const recent = makeBlob(1000, 47);
    for (const b of [stale, recent]) {
      const ing = owned(await store.beginIngest(b.desc, { signal }));
      await ing.writeAt(0, chunks(b.bytes.subarray(0, 500)), { signal });
      await ing.abort({ keepPartial: true });
    }
    const heldIngest = owned(await store.beginIngest(held.desc, { signal }));
    await heldIngest.writeAt(0, chunks(held.bytes.subarray(0, 500)), { signal });
    const old = new Date(Date.now() - 2 * DAY);
    for (const d of [stale.desc.digest, held.desc.digest]) await utimes(join(ingestDir(dir, d), 'ledger.json'), old, old);
    const result = await pruneCache(store, { signal });
    expect(result.removedIngests).toEqual([{ digest: stale.desc.digest, bytes: 500 }]);
    expect((await readdir(join(dir, 'ingest'))).sort()).toEqual([ingestDir(dir, held.desc.digest), ingestDir(dir, recent.desc.digest)].map((p) => p.split('/').pop()).sort());
    await heldIngest.abort({ keepPartial: false });
  });
});

describe('verify', () => {
  it('reports blobs whose bytes do not match their name, and repair removes only those', async () => {
    const store = await openStore(dir);
    const s = await seed(store);
    const path = blobPath(dir, s.l1);
    await chmod(path, 0o644);
    await writeFile(path, 'bit rot');
    const report = await verifyCache(store, { signal });
    expect(report.checked).toBe(6);
    expect(report.bad).toEqual([{ digest: s.l1, size: 7, actual: computeDigest(new TextEncoder().encode('bit rot')), reason: expect.stringContaining('hashes to') }]);
    expect(report.removed).toEqual([]);
    expect(await store.stat(s.l1)).toBeDefined();
    const repaired = await verifyCache(store, { signal, repair: true });
    expect(repaired.removed).toEqual([s.l1]);
    expect(await store.stat(s.l1)).toBeUndefined();
    expect((await verifyCache(store, { signal })).bad).toEqual([]);
  });

  it('reports an unreadable blob', async () => {
    const store = await openStore(dir);
    const s = await seed(store);
    const path = blobPath(dir, s.c);
    await chmod(path, 0o644);
    await writeFile(path, '');
    await mkdir(join(dir, 'blobs', 'sha256', 'not-a-digest'));
    const report = await verifyCache(store, { signal });
    expect(report.bad.map((b) => b.digest)).toEqual([s.c]);
  });
});
