// `dray pull` into a cache on a really full filesystem (a small tmpfs): exit 7 with a disk-full message,
// nothing wrong in blobs/, and the same pull completes once the filesystem is made bigger.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { buildImage, randomLayer, type BuiltImage } from '../helpers/image-builder.js';
import { runDray, tempDir } from '../helpers/cli.js';
import { badBlobs, ledgerBytes, startDray, waitFor } from './mp-helpers.js';

const run = promisify(execFile);
const KiB = 1024;

let registry: FakeRegistry;
let image: BuiltImage;
let work: { path: string; remove(): Promise<void> };
let mountPoint: string;
let mountError: string | undefined;

beforeAll(async () => {
  work = await tempDir('dray-diskfull-');
  registry = await startFakeRegistry();
  // 3 MiB of incompressible layers: more than the 2 MiB filesystem holds.
  image = buildImage({ layers: [await randomLayer(1_500 * KiB, 'full-1'), await randomLayer(1_000 * KiB, 'full-2'), await randomLayer(600 * KiB, 'full-3')] });
  registry.seed('full/app', image, '1.0');
  mountPoint = join(work.path, 'small');
  await mkdir(mountPoint);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
  } catch (err) {
    mountError = err instanceof Error ? err.message : String(err);
  }
});

afterAll(async () => {
  if (mountError === undefined) await run('umount', [mountPoint]).catch(() => {});
  await registry?.close();
  await work?.remove();
});

describe('a cache on a full filesystem', () => {
  it('fails with exit 7 naming the lack of space, keeps blobs/ correct, and completes after the filesystem grows', async (ctx) => {
    if (mountError !== undefined) ctx.skip(`cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): ${mountError}`);
    const cache = join(mountPoint, 'cache');
    const ref = `${registry.host}/full/app:1.0`;
    const failed = await runDray(['pull', ref, '--cache', cache, '--progress', 'none']);
    expect(failed.code, failed.stderr).toBe(7);
    // Either the pre-check (need vs available) or ENOSPC mid-write ("no space left").
    expect(failed.stderr).toMatch(/need [\d.]+ [KMG]?i?B, [\d.]+ [KMG]?i?B available|no space left/i);
    expect((await badBlobs(cache)).bad).toEqual([]);

    await run('mount', ['-o', 'remount,size=16m', mountPoint]);
    const again = await runDray(['pull', ref, '--cache', cache, '--progress', 'none']);
    expect(again.code, again.stderr).toBe(0);
    const { checked, bad } = await badBlobs(cache);
    expect(bad).toEqual([]);
    // manifest + config + 3 layers
    expect(checked).toBe(5);
  });

  it('space that vanishes mid-download (another writer fills the disk) is exit 7 "no space left"; the pull completes once space is back', async (ctx) => {
    if (mountError !== undefined) ctx.skip(`cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): ${mountError}`);
    const dir = join(work.path, 'shrinking');
    await mkdir(dir);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
    try {
      const cache = join(dir, 'cache');
      const ref = `${registry.host}/full/app:1.0`;
      registry.faults = { bytesPerSecond: 400 * KiB };
      const pull = startDray(['pull', ref, '--cache', cache, '--progress', 'none']);
      // Passed the free-space check and is writing: now someone else takes the rest of the disk.
      await waitFor('the pull to write 100 KiB', async () => (await ledgerBytes(cache, image.layers[0]!.digest)) >= 100 * KiB);
      const filler = join(dir, 'filler');
      await writeFile(filler, Buffer.alloc(8 * 1024 * KiB)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOSPC') throw err;
      });
      const failed = await pull.done;
      expect(failed.code, failed.stderr).toBe(7);
      expect(failed.stderr).toMatch(/ERR_DISK_FULL.*no space left/);
      expect((await badBlobs(cache)).bad).toEqual([]);

      await rm(filler);
      registry.faults = {};
      const again = await runDray(['pull', ref, '--cache', cache, '--progress', 'none']);
      expect(again.code, again.stderr).toBe(0);
      const { checked, bad } = await badBlobs(cache);
      expect(bad).toEqual([]);
      expect(checked).toBe(5);
    } finally {
      registry.faults = {};
      await run('umount', [dir]);
    }
  });
});
