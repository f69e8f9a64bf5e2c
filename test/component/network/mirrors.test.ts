// Mirrors against real registries: a second docker-registry holding the same image serves the pull; a
// mirror that is down (a closed port) or lacks the image hands each request to the next source with a
// warning; a mirror serving other bytes for a digest cannot substitute them; registries.conf and
// hosts.toml name mirrors as --mirror does.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkOptions } from '../../../src/config/network.js';
import type { PullEvent } from '../../../src/events/types.js';
import { pull } from '../../../src/pull.js';
import { tempDir } from '../../helpers/cli.js';
import { startFakeRegistry, type FakeRegistry } from '../../helpers/fake-registry.js';
import { buildImage, buildLayer, randomLayer, type BuiltImage } from '../../helpers/image-builder.js';
import { pushImage } from '../../helpers/push.js';
import { freePort, startRegistry, type RegistryServer } from '../../helpers/registry-server.js';

const REPO = 'mirrored/app';
let work: { path: string; remove(): Promise<void> };
let upstream: RegistryServer;
let mirror: RegistryServer;
let empty: RegistryServer;
let image: BuiltImage;
let digest: string;
let closedHost: string;
let n = 0;

beforeAll(async () => {
  work = await tempDir('dray-mirrors-');
  upstream = await startRegistry();
  image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'm.txt', content: 'mirrored\n' }]), await randomLayer(50_000, 'mirror')] });
  digest = await pushImage(upstream.url, REPO, image, { tag: '1' });
  [mirror, empty] = await Promise.all([startRegistry({ storageDir: upstream.storageDir }), startRegistry()]);
  closedHost = `127.0.0.1:${await freePort()}`; // nothing listens: a mirror that is down
}, 60_000);

afterAll(async () => {
  await Promise.all([mirror?.stop(), empty?.stop()]);
  await upstream?.stop();
  await work?.remove();
});

/** GETs of this repository's blobs and manifests in a registry's access log. */
function gets(server: { logs(): string }, what: 'blobs' | 'manifests'): number {
  return server.logs().split('\n').filter((l) => l.includes(`"GET /v2/${REPO}/${what}/`)).length;
}

async function pullWith(network: NetworkOptions, ref = `${upstream.host}/${REPO}:1`): Promise<{ result: Awaited<ReturnType<typeof pull>>; warnings: string[] }> {
  const events: PullEvent[] = [];
  const result = await pull([ref], { cacheDir: join(work.path, `cache-${++n}`), network, onEvent: (e) => events.push(e) });
  const warnings = events.flatMap((e) => (e.type === 'warning' ? [`${e.code}: ${e.message}`] : []));
  return { result, warnings };
}

describe('mirrors', () => {
  it('pulls manifests and blobs from a mirror that is up; the upstream sees no request for them', async () => {
    const [upBlobs, upManifests, mirrorBlobs] = [gets(upstream, 'blobs'), gets(upstream, 'manifests'), gets(mirror, 'blobs')];
    const { result, warnings } = await pullWith({ mirrors: [`${upstream.host}=${mirror.host}`] });
    expect(result.images[0]!.digest).toBe(digest);
    expect(warnings).toEqual([]);
    expect(gets(mirror, 'blobs') - mirrorBlobs).toBe(image.layers.length + 1);
    expect(gets(upstream, 'blobs')).toBe(upBlobs);
    expect(gets(upstream, 'manifests')).toBe(upManifests);
  });

  it('skips a mirror that is down with one warning, then uses the next mirror that is up', async () => {
    const [upBlobs, mirrorBlobs] = [gets(upstream, 'blobs'), gets(mirror, 'blobs')];
    const { result, warnings } = await pullWith({ mirrors: [`${upstream.host}=${closedHost}`, `${upstream.host}=${mirror.host}`] });
    expect(result.images[0]!.digest).toBe(digest);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^mirror.down: mirror ${closedHost} failed .*skipping it for 30s`));
    expect(gets(mirror, 'blobs') - mirrorBlobs).toBe(image.layers.length + 1);
    expect(gets(upstream, 'blobs')).toBe(upBlobs);
  });

  it('falls back to the upstream when the only mirror is down', async () => {
    const upBlobs = gets(upstream, 'blobs');
    const { result, warnings } = await pullWith({ mirrors: [`${upstream.host}=${closedHost}`] });
    expect(result.images[0]!.digest).toBe(digest);
    expect(warnings.filter((w) => w.startsWith('mirror.down'))).toHaveLength(1);
    expect(gets(upstream, 'blobs') - upBlobs).toBe(image.layers.length + 1);
  });

  it('falls back to the upstream when the mirror does not have the image (404)', async () => {
    const { result, warnings } = await pullWith({ mirrors: [`${upstream.host}=${empty.host}`] });
    expect(result.images[0]!.digest).toBe(digest);
    expect(warnings[0]).toMatch(new RegExp(`^mirror.fallback: mirror ${empty.host} could not serve`));
  });

  it('never accepts other bytes for a digest from a mirror: the upstream serves the manifest instead', async () => {
    const fake: FakeRegistry = await startFakeRegistry();
    try {
      fake.seed(REPO, image, '1');
      fake.faults = { corrupt: [digest] };
      const { result, warnings } = await pullWith({ mirrors: [`${upstream.host}=${fake.host}`] }, `${upstream.host}/${REPO}@${digest}`);
      expect(result.images[0]!.error).toBeUndefined();
      expect(result.images[0]!.digest).toBe(digest);
      expect(warnings.some((w) => w.startsWith('mirror.fallback') && w.includes(digest))).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('reads mirrors from registries.conf ([[registry.mirror]])', async () => {
    const conf = join(work.path, `registries-${++n}.conf`);
    await writeFile(conf, `[[registry]]\nprefix = "${upstream.host}"\nlocation = "${upstream.host}"\n\n[[registry.mirror]]\nlocation = "${mirror.host}"\n`);
    const mirrorBlobs = gets(mirror, 'blobs');
    const { result } = await pullWith({ registriesConf: conf });
    expect(result.images[0]!.digest).toBe(digest);
    expect(gets(mirror, 'blobs') - mirrorBlobs).toBe(image.layers.length + 1);
  });

  it('reads mirrors from a containerd hosts dir (HOST/hosts.toml)', async () => {
    const hostsDir = join(work.path, `hosts-${++n}`);
    await mkdir(join(hostsDir, upstream.host), { recursive: true });
    await writeFile(join(hostsDir, upstream.host, 'hosts.toml'), `server = "http://${upstream.host}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const mirrorBlobs = gets(mirror, 'blobs');
    const { result } = await pullWith({ hostsDir });
    expect(result.images[0]!.digest).toBe(digest);
    expect(gets(mirror, 'blobs') - mirrorBlobs).toBe(image.layers.length + 1);
  });
});
