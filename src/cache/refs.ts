/**
 * Tag → digest records under refs/ (DESIGN.md §3): one JSON file per reference, written by
 * temp-then-rename so a reader sees the old or the new record, never a torn one. File names are the
 * reference percent-encoded ("/" and ":" cannot appear in a name); a reference too long for a file
 * name is stored under the sha256 of its text instead. The record itself always carries the ref.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toLocalIOError } from '../errors.js';
import { isDigest } from '../oci/digest.js';
import type { RefRecord } from './types.js';
import { writeFileAtomic } from './layout.js';

/** Longest encoded name used as is; 255 bytes is the common file-name limit, minus ".json" and margin. */
const MAX_ENCODED_NAME = 200;

/** Returns the file name of a reference's record under refs/. */
export function refFileName(ref: string): string {
  const encoded = encodeURIComponent(ref).replace(/\./g, (dot, i: number) => (i === 0 ? '%2E' : dot));
  if (encoded.length <= MAX_ENCODED_NAME) return `${encoded}.json`;
  return `sha256-${createHash('sha256').update(ref).digest('hex')}.json`;
}

/** Writes (or replaces) the record for `record.ref`. */
export async function writeRefRecord(root: string, record: RefRecord): Promise<void> {
  const data = `${JSON.stringify({ ref: record.ref, digest: record.digest, mediaType: record.mediaType, resolvedAt: record.resolvedAt, from: record.from })}\n`;
  try {
    // no fsync: a record lost to a power cut only means the next pull resolves the tag again
    await writeFileAtomic(join(root, 'refs', refFileName(record.ref)), data, join(root, 'tmp'), 0o644, { sync: false });
  } catch (err) {
    throw toLocalIOError(err, `recording ${record.ref} in the cache`);
  }
}

/** Returns the record for `ref`, or undefined when none (or only an unreadable one) exists. */
export async function readRefRecord(root: string, ref: string): Promise<RefRecord | undefined> {
  const record = await readRecordFile(join(root, 'refs', refFileName(ref)));
  // A hashed name could in theory collide; the record's own ref decides.
  return record?.ref === ref ? record : undefined;
}

/** Returns every readable record under refs/, sorted by ref. */
export async function listRefRecords(root: string): Promise<RefRecord[]> {
  let names: string[];
  try {
    names = await readdir(join(root, 'refs'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toLocalIOError(err, 'listing cached references');
  }
  const records: RefRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const record = await readRecordFile(join(root, 'refs', name));
    if (record) records.push(record);
  }
  return records.sort((a, b) => a.ref.localeCompare(b.ref));
}

async function readRecordFile(path: string): Promise<RefRecord | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const { ref, digest, mediaType, resolvedAt, from } = json as Record<string, unknown>;
  if (typeof ref !== 'string' || typeof digest !== 'string' || !isDigest(digest)) return undefined;
  return {
    ref,
    digest,
    mediaType: typeof mediaType === 'string' ? mediaType : '',
    resolvedAt: typeof resolvedAt === 'string' ? resolvedAt : '',
    from: typeof from === 'string' ? from : '',
  };
}
