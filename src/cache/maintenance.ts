/**
 * Cache maintenance for `dray cache ls|du|verify` (prune lives in prune.ts): library functions that
 * return plain, JSON-ready data; the CLI only renders it. They read the tree directly and never need
 * a lock: committed blobs are immutable, and a blob removed underneath a reader stays readable
 * through its open file (POSIX unlink semantics).
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { throwIfAborted } from '../context.js';
import { toLocalIOError } from '../errors.js';
import { createDigester, splitDigest, type Digest } from '../oci/digest.js';
import type { BlobStore, RefRecord } from './types.js';
import { cacheLayout, parseDigestKey } from './layout.js';
import { coveredBytes, parseLedger } from './ledger.js';
import { isBlobLocked } from './lock.js';
import { listRefRecords } from './refs.js';

export interface CachedBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly path: string;
  /** ISO time the blob was last used: the later of its atime and mtime (commit, then each touch()). */
  readonly lastUsed: string;
}

export interface PartialIngest {
  readonly digest: Digest;
  /** Size the finished blob will have. */
  readonly size: number;
  /** Bytes on disk according to the ledger. */
  readonly bytes: number;
  /** ISO time of the last ledger update. */
  readonly updatedAt: string;
  /** Whether a live process holds the blob's lock (it is being downloaded right now). */
  readonly locked: boolean;
  readonly path: string;
}

export interface CacheListing {
  readonly blobs: readonly CachedBlob[];
  readonly refs: readonly RefRecord[];
  readonly ingests: readonly PartialIngest[];
}

/** Returns every committed blob (sorted by digest), ref record and partial download in the cache. */
export async function listCache(store: BlobStore, options: { signal: AbortSignal }): Promise<CacheListing> {
  const blobs: CachedBlob[] = [];
  for await (const info of store.list()) {
    throwIfAborted(options.signal);
    const s = await stat(info.path).catch(() => undefined);
    if (s) blobs.push({ ...info, lastUsed: new Date(Math.max(s.atimeMs, s.mtimeMs)).toISOString() });
  }
  blobs.sort((a, b) => a.digest.localeCompare(b.digest));
  return { blobs, refs: await listRefRecords(store.root), ingests: await listIngests(store.root, options) };
}

/** Returns the partial downloads under ingest/, with their progress and whether someone holds them. */
export async function listIngests(root: string, options: { signal: AbortSignal }): Promise<PartialIngest[]> {
  const dir = cacheLayout(root).ingest;
  const out: PartialIngest[] = [];
  for (const name of await readdirOrEmpty(dir)) {
    throwIfAborted(options.signal);
    const digest = parseDigestKey(name);
    if (!digest) continue;
    const path = join(dir, name);
    const ledgerPath = join(path, 'ledger.json');
    const [text, s] = await Promise.all([readFile(ledgerPath, 'utf8').catch(() => ''), stat(ledgerPath).catch(() => stat(path).catch(() => undefined))]);
    if (!s) continue;
    const ledger = parseLedger(text);
    out.push({
      digest,
      size: ledger?.size ?? 0,
      bytes: ledger ? coveredBytes(ledger.ranges) : 0,
      updatedAt: new Date(s.mtimeMs).toISOString(),
      locked: await isBlobLocked(root, digest),
      path,
    });
  }
  return out.sort((a, b) => a.digest.localeCompare(b.digest));
}

export interface UsageTotals {
  readonly count: number;
  readonly bytes: number;
}

export interface CacheUsage {
  readonly blobs: UsageTotals;
  readonly ingest: UsageTotals;
  readonly tmp: UsageTotals;
  readonly totalBytes: number;
}

/** Returns the space used by committed blobs, partial downloads and scratch files. */
export async function cacheUsage(root: string, options: { signal: AbortSignal }): Promise<CacheUsage> {
  const layout = cacheLayout(root);
  const blobs = await sumTree(layout.blobs, options.signal);
  const ingest = await sumTree(layout.ingest, options.signal);
  const tmp = await sumTree(layout.tmp, options.signal);
  return {
    blobs,
    // Count downloads, not their data + ledger files.
    ingest: { count: (await readdirOrEmpty(layout.ingest)).filter((n) => parseDigestKey(n)).length, bytes: ingest.bytes },
    tmp,
    totalBytes: blobs.bytes + ingest.bytes + tmp.bytes,
  };
}

async function sumTree(dir: string, signal: AbortSignal): Promise<UsageTotals> {
  let count = 0;
  let bytes = 0;
  for (const name of await readdirOrEmpty(dir)) {
    throwIfAborted(signal);
    const path = join(dir, name);
    const s = await lstat(path).catch(() => undefined);
    if (s?.isDirectory()) {
      const sub = await sumTree(path, signal);
      count += sub.count;
      bytes += sub.bytes;
    } else if (s) {
      count += 1;
      bytes += s.size;
    }
  }
  return { count, bytes };
}

/** Returns a directory's entry names, or none when it does not exist. */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toLocalIOError(err, `listing ${dir}`);
  }
}

export interface BadBlob {
  readonly digest: Digest;
  readonly size: number;
  /** The digest the file's bytes really have, or undefined when it could not be read. */
  readonly actual: Digest | undefined;
  readonly reason: string;
}

export interface VerifyResult {
  readonly checked: number;
  readonly bytes: number;
  readonly bad: readonly BadBlob[];
  /** Bad blobs deleted (only with `repair`); the next pull fetches them again. */
  readonly removed: readonly Digest[];
}

/** Re-hashes every committed blob; with `repair`, removes the ones whose bytes do not match their name. */
export async function verifyCache(
  store: BlobStore,
  options: { signal: AbortSignal; repair?: boolean; onBlob?: (digest: Digest, ok: boolean) => void },
): Promise<VerifyResult> {
  let checked = 0;
  let bytes = 0;
  const bad: BadBlob[] = [];
  const removed: Digest[] = [];
  for await (const info of store.list()) {
    throwIfAborted(options.signal);
    let actual: Digest | undefined;
    let reason = '';
    try {
      actual = await hashFile(info.path, info.digest, options.signal);
      if (actual !== info.digest) reason = `content hashes to ${actual}`;
    } catch (err) {
      throwIfAborted(options.signal);
      reason = `unreadable: ${err instanceof Error ? err.message : String(err)}`;
    }
    checked += 1;
    bytes += info.size;
    options.onBlob?.(info.digest, reason === '');
    if (reason === '') continue;
    bad.push({ digest: info.digest, size: info.size, actual, reason });
    if (options.repair) {
      await store.remove(info.digest);
      removed.push(info.digest);
    }
  }
  return { checked, bytes, bad, removed };
}

async function hashFile(path: string, digest: Digest, signal: AbortSignal): Promise<Digest> {
  const digester = createDigester(splitDigest(digest).algorithm);
  await pipeline(
    createReadStream(path),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        digester.hash.update(chunk);
        callback();
      },
    }),
    { signal },
  );
  return digester.digest();
}
