/**
 * Owners, modes, times and xattrs of unpacked entries, in umoci's order (oci/layer/tar_extract.go
 * restoreMetadata): lchown (root only; it clears setuid bits and security.capability, so it goes
 * first), chmod (never on a symlink), xattrs (queued here, set per layer by xattr.ts), then lutimes. Directory times are set when the layer is done, because writing a
 * child changes its parent's mtime. Every path here was produced by path-safety.ts and is not a symlink
 * unless the entry itself is one (then only l* calls touch it).
 */
import { chmodSync, lchownSync, lstatSync, lutimesSync } from 'node:fs';
import { lstatOrUndefined } from './path-safety.js';
import type { TarHeader } from './tar.js';
import { entryXattrs, type XattrBatch } from './xattr.js';

/** Permission bits a tar mode may carry: rwx for all, plus setuid, setgid and sticky. */
const MODE_BITS = 0o7777;
/** Owner rwx: without it a non-root process cannot write into or remove from a directory it unpacks. */
const OWNER_RWX = 0o700;

export type EntryKind = 'file' | 'directory' | 'symlink' | 'node';

export interface EntryTimes {
  readonly atime: Date;
  readonly mtime: Date;
}

/** Non-root only: directories unpacked with owner rwx added, to get their real mode back at the end. */
export type DeferredModes = Map<string, { readonly mode: number; readonly ino: number }>;

export interface MetadataContext {
  readonly isRoot: boolean;
  readonly deferredModes: DeferredModes;
  /** The layer's xattrs, set together when the layer is done (xattr.ts). */
  readonly xattrs: XattrBatch;
  /** Per-layer tallies of what could not be applied, reported as one warning each. */
  readonly skipped: { owners: number; devices: number };
}

/** Returns the entry's times: PAX records when present (sub-second), else the ustar mtime; atime defaults to mtime. */
export function entryTimes(header: TarHeader): EntryTimes {
  const paxTime = (key: string): Date | undefined => {
    const text = header.pax[key];
    const seconds = text === undefined ? NaN : Number(text);
    return Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined;
  };
  const mtime = paxTime('mtime') ?? header.mtime;
  return { atime: paxTime('atime') ?? mtime, mtime };
}

/**
 * Applies owner, mode and (except for directories) times of `header` to `path`, and queues its xattrs.
 * The syscalls are synchronous for the reason given in path-safety.ts.
 */
export function applyMetadata(path: string, header: TarHeader, kind: EntryKind, ctx: MetadataContext): void {
  if (ctx.isRoot) lchownSync(path, header.uid, header.gid);
  else if (header.uid !== 0 || header.gid !== 0) ctx.skipped.owners++;
  if (kind !== 'symlink') chmodSync(path, unpackMode(path, header.mode & MODE_BITS, kind, ctx));
  ctx.xattrs.add(path, entryXattrs(header)); // also drops what an earlier entry at this path queued
  if (kind !== 'directory') {
    const { atime, mtime } = entryTimes(header);
    lutimesSync(path, atime, mtime);
  }
}

function unpackMode(path: string, mode: number, kind: EntryKind, ctx: MetadataContext): number {
  if (ctx.isRoot || kind !== 'directory') return mode;
  if ((mode & OWNER_RWX) === OWNER_RWX) {
    ctx.deferredModes.delete(path);
    return mode;
  }
  ctx.deferredModes.set(path, { mode, ino: lstatSync(path).ino });
  return mode | OWNER_RWX;
}

/** Sets the deferred directory times of one layer; paths removed or replaced meanwhile are skipped. */
export function applyDirTimes(times: ReadonlyMap<string, EntryTimes>): void {
  for (const [path, t] of times) {
    const st = lstatOrUndefined(path);
    if (st?.isDirectory()) lutimesSync(path, t.atime, t.mtime);
  }
}

/** Gives back the real modes of directories unpacked with owner rwx added (non-root); call after the last layer. */
export function applyDeferredModes(modes: DeferredModes): void {
  // deepest first: a parent that loses owner search permission would lock us out of its children
  const ordered = [...modes].sort(([a], [b]) => b.length - a.length);
  for (const [path, { mode, ino }] of ordered) {
    const st = lstatOrUndefined(path);
    if (st?.isDirectory() && st.ino === ino) chmodSync(path, mode);
  }
  modes.clear();
}
