/**
 * A private containerd for the `ctr content fetch` peer: its own root, state and socket in a temp
 * directory, CRI and the snapshotters a content fetch never touches disabled, so it neither collides
 * with a system containerd nor needs anything but a writable directory.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { runTool } from './fixtures.js';

/** containerd boots in ~30 ms here; a loaded machine may need seconds. */
const DEFAULT_START_TIMEOUT_MS = 20_000;

/** Plugins a content fetch does not use; disabling them keeps startup quick and quiet. */
const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

/** A running private containerd. */
export interface Containerd {
  readonly socket: string;
  readonly pid: number;
  /** Where its content store keeps blobs (`<root>/io.containerd.content.v1.content/blobs/sha256`). */
  readonly blobDir: string;
  stop(): Promise<void>;
}

/** Starts containerd under `dir` and waits until `ctr version` answers. */
export async function startContainerd(dir: string, signal: AbortSignal): Promise<Containerd> {
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'containerd.sock');
  await mkdir(root, { recursive: true });
  const config = [
    'version = 2',
    `root = "${root}"`,
    `state = "${path.join(dir, 'state')}"`,
    `disabled_plugins = ${JSON.stringify(DISABLED_PLUGINS)}`,
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '',
  ].join('\n');
  const configPath = path.join(dir, 'config.toml');
  await writeFile(configPath, config);
  const child = spawn('containerd', ['--config', configPath, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + DEFAULT_START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`containerd exited early:\n${log}`);
    try {
      await runTool('ctr', ['--address', socket, 'version'], signal);
      break;
    } catch (err) {
      if (signal.aborted || Date.now() > deadline) {
        await stop();
        throw new Error(`containerd did not start:\n${log}`, { cause: err });
      }
      await delay(100);
    }
  }
  const blobDir = path.join(root, 'io.containerd.content.v1.content', 'blobs', 'sha256');
  return { socket, pid: child.pid!, blobDir, stop };
}
