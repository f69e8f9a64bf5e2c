/**
 * Self-check of the WAN emulator against a raw TCP source (no registry): it must add the latency,
 * enforce both rate caps, drop at the byte count asked for, and stay cheap on CPU. Exits non-zero
 * when any check is off by more than its tolerance. Run: node bench/out/js/proxy-check.js
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { startWanProxy, type WanProfile } from './wan-proxy.js';

const MB = 1_000_000;
const PATTERN = randomBytes(1024 * 1024);

/** A server that answers any first bytes with `size` bytes, then closes. */
async function startSource(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (request) => {
      let left = Number(request.toString());
      const push = (): void => {
        while (left > 0) {
          const piece = PATTERN.subarray(0, Math.min(left, PATTERN.length));
          left -= piece.length;
          if (!socket.write(piece)) return void socket.once('drain', push);
        }
        socket.end();
      };
      push();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Fetched {
  readonly bytes: number;
  readonly firstByteMs: number;
  readonly totalMs: number;
}

/** Connects, asks for `size` bytes, and times the answer. */
function fetchBytes(port: number, size: number): Promise<Fetched> {
  return new Promise((resolve) => {
    const started = performance.now();
    let bytes = 0;
    let firstByteMs = -1;
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(String(size)));
    socket.on('data', (chunk: Buffer) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - started;
      bytes += chunk.length;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ bytes, firstByteMs, totalMs: performance.now() - started }));
  });
}

const failures: string[] = [];
function check(name: string, measured: number, low: number, high: number, unit: string): void {
  const ok = measured >= low && measured <= high;
  if (!ok) failures.push(name);
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${measured.toFixed(2)} ${unit} (want ${low}–${high})\n`);
}

async function withProxy<T>(port: number, profile: WanProfile, body: (proxyPort: number) => Promise<T>): Promise<T> {
  const proxy = await startWanProxy({ host: '127.0.0.1', port }, profile);
  try {
    return await body(proxy.port);
  } finally {
    await proxy.close();
  }
}

async function main(): Promise<void> {
  const source = await startSource();
  try {
    const size = 330 * MB;
    const direct = await fetchBytes(source.port, size);
    const cpu = process.cpuUsage();
    const proxied = await withProxy(source.port, { rttMs: 0 }, (p) => fetchBytes(p, size));
    const used = process.cpuUsage(cpu);
    // Client, source and proxy share this process; the proxy's share is what the lan row adds.
    process.stdout.write(`lan: direct ${(size / direct.totalMs / 1000).toFixed(0)} MB/s, proxied ${(size / proxied.totalMs / 1000).toFixed(0)} MB/s, process CPU ${((used.user + used.system) / 1e6).toFixed(2)} s\n`);
    check('lan: all bytes through', proxied.bytes / MB, 330, 330, 'MB');
    check('lan: proxied throughput vs direct', direct.totalMs / proxied.totalMs, 0.5, Infinity, '×');

    const wan: WanProfile = { rttMs: 100, connectionRate: 10 * MB, linkRate: 60 * MB };
    const tiny = await withProxy(source.port, wan, (p) => fetchBytes(p, 100));
    check('wan: first byte after handshake + request RTT', tiny.firstByteMs, 195, 260, 'ms');
    const one = await withProxy(source.port, wan, (p) => fetchBytes(p, 20 * MB));
    check('wan: one connection rate', 20 * MB / ((one.totalMs - one.firstByteMs) / 1000) / MB, 9, 10.6, 'MB/s');
    const eight = await withProxy(source.port, wan, async (p) => {
      const started = performance.now();
      const all = await Promise.all(Array.from({ length: 8 }, () => fetchBytes(p, 30 * MB)));
      return { bytes: all.reduce((s, f) => s + f.bytes, 0), ms: performance.now() - started - 200 };
    });
    check('wan: 8 connections share the 60 MB/s link', eight.bytes / (eight.ms / 1000) / MB, 54, 63, 'MB/s');
    const dropped = await withProxy(source.port, { ...wan, dropAfterBytes: 4 * MB }, (p) => fetchBytes(p, 20 * MB));
    check('faults: connection cut after exactly 4 MB', dropped.bytes / MB, 4, 4, 'MB');
  } finally {
    await source.close();
  }
  if (failures.length) {
    process.stdout.write(`${failures.length} check(s) failed\n`);
    process.exitCode = 1;
  }
}

await main();
