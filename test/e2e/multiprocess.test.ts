// Several real `dray pull` processes (the built CLI) on one cache directory against the in-process fake
// registry over real HTTP, with slow bodies so they overlap: one fetch per blob, takeover and resume
// after SIGKILL, a frozen (SIGSTOP) holder, repair of a damaged blob, and kills at random moments.
import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { buildImage, randomLayer, type BuiltImage } from '../helpers/image-builder.js';
import { runDray, tempDir } from '../helpers/cli.js';
import { badBlobs, blobGets, bytesServed, ledgerBytes, rangeStart, startDray, waitFor } from './mp-helpers.js';

const KiB = 1024;
/** Takeover within seconds instead of proper-lockfile's 10 s; the same value for every process. */
const STALE = { DRAY_LOCK_STALE_MS: '2000' };

let registry: FakeRegistry;
let image: BuiltImage;
let work: { path: string; remove(): Promise<void> };
let ref: string;
let cacheCount = 0;

beforeAll(async () => {
  work = await tempDir('dray-mp-');
  registry = await startFakeRegistry();
  // ~2.4 MB of incompressible layers: a couple of seconds at the throttled rates below.
  image = buildImage({ layers: [await randomLayer(1_200 * KiB, 'mp-1'), await randomLayer(700 * KiB, 'mp-2'), await randomLayer(500 * KiB, 'mp-3')] });
  registry.seed('mp/app', image, '1.0');
  ref = `${registry.host}/mp/app:1.0`;
});

afterAll(async () => {
  await registry?.close();
  await work?.remove();
});

beforeEach(() => {
  registry.faults = {};
});

async function freshCache(): Promise<string> {
  const dir = join(work.path, `cache-${++cacheCount}`);
  await mkdir(dir);
  return dir;
}

const blobs = () => [image.config, ...image.layers].map((b) => ({ digest: b.digest, size: b.size }));
const big = () => image.layers[0]!;

async function expectCompleteCache(cache: string): Promise<void> {
  const { checked, bad } = await badBlobs(cache);
  expect(bad).toEqual([]);
  for (const b of blobs()) expect((await stat(join(cache, 'blobs', 'sha256', b.digest.slice(7)))).size).toBe(b.size);
  expect(checked).toBeGreaterThanOrEqual(blobs().length);
}

describe('concurrent pulls of one image into one cache', () => {
  it.each([2, 4, 8])('%i processes all exit 0 and the registry serves each blob exactly once', async (n) => {
    const cache = await freshCache();
    const from = registry.requests.length;
    registry.faults = { bytesPerSecond: 600 * KiB };
    const runs = await Promise.all(Array.from({ length: n }, () => runDray(['pull', ref, '--cache', cache, '--progress', 'none'], { timeoutMs: 50_000 })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    for (const b of blobs()) expect(bytesServed(registry, b.digest, from), b.digest).toBe(b.size);
    await expectCompleteCache(cache);
  });
});

describe('a killed lock holder', () => {
  it('a waiting process takes over after the stale time and resumes with a Range request', async () => {
    const cache = await freshCache();
    const start = registry.requests.length;
    registry.faults = { bytesPerSecond: 150 * KiB };
    const holder = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE });
    await waitFor('the holder to record 200 KiB of the big layer', async () => (await ledgerBytes(cache, big().digest)) >= 200 * KiB);
    const manifestsBefore = registry.requests.filter((r) => r.path.includes('/manifests/')).length;
    const waiter = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE });
    // The waiter has resolved the image (its manifest requests arrived) and is now waiting on the locks.
    await waitFor('the waiter to resolve', () => registry.requests.filter((r) => r.path.includes('/manifests/')).length > manifestsBefore);
    await new Promise((r) => setTimeout(r, 500));
    expect(blobGets(registry, big().digest, start).length).toBe(1); // only the holder fetched it so far
    const recorded = await ledgerBytes(cache, big().digest);
    holder.child.kill('SIGKILL');
    const killedAt = registry.requests.length;
    expect((await holder.done).signal).toBe('SIGKILL');
    const result = await waiter.done;
    expect(result.code, result.stderr).toBe(0);
    const after = blobGets(registry, big().digest, killedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(rangeStart(after[0]!)).toBeGreaterThanOrEqual(recorded);
    expect(rangeStart(after[0]!)).toBeGreaterThan(0);
    expect(bytesServed(registry, big().digest, killedAt)).toBeLessThan(big().size);
    await expectCompleteCache(cache);
  });

  it('a pull killed mid-download resumes when run again alone, and the image is complete and correct', async () => {
    const cache = await freshCache();
    registry.faults = { bytesPerSecond: 200 * KiB };
    const first = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE });
    await waitFor('300 KiB of the big layer on disk', async () => (await ledgerBytes(cache, big().digest)) >= 300 * KiB);
    first.child.kill('SIGKILL');
    await first.done;
    const recorded = await ledgerBytes(cache, big().digest);
    const killedAt = registry.requests.length;
    registry.faults = {};
    const again = await runDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE });
    expect(again.code, again.stderr).toBe(0);
    const after = blobGets(registry, big().digest, killedAt);
    expect(rangeStart(after[0]!)).toBeGreaterThanOrEqual(recorded);
    expect(bytesServed(registry, big().digest, killedAt)).toBe(big().size - recorded);
    await expectCompleteCache(cache);
    expect(await readdir(join(cache, 'ingest'))).toEqual([]);
  });
});

