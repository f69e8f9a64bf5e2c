import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobInfo, BlobStore } from '../../../src/cache/types.js';
import type { PullEventBody } from '../../../src/events/types.js';
import { IntegrityError, UnsafeArchiveError, UsageError } from '../../../src/errors.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { createRootfsSink } from '../../../src/sinks/rootfs.js';
import { openBlobStore } from '../../../src/cache/fs-store.js';
import { buildImage, layerFromTar, type BuiltImage, type BuiltLayer } from '../../helpers/image-builder.js';
import { feed, partialsBeside, resolved } from './fixture.js';
import { T1, T2, snapshot, tarOf, writeOciLayout, type RawEntry } from './rootfs-fixtures.js';

const run = promisify(execFile);
const hasTool = async (name: string) => run('which', [name]).then(() => true, () => false);
const HAS_ZSTD = await hasTool('zstd');
const HAS_UMOCI = await hasTool('umoci');

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dray-rootfs-sink-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Layers exercising every changeset rule: base, then whiteouts/opaque/hardlink/replacements on top. */
const LAYERS: readonly (readonly RawEntry[])[] = [
  [
    { name: 'bin/', type: 'directory', mtime: T2 },
    { name: 'bin/busybox', content: 'bb', mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/passwd', content: 'root:x:0:0\n', mode: 0o644 },
    { name: 'etc/shadow', content: 'secret', mode: 0o640, uid: 0, gid: 42 },
    { name: 'var/', type: 'directory' },
    { name: 'var/cache/', type: 'directory' },
    { name: 'var/cache/old', content: 'old' },
    { name: 'home/', type: 'directory' },
    { name: 'home/user/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
    { name: 'home/user/.profile', content: 'p', uid: 1000, gid: 1000 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
  ],
  [
    { name: 'etc/', type: 'directory', mode: 0o755, mtime: T2 },
    { name: 'etc/.wh.shadow' },
    { name: 'etc/hostname', content: 'box\n' },
    { name: 'var/cache/', type: 'directory' },
    { name: 'var/cache/.wh..wh..opq' },
    { name: 'var/cache/new', content: 'new' },
    { name: 'bin/ash', type: 'link', linkname: 'bin/busybox' },
  ],
  [
    { name: 'home/.wh.user' },
    { name: 'bin/sh', content: 'a real shell', mode: 0o755 },
    { name: 'tmp', content: 'tmp is a file now' },
  ],
];

const EXPECTED_TREE = [
  `. dir 0755 0:0`,
  `bin dir 0755 0:0 ${T2.toISOString()}`,
  `bin/ash file 0755 0:0 ${T1.toISOString()} "bb" nlink=2`,
  `bin/busybox file 0755 0:0 ${T1.toISOString()} "bb" nlink=2`,
  `bin/sh file 0755 0:0 ${T1.toISOString()} "a real shell"`,
  `etc dir 0755 0:0 ${T2.toISOString()}`,
  `etc/hostname file 0644 0:0 ${T1.toISOString()} "box\\n"`,
  `etc/passwd file 0644 0:0 ${T1.toISOString()} "root:x:0:0\\n"`,
  `home dir 0755 0:0 ${T1.toISOString()}`,
  `tmp file 0644 0:0 ${T1.toISOString()} "tmp is a file now"`,
  `var dir 0755 0:0 ${T1.toISOString()}`,
  `var/cache dir 0755 0:0 ${T1.toISOString()}`,
  `var/cache/new file 0644 0:0 ${T1.toISOString()} "new"`,
];

async function buildLayers(compressions: readonly ('gzip' | 'zstd' | 'none')[]): Promise<BuiltLayer[]> {
  return Promise.all(LAYERS.map(async (entries, i) => layerFromTar(await tarOf(entries), { compression: compressions[i] ?? 'gzip' })));
}

/** Stores the image's blobs in a real cache at tmp/cache, as the transfer engine commits them. */
async function seed(image: BuiltImage): Promise<{ blobs: Map<Digest, BlobInfo>; store: BlobStore }> {
  const store = await openBlobStore(join(tmp, 'cache'));
  const blobs = new Map<Digest, BlobInfo>();
  for (const [digest, bytes] of image.blobs) blobs.set(digest, await store.putBytes(digest, bytes));
  return { blobs, store };
}

/** Pulls `image` through the rootfs sink into tmp/out and returns the events and the result tree. */
async function unpack(image: BuiltImage, dest = join(tmp, 'out')): Promise<{ events: PullEventBody[]; dest: string }> {
  const { blobs, store } = await seed(image);
  const events: PullEventBody[] = [];
  const sink = createRootfsSink(dest, { store, signal: new AbortController().signal, isRoot: true, emit: (e) => events.push(e) });
  await feed(sink, resolved('registry.test/app:1', image), blobs);
  await sink.commit();
  return { events, dest };
}

/** The tree without the root's own mtime (the root is our staging dir, whose mtime is "now"). */
const tree = async (dir: string) => (await snapshot(dir)).map((l) => (l.startsWith('. dir') ? l.replace(/ \S+$/, '') : l));

describe('createRootfsSink', () => {
  // export.layer events are the orchestrator's (pull-image.ts), one place for every sink: see test/component/pipeline.test.ts
  it('applies gzip, zstd and uncompressed layers base first into the golden tree', async () => {
    const image = buildImage({ layers: await buildLayers(['gzip', 'zstd', 'none']) });
    const { dest } = await unpack(image);
    expect(await tree(dest)).toEqual(EXPECTED_TREE);
    expect(await partialsBeside(dest)).toEqual([]);
  });

  it.skipIf(!HAS_ZSTD)('decodes a layer compressed by the real zstd CLI (multi-block, checksummed)', async () => {
    const tar = await tarOf([...LAYERS[0]!, { name: 'big', content: 'zstd '.repeat(200_000) }]);
    const plain = join(tmp, 'layer.tar');
    await writeFile(plain, tar);
    await run('zstd', ['-q', '-19', '--check', plain, '-o', `${plain}.zst`]);
    const bytes = new Uint8Array(await readFile(`${plain}.zst`));
    const digest = computeDigest(bytes);
    const layer: BuiltLayer = { ...layerFromTar(tar, { compression: 'none' }), bytes, digest, size: bytes.byteLength, mediaType: MediaType.OciLayerZstd, compression: 'zstd', descriptor: { mediaType: MediaType.OciLayerZstd, digest, size: bytes.byteLength } };
    expect(bytes.byteLength).toBeLessThan(tar.byteLength / 10);
    const { dest } = await unpack(buildImage({ layers: [layer] }));
    expect(await readFile(join(dest, 'big'), 'utf8')).toBe('zstd '.repeat(200_000));
  });

  it('sniffs the bytes when the media type lies (a plain tar labelled gzip, as some registries serve)', async () => {
    const plain = layerFromTar(await tarOf([{ name: 'f', content: 'plain' }]), { compression: 'none' });
    const lying: BuiltLayer = { ...plain, mediaType: MediaType.DockerLayerGzip, descriptor: { ...plain.descriptor, mediaType: MediaType.DockerLayerGzip } };
    const { dest } = await unpack(buildImage({ layers: [lying] }));
    expect(await readFile(join(dest, 'f'), 'utf8')).toBe('plain');
  });

  it.skipIf(!HAS_UMOCI)('matches umoci unpack of the same image: entries, modes, owners, mtimes, link counts', async () => {
    const extra = layerFromTar(
      await tarOf([
        { name: 'var/cache/unlisted-parent', content: 'parent mtime restored' },
        { name: 'bin/su', content: 'su', mode: 0o4755 },
        { name: 'dev/', type: 'directory' },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/initctl', type: 'fifo', mode: 0o600 },
        { name: 'lnk', type: 'symlink', linkname: '../../etc/passwd', uid: 5, gid: 6, mtime: T2 },
      ]),
    );
    const image = buildImage({ layers: [...(await buildLayers(['gzip', 'gzip', 'gzip'])), extra] });
    const { dest } = await unpack(image);
    expect((await tree(dest)).length).toBe(EXPECTED_TREE.length + 6);
    const layout = join(tmp, 'layout');
    await writeOciLayout(layout, image);
    await run('umoci', ['unpack', '--image', `${layout}:latest`, join(tmp, 'bundle')]);
    expect(await tree(dest)).toEqual(await tree(join(tmp, 'bundle', 'rootfs')));
  });

  it('without setfattr warns once per pull, not once per layer, and still unpacks every layer', async () => {
    const layers = await Promise.all(['a', 'b'].map(async (n) => layerFromTar(await tarOf([{ name: n, content: n, paxRaw: { [`SCHILY.xattr.user.${n}`]: n } }]))));
    const image = buildImage({ layers });
    const { blobs, store } = await seed(image);
    const events: PullEventBody[] = [];
    const sink = createRootfsSink(join(tmp, 'out'), { store, signal: new AbortController().signal, isRoot: true, emit: (e) => events.push(e) }, { setfattr: join(tmp, 'no-setfattr') });
    await feed(sink, resolved('registry.test/app:1', image), blobs);
    await sink.commit();
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings.map((w) => (w.type === 'warning' ? w.code : ''))).toEqual(['rootfs.xattrs-tool-missing']);
    expect(await readdir(join(tmp, 'out'))).toEqual(['a', 'b']);
  });

  it('refuses a destination that exists and is not empty, leaving it untouched', async () => {
    const dest = join(tmp, 'out');
    await mkdir(dest);
    await writeFile(join(dest, 'mine'), 'keep me');
    const image = buildImage({ layers: await buildLayers(['gzip']) });
    const { store } = await seed(image);
    const sink = createRootfsSink(dest, { store, signal: new AbortController().signal, isRoot: true });
    await expect(sink.begin(resolved('registry.test/app:1', image))).rejects.toBeInstanceOf(UsageError);
    expect(await readdir(dest)).toEqual(['mine']);
    expect(await partialsBeside(dest)).toEqual([]);
  });

  it('accepts an existing empty directory and fills it on commit', async () => {
    const dest = join(tmp, 'out');
    await mkdir(dest);
    const image = buildImage({ layers: await buildLayers(['gzip', 'gzip', 'gzip']) });
    await unpack(image, dest);
    expect(await tree(dest)).toEqual(EXPECTED_TREE);
  });

  it('an unsafe layer fails with exit 6 naming the entry; abort leaves neither dest nor staging', async () => {
    const hostile = layerFromTar(await tarOf([{ name: 'ok', content: 'x' }, { name: '../../escape', content: 'pwned' }]));
    const image = buildImage({ layers: [hostile] });
    const { blobs, store } = await seed(image);
    const dest = join(tmp, 'out');
    const sink = createRootfsSink(dest, { store, signal: new AbortController().signal, isRoot: true });
    const err = await feed(sink, resolved('registry.test/app:1', image), blobs).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    expect((err as UnsafeArchiveError).exitCode).toBe(6);
    expect((err as Error).message).toContain('"../../escape"');
    expect(await partialsBeside(dest)).toHaveLength(1); // the output is not there until commit
    await sink.abort();
    expect(await readdir(tmp)).toEqual(['cache']);
  });

  it('a truncated gzip layer is an IntegrityError (exit 6), not a half-applied success', async () => {
    const good = layerFromTar(await tarOf([{ name: 'f', content: 'x'.repeat(10_000) }]));
    const bytes = good.bytes.subarray(0, good.bytes.byteLength - 20);
    const digest = computeDigest(bytes);
    const cut: BuiltLayer = { ...good, bytes, digest, size: bytes.byteLength, descriptor: { ...good.descriptor, digest, size: bytes.byteLength } };
    const image = buildImage({ layers: [cut] });
    const { blobs, store } = await seed(image);
    const sink = createRootfsSink(join(tmp, 'out'), { store, signal: new AbortController().signal, isRoot: true });
    await expect(feed(sink, resolved('registry.test/app:1', image), blobs)).rejects.toBeInstanceOf(IntegrityError);
    await sink.abort();
    expect(await readdir(tmp)).toEqual(['cache']);
  });

  it('refuses to commit before every layer was applied, and to apply layers out of order', async () => {
    const image = buildImage({ layers: await buildLayers(['gzip', 'gzip', 'gzip']) });
    const { blobs, store } = await seed(image);
    const sink = createRootfsSink(join(tmp, 'out'), { store, signal: new AbortController().signal, isRoot: true });
    const img = resolved('registry.test/app:1', image);
    await sink.begin(img);
    await expect(sink.layer(img, 1, blobs.get(img.layers[1]!.digest)!)).rejects.toThrow(/layer 0 expected/);
    await sink.layer(img, 0, blobs.get(img.layers[0]!.digest)!);
    await expect(sink.commit()).rejects.toThrow(/after 1 of 3 layers/);
    await sink.abort();
    expect(await readdir(tmp)).toEqual(['cache']);
  });
});
