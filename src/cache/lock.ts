/**
 * Per-digest cross-process locks: the only importer of proper-lockfile (DESIGN.md §2, §3). Locks
 * only stop duplicate downloads; correctness never depends on them (commit verifies and renames).
 * One set of stale/update settings is used for every lock, because proper-lockfile warns that
 * processes with different values can both believe they hold the same lock (aesthetics.md §8 trap 12).
 *
 * A lock is proper-lockfile's mkdir lock at locks/<alg>-<hex>.lock (mkdir is atomic on local
 * filesystems and on NFS, so this works for a fleet sharing one cache), plus an owner file
 * locks/<alg>-<hex>.owner naming pid and host so a waiting process can say whom it waits for. The
 * owner file lives beside the lock directory, not inside it, because proper-lockfile releases with
 * rmdir, which fails on a non-empty directory.
 */
import { hostname } from 'node:os';
import { pid as currentPid } from 'node:process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as lockfile from 'proper-lockfile';
import { LockError, toLocalIOError } from '../errors.js';
import { shortDigest, type Digest } from '../oci/digest.js';
import { digestKey, writeFileAtomic } from './layout.js';

/**
 * A lock whose directory mtime is older than this is taken over: its holder is presumed dead. 10 s is
 * proper-lockfile's own default: a crashed download is resumed by the next process within seconds.
 * On NFS, attribute caching can show a waiter an old mtime; a premature takeover then costs a
 * duplicate download and a LockError for the first holder, never a wrong blob (commit verifies).
 * Fleets on NFS should mount the cache with a short attribute cache (actimeo=1 or lookupcache=none).
 */
export const DEFAULT_LOCK_STALE_MS = 10_000;

/**
 * How often the holder refreshes the lock's mtime. Must be well under stale (proper-lockfile caps it
 * at stale/2): at 2 s, a holder can miss four refreshes (a busy event loop, a slow NFS server, a
 * laptop lid) before anyone considers it dead.
 */
export const DEFAULT_LOCK_UPDATE_MS = 2_000;

/** Who holds (or last held) a blob's lock. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

/** This process as a lock owner. */
export function currentLockOwner(): LockOwner {
  return { pid: currentPid, host: hostname() };
}

/** A held per-digest lock. */
export interface BlobLock {
  /** Set once the lock was lost (another process took it over as stale while we held it). */
  readonly lost: LockError | undefined;
  /** Registers a callback for losing the lock; called at most once, never throws into the timer. */
  onLost(listener: (err: LockError) => void): void;
  /** Releases the lock (idempotent; a lost lock is already released). */
  release(): Promise<void>;
  /**
   * Stops treating the lock as ours without removing it: for when the ingest shows another process
   * took the blob over (our data file is gone), so the lock directory now is theirs. The refresh
   * timer notices the change at its next tick and stops.
   */
  abandon(): void;
}

/** The stale/update pair every lock of a run uses (see DEFAULT_LOCK_STALE_MS for why one pair). */
export interface LockTiming {
  readonly staleMs: number;
  readonly updateMs: number;
}

/** proper-lockfile refuses a stale time under 2 s (it clamps to that). */
const MIN_LOCK_STALE_MS = 2_000;

/**
 * Returns the lock timing for a stale time (default DEFAULT_LOCK_STALE_MS). A shorter stale time
 * (tests: DRAY_LOCK_STALE_MS) keeps the update at a fifth of it, so a holder can still miss four
 * refreshes before it looks dead. Every process sharing a cache must use the same value.
 */
export function lockTiming(staleMs: number = DEFAULT_LOCK_STALE_MS): LockTiming {
  const stale = Math.max(MIN_LOCK_STALE_MS, Math.round(staleMs));
  return { staleMs: stale, updateMs: Math.max(1_000, Math.min(DEFAULT_LOCK_UPDATE_MS, Math.floor(stale / 5))) };
}

/** Returns the lock directory path of a digest: locks/<alg>-<hex>.lock. */
export function lockDirPath(root: string, digest: Digest): string {
  return join(root, 'locks', `${digestKey(digest)}.lock`);
}

function lockTarget(root: string, digest: Digest): string {
  return join(root, 'locks', digestKey(digest));
}

function ownerPath(root: string, digest: Digest): string {
  return join(root, 'locks', `${digestKey(digest)}.owner`);
}

const LOCK_OPTIONS = {
  retries: 0,
  // The target file need not exist; we lock a name, not a file.
  realpath: false,
} as const;

/**
 * Tries once to take the digest's lock; a stale lock is taken over. Returns undefined when another
 * live process holds it. `owner` is recorded in the owner file for waiters to read.
 */
export async function tryLockBlob(root: string, digest: Digest, owner: LockOwner, timing: LockTiming = lockTiming()): Promise<BlobLock | undefined> {
  let lost: LockError | undefined;
  let released = false;
  const listeners: ((err: LockError) => void)[] = [];
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockTarget(root, digest), {
      ...LOCK_OPTIONS,
      stale: timing.staleMs,
      update: timing.updateMs,
      lockfilePath: lockDirPath(root, digest),
      onCompromised: (err) => {
        // The library's default throws from a timer, which would crash the process; we fail that blob only.
        lost = new LockError(`lost the cache lock for ${shortDigest(digest)}: ${err.message}`, {
          cause: err,
          hint: 'another process took the lock over as stale; a very busy machine or a slow shared filesystem can cause this',
        });
        for (const listener of listeners) listener(lost);
      },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return undefined;
    throw toLocalIOError(err, `locking ${shortDigest(digest)} in the cache`);
  }
  // Not awaited: the note only tells waiters whom they wait for, and its four file operations sat
  // between the lock and the blob's request. A note that cannot be written (full disk) leaves waiters
  // saying "unknown holder"; the download reports the disk itself.
  const noted = writeFileAtomic(ownerPath(root, digest), `${JSON.stringify({ pid: owner.pid, host: owner.host, since: new Date().toISOString() })}\n`, join(root, 'tmp'), 0o644, { sync: false }).then(
    () => {},
    () => {},
  );
  return {
    get lost() {
      return lost;
    },
    onLost(listener) {
      listeners.push(listener);
    },
    async release() {
      if (released || lost) return;
      released = true;
      // Owner file first: while we still hold the lock nobody else can have written a newer one.
      await noted;
      await rm(ownerPath(root, digest), { force: true });
      try {
        await release();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ERELEASED' && code !== 'ENOTACQUIRED') throw toLocalIOError(err, `releasing ${shortDigest(digest)}'s cache lock`);
      }
    },
    abandon() {
      released = true;
    },
  };
}

/** Returns the owner recorded for the digest's lock, or undefined when unknown. */
export async function readLockOwner(root: string, digest: Digest): Promise<LockOwner | undefined> {
  try {
    const json = JSON.parse(await readFile(ownerPath(root, digest), 'utf8')) as Partial<LockOwner>;
    if (typeof json.pid === 'number' && typeof json.host === 'string') return { pid: json.pid, host: json.host };
  } catch {
    // Missing or being replaced: the waiter simply shows less detail this round.
  }
  return undefined;
}

/** Returns whether a live (non-stale) process holds the digest's lock. */
export async function isBlobLocked(root: string, digest: Digest, timing: LockTiming = lockTiming()): Promise<boolean> {
  try {
    return await lockfile.check(lockTarget(root, digest), {
      stale: timing.staleMs,
      realpath: false,
      lockfilePath: lockDirPath(root, digest),
    });
  } catch (err) {
    throw toLocalIOError(err, `checking ${shortDigest(digest)}'s cache lock`);
  }
}
