/**
 * The only importer of tar-stream (DESIGN.md §2). Promise-shaped helpers for writing tars (archives)
 * and iterating them (layers). Callers must drain every entry they skip, or the next one never comes
 * and a verifying reader never reaches EOF (aesthetics.md §8, trap 2).
 */
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';

export type TarEntryType = tarStream.Header['type'];

export interface TarHeader {
  readonly name: string;
  readonly type: TarEntryType;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
  readonly linkname: string | undefined;
  readonly uname: string | undefined;
  readonly gname: string | undefined;
  readonly devmajor: number;
  readonly devminor: number;
  /** PAX records decoded as UTF-8 by tar-stream (lossy for binary values: use paxRaw for those). */
  readonly pax: Readonly<Record<string, string>>;
  /**
   * The same PAX records with their values as the exact bytes in the archive (xattrs arrive as
   * "SCHILY.xattr.NAME"; security.capability is a binary struct that UTF-8 decoding corrupts).
   */
  readonly paxRaw: ReadonlyMap<string, Uint8Array>;
}

export interface TarEntry {
  readonly header: TarHeader;
  /** The entry's bytes; must be consumed (or resumed) before the next entry is yielded. */
  readonly body: Readable;
}

/** Yields the entries of the tar read from `source`, in order. */
export async function* readTar(source: Readable): AsyncGenerator<TarEntry> {
  const extract = tarStream.extract();
  // tar-stream decodes PAX values as UTF-8 strings; the scanner sees every chunk before the parser
  // does (listeners run in registration order) and keeps the raw records, keyed by header offset
  const scanner = new PaxScanner();
  source.on('data', (chunk: Uint8Array) => scanner.push(chunk));
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const pax = (h.pax ?? {}) as Record<string, string>;
    yield {
      header: {
        name: h.name,
        type: h.type ?? 'file',
        size: h.size ?? 0,
        mode: h.mode ?? 0o644,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        mtime: h.mtime ?? new Date(0),
        linkname: h.linkname || undefined,
        uname: h.uname,
        gname: h.gname,
        devmajor: h.devmajor ?? 0,
        devminor: h.devminor ?? 0,
        pax,
        paxRaw: scanner.take(entry.offset, Object.keys(pax).length) ?? utf8Records(pax),
      },
      body: Readable.from(entry, { objectMode: false }),
    };
    // the consumer may not have read the body: drain it so the parser can move on
    entry.resume();
  }
}

/** Fallback if the scanner lost track of the parser (it never should): the records re-encoded, exact for UTF-8 values. */
function utf8Records(pax: Readonly<Record<string, string>>): Map<string, Uint8Array> {
  return new Map(Object.entries(pax).map(([key, value]) => [key, Buffer.from(value, 'utf8')]));
}

export interface TarWriter {
  /** The archive bytes. */
  readonly stream: Readable;
  /** Adds an entry whose body is a buffer (or nothing, for directories and links). */
  add(header: TarWriteHeader, data?: Uint8Array): Promise<void>;
  /** Adds a file entry whose body streams from `body`; `size` must be exact. */
  addStream(header: TarWriteHeader & { size: number }, body: Readable): Promise<void>;
  finalize(): void;
}

export interface TarWriteHeader {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  readonly size?: number;
  readonly mode?: number;
  readonly mtime?: Date;
  readonly linkname?: string;
}

/** Returns a tar writer; entries are written in call order with uid/gid 0 for reproducibility. */
export function createTarWriter(): TarWriter {
  const pack = tarStream.pack();
  const base = (h: TarWriteHeader): Partial<tarStream.Header> & { name: string } => ({
    name: h.name,
    type: h.type ?? 'file',
    mode: h.mode ?? (h.type === 'directory' ? 0o755 : 0o644),
    mtime: h.mtime ?? new Date(0),
    uid: 0,
    gid: 0,
    ...(h.size !== undefined ? { size: h.size } : {}),
    ...(h.linkname !== undefined ? { linkname: h.linkname } : {}),
  });
  return {
    stream: Readable.from(pack, { objectMode: false }),
    add: (header, data) =>
      new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => (err ? reject(err) : resolve());
        if (data) pack.entry({ ...base(header), size: data.byteLength }, data, cb);
        else pack.entry(base(header), cb);
      }),
    addStream: async (header, body) => {
      const sink = pack.entry({ ...base(header), size: header.size });
      await pipeline(body, sink as unknown as Writable);
    },
    finalize: () => pack.finalize(),
  };
}

const BLOCK = 512;
/** tar-stream's own cap on a PAX or GNU long header (extract.js MAX_HEADER_SIZE); it fails the archive above it. */
const MAX_PAX_BYTES = 4 * 1024 * 1024;
const PAX_LOCAL = 72; // 'x' - '0', as tar-stream computes typeflags
const PAX_GLOBAL = 55; // 'g' - '0'
const GNU_LONG = new Set([27, 28, 30]); // 'K', 'L', 'N'
const DIRECTORY = 5;

type PaxRecords = Map<string, Uint8Array>;

