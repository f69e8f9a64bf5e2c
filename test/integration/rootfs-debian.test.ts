// Issue 5, "done when": for a real Debian image (debootstrap'd bookworm minbase, plus a layer that
// deletes, replaces, relinks and re-modes files), `dray pull --format rootfs` and `umoci unpack` give
// identical trees: names, types, modes, owners, sizes, contents, link targets, device numbers,
// hardlink groups and mtimes. The image goes through Debian's real docker-registry; umoci reads an
// OCI layout made by skopeo (not by dray), so neither side's reader depends on the other's writer.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDray, tempDir } from '../helpers/cli.js';
import { debianRootfsTar } from '../helpers/debian-fixture.js';
import { buildImage, buildLayer, layerFromTar, type BuiltImage, type BuiltLayer } from '../helpers/image-builder.js';
import { pushImage } from '../helpers/push.js';
import { startRegistry, type RegistryServer } from '../helpers/registry-server.js';

const exec = promisify(execFile);
const IS_ROOT = process.getuid?.() === 0;
/** The fixture build (debootstrap) takes about 2 minutes the first time on a machine; later runs reuse it. */
const SETUP_TIMEOUT_MS = 900_000;
const PULL_TIMEOUT_MS = 300_000;

const fixture = IS_ROOT ? await debianRootfsTar() : ({ ok: false, reason: 'owners and device nodes need root' } as const);
if (!fixture.ok) console.warn(`[rootfs-debian] skipped: ${fixture.reason}`);
else console.info(`[rootfs-debian] fixture ${fixture.tarPath}: ${(fixture.size / 1e6).toFixed(1)} MB${fixture.built ? `, built in ${fixture.seconds.toFixed(0)} s` : ', cached'}`);

let registry: RegistryServer;
let work: { path: string; remove(): Promise<void> };
let image: BuiltImage;

