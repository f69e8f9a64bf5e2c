// Warming lists (`dray pull -f FILE`) with the built CLI against the fake registry: one shared budget
// and dedup (a base layer common to the list is fetched once), a result line per image, the worst
// outcome as exit code, failures isolated unless --fail-fast.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDray, tempDir } from '../helpers/cli.js';
import { FakeRegistry } from '../helpers/fake-registry.js';
import { buildImage, buildLayer, randomLayer, type BuiltImage, type BuiltLayer } from '../helpers/image-builder.js';

const PLATFORM = ['--platform', 'linux/amd64'];

let registry: FakeRegistry;
let base: BuiltLayer;
let web: BuiltImage;
let worker: BuiltImage;
let broken: BuiltImage;
let work: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  work = await tempDir('dray-warming-');
  registry = await FakeRegistry.start();
  base = await randomLayer(400_000, 'warm-base');
  web = buildImage({ layers: [base, await buildLayer([{ type: 'file', path: 'srv/web', content: 'web\n' }])] });
  worker = buildImage({ layers: [base, await buildLayer([{ type: 'file', path: 'srv/worker', content: 'worker\n' }])] });
  broken = buildImage({ layers: [await randomLayer(50_000, 'warm-broken')] });
  registry.seed('apps/web', web, '1.0');
  registry.seed('apps/worker', worker, '1.0');
  registry.seed('apps/broken', broken, '1.0');
});

afterAll(async () => {
  await registry?.close();
  await work?.remove();
});

let runs = 0;
/** A fresh cache per run, so every run really downloads. */
function cacheArgs(): string[] {
  runs += 1;
  return ['--cache', join(work.path, `cache-${runs}`)];
}

async function listFile(lines: readonly string[]): Promise<string> {
  const path = join(work.path, `list-${runs}-${lines.length}.txt`);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

describe('dray pull -f', () => {
  it('fetches a base layer shared by the list once and prints one pinned line per image', async () => {
    registry.faults = {};
    const file = await listFile([
      '# nightly warm-up',
      `${registry.host}/apps/web:1.0`,
      '',
      `  ${registry.host}/apps/worker:1.0   # the queue workers`,
    ]);
    const before = registry.blobGets(base.digest).length;
    const run = await runDray(['pull', '-f', file, ...cacheArgs(), ...PLATFORM]);
    expect(run.stderr).not.toMatch(/error\[/);
    expect(run.code).toBe(0);
    expect(registry.blobGets(base.digest).length - before).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${registry.host}/apps/web:1.0@${web.manifest.digest}`,
      `${registry.host}/apps/worker:1.0@${worker.manifest.digest}`,
    ]);
  });

  it('reads the list from stdin with -f -, after the images named as arguments', async () => {
    registry.faults = {};
    const run = await runDray(['pull', `${registry.host}/apps/web:1.0`, '-f', '-', ...cacheArgs(), ...PLATFORM], {
      input: `${registry.host}/apps/worker:1.0\n# done\n`,
    });
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${registry.host}/apps/web:1.0@${web.manifest.digest}`,
      `${registry.host}/apps/worker:1.0@${worker.manifest.digest}`,
    ]);
  });

  it('keeps pulling the others when one image fails, reports it, and exits with its code', async () => {
    registry.faults = {};
    const file = await listFile([`${registry.host}/apps/web:1.0`, `${registry.host}/apps/missing:1.0`, `${registry.host}/apps/worker:1.0`]);
    const run = await runDray(['pull', '-f', file, ...cacheArgs(), ...PLATFORM]);
    expect(run.code).toBe(3);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${registry.host}/apps/web:1.0@${web.manifest.digest}`,
      `${registry.host}/apps/worker:1.0@${worker.manifest.digest}`,
    ]);
    expect(run.stderr).toMatch(new RegExp(`^error\\[ERR_NOT_FOUND\\]: ${registry.host}/apps/missing:1.0: `, 'm'));
  });

  it('exits with the worst outcome over the list: retries exhausted (5) outranks not found (3)', async () => {
    registry.faults = { status: { status: 503, path: new RegExp(broken.layers[0]!.digest), times: Infinity } };
    const file = await listFile([`${registry.host}/apps/missing:1.0`, `${registry.host}/apps/broken:1.0`, `${registry.host}/apps/web:1.0`]);
    const run = await runDray(['pull', '-f', file, ...cacheArgs(), ...PLATFORM, '--retries', '2']);
    registry.faults = {};
    expect(run.code).toBe(5);
    expect(run.stdout.trim()).toBe(`${registry.host}/apps/web:1.0@${web.manifest.digest}`);
    expect(run.stderr).toMatch(/^error\[ERR_NOT_FOUND\]: .*apps\/missing:1.0: /m);
    expect(run.stderr).toMatch(/^error\[ERR_RETRIES_EXHAUSTED\]: .*apps\/broken:1.0: /m);
  });

  it('stops the other images at the first failure with --fail-fast', async () => {
    // Bodies trickle, so the good images are mid-download when the broken one's layer is refused (404).
    registry.faults = { bytesPerSecond: 100_000, status: { status: 404, path: new RegExp(broken.layers[0]!.digest), times: Infinity } };
    const file = await listFile([`${registry.host}/apps/web:1.0`, `${registry.host}/apps/broken:1.0`, `${registry.host}/apps/worker:1.0`]);
    const before = registry.requests.length;
    const run = await runDray(['pull', '-f', file, ...cacheArgs(), ...PLATFORM, '--fail-fast']);
    registry.faults = {};
    // the exit code is the failure's (not found), not the cancellation of the others (130)
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error\[ERR_NOT_FOUND\]: .*apps\/broken:1.0: /m);
    expect(run.stderr).toMatch(/^error\[ERR_ABORTED\]: .*apps\/web:1.0: /m);
    expect(run.stderr).toMatch(/^error\[ERR_ABORTED\]: .*apps\/worker:1.0: /m);
    // the shared base layer (400 kB at 100 kB/s: 4 s) had started and was cut off
    const baseBodies = registry.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${base.digest}`));
    expect(baseBodies.length).toBe(1);
    expect(baseBodies[0]!.bytesSent).toBeGreaterThan(0);
    expect(baseBodies[0]!.bytesSent).toBeLessThan(base.size);
  });
});
