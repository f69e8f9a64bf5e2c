/**
 * FsBlobStore: the content-addressed cache on a local or shared (NFS) filesystem (DESIGN.md §3).
 *
 * Protocol: correctness without locks — bytes reach blobs/ only by rename after verification, a lost
 * rename race is success, readers never see partial files. Locks for efficiency — one lock per digest
 * being fetched; a process that finds it held waits as long as the holder lives (no timeout), reports
 * the holder and its progress about once a second, adopts the blob when the holder commits, and takes
 * over and resumes the partial when the holder dies (its lock goes stale). In-process sharing of one
 * download is the transfer manager's job; this store is safe when separate instances race.
 */
import { open, opendir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../context.js';
import { AbortedError, IntegrityError, LocalIOError, toLocalIOError, type PullError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { computeDigest, isDigest, shortDigest, splitDigest, type Digest } from '../oci/digest.js';
import type { BeginIngestOptions, BlobInfo, BlobStore, IngestOutcome, LockHolder, RefRecord } from './types.js';
import { ingestPaths, openIngest } from './ingest.js';
import { blobPath, ensureLayout, fsyncDir, writeFileAtomic, type CacheLayout } from './layout.js';
import { coveredBytes, parseLedger } from './ledger.js';
import { currentLockOwner, lockTiming, readLockOwner, tryLockBlob, type LockOwner, type LockTiming } from './lock.js';
import { listRefRecords, readRefRecord, writeRefRecord } from './refs.js';

/** How often a waiting process re-reads the holder's progress and retries the lock: "about once a second". */
export const DEFAULT_WAIT_POLL_MS = 1_000;

export interface BlobStoreOptions {
  /** Interval between lock attempts while another process holds a blob. */
  readonly pollIntervalMs?: number;
  /** Abortable sleep (tests inject one); rejects with AbortedError when the signal fires. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Milliseconds clock for ledger flush timing. */
  readonly now?: () => number;
  /** Who this process is, as recorded for waiters; defaults to this pid and host. */
  readonly owner?: LockOwner;
  /**
   * Age after which a blob lock is presumed abandoned (default DEFAULT_LOCK_STALE_MS, 10 s). Every
   * process sharing the cache must use the same value; tests lower it to see takeovers quickly.
   */
  readonly lockStaleMs?: number;
}

/** Opens (creating if needed) the cache at `root` and returns its store. */
export async function openBlobStore(root: string, options: BlobStoreOptions = {}): Promise<BlobStore> {
  const layout = await ensureLayout(root);
  return new FsBlobStore(layout, options);
}

async function keepAliveSleep(ms: number, signal: AbortSignal): Promise<void> {
  // ref'd on purpose: a process waiting for another's download must not exit while it waits.
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw new AbortedError('interrupted while waiting for another process', { cause: err });
    throw err;
  }
}

/** The filesystem implementation of BlobStore. */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #layout: CacheLayout;
  readonly #pollMs: number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #owner: LockOwner;
  readonly #lockTiming: LockTiming;

  constructor(layout: CacheLayout, options: BlobStoreOptions = {}) {
    this.root = layout.root;
    this.#layout = layout;
    this.#pollMs = options.pollIntervalMs ?? DEFAULT_WAIT_POLL_MS;
    this.#sleep = options.sleep ?? keepAliveSleep;
    this.#now = options.now ?? Date.now;
    this.#owner = options.owner ?? currentLockOwner();
    this.#lockTiming = lockTiming(options.lockStaleMs);
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    const path = blobPath(this.root, digest);
    try {
      const s = await stat(path);
      return { digest, size: s.size, path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw toLocalIOError(err, `reading ${shortDigest(digest)} from the cache`);
    }
  }

  async read(digest: Digest): Promise<Readable> {
    const path = blobPath(this.root, digest);
    try {
      // Open first so a missing blob fails here, not later on the stream.
      const fh = await open(path, 'r');
      return fh.createReadStream();
    } catch (err) {
      throw notInCache(err, digest);
    }
  }

  async readBytes(digest: Digest): Promise<Uint8Array> {
    try {
      return await readFile(blobPath(this.root, digest));
    } catch (err) {
      throw notInCache(err, digest);
    }
  }

  async putBytes(digest: Digest, bytes: Uint8Array): Promise<BlobInfo> {
    const actual = computeDigest(bytes, splitDigest(digest).algorithm);
    if (actual !== digest) throw new IntegrityError(`content for ${shortDigest(digest)} has digest ${actual}`);
    const existing = await this.stat(digest);
    if (existing) {
      // Used again: refresh its last use, or `prune --max-size` and the grace period would see it as idle.
      await this.touch(digest);
      return existing;
    }
    const path = blobPath(this.root, digest);
    try {
      await writeFileAtomic(path, bytes, this.#layout.tmp, 0o444);
      await fsyncDir(join(path, '..'));
    } catch (err) {
      throw toLocalIOError(err, `storing ${shortDigest(digest)} in the cache`);
    }
    return { digest, size: bytes.length, path };
  }

  async beginIngest(desc: Descriptor, options: BeginIngestOptions): Promise<IngestOutcome> {
    let waited = false;
    for (;;) {
      throwIfAborted(options.signal);
      const present = await this.#presentAs(desc);
      if (present) return { kind: 'present', info: present, waited };
      const lock = await tryLockBlob(this.root, desc.digest, this.#owner, this.#lockTiming);
      if (lock) {
        // The holder may have committed and released between our stat and our lock.
        const committed = await this.#presentAs(desc).catch(async (err: unknown) => {
          await lock.release();
          throw err;
        });
        if (committed) {
          await lock.release();
          return { kind: 'present', info: committed, waited };
        }
        return { kind: 'owned', ingest: await openIngest(this.root, desc, lock, { now: this.#now }) };
      }
      waited = true;
      options.onWait?.(await this.#holder(desc));
      await this.#sleep(this.#pollMs, options.signal);
    }
  }

  /** Returns the committed blob for `desc`, checking that its size agrees with the descriptor. */
  async #presentAs(desc: Descriptor): Promise<BlobInfo | undefined> {
    const info = await this.stat(desc.digest);
    if (info && info.size !== desc.size) {
      throw new IntegrityError(`${shortDigest(desc.digest)}: descriptor says ${desc.size} bytes, the cached blob has ${info.size}`, {
        hint: 'if the cache was damaged, run `dray cache verify --repair`',
      });
    }
    return info;
  }

  /** Reads who holds the lock and how far its ledger says it got. */
  async #holder(desc: Descriptor): Promise<LockHolder> {
    const owner = await readLockOwner(this.root, desc.digest);
    const base = owner ?? { pid: 0, host: 'unknown' };
    try {
      const ledger = parseLedger(await readFile(ingestPaths(this.root, desc).ledger, 'utf8'));
      if (ledger && ledger.digest === desc.digest) return { ...base, bytes: coveredBytes(ledger.ranges) };
    } catch {
      // No ledger yet: the holder has not written anything.
    }
    return base;
  }

  async remove(digest: Digest): Promise<void> {
    try {
      await rm(blobPath(this.root, digest), { force: true });
    } catch (err) {
      throw toLocalIOError(err, `removing ${shortDigest(digest)} from the cache`);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const dir = join(this.#layout.blobs, algorithm);
      const handle = await opendir(dir).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw toLocalIOError(err, 'listing the cache');
      });
      if (!handle) continue;
      for await (const entry of handle) {
        const digest = `${algorithm}:${entry.name}`;
        if (!entry.isFile() || !isDigest(digest)) continue;
        const info = await this.stat(digest);
        if (info) yield info;
      }
    }
  }

  writeRef(record: RefRecord): Promise<void> {
    return writeRefRecord(this.root, record);
  }

  readRef(ref: string): Promise<RefRecord | undefined> {
    return readRefRecord(this.root, ref);
  }

  /** Returns every ref record in the cache, sorted by ref. */
  listRefs(): Promise<RefRecord[]> {
    return listRefRecords(this.root);
  }

  async touch(digest: Digest): Promise<void> {
    try {
      // Both times: noatime/relatime mounts do not keep atime current, and "last used" is the later
      // of the two (maintenance.ts). The content is immutable, so mtime carries no other meaning.
      const now = new Date();
      await utimes(blobPath(this.root, digest), now, now);
    } catch {
      // Best effort: another user's blob in a shared cache, or a blob pruned meanwhile.
    }
  }
}

function notInCache(err: unknown, digest: Digest): PullError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new LocalIOError(`${digest} is not in the cache`, { cause: err });
  }
  return toLocalIOError(err, `reading ${shortDigest(digest)} from the cache`);
}
