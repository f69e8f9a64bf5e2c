/**
 * Write aside, then rename (DESIGN.md §3, STYLE.md "Content addressing"): every file or directory an
 * export produces appears at its final path only by rename(2), so a reader never sees it half written
 * and an interrupted export leaves nothing that looks complete.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pid } from 'node:process';
import { throwIfAborted } from '../context.js';
import { errorCode, toLocalIOError, UsageError } from '../errors.js';

/** How blobs get from the cache into an OCI layout. */
export type LinkMode = 'auto' | 'hardlink' | 'copy';

/**
 * Returns `<dest>.partial-<pid>-<random>`: beside dest (same filesystem, so the final rename is atomic),
 * and named by the process so a leftover from a crashed run can be told apart and removed.
 */
export function stagingPathFor(dest: string): string {
  return `${dest}.partial-${pid}-${randomBytes(4).toString('hex')}`;
}

/** Returns a sibling temporary name for `path` (same directory, so renaming it over `path` is atomic). */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString('hex')}`;
}

/**
 * Renames the staged directory or file onto `dest`. An existing empty directory is replaced (rename(2)
 * allows it); anything else already at dest is an error and the staging stays for the caller to remove.
 */
export async function renameIntoPlace(staging: string, dest: string, signal: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  try {
    await rename(staging, dest);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') {
      throw new UsageError(`cannot export to ${dest}: it appeared while the export ran`, {
        cause: err,
        hint: 'remove it or choose another destination',
      });
    }
    throw toLocalIOError(err, `moving the export into place at ${dest}`);
  }
}

/** Removes a staging file or directory; never throws (abort paths must not mask the first error). */
export async function removeStaging(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => {});
}

/** Writes `bytes` to `path` atomically: a temporary sibling, fsync, rename over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  const tmp = tempPathFor(path);
  try {
    const handle = await open(tmp, 'wx', 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    throwIfAborted(signal);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw toLocalIOError(err, `writing ${path}`);
  }
}

/** Returns the size of the regular file at `path`, or undefined when there is none. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
    throw toLocalIOError(err, `reading ${path}`);
  }
}

/** Errors that mean "a hard link cannot work here", so 'auto' falls back to copying. */
const LINK_FALLBACK_CODES = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Places the committed cache file `source` at `target` by hard link or copy, through a temporary
 * sibling and a rename, so `target` is either absent or complete. Skips the work when `target` already
 * holds a file of `size` bytes (as ggcr's layout writer and skopeo do: blobs are content-addressed).
 * Returns how the file got there.
 */
export async function placeFile(
  source: string,
  target: string,
  size: number,
  mode: LinkMode,
  signal: AbortSignal,
): Promise<'present' | 'linked' | 'copied'> {
  throwIfAborted(signal);
  if (mode !== 'copy') {
    // A hard link appears whole, so it can be made at the target itself: one file operation where the
    // careful path below takes five. Its failures (already there, no directory yet, no hard links on
    // this filesystem) are the careful path's to sort out.
    try {
      await link(source, target);
      return 'linked';
    } catch {
      // fall through
    }
  }
  if ((await fileSize(target)) === size) return 'present';
  await mkdir(dirname(target), { recursive: true }).catch((err: unknown) => {
    throw toLocalIOError(err, `creating ${dirname(target)}`);
  });
  const tmp = tempPathFor(target);
  try {
    const how = await linkOrCopy(source, tmp, mode);
    throwIfAborted(signal);
    await rename(tmp, target);
    return how;
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw toLocalIOError(err, `placing ${target}`);
  }
}

async function linkOrCopy(source: string, tmp: string, mode: LinkMode): Promise<'linked' | 'copied'> {
  if (mode !== 'copy') {
    try {
      await link(source, tmp);
      return 'linked';
    } catch (err) {
      const code = errorCode(err);
      if (mode === 'hardlink' || code === undefined || !LINK_FALLBACK_CODES.has(code)) throw err;
    }
  }
  // FICLONE: a reflink where the filesystem offers one (btrfs, xfs), a plain copy otherwise
  await copyFile(source, tmp, fsConstants.COPYFILE_FICLONE);
  return 'copied';
}
