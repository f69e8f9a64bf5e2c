/**
 * The test helpers themselves: byte-stable images, the real registry launcher and the test pusher,
 * checked with independent readers (skopeo, fzstd, tar-stream).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { decompress } from 'fzstd';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { computeDigest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { buildImage, buildIndex, buildLayer, randomBytes, randomLayer, type LayerFile } from '../helpers/image-builder.js';
import { pushImage, pushIndex } from '../helpers/push.js';
import { startRegistry, useRegistry } from '../helpers/registry-server.js';

const run = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

async function tarEntries(tar: Uint8Array): Promise<tarStream.Header[]> {
  const extract = tarStream.extract();
  Readable.from([Buffer.from(tar)]).pipe(extract);
  const headers: tarStream.Header[] = [];
  for await (const entry of extract) {
    headers.push(entry.header);
    entry.resume();
  }
  return headers;
}

const FILES: LayerFile[] = [
  { type: 'file', path: 'etc/hosts', content: '127.0.0.1 localhost\n' },
  { type: 'dir', path: 'etc' },
  { type: 'symlink', path: 'bin', target: 'usr/bin' },
  { type: 'hardlink', path: 'etc/hosts.bak', target: 'etc/hosts' },
  { type: 'whiteout', path: 'var/gone' },
  { type: 'opaque', path: 'opt' },
];

describe('image-builder', () => {
  it('builds byte-identical layers from the same files, in any input order', async () => {
    const a = await buildLayer(FILES);
    const b = await buildLayer([...FILES].reverse());
    expect(b.digest).toBe(a.digest);
    expect(a.digest).toBe(computeDigest(a.bytes));
    expect(a.diffId).toBe(computeDigest(gunzipSync(a.bytes)));
    expect(a.mediaType).toBe(MediaType.OciLayerGzip);
    // gzip header MTIME (bytes 4-7) is zero
    expect([...a.bytes.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
  });

  it('writes sorted entries with uid/gid 0, mtime 0, whiteout and opaque names', async () => {
    const headers = await tarEntries((await buildLayer(FILES)).tar);
    expect(headers.map((h) => `${h.type}:${h.name}`)).toEqual([
      'symlink:bin',
      'directory:etc/',
      'file:etc/hosts',
      'link:etc/hosts.bak',
      'file:opt/.wh..wh..opq',
      'file:var/.wh.gone',
    ]);
    for (const h of headers) expect([h.uid, h.gid, h.mtime?.getTime()]).toEqual([0, 0, 0]);
  });

  it('keeps the caller order when asked', async () => {
    const layer = await buildLayer(FILES, { keepOrder: true, compression: 'none' });
    expect((await tarEntries(layer.bytes)).map((h) => h.name)[0]).toBe('etc/hosts');
    expect(layer.digest).toBe(layer.diffId);
  });

  it('writes zstd layers a real decoder reads back', async () => {
    const content = randomBytes(300_000, 'z');
    const layer = await buildLayer([{ type: 'file', path: 'big', content }], { compression: 'zstd' });
    expect(layer.mediaType).toBe(MediaType.OciLayerZstd);
    expect(computeDigest(decompress(layer.bytes))).toBe(layer.diffId);
  });

  it('makes seeded random data that is deterministic and incompressible', async () => {
    expect(Buffer.from(randomBytes(1000, 7)).equals(Buffer.from(randomBytes(1000, 7)))).toBe(true);
    expect(Buffer.from(randomBytes(1000, 7)).equals(Buffer.from(randomBytes(1000, 8)))).toBe(false);
    const layer = await randomLayer(1 << 20, 'seed');
    expect(layer.size).toBeGreaterThan(1 << 20);
    expect((await randomLayer(1 << 20, 'seed')).digest).toBe(layer.digest);
  });

  it('labels docker images with docker media types and lists platforms in an index', async () => {
    const layer = await buildLayer(FILES);
    const image = buildImage({ layers: [layer], mediaTypes: 'docker', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const manifest = JSON.parse(Buffer.from(image.manifest.bytes).toString()) as { config: { mediaType: string }; layers: { mediaType: string }[] };
    expect(manifest.config.mediaType).toBe(MediaType.DockerConfig);
    expect(manifest.layers[0]!.mediaType).toBe(MediaType.DockerLayerGzip);
    const config = JSON.parse(Buffer.from(image.config.bytes).toString()) as { rootfs: { diff_ids: string[] }; variant: string };
    expect(config.rootfs.diff_ids).toEqual([layer.diffId]);
    expect(config.variant).toBe('v8');
    const list = buildIndex([image], { mediaTypes: 'docker' });
    expect(list.index.mediaType).toBe(MediaType.DockerManifestList);
    const body = JSON.parse(Buffer.from(list.index.bytes).toString()) as { manifests: { digest: string; platform: unknown }[] };
    expect(body.manifests).toEqual([{ mediaType: MediaType.DockerManifest, digest: image.manifest.digest, size: image.manifest.size, platform: image.platform }]);
  });
});

async function twoLayerImage(platform = { os: 'linux', architecture: 'amd64' }) {
  const base = await buildLayer([{ type: 'file', path: 'etc/os-release', content: `ID=test-${platform.architecture}\n` }]);
  const app = await randomLayer(256 * 1024, `app-${platform.architecture}`);
  return buildImage({ layers: [base, app], platform });
}

describe('registry-server + push (real docker-registry, read back with skopeo)', () => {
  const registry = useRegistry();

  it('pushes a 2-layer image that skopeo reads with the same digests', async () => {
    const { host, url } = registry();
    const image = await twoLayerImage();
    expect(await pushImage(url, 'test/app', image, { tag: 'v1' })).toBe(image.manifest.digest);
    const raw = await skopeo('--raw', `docker://${host}/test/app:v1`);
    expect(computeDigest(Buffer.from(raw))).toBe(image.manifest.digest);
    const info = JSON.parse(await skopeo(`docker://${host}/test/app:v1`)) as { Digest: string; Layers: string[] };
    expect(info.Digest).toBe(image.manifest.digest);
    expect(info.Layers).toEqual(image.layers.map((l) => l.digest));
    const config = await skopeo('--config', '--raw', `docker://${host}/test/app:v1`);
    expect(computeDigest(Buffer.from(config))).toBe(image.config.digest);
  });

  it('pushes an index with two platforms; skopeo resolves each platform to its image', async () => {
    const { host, url } = registry();
    const amd64 = await twoLayerImage({ os: 'linux', architecture: 'amd64' });
    const arm64 = await twoLayerImage({ os: 'linux', architecture: 'arm64' });
    const index = buildIndex([amd64, arm64]);
    await pushIndex(url, 'test/multi', index, { tag: 'latest' });
    const raw = await skopeo('--raw', `docker://${host}/test/multi:latest`);
    expect(computeDigest(Buffer.from(raw))).toBe(index.index.digest);
    const arm = JSON.parse(await skopeo('--override-arch', 'arm64', '--override-os', 'linux', `docker://${host}/test/multi:latest`)) as { Digest: string; Architecture: string; Layers: string[] };
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Layers).toEqual(arm64.layers.map((l) => l.digest));
    expect(arm.Digest).toBe(index.index.digest);
    const child = await skopeo('--raw', `docker://${host}/test/multi@${arm64.manifest.digest}`);
    expect(computeDigest(Buffer.from(child))).toBe(arm64.manifest.digest);
  });

  it('pushes a docker manifest list as well', async () => {
    const { host, url } = registry();
    const layer = await buildLayer([{ type: 'file', path: 'a', content: 'a' }], { mediaTypes: 'docker' });
    const image = buildImage({ layers: [layer], mediaTypes: 'docker' });
    const list = buildIndex([image], { mediaTypes: 'docker' });
    await pushIndex(url, 'test/docker', list, { tag: 'v2' });
    const raw = await skopeo('--raw', `docker://${host}/test/docker:v2`);
    expect(JSON.parse(raw)).toMatchObject({ mediaType: MediaType.DockerManifestList });
    expect(computeDigest(Buffer.from(raw))).toBe(list.index.digest);
  });
});

describe('registry-server with basic auth', () => {
  const registry = useRegistry({ auth: { kind: 'basic', users: { alice: 's3cret' } } });

  it('refuses anonymous requests and accepts the htpasswd user for push and skopeo', async () => {
    const { host, url } = registry();
    const anonymous = await fetch(`${url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="dray-test"/);
    const image = await twoLayerImage();
    await expect(pushImage(url, 'private/app', image, { tag: 'v1' })).rejects.toThrow(/no credentials/);
    await pushImage(url, 'private/app', image, { tag: 'v1', auth: { username: 'alice', password: 's3cret' } });
    const info = JSON.parse(await skopeo('--creds', 'alice:s3cret', `docker://${host}/private/app:v1`)) as { Digest: string };
    expect(info.Digest).toBe(image.manifest.digest);
    await expect(skopeo('--creds', 'alice:wrong', `docker://${host}/private/app:v1`)).rejects.toThrow();
  });
});

describe('registry-server with token auth', () => {
  const registry = useRegistry({ auth: { kind: 'token', users: { bob: 'pw' }, anonymousPull: true } });

  it('challenges with the token realm; the pusher and skopeo get JWTs the registry accepts', async () => {
    const { host, url, tokenServer } = registry();
    const ping = await fetch(`${url}/v2/`);
    expect(ping.status).toBe(401);
    expect(ping.headers.get('www-authenticate')).toBe(`Bearer realm="${tokenServer!.realm}",service="dray-test-registry"`);
    const image = await twoLayerImage();
    await pushImage(url, 'tok/app', image, { tag: 'v1', auth: { username: 'bob', password: 'pw' } });
    expect(tokenServer!.requests[0]).toMatchObject({ authorization: true, user: 'bob', scopes: ['repository:tok/app:pull,push'], status: 200 });
    // anonymous pull is granted; anonymous push is not (the token carries pull only)
    const info = JSON.parse(await skopeo(`docker://${host}/tok/app:v1`)) as { Digest: string };
    expect(info.Digest).toBe(image.manifest.digest);
    await expect(pushImage(url, 'tok/other', image, { tag: 'v1' })).rejects.toThrow(/401/);
    await expect(skopeo('--creds', 'bob:nope', `docker://${host}/tok/app:v1`)).rejects.toThrow();
  });
});

describe('registry-server lifecycle', () => {
  it('stop() ends the process and removes its storage', async () => {
    const server = await startRegistry();
    await pushImage(server.url, 'x/y', buildImage({ layers: [await buildLayer([])] }), { tag: 't' });
    expect(existsSync(server.storageDir)).toBe(true);
    expect(server.logs()).toContain('listening on 127.0.0.1');
    await server.stop();
    expect(existsSync(server.storageDir)).toBe(false);
    await expect(fetch(`${server.url}/v2/`)).rejects.toThrow();
  });
});
