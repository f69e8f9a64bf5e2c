/**
 * Runs one tool as a child process and measures its wall time and peak RSS. Peak RSS comes from GNU
 * time (`/usr/bin/time -f %M`, the kernel's ru_maxrss of the child), which sees the high-water mark
 * polling /proc would miss between samples.
 */
import { spawn } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** GNU time's path on Debian (`apt-get install time`). */
export const GNU_TIME = '/usr/bin/time';

/** What one measured command did. */
export interface Measured {
  readonly wallMs: number;
  /** Peak resident set of the child in bytes, or undefined without GNU time. */
  readonly peakRssBytes: number | undefined;
  readonly exitCode: number | null;
  /** The last 4 KB of stderr, for failures. */
  readonly stderrTail: string;
}

/** Options for {@link runMeasured}. */
export interface MeasureOptions {
  readonly signal: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Whether GNU time is installed (checked once by the runner, reported in the doc). */
export async function hasGnuTime(): Promise<boolean> {
  return access(GNU_TIME).then(
    () => true,
    () => false,
  );
}

let counter = 0;

/** Runs `command args` to completion, timing it from spawn to exit. */
export async function runMeasured(command: string, args: readonly string[], options: MeasureOptions): Promise<Measured> {
  const timed = await hasGnuTime();
  const rssFile = path.join(os.tmpdir(), `dray-bench-rss-${process.pid}-${counter++}`);
  const argv = timed ? [GNU_TIME, '-f', '%M', '-o', rssFile, command, ...args] : [command, ...args];
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    signal: options.signal,
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let stderrTail = '';
  child.stderr.on('data', (chunk: Buffer) => (stderrTail = (stderrTail + chunk.toString()).slice(-4000)));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const wallMs = performance.now() - started;
  let peakRssBytes: number | undefined;
  if (timed) {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    // GNU time appends "Command exited with non-zero status N" before the value on failure.
    const kb = Number(text.trim().split('\n').pop());
    peakRssBytes = Number.isFinite(kb) && kb > 0 ? kb * 1024 : undefined;
    await rm(rssFile, { force: true });
  }
  return { wallMs, peakRssBytes, exitCode, stderrTail };
}

/** Peak RSS of a running process (VmHWM), e.g. the containerd daemon that `ctr` drives. */
export async function processPeakRss(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}
