// Shared by the multi-process and disk-full e2e tests: spawn the built CLI with kill control, read the
// fake registry's request log per blob, and check that every file in blobs/ hashes to its name.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLedger, coveredBytes } from '../../src/cache/ledger.js';
import type { FakeRegistry, FakeRequest } from '../helpers/fake-registry.js';
import { DRAY_BIN, type CliRun } from '../helpers/cli.js';

export interface DrayProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly done: Promise<CliRun>;
}

/** Starts `dray ARGS` as a child process; `done` resolves when it exits (never rejects on a non-zero exit). */
export function startDray(args: readonly string[], options: { env?: Record<string, string>; uid?: number; gid?: number } = {}): DrayProcess {
  const child = spawn(process.execPath, [DRAY_BIN, ...args], {
    env: { ...process.env, CI: 'true', NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
  });
  child.stdin.end();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
  return { child, done };
}

/** Polls `predicate` every 20 ms until it holds; throws after `timeoutMs` naming `what`. */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Full-body and ranged GETs of one blob at the registry (the log is in arrival order). */
export function blobGets(registry: FakeRegistry, digest: string, from = 0): FakeRequest[] {
  return registry.requests.slice(from).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`));
}

/** Body bytes the registry served for one blob (every GET, ranged or not, from log index `from`). */
export function bytesServed(registry: FakeRegistry, digest: string, from = 0): number {
  return blobGets(registry, digest, from).reduce((sum, r) => sum + r.bytesSent, 0);
}

/** Returns the first byte a Range header asks for ("bytes=N-M" → N), 0 when there is none. */
export function rangeStart(request: FakeRequest): number {
  const m = /^bytes=(\d+)-/.exec(request.range ?? '');
  return m ? Number(m[1]) : 0;
}

/** Returns the names of committed sha256 blobs whose bytes do not hash to their name, and how many were checked. */
export async function badBlobs(cache: string): Promise<{ checked: number; bad: string[] }> {
  const dir = join(cache, 'blobs', 'sha256');
  const names = await readdir(dir).catch(() => [] as string[]);
  const bad: string[] = [];
  for (const name of names) {
    const hex = createHash('sha256').update(await readFile(join(dir, name))).digest('hex');
    if (hex !== name) bad.push(name);
  }
  return { checked: names.length, bad };
}

/** Bytes the ingest ledger of `digest` says are on disk (0 when there is none yet). */
export async function ledgerBytes(cache: string, digest: string): Promise<number> {
  const text = await readFile(join(cache, 'ingest', digest.replace(':', '-'), 'ledger.json'), 'utf8').catch(() => '');
  const ledger = parseLedger(text);
  return ledger ? coveredBytes(ledger.ranges) : 0;
}
