/**
 * Applies one uncompressed layer tar onto a root filesystem directory (image-spec layer.md "Applying
 * Changesets", ecosystem.md §6.5–6.6): whiteouts against lower layers, dir-over-dir keeps the directory
 * and takes the new attributes, anything else unlinks and recreates (so a later write to a hardlinked
 * path never changes its other links), hardlinks may point at lower-layer files, and directory times are
 * set after the layer's files. Path rules (clamp vs reject) are in path-safety.ts. Every entry body is
 * consumed or drained, so the layer stream always reaches EOF and its decoder checks its trailer.
 */
import { closeSync, constants, linkSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError, IntegrityError, PullError, UnsafeArchiveError, toLocalIOError } from '../errors.js';
import { throwIfAborted } from '../context.js';
import { readTar, type TarHeader } from './tar.js';
import { hostPath, lstatOrUndefined, resolveDirInRoot, splitEntryPath, type ResolveCache } from './path-safety.js';
import { UpperPaths, classifyWhiteout, removeLower } from './whiteouts.js';
import { applyDirTimes, applyMetadata, entryTimes, type DeferredModes, type EntryTimes, type MetadataContext } from './rootfs-metadata.js';
import { XattrBatch, createXattrTool, type XattrOutcome, type XattrTool } from './xattr.js';

const run = promisify(execFile);

/** Creates files without following a symlink and without reusing anything already there. */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Files up to this size are buffered and written with synchronous calls (most files in an image are
 * small; see path-safety.ts on the cost of async syscalls); larger ones stream to disk.
 */
const SMALL_FILE_BYTES = 1024 * 1024;

export interface LayerWarning {
  readonly code: string;
  readonly message: string;
}

export interface ApplyLayerOptions {
  /** Owners and device nodes are applied only as root (umoci, tar --same-owner); otherwise skipped with a warning. */
  readonly isRoot: boolean;
  readonly signal: AbortSignal;
  readonly onWarning?: (warning: LayerWarning) => void;
  /**
   * How xattrs are set (setfattr; Node has no xattr API). Share one across the layers of a run so a
   * missing tool is reported once; by default each call gets its own.
   */
  readonly xattrTool?: XattrTool;
  /** Shared across the layers of one rootfs when not root; give it to applyDeferredModes after the last layer. */
  readonly deferredModes?: DeferredModes;
}

export interface ApplyLayerResult {
  /** Tar entries read, whiteouts included. */
  readonly entries: number;
}

interface LayerState {
  readonly root: string;
  readonly options: ApplyLayerOptions;
  readonly upper: UpperPaths;
  /** Directory → times to set when the layer is done: the entry's own, or what it had before we wrote into it. */
  readonly dirTimes: Map<string, EntryTimes>;
  readonly meta: MetadataContext;
  /** Parent resolutions of this layer; cleared on every removal. */
  readonly dirs: ResolveCache;
}

/**
 * Applies the layer tar read from `tar` onto `root`. Throws UnsafeArchiveError (exit 6) naming the entry
 * for unsafe or malformed content, LocalIOError for filesystem failures, AbortedError when `signal` fires.
 */
export async function applyLayer(root: string, tar: Readable, options: ApplyLayerOptions): Promise<ApplyLayerResult> {
  const state: LayerState = {
    root: resolve(root),
    options,
    upper: new UpperPaths(),
    dirTimes: new Map(),
    dirs: new Map(),
    meta: { isRoot: options.isRoot, deferredModes: options.deferredModes ?? new Map(), xattrs: new XattrBatch(options.isRoot), skipped: { owners: 0, devices: 0 } },
  };
  const tool = options.xattrTool ?? createXattrTool();
  let xattrs: XattrOutcome | undefined;
  let entries = 0;
  let current = '';
  try {
    for await (const { header, body } of readTar(tar)) {
      throwIfAborted(options.signal);
      current = header.name;
      entries++;
      await applyEntry(state, header, body);
    }
    current = '';
    // after every entry's chown/chmod (chown clears security.capability); xattrs leave mtimes alone
    xattrs = await state.meta.xattrs.flush(tool, options.signal);
    applyDirTimes(state.dirTimes);
  } catch (err) {
    throw classifyError(err, current, options.signal);
  }
  reportSkipped(state, xattrs, tool);
  return { entries };
}

