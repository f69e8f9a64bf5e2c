import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestDir } from '../../../src/cache/layout.js';
import { DEFAULT_LOCK_STALE_MS, lockDirPath } from '../../../src/cache/lock.js';
import type { LockHolder } from '../../../src/cache/types.js';
import { AbortedError, LockError } from '../../../src/errors.js';
import { computeDigest } from '../../../src/oci/digest.js';
import { chunks, makeBlob, openStore, owned, signal, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** Resolves once `predicate` holds, polling every 10 ms (bounded by the test timeout). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 10));
}

describe('cross-process locking', () => {
  it('a held lock makes a second instance wait, report pid/host/progress, then get `present` when the first commits', async () => {
    const a = await openStore(dir, { owner: { pid: 4242, host: 'host-a' } });
    const b = await openStore(dir, { owner: { pid: 5353, host: 'host-b' } });
    const { bytes, desc } = makeBlob(400_000, 21);
    const ingest = owned(await a.beginIngest(desc, { signal }));
    await ingest.writeAt(0, chunks(bytes.subarray(0, 100_000)), { signal });
    const waits: LockHolder[] = [];
    const waiting = b.beginIngest(desc, { signal, onWait: (h) => waits.push(h) });
    await until(() => waits.length >= 3);
    expect(waits[0]).toEqual({ pid: 4242, host: 'host-a', bytes: 100_000 });
    await ingest.writeAt(100_000, chunks(bytes.subarray(100_000)), { signal });
    const info = await ingest.commit();
    expect(await waiting).toEqual({ kind: 'present', info, waited: true });
  });

  it('a waiter whose signal aborts stops with AbortedError and leaves the holder alone', async () => {
    const a = await openStore(dir);
    const b = await openStore(dir);
    const { bytes, desc } = makeBlob(10_000, 22);
    const ingest = owned(await a.beginIngest(desc, { signal }));
    const ac = new AbortController();
    let waits = 0;
    const waiting = b.beginIngest(desc, { signal: ac.signal, onWait: () => (waits += 1) });
    await until(() => waits >= 1);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    await ingest.writeAt(0, chunks(bytes), { signal });
    await ingest.commit();
  });

  it('waits while a dead holder\'s lock looks fresh, then takes over and resumes its partial once the lock goes stale', async () => {
    const { bytes, desc } = makeBlob(1_000_000, 23);
    // The "dead process": wrote 300 000 bytes, then vanished leaving its lock directory and owner file.
    const dead = owned(await (await openStore(dir)).beginIngest(desc, { signal }));
    await dead.writeAt(0, chunks(bytes.subarray(0, 300_000)), { signal });
    await dead.abort({ keepPartial: true });
    const lockDir = lockDirPath(dir, desc.digest);
    await mkdir(lockDir);
    await writeFile(lockDir.replace(/\.lock$/, '.owner'), JSON.stringify({ pid: 999_999, host: 'gone' }));

    const store = await openStore(dir);
    const waits: LockHolder[] = [];
    const outcome = store.beginIngest(desc, { signal, onWait: (h) => waits.push(h) });
    await until(() => waits.length >= 2);
    expect(waits[0]).toEqual({ pid: 999_999, host: 'gone', bytes: 300_000 });
    // The holder stopped refreshing its lock: age it past the stale threshold.
    const old = new Date(Date.now() - DEFAULT_LOCK_STALE_MS - 5_000);
    await utimes(lockDir, old, old);

    const ingest = owned(await outcome);
    expect(ingest.completed()).toEqual([{ start: 0, end: 299_999 }]);
    await ingest.writeAt(300_000, chunks(bytes.subarray(300_000)), { signal });
    const info = await ingest.commit();
    expect(computeDigest(await readFile(info.path))).toBe(desc.digest);
    expect(await readdir(join(dir, 'locks'))).toEqual([]);
  });

  it('a holder whose lock is taken from it gets LockError for that blob and leaves the ingest to the new owner', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(200_000, 24);
    const other = makeBlob(1000, 25);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    const unaffected = owned(await store.beginIngest(other.desc, { signal }));
    await ingest.writeAt(0, chunks(bytes.subarray(0, 50_000)), { signal });
    // Another process replaced the lock (its mtime is no longer ours); the next refresh (every 2 s) notices.
    const lockDir = lockDirPath(dir, desc.digest);
    const elsewhere = new Date(Date.now() - 1_000);
    await utimes(lockDir, elsewhere, elsewhere);
    const body = (async function* () {
      yield* chunks(bytes.subarray(50_000, 60_000));
      await new Promise((r) => setTimeout(r, 3_500));
      yield* chunks(bytes.subarray(60_000));
    })();
    const err = await ingest.writeAt(50_000, body, { signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect((err as LockError).exitCode).toBe(7);
    await ingest.abort({ keepPartial: false });
    expect((await stat(ingestDir(dir, desc.digest))).isDirectory()).toBe(true);
    await unaffected.writeAt(0, chunks(other.bytes), { signal });
    await unaffected.commit();
  }, 15_000);
});
