import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaType } from '../../../src/oci/media-types.js';
import { createDockerArchiveSink } from '../../../src/sinks/docker-archive.js';
import { createOciArchiveSink } from '../../../src/sinks/oci-archive.js';
import { readTar } from '../../../src/sinks/tar.js';
import { createFixture, feed, partialsBeside, resolved, skopeoCopyToDir, skopeoCopyToOci, skopeoInspect, type Fixture } from './fixture.js';

let fx: Fixture;
beforeEach(async () => {
  fx = await createFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

const deps = () => ({ store: fx.store, signal: new AbortController().signal });
const blob = (digest: string) => `blobs/sha256/${digest.slice('sha256:'.length)}`;

/** Returns every entry of the tar: name, type and (for files) the bytes. */
async function entries(source: Readable): Promise<{ name: string; type: string; bytes: Buffer }[]> {
  const out: { name: string; type: string; bytes: Buffer }[] = [];
  for await (const e of readTar(source)) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c as Buffer);
    out.push({ name: e.header.name, type: e.header.type ?? 'file', bytes: Buffer.concat(chunks) });
  }
  return out;
}

const fileEntries = async (path: string) => entries(createReadStream(path));
const json = (list: { name: string; bytes: Buffer }[], name: string): unknown => JSON.parse(list.find((e) => e.name === name)!.bytes.toString('utf8'));

