// `dray cache ls|du|prune|verify|path` through the built CLI, on caches populated with the cache
// library itself (putBytes, beginIngest → writeAt → commit, writeRef) in real temp directories.
import { access, chmod, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBlobStore } from '../../src/cache/fs-store.js';
import { blobPath, ingestDir } from '../../src/cache/layout.js';
import type { BlobStore } from '../../src/cache/types.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { computeDigest, type Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { buildImage, jsonBlob, randomBytes, randomLayer, type BuiltImage } from '../helpers/image-builder.js';
import { runDray, tempDir } from '../helpers/cli.js';

const signal = new AbortController().signal;
const HOUR = 3_600_000;
const REF = '127.0.0.1:5000/app:1.0';

let work: { path: string; remove(): Promise<void> };
let cache: string;
beforeEach(async () => {
  work = await tempDir('dray-cache-cli-');
  cache = join(work.path, 'cache');
});
afterEach(async () => work.remove());

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Stores a blob through the ingest path a pull uses. */
async function ingest(store: BlobStore, desc: Descriptor, bytes: Uint8Array): Promise<void> {
  const outcome = await store.beginIngest(desc, { signal });
  if (outcome.kind !== 'owned') throw new Error('expected to own the ingest');
  await outcome.ingest.writeAt(0, once(bytes), { signal });
  await outcome.ingest.commit();
}

/** Sets a blob's "last used" time to `msAgo` in the past. */
async function lastUsed(digest: Digest, msAgo: number): Promise<void> {
  const t = new Date(Date.now() - msAgo);
  await utimes(blobPath(cache, digest), t, t);
}

interface Seeded {
  image: BuiltImage;
  orphan: ReturnType<typeof jsonBlob>;
  partial: Descriptor;
}

/** A cache holding one image (manifest, config, two layers) under REF, one orphan blob, one partial. */
async function seed(): Promise<Seeded> {
  const store = await openBlobStore(cache);
  const image = buildImage({ layers: [await randomLayer(20_000, 'a'), await randomLayer(40_000, 'b')] });
  await store.putBytes(image.manifest.digest, image.manifest.bytes);
  await store.putBytes(image.config.digest, image.config.bytes);
  for (const layer of image.layers) await ingest(store, layer.descriptor, layer.bytes);
  await store.writeRef({ ref: REF, digest: image.manifest.digest, mediaType: MediaType.OciManifest, resolvedAt: '2025-06-01T12:00:00.000Z', from: '127.0.0.1:5000' });
  const orphan = jsonBlob({ unrelated: 'x'.repeat(3000) }, 'application/json');
  await store.putBytes(orphan.digest, orphan.bytes);
  const partialBytes = randomBytes(10_000, 'partial');
  const partial: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: computeDigest(partialBytes), size: 10_000 };
  const started = await store.beginIngest(partial, { signal });
  if (started.kind !== 'owned') throw new Error('expected to own the partial');
  await started.ingest.writeAt(0, once(partialBytes.subarray(0, 4000)), { signal });
  await started.ingest.abort({ keepPartial: true });
  return { image, orphan, partial };
}

function imageBytes(image: BuiltImage): number {
  return image.manifest.size + image.config.size + image.layers.reduce((s, l) => s + l.size, 0);
}

const exists = (path: string) => access(path).then(() => true, () => false);

