/**
 * Extended attributes of unpacked entries (issue 5: "xattrs where the filesystem allows"). Node has no
 * xattr API, so they are set by `setfattr` from the attr package, once per layer: the layer's xattrs
 * are collected as entries are unpacked and handed to `setfattr -h --restore=-` in getfattr's dump
 * format. `-h` sets a symlink's own attributes, never its target's. Setting an xattr changes only the
 * ctime, so running after the layer's chown/chmod/utimes is the same as umoci's per-entry order
 * (lchown, chmod, xattrs, lutimes; lchown clears security.capability, so xattrs must come after it).
 */
import { spawn } from 'node:child_process';
import { errorCode } from '../errors.js';
import type { TarHeader } from './tar.js';

/** The attr package's tool (Debian/Ubuntu `attr`, Fedora `attr`); found on PATH. */
export const DEFAULT_SETFATTR = 'setfattr';

/** GNU tar and star write xattrs as "SCHILY.xattr.NAME" with the raw value (moby, containerd, umoci read these). */
const SCHILY_PREFIX = 'SCHILY.xattr.';
/** libarchive (bsdtar) writes "LIBARCHIVE.xattr.URL-ENCODED-NAME" with a base64 value, next to a SCHILY copy. */
const LIBARCHIVE_PREFIX = 'LIBARCHIVE.xattr.';
/** Host-specific labels that umoci never restores (oci/layer/tar_extract.go ignoreXattrs): the host's policy decides them. */
const IGNORED = new Set(['security.selinux']);

export interface Xattr {
  readonly name: string;
  readonly value: Uint8Array;
}

/** The entry's xattrs from its raw PAX records; a SCHILY record wins over a libarchive one for the same name. */
export function entryXattrs(header: TarHeader): Xattr[] {
  const found = new Map<string, Uint8Array>();
  for (const [key, value] of header.paxRaw) {
    if (!key.startsWith(LIBARCHIVE_PREFIX)) continue;
    const name = safeDecodeURIComponent(key.slice(LIBARCHIVE_PREFIX.length));
    if (name) found.set(name, Buffer.from(Buffer.from(value).toString('latin1'), 'base64'));
  }
  for (const [key, value] of header.paxRaw) {
    if (key.startsWith(SCHILY_PREFIX) && key.length > SCHILY_PREFIX.length) found.set(key.slice(SCHILY_PREFIX.length), value);
  }
  return [...found].filter(([name]) => !IGNORED.has(name)).map(([name, value]) => ({ name, value }));
}

function safeDecodeURIComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Quotes a path or name for getfattr's dump format as setfattr's unquote() reads it back: every byte
 * outside printable ASCII, plus backslash and "=", becomes a three-digit octal escape ("\012").
 */
export function quoteDump(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The getfattr --dump text for `batch`: "# file: PATH", one "NAME=0xHEX" line per xattr, a blank line. */
export function formatDump(batch: ReadonlyMap<string, readonly Xattr[]>): string {
  let out = '';
  for (const [path, xattrs] of batch) {
    out += `# file: ${quoteDump(path)}\n`;
    for (const x of xattrs) out += `${quoteDump(x.name)}=0x${Buffer.from(x.value).toString('hex')}\n`;
    out += '\n';
  }
  return out;
}

/** Shared by the layers of one run, so a missing tool is reported once, not once per layer. */
export interface XattrTool {
  readonly command: string;
  /** Set once the tool was found missing; later layers skip their xattrs without another warning. */
  missing: boolean;
  /** Whether the missing-tool warning was given. */
  warned: boolean;
}

export function createXattrTool(command: string = DEFAULT_SETFATTR): XattrTool {
  return { command, missing: false, warned: false };
}

/** What one layer's xattrs came to, for its warnings. */
export interface XattrOutcome {
  /** Xattrs outside user.* dropped because only root may set them (trusted.*, security.*). */
  readonly privileged: number;
  /** Paths whose xattrs setfattr could not set, and its first complaint (e.g. "Operation not supported"). */
  readonly refused: number;
  readonly reason: string | undefined;
  /** Xattrs not applied because the tool is missing (warn when `tool.warned` was false before). */
  readonly missingTool: number;
}

/** Collects one layer's xattrs in entry order; a later entry at the same path replaces the earlier one's. */
export class XattrBatch {
  private readonly pending = new Map<string, Xattr[]>();
  private privileged = 0;

  constructor(private readonly isRoot: boolean) {}

  /** Queues the xattrs of the entry just created at `path`; without root only the user namespace is kept. */
  add(path: string, xattrs: readonly Xattr[]): void {
    this.pending.delete(path);
    const kept = this.isRoot ? [...xattrs] : xattrs.filter((x) => x.name.startsWith('user.'));
    this.privileged += xattrs.length - kept.length;
    if (kept.length > 0) this.pending.set(path, kept);
  }

  /** Drops what was queued for `path` and everything under it (the entry was removed or replaced). */
  forget(path: string): void {
    if (this.pending.size === 0) return;
    const under = `${path}/`;
    for (const key of this.pending.keys()) if (key === path || key.startsWith(under)) this.pending.delete(key);
  }

  /** Sets every queued xattr with one `setfattr -h --restore=-`; failures become the outcome's counts, never errors. */
  async flush(tool: XattrTool, signal: AbortSignal): Promise<XattrOutcome> {
    const batch = new Map(this.pending);
    this.pending.clear();
    const total = [...batch.values()].reduce((n, xs) => n + xs.length, 0);
    const base = { privileged: this.privileged, refused: 0, reason: undefined, missingTool: 0 };
    if (total === 0) return base;
    if (tool.missing) return { ...base, missingTool: total };
    const result = await runRestore(tool.command, formatDump(batch), signal);
    if (result.missing) {
      tool.missing = true;
      return { ...base, missingTool: total };
    }
    return { ...base, refused: result.failedPaths, reason: result.reason };
  }
}

interface RestoreResult {
  readonly missing: boolean;
  readonly failedPaths: number;
  readonly reason: string | undefined;
}

/** Runs setfattr, no shell; it carries on past a path it cannot set and prints "setfattr: PATH: REASON" for it. */
function runRestore(command: string, dump: string, signal: AbortSignal): Promise<RestoreResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-h', '--restore=-'], { stdio: ['pipe', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => void (stderr += text));
    child.stdin.on('error', () => {}); // EPIPE if it exits early; the exit status tells the story
    child.on('error', (err) => {
      if (errorCode(err) === 'ENOENT') resolve({ missing: true, failedPaths: 0, reason: undefined });
      else reject(err);
    });
    child.on('close', (code) => {
      if (code === 0) return resolve({ missing: false, failedPaths: 0, reason: undefined });
      const lines = stderr.split('\n').filter((l) => l.trim() !== '');
      const reason = lines[0]?.replace(/^setfattr: .*: /, '') ?? `exit status ${String(code)}`;
      resolve({ missing: false, failedPaths: Math.max(1, lines.length), reason });
    });
    child.stdin.end(dump);
  });
}
