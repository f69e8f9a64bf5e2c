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
  /** PAX records (xattrs arrive as "SCHILY.xattr.NAME"). */
  readonly pax: Readonly<Record<string, string>>;
}

export interface TarEntry {
  readonly header: TarHeader;
  /** The entry's bytes; must be consumed (or resumed) before the next entry is yielded. */
  readonly body: Readable;
}

/** Yields the entries of the tar read from `source`, in order. */
export async function* readTar(source: Readable): AsyncGenerator<TarEntry> {
  const extract = tarStream.extract();
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
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
        pax: (h.pax ?? {}) as Record<string, string>,
      },
      body: Readable.from(entry, { objectMode: false }),
    };
    // the consumer may not have read the body: drain it so the parser can move on
    entry.resume();
  }
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
