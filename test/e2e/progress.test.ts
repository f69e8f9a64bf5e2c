// The built CLI's progress output where users see it: a real terminal (tmux) against a throttled fake
// registry shows per-layer bars and then the summary; a pipe gets plain lines without one escape byte;
// and --metrics-file leaves Prometheus text for runs that succeed, fail at the registry, or are interrupted.
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAY_BIN, runDray, tempDir } from '../helpers/cli.js';
import { FakeRegistry } from '../helpers/fake-registry.js';
import { buildImage, randomLayer, type BuiltImage } from '../helpers/image-builder.js';

const exec = promisify(execFile);
/** Our own tmux server (-L), so the test never touches a user's sessions and can kill everything it made. */
const TMUX_SOCKET = `dray-e2e-${process.pid}`;
const PLATFORM = ['--platform', 'linux/amd64'];

let registry: FakeRegistry;
let image: BuiltImage;
let work: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  work = await tempDir('dray-progress-');
  registry = await FakeRegistry.start();
  // Two incompressible layers above the 1 MB bar threshold, so each gets a bar of its own.
  image = buildImage({ layers: [await randomLayer(1_600_000, 'bars-1'), await randomLayer(1_200_000, 'bars-2')] });
  registry.seed('e2e/bars', image, '1.0');
});

afterAll(async () => {
  await exec('tmux', ['-L', TMUX_SOCKET, 'kill-server']).catch(() => {});
  await registry?.close();
  await work?.remove();
});

