/**
 * Hostile layers (ecosystem.md §6.6). The rule under test (src/sinks/path-safety.ts): leading "/" and
 * symlinks on disk are read chroot-style, so they land INSIDE the root (clamped); a name or hardlink
 * target whose ".." climbs above the root, a hardlink to nothing or to a directory, a symlink loop and an
 * entry replacing the root are REJECTED with UnsafeArchiveError (exit 6) naming the entry. In every case
 * the sentinel directory beside the root must stay byte-for-byte the same (checked after each test by usePlaygroundPerTest).
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UnsafeArchiveError } from '../../../src/errors.js';
import { applyEntries, usePlaygroundPerTest, snapshot, type Playground, type RawEntry } from './rootfs-fixtures.js';

let pg: Playground;
usePlaygroundPerTest((created) => (pg = created));

async function expectRejected(entries: readonly RawEntry[], entryName: string): Promise<void> {
  const err = await applyEntries(pg.root, entries).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnsafeArchiveError);
  expect((err as UnsafeArchiveError).exitCode).toBe(6);
  expect((err as Error).message).toContain(`"${entryName}"`);
}

const uniqueName = () => `dray-hostile-${randomBytes(6).toString('hex')}`;

/** Runs `apply`, then fails (after removing it) if `hostPath` outside the sandbox was written: a regression must not litter the host. */
async function guardHost(hostPath: string, apply: () => Promise<unknown>): Promise<void> {
  try {
    await apply();
  } finally {
    const leaked = await lstat(hostPath).then(() => true, () => false);
    if (leaked) await rm(hostPath, { force: true });
    expect(leaked, `wrote ${hostPath} outside the root`).toBe(false);
  }
}

/** The sentinel's absolute path, which hostile links aim at; inside the root it means ROOT + that path. */
const inside = (absolute: string) => join(pg.root, absolute);

