// The built CLI's network flags against real servers: a TLS docker-registry with a test CA (--certs-dir,
// SSL_CERT_FILE), tinyproxy via HTTPS_PROXY, --mirror (down, then up) and CONTAINERS_REGISTRIES_CONF,
// and --max-wait against the fake registry's 429s.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDray, tempDir } from '../helpers/cli.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { buildImage, buildLayer, type BuiltImage } from '../helpers/image-builder.js';
import { pushImage } from '../helpers/push.js';
import { freePort, startRegistry, type RegistryServer } from '../helpers/registry-server.js';
import { makePki, type TestPki } from '../component/network/certs.js';
import { startTinyproxy, type Tinyproxy } from '../component/network/tinyproxy.js';

const REPO = 'net/app';
let work: { path: string; remove(): Promise<void> };
let pki: TestPki;
let upstream: RegistryServer;
let mirror: RegistryServer;
let tls: RegistryServer;
let proxy: Tinyproxy;
let fake: FakeRegistry;
let image: BuiltImage;
let digest: string;
let n = 0;

beforeAll(async () => {
  work = await tempDir('dray-e2e-net-');
  pki = await makePki(work.path);
  upstream = await startRegistry();
  image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'n.txt', content: 'network e2e\n' }])] });
  digest = await pushImage(upstream.url, REPO, image, { tag: '1' });
  [mirror, tls] = await Promise.all([
    startRegistry({ storageDir: upstream.storageDir }),
    startRegistry({ storageDir: upstream.storageDir, tls: { certificate: pki.serverCert, key: pki.serverKey } }),
  ]);
  proxy = await startTinyproxy(work.path);
  fake = await startFakeRegistry();
  fake.seed(REPO, image, '1');
});

afterAll(async () => {
  await proxy?.stop();
  await fake?.close();
  await Promise.all([mirror?.stop(), tls?.stop()]);
  await upstream?.stop();
  await work?.remove();
});

/** Runs dray pull with a fresh cache, no system config and no proxy unless `env` sets them. */
function dray(args: string[], env: Record<string, string | undefined> = {}, direct = false) {
  const empty = join(work.path, 'none');
  return runDray(['pull', '--progress', 'plain', '--cache', join(work.path, `cache-${++n}`), '--certs-dir', empty, '--hosts-dir', '', ...args], {
    env: { HTTPS_PROXY: undefined, HTTP_PROXY: undefined, https_proxy: undefined, http_proxy: undefined, SSL_CERT_FILE: undefined, CONTAINERS_REGISTRIES_CONF: join(empty, 'registries.conf'), ...env },
    direct,
  });
}

function blobGets(server: RegistryServer): number {
  return server.logs().split('\n').filter((l) => l.includes(`"GET /v2/${REPO}/blobs/`)).length;
}

describe('dray pull: network flags', () => {
  it('--help lists the network flags', async () => {
    const run = await runDray(['pull', '--help']);
    for (const flag of ['--insecure-registry', '--ca-file', '--certs-dir', '--mirror', '--registries-conf', '--hosts-dir', '--max-wait']) expect(run.stdout).toContain(flag);
  });

  it('refuses an untrusted TLS registry with exit 5 and a hint, then trusts it via --certs-dir or SSL_CERT_FILE', async () => {
    const refused = await dray([`${tls.host}/${REPO}:1`]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/hint: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted/);
    const certs = join(work.path, 'certs');
    await mkdir(join(certs, tls.host), { recursive: true });
    await copyFile(pki.ca, join(certs, tls.host, 'ca.crt'));
    const viaDir = await dray(['--certs-dir', certs, `${tls.host}/${REPO}:1`]);
    expect(viaDir.code).toBe(0);
    expect(viaDir.stdout.trim()).toBe(`${tls.host}/${REPO}:1@${digest}`);
    const viaEnv = await dray([`${tls.host}/${REPO}:1`], { SSL_CERT_FILE: pki.ca });
    expect(viaEnv.code).toBe(0);
  });

  it('NODE_EXTRA_CA_CERTS: dray trusts its CAs itself, and node, started by bin/dray.js, never reads it', async () => {
    const trusted = await dray([`${tls.host}/${REPO}:1`], { NODE_EXTRA_CA_CERTS: pki.ca }, true);
    expect(trusted.stderr).not.toMatch(/warning|certificate/i);
    expect(trusted.code).toBe(0);
    const missing = join(work.path, 'no-such-ca.pem');
    const plain = await dray([`${upstream.host}/${REPO}:1`], { NODE_EXTRA_CA_CERTS: missing }, true);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain(`cannot read ${missing}`); // dray's warning: a missing file is not an error, as in node
    expect(plain.stderr).not.toContain('Ignoring extra certs'); // node's own start-up warning: node never saw the variable
    const viaNode = await dray([`${upstream.host}/${REPO}:1`], { NODE_EXTRA_CA_CERTS: missing });
    expect(viaNode.code).toBe(0);
    expect(viaNode.stderr).toContain('Ignoring extra certs'); // `node bin/dray.js` skips the shell line: node reads it at start-up
  });

  it('goes through HTTPS_PROXY with a CONNECT tunnel', async () => {
    const run = await dray(['--ca-file', pki.ca, `${tls.host}/${REPO}:1`], { HTTPS_PROXY: proxy.url });
    expect(run.code).toBe(0);
    expect(await proxy.log()).toContain(`CONNECT ${tls.host}`);
  });

  it('--mirror: a mirror that is down is skipped with a warning, the next one serves the blobs', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const [up, mir] = [blobGets(upstream), blobGets(mirror)];
    const run = await dray(['--mirror', `${upstream.host}=${closed}`, '--mirror', `${upstream.host}=${mirror.host}`, `${upstream.host}/${REPO}:1`]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`mirror ${closed} failed`);
    expect(blobGets(mirror) - mir).toBe(image.layers.length + 1);
    expect(blobGets(upstream)).toBe(up);
  });

  it('reads mirrors from CONTAINERS_REGISTRIES_CONF', async () => {
    const conf = join(work.path, 'registries.conf');
    await writeFile(conf, `[[registry]]\nlocation = "${upstream.host}"\n[[registry.mirror]]\nlocation = "${mirror.host}"\n`);
    const mir = blobGets(mirror);
    const run = await dray([`${upstream.host}/${REPO}:1`], { CONTAINERS_REGISTRIES_CONF: conf });
    expect(run.code).toBe(0);
    expect(blobGets(mirror) - mir).toBe(image.layers.length + 1);
  });

  it('--max-wait: a 429 asking for longer stops at once with the reset time and advice (exit 5)', async () => {
    fake.faults = { status: { status: 429, path: /\/manifests\//, times: Infinity, retryAfter: 3600, headers: { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600' } } };
    const run = await dray(['--max-wait', '10s', `${fake.host}/${REPO}:1`]);
    fake.faults = {};
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/error\[ERR_RATE_LIMITED\]: .*rate limit reached \(100 pulls per 6h\); it resets at .* \(in 1h\), longer than --max-wait 10s/);
    expect(run.stderr).toMatch(/hint: log in .*--mirror/);
  });
});
