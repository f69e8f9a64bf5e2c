/**
 * Sink test fixtures: a small deterministic multi-platform image stored in a real cache (FsBlobStore),
 * ResolvedImage values for it, a driver that feeds a sink as pull-image.ts does, and the independent
 * readers (skopeo, umoci) the results are checked with.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { BlobInfo, BlobStore } from '../../../src/cache/types.js';
import type { ResolvedImage } from '../../../src/image/types.js';
import type { Digest } from '../../../src/oci/digest.js';
import { parseManifest, type ImageManifest } from '../../../src/oci/manifest.js';
import { parseReference } from '../../../src/reference/parse.js';
import type { ImageSink } from '../../../src/sinks/types.js';
import { openBlobStore } from '../../../src/cache/fs-store.js';
import { buildImage, buildIndex, buildLayer, type BuiltImage, type BuiltIndex } from '../../helpers/image-builder.js';

const run = promisify(execFile);

export interface Fixture {
  readonly tmp: string;
  readonly cacheRoot: string;
  readonly store: BlobStore;
  readonly blobs: ReadonlyMap<Digest, BlobInfo>;
  readonly amd64: BuiltImage;
  readonly arm64: BuiltImage;
  readonly index: BuiltIndex;
  /** A second, unrelated image that shares amd64's base layer. */
  readonly other: BuiltImage;
  cleanup(): Promise<void>;
}

/** Builds the images and stores them in a real cache at `<tmp>/cache` (or `<cacheParent>/…` when given: another filesystem). */
export async function createFixture(cacheParent?: string): Promise<Fixture> {
  const tmp = await mkdtemp(join(tmpdir(), 'dray-sinks-'));
  const cacheDir = cacheParent ? await mkdtemp(join(cacheParent, 'dray-sinks-cache-')) : join(tmp, 'cache');
  const base = await buildLayer([
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/hello', content: 'hello from the base layer\n' },
  ]);
  const amdTop = await buildLayer([{ type: 'file', path: 'etc/arch', content: 'amd64\n' }]);
  const armTop = await buildLayer([{ type: 'file', path: 'etc/arch', content: 'arm64\n' }]);
  const otherTop = await buildLayer([{ type: 'file', path: 'etc/other', content: 'other\n' }]);
  const amd64 = buildImage({ layers: [base, amdTop], platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = buildImage({ layers: [base, armTop], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const other = buildImage({ layers: [base, otherTop], runtimeConfig: { Cmd: ['/bin/other'] } });
  const index = buildIndex([amd64, arm64]);
  const all = new Map<Digest, Uint8Array>();
  for (const img of [amd64, arm64, other]) for (const [d, b] of img.blobs) all.set(d, b);
  // the real cache: blobs land in <cache>/blobs/sha256/<hex>, read-only, as the transfer engine commits them
  const store = await openBlobStore(cacheDir);
  const blobs = new Map<Digest, BlobInfo>();
  for (const [digest, bytes] of all) blobs.set(digest, await store.putBytes(digest, bytes));
  return {
    tmp,
    cacheRoot: cacheDir,
    store,
    blobs,
    amd64,
    arm64,
    index,
    other,
    cleanup: async () => {
      await rm(tmp, { recursive: true, force: true });
      if (cacheParent) await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Returns the ResolvedImage pull-image.ts would hand the sink for `built` pulled as `ref`. */
export function resolved(ref: string, built: BuiltImage, index?: BuiltIndex): ResolvedImage {
  const manifest = { descriptor: index ? built.descriptor : { mediaType: built.manifest.mediaType, digest: built.manifest.digest, size: built.manifest.size }, bytes: built.manifest.bytes };
  const parsed = parseManifest(built.manifest.bytes) as ImageManifest;
  const root = index ? { descriptor: index.descriptor, bytes: index.index.bytes } : manifest;
  return {
    ref: parseReference(ref),
    root,
    ...(index ? { index: root } : {}),
    manifest,
    parsed,
    config: parsed.config,
    layers: parsed.layers,
    platform: built.platform,
  };
}

/** Feeds one image to the sink in the order pull-image.ts does: begin, config, layers base first. */
export async function feed(sink: ImageSink, image: ResolvedImage, blobs: ReadonlyMap<Digest, BlobInfo>): Promise<void> {
  await sink.begin(image);
  await sink.config(image, blobs.get(image.config.digest)!);
  for (const [i, l] of image.layers.entries()) await sink.layer(image, i, blobs.get(l.digest)!);
}

/** Runs a tool and returns its stdout; the error carries stderr. */
export async function tool(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, [...args], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** `skopeo inspect` as JSON; skopeo copy needs --insecure-policy only for copies. */
export async function skopeoInspect(transportRef: string, raw = false): Promise<Record<string, unknown>> {
  return JSON.parse(await tool('skopeo', ['inspect', ...(raw ? ['--raw'] : []), transportRef])) as Record<string, unknown>;
}

/** Copies with skopeo into a fresh `oci:` layout and returns the digests of its blobs, sorted. */
export async function skopeoCopyToOci(source: string, outDir: string, extra: readonly string[] = []): Promise<string[]> {
  await tool('skopeo', ['--insecure-policy', 'copy', ...extra, source, `oci:${outDir}:copied`]);
  return listBlobs(outDir);
}

/** Returns the digests ("sha256:…") of every blob in a layout, sorted. */
export async function listBlobs(layout: string): Promise<string[]> {
  const names = await readdir(join(layout, 'blobs', 'sha256'));
  return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`).sort();
}

/** Returns the staging leftovers beside `dest` (`<dest>.partial-…`). */
export async function partialsBeside(dest: string): Promise<string[]> {
  const names = await readdir(dirname(dest));
  return names.filter((n) => n.startsWith(`${basename(dest)}.partial-`));
}

/** Copies with skopeo into a fresh `dir:` directory (no format conversion) and returns the blob digests, sorted. */
export async function skopeoCopyToDir(source: string, outDir: string): Promise<string[]> {
  await tool('skopeo', ['--insecure-policy', 'copy', source, `dir:${outDir}`]);
  const names = await readdir(outDir);
  return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`).sort();
}
