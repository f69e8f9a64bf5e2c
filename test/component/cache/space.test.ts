import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDir } from '../../../src/cache/layout.js';
import { parseLedger, rangesExtent } from '../../../src/cache/ledger.js';
import { checkFreeSpace, freeSpace } from '../../../src/cache/space.js';
import { DiskFullError } from '../../../src/errors.js';
import { chunks, dataFile, makeBlob, openStore, owned, signal, tempDir } from './fixtures.js';

const run = promisify(execFile);

let dir: string;
let cleanup: () => Promise<void>;
let mountPoint: string;
let mountError: string | undefined;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  mountPoint = join(dir, 'tiny');
  await mkdir(mountPoint);
  try {
    // A real full filesystem: a 1 MiB tmpfs (needs root / CAP_SYS_ADMIN).
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
  } catch (err) {
    mountError = err instanceof Error ? err.message : String(err);
  }
});

afterAll(async () => {
  if (mountError === undefined) await run('umount', [mountPoint]);
  await cleanup();
});

describe('disk space', () => {
  it('ENOSPC while writing is DiskFullError (exit 7), nothing reaches blobs/ and the ledger matches the bytes really written', async (ctx) => {
    if (mountError !== undefined) ctx.skip(`cannot mount a tmpfs here (${mountError}); the ENOSPC path needs a really full filesystem`);
    const root = join(mountPoint, 'cache');
    const store = await openStore(root);
    const { bytes, desc } = makeBlob(2 * 1024 * 1024, 31);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    const err = await ingest.writeAt(0, chunks(bytes, 16 * 1024), { signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskFullError);
    expect((err as DiskFullError).exitCode).toBe(7);
    expect((err as DiskFullError).code).toBe('ERR_DISK_FULL');
    await ingest.abort({ keepPartial: true });
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([]);

    const data = await dataFile(root, desc.digest);
    const dataSize = (await stat(data)).size;
    const ledger = parseLedger(await readFile(join(ingestDir(root, desc.digest), 'ledger.json'), 'utf8'));
    expect(ledger).toBeDefined();
    expect(rangesExtent(ledger!.ranges)).toBeLessThanOrEqual(dataSize);
    // The partial stays resumable: a new attempt starts from what the ledger recorded.
    const again = owned(await store.beginIngest(desc, { signal }));
    expect(again.completed()).toEqual(ledger!.ranges);
    expect(Buffer.from(await readFile(await dataFile(root, desc.digest))).subarray(0, rangesExtent(ledger!.ranges)).equals(Buffer.from(bytes.subarray(0, rangesExtent(ledger!.ranges))))).toBe(true);
    await again.abort({ keepPartial: false });
  });

  it('checkFreeSpace names needed vs available in human units when short, and passes when there is room', async () => {
    const available = await freeSpace(dir);
    await expect(checkFreeSpace(dir, 1024)).resolves.toBeUndefined();
    const err = await checkFreeSpace(dir, available + 1024 ** 5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskFullError);
    expect((err as Error).message).toMatch(/need \d+(\.\d)? [KMGTP]iB, \d+(\.\d)? [KMGTP]?i?B available/);
  });

  it('checkFreeSpace sees the real limit of a small filesystem', async (ctx) => {
    if (mountError !== undefined) ctx.skip(`cannot mount a tmpfs here (${mountError})`);
    await expect(checkFreeSpace(mountPoint, 4 * 1024 * 1024)).rejects.toThrow(/need 4\.0 MiB, .* available/);
  });
});
