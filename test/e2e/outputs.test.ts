// Issue 5's outputs through the built CLI and Debian's real docker-registry: `--format oci-archive`,
// `-o -` streaming an archive to stdout (and nothing else there: progress stays on stderr),
// `--all-platforms` keeping the whole index, each read back by skopeo and, when a private containerd
// can be started here, imported by `ctr images import`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDray, tempDir } from '../helpers/cli.js';
import { buildImage, buildIndex, buildLayer, randomLayer, type BuiltImage, type BuiltIndex } from '../helpers/image-builder.js';
import { pushImage, pushIndex } from '../helpers/push.js';
import { startRegistry, type RegistryServer } from '../helpers/registry-server.js';

const exec = promisify(execFile);
/** How long a fresh containerd may take to open its socket; it usually takes well under a second. */
const CONTAINERD_START_TIMEOUT_MS = 15_000;

let registry: RegistryServer;
let work: { path: string; remove(): Promise<void> };
let amd: BuiltImage;
let arm: BuiltImage;
let multi: BuiltIndex;

async function imageFor(arch: 'amd64' | 'arm64'): Promise<BuiltImage> {
  return buildImage({
    layers: [
      await buildLayer([
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/os-release', content: `ID=dray-${arch}\n` },
      ]),
      await randomLayer(200_000, `outputs-${arch}`),
    ],
    platform: arch === 'arm64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' },
  });
}

/** Entry names of a tar, in archive order (GNU tar reads it; a stray byte on stdout would break it). */
async function tarNames(path: string): Promise<string[]> {
  return (await exec('tar', ['-tf', path])).stdout.trim().split('\n');
}

beforeAll(async () => {
  work = await tempDir('dray-outputs-');
  registry = await startRegistry();
  [amd, arm] = await Promise.all([imageFor('amd64'), imageFor('arm64')]);
  multi = buildIndex([amd, arm]);
  await pushImage(registry.url, 'out/app', amd, { tag: '1.0' });
  await pushIndex(registry.url, 'out/multi', multi, { tag: 'latest' });
});

afterAll(async () => {
  await registry?.stop();
  await work?.remove();
});

const appRef = () => `${registry.host}/out/app:1.0`;

