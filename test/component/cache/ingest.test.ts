import { chmod, open, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { blobPath, ingestDir } from '../../../src/cache/layout.js';
import { IntegrityError, LocalIOError } from '../../../src/errors.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { chunks, dataFile, failingAfter, makeBlob, openStore, owned, signal, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

describe('ingest and commit', () => {
  it('writes, commits and reads back a blob that is read-only under blobs/ with no ingest left', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(300_000);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    expect(ingest.completed()).toEqual([]);
    let reported = 0;
    expect(await ingest.writeAt(0, chunks(bytes), { signal, onBytes: (n) => (reported += n) })).toBe(bytes.length);
    expect(reported).toBe(bytes.length);
    const info = await ingest.commit();
    expect(info).toEqual({ digest: desc.digest, size: desc.size, path: blobPath(dir, desc.digest) });
    expect((await stat(info.path)).mode & 0o777).toBe(0o444);
    expect(Buffer.from(await store.readBytes(desc.digest)).equals(Buffer.from(bytes))).toBe(true);
    const streamed: Buffer[] = [];
    for await (const c of await store.read(desc.digest)) streamed.push(c as Buffer);
    expect(Buffer.concat(streamed).equals(Buffer.from(bytes))).toBe(true);
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
    expect(await readFile(join(dir, 'VERSION'), 'utf8')).toBe('1\n');
    const again = await store.beginIngest(desc, { signal });
    expect(again).toEqual({ kind: 'present', info, waited: false });
  });

  it('verifies chunks written out of order and concurrently (hashing from disk)', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(1_000_000, 2);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    const half = 500_000;
    await Promise.all([ingest.writeAt(half, chunks(bytes.subarray(half)), { signal }), ingest.writeAt(0, chunks(bytes.subarray(0, half)), { signal })]);
    expect(ingest.completed()).toEqual([{ start: 0, end: bytes.length - 1 }]);
    await ingest.commit();
    expect(Buffer.from(await readFile(blobPath(dir, desc.digest))).equals(Buffer.from(bytes))).toBe(true);
  });

  it('commit of wrong bytes throws IntegrityError, leaves nothing in blobs/ and drops the ingest', async () => {
    const store = await openStore(dir);
    const { desc } = makeBlob(1000, 3);
    const { bytes: other } = makeBlob(1000, 4);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    await ingest.writeAt(0, chunks(other), { signal });
    const err = await ingest.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).exitCode).toBe(6);
    expect((err as Error).message).toContain(computeDigest(other));
    expect((err as Error).message).toContain(desc.digest);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
    // The lock was released: a new attempt owns the ingest at once.
    await owned(await store.beginIngest(desc, { signal })).abort({ keepPartial: false });
  });

  it('commit of a short file throws IntegrityError naming expected and actual size', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(1000, 5);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    await ingest.writeAt(0, chunks(bytes.subarray(0, 600)), { signal });
    await expect(ingest.commit()).rejects.toThrow(/size 600 bytes, expected 1000/);
    expect(await store.stat(desc.digest)).toBeUndefined();
  });

  it('rejects a body longer than the descriptor size without writing past it', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(100, 6);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    const longer = new Uint8Array(200);
    longer.set(bytes);
    await expect(ingest.writeAt(0, chunks(longer, 150), { signal })).rejects.toBeInstanceOf(IntegrityError);
    expect((await stat(await dataFile(dir, desc.digest))).size).toBe(0);
    await ingest.abort({ keepPartial: false });
  });

  it('commit succeeds when another process renamed the same blob in first (lost race is success)', async () => {
    const a = await openStore(dir);
    const b = await openStore(dir);
    const { bytes, desc } = makeBlob(5000, 7);
    const ingest = owned(await a.beginIngest(desc, { signal }));
    await ingest.writeAt(0, chunks(bytes), { signal });
    await b.putBytes(desc.digest, bytes); // b wins the race to blobs/
    const info = await ingest.commit();
    expect(info.path).toBe(blobPath(dir, desc.digest));
    expect(Buffer.from(await readFile(info.path)).equals(Buffer.from(bytes))).toBe(true);
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
  });

  it('two store instances fetching the same digest concurrently both end with the committed blob', async () => {
    const stores = [await openStore(dir), await openStore(dir)];
    const { bytes, desc } = makeBlob(2_000_000, 8);
    const fetch = async (i: number) => {
      const outcome = await stores[i]!.beginIngest(desc, { signal });
      if (outcome.kind === 'present') return { ...outcome.info, how: 'present' };
      await outcome.ingest.writeAt(0, chunks(bytes), { signal });
      return { ...(await outcome.ingest.commit()), how: 'owned' };
    };
    const results = await Promise.all([fetch(0), fetch(1)]);
    expect(results.map((r) => r.how).sort()).toEqual(['owned', 'present']);
    expect(results[0]!.path).toBe(results[1]!.path);
    expect(computeDigest(await readFile(results[0]!.path))).toBe(desc.digest);
  });

  it('putBytes is idempotent and refuses bytes that do not match the digest', async () => {
    const store = await openStore(dir);
    const bytes = new TextEncoder().encode('{"schemaVersion":2}');
    const digest = computeDigest(bytes);
    const first = await store.putBytes(digest, bytes);
    expect(await store.putBytes(digest, bytes)).toEqual(first);
    expect((await stat(first.path)).mode & 0o777).toBe(0o444);
    await expect(store.putBytes(computeDigest(new Uint8Array([1])) as Digest, bytes)).rejects.toBeInstanceOf(IntegrityError);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('read of a missing blob is a LocalIOError; list, touch and remove work on committed blobs', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(10, 9);
    await expect(store.read(desc.digest)).rejects.toBeInstanceOf(LocalIOError);
    await store.putBytes(desc.digest, bytes);
    const listed = [];
    for await (const info of store.list()) listed.push(info.digest);
    expect(listed).toEqual([desc.digest]);
    const longAgo = new Date(Date.now() - 30 * 86_400_000);
    await utimes(blobPath(dir, desc.digest), longAgo, longAgo);
    await store.touch(desc.digest);
    const after = await stat(blobPath(dir, desc.digest));
    expect(Date.now() - Math.max(after.atimeMs, after.mtimeMs)).toBeLessThan(60_000);
    await store.remove(desc.digest);
    expect(await store.stat(desc.digest)).toBeUndefined();
  });

  it('leaves no ingest directory after a commit, whatever else was left in it', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(300_000, 11);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    await ingest.writeAt(0, chunks(bytes), { signal });
    await writeFile(join(ingestDir(dir, desc.digest), '.write.stray.tmp'), 'x'); // a torn ledger rewrite's scratch file
    await ingest.commit();
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
  });

  it('refuses a cache written in another format version', async () => {
    await openStore(dir);
    await chmod(join(dir, 'VERSION'), 0o644);
    await writeFile(join(dir, 'VERSION'), '2\n');
    await expect(openStore(dir)).rejects.toThrow(/format version 2/);
  });

  it('writes VERSION again when a power cut left it empty (it is not fsynced)', async () => {
    await openStore(dir);
    await chmod(join(dir, 'VERSION'), 0o644);
    await writeFile(join(dir, 'VERSION'), '');
    await openStore(dir);
    expect(await readFile(join(dir, 'VERSION'), 'utf8')).toBe('1\n');
  });
});