/** Parses `name{labels} value` lines of a metrics file into a map keyed by `name{labels}`. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function capturePane(): Promise<string> {
  return (await exec('tmux', ['-L', TMUX_SOCKET, 'capture-pane', '-p', '-J', '-t', 'pull'])).stdout;
}

describe('progress on a real terminal', () => {
  it('shows a bar per layer while downloading, then the summary', { timeout: 60_000 }, async () => {
    registry.faults = { bytesPerSecond: 600_000 };
    const ref = `${registry.host}/e2e/bars:1.0`;
    const cache = join(work.path, 'cache-tty');
    // CI unset: --progress auto must pick the bars because stderr is a terminal.
    const command = `env -u CI node ${DRAY_BIN} pull ${ref} --cache ${cache} ${PLATFORM.join(' ')}; echo "exit=$?"; sleep 60`;
    await exec('tmux', ['-L', TMUX_SOCKET, 'new-session', '-d', '-s', 'pull', '-x', '120', '-y', '30', command]);

    let midRun: string | undefined;
    let final = '';
    for (let i = 0; i < 200 && !/exit=\d+/.test(final); i++) {
      await new Promise((r) => setTimeout(r, 100));
      final = await capturePane();
      const bars = final.split('\n').filter((l) => /^layer [12] .*\[[█░]+\]/.test(l));
      // mid-run: both bars drawn, and at least one part-filled (some bytes landed, not all)
      if (!midRun && bars.length === 2 && bars.some((l) => /█░/.test(l)) && !/exit=/.test(final)) midRun = final;
    }
    expect(midRun, 'a frame with both layer bars while downloading').toBeDefined();
    expect(midRun).toMatch(/^layer 1 +[0-9a-f]{12} \[[█░]+\] .* \/ 1\.6 MB .*downloading/m);
    expect(midRun).toMatch(/^layer 2 +[0-9a-f]{12} \[[█░]+\] .* \/ 1\.2 MB .*downloading/m);
    expect(midRun).toMatch(/^total +\[[█░]+\] .* \/ 2\.8 MB/m);
    expect(midRun).not.toContain('pulled ');
    expect(final).toContain('exit=0');
    expect(final).toContain(`pulled ${ref}@${image.manifest.digest}`);
    expect(final).toMatch(/^3 blobs: 3 downloaded, 0 from cache; .* downloaded, .* from cache in .*; 0 retries$/m);
  });
});

describe('progress in a pipe', () => {
  it.each([
    ['CI set', { CI: 'true' }],
    ['no CI', { CI: undefined }],
  ])('writes plain lines without a single escape byte or carriage return (%s)', async (_name, env) => {
    registry.faults = {};
    const ref = `${registry.host}/e2e/bars:1.0`;
    const run = await runDray(['pull', ref, '--cache', join(work.path, `cache-pipe-${String(env.CI)}`), ...PLATFORM], { env });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^layer 1 [0-9a-f]{12} downloading /m);
    expect(run.stderr).toMatch(/^layer 2 [0-9a-f]{12} done /m);
    expect(run.stderr).toContain(`pulled ${ref}@${image.manifest.digest}`);
    // ESC (every ANSI sequence), CSI as one byte, and CR (in-place redraws)
    for (const byte of ['\x1b', '\x9b', '\r']) expect(run.stderr.includes(byte), JSON.stringify(byte)).toBe(false);
  });
});

describe('--metrics-file', () => {
  it('counts every blob request the registry saw and every byte of a successful run, as the --json stats do', async () => {
    registry.faults = {};
    const metricsDir = join(work.path, 'metrics-ok');
    await exec('mkdir', ['-p', metricsDir]);
    const file = join(metricsDir, 'dray.prom');
    const before = registry.blobGets().length;
    const run = await runDray(['pull', `${registry.host}/e2e/bars:1.0`, '--cache', join(work.path, 'cache-metrics-ok'), ...PLATFORM, '--metrics-file', file, '--json']);
    expect(run.code).toBe(0);
    const m = parseMetrics(await readFile(file, 'utf8'));
    const gets = registry.blobGets().length - before;
    expect(gets).toBe(3);
    expect(m.get('dray_last_run_blob_attempts{outcome="success"}')).toBe(gets);
    expect(m.get('dray_last_run_blob_attempts{outcome="failure"}')).toBe(0);
    expect(m.get('dray_last_run_blobs{outcome="network"}')).toBe(3);
    expect(m.get('dray_last_run_bytes{source="network"}')).toBe(image.config.size + image.layers.reduce((n, l) => n + l.size, 0));
    expect(m.get('dray_last_run_success')).toBe(1);
    expect(m.get('dray_last_run_exit_code')).toBe(0);
    expect(m.get('dray_last_run_images{outcome="success"}')).toBe(1);
    // the scheduler's own counters (pull()'s stats) and the event-derived metrics agree
    const { stats } = JSON.parse(run.stdout) as { stats: { attempts: Record<string, number>; bytesFetched: number; blobs: Record<string, number> } };
    expect(stats.attempts).toEqual({ started: gets, succeeded: gets, failed: 0, cancelled: 0 });
    expect(stats.blobs.fetched).toBe(3);
    expect(stats.bytesFetched).toBe(m.get('dray_last_run_bytes{source="network"}'));
    // written by rename: nothing but the file is left in the directory
    expect(await readdir(metricsDir)).toEqual(['dray.prom']);
  });

  it('is written for a run whose registry always fails, with every attempt counted as a failure', async () => {
    registry.faults = { status: { status: 500, path: /\/blobs\//, times: Infinity } };
    const file = join(work.path, 'failing.prom');
    const before = registry.blobGets().length;
    const run = await runDray(['pull', `${registry.host}/e2e/bars:1.0`, '--cache', join(work.path, 'cache-fail'), ...PLATFORM, '--retries', '2', '--metrics-file', file]);
    registry.faults = {};
    expect(run.code).toBe(5);
    const m = parseMetrics(await readFile(file, 'utf8'));
    const gets = registry.blobGets().length - before;
    expect(gets).toBeGreaterThanOrEqual(2);
    const failed = m.get('dray_last_run_blob_attempts{outcome="failure"}') ?? 0;
    const cancelled = m.get('dray_last_run_blob_attempts{outcome="cancelled"}') ?? 0;
    expect(failed + cancelled).toBe(gets);
    expect(failed).toBeGreaterThanOrEqual(2);
    expect(m.get('dray_last_run_blob_attempts{outcome="success"}')).toBe(0);
    expect(m.get('dray_last_run_retries{reason="ERR_SERVER"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('dray_last_run_blobs{outcome="failed"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('dray_last_run_success')).toBe(0);
    expect(m.get('dray_last_run_exit_code')).toBe(5);
    expect(m.get('dray_last_run_images{outcome="failure"}')).toBe(1);
  });

  it('is written for an interrupted run, the open downloads counted as cancelled', async () => {
    registry.faults = { bytesPerSecond: 200_000 };
    const file = join(work.path, 'interrupted.prom');
    const child = spawn(process.execPath, [DRAY_BIN, 'pull', `${registry.host}/e2e/bars:1.0`, '--cache', join(work.path, 'cache-int'), ...PLATFORM, '--progress', 'json', '--metrics-file', file], {
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const sawProgress = new Promise<void>((resolve) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (/"type":"blob.progress".*"bytes":[1-9]/.test(stderr)) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await sawProgress;
    child.kill('SIGINT');
    const code = await exited;
    registry.faults = {};
    expect(code).toBe(130);
    const m = parseMetrics(await readFile(file, 'utf8'));
    expect(m.get('dray_last_run_blob_attempts{outcome="cancelled"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('dray_last_run_blob_attempts{outcome="unfinished"}')).toBe(0);
    expect(m.get('dray_last_run_bytes{source="network"}')).toBeGreaterThan(0);
    expect(m.get('dray_last_run_exit_code')).toBe(130);
    expect(m.get('dray_last_run_success')).toBe(0);
  });
});
