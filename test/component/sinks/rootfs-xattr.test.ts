import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LayerWarning } from '../../../src/sinks/apply-layer.js';
import { createXattrTool } from '../../../src/sinks/xattr.js';
import { buildImage, layerFromTar } from '../../helpers/image-builder.js';
import { T1, applyEntries, createPlayground, tarOf, writeOciLayout, type Playground, type RawEntry } from './rootfs-fixtures.js';

const run = promisify(execFile);
const hasTool = async (name: string) => run('which', [name]).then(() => true, () => false);
const HAS_ATTR = (await hasTool('setfattr')) && (await hasTool('getfattr'));
const HAS_UMOCI = await hasTool('umoci');
const IS_ROOT = process.getuid?.() === 0;

/** /tmp may be a tmpfs without user xattrs; the root filesystem (/var/tmp) usually has them. */
async function xattrCapableParent(): Promise<string> {
  for (const parent of [tmpdir(), '/var/tmp']) {
    const probe = await mkdtemp(join(parent, 'dray-xattr-probe-'));
    try {
      await writeFile(join(probe, 'f'), '');
      await run('setfattr', ['-n', 'user.probe', '-v', '1', join(probe, 'f')]);
      return parent;
    } catch {
      // try the next one
    } finally {
      await rm(probe, { recursive: true, force: true });
    }
  }
  return tmpdir();
}
const PARENT = HAS_ATTR ? await xattrCapableParent() : tmpdir();

/** security.capability v2 (cap_net_raw + cap_sys_nice permitted, effective): a binary struct with NULs and 0x80. */
const CAP = Buffer.from('0100000200208000000000000000000000000000', 'hex');
const ODD_NAME = 'we ird\\x=y\nü';

/** Every xattr of `path` itself (never a symlink's target), as NAME → hex, read by getfattr. */
async function xattrsOf(path: string): Promise<Record<string, string>> {
  const { stdout } = await run('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', path]);
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq < 0) continue;
    out[unquote(line.slice(0, eq))] = line.slice(eq + 3); // drop "=0x"
  }
  return out;
}

/** Undoes getfattr's octal escapes ("\\075" for "=") in names. */
const unquote = (text: string) => text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

const hexOf = (v: string | Buffer) => Buffer.from(v).toString('hex');

/** A layer exercising every kind of entry that can carry xattrs, all namespaces, binary values and a name that needs quoting. */
const LAYER: readonly RawEntry[] = [
  { name: 'bin/', type: 'directory', paxRaw: { 'SCHILY.xattr.user.dirnote': 'dir' } },
  { name: 'bin/ping', content: 'elf', mode: 0o755, uid: 7, gid: 7, paxRaw: { 'SCHILY.xattr.user.test': 'hello', 'SCHILY.xattr.security.capability': CAP, 'SCHILY.xattr.trusted.bin': Buffer.from([0, 0xff, 0x80, 0x0a]) } },
  { name: 'bin/link', type: 'symlink', linkname: 'ping', paxRaw: { 'SCHILY.xattr.trusted.linknote': 'on the link' } },
  // a PAX path (pack would write its own PAX header for a non-ASCII name, replacing ours)
  { name: 'odd', content: 'odd', paxRaw: { path: ODD_NAME, 'SCHILY.xattr.user.odd': 'x' } },
];

const EXPECTED: Record<string, Record<string, string>> = {
  bin: { 'user.dirnote': hexOf('dir') },
  'bin/ping': { 'security.capability': CAP.toString('hex'), 'trusted.bin': '00ff800a', 'user.test': hexOf('hello') },
  'bin/link': { 'trusted.linknote': hexOf('on the link') },
  [ODD_NAME]: { 'user.odd': hexOf('x') },
};

let pg: Playground;
beforeEach(async () => {
  pg = await createPlayground(PARENT);
});
afterEach(async () => {
  await pg.cleanup();
});