async function applyEntry(state: LayerState, header: TarHeader, body: Readable): Promise<void> {
  const { root, options } = state;
  const comps = splitEntryPath(header.name);
  if (comps.length === 0) return applyRootEntry(state, header);
  const base = comps[comps.length - 1]!;
  const whiteout = classifyWhiteout(base, header.name);
  if (whiteout.kind === 'aufs-meta') return;
  const parentComps = comps.slice(0, -1);
  const parent = resolveDirInRoot(root, parentComps, {
    signal: options.signal,
    create: whiteout.kind === 'none',
    entry: header.name,
    cache: state.dirs,
  });
  if (parent === undefined) return; // a whiteout under a path that does not exist: nothing to hide
  rememberDirTimes(state, parent);
  const parentRel = parent.join('/');
  if (whiteout.kind !== 'none') {
    state.dirs.clear();
    const rel = whiteout.kind === 'opaque' ? parentRel : parentRel === '' ? whiteout.name : `${parentRel}/${whiteout.name}`;
    return removeLower(root, rel, state.upper, { keepSelf: whiteout.kind === 'opaque', signal: options.signal });
  }
  const rel = [...parent, base];
  await createEntry(state, header, body, rel);
  state.upper.add(rel.join('/'));
  if (header.type === 'directory') state.dirs.set(comps.join('/'), rel);
}

async function createEntry(state: LayerState, header: TarHeader, body: Readable, rel: string[]): Promise<void> {
  const path = hostPath(state.root, rel);
  const linkTarget = header.type === 'link' ? resolveHardlinkTarget(state, header) : undefined;
  if (linkTarget === path) return; // a hardlink to itself: already there
  const existing = lstatOrUndefined(path);
  if (existing && !(existing.isDirectory() && header.type === 'directory')) {
    rmSync(path, { recursive: true, force: true }); // unlinks a symlink itself, never what it points to
    state.dirs.clear();
    state.meta.xattrs.forget(path);
  }
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      await writeFile(path, header, body, state.options.signal);
      return applyMetadata(path, header, 'file', state.meta);
    case 'directory':
      if (!existing?.isDirectory()) mkdirSync(path, { mode: 0o700 });
      applyMetadata(path, header, 'directory', state.meta);
      state.dirTimes.set(path, entryTimes(header));
      return;
    case 'symlink':
      // stored verbatim, as every runtime does: it is only ever followed chroot-style (path-safety.ts)
      symlinkSync(header.linkname ?? '', path);
      return applyMetadata(path, header, 'symlink', state.meta);
    case 'link':
      // link(2) does not follow a symlink target: a hardlink to a symlink links the symlink (containerd)
      linkSync(linkTarget!, path);
      return; // a hardlink shares its target's inode and metadata (umoci, containerd)
    case 'character-device':
    case 'block-device':
    case 'fifo':
      if (await makeNode(state, header, path)) applyMetadata(path, header, 'node', state.meta);
      return;
    default:
      state.options.onWarning?.({ code: 'rootfs.entry-skipped', message: `skipped layer entry "${header.name}" of unsupported type ${String(header.type)}` });
  }
}