/**
 * Walks the same bytes as tar-stream's extract, block by block, and keeps each entry's PAX records as
 * raw bytes, keyed by the offset of the entry's header (tar-stream's public `Source.offset`). It mirrors
 * the parser's framing exactly (extract.js): local records merged over global ones, a PAX `size`
 * overriding the header's, no data skipped for directories, end blocks skipped. Raw bytes are kept
 * only for entries that have local records, until the reader takes them.
 */
export class PaxScanner {
  private offset = 0;
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private skip = 0;
  private collect: { buf: Buffer; fill: number; global: boolean; pad: number } | undefined;
  private global: PaxRecords | undefined;
  private local: PaxRecords | undefined;
  private lost = false;
  private readonly records = new Map<number, PaxRecords>();

  /** Feeds the next chunk of the archive. */
  push(bytes: Uint8Array): void {
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < chunk.length && !this.lost) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
      } else if (this.collect) {
        const c = this.collect;
        const n = Math.min(c.buf.length - c.fill, chunk.length - at);
        chunk.copy(c.buf, c.fill, at, at + n);
        c.fill += n;
        at += n;
        if (c.fill === c.buf.length) this.endPax(c.buf, c.global, c.pad);
      } else {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill === BLOCK) this.onHeader(this.offset + at - BLOCK);
      }
    }
    this.offset += chunk.length;
  }

  /** The raw records of the entry whose header starts at `offset`, if they agree with the parser's count. */
  take(offset: number, expectedKeys: number): PaxRecords | undefined {
    const found = this.records.get(offset);
    this.records.delete(offset);
    return found && found.size === expectedKeys ? found : undefined;
  }

  private onHeader(offset: number): void {
    this.headerFill = 0;
    const h = this.header;
    if (checksum(h) === 8 * 32) return; // an end-of-archive block: the parser reads on
    const typeflag = h[156] === 0 ? 0 : h[156]! - 48;
    const size = decodeSize(h.subarray(124, 136));
    if (size === undefined || size < 0) {
      this.lost = true; // the parser fails this archive too
      return;
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (typeflag === PAX_LOCAL || typeflag === PAX_GLOBAL) {
      if (size > MAX_PAX_BYTES) this.lost = true;
      else if (size === 0) this.endPax(Buffer.alloc(0), typeflag === PAX_GLOBAL, pad);
      else this.collect = { buf: Buffer.alloc(size), fill: 0, global: typeflag === PAX_GLOBAL, pad };
      return;
    }
    if (GNU_LONG.has(typeflag)) {
      this.skip = size + pad;
      return;
    }
    const local = this.local;
    this.local = undefined;
    if (local) this.records.set(offset, local);
    const sizeRecord = local?.get('size');
    const dataSize = sizeRecord && sizeRecord.length > 0 ? parseInt(Buffer.from(sizeRecord).toString('latin1'), 10) : size;
    if (typeflag === DIRECTORY || (typeflag === 0 && endsWithSlash(h)) || !(dataSize > 0)) return;
    this.skip = dataSize + ((BLOCK - (dataSize % BLOCK)) % BLOCK);
  }

  private endPax(buf: Buffer, global: boolean, pad: number): void {
    this.collect = undefined;
    this.skip = pad;
    const parsed = parsePaxRecords(buf);
    if (global) this.global = parsed;
    else this.local = new Map([...(this.global ?? []), ...parsed]);
  }
}

/** Parses "LEN KEY=VALUE\n" records, keeping values as bytes; stops where tar-stream's decodePax stops. */
export function parsePaxRecords(buf: Buffer): PaxRecords {
  const out: PaxRecords = new Map();
  while (buf.length > 0) {
    const space = buf.indexOf(0x20);
    const len = parseInt(buf.subarray(0, space < 0 ? buf.length : space).toString('latin1'), 10);
    if (!len || space < 0) return out;
    const record = buf.subarray(space + 1, len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) return out;
    out.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    buf = buf.subarray(len);
  }
  return out;
}

function checksum(block: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

/** The size field: GNU base-256 or octal, padded with spaces and NULs exactly as tar-stream's decodeOct reads it. */
function decodeSize(field: Buffer): number | undefined {
  if (field[0]! & 0x80) {
    if (field[0] !== 0x80) return undefined; // a negative size: the parser rejects the archive
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  const space = field.indexOf(0x20, i);
  const end = space < 0 ? field.length : space;
  while (i < end && field[i] === 0) i++;
  if (i === end) return 0;
  const n = parseInt(field.toString('latin1', i, end), 8);
  return Number.isNaN(n) ? undefined : n;
}

/** Old tars mark directories by a trailing slash on a regular-file entry; tar-stream checks the ustar name (prefix + name). */
function endsWithSlash(h: Buffer): boolean {
  const nul = h.subarray(0, 100).indexOf(0);
  const nameEnd = nul < 0 ? 100 : nul;
  const ustar = h.toString('latin1', 257, 263) === 'ustar\0';
  if (nameEnd > 0) return h[nameEnd - 1] === 0x2f;
  return ustar && h[345] !== 0;
}
