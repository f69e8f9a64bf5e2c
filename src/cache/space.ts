/**
 * Free-space checks for the cache filesystem (anchors-pullers.md: nobody pre-checks, moby#17168).
 * A check before a pull turns "disk full at 93% of a 2 GB layer" into an immediate, named error; the
 * ingest still maps ENOSPC/EDQUOT to DiskFullError for space that vanishes mid-pull.
 */
import { statfs } from 'node:fs/promises';
import { DiskFullError, toLocalIOError } from '../errors.js';

/** Returns the bytes available to this (unprivileged) user on the filesystem holding `path`. */
export async function freeSpace(path: string): Promise<number> {
  try {
    const s = await statfs(path);
    // bavail, not bfree: blocks reserved for root are not ours to fill.
    return s.bavail * s.bsize;
  } catch (err) {
    throw toLocalIOError(err, `reading free space of ${path}`);
  }
}

/** Throws DiskFullError naming needed vs available space when the filesystem holding `root` is short. */
export async function checkFreeSpace(root: string, bytesNeeded: number): Promise<void> {
  const available = await freeSpace(root);
  if (available >= bytesNeeded) return;
  throw new DiskFullError(`not enough space in ${root}: need ${formatBytes(bytesNeeded)}, ${formatBytes(available)} available`, {
    hint: 'free some space (dray cache prune) or point --cache at a larger filesystem',
  });
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Returns a byte count in binary units for messages: "1.5 GiB", "512 B". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}
