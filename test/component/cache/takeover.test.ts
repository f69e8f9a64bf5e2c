// Issue 4 hardening: read-only partials, takeover of a frozen (not dead) holder, per-holder data files.
import { chmod, readdir, readFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestDir } from '../../../src/cache/layout.js';
import { lockDirPath } from '../../../src/cache/lock.js';
import { IntegrityError, LockError } from '../../../src/errors.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { chunks, dataFile, makeBlob, openStore, owned, signal, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** Makes the digest's lock look abandoned (its holder stopped refreshing it a minute ago). */
async function ageLock(digest: Digest): Promise<void> {
  const old = new Date(Date.now() - 60_000);
  await utimes(lockDirPath(dir, digest), old, old);
}

const dataFiles = async (digest: Digest) => (await readdir(ingestDir(dir, digest))).filter((n) => n.startsWith('data'));

describe('read-only partials (a commit killed between its chmod and its rename)', () => {
  it('a partial left 0444 is resumed into a file the new holder can write, and commits', async () => {
    const { bytes, desc } = makeBlob(300_000, 41);
    const first = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    await first.writeAt(0, chunks(bytes.subarray(0, 120_000)), { signal });
    await first.abort({ keepPartial: true });
    const old = await dataFile(dir, desc.digest);
    await chmod(old, 0o444); // what commit's chmod leaves when the process dies before the rename

    const second = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    expect(second.completed()).toEqual([{ start: 0, end: 119_999 }]);
    const mine = await dataFile(dir, desc.digest);
    // Before the fix the resumed file kept mode 0444: fine for root, EACCES for everyone else.
    expect((await stat(mine)).mode & 0o200).toBe(0o200);
    await second.writeAt(120_000, chunks(bytes.subarray(120_000)), { signal });
    const info = await second.commit();
    expect(computeDigest(await readFile(info.path))).toBe(desc.digest);
    expect((await stat(info.path)).mode & 0o777).toBe(0o444);
  });
});

describe('takeover of a frozen holder', () => {
  it('a frozen holder cannot put bytes into blobs/ that the new holder wrote, nor corrupt its file', async () => {
    const { bytes, desc } = makeBlob(200_000, 42);
    const garbage = new Uint8Array(150_000).fill(0xee);
    const a = owned(await (await openStore(dir, { owner: { pid: 1, host: 'frozen' } })).beginIngest(desc, { signal }));
    await a.writeAt(0, chunks(bytes.subarray(0, 50_000)), { signal });
    // A stops refreshing its lock (frozen), B takes the blob over and resumes from A's ledger.
    await ageLock(desc.digest);
    const b = owned(await (await openStore(dir, { owner: { pid: 2, host: 'new' } })).beginIngest(desc, { signal }));
    expect(b.completed()).toEqual([{ start: 0, end: 49_999 }]);
    // A wakes before its refresh notices: it finishes its (correct) bytes, hashed as written...
    await a.writeAt(50_000, chunks(bytes.subarray(50_000)), { signal });
    // ...while a bad server gives B garbage for the same range. With one shared data file A's commit
    // would rename the file now holding B's garbage, trusting its own inline hash.
    await b.writeAt(50_000, chunks(garbage), { signal });
    const errA = await a.commit().catch((e: unknown) => e);
    expect(errA).toBeInstanceOf(LockError);
    expect((errA as LockError).exitCode).toBe(7);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
    // B's own check catches its garbage; nothing reaches blobs/.
    await expect(b.commit()).rejects.toBeInstanceOf(IntegrityError);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('takeover copies the partial into a new file and removes the old name; the frozen holder then finds the committed blob', async () => {
    const { bytes, desc } = makeBlob(200_000, 43);
    const a = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    await a.writeAt(0, chunks(bytes.subarray(0, 80_000)), { signal });
    const aFile = await dataFile(dir, desc.digest);
    const aInode = (await stat(aFile)).ino;
    await ageLock(desc.digest);
    const b = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    const bFile = await dataFile(dir, desc.digest);
    expect(bFile).not.toBe(aFile);
    expect((await stat(bFile)).ino).not.toBe(aInode);
    expect(await dataFiles(desc.digest)).toEqual([bFile.split('/').pop()]);
    // The frozen holder keeps writing: into its orphaned inode, not into B's file.
    await a.writeAt(80_000, chunks(new Uint8Array(120_000).fill(0x11)), { signal });
    expect(Buffer.from(await readFile(bFile)).subarray(0, 80_000).equals(Buffer.from(bytes.subarray(0, 80_000)))).toBe(true);
    expect((await stat(bFile)).size).toBe(80_000);
    await b.writeAt(80_000, chunks(bytes.subarray(80_000)), { signal });
    const info = await b.commit();
    // A's bytes are wrong, so its own check fails first; a correct A would adopt B's blob (next test).
    await expect(a.commit()).rejects.toBeInstanceOf(IntegrityError);
    expect(computeDigest(await readFile(info.path))).toBe(desc.digest);
  });

  it('a frozen holder with correct bytes whose file was taken over returns the blob the new holder committed', async () => {
    const { bytes, desc } = makeBlob(100_000, 44);
    const a = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    await a.writeAt(0, chunks(bytes.subarray(0, 30_000)), { signal });
    await ageLock(desc.digest);
    const b = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    await a.writeAt(30_000, chunks(bytes.subarray(30_000)), { signal });
    await b.writeAt(30_000, chunks(bytes.subarray(30_000)), { signal });
    const info = await b.commit();
    expect(await a.commit()).toEqual(info);
    expect(computeDigest(await readFile(info.path))).toBe(desc.digest);
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
  });

  it('a partial whose holder stopped cleanly is adopted by rename (no copy), one whose holder vanished is copied', async () => {
    const { bytes, desc } = makeBlob(100_000, 45);
    const a = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    await a.writeAt(0, chunks(bytes.subarray(0, 40_000)), { signal });
    await a.abort({ keepPartial: true });
    const cleanInode = (await stat(await dataFile(dir, desc.digest))).ino;
    const b = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    expect((await stat(await dataFile(dir, desc.digest))).ino).toBe(cleanInode);
    await b.writeAt(40_000, chunks(bytes.subarray(40_000, 60_000)), { signal });
    // B "dies": its lock goes stale without a clean stop, so C must not reuse B's inode.
    await ageLock(desc.digest);
    const c = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    expect(c.completed()).toEqual([{ start: 0, end: 59_999 }]);
    expect((await stat(await dataFile(dir, desc.digest))).ino).not.toBe(cleanInode);
    await c.writeAt(60_000, chunks(bytes.subarray(60_000)), { signal });
    expect(computeDigest(await readFile((await c.commit()).path))).toBe(desc.digest);
  });
});
