// A real forward proxy (Debian's tinyproxy, started by the test): a TLS registry is reached through a
// CONNECT tunnel, a plain-HTTP one through absolute-URI GETs, and NO_PROXY keeps traffic off the proxy.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../../src/pull.js';
import { proxyConfigFromEnv } from '../../../src/registry/proxy.js';
import { tempDir } from '../../helpers/cli.js';
import { buildImage, buildLayer } from '../../helpers/image-builder.js';
import { pushImage } from '../../helpers/push.js';
import { freePort, startRegistry, type RegistryServer } from '../../helpers/registry-server.js';
import { makePki, type TestPki } from './certs.js';
import { startTinyproxy, type Tinyproxy } from './tinyproxy.js';

let work: { path: string; remove(): Promise<void> };
let pki: TestPki;
let plain: RegistryServer;
let tls: RegistryServer;
let proxy: Tinyproxy;
let digest: string;
let n = 0;

beforeAll(async () => {
  work = await tempDir('dray-proxy-');
  pki = await makePki(work.path);
  plain = await startRegistry();
  const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'p.txt', content: 'through a proxy\n' }])] });
  digest = await pushImage(plain.url, 'proxied/app', image, { tag: '1' });
  tls = await startRegistry({ storageDir: plain.storageDir, tls: { certificate: pki.serverCert, key: pki.serverKey } });
  proxy = await startTinyproxy(work.path);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await tls?.stop();
  await plain?.stop();
  await work?.remove();
});

function pullVia(registry: RegistryServer, env: Record<string, string>) {
  return pull([`${registry.host}/proxied/app:1`], {
    cacheDir: join(work.path, `cache-${++n}`),
    network: { caFiles: [pki.ca], proxy: proxyConfigFromEnv(env) },
  });
}

/** An HTTPS forward proxy (TLS to the proxy itself, then CONNECT), with the test server certificate; counts tunnels. */
async function startTlsProxy(): Promise<{ url: string; tunnels: string[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  const server = createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) });
  server.on('connect', (req: { url?: string }, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `https://127.0.0.1:${port}`, tunnels, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('proxies', () => {
  it('verifies an https:// proxy with the run\'s CAs, and refuses it without them', async () => {
    const tlsProxy = await startTlsProxy();
    try {
      const result = await pullVia(tls, { HTTPS_PROXY: tlsProxy.url });
      expect(result.images[0]!.error).toBeUndefined();
      expect(result.images[0]!.digest).toBe(digest);
      expect(tlsProxy.tunnels).toContain(tls.host);
      const untrusted = await pull([`${tls.host}/proxied/app:1`], {
        cacheDir: join(work.path, `cache-${++n}`),
        // the registry's CA only for its own host: the proxy's certificate is then not trusted
        network: { certsDirs: [], proxy: proxyConfigFromEnv({ HTTPS_PROXY: tlsProxy.url }) },
        insecure: [],
      });
      expect(untrusted.ok).toBe(false);
    } finally {
      await tlsProxy.close();
    }
  });

  it('tunnels a TLS registry through CONNECT (HTTPS_PROXY)', async () => {
    const result = await pullVia(tls, { HTTPS_PROXY: proxy.url });
    expect(result.images[0]!.error).toBeUndefined();
    expect(result.images[0]!.digest).toBe(digest);
    expect(await proxy.log()).toContain(`CONNECT ${tls.host}`);
  });

  it('forwards plain-HTTP requests as absolute URIs (http_proxy), after trying TLS through a tunnel', async () => {
    const result = await pullVia(plain, { http_proxy: proxy.url, https_proxy: proxy.url });
    expect(result.images[0]!.digest).toBe(digest);
    const log = await proxy.log();
    expect(log).toContain(`GET http://${plain.host}/v2/proxied/app/blobs/`);
    expect(log).toContain(`GET http://${plain.host}/v2/proxied/app/manifests/`);
  });

  it('connects directly to hosts NO_PROXY lists (host:port entry)', async () => {
    const before = await proxy.log();
    const result = await pullVia(tls, { HTTPS_PROXY: proxy.url, NO_PROXY: `example.com, ${tls.host}` });
    expect(result.images[0]!.digest).toBe(digest);
    expect((await proxy.log()).slice(before.length)).not.toContain(tls.host);
  });

  it('fails with a network error when the proxy is down', async () => {
    const result = await pullVia(tls, { HTTPS_PROXY: `http://127.0.0.1:${await freePort()}` }); // nothing listens there
    expect(result.exitCode).toBe(5);
  });
});
