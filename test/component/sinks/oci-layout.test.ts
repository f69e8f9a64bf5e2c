import { mkdir, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { createOciLayoutSink } from '../../../src/sinks/oci-layout.js';
import { createFixture, feed, listBlobs, partialsBeside, resolved, skopeoCopyToOci, skopeoInspect, tool, type Fixture } from './fixture.js';

const NAME = 'io.containerd.image.name';
const REF = 'org.opencontainers.image.ref.name';

let fx: Fixture;
beforeEach(async () => {
  fx = await createFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

const deps = () => ({ store: fx.store, signal: new AbortController().signal });

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

describe('createOciLayoutSink', () => {
  it('writes oci-layout, blobs and a golden index.json that skopeo inspects and copies blob for blob', async () => {
    const dest = join(fx.tmp, 'layout');
    const image = resolved('alpine:3.20', fx.amd64);
    const sink = createOciLayoutSink(dest, deps(), {});
    await feed(sink, image, fx.blobs);
    await sink.commit();

    expect(await readFile(join(dest, 'oci-layout'), 'utf8')).toBe('{"imageLayoutVersion":"1.0.0"}\n');
    const m = fx.amd64.manifest;
    const golden = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ mediaType: m.mediaType, digest: m.digest, size: m.size, annotations: { [NAME]: 'docker.io/library/alpine:3.20', [REF]: '3.20' } }],
    };
    expect(await readFile(join(dest, 'index.json'), 'utf8')).toBe(`${JSON.stringify(golden, null, 2)}\n`);
    const expected = [m.digest, fx.amd64.config.digest, ...fx.amd64.layers.map((l) => l.digest)].sort();
    expect(await listBlobs(dest)).toEqual(expected);

    const info = await skopeoInspect(`oci:${dest}:3.20`);
    expect(info.Digest).toBe(m.digest);
    expect(info.Layers).toEqual(fx.amd64.layers.map((l) => l.digest));
    expect(await skopeoCopyToOci(`oci:${dest}:3.20`, join(fx.tmp, 'copy'))).toEqual(expected);
    expect(await partialsBeside(dest)).toEqual([]);
  });

  it('is listed and unpacked by umoci', async () => {
    const dest = join(fx.tmp, 'layout');
    const sink = createOciLayoutSink(dest, deps(), {});
    await feed(sink, resolved('127.0.0.1:5000/team/app:v1', fx.amd64), fx.blobs);
    await sink.commit();
    expect((await tool('umoci', ['ls', '--layout', dest])).trim().split('\n')).toEqual(['v1']);
    const bundle = join(fx.tmp, 'bundle');
    await tool('umoci', ['unpack', '--image', `${dest}:v1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs/etc/hello'), 'utf8')).toBe('hello from the base layer\n');
    expect(await readFile(join(bundle, 'rootfs/etc/arch'), 'utf8')).toBe('amd64\n');
  });

  it('hard links blobs from the cache on the same filesystem, and copies with link: copy', async () => {
    const layer = fx.blobs.get(fx.amd64.layers[1]!.digest)!;
    const linked = join(fx.tmp, 'linked');
    const copied = join(fx.tmp, 'copied');
    for (const [dest, link] of [[linked, 'auto'], [copied, 'copy']] as const) {
      const sink = createOciLayoutSink(dest, deps(), { link });
      await feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs);
      await sink.commit();
    }
    const hex = layer.digest.slice('sha256:'.length);
    const cacheIno = (await stat(layer.path)).ino;
    expect((await stat(join(linked, 'blobs/sha256', hex))).ino).toBe(cacheIno);
    expect((await stat(join(copied, 'blobs/sha256', hex))).ino).not.toBe(cacheIno);
    expect(await readFile(join(copied, 'blobs/sha256', hex))).toEqual(await readFile(layer.path));
  });

  it('replaces a torn blob file of the wrong size in an existing layout, and leaves no temporary files', async () => {
    const dest = join(fx.tmp, 'layout');
    const first = createOciLayoutSink(dest, deps(), {});
    await feed(first, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await first.commit();
    const layer = fx.blobs.get(fx.amd64.layers[1]!.digest)!;
    const target = join(dest, 'blobs/sha256', layer.digest.slice('sha256:'.length));
    await unlink(target);
    await writeFile(target, 'half a layer'); // another tool's copy, cut short

    const second = createOciLayoutSink(dest, deps(), {});
    await feed(second, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await second.commit();
    expect(await readFile(target)).toEqual(await readFile(layer.path));
    expect((await stat(target)).ino).toBe((await stat(layer.path)).ino);
    expect((await readdir(join(dest, 'blobs/sha256'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('falls back to copying when the cache is on another filesystem (EXDEV), and hardlink mode fails there', async () => {
    const shm = await createFixture('/dev/shm');
    try {
      if ((await stat('/dev/shm')).dev === (await stat(shm.tmp)).dev) return; // same filesystem here: nothing to test
      const dest = join(shm.tmp, 'layout');
      const sink = createOciLayoutSink(dest, { store: shm.store, signal: new AbortController().signal }, { link: 'auto' });
      await feed(sink, resolved('alpine:3.20', shm.amd64), shm.blobs);
      await sink.commit();
      const layer = shm.blobs.get(shm.amd64.layers[0]!.digest)!;
      const out = join(dest, 'blobs/sha256', layer.digest.slice(7));
      expect((await stat(out)).ino).not.toBe((await stat(layer.path)).ino);
      expect(await readFile(out)).toEqual(await readFile(layer.path));

      const strict = createOciLayoutSink(join(shm.tmp, 'strict'), { store: shm.store, signal: new AbortController().signal }, { link: 'hardlink' });
      await expect(feed(strict, resolved('alpine:3.20', shm.amd64), shm.blobs)).rejects.toMatchObject({ code: 'ERR_LOCAL_IO' });
      await strict.abort();
      expect(await partialsBeside(join(shm.tmp, 'strict'))).toEqual([]);
    } finally {
      await shm.cleanup();
    }
  });

  it('writes several images into one index.json, each addressable by skopeo, shared blobs once', async () => {
    const dest = join(fx.tmp, 'layout');
    const sink = createOciLayoutSink(dest, deps(), {});
    await Promise.all([feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs), feed(sink, resolved('docker.io/user/other:1', fx.other), fx.blobs)]);
    await sink.commit();
    const index = (await readJson(join(dest, 'index.json'))) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => [m.digest, m.annotations[NAME], m.annotations[REF]])).toEqual([
      [fx.amd64.manifest.digest, 'docker.io/library/alpine:3.20', '3.20'],
      [fx.other.manifest.digest, 'docker.io/user/other:1', '1'],
    ]);
    expect((await skopeoInspect(`oci:${dest}:1`)).Digest).toBe(fx.other.manifest.digest);
    const all = new Set([fx.amd64.manifest.digest, fx.other.manifest.digest, ...fx.amd64.blobs.keys(), ...fx.other.blobs.keys()]);
    expect(await listBlobs(dest)).toEqual([...all].sort());
  });

  it('adds to an existing layout: keeps its entries and foreign files, replaces the name it reuses, writes index.json last', async () => {
    const dest = join(fx.tmp, 'layout');
    const first = createOciLayoutSink(dest, deps(), {});
    await feed(first, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await feed(first, resolved('docker.io/user/other:1', fx.other), fx.blobs);
    await first.commit();
    await writeFile(join(dest, 'manifest.json'), '[]'); // unknown files must survive (image-layout.md)

    const second = createOciLayoutSink(dest, deps(), {});
    await feed(second, resolved('alpine:3.20', fx.arm64), fx.blobs); // same name, new content
    await second.commit();
    const index = (await readJson(join(dest, 'index.json'))) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    expect(index.manifests).toEqual([
      { mediaType: MediaType.OciManifest, digest: fx.amd64.manifest.digest, size: fx.amd64.manifest.size },
      expect.objectContaining({ digest: fx.other.manifest.digest, annotations: { [NAME]: 'docker.io/user/other:1', [REF]: '1' } }),
      expect.objectContaining({ digest: fx.arm64.manifest.digest, annotations: { [NAME]: 'docker.io/library/alpine:3.20', [REF]: '3.20' } }),
    ]);
    expect(await readFile(join(dest, 'manifest.json'), 'utf8')).toBe('[]');
    expect((await skopeoInspect(`oci:${dest}:3.20`, true)).config).toMatchObject({ digest: fx.arm64.config.digest });
    expect(await partialsBeside(dest)).toEqual([]);
    expect((await readdir(dest)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('names a by-digest pull by its digest-less name, with the full reference in io.containerd.image.name', async () => {
    const dest = join(fx.tmp, 'layout');
    const ref = `ghcr.io/org/app@${fx.amd64.manifest.digest}`;
    const sink = createOciLayoutSink(dest, deps(), {});
    await feed(sink, resolved(ref, fx.amd64), fx.blobs);
    await sink.commit();
    const index = (await readJson(join(dest, 'index.json'))) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests[0]!.annotations).toEqual({ [NAME]: ref, [REF]: 'ghcr.io/org/app' });
    expect((await skopeoInspect(`oci:${dest}:ghcr.io/org/app`)).Digest).toBe(fx.amd64.manifest.digest);
  });

  it('with allPlatforms writes the root index and every platform manifest, and names the index', async () => {
    const dest = join(fx.tmp, 'layout');
    const sink = createOciLayoutSink(dest, deps(), { allPlatforms: true });
    await feed(sink, resolved('alpine:3.20', fx.amd64, fx.index), fx.blobs);
    await feed(sink, resolved('alpine:3.20', fx.arm64, fx.index), fx.blobs);
    await sink.commit();
    const index = (await readJson(join(dest, 'index.json'))) as { manifests: { mediaType: string; digest: string }[] };
    expect(index.manifests).toEqual([expect.objectContaining({ mediaType: MediaType.OciIndex, digest: fx.index.index.digest })]);
    expect(await readFile(join(dest, 'blobs/sha256', fx.index.index.digest.slice(7)))).toEqual(Buffer.from(fx.index.index.bytes));
    const all = new Set([fx.index.index.digest, fx.amd64.manifest.digest, fx.arm64.manifest.digest, ...fx.amd64.blobs.keys(), ...fx.arm64.blobs.keys()]);
    expect(await listBlobs(dest)).toEqual([...all].sort());
    expect(await skopeoCopyToOci(`oci:${dest}:3.20`, join(fx.tmp, 'copy'), ['--all'])).toEqual([...all].sort());
  });

  it('abort leaves no destination and no staging directory', async () => {
    const dest = join(fx.tmp, 'layout');
    const image = resolved('alpine:3.20', fx.amd64);
    const sink = createOciLayoutSink(dest, deps(), {});
    await sink.begin(image);
    await sink.config(image, fx.blobs.get(image.config.digest)!);
    expect(await partialsBeside(dest)).toHaveLength(1);
    await sink.abort();
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await partialsBeside(dest)).toEqual([]);
  });

  it('abort while blobs are being placed leaves no staging directory once the writes settle', async () => {
    const dest = join(fx.tmp, 'layout');
    const sink = createOciLayoutSink(dest, deps(), { link: 'copy' });
    const feeding = Promise.all([feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs), feed(sink, resolved('busybox:1', fx.other), fx.blobs)]).catch(
      (err: unknown) => err,
    );
    await new Promise((r) => setImmediate(r));
    await sink.abort();
    expect(await feeding).toMatchObject({ code: expect.stringMatching(/ERR_ABORTED|ERR_LOCAL_IO|ERR_USAGE/) });
    expect(await partialsBeside(dest)).toEqual([]);
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('abort on an existing layout leaves its index.json byte for byte', async () => {
    const dest = join(fx.tmp, 'layout');
    const first = createOciLayoutSink(dest, deps(), {});
    await feed(first, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await first.commit();
    const before = await readFile(join(dest, 'index.json'));
    const second = createOciLayoutSink(dest, deps(), {});
    await feed(second, resolved('docker.io/user/other:1', fx.other), fx.blobs);
    await second.abort();
    expect(await readFile(join(dest, 'index.json'))).toEqual(before);
  });

  it('stops when the signal aborts, and commit refuses an image with missing blobs', async () => {
    const ac = new AbortController();
    const dest = join(fx.tmp, 'layout');
    const image = resolved('alpine:3.20', fx.amd64);
    const sink = createOciLayoutSink(dest, { store: fx.store, signal: ac.signal }, {});
    await sink.begin(image);
    ac.abort();
    await expect(sink.config(image, fx.blobs.get(image.config.digest)!)).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await sink.abort();
    expect(await partialsBeside(dest)).toEqual([]);

    const partial = createOciLayoutSink(dest, deps(), {});
    await partial.begin(image);
    await expect(partial.commit()).rejects.toThrow(/missing 3 blob/);
    await partial.abort();
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a non-empty directory that is not a layout, and builds into an empty one', async () => {
    const dest = join(fx.tmp, 'notalayout');
    await mkdir(dest);
    await writeFile(join(dest, 'file'), 'x');
    const sink = createOciLayoutSink(dest, deps(), {});
    await expect(sink.begin(resolved('alpine:3.20', fx.amd64))).rejects.toBeInstanceOf(UsageError);

    const empty = join(fx.tmp, 'empty');
    await mkdir(empty);
    const ok = createOciLayoutSink(empty, deps(), {});
    await feed(ok, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await ok.commit();
    expect((await skopeoInspect(`oci:${empty}:3.20`)).Digest).toBe(fx.amd64.manifest.digest);
  });
});