describe('rejected (exit 6, naming the entry)', () => {
  it('a name whose ".." climbs above the root', async () => {
    await expectRejected([{ name: '../../x', content: 'pwned' }], '../../x');
    await expectRejected([{ name: 'a/../../sentinel/keep', content: 'pwned' }], 'a/../../sentinel/keep');
  });

  it('a hardlink to /etc/passwd: resolved inside the root, where it does not exist', async () => {
    await expectRejected([{ name: 'pw', type: 'link', linkname: '/etc/passwd' }], 'pw');
  });

  it('a hardlink whose target climbs above the root', async () => {
    await expectRejected([{ name: 'pw', type: 'link', linkname: '../sentinel/etc/passwd' }], 'pw');
  });

  it('a hardlink through a symlink aimed at the sentinel: resolved inside, so there is nothing to link', async () => {
    await applyEntries(pg.root, [{ name: 's', type: 'symlink', linkname: pg.sentinel }]);
    await expectRejected([{ name: 'h', type: 'link', linkname: 's/keep' }], 'h');
  });

  it('a hardlink to a directory', async () => {
    await expectRejected([{ name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd' }], 'h');
  });

  it('a symlink loop', async () => {
    await expectRejected([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }], 'a/x');
  });

  it('an entry that would replace the root with a symlink (CVE-2021-29136)', async () => {
    await expectRejected([{ name: '.', type: 'symlink', linkname: pg.sentinel }], '.');
    await expectRejected([{ name: '/', type: 'symlink', linkname: pg.sentinel }], '/');
    expect((await lstat(pg.root)).isDirectory()).toBe(true);
  });
});

describe('clamped inside the root', () => {
  it('an absolute name /etc/x lands at ROOT/etc/x, never at /etc/x', async () => {
    const existedOnHost = await stat('/etc/x').then(() => true, () => false);
    await applyEntries(pg.root, [{ name: '/etc/x', content: 'inside' }]);
    expect(await readFile(join(pg.root, 'etc/x'), 'utf8')).toBe('inside');
    if (!existedOnHost) await expect(stat('/etc/x')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an absolute name aimed at the sentinel lands under ROOT', async () => {
    await applyEntries(pg.root, [{ name: join(pg.sentinel, 'keep'), content: 'pwned' }]);
    expect(await readFile(join(inside(pg.sentinel), 'keep'), 'utf8')).toBe('pwned');
  });

  it('a symlink to / followed by a file through it', async () => {
    const name = uniqueName();
    await guardHost(`/etc/${name}`, () => applyEntries(pg.root, [{ name: 'escape', type: 'symlink', linkname: '/' }, { name: `escape/etc/${name}`, content: 'inside' }]));
    expect(await readFile(join(pg.root, 'etc', name), 'utf8')).toBe('inside');
  });

  it('a symlink to ../../.. followed by a file through it (.. clamps at the root)', async () => {
    const name = uniqueName();
    // ROOT/a/../../.. on the host would be the parent of the temp base
    await guardHost(join(pg.base, '..', name), () => applyEntries(pg.root, [{ name: 'a/up', type: 'symlink', linkname: '../../..' }, { name: `a/up/${name}`, content: 'inside' }]));
    expect(await readFile(join(pg.root, name), 'utf8')).toBe('inside');
  });

  it('a symlink to the sentinel followed by a file through it', async () => {
    await applyEntries(pg.root, [{ name: 'link', type: 'symlink', linkname: pg.sentinel }, { name: 'link/planted', content: 'pwned' }]);
    expect(await readFile(join(inside(pg.sentinel), 'planted'), 'utf8')).toBe('pwned');
  });

  it('a chain of symlinks that would escape, split across two layers', async () => {
    await applyEntries(pg.root, [{ name: 'a', type: 'symlink', linkname: 'b/../..' }, { name: 'b', type: 'symlink', linkname: '../../../..' }]);
    await applyEntries(pg.root, [{ name: 'c', type: 'symlink', linkname: `a/a/..${pg.sentinel}` }, { name: 'c/keep', content: 'pwned' }]);
    expect(await readFile(join(inside(pg.sentinel), 'keep'), 'utf8')).toBe('pwned');
  });

  it('a file over an existing symlink to a sentinel file replaces the link, not the file', async () => {
    await symlink(join(pg.sentinel, 'keep'), join(pg.root, 'f'));
    await applyEntries(pg.root, [{ name: 'f', content: 'pwned', mode: 0o777 }]);
    expect((await lstat(join(pg.root, 'f'))).isFile()).toBe(true);
  });

  it('a directory entry over a symlink to the sentinel replaces the link and chmods nothing outside (CVE-2021-32760)', async () => {
    await symlink(pg.sentinel, join(pg.root, 'd'));
    await applyEntries(pg.root, [{ name: 'd/', type: 'directory', mode: 0o777 }, { name: 'd/keep', content: 'pwned' }]);
    expect((await lstat(join(pg.root, 'd'))).isDirectory()).toBe(true);
    expect(await readFile(join(pg.root, 'd/keep'), 'utf8')).toBe('pwned');
  });

  it('a hardlink named over a symlink to the sentinel replaces the link', async () => {
    await symlink(join(pg.sentinel, 'keep'), join(pg.root, 'h'));
    await applyEntries(pg.root, [{ name: 'src', content: 'mine' }, { name: 'h', type: 'link', linkname: 'src' }]);
    expect(await readFile(join(pg.root, 'h'), 'utf8')).toBe('mine');
  });

  it('a whiteout under a symlinked parent deletes inside the root only', async () => {
    await symlink(pg.sentinel, join(pg.root, 'etc'));
    await applyEntries(pg.root, [{ name: 'etc/.wh.keep' }, { name: 'etc/etc/.wh.passwd' }]);
    expect((await lstat(join(pg.root, 'etc'))).isSymbolicLink()).toBe(true);
  });

  it('an opaque marker under a symlinked parent empties nothing outside', async () => {
    await symlink(pg.sentinel, join(pg.root, 'd'));
    await symlink('/', join(pg.root, 'r'));
    await applyEntries(pg.root, [{ name: 'd/.wh..wh..opq' }, { name: 'r/.wh..wh..opq' }]);
    // "r" resolves to the root itself: its lower content (the links) is hidden, the root stays a directory
    expect((await snapshot(pg.root, { times: false })).map((l) => l.split(' ')[0])).toEqual(['.']);
  });

  it('a symlink pointing outside is stored verbatim but never followed by later writes', async () => {
    await applyEntries(pg.root, [{ name: 'etc/passwd', type: 'symlink', linkname: join(pg.sentinel, 'etc/passwd') }]);
    await applyEntries(pg.root, [{ name: 'etc/passwd', content: 'pwned' }, { name: 'etc/shadow', type: 'link', linkname: 'etc/passwd' }]);
    expect(await readFile(join(pg.root, 'etc/shadow'), 'utf8')).toBe('pwned');
  });
});