describe.skipIf(!HAS_ATTR)('applyLayer: extended attributes', () => {
  it.skipIf(!IS_ROOT)('as root sets every namespace with the exact bytes, on symlinks themselves, after chown, keeping mtimes', async () => {
    const warnings: LayerWarning[] = [];
    await applyEntries(pg.root, LAYER, { warnings });
    expect(warnings).toEqual([]);
    for (const [rel, expected] of Object.entries(EXPECTED)) expect([rel, await xattrsOf(join(pg.root, rel))]).toEqual([rel, expected]);
    const ping = await lstat(join(pg.root, 'bin/ping'));
    // lchown would have cleared security.capability had it come later; lutimes ran before setfattr, which keeps mtimes
    expect([ping.uid, ping.mtime.toISOString()]).toEqual([7, T1.toISOString()]);
    expect(await xattrsOf(join(pg.root, 'bin/ping'))).not.toHaveProperty('trusted.linknote');
  });

  it.skipIf(!IS_ROOT || !HAS_UMOCI)('gives the same xattrs as umoci unpack of the same layer', async () => {
    const image = buildImage({ layers: [layerFromTar(await tarOf(LAYER))] });
    const layout = join(pg.base, 'layout');
    await writeOciLayout(layout, image);
    await run('umoci', ['unpack', '--image', `${layout}:latest`, join(pg.base, 'bundle')]);
    await applyEntries(pg.root, LAYER);
    for (const rel of Object.keys(EXPECTED)) {
      const umoci = await xattrsOf(join(pg.base, 'bundle', 'rootfs', rel));
      expect([rel, umoci]).toEqual([rel, EXPECTED[rel]]); // umoci reads the layer as we do (so the comparison is not vacuous)
      expect([rel, await xattrsOf(join(pg.root, rel))]).toEqual([rel, umoci]);
    }
  });

  it('reads libarchive (bsdtar) records: URL-encoded name, base64 value', async () => {
    await applyEntries(pg.root, [{ name: 'f', content: 'f', paxRaw: { 'LIBARCHIVE.xattr.user.a%3Db': CAP.toString('base64') } }]);
    expect(await xattrsOf(join(pg.root, 'f'))).toEqual({ 'user.a=b': CAP.toString('hex') });
  });

  it('without root sets user.* only and warns once about the rest', async () => {
    const warnings: LayerWarning[] = [];
    await applyEntries(pg.root, LAYER.filter((e) => e.type !== 'symlink'), { isRoot: false, warnings });
    expect(await xattrsOf(join(pg.root, 'bin/ping'))).toEqual({ 'user.test': hexOf('hello') });
    expect(warnings.filter((w) => w.code.startsWith('rootfs.xattrs'))).toEqual([
      { code: 'rootfs.xattrs-skipped', message: expect.stringMatching(/^2 extended attributes outside user\.\* were not applied/) },
    ]);
  });

  it('applies only the last entry\'s xattrs when a layer writes a path twice, and none under a replaced directory', async () => {
    const warnings: LayerWarning[] = [];
    await applyEntries(pg.root, [
      { name: 'f', content: '1', paxRaw: { 'SCHILY.xattr.user.first': '1' } },
      { name: 'd/', type: 'directory' },
      { name: 'd/child', content: 'c', paxRaw: { 'SCHILY.xattr.user.child': '1' } },
      { name: 'f', content: '2', paxRaw: { 'SCHILY.xattr.user.second': '2' } },
      { name: 'd', content: 'now a file' },
    ], { warnings });
    expect(await xattrsOf(join(pg.root, 'f'))).toEqual({ 'user.second': hexOf('2') });
    expect(await xattrsOf(join(pg.root, 'd'))).toEqual({});
    expect(warnings).toEqual([]); // nothing was set on the vanished d/child
  });

  it('without setfattr, warns once per run naming the attr package, and unpacks everything else', async () => {
    const warnings: LayerWarning[] = [];
    const xattrTool = createXattrTool(join(pg.base, 'no-such-setfattr'));
    await applyEntries(pg.root, [{ name: 'a', content: 'a', paxRaw: { 'SCHILY.xattr.user.a': '1' } }], { warnings, xattrTool });
    await applyEntries(pg.root, [{ name: 'b', content: 'b', paxRaw: { 'SCHILY.xattr.user.b': '1' } }], { warnings, xattrTool });
    expect(warnings).toEqual([{ code: 'rootfs.xattrs-tool-missing', message: expect.stringMatching(/not found \(install the attr package\)/) }]);
    expect([await readFile(join(pg.root, 'a'), 'utf8'), await readFile(join(pg.root, 'b'), 'utf8')]).toEqual(['a', 'b']);
  });
});

describe.skipIf(!HAS_ATTR || !IS_ROOT)('applyLayer: a filesystem without xattrs', () => {
  it('warns once for the layer (ENOTSUP) and unpacks everything else', async (ctx) => {
    // ramfs has no xattr handlers at all: every setxattr fails with EOPNOTSUPP
    const mnt = join(pg.base, 'ramfs');
    await mkdir(mnt);
    const mounted = await run('mount', ['-t', 'ramfs', 'none', mnt]).then(() => true, () => false);
    if (!mounted) ctx.skip(); // no CAP_SYS_ADMIN here: no such filesystem to test against
    try {
      const warnings: LayerWarning[] = [];
      await applyEntries(mnt, LAYER, { warnings });
      expect(warnings).toEqual([{ code: 'rootfs.xattrs-refused', message: expect.stringMatching(/^extended attributes of \d+ entries were not applied: Operation not supported/) }]);
      expect(await readFile(join(mnt, 'bin/ping'), 'utf8')).toBe('elf');
      expect(await readFile(join(mnt, ODD_NAME), 'utf8')).toBe('odd');
    } finally {
      await run('umount', [mnt]);
    }
  });
});
