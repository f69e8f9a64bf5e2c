/**
 * Issue 4's bench: N `dray pull` processes started at once on ONE fresh cache directory, through the
 * WAN proxy. The cache's per-blob locks should let exactly one process fetch each blob while the
 * others wait and then find it committed, so the proxy should serve the image's bytes once, whatever
 * N is. dray only: skopeo and containerd keep no store that separate processes share this way.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Fixture } from './fixtures.js';
import { runMeasured, type Measured } from './measure.js';
import { drayCommand, drayPeer, type Peer } from './peers.js';

/**
 * dray as N processes sharing `target.cacheDir`, none writing an output (`pull REF --cache DIR`), so
 * only the cache and the registry traffic are measured. The outcome is the group's: wall time of the
 * slowest process (all start together), the largest per-process peak RSS, and the first failure.
 */
export function sharedDrayPeer(repoRoot: string, processes: number, extraArgs: readonly string[] = []): Peer {
  const { bin, env } = drayCommand(repoRoot);
  // the same availability check and version as the single-process peer; only pull differs
  const { name, unavailable, version } = drayPeer(repoRoot, extraArgs);
  return {
    name,
    unavailable,
    version,
    pull: async (t) => {
      const args = ['pull', t.ref, '--cache', t.cacheDir, '--progress', 'none', ...extraArgs];
      const all = await Promise.all(Array.from({ length: processes }, () => runMeasured(bin, args, { signal: t.signal, env })));
      const processWallMs = all.map((m) => m.wallMs);
      return { tool: 'dray', ...combine(all), processWallMs, blobDirs: [t.cacheDir], flat: false, exhaustive: true };
    },
  };
}

/** One outcome for a group of processes: slowest wall, largest RSS, first non-zero exit. */
export function combine(all: readonly Measured[]): Measured {
  const failed = all.findIndex((m) => m.exitCode !== 0);
  const rss = all.map((m) => m.peakRssBytes).filter((b): b is number => b !== undefined);
  return {
    wallMs: Math.max(...all.map((m) => m.wallMs)),
    peakRssBytes: rss.length === all.length && rss.length > 0 ? Math.max(...rss) : undefined,
    exitCode: failed < 0 ? 0 : all[failed]!.exitCode,
    stderrTail: failed < 0 ? '' : `process ${failed + 1}/${all.length}: ${all[failed]!.stderrTail}`,
  };
}

/** Hashes every file in `<cache>/blobs/sha256/` (each once) and returns the first problem: a file
 *  whose bytes do not match its name, so a torn or doubly written blob left by racing processes is
 *  caught even when it is not one of the image's, or a blob of the image that is missing. */
export async function verifyCache(fixture: Fixture, cacheDir: string): Promise<string | undefined> {
  const blobDir = path.join(cacheDir, 'blobs', 'sha256');
  const names = await readdir(blobDir).catch(() => [] as string[]);
  for (const name of names) {
    const file = path.join(blobDir, name);
    const hash = createHash('sha256');
    await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
    const actual = hash.digest('hex');
    if (actual !== name) return `${file} has digest sha256:${actual}`;
  }
  const missing = [fixture.manifest, fixture.config, ...fixture.layers].find((b) => !names.includes(b.digest.slice('sha256:'.length)));
  return missing ? `blob ${missing.digest} not found in ${cacheDir}` : undefined;
}
