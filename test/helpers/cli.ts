/** Runs the built CLI (bin/dray.js → dist/) as a child process, as a user or CI would. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const DRAY_BIN = join(import.meta.dirname, '../../bin/dray.js');

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Buffer;
}

export interface CliOptions {
  readonly env?: Record<string, string | undefined>;
  readonly input?: string;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Run bin/dray.js as an executable (its shell line, then the node on PATH) instead of `node bin/dray.js`. */
  readonly direct?: boolean;
}

/** Runs `dray ARGS` and resolves with its exit code and output (never rejects on a non-zero exit). */
export function runDray(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const [command, argv] = options.direct ? [DRAY_BIN, args] : [process.execPath, [DRAY_BIN, ...args]];
    const env: Record<string, string | undefined> = { ...process.env, CI: 'true', NO_COLOR: '1', ...options.env };
    // the same node as the tests', first on PATH for the shell line's `exec node`
    if (options.direct) env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
    const child = spawn(command, argv, {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Makes a temp dir and returns it with its cleanup. */
export async function tempDir(prefix = 'dray-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
