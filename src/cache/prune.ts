/**
 * `dray cache prune`: removes blobs no ref reaches (walking the manifests and indexes stored in the
 * cache), blobs unused for a given time, least-recently-used blobs over a size budget, and partial
 * downloads nobody is working on. Returns plain data for --json. Correctness does not depend on
 * prune: a pull that finds a blob gone fetches it again.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '../context.js';
import { toLocalIOError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import type { BlobStore } from './types.js';
import { cacheLayout } from './layout.js';
import { DATA_FILE_NAME } from './ledger.js';
import { listCache, listIngests, readdirOrEmpty, type CachedBlob } from './maintenance.js';

/** Partials untouched for a day are collected: containerd's lease/ingest expiry (anchors-pullers.md §2). */
export const DEFAULT_INGEST_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/**
 * Unreferenced blobs younger than this are kept: a pull in another process may have stored its
 * manifest and layers but not yet written the ref that reaches them (containerd protects these with
 * leases; an hour covers any realistic pull).
 */
export const DEFAULT_PRUNE_GRACE_MS = 60 * 60 * 1000;
/** Only blobs this small are parsed while walking refs; registries cap manifests at 4 MiB (distribution). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface PruneOptions {
  readonly signal: AbortSignal;
  /** Remove blobs not reachable from any ref record. */
  readonly unreferenced?: boolean;
  /** Remove blobs last used longer ago than this. */
  readonly olderThanMs?: number;
  /** After the rules above, remove least-recently-used blobs until the blobs total at most this. */
  readonly maxSizeBytes?: number;
  /** Remove partial downloads not updated for this long and not locked (default one day). */
  readonly ingestMaxAgeMs?: number;
  /** Protects recent unreferenced blobs (default one hour). */
  readonly graceMs?: number;
  /** Report what would go without removing anything. */
  readonly dryRun?: boolean;
  /** Wall-clock milliseconds (file times are wall-clock). */
  readonly now?: () => number;
}

export type PruneReason = 'unreferenced' | 'older-than' | 'over-size';

export interface PruneResult {
  readonly removed: readonly { readonly digest: Digest; readonly size: number; readonly reason: PruneReason }[];
  readonly removedIngests: readonly { readonly digest: Digest; readonly bytes: number }[];
  readonly freedBytes: number;
  /** Bytes of committed blobs left. */
  readonly keptBytes: number;
  readonly dryRun: boolean;
}

/** Prunes the cache by the given rules; see PruneOptions. */
export async function pruneCache(store: BlobStore, options: PruneOptions): Promise<PruneResult> {
  const now = (options.now ?? Date.now)();
  const dryRun = options.dryRun ?? false;
  const listing = await listCache(store, options);
  const reachable = options.unreferenced ? await reachableDigests(store, listing.refs, options.signal) : undefined;
  const removed: { digest: Digest; size: number; reason: PruneReason }[] = [];
  const kept: CachedBlob[] = [];
  const graceMs = options.graceMs ?? DEFAULT_PRUNE_GRACE_MS;
  for (const blob of listing.blobs) {
    const age = now - Date.parse(blob.lastUsed);
    if (reachable && !reachable.has(blob.digest) && age >= graceMs) removed.push({ digest: blob.digest, size: blob.size, reason: 'unreferenced' });
    else if (options.olderThanMs !== undefined && age > options.olderThanMs) removed.push({ digest: blob.digest, size: blob.size, reason: 'older-than' });
    else kept.push(blob);
  }
  if (options.maxSizeBytes !== undefined) {
    let total = kept.reduce((sum, b) => sum + b.size, 0);
    // Least recently used first.
    for (const blob of [...kept].sort((a, b) => Date.parse(a.lastUsed) - Date.parse(b.lastUsed))) {
      if (total <= options.maxSizeBytes) break;
      removed.push({ digest: blob.digest, size: blob.size, reason: 'over-size' });
      kept.splice(kept.indexOf(blob), 1);
      total -= blob.size;
    }
  }
  for (const r of removed) {
    throwIfAborted(options.signal);
    if (!dryRun) await store.remove(r.digest);
  }
  const removedIngests = await pruneIngests(store.root, now, options.ingestMaxAgeMs ?? DEFAULT_INGEST_MAX_AGE_MS, dryRun, options.signal);
  if (!dryRun) await pruneScratch(store.root, now, options.ingestMaxAgeMs ?? DEFAULT_INGEST_MAX_AGE_MS);
  return {
    removed,
    removedIngests,
    freedBytes: removed.reduce((s, r) => s + r.size, 0) + removedIngests.reduce((s, r) => s + r.bytes, 0),
    keptBytes: kept.reduce((s, b) => s + b.size, 0),
    dryRun,
  };
}

