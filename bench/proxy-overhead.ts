/**
 * Measures what the WAN emulator itself costs: the largest blob fetched by curl (a separate process,
 * so the bench process's CPU time is the proxy's alone) straight from the registry and through an
 * unlimited proxy.
 */
import { performance } from 'node:perf_hooks';
import { runTool, type Fixture } from './fixtures.js';
import type { ProxyOverhead } from './results.js';
import { startWanProxy } from './wan-proxy.js';

/** Fetches the fixture's largest layer directly and through a lan proxy; returns both rates. */
export async function measureProxyOverhead(registry: { host: string; port: number }, fixture: Fixture, signal: AbortSignal): Promise<ProxyOverhead> {
  const blob = [...fixture.layers].sort((a, b) => b.size - a.size)[0]!;
  const pathPart = `/v2/bench/${fixture.spec.name}/blobs/${blob.digest}`;
  const direct = await curlSeconds(`http://${registry.host}:${registry.port}${pathPart}`, signal);
  const proxy = await startWanProxy(registry, { rttMs: 0 }, signal);
  try {
    const cpu = process.cpuUsage();
    const proxied = await curlSeconds(`http://127.0.0.1:${proxy.port}${pathPart}`, signal);
    const used = process.cpuUsage(cpu);
    if (proxy.stats().bytesServed < blob.size) throw new Error('proxy served fewer bytes than the blob');
    return {
      bytes: blob.size,
      directMBps: blob.size / direct / 1e6,
      proxiedMBps: blob.size / proxied / 1e6,
      proxyCpuSeconds: (used.user + used.system) / 1e6,
    };
  } finally {
    await proxy.close();
  }
}

async function curlSeconds(url: string, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  await runTool('curl', ['-sSf', '-o', '/dev/null', url], signal);
  return (performance.now() - started) / 1000;
}
