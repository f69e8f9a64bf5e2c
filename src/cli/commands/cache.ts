/**
 * `dray cache ls|du|prune|verify|path`: each subcommand opens the cache, calls one library function
 * from src/cache/ and renders its plain-data result: aligned tables for people, or one JSON document
 * with --json. stdout carries results only; notes about bad blobs go to stderr. The on-disk format and
 * the rules these commands follow are described in docs/cache-format.md.
 */
import { readdir, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { openBlobStore } from '../../cache/fs-store.js';
import { cacheLayout } from '../../cache/layout.js';
import { cacheUsage, listCache, verifyCache, type CacheListing, type CacheUsage, type VerifyResult } from '../../cache/maintenance.js';
import { pruneCache, reachableDigests, type PruneOptions, type PruneResult } from '../../cache/prune.js';
import type { BlobStore, RefRecord } from '../../cache/types.js';
import { ExitCode, toLocalIOError, UsageError } from '../../errors.js';
import type { Digest } from '../../oci/digest.js';
import { formatBytes, sanitizeText } from '../../report/format.js';
import { cacheDirFrom } from '../env.js';
import type { CliIo } from '../io.js';
import { parseDurationFlag, parseSizeFlag } from '../parse-values.js';

interface CacheFlags {
  cache?: string;
  json?: boolean;
}

interface PruneFlags extends CacheFlags {
  allUnreferenced?: boolean;
  olderThan?: string;
  maxSize?: string;
  dryRun?: boolean;
}

interface VerifyFlags extends CacheFlags {
  repair?: boolean;
}

/** An image in `cache ls`: a ref record plus what of it the cache holds. */
export interface CachedImage extends RefRecord {
  /** Bytes of every cached blob the ref reaches (index, manifests, configs, layers). */
  readonly size: number;
  /** Cached blobs the ref reaches. */
  readonly blobs: number;
  /** Blobs the cached manifests name that are not in the cache (pruned, or never pulled). */
  readonly missing: number;
}

/** Registers `cache` and its subcommands on the program. */
export function registerCache(program: Command, io: CliIo): void {
  const cache = program.command('cache').description('inspect and maintain the shared blob cache (docs/cache-format.md)');
  const sub = (name: string, description: string): Command =>
    cache
      .command(name)
      .description(description)
      .option('--cache <dir>', 'cache directory (default: $DRAY_CACHE, else $XDG_CACHE_HOME/dray, else ~/.cache/dray)')
      .option('--json', 'print the result on stdout as one JSON document');

  sub('ls', 'list cached images (refs), blobs and partial downloads').action(async (flags: CacheFlags) => {
    const root = cacheDirFrom(flags.cache, io.env);
    const store = await openExistingCache(root);
    const listing: CacheListing = store ? await listCache(store, { signal: io.signal }) : { blobs: [], refs: [], ingests: [] };
    const images = store ? await describeImages(store, listing, io.signal) : [];
    if (flags.json) writeJson(io, { cache: root, images, blobs: listing.blobs, partials: listing.ingests });
    else io.stdout.write(renderListing(images, listing));
  });

  sub('du', 'show the space used by blobs, partial downloads and scratch files').action(async (flags: CacheFlags) => {
    const root = cacheDirFrom(flags.cache, io.env);
    const usage: CacheUsage = (await openExistingCache(root)) ? await cacheUsage(root, { signal: io.signal }) : EMPTY_USAGE;
    if (flags.json) writeJson(io, { cache: root, ...usage });
    else io.stdout.write(renderUsage(usage));
  });

  sub('prune', 'remove unreferenced blobs (the default), old or least-recently-used blobs, and stale partial downloads')
    .option('--all-unreferenced', 'remove blobs no cached ref reaches, except ones used in the last hour (the default when no other rule is given)')
    .option('--older-than <duration>', 'remove blobs not used for this long, e.g. 30d, 2w, 12h')
    .option('--max-size <size>', 'then remove least-recently-used blobs until the blobs total at most this, e.g. 10G')
    .option('--dry-run', 'print what would be removed and remove nothing')
    .action(async (flags: PruneFlags) => {
      const root = cacheDirFrom(flags.cache, io.env);
      const options = pruneOptionsFrom(flags, io.signal);
      const store = await openExistingCache(root);
      const result: PruneResult = store ? await pruneCache(store, options) : { removed: [], removedIngests: [], freedBytes: 0, keptBytes: 0, dryRun: options.dryRun ?? false };
      if (flags.json) writeJson(io, { cache: root, ...result });
      else io.stdout.write(renderPrune(result));
    });

  sub('verify', 're-hash every cached blob; exit 6 if any does not match its digest')
    .option('--repair', 'remove blobs whose bytes do not match, so the next pull fetches them again')
    .action(async (flags: VerifyFlags) => {
      const root = cacheDirFrom(flags.cache, io.env);
      const store = await openExistingCache(root);
      const result: VerifyResult = store ? await verifyCache(store, { signal: io.signal, repair: Boolean(flags.repair) }) : { checked: 0, bytes: 0, bad: [], removed: [] };
      for (const bad of result.bad) io.stderr.write(`bad blob ${bad.digest}: ${sanitizeText(bad.reason)}\n`);
      const unrepaired = result.bad.length - result.removed.length;
      if (unrepaired > 0) io.stderr.write('hint: run `dray cache verify --repair` to remove them; the next pull fetches them again\n');
      if (flags.json) writeJson(io, { cache: root, ...result, ok: unrepaired === 0 });
      else io.stdout.write(renderVerify(result));
      io.setExitCode(unrepaired > 0 ? ExitCode.Integrity : ExitCode.Ok);
    });

  sub('path', 'print the cache directory').action((flags: CacheFlags) => {
    const root = cacheDirFrom(flags.cache, io.env);
    if (flags.json) writeJson(io, { cache: root });
    else io.stdout.write(`${root}\n`);
  });
}

const EMPTY_USAGE: CacheUsage = { blobs: { count: 0, bytes: 0 }, ingest: { count: 0, bytes: 0 }, tmp: { count: 0, bytes: 0 }, totalBytes: 0 };

/**
 * Opens the cache at `root` without creating one: undefined when the directory does not exist (an
 * empty cache). A non-empty directory without VERSION is refused, so a mistyped --cache never turns
 * someone's directory into a cache (openBlobStore would create the tree in it) or gets pruned.
 */
async function openExistingCache(root: string): Promise<BlobStore | undefined> {
  const layout = cacheLayout(root);
  try {
    await stat(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toLocalIOError(err, `reading the cache at ${root}`);
  }
  const hasVersion = await stat(layout.version).then(() => true, () => false);
  if (!hasVersion && (await readdir(root).catch(() => [])).length > 0) {
    throw new UsageError(`${root} is not a dray cache (it has no VERSION file)`, { hint: 'check --cache and $DRAY_CACHE' });
  }
  return openBlobStore(root);
}

/** Turns the prune flags into library options; with no rule given, prunes unreferenced blobs. */
function pruneOptionsFrom(flags: PruneFlags, signal: AbortSignal): PruneOptions {
  const olderThanMs = flags.olderThan !== undefined ? parseDurationFlag('--older-than', flags.olderThan) : undefined;
  // "0" empties the cache; parseSizeFlag refuses 0 because every other size flag needs at least a byte.
  const maxSizeBytes = flags.maxSize === undefined ? undefined : flags.maxSize.trim() === '0' ? 0 : parseSizeFlag('--max-size', flags.maxSize);
  const unreferenced = Boolean(flags.allUnreferenced) || (olderThanMs === undefined && maxSizeBytes === undefined);
  return {
    signal,
    unreferenced,
    ...(olderThanMs !== undefined ? { olderThanMs } : {}),
    ...(maxSizeBytes !== undefined ? { maxSizeBytes } : {}),
    dryRun: Boolean(flags.dryRun),
  };
}

/** Returns each ref with the size and count of the cached blobs it reaches. */
async function describeImages(store: BlobStore, listing: CacheListing, signal: AbortSignal): Promise<CachedImage[]> {
  const sizes = new Map<Digest, number>(listing.blobs.map((b) => [b.digest, b.size]));
  const images: CachedImage[] = [];
  for (const ref of listing.refs) {
    let size = 0;
    let blobs = 0;
    let missing = 0;
    for (const digest of await reachableDigests(store, [ref], signal)) {
      const blobSize = sizes.get(digest);
      if (blobSize === undefined) missing += 1;
      else {
        size += blobSize;
        blobs += 1;
      }
    }
    images.push({ ...ref, size, blobs, missing });
  }
  return images;
}

function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Returns rows as aligned columns, two spaces apart; columns listed in `right` are right-aligned. */
export function formatTable(rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .map((line) => `${line.trimEnd()}\n`)
    .join('');
}

/** "2025-06-01 12:00:00Z": ISO time to the second, or "-" when unknown. */
function formatTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '-' : new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function renderListing(images: readonly CachedImage[], listing: CacheListing): string {
  const sections: string[] = [];
  const imageRows = images.map((i) => [sanitizeText(i.ref), i.digest, formatBytes(i.size), i.missing > 0 ? `${i.blobs} (${i.missing} missing)` : String(i.blobs), formatTime(i.resolvedAt)]);
  sections.push(imageRows.length ? formatTable([['IMAGE', 'DIGEST', 'SIZE', 'BLOBS', 'RESOLVED'], ...imageRows], new Set([2])) : 'no images\n');
  const blobRows = listing.blobs.map((b) => [b.digest, formatBytes(b.size), formatTime(b.lastUsed)]);
  sections.push(blobRows.length ? formatTable([['BLOB', 'SIZE', 'LAST USED'], ...blobRows], new Set([1])) : 'no blobs\n');
  if (listing.ingests.length) {
    const rows = listing.ingests.map((p) => [p.digest, formatBytes(p.bytes), formatBytes(p.size), p.locked ? 'downloading' : 'paused', formatTime(p.updatedAt)]);
    sections.push(formatTable([['PARTIAL', 'HAVE', 'OF', 'STATE', 'UPDATED'], ...rows], new Set([1, 2])));
  }
  return sections.join('\n');
}

function renderUsage(usage: CacheUsage): string {
  return formatTable(
    [
      ['', 'COUNT', 'SIZE'],
      ['blobs', String(usage.blobs.count), formatBytes(usage.blobs.bytes)],
      ['partials', String(usage.ingest.count), formatBytes(usage.ingest.bytes)],
      ['scratch', String(usage.tmp.count), formatBytes(usage.tmp.bytes)],
      ['total', '', formatBytes(usage.totalBytes)],
    ],
    new Set([1, 2]),
  );
}

function renderPrune(result: PruneResult): string {
  const verb = result.dryRun ? 'would remove' : 'removed';
  const rows = [
    ...result.removed.map((r) => [verb, r.digest, formatBytes(r.size), r.reason]),
    ...result.removedIngests.map((p) => [verb, p.digest, formatBytes(p.bytes), 'stale partial']),
  ];
  const count = result.removed.length + result.removedIngests.length;
  const summary = `${result.dryRun ? 'would free' : 'freed'} ${formatBytes(result.freedBytes)} (${count} item${count === 1 ? '' : 's'}); ${formatBytes(result.keptBytes)} of blobs kept\n`;
  return formatTable(rows, new Set([2])) + summary;
}

function renderVerify(result: VerifyResult): string {
  const removed = new Set(result.removed);
  const rows = result.bad.map((b) => [b.digest, formatBytes(b.size), removed.has(b.digest) ? 'removed' : 'bad']);
  const summary = `checked ${result.checked} blob${result.checked === 1 ? '' : 's'} (${formatBytes(result.bytes)}): ${result.bad.length} bad, ${result.removed.length} removed\n`;
  return formatTable(rows, new Set([1])) + summary;
}