describe('dray cache ls and du', () => {
  it('ls --json lists the image with the size of its blobs, every blob, and the partial with its bytes so far', async () => {
    const { image, orphan, partial } = await seed();
    const run = await runDray(['cache', 'ls', '--cache', cache, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.cache).toBe(cache);
    expect(out.images).toEqual([
      expect.objectContaining({ ref: REF, digest: image.manifest.digest, resolvedAt: '2025-06-01T12:00:00.000Z', size: imageBytes(image), blobs: 4, missing: 0 }),
    ]);
    const digests = [image.manifest, image.config, ...image.layers, orphan].map((b) => b.digest).sort();
    expect(out.blobs.map((b: { digest: string }) => b.digest)).toEqual(digests);
    const layer = out.blobs.find((b: { digest: string }) => b.digest === image.layers[1]!.digest);
    expect(layer.size).toBe(image.layers[1]!.size);
    expect(Number.isNaN(Date.parse(layer.lastUsed))).toBe(false);
    expect(out.partials).toEqual([expect.objectContaining({ digest: partial.digest, size: 10_000, bytes: 4000, locked: false })]);
  });

  it('ls prints aligned tables of images, blobs and partials for people', async () => {
    const { image, partial } = await seed();
    const run = await runDray(['cache', 'ls', '--cache', cache]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('IMAGE'))!;
    const row = lines.find((l) => l.startsWith(REF))!;
    expect(row).toContain(image.manifest.digest);
    expect(row).toContain('2025-06-01 12:00:00Z');
    // Columns line up: the digest starts where the DIGEST heading does.
    expect(row.indexOf(image.manifest.digest)).toBe(header.indexOf('DIGEST'));
    expect(run.stdout).toMatch(new RegExp(`${partial.digest}\\s+4\\.0 kB\\s+10\\.0 kB\\s+paused`));
  });

  it('du reports blob, partial and total bytes', async () => {
    const { image, orphan } = await seed();
    const run = await runDray(['cache', 'du', '--cache', cache, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.blobs).toEqual({ count: 5, bytes: imageBytes(image) + orphan.size });
    expect(out.ingest.count).toBe(1);
    expect(out.ingest.bytes).toBeGreaterThanOrEqual(4000);
    expect(out.totalBytes).toBe(out.blobs.bytes + out.ingest.bytes + out.tmp.bytes);
    const human = await runDray(['cache', 'du', '--cache', cache]);
    expect(human.stdout).toMatch(/^blobs\s+5\s+\d/m);
  });

  it('treats a missing cache directory as empty without creating it', async () => {
    const run = await runDray(['cache', 'du', '--cache', cache, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).totalBytes).toBe(0);
    expect(await exists(cache)).toBe(false);
  });

  it('refuses a non-empty directory that is not a dray cache (exit 2)', async () => {
    await writeFile(join(work.path, 'notes.txt'), 'keep me');
    const run = await runDray(['cache', 'prune', '--max-size', '0', '--cache', work.path]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('not a dray cache');
    expect(await readFile(join(work.path, 'notes.txt'), 'utf8')).toBe('keep me');
    expect(await exists(join(work.path, 'blobs'))).toBe(false);
  });
});

describe('dray cache verify', () => {
  it('finds a corrupted blob (exit 6, names it), then --repair removes it (exit 0) and the file is gone', async () => {
    const { image } = await seed();
    const layer = image.layers[0]!;
    const path = blobPath(cache, layer.digest);
    await chmod(path, 0o644);
    const damaged = Buffer.from(layer.bytes);
    damaged[100] = damaged[100]! ^ 0xff;
    await writeFile(path, damaged);

    const found = await runDray(['cache', 'verify', '--cache', cache, '--json']);
    expect(found.code).toBe(6);
    const out = JSON.parse(found.stdout);
    expect(out.checked).toBe(5);
    expect(out.bad.map((b: { digest: string }) => b.digest)).toEqual([layer.digest]);
    expect(out.removed).toEqual([]);
    expect(found.stderr).toContain(`bad blob ${layer.digest}`);
    expect(await exists(path)).toBe(true);

    const repaired = await runDray(['cache', 'verify', '--repair', '--cache', cache]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toMatch(new RegExp(`${layer.digest}\\s+.*removed`));
    expect(await exists(path)).toBe(false);
    expect(await exists(blobPath(cache, image.layers[1]!.digest))).toBe(true);

    const clean = await runDray(['cache', 'verify', '--cache', cache]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('checked 4 blobs');
  });
});

describe('dray cache prune', () => {
  it('--max-size removes least recently used blobs first until the total fits', async () => {
    const { image, orphan } = await seed();
    const [a, b] = image.layers;
    // Oldest → newest: layer a, orphan, layer b, config, manifest.
    await lastUsed(a!.digest, 5 * HOUR);
    await lastUsed(orphan.digest, 4 * HOUR);
    await lastUsed(b!.digest, 3 * HOUR);
    await lastUsed(image.config.digest, 2 * HOUR);
    await lastUsed(image.manifest.digest, 1 * HOUR);
    const total = imageBytes(image) + orphan.size;
    // Room for everything but layer a and the orphan.
    const budget = total - a!.size - orphan.size;
    const run = await runDray(['cache', 'prune', '--max-size', String(budget), '--cache', cache, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.removed).toEqual([
      { digest: a!.digest, size: a!.size, reason: 'over-size' },
      { digest: orphan.digest, size: orphan.size, reason: 'over-size' },
    ]);
    expect(out.keptBytes).toBe(budget);
    expect(await exists(blobPath(cache, a!.digest))).toBe(false);
    expect(await exists(blobPath(cache, orphan.digest))).toBe(false);
    for (const kept of [b!, image.config, image.manifest]) expect(await exists(blobPath(cache, kept.digest))).toBe(true);
  });

  it('by default removes unreferenced blobs past the grace period and keeps recent ones and everything the ref reaches', async () => {
    const { image, orphan } = await seed();
    const store = await openBlobStore(cache);
    const recent = jsonBlob({ recent: true }, 'application/json');
    await store.putBytes(recent.digest, recent.bytes);
    for (const d of [image.manifest, image.config, ...image.layers, orphan]) await lastUsed(d.digest, 3 * HOUR);
    const run = await runDray(['cache', 'prune', '--cache', cache]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`removed\\s+${orphan.digest}\\s+.*unreferenced`));
    expect(await exists(blobPath(cache, orphan.digest))).toBe(false);
    expect(await exists(blobPath(cache, recent.digest))).toBe(true);
    for (const d of [image.manifest, image.config, ...image.layers]) expect(await exists(blobPath(cache, d.digest))).toBe(true);
  });

  it('--older-than removes blobs unused for longer (30d) and removes stale partials', async () => {
    const { image, partial } = await seed();
    await lastUsed(image.layers[0]!.digest, 31 * 24 * HOUR);
    const dir = ingestDir(cache, partial.digest);
    const old = new Date(Date.now() - 2 * 24 * HOUR);
    await utimes(join(dir, 'ledger.json'), old, old);
    const run = await runDray(['cache', 'prune', '--older-than', '30d', '--cache', cache, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.removed).toEqual([{ digest: image.layers[0]!.digest, size: image.layers[0]!.size, reason: 'older-than' }]);
    expect(out.removedIngests.map((p: { digest: string }) => p.digest)).toEqual([partial.digest]);
    expect(await exists(dir)).toBe(false);
    expect(await exists(blobPath(cache, image.layers[1]!.digest))).toBe(true);
  });

  it('--dry-run reports what would go and removes nothing', async () => {
    const { image, orphan } = await seed();
    const run = await runDray(['cache', 'prune', '--max-size', '0', '--dry-run', '--cache', cache]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`would remove  ${orphan.digest}`);
    expect(run.stdout).toMatch(/^would free /m);
    for (const d of [image.manifest, image.config, ...image.layers, orphan]) expect(await exists(blobPath(cache, d.digest))).toBe(true);
  });

  it('rejects a malformed --older-than (exit 2)', async () => {
    const run = await runDray(['cache', 'prune', '--older-than', 'soon', '--cache', cache]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--older-than');
  });
});

describe('dray cache path', () => {
  it('prints --cache, else $DRAY_CACHE', async () => {
    const flag = await runDray(['cache', 'path', '--cache', cache]);
    expect(flag.code).toBe(0);
    expect(flag.stdout).toBe(`${cache}\n`);
    const env = await runDray(['cache', 'path'], { env: { DRAY_CACHE: join(work.path, 'from-env') } });
    expect(env.stdout).toBe(`${join(work.path, 'from-env')}\n`);
    const json = await runDray(['cache', 'path', '--json'], { env: { DRAY_CACHE: cache } });
    expect(JSON.parse(json.stdout)).toEqual({ cache });
  });
});
