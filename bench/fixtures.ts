/**
 * Synthetic, byte-stable bench images written as OCI layouts and pushed to the bench registry.
 * Layer data is an AES-256-CTR keystream (incompressible, ~1 GB/s to generate) keyed from a seed, in
 * an uncompressed tar (`application/vnd.oci.image.layer.v1.tar`) with one file per layer, so no
 * minutes are spent gzip-ing random bytes and every rerun produces the same digests.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** What to build. */
export interface FixtureSpec {
  /** Repository under `bench/`, e.g. `big` → `bench/big`. */
  readonly name: string;
  readonly tag: string;
  /** Payload bytes of each layer, bottom first (each layer adds 1.5 KiB of tar framing). */
  readonly layerSizes: readonly number[];
  readonly seed: string;
}

const MB = 1_000_000;

/** The large image of issue 3: 8 layers, ~330 MB, one 150 MB layer (a fat base such as a CUDA or
 *  JDK image) and seven layers summing to 180 MB. */
export const BIG_IMAGE: FixtureSpec = {
  name: 'big',
  tag: '1',
  layerSizes: [150 * MB, 60 * MB, 40 * MB, 30 * MB, 20 * MB, 15 * MB, 10 * MB, 5 * MB],
  seed: 'dray-bench-big-v1',
};

/** A tiny image (one ~1 KB layer): measures round trips, not bandwidth. */
export const TINY_IMAGE: FixtureSpec = { name: 'tiny', tag: '1', layerSizes: [1000], seed: 'dray-bench-tiny-v1' };

/** A blob of the built image. */
export interface FixtureBlob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** A built OCI layout. */
export interface Fixture {
  readonly spec: FixtureSpec;
  readonly layoutDir: string;
  readonly manifest: FixtureBlob;
  readonly config: FixtureBlob;
  readonly layers: readonly FixtureBlob[];
  /** Manifest + config + layers: what a cold pull must transfer. */
  readonly totalBytes: number;
}

const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
/** Keystream is produced in 4 MiB slices: large enough for few syscalls, small enough for low RSS. */
const SLICE = 4 * 1024 * 1024;

/** Builds the layout under `outDir/<name>` unless a build of the same spec is already there. */
export async function buildFixture(spec: FixtureSpec, outDir: string): Promise<Fixture> {
  const layoutDir = path.join(outDir, spec.name);
  const stampPath = path.join(layoutDir, 'fixture.json');
  const stamp = await readFile(stampPath, 'utf8').then((text) => JSON.parse(text) as Fixture, () => undefined);
  if (stamp && JSON.stringify(stamp.spec) === JSON.stringify(spec)) return stamp;
  await rm(layoutDir, { recursive: true, force: true });
  const blobDir = path.join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const layers: FixtureBlob[] = [];
  for (const [index, size] of spec.layerSizes.entries()) {
    layers.push(await writeLayer(blobDir, `${spec.seed}:${index}`, `data/layer-${index}.bin`, size));
  }
  const config = await writeJsonBlob(blobDir, CONFIG_MEDIA_TYPE, {
    architecture: goArch(process.arch),
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: {},
    // Layers are uncompressed, so each diff_id is the layer digest itself.
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const manifest = await writeJsonBlob(blobDir, MANIFEST_MEDIA_TYPE, {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config,
    layers,
  });
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const ref = { ...manifest, annotations: { 'org.opencontainers.image.ref.name': spec.tag } };
  await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [ref] }));
  const totalBytes = manifest.size + config.size + layers.reduce((sum, l) => sum + l.size, 0);
  const fixture: Fixture = { spec, layoutDir, manifest, config, layers, totalBytes };
  await writeFile(stampPath, JSON.stringify(fixture, null, 2));
  return fixture;
}

