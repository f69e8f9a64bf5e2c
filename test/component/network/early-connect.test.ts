import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkError } from '../../../src/errors.js';
import { openEarlyConnections } from '../../../src/registry/early-connect.js';
import { createUndiciSend } from '../../../src/registry/undici-send.js';
import type { HttpResponse } from '../../../src/registry/types.js';
import { tempDir } from '../../helpers/cli.js';
import { makePki } from './certs.js';

/** A plain HTTP server that remembers every connection and which connection served each request. */
async function startServer(): Promise<{ server: Server; port: number; sockets: Socket[]; servedBy: Socket[] }> {
  const sockets: Socket[] = [];
  const servedBy: Socket[] = [];
  const server = createServer((req, res) => {
    servedBy.push(req.socket);
    res.end('ok');
  });
  server.on('connection', (s: Socket) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets, servedBy };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function drain(res: HttpResponse): Promise<void> {
  for await (const _ of res.body) void _;
}

describe('early connections', () => {
  it('carry the first requests to their origin: no connection beyond the early ones', async () => {
    const srv = await startServer();
    servers.push(srv.server);
    const early = openEarlyConnections({ protocol: 'http:', hostname: '127.0.0.1', port: srv.port }, 2);
    await new Promise((resolve) => setTimeout(resolve, 50)); // both handshakes done before dray would send
    expect(srv.sockets).toHaveLength(2);
    const http = createUndiciSend({ early });
    const url = new URL(`http://127.0.0.1:${srv.port}/v2/`);
    const responses = await Promise.all([1, 2].map(() => http.send({ method: 'GET', url, headers: {} })));
    await Promise.all(responses.map(drain));
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(srv.sockets).toHaveLength(2); // the requests rode the early connections
    expect(new Set(srv.servedBy.map((s) => srv.sockets.indexOf(s)))).toEqual(new Set([0, 1]));
    await http.close();
  });

  it('work for a host name, looked up rather than an IP literal', async () => {
    const srv = await startServer();
    servers.push(srv.server);
    const early = openEarlyConnections({ protocol: 'http:', hostname: 'localhost', port: srv.port }, 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const http = createUndiciSend({ early });
    const url = new URL(`http://localhost:${srv.port}/v2/`);
    const responses = await Promise.all([1, 2].map(() => http.send({ method: 'GET', url, headers: {} })));
    await Promise.all(responses.map(drain));
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(srv.sockets).toHaveLength(2);
    await http.close();
  });

  it('are taken while still connecting', async () => {
    const srv = await startServer();
    servers.push(srv.server);
    const early = openEarlyConnections({ protocol: 'http:', hostname: '127.0.0.1', port: srv.port }, 1);
    const http = createUndiciSend({ early }); // no wait: the request meets a socket mid-handshake
    const res = await http.send({ method: 'GET', url: new URL(`http://127.0.0.1:${srv.port}/v2/`), headers: {} });
    await drain(res);
    expect(res.status).toBe(200);
    expect(srv.sockets).toHaveLength(1);
    await http.close();
  });

  it('are left alone for another origin, and closed with the transport', async () => {
    const [a, b] = [await startServer(), await startServer()];
    servers.push(a.server, b.server);
    const early = openEarlyConnections({ protocol: 'http:', hostname: '127.0.0.1', port: a.port }, 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const http = createUndiciSend({ early });
    const res = await http.send({ method: 'GET', url: new URL(`http://127.0.0.1:${b.port}/v2/`), headers: {} });
    await drain(res);
    expect(b.sockets).toHaveLength(1); // its own, fresh connection
    expect(a.servedBy).toHaveLength(0);
    const closed = a.sockets.map((s) => new Promise((resolve) => s.once('close', resolve)));
    await http.close();
    await Promise.all(closed); // the unused early connections went away with the run
  });

  it('that failed give way to a fresh connection, and the request never sees their error', async () => {
    const srv = await startServer();
    const port = srv.port;
    await new Promise((resolve) => srv.server.close(resolve)); // nothing listens: the early connect is refused
    const early = openEarlyConnections({ protocol: 'http:', hostname: '127.0.0.1', port }, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = createServer((req, res) => res.end('ok'));
    servers.push(again);
    await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
    const http = createUndiciSend({ early });
    const res = await http.send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/`), headers: {} });
    await drain(res);
    expect(res.status).toBe(200);
    await http.close();
  });
});

describe('early connections to a TLS registry', () => {
  it('carry TLS negotiated with the run\'s settings: verified against its CA, refused without it', async () => {
    const work = await tempDir('dray-early-tls-');
    try {
      const pki = await makePki(work.path);
      const [cert, key, ca] = await Promise.all([readFile(pki.serverCert, 'utf8'), readFile(pki.serverKey, 'utf8'), readFile(pki.ca, 'utf8')]);
      const sockets: Socket[] = [];
      const server = createHttpsServer({ cert, key }, (req, res) => res.end('ok'));
      server.on('connection', (s: Socket) => sockets.push(s));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const url = new URL(`https://127.0.0.1:${port}/v2/`);

      const trusted = createUndiciSend({ early: openEarlyConnections({ protocol: 'https:', hostname: '127.0.0.1', port }, 1), tls: async () => ({ ca: [ca], verify: true }) });
      const res = await trusted.send({ method: 'GET', url, headers: {} });
      await drain(res);
      expect(res.status).toBe(200);
      expect(sockets).toHaveLength(1); // the early one, with TLS on top
      await trusted.close();

      const untrusted = createUndiciSend({ early: openEarlyConnections({ protocol: 'https:', hostname: '127.0.0.1', port }, 1), tls: async () => ({ ca: [], verify: true }) });
      const refused = await untrusted.send({ method: 'GET', url, headers: {} }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(NetworkError);
      expect(String((refused as NetworkError).hint)).toMatch(/not trusted/);
      expect(sockets).toHaveLength(2); // it really was the early connection that was refused
      await untrusted.close();
    } finally {
      await work.remove();
    }
  });
});