describe('two processes committing the same digest', () => {
  it('a holder frozen (SIGSTOP) past the stale time and then resumed, and the process that took over, both succeed', async () => {
    const cache = await freshCache();
    registry.faults = { bytesPerSecond: 200 * KiB };
    const frozen = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE });
    await waitFor('the first process to record 200 KiB', async () => (await ledgerBytes(cache, big().digest)) >= 200 * KiB);
    frozen.child.kill('SIGSTOP');
    try {
      const other = await runDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE, timeoutMs: 50_000 });
      expect(other.code, other.stderr).toBe(0);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    const resumed = await frozen.done;
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectCompleteCache(cache);
  });
});

describe('a damaged blob', () => {
  it('verify reports it (exit 6), --repair removes it, the next pull fetches it again', async () => {
    const cache = await freshCache();
    expect((await runDray(['pull', ref, '--cache', cache, '--progress', 'none'])).code).toBe(0);
    const victim = image.layers[1]!;
    const path = join(cache, 'blobs', 'sha256', victim.digest.slice(7));
    const bytes = Buffer.from(await readFile(path));
    bytes[1000] = bytes[1000]! ^ 0xff;
    await chmod(path, 0o644);
    await writeFile(path, bytes);

    const verify = await runDray(['cache', 'verify', '--cache', cache]);
    expect(verify.code).toBe(6);
    expect(verify.stdout + verify.stderr).toContain(victim.digest);
    const repair = await runDray(['cache', 'verify', '--repair', '--cache', cache]);
    expect(repair.code, repair.stderr).toBe(0);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });

    const from = registry.requests.length;
    const again = await runDray(['pull', ref, '--cache', cache, '--progress', 'none']);
    expect(again.code, again.stderr).toBe(0);
    expect(bytesServed(registry, victim.digest, from)).toBe(victim.size);
    for (const other of [image.config, image.layers[0]!, image.layers[2]!]) expect(blobGets(registry, other.digest, from)).toEqual([]);
    await expectCompleteCache(cache);
  });
});

describe('kills at random moments', () => {
  it('leave only correct blobs in blobs/ after every kill, and a final pull completes', async () => {
    const cache = await freshCache();
    registry.faults = { bytesPerSecond: 1_000 * KiB };
    // Deterministic "random" delays, so a failure can be replayed: a linear congruential generator.
    let seed = 20_250_601;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 10; i++) {
      const p = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE });
      const delayMs = 50 + Math.floor(next() * 1_450);
      await new Promise((r) => setTimeout(r, delayMs));
      p.child.kill('SIGKILL');
      await p.done;
      const { bad } = await badBlobs(cache);
      expect(bad, `after kill ${i + 1} at ${delayMs} ms`).toEqual([]);
    }
    const last = await runDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env: STALE, timeoutMs: 50_000 });
    expect(last.code, last.stderr).toBe(0);
    await expectCompleteCache(cache);
  }, 120_000);
});

describe('resume as a non-root user', () => {
  it('a partial left read-only (commit killed between chmod and rename) is resumed, not EACCES', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to run the pulls as nobody');
    const home = join(work.path, 'nobody');
    await mkdir(home);
    await chmod(work.path, 0o755);
    const NOBODY = 65_534;
    await chown(home, NOBODY, NOBODY);
    const cache = join(home, 'cache');
    registry.faults = { bytesPerSecond: 300 * KiB };
    const env = { ...STALE, HOME: home };
    const first = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env, uid: NOBODY });
    await waitFor('a partial of the big layer', async () => (await ledgerBytes(cache, big().digest)) >= 200 * KiB);
    first.child.kill('SIGKILL');
    await first.done;
    // The state commit's chmod leaves when the process dies before its rename: a read-only data file.
    const dir = join(cache, 'ingest', big().digest.replace(':', '-'));
    for (const name of await readdir(dir)) if (name.startsWith('data')) await chmod(join(dir, name), 0o444);
    registry.faults = {};
    const again = startDray(['pull', ref, '--cache', cache, '--progress', 'none'], { env, uid: NOBODY });
    const result = await again.done;
    expect(result.code, result.stderr).toBe(0);
    await expectCompleteCache(cache);
  });
});
