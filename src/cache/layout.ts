/**
 * Cache directory layout (DESIGN.md §3, docs/cache-format.md): where every file lives, the VERSION
 * check, and the two write primitives the store is built on (write-temp-then-rename, directory fsync).
 * Invariant: a path under blobs/ only ever appears through rename of a complete, verified file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalIOError, toLocalIOError } from '../errors.js';
import { isDigest, splitDigest, type Digest } from '../oci/digest.js';

/** Format of the tree; a bump means a new tree, never an in-place migration (cacache's rule). */
export const CACHE_FORMAT_VERSION = '1';

/** Absolute paths of a cache's top-level entries. */
export interface CacheLayout {
  readonly root: string;
  readonly version: string;
  readonly blobs: string;
  readonly ingest: string;
  readonly locks: string;
  readonly refs: string;
  readonly tmp: string;
}

/** Returns the layout of the cache rooted at `root` (no I/O). */
export function cacheLayout(root: string): CacheLayout {
  return {
    root,
    version: join(root, 'VERSION'),
    blobs: join(root, 'blobs'),
    ingest: join(root, 'ingest'),
    locks: join(root, 'locks'),
    refs: join(root, 'refs'),
    tmp: join(root, 'tmp'),
  };
}

/** Returns "sha256-<hex>": the per-digest name used under ingest/ and locks/ (":" is not portable). */
export function digestKey(digest: Digest): string {
  const { algorithm, hex } = splitDigest(digest);
  return `${algorithm}-${hex}`;
}

/** Returns the digest a digestKey names, or undefined for any other name. */
export function parseDigestKey(name: string): Digest | undefined {
  const text = name.replace(/^(sha256|sha512)-/, '$1:');
  return text !== name && isDigest(text) ? text : undefined;
}

/** Returns the committed blob's path: blobs/<algorithm>/<hex>. */
export function blobPath(root: string, digest: Digest): string {
  const { algorithm, hex } = splitDigest(digest);
  return join(root, 'blobs', algorithm, hex);
}

/** Returns the ingest directory of a digest: ingest/<algorithm>-<hex>. */
export function ingestDir(root: string, digest: Digest): string {
  return join(root, 'ingest', digestKey(digest));
}

/**
 * Creates the tree (idempotent) and checks VERSION. A cache written by a different format version is
 * refused rather than guessed at.
 *
 * Every directory is made at once (recursive mkdir tolerates the siblings racing for their parents),
 * beside the VERSION read: a pull waits for this before its first request, and one mkdir after another
 * measured ~10 ms on a new cache. VERSION is written without fsync: lost to a power cut, it is written
 * again by the next run, and the tree it describes holds nothing a run trusts unverified.
 */
export async function ensureLayout(root: string): Promise<CacheLayout> {
  const layout = cacheLayout(root);
  try {
    const dirs = [join(layout.blobs, 'sha256'), join(layout.blobs, 'sha512'), layout.ingest, layout.locks, layout.refs, layout.tmp];
    const [found] = await Promise.all([readVersion(layout.version), ...dirs.map((dir) => mkdir(dir, { recursive: true }))]);
    if (found === undefined) {
      await writeFileAtomic(layout.version, `${CACHE_FORMAT_VERSION}\n`, layout.tmp, 0o644, { sync: false });
    } else if (found !== CACHE_FORMAT_VERSION) {
      throw new LocalIOError(`cache at ${root} has format version ${found}; this dray reads version ${CACHE_FORMAT_VERSION}`, {
        hint: 'point --cache at a new directory, or remove the old cache',
      });
    }
  } catch (err) {
    throw toLocalIOError(err, `preparing the cache at ${root}`);
  }
  return layout;
}

async function readVersion(path: string): Promise<string | undefined> {
  try {
    // Empty: a power cut tore the write (VERSION is not fsynced); written again like a missing one.
    return (await readFile(path, 'utf8')).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Returns a fresh, unguessable temp name in `dir` so concurrent writers never share one. */
export function tempPath(dir: string, hint: string): string {
  return join(dir, `.${hint}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `data` to a temp file in `tmpDir` (same filesystem as `path`), fsyncs it and renames it over
 * `path`, so readers see the old or the new content, never a torn file. `mode` is applied before the
 * rename. `sync: false` skips the fsync for files whose loss in a power cut costs nothing (the lock's
 * owner note, ref records that a pull re-resolves): each fsync is 10–20 ms on a small pull's critical path.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, tmpDir: string, mode = 0o644, options: { sync?: boolean } = {}): Promise<void> {
  const tmp = tempPath(tmpDir, 'write');
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      if (options.sync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** fsyncs a directory so a rename into it survives a power loss. Best effort where unsupported. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some filesystems (and Windows) refuse fsync on directories; the rename itself already happened.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}
