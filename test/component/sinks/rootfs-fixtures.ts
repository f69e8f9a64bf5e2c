/**
 * Hand-built layer tars for the rootfs tests: entries are written verbatim and in the given order (names
 * such as "../../x" or "/etc/x" included), so hostile archives can be expressed directly. Also a tree
 * snapshot (type, mode, owner, mtime, content or target, inode groups) for golden comparisons and for
 * proving a sentinel directory outside the root was not touched.
 */
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { afterEach, beforeEach, expect } from 'vitest';
import { applyLayer, type ApplyLayerResult, type LayerWarning } from '../../../src/sinks/apply-layer.js';
import type { DeferredModes } from '../../../src/sinks/rootfs-metadata.js';
import type { XattrTool } from '../../../src/sinks/xattr.js';
import { splitDigest } from '../../../src/oci/digest.js';
import type { BuiltImage } from '../../helpers/image-builder.js';

export interface RawEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  readonly content?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly pax?: Record<string, string>;
  /** PAX records written byte for byte in a PAX header of their own just before the entry (tar-stream's pack writes only UTF-8 strings). */
  readonly paxRaw?: Record<string, Uint8Array | string>;
}

/** A fixed, recognisable mtime (2001-09-09T01:46:40Z) so "the header's mtime was applied" is checkable. */
export const T1 = new Date(1_000_000_000_000);
export const T2 = new Date(1_200_000_000_000);

/** Returns the tar of `entries`, verbatim and in order. */
export async function tarOf(entries: readonly RawEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: Partial<tarStream.Header> & { name: string } = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? T1,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    };
    if (e.paxRaw) {
      const records = encodePaxRecords(e.paxRaw);
      await new Promise<void>((resolve, reject) => {
        // tar-stream's pack allows no body for a 'pax-header': write a file and retype it below
        pack.entry({ name: `${PAX_MARK}${e.name}`.slice(0, 99), type: 'file', mtime: T1 }, records, (err) => (err ? reject(err) : resolve()));
      });
    }
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, Buffer.from(e.content ?? ''), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  for (let at = 0; at < tar.length; at += 512) {
    if (tar.toString('latin1', at, at + PAX_MARK.length) === PAX_MARK) patchHeader(tar, at, 156, Buffer.from('x'));
  }
  return tar;
}

/** Names the PAX headers tarOf writes; no test content starts with it. */
const PAX_MARK = 'PaxHeaders.dray/';

/** Rewrites bytes of the header block at `at` and recomputes its checksum (ustar: octal, NUL, space). */
export function patchHeader(tar: Buffer, at: number, offset: number, bytes: Buffer): void {
  bytes.copy(tar, at + offset);
  tar.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[at + i]!;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `).copy(tar, at + 148);
}

/** PAX records as pax(5) frames them: "LEN KEY=VALUE\\n", LEN counting its own digits, values as raw bytes. */
export function encodePaxRecords(records: Record<string, Uint8Array | string>): Buffer {
  const out: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out.push(Buffer.from(String(len)), body);
  }
  return Buffer.concat(out);
}

export interface ApplyOptions {
  readonly isRoot?: boolean;
  readonly warnings?: LayerWarning[];
  readonly deferredModes?: DeferredModes;
  readonly xattrTool?: XattrTool;
}

/** Applies the tar of `entries` to `root` with applyLayer. */
export async function applyEntries(root: string, entries: readonly RawEntry[], options: ApplyOptions = {}): Promise<ApplyLayerResult> {
  const tar = await tarOf(entries);
  return applyLayer(root, Readable.from([tar]), {
    isRoot: options.isRoot ?? true,
    signal: new AbortController().signal,
    onWarning: (w) => options.warnings?.push(w),
    ...(options.deferredModes ? { deferredModes: options.deferredModes } : {}),
    ...(options.xattrTool ? { xattrTool: options.xattrTool } : {}),
  });
}

/** One line per path, sorted: "path type mode uid:gid mtime detail", detail = content, link target or device. */
export async function snapshot(dir: string, options: { times?: boolean } = {}): Promise<string[]> {
  const lines: string[] = [];
  async function walk(rel: string): Promise<void> {
    const path = rel === '' ? dir : join(dir, rel);
    const st = await lstat(path);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const time = options.times === false ? '' : ` ${st.mtime.toISOString()}`;
    let kind: string;
    let detail = '';
    if (st.isDirectory()) kind = 'dir';
    else if (st.isSymbolicLink()) {
      kind = 'symlink';
      detail = ` -> ${await readlink(path)}`;
    } else if (st.isFile()) {
      kind = 'file';
      detail = ` ${JSON.stringify((await readFile(path)).toString('utf8'))}${st.nlink > 1 ? ` nlink=${st.nlink}` : ''}`;
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      kind = st.isCharacterDevice() ? 'chardev' : 'blockdev';
      detail = ` ${Math.floor(st.rdev / 256)}:${st.rdev % 256}`;
    } else kind = st.isFIFO() ? 'fifo' : 'other';
    lines.push(`${rel || '.'} ${kind} ${kind === 'symlink' ? '-' : mode} ${st.uid}:${st.gid}${kind === 'symlink' ? '' : time}${detail}`);
    if (st.isDirectory()) for (const child of (await readdir(path)).sort()) await walk(rel === '' ? child : `${rel}/${child}`);
  }
  await walk('');
  return lines;
}

export interface Playground {
  /** The parent of root and sentinel. */
  readonly base: string;
  /** Where layers are applied. */
  readonly root: string;
  /** A directory outside the root that hostile layers aim at; must stay byte-for-byte the same. */
  readonly sentinel: string;
  /** Snapshot of the sentinel and of the base listing, taken at creation. */
  readonly before: readonly string[];
  /** Returns the current snapshot to compare with `before`. */
  outside(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** Creates base/{root,sentinel} under `parent` (default: the temp dir); the sentinel holds a file, a subdirectory and an "etc/passwd". */
export async function createPlayground(parent: string = tmpdir()): Promise<Playground> {
  const base = await mkdtemp(join(parent, 'dray-rootfs-'));
  const root = join(base, 'root');
  const sentinel = join(base, 'sentinel');
  await mkdir(root);
  await mkdir(join(sentinel, 'etc'), { recursive: true });
  await writeFile(join(sentinel, 'keep'), 'sentinel file\n', { mode: 0o644 });
  await writeFile(join(sentinel, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n', { mode: 0o644 });
  const outside = async (): Promise<string[]> => [...(await snapshot(sentinel)), `base: ${(await readdir(base)).sort().join(',')}`];
  return { base, root, sentinel, before: await outside(), outside, cleanup: () => rm(base, { recursive: true, force: true }) };
}

/**
 * Gives each test of the file a fresh playground (handed to `use`) and, after it, checks that the world
 * outside the root is as it was — every test, hostile or not — before removing the playground.
 */
export function usePlaygroundPerTest(use: (pg: Playground) => void): void {
  let pg: Playground;
  beforeEach(async () => {
    pg = await createPlayground();
    use(pg);
  });
  afterEach(async () => {
    try {
      expect(await pg.outside()).toEqual(pg.before);
    } finally {
      await pg.cleanup();
    }
  });
}

/** Writes a minimal OCI image layout (image-spec image-layout.md) holding `image` tagged "latest", for umoci. */
export async function writeOciLayout(dir: string, image: BuiltImage): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const blobs = new Map(image.blobs);
  blobs.set(image.manifest.digest, image.manifest.bytes);
  for (const [digest, bytes] of blobs) await writeFile(join(dir, 'blobs', 'sha256', splitDigest(digest).hex), bytes);
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}
