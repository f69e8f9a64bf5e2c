/**
 * A real Debian root filesystem for the rootfs comparison tests (issue 5): bookworm `--variant=minbase`
 * built by debootstrap, tarred with its real owners, modes, mtimes, hardlinks and device nodes. Built
 * once per machine and kept outside the repository, keyed by DEBIAN_FIXTURE_VERSION; later runs reuse
 * the tar, so the image (and its digests) stays the same between runs on one machine.
 *
 * Needs root (debootstrap chroots and makes device nodes), `debootstrap` (Debian package
 * "debootstrap") and a reachable mirror; when one is missing, the result says why instead of throwing,
 * so the test can skip with a reason.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Bump to rebuild the cached tar on every machine (a different suite, variant or tar recipe). */
export const DEBIAN_FIXTURE_VERSION = 'bookworm-minbase-v1';
/** Debian's CDN; the apt proxy of CI machines serves it. DRAY_DEBIAN_MIRROR overrides (a local mirror). */
export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** Outside the repo and surviving reboots of a dev machine (/tmp may be a tmpfs); DRAY_FIXTURES_DIR overrides. */
export const DEFAULT_FIXTURES_DIR = '/var/tmp/dray-fixtures';
/** debootstrap of minbase takes about 80 s on a good link; a slow mirror gets ten minutes. */
const DEBOOTSTRAP_TIMEOUT_MS = 600_000;

export type DebianFixture =
  | { readonly ok: true; readonly tarPath: string; readonly size: number; readonly built: boolean; readonly seconds: number }
  | { readonly ok: false; readonly reason: string };

/** Returns the cached Debian rootfs tar, building it first when absent. Never throws for a missing prerequisite. */
export async function debianRootfsTar(): Promise<DebianFixture> {
  const dir = process.env.DRAY_FIXTURES_DIR ?? DEFAULT_FIXTURES_DIR;
  const tarPath = join(dir, `debian-${DEBIAN_FIXTURE_VERSION}.tar`);
  const started = Date.now();
  const existing = await stat(tarPath).catch(() => undefined);
  if (existing?.isFile()) return { ok: true, tarPath, size: existing.size, built: false, seconds: 0 };

  if (process.getuid?.() !== 0) return { ok: false, reason: 'building the Debian fixture needs root (debootstrap chroots and makes device nodes)' };
  const debootstrap = await exec('which', ['debootstrap']).then(() => true, () => false);
  if (!debootstrap) return { ok: false, reason: 'debootstrap is not installed (Debian package "debootstrap")' };

  await mkdir(dir, { recursive: true });
  const root = join(dir, `build-${process.pid}-${Date.now()}`);
  const partial = `${tarPath}.partial-${process.pid}`;
  const mirror = process.env.DRAY_DEBIAN_MIRROR ?? DEFAULT_DEBIAN_MIRROR;
  try {
    try {
      await exec('debootstrap', ['--variant=minbase', 'bookworm', root, mirror], { timeout: DEBOOTSTRAP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      return { ok: false, reason: `debootstrap from ${mirror} failed: ${lastLines(err)}` };
    }
    // The downloaded .debs are not part of an image's filesystem (docker's debian images drop them too).
    await exec('find', [join(root, 'var/cache/apt/archives'), '-maxdepth', '1', '-name', '*.deb', '-delete']);
    // Real owners, modes, mtimes, hardlinks and devices; sorted names so the tar is stable for this tree.
    await exec('tar', ['--numeric-owner', '--xattrs', '--sort=name', '-C', root, '-cf', partial, '.']);
    await rename(partial, tarPath);
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
  const size = (await stat(tarPath)).size;
  return { ok: true, tarPath, size, built: true, seconds: (Date.now() - started) / 1000 };
}

function lastLines(err: unknown): string {
  const e = err as { stderr?: string; stdout?: string; message?: string };
  const text = `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim() || (e.message ?? String(err));
  return text.split('\n').slice(-5).join(' | ');
}