/** Writes a tar holding one file of `size` keystream bytes; returns its descriptor. */
async function writeLayer(blobDir: string, seed: string, name: string, size: number): Promise<FixtureBlob> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(SLICE);
  const hash = createHash('sha256');
  const tmp = path.join(blobDir, `.tmp-${process.pid}`);
  const file = await open(tmp, 'w');
  let total = 0;
  const put = async (buf: Buffer): Promise<void> => {
    hash.update(buf);
    await file.write(buf);
    total += buf.length;
  };
  try {
    await put(tarHeader(name, size));
    for (let left = size; left > 0; left -= SLICE) {
      await put(cipher.update(left >= SLICE ? zeros : zeros.subarray(0, left)));
    }
    // Pad the file to a 512-byte block, then the two zero blocks that end an archive.
    await put(Buffer.alloc(((512 - (size % 512)) % 512) + 1024));
  } finally {
    await file.close();
  }
  const digest = `sha256:${hash.digest('hex')}`;
  await rename(tmp, path.join(blobDir, digest.slice(7)));
  return { mediaType: LAYER_MEDIA_TYPE, digest, size: total };
}

async function writeJsonBlob(blobDir: string, mediaType: string, value: unknown): Promise<FixtureBlob> {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(path.join(blobDir, hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

/** A ustar header for a regular file: mode 0644, uid/gid 0, mtime 0 (byte-stable). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, 'ascii');
  };
  const octal = (offset: number, length: number, value: number): void =>
    field(offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  field(148, 8, '        '); // checksum is computed with its own field as spaces
  field(156, 1, '0');
  field(257, 8, 'ustar\x0000');
  const sum = header.reduce((acc, byte) => acc + byte, 0);
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return header;
}

function goArch(arch: string): string {
  return arch === 'x64' ? 'amd64' : arch;
}

/** The reference of a fixture behind `address` (host:port). */
export function fixtureRef(address: string, fixture: Fixture): string {
  return `${address}/bench/${fixture.spec.name}:${fixture.spec.tag}`;
}

/** Pushes the layout unless the registry already holds this exact manifest. Our own small pusher,
 *  because skopeo gzips uncompressed layers on the way to a registry, changing every digest. */
export async function pushFixture(fixture: Fixture, address: string, signal: AbortSignal): Promise<void> {
  const base = `http://${address}/v2/bench/${fixture.spec.name}`;
  const manifestUrl = `${base}/manifests/${fixture.spec.tag}`;
  if ((await registryDigest(manifestUrl, signal)) === fixture.manifest.digest) return;
  const blobDir = path.join(fixture.layoutDir, 'blobs', 'sha256');
  for (const blob of [fixture.config, ...fixture.layers]) {
    const head = await fetch(`${base}/blobs/${blob.digest}`, { method: 'HEAD', signal });
    if (head.ok) continue;
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST', signal });
    await start.arrayBuffer();
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw new Error(`upload start for ${blob.digest}: HTTP ${start.status}`);
    const target = new URL(location, base);
    target.searchParams.set('digest', blob.digest);
    await putFile(target, path.join(blobDir, blob.digest.slice(7)), blob.size, signal);
  }
  const body = await readFile(path.join(blobDir, fixture.manifest.digest.slice(7)));
  const put = await fetch(manifestUrl, { method: 'PUT', body, headers: { 'content-type': MANIFEST_MEDIA_TYPE }, signal });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`manifest push for ${fixture.spec.name}: HTTP ${put.status}`);
  const pushed = await registryDigest(manifestUrl, signal);
  if (pushed !== fixture.manifest.digest) {
    throw new Error(`registry holds ${pushed ?? 'nothing'} for ${fixture.spec.name}, expected ${fixture.manifest.digest}`);
  }
}

/** Streams a file as one monolithic upload PUT (node:http, so the body is never held in memory). */
async function putFile(url: URL, file: string, size: number, signal: AbortSignal): Promise<void> {
  const req = http.request(url, { method: 'PUT', signal, headers: { 'content-type': 'application/octet-stream', 'content-length': size } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve).once('error', reject);
  });
  await pipeline(createReadStream(file), req);
  const res = await response;
  res.resume();
  if (res.statusCode !== 201) throw new Error(`blob upload to ${url.pathname}: HTTP ${res.statusCode}`);
}

async function registryDigest(url: string, signal: AbortSignal): Promise<string | undefined> {
  const res = await fetch(url, { method: 'HEAD', headers: { accept: MANIFEST_MEDIA_TYPE }, signal });
  return res.ok ? (res.headers.get('docker-content-digest') ?? undefined) : undefined;
}

/** Runs a tool to completion, failing with its stderr. */
export async function runTool(command: string, args: readonly string[], signal: AbortSignal): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${err}`);
  return out;
}
