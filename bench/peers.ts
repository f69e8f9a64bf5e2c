/**
 * The pullers compared, each run as a child process through {@link runMeasured}: dray (the built
 * CLI), skopeo (`copy docker://… oci:…`, c/image) and containerd (`ctr content fetch` against a
 * private daemon started per run, so its content store starts empty). After each pull the blobs on
 * disk are hashed against the fixture, so a fast wrong answer is reported as a failure.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startContainerd } from './containerd.js';
import { runTool, type Fixture } from './fixtures.js';
import { processPeakRss, runMeasured } from './measure.js';
import { verifyCache } from './shared.js';

export type ToolName = 'dray' | 'skopeo' | 'ctr';

/** What one tool's pull left behind, before its blobs are checked. */
export interface PullOutcome {
  readonly tool: ToolName;
  readonly wallMs: number;
  /** Peak RSS of the tool's process. */
  readonly peakRssBytes: number | undefined;
  /** For ctr: peak RSS of the containerd daemon doing the writes, reported beside the client's. */
  readonly daemonPeakRssBytes?: number | undefined;
  readonly exitCode: number | null;
  readonly stderrTail: string;
  /** Where the blobs should be: OCI layouts or caches (`blobs/sha256/<hex>`), or flat `<hex>` dirs. */
  readonly blobDirs: readonly string[];
  readonly flat: boolean;
  /** Wall time of each process when several pulled at once (shared-N); `wallMs` is the slowest. */
  readonly processWallMs?: readonly number[];
  /** `blobDirs[0]` is a cache several processes wrote at once: hash every blob in it, not only the image's. */
  readonly exhaustive?: boolean;
}

/** One pull by one tool, checked. */
export interface PullResult {
  readonly tool: ToolName;
  readonly wallMs: number;
  readonly peakRssBytes: number | undefined;
  readonly daemonPeakRssBytes?: number | undefined;
  readonly processWallMs?: readonly number[];
  /** Exit 0 and every blob present with the right digest. */
  readonly ok: boolean;
  readonly error?: string;
}

/** Where a pull writes and, for dray, which cache it uses. */
export interface PullTarget {
  readonly ref: string;
  readonly fixture: Fixture;
  /** A fresh directory for this run's output. */
  readonly workDir: string;
  /** dray's cache; the warm scenario passes the same one twice. */
  readonly cacheDir: string;
  readonly signal: AbortSignal;
}

/** A puller. */
export interface Peer {
  readonly name: ToolName;
  /** Why it cannot run on this machine, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  version(signal: AbortSignal): Promise<string>;
  pull(target: PullTarget): Promise<PullOutcome>;
}

/**
 * How to start dray: its executable, as a user's shell does (bin/dray.js's shell line, then node),
 * with this bench's node first on PATH so that the node measured is the one running the bench.
 */
export function drayCommand(repoRoot: string): { readonly bin: string; readonly env: NodeJS.ProcessEnv } {
  return { bin: path.join(repoRoot, 'bin', 'dray.js'), env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` } };
}

/** dray from the built CLI at `<repoRoot>/bin/dray.js` (needs `npm run build`). */
export function drayPeer(repoRoot: string, extraArgs: readonly string[] = []): Peer {
  const { bin, env } = drayCommand(repoRoot);
  return {
    name: 'dray',
    unavailable: async () =>
      // bin/dray.js runs the bundle, so that is what must exist
      access(path.join(repoRoot, 'dist', 'dray.cjs')).then(
        () => undefined,
        () => 'dist/dray.cjs is missing (run `npm run build`)',
      ),
    version: async (signal) => (await runTool(process.execPath, [bin, '--version'], signal)).trim(),
    pull: async (t) => {
      const out = path.join(t.workDir, 'oci');
      const args = ['pull', t.ref, '-o', out, '--cache', t.cacheDir, '--progress', 'none', ...extraArgs];
      const m = await runMeasured(bin, args, { signal: t.signal, env });
      // The layout may hardlink from the cache; either place must hold verified bytes.
      return { tool: 'dray', ...m, blobDirs: [out, t.cacheDir], flat: false };
    },
  };
}

/** skopeo copying into an OCI layout; `--src-tls-verify=false` lets it fall back to plain HTTP. */
export function skopeoPeer(): Peer {
  return {
    name: 'skopeo',
    unavailable: async () => whichTool('skopeo'),
    version: async (signal) => (await runTool('skopeo', ['--version'], signal)).trim(),
    pull: async (t) => {
      const out = path.join(t.workDir, 'oci');
      // Without the accept flag c/image gzips uncompressed layers for an oci: destination, which
      // would time gzip, not the network, and change every layer digest.
      const flags = ['--quiet', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers'];
      const args = ['copy', ...flags, `docker://${t.ref}`, `oci:${out}:${t.fixture.spec.tag}`];
      const m = await runMeasured('skopeo', args, { signal: t.signal });
      return { tool: 'skopeo', ...m, blobDirs: [out], flat: false };
    },
  };
}