describe('archives to files and stdout', () => {
  it('writes an oci-archive file that skopeo inspects and copies out', async () => {
    const out = join(work.path, 'app-oci.tar');
    const run = await runDray(['pull', appRef(), '--format', 'oci-archive', '-o', out, '--cache', join(work.path, 'c-ociarch'), '--progress', 'none']);
    expect(run.stderr).not.toMatch(/error\[/);
    expect(run.code).toBe(0);
    expect(await tarNames(out)).toEqual(expect.arrayContaining(['oci-layout', 'index.json', `blobs/sha256/${amd.manifest.digest.slice(7)}`]));
    const inspected = JSON.parse((await exec('skopeo', ['inspect', `oci-archive:${out}`])).stdout) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(amd.manifest.digest);
    expect(inspected.Layers).toEqual(amd.layers.map((l) => l.digest));
    const copy = join(work.path, 'from-oci-archive');
    await exec('skopeo', ['copy', `oci-archive:${out}`, `oci:${copy}:x`]);
    const index = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([amd.manifest.digest]);
  });

  for (const format of ['docker-archive', 'oci-archive'] as const) {
    it(`streams a ${format} to stdout with -o -: the tar alone on stdout, progress on stderr`, async () => {
      const run = await runDray(['pull', appRef(), '--format', format, '-o', '-', '--cache', join(work.path, `c-stdout-${format}`), '--progress', 'plain']);
      expect(run.stderr).not.toMatch(/error\[/);
      expect(run.code).toBe(0);
      // progress went to stderr: the plain renderer's lines for this pull
      expect(run.stderr).toMatch(/resolved .*out\/app:1\.0/);
      expect(run.stderr).toContain(`wrote ${format}`);
      // stdout is exactly one tar: whole 512-byte records, ending in the two zero blocks, no text
      const bytes = run.stdoutBytes;
      expect(bytes.byteLength % 512).toBe(0);
      expect(bytes.subarray(-1024).every((b) => b === 0)).toBe(true);
      expect(bytes.toString('latin1')).not.toMatch(/resolved|downloading|wrote|sha256:[0-9a-f]{64}\n/);
      const streamed = join(work.path, `stdout-${format}.tar`);
      await writeFile(streamed, bytes);

      // the same pull written to a file holds the same entries
      const file = join(work.path, `file-${format}.tar`);
      expect((await runDray(['pull', appRef(), '--format', format, '-o', file, '--cache', join(work.path, `c-stdout-${format}`), '--progress', 'none'])).code).toBe(0);
      expect((await tarNames(streamed)).sort()).toEqual((await tarNames(file)).sort());

      const inspected = JSON.parse((await exec('skopeo', ['inspect', `${format}:${streamed}`])).stdout) as { Layers: string[] };
      // skopeo names a docker-archive's layers by diff_id (what docker load does), an oci-archive's by digest
      expect(inspected.Layers).toEqual(amd.layers.map((l) => (format === 'docker-archive' ? l.diffId : l.digest)));
    });
  }
});

describe('--all-platforms', () => {
  // Bug (see report): pull() resolves and fetches only the selected platform (src/pull.ts pullOne →
  // resolveAndRecord/fetchImage; resolveAllPlatforms in src/image/resolve.ts is never called), while the
  // OCI layout sink names the index in index.json. The layout then lacks the other platforms' manifests,
  // configs and layers, so it is not a valid layout and `skopeo copy --all` fails. Remove `.fails` once fixed.
  it('keeps the whole index in the OCI layout: index.json names the index, both platforms\' blobs are there, skopeo copy --all works', async () => {
    const out = join(work.path, 'multi-layout');
    const run = await runDray(['pull', `${registry.host}/out/multi:latest`, '--all-platforms', '-o', out, '--cache', join(work.path, 'c-all'), '--progress', 'none']);
    expect(run.stderr).not.toMatch(/error\[/);
    expect(run.code).toBe(0);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] };
    expect(index.manifests.map((m) => [m.digest, m.mediaType])).toEqual([[multi.index.digest, multi.index.mediaType]]);
    const missing = [multi.index.digest, ...[amd, arm].flatMap((i) => [i.manifest.digest, i.config.digest, ...i.layers.map((l) => l.digest)])]
      .filter((d) => !existsSync(join(out, 'blobs', 'sha256', d.slice('sha256:'.length))));
    expect(missing).toEqual([]);
    const copy = join(work.path, 'multi-copy');
    await exec('skopeo', ['copy', '--all', `oci:${out}:latest`, `oci:${copy}:latest`]);
    const copied = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(copied.manifests.map((m) => m.digest)).toEqual([multi.index.digest]);
  });
});

// ---- containerd -------------------------------------------------------------------------------------

interface Containerd {
  readonly address: string;
  stop(): Promise<void>;
}

/** Starts a containerd with its own root, state and socket under `dir`, or returns why it could not. */
async function startContainerd(dir: string): Promise<Containerd | string> {
  if (process.getuid?.() !== 0) return 'containerd needs root';
  if (!(await exec('which', ['containerd', 'ctr']).then(() => true, () => false))) return 'containerd/ctr not installed (Debian package "containerd")';
  await mkdir(dir, { recursive: true });
  const address = join(dir, 'c.sock');
  const config = [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    // CRI wants a network and a sandbox image; importing needs neither
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${join(dir, 'opt')}"`,
  ].join('\n');
  await writeFile(join(dir, 'config.toml'), `${config}\n`);
  const child: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => void (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + CONTAINERD_START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await exec('ctr', ['--address', address, 'version']).then(() => true, () => false)) return { address, stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  return `containerd did not start: ${log.split('\n').slice(-3).join(' | ')}`;
}

let containerd: Containerd | string = 'not started';
if (process.getuid?.() === 0) {
  const dir = await tempDir('dray-ctrd-');
  containerd = await startContainerd(join(dir.path, 'ctrd'));
  if (typeof containerd === 'string') await dir.remove();
  else {
    const { stop } = containerd;
    containerd = { address: containerd.address, stop: async () => (await stop(), await dir.remove()) };
  }
}
if (typeof containerd === 'string') console.warn(`[outputs] containerd import tests skipped: ${containerd}`);

describe.skipIf(typeof containerd === 'string')('containerd imports the archives (ctr images import)', () => {
  const ctr = (...args: string[]) => exec('ctr', ['--address', (containerd as Containerd).address, ...args]);
  afterAll(async () => {
    if (typeof containerd !== 'string') await containerd.stop();
  });

  for (const format of ['docker-archive', 'oci-archive'] as const) {
    it(`imports a ${format} under the pulled name`, async () => {
      const out = join(work.path, `ctr-${format}.tar`);
      expect((await runDray(['pull', appRef(), '--format', format, '-o', out, '--cache', join(work.path, 'c-ctr'), '--progress', 'none'])).code).toBe(0);
      const namespace = `dray-${format}`;
      await exec('ctr', ['--address', (containerd as Containerd).address, '--namespace', namespace, 'images', 'import', '--no-unpack', out]);
      const { stdout } = await ctr('--namespace', namespace, 'images', 'ls', '-q');
      expect(stdout.trim().split('\n')).toContain(appRef());
      const content = (await ctr('--namespace', namespace, 'content', 'ls', '-q')).stdout;
      for (const d of [amd.config.digest, ...amd.layers.map((l) => l.digest)]) expect(content).toContain(d);
    });
  }
});