describe('resume', () => {
  it('abort keepPartial then a new instance resumes with completed() = what was written', async () => {
    const { bytes, desc } = makeBlob(3_000_000, 10);
    const first = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    const err = new Error('connection reset');
    await expect(first.writeAt(0, failingAfter(bytes.subarray(0, 1_234_567), err), { signal })).rejects.toBe(err);
    await first.abort({ keepPartial: true });
    const ledger = JSON.parse(await readFile(join(ingestDir(dir, desc.digest), 'ledger.json'), 'utf8'));
    expect(ledger.ranges).toEqual([[0, 1_234_566]]);

    const second = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    expect(second.completed()).toEqual([{ start: 0, end: 1_234_566 }]);
    await second.writeAt(1_234_567, chunks(bytes.subarray(1_234_567)), { signal });
    const info = await second.commit();
    expect(computeDigest(await readFile(info.path))).toBe(desc.digest);
  });

  it('an aborted signal stops writeAt with the bytes written so far recorded', async () => {
    const { bytes, desc } = makeBlob(500_000, 11);
    const store = await openStore(dir);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    const ac = new AbortController();
    let seen = 0;
    const body = (async function* () {
      for await (const c of chunks(bytes, 100_000)) {
        if (seen === 200_000) ac.abort();
        seen += c.length;
        yield c;
      }
    })();
    await expect(ingest.writeAt(0, body, { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(ingest.completed()).toEqual([{ start: 0, end: 199_999 }]);
    await ingest.abort({ keepPartial: true });
    expect(owned(await store.beginIngest(desc, { signal })).completed()).toEqual([{ start: 0, end: 199_999 }]);
  });

  it.each([
    { name: 'a data file shorter than the ledger claims', damage: (data: string) => truncate(data, 1000) },
    { name: 'a missing data file', damage: (data: string) => rm(data) },
  ])('starts over on $name', async ({ damage }) => {
    const { bytes, desc } = makeBlob(100_000, 12);
    const store = await openStore(dir);
    const first = owned(await store.beginIngest(desc, { signal }));
    await first.writeAt(0, chunks(bytes.subarray(0, 50_000)), { signal });
    await first.abort({ keepPartial: true });
    const firstData = await dataFile(dir, desc.digest);
    await damage(firstData);
    const second = owned(await store.beginIngest(desc, { signal }));
    expect(second.completed()).toEqual([]);
    expect((await stat(await dataFile(dir, desc.digest))).size).toBe(0);
    // The damaged partial is gone: only the new holder's file is left.
    expect((await readdir(ingestDir(dir, desc.digest))).filter((n) => n.startsWith('data'))).toEqual([(await dataFile(dir, desc.digest)).split('/').pop()]);
    await second.writeAt(0, chunks(bytes), { signal });
    await second.commit();
  });

  it('starts over when the ledger names another size or is torn', async () => {
    const { bytes, desc } = makeBlob(100_000, 13);
    const store = await openStore(dir);
    const first = owned(await store.beginIngest(desc, { signal }));
    await first.writeAt(0, chunks(bytes.subarray(0, 50_000)), { signal });
    await first.abort({ keepPartial: true });
    const ledgerPath = join(ingestDir(dir, desc.digest), 'ledger.json');
    const ledger = JSON.parse(await readFile(ledgerPath, 'utf8'));
    await writeFile(ledgerPath, JSON.stringify({ ...ledger, size: 99_999 }));
    const second = owned(await store.beginIngest(desc, { signal }));
    expect(second.completed()).toEqual([]);
    await second.abort({ keepPartial: true });
    await writeFile(ledgerPath, '{"version":1,"dig');
    const third = owned(await store.beginIngest(desc, { signal }));
    expect(third.completed()).toEqual([]);
    await third.abort({ keepPartial: false });
    expect(await readdir(join(dir, 'ingest'))).toEqual([]);
  });
});

describe('background writeback', () => {
  it('a failed fdatasync during the download fails the commit with exit 7, and nothing reaches blobs/', async () => {
    const store = await openStore(dir);
    // Over the 8 MiB after which the ingest starts writing its data out in the background.
    const { bytes, desc } = makeBlob(12 * 1024 * 1024, 9);
    const probe = await open(join(dir, 'probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    // The failed pages no longer count as dirty, so commit's own fsync would not see the error again.
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });
    const datasync = vi.spyOn(fileHandle, 'datasync').mockRejectedValueOnce(eio);
    try {
      const ingest = owned(await store.beginIngest(desc, { signal }));
      await ingest.writeAt(0, chunks(bytes), { signal });
      expect(datasync).toHaveBeenCalled();
      const err = await ingest.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalIOError);
      expect((err as LocalIOError).exitCode).toBe(7);
      expect((err as Error).message).toMatch(/i\/o error/i);
      expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
      await ingest.abort({ keepPartial: true });
    } finally {
      datasync.mockRestore();
    }
  });
});