describe('createDockerArchiveSink', () => {
  it('writes docker save (v25) layout with golden manifest.json and repositories, blobs first and json last', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const sink = createDockerArchiveSink(dest, deps(), {});
    await feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await sink.commit();

    const list = await fileEntries(dest);
    const img = fx.amd64;
    expect(list.map((e) => e.name)).toEqual([
      'blobs/',
      'blobs/sha256/',
      blob(img.manifest.digest),
      blob(img.config.digest),
      ...img.layers.map((l) => blob(l.digest)),
      'oci-layout',
      'index.json',
      'manifest.json',
      'repositories',
    ]);
    expect(json(list, 'manifest.json')).toEqual([{ Config: blob(img.config.digest), RepoTags: ['alpine:3.20'], Layers: img.layers.map((l) => blob(l.digest)) }]);
    expect(json(list, 'repositories')).toEqual({ alpine: { '3.20': img.layers[1]!.digest.slice(7) } });
    expect(json(list, 'index.json')).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        {
          mediaType: img.manifest.mediaType,
          digest: img.manifest.digest,
          size: img.manifest.size,
          annotations: { 'io.containerd.image.name': 'docker.io/library/alpine:3.20', 'org.opencontainers.image.ref.name': '3.20' },
        },
      ],
    });
    // layers stay the registry's compressed bytes
    expect(list.find((e) => e.name === blob(img.layers[0]!.digest))!.bytes).toEqual(Buffer.from(img.layers[0]!.bytes));
    expect(await partialsBeside(dest)).toEqual([]);
  });

  it('is read by skopeo as a docker-archive, which yields the config and the layers by diff_id', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const sink = createDockerArchiveSink(dest, deps(), {});
    await feed(sink, resolved('127.0.0.1:5000/team/app:v1', fx.amd64), fx.blobs);
    await sink.commit();
    const info = await skopeoInspect(`docker-archive:${dest}`);
    expect(info.Architecture).toBe('amd64');
    expect(info.RepoTags).toEqual([]); // skopeo reports registry tags here, none for an archive
    // skopeo's docker-archive source serves each layer decompressed, addressed by its diff_id, and the
    // config as stored; `dir:` keeps them unconverted (an `oci:` copy would rewrite the config as OCI)
    const copied = await skopeoCopyToDir(`docker-archive:${dest}`, join(fx.tmp, 'copy'));
    expect(copied).toEqual([fx.amd64.config.digest, ...fx.amd64.layers.map((l) => l.diffId)].sort());
  });

  it('names RepoTags like docker: short on Docker Hub, full elsewhere, none for a pull by digest', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const sink = createDockerArchiveSink(dest, deps(), {});
    await feed(sink, resolved('docker.io/user/app:1', fx.amd64), fx.blobs);
    await feed(sink, resolved('127.0.0.1:5000/repo:tag', fx.other), fx.blobs);
    await feed(sink, resolved(`ghcr.io/org/x@${fx.arm64.manifest.digest}`, fx.arm64), fx.blobs);
    await sink.commit();
    const manifest = json(await fileEntries(dest), 'manifest.json') as { RepoTags: string[] }[];
    expect(manifest.map((m) => m.RepoTags)).toEqual([['user/app:1'], ['127.0.0.1:5000/repo:tag'], []]);
  });

  it('writes a blob shared by two images once, and one manifest.json entry per image', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const sink = createDockerArchiveSink(dest, deps(), {});
    await Promise.all([feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs), feed(sink, resolved('busybox:1', fx.other), fx.blobs)]);
    await sink.commit();
    const list = await fileEntries(dest);
    const names = list.map((e) => e.name);
    expect(names.filter((n) => n === blob(fx.amd64.layers[0]!.digest))).toHaveLength(1);
    expect(new Set(names).size).toBe(names.length);
    const manifest = json(list, 'manifest.json') as { Config: string; RepoTags: string[] }[];
    expect(manifest).toHaveLength(2);
    expect(manifest.map((m) => m.RepoTags[0]).sort()).toEqual(['alpine:3.20', 'busybox:1']);
    expect(await skopeoInspect(`docker-archive:${dest}:busybox:1`)).toMatchObject({ Digest: expect.any(String), Architecture: 'amd64' });
  });

  it('streams the same bytes to a stream as to a file', async () => {
    const file = join(fx.tmp, 'image.tar');
    const toFile = createDockerArchiveSink(file, deps(), {});
    await feed(toFile, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await toFile.commit();

    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const toStream = createDockerArchiveSink(out, deps(), {});
    await feed(toStream, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await toStream.commit();
    expect(Buffer.concat(chunks)).toEqual(await readFile(file));
  });

  it('honours explicit repoTags for its one image and refuses a second image', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const sink = createDockerArchiveSink(dest, deps(), { repoTags: ['mine:latest', 'mine:1'] });
    await feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await expect(sink.begin(resolved('busybox:1', fx.other))).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await sink.abort();
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });

    const ok = createDockerArchiveSink(dest, deps(), { repoTags: ['mine:latest', 'mine:1'] });
    await feed(ok, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await ok.commit();
    const list = await fileEntries(dest);
    expect((json(list, 'manifest.json') as { RepoTags: string[] }[])[0]!.RepoTags).toEqual(['mine:latest', 'mine:1']);
    expect(json(list, 'repositories')).toEqual({ mine: { latest: fx.amd64.layers[1]!.digest.slice(7), 1: fx.amd64.layers[1]!.digest.slice(7) } });
  });

  it('abort leaves no destination and no partial file', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const image = resolved('alpine:3.20', fx.amd64);
    const sink = createDockerArchiveSink(dest, deps(), {});
    await sink.begin(image);
    await sink.config(image, fx.blobs.get(image.config.digest)!);
    expect(await partialsBeside(dest)).toHaveLength(1);
    await sink.abort();
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await partialsBeside(dest)).toEqual([]);
  });

  it('abort while blobs are being written leaves no partial file once the writes settle', async () => {
    const dest = join(fx.tmp, 'image.tar');
    const sink = createDockerArchiveSink(dest, deps(), {});
    const feeding = Promise.all([feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs), feed(sink, resolved('busybox:1', fx.other), fx.blobs)]).catch(
      (err: unknown) => err,
    );
    await new Promise((r) => setImmediate(r));
    await sink.abort();
    expect(await feeding).toMatchObject({ code: expect.stringMatching(/ERR_ABORTED|ERR_LOCAL_IO|ERR_USAGE/) });
    expect(await partialsBeside(dest)).toEqual([]);
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('abort on a stream stops it short: the reader never sees manifest.json', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const image = resolved('alpine:3.20', fx.amd64);
    const sink = createDockerArchiveSink(out, deps(), {});
    await sink.begin(image);
    await sink.config(image, fx.blobs.get(image.config.digest)!);
    await sink.abort();
    expect(Buffer.concat(chunks).includes('manifest.json')).toBe(false);
  });

  it('stops when the signal aborts and removes its partial file', async () => {
    const ac = new AbortController();
    const dest = join(fx.tmp, 'image.tar');
    const image = resolved('alpine:3.20', fx.amd64);
    const sink = createDockerArchiveSink(dest, { store: fx.store, signal: ac.signal }, {});
    await sink.begin(image);
    ac.abort();
    await expect(sink.config(image, fx.blobs.get(image.config.digest)!)).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await sink.abort();
    expect(await partialsBeside(dest)).toEqual([]);
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('createOciArchiveSink', () => {
  it('writes a tar of an OCI layout that skopeo inspects and copies blob for blob', async () => {
    const dest = join(fx.tmp, 'image.oci.tar');
    const sink = createOciArchiveSink(dest, deps(), {});
    await feed(sink, resolved('alpine:3.20', fx.amd64), fx.blobs);
    await sink.commit();
    const list = await fileEntries(dest);
    expect(list.map((e) => e.name).slice(-2)).toEqual(['oci-layout', 'index.json']);
    expect(list.some((e) => e.name === 'manifest.json')).toBe(false);
    expect((await skopeoInspect(`oci-archive:${dest}:3.20`)).Digest).toBe(fx.amd64.manifest.digest);
    const expected = [fx.amd64.manifest.digest, ...fx.amd64.blobs.keys()].sort();
    expect(await skopeoCopyToOci(`oci-archive:${dest}`, join(fx.tmp, 'copy'))).toEqual(expected);
  });

  it('with allPlatforms holds the index and both platforms, which skopeo copies with --all', async () => {
    const dest = join(fx.tmp, 'all.tar');
    const sink = createOciArchiveSink(dest, deps(), { allPlatforms: true });
    await feed(sink, resolved('alpine:3.20', fx.amd64, fx.index), fx.blobs);
    await feed(sink, resolved('alpine:3.20', fx.arm64, fx.index), fx.blobs);
    await sink.commit();
    const list = await fileEntries(dest);
    expect((json(list, 'index.json') as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([fx.index.index.digest]);
    const all = new Set([fx.index.index.digest, fx.amd64.manifest.digest, fx.arm64.manifest.digest, ...fx.amd64.blobs.keys(), ...fx.arm64.blobs.keys()]);
    expect(await skopeoCopyToOci(`oci-archive:${dest}:3.20`, join(fx.tmp, 'copy'), ['--all'])).toEqual([...all].sort());
  });
});
