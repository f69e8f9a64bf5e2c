// A real docker-registry serving HTTPS with a CA the test generates: refused without the CA, pulled
// with it from a certs dir or a CA file (added to the roots), and a registry that demands a client
// certificate gets the pair from the certs dir.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkOptions } from '../../../src/config/network.js';
import type { PullEvent } from '../../../src/events/types.js';
import { pull } from '../../../src/pull.js';
import { tempDir } from '../../helpers/cli.js';
import { buildImage, buildLayer, type BuiltImage } from '../../helpers/image-builder.js';
import { pushImage } from '../../helpers/push.js';
import { startRegistry, type RegistryServer } from '../../helpers/registry-server.js';
import { makePki, type TestPki } from './certs.js';

let work: { path: string; remove(): Promise<void> };
let pki: TestPki;
let seed: RegistryServer;
let tlsRegistry: RegistryServer;
let mtlsRegistry: RegistryServer;
let image: BuiltImage;
let digest: string;
let n = 0;

beforeAll(async () => {
  work = await tempDir('dray-tls-');
  pki = await makePki(work.path);
  seed = await startRegistry();
  image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'hello.txt', content: 'over TLS\n' }])] });
  digest = await pushImage(seed.url, 'tls/app', image, { tag: '1' });
  // Same storage, served over TLS: the image is there without pushing through TLS.
  [tlsRegistry, mtlsRegistry] = await Promise.all([
    startRegistry({ storageDir: seed.storageDir, tls: { certificate: pki.serverCert, key: pki.serverKey } }),
    startRegistry({ storageDir: seed.storageDir, tls: { certificate: pki.serverCert, key: pki.serverKey, clientCas: [pki.ca] } }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([tlsRegistry?.stop(), mtlsRegistry?.stop()]);
  await seed?.stop();
  await work?.remove();
});

async function certsDirFor(host: string, files: Record<string, string>): Promise<string> {
  const dir = join(work.path, `certs-${++n}`);
  await mkdir(join(dir, host), { recursive: true });
  for (const [name, from] of Object.entries(files)) await copyFile(from, join(dir, host, name));
  return dir;
}

function pullFrom(registry: RegistryServer, network: NetworkOptions, events: PullEvent[] = []) {
  return pull([`${registry.host}/tls/app:1`], { cacheDir: join(work.path, `cache-${++n}`), network, onEvent: (e) => events.push(e) });
}

describe('TLS', () => {
  it('refuses a registry whose certificate no trusted CA signed (exit 5, certificate named)', async () => {
    const dir = await certsDirFor(tlsRegistry.host, {}); // a certs dir for the host without its CA: system roots only
    const result = await pullFrom(tlsRegistry, { certsDirs: [dir], caFiles: [] });
    // a TLS server answered with a certificate we cannot verify: no fallback to plain HTTP
    expect(result.exitCode).toBe(5);
    expect(result.images[0]!.error!.hint).toContain('--insecure-registry');
    const withOtherCa = await pullFrom(tlsRegistry, { caFiles: [pki.clientCert], certsDirs: [] }); // a PEM that is not the issuer
    expect(withOtherCa.ok).toBe(false);
    expect(withOtherCa.exitCode).toBe(5);
    expect(withOtherCa.images[0]!.error!.message).toMatch(/certificate/i);
  });

  it('trusts the CA from <certs-dir>/<host:port>/ca.crt and pulls over HTTPS', async () => {
    const dir = await certsDirFor(tlsRegistry.host, { 'ca.crt': pki.ca });
    const result = await pullFrom(tlsRegistry, { certsDirs: [dir] });
    expect(result.images[0]!.error).toBeUndefined();
    expect(result.images[0]!.digest).toBe(digest);
    expect(tlsRegistry.logs()).toMatch(/GET \/v2\/tls\/app\/blobs\//);
  });

  it('trusts the CA from a --ca-file PEM for every host', async () => {
    const result = await pullFrom(tlsRegistry, { caFiles: [pki.ca] });
    expect(result.images[0]!.digest).toBe(digest);
  });

  it('presents the client certificate pair from the certs dir to a registry that demands one', async () => {
    const caOnly = await certsDirFor(mtlsRegistry.host, { 'ca.crt': pki.ca });
    const refused = await pullFrom(mtlsRegistry, { certsDirs: [caOnly] });
    expect(refused.ok).toBe(false);
    const withPair = await certsDirFor(mtlsRegistry.host, { 'ca.crt': pki.ca, 'client.cert': pki.clientCert, 'client.key': pki.clientKey });
    const result = await pullFrom(mtlsRegistry, { certsDirs: [withPair] });
    expect(result.images[0]!.error).toBeUndefined();
    expect(result.images[0]!.digest).toBe(digest);
  });

  it('rejects a client certificate without its key (usage error naming the file)', async () => {
    const dir = await certsDirFor(tlsRegistry.host, { 'ca.crt': pki.ca, 'client.cert': pki.clientCert });
    const result = await pullFrom(tlsRegistry, { certsDirs: [dir] });
    expect(result.exitCode).toBe(2);
    expect(result.images[0]!.error!.message).toContain('client.cert has no matching client.key');
  });

  it('skips verification for a host marked insecure that has TLS material', async () => {
    const dir = await certsDirFor(tlsRegistry.host, { 'client.cert': pki.clientCert, 'client.key': pki.clientKey }); // TLS, but no CA
    const refused = await pullFrom(tlsRegistry, { certsDirs: [dir] });
    expect(refused.ok).toBe(false);
    const result = await pull([`${tlsRegistry.host}/tls/app:1`], { cacheDir: join(work.path, `cache-${++n}`), network: { certsDirs: [dir] }, insecure: [tlsRegistry.host] });
    expect(result.images[0]!.digest).toBe(digest);
  });
});
