import { lstat, readFile, stat, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, UnsafeArchiveError } from '../../../src/errors.js';
import { applyLayer, type LayerWarning } from '../../../src/sinks/apply-layer.js';
import { applyDeferredModes, type DeferredModes } from '../../../src/sinks/rootfs-metadata.js';
import { T1, T2, applyEntries, usePlaygroundPerTest, snapshot, tarOf, type Playground } from './rootfs-fixtures.js';

let pg: Playground;
usePlaygroundPerTest((created) => (pg = created));

const T1S = T1.toISOString();
const T2S = T2.toISOString();

describe('applyLayer: entries', () => {
  it('writes files, directories, symlinks and hardlinks with their modes, owners and mtimes', async () => {
    await applyEntries(pg.root, [
      { name: './', type: 'directory', mode: 0o755 },
      { name: 'etc/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
      { name: 'etc/hosts', content: 'h\n', mode: 0o640, uid: 7, gid: 8 },
      { name: 'bin/', type: 'directory', mode: 0o755, mtime: T2 },
      { name: 'bin/sh', content: 'elf', mode: 0o4755 },
      { name: 'bin/ash', type: 'link', linkname: 'bin/sh' },
      { name: 'bin/sh-link', type: 'symlink', linkname: '/bin/sh', mtime: T2 },
    ]);
    expect(await snapshot(pg.root)).toEqual([
      `. dir 0755 0:0 ${T1S}`,
      `bin dir 0755 0:0 ${T2S}`,
      `bin/ash file 4755 0:0 ${T1S} "elf" nlink=2`,
      `bin/sh file 4755 0:0 ${T1S} "elf" nlink=2`,
      `bin/sh-link symlink - 0:0 -> /bin/sh`,
      `etc dir 0750 7:8 ${T1S}`,
      `etc/hosts file 0640 7:8 ${T1S} "h\\n"`,
    ]);
    expect((await lstat(join(pg.root, 'bin/sh-link'))).mtime.toISOString()).toBe(T2S);
  });

  it('creates missing parent directories 0755 when the layer does not list them', async () => {
    await applyEntries(pg.root, [{ name: 'a/b/c', content: 'x' }]);
    expect((await snapshot(pg.root, { times: false })).slice(1)).toEqual(['a dir 0755 0:0', 'a/b dir 0755 0:0', 'a/b/c file 0644 0:0 "x"']);
  });

  it('sets a directory mtime after its children are written (tar order: dir first)', async () => {
    await applyEntries(pg.root, [
      { name: 'd/', type: 'directory', mtime: T2 },
      { name: 'd/f', content: '1' },
      { name: 'd/g/', type: 'directory' },
    ]);
    expect((await stat(join(pg.root, 'd'))).mtime.toISOString()).toBe(T2S);
  });

  it('keeps an existing directory when a later layer lists it again, taking the new mode and mtime', async () => {
    await applyEntries(pg.root, [{ name: 'd/', type: 'directory', mode: 0o700 }, { name: 'd/lower', content: 'l' }]);
    await applyEntries(pg.root, [{ name: 'd/', type: 'directory', mode: 0o711, mtime: T2 }]);
    expect((await snapshot(pg.root)).slice(1)).toEqual([`d dir 0711 0:0 ${T2S}`, `d/lower file 0644 0:0 ${T1S} "l"`]);
  });

  it('restores the mtime of a lower directory a layer writes into without listing it (as umoci does)', async () => {
    await applyEntries(pg.root, [{ name: 'usr/', type: 'directory', mtime: T2 }]);
    await applyEntries(pg.root, [{ name: 'usr/new', content: 'n' }, { name: 'usr/.wh.gone' }]);
    expect((await stat(join(pg.root, 'usr'))).mtime.toISOString()).toBe(T2S);
  });

  it('replaces a file by a directory and a directory (with its subtree) by a file', async () => {
    await applyEntries(pg.root, [{ name: 'f', content: 'file' }, { name: 'd/', type: 'directory' }, { name: 'd/x', content: 'x' }]);
    await applyEntries(pg.root, [{ name: 'f/', type: 'directory', mode: 0o700 }, { name: 'd', content: 'now a file' }]);
    expect((await snapshot(pg.root, { times: false })).slice(1)).toEqual(['d file 0644 0:0 "now a file"', 'f dir 0700 0:0']);
  });

  it('replaces a lower symlink by a file instead of writing through it', async () => {
    await writeFile(join(pg.root, 'target'), 'lower target');
    await applyEntries(pg.root, [{ name: 'link', type: 'symlink', linkname: 'target' }]);
    await applyEntries(pg.root, [{ name: 'link', content: 'new file' }]);
    expect(await readFile(join(pg.root, 'target'), 'utf8')).toBe('lower target');
    expect((await lstat(join(pg.root, 'link'))).isFile()).toBe(true);
    expect(await readFile(join(pg.root, 'link'), 'utf8')).toBe('new file');
  });

  it('unlinks before recreating, so rewriting one name of a hardlink pair leaves the other alone', async () => {
    await applyEntries(pg.root, [{ name: 'a', content: 'old' }, { name: 'b', type: 'link', linkname: 'a' }]);
    await applyEntries(pg.root, [{ name: 'a', content: 'new' }]);
    expect(await readFile(join(pg.root, 'b'), 'utf8')).toBe('old');
    expect(await readFile(join(pg.root, 'a'), 'utf8')).toBe('new');
  });

  it('links a hardlink to a file from a lower layer (same inode), absolute target read inside the root', async () => {
    await applyEntries(pg.root, [{ name: 'usr/bin/python3.12', content: 'py', mode: 0o755 }]);
    await applyEntries(pg.root, [{ name: 'usr/bin/python3', type: 'link', linkname: '/usr/bin/python3.12' }]);
    const [a, b] = await Promise.all([lstat(join(pg.root, 'usr/bin/python3')), lstat(join(pg.root, 'usr/bin/python3.12'))]);
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
  });

  it('links a hardlink to a symlink as the symlink itself', async () => {
    await applyEntries(pg.root, [{ name: 's', type: 'symlink', linkname: '/nowhere' }, { name: 'h', type: 'link', linkname: 's' }]);
    expect(await (await import('node:fs/promises')).readlink(join(pg.root, 'h'))).toBe('/nowhere');
  });

  it('creates FIFOs and, as root, device nodes with their numbers', async () => {
    await applyEntries(pg.root, [
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 },
      { name: 'run/pipe', type: 'fifo', mode: 0o600 },
    ]);
    expect((await snapshot(pg.root, { times: false })).filter((l) => !l.includes(' dir '))).toEqual([
      'dev/loop0 blockdev 0660 0:0 7:0',
      'dev/null chardev 0666 0:0 1:3',
      'run/pipe fifo 0600 0:0',
    ]);
  });

  it('without root: skips owners and device nodes with one warning each, still makes FIFOs', async () => {
    const warnings: LayerWarning[] = [];
    await applyEntries(pg.root, [
      { name: 'home/u/f', content: 'x', uid: 1000, gid: 1000 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'dev/zero', type: 'character-device', devmajor: 1, devminor: 5 },
      { name: 'p', type: 'fifo' },
    ], { isRoot: false, warnings });
    expect(warnings.map((w) => w.code).sort()).toEqual(['rootfs.devices-skipped', 'rootfs.owners-skipped']);
    expect(warnings.find((w) => w.code === 'rootfs.devices-skipped')?.message).toMatch(/^2 device/);
    await expect(lstat(join(pg.root, 'dev/null'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await lstat(join(pg.root, 'p'))).isFIFO()).toBe(true);
  });

  it('without root: unpacks into a read-only directory and restores its mode at the end', async () => {
    const deferredModes: DeferredModes = new Map();
    await applyEntries(pg.root, [{ name: 'ro/', type: 'directory', mode: 0o555 }, { name: 'ro/inner/', type: 'directory', mode: 0o500 }, { name: 'ro/inner/f', content: 'x' }], { isRoot: false, deferredModes });
    expect((await stat(join(pg.root, 'ro'))).mode & 0o777).toBe(0o755);
    await applyEntries(pg.root, [{ name: 'ro/added', content: 'y' }], { isRoot: false, deferredModes });
    await applyDeferredModes(deferredModes);
    expect((await snapshot(pg.root, { times: false })).slice(1)).toEqual(['ro dir 0555 0:0', 'ro/added file 0644 0:0 "y"', 'ro/inner dir 0500 0:0', 'ro/inner/f file 0644 0:0 "x"']);
  });

  it('applies a "./" directory entry to the root itself', async () => {
    await applyEntries(pg.root, [{ name: './', type: 'directory', mode: 0o700, mtime: T2 }]);
    const st = await stat(pg.root);
    expect([st.mode & 0o777, st.mtime.toISOString()]).toEqual([0o700, T2S]);
  });

  it('turns a stream that is not a tar into IntegrityError', async () => {
    const junk = Buffer.alloc(1024, 0x41);
    await expect(applyLayer(pg.root, Readable.from([junk]), { isRoot: true, signal: new AbortController().signal })).rejects.toBeInstanceOf(IntegrityError);
  });

  it('stops with AbortedError when the signal fires', async () => {
    const ac = new AbortController();
    ac.abort();
    const tar = await tarOf([{ name: 'a', content: 'x' }]);
    await expect(applyLayer(pg.root, Readable.from([tar]), { isRoot: true, signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED', exitCode: 130 });
  });
});

describe('applyLayer: whiteouts', () => {
  beforeEach(async () => {
    await applyEntries(pg.root, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/keep', content: 'k' },
      { name: 'etc/gone', content: 'g' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/a', content: 'a' },
      { name: 'var/cache/sub/', type: 'directory' },
      { name: 'var/cache/sub/old', content: 'o' },
      { name: 'opt/tool/bin', content: 'b' },
    ]);
  });
  const names = async () => (await snapshot(pg.root, { times: false })).map((l) => l.split(' ')[0]);

  it('.wh.NAME removes a lower-layer file and never appears itself', async () => {
    await applyEntries(pg.root, [{ name: 'etc/.wh.gone' }]);
    expect(await names()).not.toContain('etc/gone');
    expect(await names()).toContain('etc/keep');
    expect((await names()).some((n) => n!.includes('.wh.'))).toBe(false);
  });

  it('.wh.NAME removes a lower-layer directory with its whole subtree', async () => {
    await applyEntries(pg.root, [{ name: 'opt/.wh.tool' }]);
    expect((await names()).filter((n) => n!.startsWith('opt'))).toEqual(['opt']);
  });

  it('a whiteout does not remove what the same layer adds, whatever the order (spec: lower layers only)', async () => {
    await applyEntries(pg.root, [{ name: 'etc/gone', content: 'same layer' }, { name: 'etc/.wh.gone' }]);
    expect(await readFile(join(pg.root, 'etc/gone'), 'utf8')).toBe('same layer');
  });

  it('a whiteout before a re-added name removes the lower one and keeps the new one', async () => {
    await applyEntries(pg.root, [{ name: 'opt/.wh.tool' }, { name: 'opt/tool/new', content: 'n' }]);
    expect((await names()).filter((n) => n!.startsWith('opt'))).toEqual(['opt', 'opt/tool', 'opt/tool/new']);
  });

  it('an opaque marker hides lower children but keeps same-layer additions, before or after it in the tar', async () => {
    await applyEntries(pg.root, [
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/early', content: 'e' },
      { name: 'var/cache/sub/fresh', content: 'f' },
      { name: 'var/cache/.wh..wh..opq' },
      { name: 'var/cache/late', content: 'l' },
    ]);
    expect((await names()).filter((n) => n!.startsWith('var/cache/'))).toEqual(['var/cache/early', 'var/cache/late', 'var/cache/sub', 'var/cache/sub/fresh']);
  });

  it('a whiteout of a missing path is a no-op', async () => {
    const before = await snapshot(pg.root);
    await applyEntries(pg.root, [{ name: 'nope/.wh.x' }, { name: 'etc/.wh.absent' }]);
    expect(await snapshot(pg.root)).toEqual(before);
  });

  it('skips AUFS metadata (.wh..wh.plnk) and rejects a bare ".wh." naming the entry', async () => {
    await applyEntries(pg.root, [{ name: '.wh..wh.plnk/', type: 'directory' }, { name: '.wh..wh.aufs' }]);
    expect((await names()).some((n) => n!.includes('.wh.'))).toBe(false);
    await expect(applyEntries(pg.root, [{ name: 'etc/.wh.' }])).rejects.toThrow('invalid whiteout entry "etc/.wh."');
    await expect(applyEntries(pg.root, [{ name: 'etc/.wh..' }])).rejects.toBeInstanceOf(UnsafeArchiveError);
  });
});

describe('applyLayer: parent times are restored for pre-existing directories only', () => {
  it('leaves an unrelated directory mtime alone', async () => {
    await applyEntries(pg.root, [{ name: 'a/', type: 'directory' }, { name: 'b/', type: 'directory' }]);
    await utimes(join(pg.root, 'b'), T2, T2);
    await applyEntries(pg.root, [{ name: 'a/x', content: 'x' }]);
    expect((await stat(join(pg.root, 'b'))).mtime.toISOString()).toBe(T2S);
    expect((await stat(join(pg.root, 'a'))).mtime.toISOString()).toBe(T1S);
  });
});