/** `ctr content fetch` against a containerd started for this run only. */
export function ctrPeer(): Peer {
  return {
    name: 'ctr',
    unavailable: async () => (await whichTool('containerd')) ?? (await whichTool('ctr')),
    version: async (signal) => (await runTool('ctr', ['--version'], signal)).trim(),
    pull: async (t) => {
      const dir = path.join(t.workDir, 'containerd');
      await mkdir(dir, { recursive: true });
      const daemon = await startContainerd(dir, t.signal);
      try {
        const args = ['--address', daemon.socket, '--namespace', 'bench', 'content', 'fetch', '--plain-http', t.ref];
        const m = await runMeasured('ctr', args, { signal: t.signal });
        const daemonPeakRssBytes = await processPeakRss(daemon.pid);
        // The store stays on disk after the daemon stops, for checking.
        return { tool: 'ctr', ...m, daemonPeakRssBytes, blobDirs: [daemon.blobDir], flat: true };
      } finally {
        await daemon.stop();
      }
    },
  };
}

/** Turns an outcome into a result: exit 0 and every fixture blob present with its digest. */
export async function checkPull(outcome: PullOutcome, fixture: Fixture): Promise<PullResult> {
  const { tool, wallMs, peakRssBytes, daemonPeakRssBytes } = outcome;
  const base = {
    tool,
    wallMs,
    peakRssBytes,
    ...(daemonPeakRssBytes === undefined ? {} : { daemonPeakRssBytes }),
    ...(outcome.processWallMs ? { processWallMs: outcome.processWallMs } : {}),
  };
  if (outcome.exitCode !== 0) return { ...base, ok: false, error: `exit ${outcome.exitCode}: ${lastLines(outcome.stderrTail)}` };
  const [cache] = outcome.blobDirs;
  const problem = outcome.exhaustive && cache !== undefined ? await verifyCache(fixture, cache) : await verifyBlobs(fixture, outcome.blobDirs, outcome.flat);
  return problem ? { ...base, ok: false, error: problem } : { ...base, ok: true };
}

/** The end of stderr, without logrus timestamps, so identical failures collapse in the report. */
function lastLines(text: string): string {
  return text.trim().replace(/time="[^"]*" /g, '').split('\n').slice(-3).join(' | ');
}

/** Hashes every blob of the fixture where a tool left it; returns the first problem, if any.
 *  `flat` means the directory holds `<hex>` files directly (containerd's store). */
export async function verifyBlobs(fixture: Fixture, dirs: readonly string[], flat = false): Promise<string | undefined> {
  for (const blob of [fixture.manifest, fixture.config, ...fixture.layers]) {
    const hex = blob.digest.slice('sha256:'.length);
    const candidates = dirs.map((d) => (flat ? path.join(d, hex) : path.join(d, 'blobs', 'sha256', hex)));
    let found = false;
    for (const file of candidates) {
      const actual = await sha256File(file).catch(() => undefined);
      if (actual === undefined) continue;
      if (actual !== hex) return `${file} has digest sha256:${actual}, expected ${blob.digest}`;
      found = true;
      break;
    }
    if (!found) return `blob ${blob.digest} not found in ${dirs.join(', ')}`;
  }
  return undefined;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

async function whichTool(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (await access(path.join(dir, name)).then(() => true, () => false)) return undefined;
  }
  return `${name} is not installed`;
}