/** Returns every digest reachable from the refs through manifests and indexes present in the cache. */
export async function reachableDigests(
  store: BlobStore,
  refs: readonly { readonly digest: Digest; readonly mediaType: string }[],
  signal: AbortSignal,
): Promise<Set<Digest>> {
  const seen = new Set<Digest>();
  const queue = refs.map((r) => ({ digest: r.digest, mediaType: r.mediaType }));
  for (let item = queue.pop(); item; item = queue.pop()) {
    throwIfAborted(signal);
    if (seen.has(item.digest)) continue;
    seen.add(item.digest);
    const known = isIndexMediaType(item.mediaType) || isManifestMediaType(item.mediaType);
    const info = await store.stat(item.digest);
    // Unknown media types are tried only when small: a ref record without one may still name a manifest.
    if (!info || info.size > MAX_MANIFEST_BYTES || (!known && item.mediaType !== '')) continue;
    try {
      const parsed = parseManifest(await store.readBytes(item.digest), known ? item.mediaType : undefined);
      const children = parsed.kind === 'index' ? parsed.manifests : [parsed.config, ...parsed.layers];
      for (const d of children) queue.push({ digest: d.digest, mediaType: d.mediaType });
    } catch {
      // Not a manifest after all (or damaged): a leaf; verify reports damage.
    }
  }
  return seen;
}

async function pruneIngests(root: string, now: number, maxAgeMs: number, dryRun: boolean, signal: AbortSignal): Promise<{ digest: Digest; bytes: number }[]> {
  const out: { digest: Digest; bytes: number }[] = [];
  for (const ingest of await listIngests(root, { signal })) {
    if (ingest.locked || now - Date.parse(ingest.updatedAt) < maxAgeMs) continue;
    const bytes = await dirBytes(ingest.path);
    try {
      if (!dryRun) await rm(ingest.path, { recursive: true, force: true });
    } catch (err) {
      throw toLocalIOError(err, `removing the partial download of ${ingest.digest}`);
    }
    out.push({ digest: ingest.digest, bytes });
  }
  return out;
}

/** Returns the bytes of an ingest directory's data files (usually one; more after a holder died mid-takeover). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdirOrEmpty(dir)) {
    if (DATA_FILE_NAME.test(name)) total += await stat(join(dir, name)).then((s) => s.size, () => 0);
  }
  return total;
}

/** Removes old scratch files and owner records left by processes that died holding a lock. */
async function pruneScratch(root: string, now: number, maxAgeMs: number): Promise<void> {
  const layout = cacheLayout(root);
  for (const name of await readdirOrEmpty(layout.tmp)) {
    const path = join(layout.tmp, name);
    const s = await stat(path).catch(() => undefined);
    if (s && now - s.mtimeMs >= maxAgeMs) await rm(path, { recursive: true, force: true });
  }
  const lockNames = new Set(await readdir(layout.locks).catch(() => [] as string[]));
  for (const name of lockNames) {
    if (!name.endsWith('.owner') || lockNames.has(name.replace(/\.owner$/, '.lock'))) continue;
    const path = join(layout.locks, name);
    const s = await stat(path).catch(() => undefined);
    if (s && now - s.mtimeMs >= maxAgeMs) await rm(path, { force: true });
  }
}