/** Writes a regular file's body to a path that does not exist (O_EXCL|O_NOFOLLOW: never through a symlink). */
async function writeFile(path: string, header: TarHeader, body: Readable, signal: AbortSignal): Promise<void> {
  if (header.size > SMALL_FILE_BYTES) {
    const handle = await open(path, CREATE_FLAGS, 0o600);
    await pipeline(body, handle.createWriteStream(), { signal });
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const fd = openSync(path, CREATE_FLAGS, 0o600);
  try {
    for (const chunk of chunks) for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
  } finally {
    closeSync(fd);
  }
}

/** Resolves a hardlink's target inside the root: it must exist there and not be a directory. */
function resolveHardlinkTarget(state: LayerState, header: TarHeader): string {
  const linkname = header.linkname ?? '';
  const comps = splitEntryPath(linkname, header.name);
  const fail = (why: string) =>
    new UnsafeArchiveError(`unsafe layer entry "${header.name}": hardlink target "${linkname}" ${why}`, {
      hint: 'hardlink targets resolve inside the image root; the image is malformed or hostile',
    });
  if (comps.length === 0) throw fail('is the root directory');
  const parent = resolveDirInRoot(state.root, comps.slice(0, -1), { signal: state.options.signal, entry: header.name, cache: state.dirs });
  const target = parent === undefined ? undefined : hostPath(state.root, [...parent, comps[comps.length - 1]!]);
  const st = target === undefined ? undefined : lstatOrUndefined(target);
  if (target === undefined || st === undefined) throw fail('does not exist in the image');
  if (st.isDirectory()) throw fail('is a directory');
  return target;
}

/** Creates a device node or FIFO (via mknod(1)/mkfifo(1): Node has no mknod). Returns false when skipped. */
async function makeNode(state: LayerState, header: TarHeader, path: string): Promise<boolean> {
  const mode = (header.mode & 0o7777).toString(8);
  const { signal } = state.options;
  if (header.type === 'fifo') {
    await run('mkfifo', ['-m', mode, path], { signal }).catch((err: unknown) => {
      throw signal.aborted ? err : toLocalIOError(err, `creating FIFO "${header.name}"`);
    });
    return true;
  }
  if (!state.options.isRoot) {
    state.meta.skipped.devices++;
    return false;
  }
  const kind = header.type === 'block-device' ? 'b' : 'c';
  try {
    await run('mknod', ['-m', mode, path, kind, String(header.devmajor), String(header.devminor)], { signal });
    return true;
  } catch (err) {
    // root inside an unprivileged container may lack CAP_MKNOD: the rest of the image is still useful
    if (signal.aborted) throw err;
    state.meta.skipped.devices++;
    return false;
  }
}

/** The root itself: a directory entry sets its attributes; any other type would replace it (CVE-2021-29136). */
async function applyRootEntry(state: LayerState, header: TarHeader): Promise<void> {
  if (header.type !== 'directory') {
    throw new UnsafeArchiveError(`unsafe layer entry "${header.name}": it would replace the root directory with a ${header.type}`);
  }
  applyMetadata(state.root, header, 'directory', state.meta);
  state.dirTimes.set(state.root, entryTimes(header));
}

/** Before a directory changes, remember its times (unless the layer sets them) to restore at the end, as umoci does. */
function rememberDirTimes(state: LayerState, dirRel: readonly string[]): void {
  const path = hostPath(state.root, dirRel);
  if (state.dirTimes.has(path)) return;
  const st = lstatOrUndefined(path);
  if (st) state.dirTimes.set(path, { atime: st.atime, mtime: st.mtime });
}

/** Filesystem failures (they carry a syscall) are local I/O; a stream that is not a valid tar is bad content. */
function classifyError(err: unknown, entry: string, signal: AbortSignal): unknown {
  if (err instanceof PullError) return err;
  if (signal.aborted) return new AbortedError('interrupted', { cause: err });
  const where = entry ? `unpacking layer entry "${entry}"` : 'unpacking layer';
  if ((err as { syscall?: unknown } | null)?.syscall !== undefined) return toLocalIOError(err, where);
  const detail = err instanceof Error ? err.message : String(err);
  return new IntegrityError(`layer is not a valid tar stream (${where}): ${detail}`, { cause: err });
}

function reportSkipped(state: LayerState, xattrs: XattrOutcome | undefined, tool: XattrTool): void {
  const { owners, devices } = state.meta.skipped;
  const warn = state.options.onWarning;
  if (!warn) return;
  if (owners > 0) warn({ code: 'rootfs.owners-skipped', message: `${owners} entries keep the current user as owner (owners are applied only when running as root)` });
  if (devices > 0) warn({ code: 'rootfs.devices-skipped', message: `${devices} device nodes were not created (needs root with CAP_MKNOD)` });
  if (!xattrs) return;
  if (xattrs.privileged > 0) {
    warn({ code: 'rootfs.xattrs-skipped', message: `${xattrs.privileged} extended attributes outside user.* were not applied (trusted.* and security.* need root)` });
  }
  if (xattrs.refused > 0) {
    const reason = xattrs.reason ?? 'setfattr failed';
    const why = /not supported/i.test(reason) ? ' (the filesystem does not support them)' : '';
    warn({ code: 'rootfs.xattrs-refused', message: `extended attributes of ${xattrs.refused} entries were not applied: ${reason}${why}` });
  }
  if (xattrs.missingTool > 0 && !tool.warned) {
    tool.warned = true;
    warn({ code: 'rootfs.xattrs-tool-missing', message: `extended attributes were not applied: "${tool.command}" was not found (install the attr package)` });
  }
}