/** Reads one file's bytes out of the fixture tar (to re-add it with another mode, same content). */
async function fromFixture(tarPath: string, name: string): Promise<Buffer> {
  const { stdout } = await exec('tar', ['-xOf', tarPath, `./${name}`], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Layer 2: every changeset rule of image-spec layer.md applied to real Debian paths. */
async function changesLayer(tarPath: string): Promise<BuiltLayer> {
  const debianVersion = await fromFixture(tarPath, 'etc/debian_version');
  return buildLayer([
    // a file and a directory deleted
    { type: 'whiteout', path: 'etc/motd' },
    { type: 'whiteout', path: 'usr/share/doc/debconf' },
    // a directory made opaque, with one new child
    { type: 'opaque', path: 'etc/apt/apt.conf.d' },
    { type: 'file', path: 'etc/apt/apt.conf.d/99dray', content: 'APT::Install-Recommends "false";\n' },
    // a file replaced by a symlink, a symlink (etc/os-release -> ../usr/lib/os-release) replaced by a file
    { type: 'symlink', path: 'etc/issue', target: 'issue.net' },
    { type: 'file', path: 'etc/os-release', content: 'ID=dray\n', mode: 0o644 },
    // a hardlink to a file of layer 1
    { type: 'hardlink', path: 'usr/bin/dray-true', target: 'usr/bin/true' },
    // a file's mode changed (same bytes)
    { type: 'file', path: 'etc/debian_version', content: debianVersion, mode: 0o600 },
    // owners and special bits, and a path through merged-usr's bin -> usr/bin symlink
    { type: 'file', path: 'opt/owned', content: 'x', mode: 0o4750, uid: 1000, gid: 1000 },
    { type: 'file', path: 'bin/dray-through-symlink', content: '#!/bin/sh\n', mode: 0o755 },
  ]);
}

beforeAll(async () => {
  work = await tempDir('dray-rootfs-debian-');
  registry = await startRegistry();
  if (!fixture.ok) return;
  const t0 = Date.now();
  // level 1: the 180 MB tar compresses in a few seconds; the test is about unpacking, not ratio
  const base = layerFromTar(await readFile(fixture.tarPath), { gzipLevel: 1 });
  image = buildImage({ layers: [base, await changesLayer(fixture.tarPath)] });
  await pushImage(registry.url, 'debian/changed', image, { tag: 'v1' });
  console.info(`[rootfs-debian] layer 1: ${(base.size / 1e6).toFixed(1)} MB gzip; built and pushed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await registry?.stop();
  await work?.remove();
});

describe.skipIf(!fixture.ok)('rootfs of a real Debian image', () => {
  let dray: TreeSnapshot;
  let umoci: TreeSnapshot;

  beforeAll(async () => {
    const ref = `${registry.host}/debian/changed:v1`;
    const out = join(work.path, 'dray-rootfs');
    const t0 = Date.now();
    const run = await runDray(['pull', ref, '--format', 'rootfs', '-o', out, '--cache', join(work.path, 'cache'), '--progress', 'none', '--platform', 'linux/amd64'], { timeoutMs: PULL_TIMEOUT_MS });
    expect(run.stderr).not.toMatch(/error\[/);
    expect(run.code).toBe(0);
    const drayMs = Date.now() - t0;

    const layout = join(work.path, 'skopeo-layout');
    await exec('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:v1`]);
    const bundle = join(work.path, 'umoci-bundle');
    const t1 = Date.now();
    await exec('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    const umociMs = Date.now() - t1;
    console.info(`[rootfs-debian] dray pull+unpack ${(drayMs / 1000).toFixed(1)} s, umoci unpack ${(umociMs / 1000).toFixed(1)} s`);

    [dray, umoci] = await Promise.all([snapshotTree(out), snapshotTree(join(bundle, 'rootfs'))]);
  }, PULL_TIMEOUT_MS);

  it('gives the same tree as umoci: names, types, modes, owners, sizes, contents, links, devices, mtimes (to the ms)', () => {
    expect(dray.entries.size).toBeGreaterThan(5000);
    expect(diffTrees(dray, umoci)).toEqual([]);
  });

  it('groups hardlinks as umoci does (Debian\'s own, and the new one across layers)', () => {
    expect(dray.hardlinkGroups).toEqual(umoci.hardlinkGroups);
    expect(dray.hardlinkGroups).toContainEqual(['usr/bin/dray-true', 'usr/bin/true']);
    expect(dray.hardlinkGroups).toContainEqual(['usr/bin/perl', 'usr/bin/perl5.36.0']);
  });

  it('applied every change of the top layer', () => {
    const e = (p: string) => dray.entries.get(p);
    expect(e('etc/motd')).toBeUndefined();
    expect(e('usr/share/doc/debconf')).toBeUndefined();
    expect([...dray.entries.keys()].filter((p) => p.startsWith('etc/apt/apt.conf.d/'))).toEqual(['etc/apt/apt.conf.d/99dray']);
    expect(e('etc/issue')).toMatchObject({ type: 'symlink', target: 'issue.net' });
    expect(e('etc/os-release')).toMatchObject({ type: 'file', size: 8 });
    expect(e('etc/debian_version')).toMatchObject({ type: 'file', mode: 0o600 });
    expect(e('opt/owned')).toMatchObject({ mode: 0o4750, uid: 1000, gid: 1000 });
    expect(e('usr/bin/dray-through-symlink')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(e('bin')).toMatchObject({ type: 'symlink', target: 'usr/bin' });
    expect(e('dev/null')).toMatchObject({ type: 'char', rdev: '1:3', mode: 0o666 });
  });
});

describe('hostile layers through the CLI and a real registry', () => {
  /** Pulls a one-layer image into a fresh rootfs and returns the run and the paths involved. */
  async function pullHostile(name: string, layer: BuiltLayer) {
    await pushImage(registry.url, `hostile/${name}`, buildImage({ layers: [layer] }), { tag: 'v1' });
    const out = join(work.path, `hostile-${name}`);
    const run = await runDray(['pull', `${registry.host}/hostile/${name}:v1`, '--format', 'rootfs', '-o', out, '--cache', join(work.path, 'hostile-cache'), '--progress', 'none', '--platform', 'linux/amd64']);
    return { run, out };
  }

  it('rejects a name climbing above the root with exit 6, writing nothing beside the target', async () => {
    const { run, out } = await pullHostile('climb', await buildLayer([{ type: 'file', path: '../../climbed-out', content: 'x' }]));
    expect(run.code).toBe(6);
    expect(run.stderr).toContain('climbed-out');
    expect(await readdir(work.path)).not.toContain('climbed-out');
    expect(existsSync(out)).toBe(false);
    expect((await readdir(work.path)).filter((n) => n.startsWith('hostile-climb'))).toEqual([]); // no partial left
  });

  it('writes a file through a symlink aimed at an outside directory inside the root instead', async () => {
    const sentinel = join(work.path, 'sentinel');
    await mkdir(sentinel);
    const { run, out } = await pullHostile('symlink', await buildLayer([
      { type: 'symlink', path: 'evil', target: sentinel },
      { type: 'file', path: 'evil/written', content: 'x' },
    ], { keepOrder: true }));
    expect(run.code).toBe(0);
    expect(await readdir(sentinel)).toEqual([]);
    expect(await readFile(join(out, sentinel, 'written'), 'utf8')).toBe('x');
  });
});

// ---- tree snapshots -------------------------------------------------------------------------------

interface Entry {
  readonly type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission and special bits (st_mode & 07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Nanoseconds since the epoch, exactly as stored. */
  readonly mtime: string;
  readonly size?: number;
  readonly sha256?: string;
  readonly target?: string;
  /** "major:minor" of a device node. */
  readonly rdev?: string;
  readonly nlink?: number;
}

interface TreeSnapshot {
  /** By path relative to the root ("." is the root itself). */
  readonly entries: Map<string, Entry>;
  /** Paths sharing an inode, each group sorted, the groups sorted. */
  readonly hardlinkGroups: string[][];
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function typeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isFIFO(): boolean }): Entry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return st.isFIFO() ? 'fifo' : 'socket';
}

