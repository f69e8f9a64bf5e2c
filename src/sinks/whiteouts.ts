/**
 * Whiteouts (image-spec layer.md "Whiteouts", ecosystem.md §6.5): `.wh.NAME` deletes NAME from lower
 * layers; `DIR/.wh..wh..opq` hides every lower-layer child of DIR. Both affect lower layers only, and
 * the opaque marker applies regardless of where it sits in the tar. Like umoci (oci/layer/tar_extract.go
 * ociWhiteout), the layer being applied records every path it wrote plus their ancestors ("upper
 * paths"); removal walks the target and deletes whatever is not upper, so order within a layer does not
 * matter. Removal never follows a symlink: it lstat-s and unlinks the link itself. Synchronous
 * syscalls, for the reason given in path-safety.ts.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UnsafeArchiveError } from '../errors.js';
import { throwIfAborted } from '../context.js';
import { lstatOrUndefined } from './path-safety.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
/** AUFS bookkeeping names (`.wh..wh.plnk`, `.wh..wh.aufs`): not content, skipped as moby does. */
const AUFS_META_PREFIX = '.wh..wh.';

export type WhiteoutKind =
  | { readonly kind: 'none' }
  | { readonly kind: 'whiteout'; readonly name: string }
  | { readonly kind: 'opaque' }
  | { readonly kind: 'aufs-meta' };

/**
 * Classifies an entry's base name. Throws UnsafeArchiveError for `.wh.` alone (the spec says
 * implementations SHOULD error) and for `.wh..`/`.wh...`, which would name the directory or its parent.
 */
export function classifyWhiteout(base: string, entry: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(AUFS_META_PREFIX)) return { kind: 'aufs-meta' };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw new UnsafeArchiveError(`invalid whiteout entry "${entry}"`, { hint: 'a whiteout must name one file: .wh.<name>' });
  }
  return { kind: 'whiteout', name };
}

/** Paths (root-relative, "/"-joined) written by the layer being applied, and all their ancestors. */
export class UpperPaths {
  readonly #paths = new Set<string>();

  /** Records `rel` and every ancestor of it. */
  add(rel: string): void {
    let p = rel;
    while (p !== '' && !this.#paths.has(p)) {
      this.#paths.add(p);
      const i = p.lastIndexOf('/');
      p = i < 0 ? '' : p.slice(0, i);
    }
  }

  has(rel: string): boolean {
    return this.#paths.has(rel);
  }
}

/**
 * Removes the lower-layer content at `rel` (root-relative, already resolved so its parent is a real
 * directory inside root). With `keepSelf` (opaque), `rel` itself stays and only its lower children go.
 * Paths the current layer wrote survive; directories that hold some are descended into.
 */
export function removeLower(root: string, rel: string, upper: UpperPaths, options: { keepSelf: boolean; signal?: AbortSignal }): void {
  throwIfAborted(options.signal);
  const host = rel === '' ? root : join(root, rel);
  const st = lstatOrUndefined(host);
  if (st === undefined) return;
  if (!options.keepSelf && !upper.has(rel)) {
    rmSync(host, { recursive: true, force: true }); // rm lstat-s: a symlink is unlinked, never followed
    return;
  }
  if (!st.isDirectory()) return;
  for (const child of readdirSync(host)) {
    const childRel = rel === '' ? child : `${rel}/${child}`;
    removeLower(root, childRel, upper, { keepSelf: false, ...(options.signal ? { signal: options.signal } : {}) });
  }
}
