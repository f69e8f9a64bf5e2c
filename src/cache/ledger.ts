/**
 * The ingest ledger (docs/cache-format.md): which byte ranges of a partial blob are on disk, for which
 * digest and size. Pure: range arithmetic and (de)serialisation only; ingest.ts does the I/O. Ranges
 * are inclusive, as HTTP Range counts, and always kept merged and sorted.
 */
import type { ByteRange } from '../oci/descriptor.js';
import { isDigest, type Digest } from '../oci/digest.js';

/** Ledger format version; a reader that sees another value starts the ingest over. */
export const LEDGER_VERSION = 1;

export interface Ledger {
  readonly version: typeof LEDGER_VERSION;
  readonly digest: Digest;
  readonly size: number;
  readonly ranges: readonly ByteRange[];
  /** ISO time of the last ledger write (for humans; prune uses the file's mtime). */
  readonly updatedAt: string;
  /**
   * Name of the data file the ranges describe, inside the ingest directory: `data-<id>`, one per
   * holder (docs/cache-format.md, "Takeover"). Ledgers written before per-holder files name none,
   * which means `data`.
   */
  readonly data?: string;
  /**
   * Set by a holder that stopped cleanly (error, Ctrl-C) after closing its data file: nobody can write
   * that file any more, so the next holder may adopt it by rename instead of copying it.
   */
  readonly closed?: boolean;
}

/** Data file names a ledger may point at: `data` (older ledgers) or `data-<hex id>`; nothing with a path in it. */
export const DATA_FILE_NAME = /^data(-[0-9a-f]{1,64})?$/;

/** Returns the ranges sorted by start with overlapping and adjacent ranges merged; empty ranges dropped. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.end >= r.start).sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) {
      if (r.end > last.end) out[out.length - 1] = { start: last.start, end: r.end };
    } else {
      out.push({ start: r.start, end: r.end });
    }
  }
  return out;
}

/** Returns `ranges` with `range` added, merged and sorted. */
export function addRange(ranges: readonly ByteRange[], range: ByteRange): ByteRange[] {
  // the common case, a stream's next chunk right after the last range: no sort (once per chunk written)
  const last = ranges[ranges.length - 1];
  if (last !== undefined && range.start === last.end + 1 && range.end >= range.start) {
    return [...ranges.slice(0, -1), { start: last.start, end: range.end }];
  }
  return mergeRanges([...ranges, range]);
}

/** Returns the ranges of [0, size) not covered by `ranges` (what is still to fetch). */
export function complementRanges(ranges: readonly ByteRange[], size: number): ByteRange[] {
  const out: ByteRange[] = [];
  let next = 0;
  for (const r of mergeRanges(ranges)) {
    if (r.start >= size) break;
    if (r.start > next) out.push({ start: next, end: r.start - 1 });
    next = Math.max(next, r.end + 1);
  }
  if (next < size) out.push({ start: next, end: size - 1 });
  return out;
}

/** Returns the number of bytes the ranges cover. */
export function coveredBytes(ranges: readonly ByteRange[]): number {
  return mergeRanges(ranges).reduce((sum, r) => sum + (r.end - r.start + 1), 0);
}

/** Returns one past the last byte the ranges claim (0 when empty): the data file must be at least this long. */
export function rangesExtent(ranges: readonly ByteRange[]): number {
  return ranges.reduce((max, r) => Math.max(max, r.end + 1), 0);
}

/** Returns the ledger as stable, human-readable JSON (ranges as [start, end] pairs). */
export function serializeLedger(ledger: Ledger): string {
  return `${JSON.stringify({
    version: ledger.version,
    digest: ledger.digest,
    size: ledger.size,
    ranges: mergeRanges(ledger.ranges).map((r) => [r.start, r.end]),
    updatedAt: ledger.updatedAt,
    ...(ledger.data !== undefined ? { data: ledger.data } : {}),
    ...(ledger.closed ? { closed: true } : {}),
  })}\n`;
}

/** Returns the ledger in `text`, or undefined when it is not a well-formed ledger of this version. */
export function parseLedger(text: string): Ledger | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const { version, digest, size, ranges, updatedAt, data, closed } = json as Record<string, unknown>;
  if (version !== LEDGER_VERSION || typeof digest !== 'string' || !isDigest(digest)) return undefined;
  if (!isByteCount(size) || !Array.isArray(ranges)) return undefined;
  if (data !== undefined && (typeof data !== 'string' || !DATA_FILE_NAME.test(data))) return undefined;
  const parsed: ByteRange[] = [];
  for (const pair of ranges) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [start, end] = pair as unknown[];
    if (!isByteCount(start) || !isByteCount(end) || end < start || end >= size) return undefined;
    parsed.push({ start, end });
  }
  return {
    version: LEDGER_VERSION,
    digest,
    size,
    ranges: mergeRanges(parsed),
    updatedAt: typeof updatedAt === 'string' ? updatedAt : '',
    ...(data !== undefined ? { data } : {}),
    ...(closed === true ? { closed: true } : {}),
  };
}

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