/** Linux's dev_t encoding (glibc gnu_dev_major/minor). */
function formatRdev(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

async function snapshotTree(root: string): Promise<TreeSnapshot> {
  const entries = new Map<string, Entry>();
  const inodes = new Map<bigint, string[]>();
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = await lstat(abs, { bigint: true });
    const type = typeOf(st);
    const base = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: String(st.mtimeNs) };
    if (type === 'file') {
      entries.set(rel, { ...base, size: Number(st.size), sha256: await sha256Of(abs), nlink: Number(st.nlink) });
      if (st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
    } else if (type === 'symlink') entries.set(rel, { ...base, target: await readlink(abs) });
    else if (type === 'char' || type === 'block') entries.set(rel, { ...base, rdev: formatRdev(st.rdev) });
    else entries.set(rel, base);
    if (type !== 'dir') return;
    for (const name of (await readdir(abs)).sort()) await visit(rel === '.' ? name : `${rel}/${name}`);
  };
  await visit('.');
  const hardlinkGroups = [...inodes.values()].map((g) => g.sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  return { entries, hardlinkGroups };
}

/**
 * Whether two nanosecond mtimes agree to within a millisecond. The fixture tar is POSIX/pax (GNU tar
 * picks pax for --xattrs), so mtimes carry nanoseconds; umoci restores them exactly, while dray reads
 * them through tar-stream, whose header mtime is a Date (milliseconds), and sets them with lutimes,
 * which takes seconds as a double. Whole-second mtimes (every .deb member, every ustar/gnu tar, most
 * real images) still compare exactly; only the sub-millisecond digits of pax times are lost.
 */
function sameMillisecond(a: string, b: string): boolean {
  const d = BigInt(a) - BigInt(b);
  return (d < 0n ? -d : d) < 1_000_000n;
}

/** Every difference between two trees, one line each ("path: field dray=… umoci=…"). */
function diffTrees(dray: TreeSnapshot, umoci: TreeSnapshot): string[] {
  const out: string[] = [];
  const paths = [...new Set([...dray.entries.keys(), ...umoci.entries.keys()])].sort();
  for (const path of paths) {
    const a = dray.entries.get(path);
    const b = umoci.entries.get(path);
    if (!a || !b) {
      out.push(`${path}: only in ${a ? 'dray' : 'umoci'}`);
      continue;
    }
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Entry>) {
      if (key === 'mtime' && sameMillisecond(a.mtime, b.mtime)) continue;
      if (a[key] !== b[key]) out.push(`${path}: ${key} dray=${String(a[key])} umoci=${String(b[key])}`);
    }
  }
  return out;
}
