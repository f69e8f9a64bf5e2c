/**
 * Starts Debian's `docker-registry` (CNCF distribution 2.8) on a free loopback port with a storage
 * directory the bench keeps between runs, so pushed fixtures survive reruns.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** How long the registry may take to answer /v2/ after starting; it boots in ~100 ms here. */
const DEFAULT_START_TIMEOUT_MS = 15_000;

/** A running registry. */
export interface RegistryProcess {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:PORT`, the reference prefix. */
  readonly address: string;
  stop(): Promise<void>;
}

/** Asks the kernel for a free loopback port (closed again before returning; the race is benign here). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the registry with storage under `storageDir`, resolving once /v2/ answers. */
export async function startRegistry(storageDir: string, signal: AbortSignal): Promise<RegistryProcess> {
  await mkdir(storageDir, { recursive: true });
  const port = await freePort();
  const configPath = path.join(storageDir, '..', `registry-${port}.yml`);
  await writeFile(configPath, registryConfig(storageDir, port));
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await rm(configPath, { force: true });
  };
  const deadline = Date.now() + DEFAULT_START_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    if (child.exitCode !== null) throw new Error(`docker-registry exited early:\n${log}`);
    if (await answers(`http://127.0.0.1:${port}/v2/`)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer within ${DEFAULT_START_TIMEOUT_MS} ms:\n${log}`);
    }
    await delay(50);
  }
  return { host: '127.0.0.1', port, address: `127.0.0.1:${port}`, stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Minimal config: filesystem storage, no auth, loopback only, quiet logs. */
function registryConfig(storageDir: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}
