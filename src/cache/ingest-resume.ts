/**
 * Per-holder data files of an ingest directory (docs/cache-format.md, "Takeover"): claiming a partial
 * for a new holder, and renaming a holder's own file into blobs/. Each holder writes
 * its own data file, `data-<id>`, which no other process ever opens for writing:
 *
 * - A partial whose holder stopped cleanly (its ledger says `closed`: the file was closed before the
 *   ledger was written) has no writer left; the new holder adopts it by rename.
 * - Any other partial (holder killed, or frozen and taken over as stale) may still have a writer. The
 *   new holder COPIES it into its own new file (a new inode). A frozen holder then keeps writing into
 *   an inode nobody will rename, and its commit, which renames by its own path, finds nothing there.
 *
 * Both paths also repair a partial left read-only by a commit killed between its chmod and its rename:
 * the new holder's file is made writable (issue 4: such a partial failed every later resume, EACCES).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteRange, Descriptor } from '../oci/descriptor.js';
import { errorCode } from '../errors.js';
import { DATA_FILE_NAME, parseLedger, rangesExtent } from './ledger.js';

/** The ledger's name inside an ingest directory: one per blob, naming the data file it describes. */
export const LEDGER_FILE = 'ledger.json';

/** Returns a fresh data file name, unique to one holder: `data-<12 hex>`. */
export function newDataFileName(): string {
  return `data-${randomBytes(6).toString('hex')}`;
}

/**
 * Prepares `ownData` (a name no one else uses) in `dir` for the holder of `desc`'s lock: the previous
 * holder's partial, adopted or copied as above, when its ledger describes this blob and its file is
 * long enough. Returns the ranges already in `ownData` (none: start over). The caller then writes a
 * ledger naming its own file and calls removeOtherDataFiles. Never throws for a partial that cannot
 * be reused (vanished, unreadable, no room for the copy): the download starts over.
 */
export async function claimIngest(dir: string, desc: Descriptor, ownData: string): Promise<{ ranges: ByteRange[] }> {
  const previous = await readResumable(dir, desc);
  if (!previous) return { ranges: [] };
  const ownPath = join(dir, ownData);
  try {
    if (previous.closed) await rename(join(dir, previous.data), ownPath);
    // FICLONE: a reflink where the filesystem has one (btrfs, xfs, NFS 4.2 server-side copy), else a copy.
    else await copyFile(join(dir, previous.data), ownPath, constants.COPYFILE_FICLONE);
    // copyFile and rename keep the mode: a partial left read-only (0444) must become writable.
    await chmod(ownPath, 0o644);
    if ((await stat(ownPath)).size >= rangesExtent(previous.ranges)) return { ranges: previous.ranges };
  } catch {
    // Not reusable (vanished under us, unreadable, another user's, disk full): start over below.
  }
  await rm(ownPath, { force: true });
  return { ranges: [] };
}

interface Resumable {
  readonly data: string;
  readonly ranges: ByteRange[];
  readonly closed: boolean;
}

/** Reads the ledger and returns its ranges and data file when they can be resumed for `desc`. */
async function readResumable(dir: string, desc: Descriptor): Promise<Resumable | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, LEDGER_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const ledger = parseLedger(text);
  if (!ledger || ledger.digest !== desc.digest || ledger.size !== desc.size || ledger.ranges.length === 0) return undefined;
  const data = ledger.data ?? 'data';
  const length = await stat(join(dir, data)).then((s) => s.size, () => -1);
  // A data file shorter than the ledger claims was torn or replaced: trust neither, start over.
  if (length < rangesExtent(ledger.ranges)) return undefined;
  // Ledgers from before per-holder files (no `data`) were written by holders sharing one file: copy.
  return { data, ranges: [...ledger.ranges], closed: ledger.closed === true && ledger.data !== undefined };
}

/** Removes every data file but ours: earlier holders' partials (dead, or frozen and taken over). */
export async function removeOtherDataFiles(dir: string, ownData: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name !== ownData && DATA_FILE_NAME.test(name)) await rm(join(dir, name), { force: true });
  }
}

/** Returns whether `path` exists. */
export const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/**
 * Renames our data file into blobs/. Returns false when the file is gone: a process that took the
 * blob over removed it after copying it (claimIngest), and renaming by path therefore can never
 * move another holder's bytes into blobs/.
 */
export async function renameIfOurs(data: string, target: string): Promise<boolean> {
  try {
    await rename(data, target);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}
