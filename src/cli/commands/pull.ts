/** `dray pull IMAGE...`: parse flags, call the library's pull, print results on stdout. */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { ExportFormat } from '../../events/types.js';
import { pull, type ImageResult, type PullOutput, type PullResult } from '../../pull.js';
import { DEFAULT_TRANSFER_OPTIONS, type TransferOptions } from '../../transfer/options.js';
import type { CliIo } from '../io.js';
import { createMetricsRecorder, writeMetricsAfterFailure } from '../metrics-file.js';
import { PULL_POLICIES, type PullPolicy } from '../../image/cached-manifests.js';
import { cacheDirFrom } from '../env.js';
import { addCredentialOptions, credentialOptionsFrom, type CredentialFlags } from '../credential-options.js';
import { addNetworkOptions, networkOptionsFrom, type NetworkFlags } from '../network-options.js';
import { addCommonOptions, startRenderer, type CommonFlags } from '../options.js';
import { parseDurationFlag, parseIntegerFlag, parseSizeFlag } from '../parse-values.js';

interface PullFlags extends CommonFlags, NetworkFlags, CredentialFlags {
  output?: string;
  format?: ExportFormat;
  platform?: string;
  allPlatforms?: boolean;
  concurrency?: string;
  chunkSize?: string;
  retries?: string;
  idleTimeout?: string;
  file?: string;
  failFast?: boolean;
  pull?: PullPolicy;
  metricsFile?: string;
}

/** Registers `pull` on the program. */
export function registerPull(program: Command, io: CliIo): void {
  const cmd = program
    .command('pull')
    .description('pull images into the cache and, with -o, export them')
    .argument('[image...]', 'image references, e.g. alpine, ghcr.io/org/app:1.2, 127.0.0.1:5000/repo@sha256:…')
    .option('-o, --output <path>', 'write the image(s) here; "-" streams an archive to stdout')
    .addOption(new Option('--format <format>', 'output format (default: docker-archive for *.tar and -, else oci)').choices(['oci', 'docker-archive', 'oci-archive', 'rootfs']))
    .option('--platform <os/arch[/variant]>', "platform to pull from a multi-platform image (default: this machine's)")
    .option('--all-platforms', 'with --format oci: keep the whole index and every platform')
    .option('-f, --file <path>', 'read references from a file, one per line, # comments; "-" reads stdin')
    .option('--fail-fast', 'stop the other images at the first failure')
    .addOption(new Option('--pull <policy>', 'always: one HEAD per tag to check for updates; missing: use tags already in the cache offline; never: only the cache').choices([...PULL_POLICIES]).default('always'))
    .option('-j, --concurrency <n>', `concurrent HTTP transfers across the run (default ${DEFAULT_TRANSFER_OPTIONS.concurrency})`)
    .option('--chunk-size <size>', 'fixed size of Range chunks for big blobs, e.g. 16M (default: one request per blob, split while more connections raise throughput)')
    .option('--retries <n>', `attempts per transfer before giving up (default ${DEFAULT_TRANSFER_OPTIONS.retries})`)
    .option('--idle-timeout <duration>', 'abort and resume a connection that sends nothing for this long (default 30s)')
    .option('--metrics-file <path>', "write the run's metrics here in Prometheus text format (node_exporter textfile collector), even when the pull fails");
  addCredentialOptions(cmd);
  addNetworkOptions(cmd);
  addCommonOptions(cmd);
  cmd.action(async (images: string[], flags: PullFlags) => {
    io.setExitCode(await runPull(images, flags, io));
  });
}

async function runPull(args: string[], flags: PullFlags, io: CliIo): Promise<number> {
  const refs = [...args, ...(flags.file !== undefined ? await readRefList(flags.file, io) : [])];
  if (refs.length === 0) throw new UsageError('no image to pull', { hint: 'name an image, e.g. dray pull alpine, or a list with -f FILE' });
  const credentials = await credentialOptionsFrom(flags, io, flags.file === '-' ? '-f -' : undefined);
  const output = outputFrom(flags, io);
  const renderer = startRenderer(flags, io);
  const metrics = flags.metricsFile !== undefined ? createMetricsRecorder(flags.metricsFile) : undefined;
  let result: PullResult;
  try {
    result = await pull(refs, {
      cacheDir: cacheDirFrom(flags.cache, io.env),
      ...lockStaleFrom(io.env.env),
      credentials,
      ...networkOptionsFrom(flags, io),
      ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
      ...(output ? { output } : {}),
      transfer: transferFrom(flags),
      signal: io.signal,
      onEvent: (e) => {
        renderer.handle(e);
        metrics?.handle(e);
      },
      ...(flags.failFast ? { failFast: true } : {}),
      ...(flags.pull !== undefined ? { pullPolicy: flags.pull } : {}),
      isRoot: io.isRoot,
    });
    renderer.close();
    for (const image of result.images) if (!image.ok) io.stderr.write(renderImageFailure(image));
    printResults(result, flags, io, output?.dest === io.stdoutStream);
  } catch (err) {
    renderer.close();
    await writeMetricsAfterFailure(metrics, err, io.signal.aborted, io.stderr);
    throw err;
  } finally {
    renderer.close();
  }
  await metrics?.write({ exitCode: result.exitCode, stats: result.stats });
  return result.exitCode;
}

function outputFrom(flags: PullFlags, io: CliIo): PullOutput | undefined {
  if (flags.output === undefined) {
    if (flags.format !== undefined) throw new UsageError('--format needs -o/--output', { hint: 'say where to write, e.g. -o alpine.tar' });
    return undefined;
  }
  const toStdout = flags.output === '-';
  const format = flags.format ?? (toStdout || flags.output.endsWith('.tar') ? 'docker-archive' : 'oci');
  if (flags.allPlatforms && format !== 'oci') throw new UsageError('--all-platforms works with --format oci only');
  return {
    format,
    dest: toStdout ? io.stdoutStream : flags.output,
    ...(flags.allPlatforms ? { allPlatforms: true } : {}),
  };
}

function transferFrom(flags: PullFlags): Partial<TransferOptions> {
  return {
    ...(flags.concurrency !== undefined ? { concurrency: parseIntegerFlag('--concurrency', flags.concurrency, 1, 256) } : {}),
    ...(flags.chunkSize !== undefined ? { chunkSize: parseSizeFlag('--chunk-size', flags.chunkSize) } : {}),
    ...(flags.retries !== undefined ? { retries: parseIntegerFlag('--retries', flags.retries, 1, 100) } : {}),
    ...(flags.idleTimeout !== undefined ? { idleTimeoutMs: parseDurationFlag('--idle-timeout', flags.idleTimeout) } : {}),
  };
}

/** Reads a warming list: one reference per line; blank lines and # comments ignored. */
async function readRefList(path: string, io: CliIo): Promise<string[]> {
  let text: string;
  try {
    text = path === '-' ? await io.readStdin() : await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the image list ${path}: ${(err as Error).message}`, { cause: err });
  }
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.length > 0);
}

function printResults(result: PullResult, flags: PullFlags, io: CliIo, stdoutTaken: boolean): void {
  if (stdoutTaken) return; // the archive owns stdout
  if (flags.json) {
    // stats: every request for blob bytes and every blob of the run, for CI jobs that account for them
    io.stdout.write(`${JSON.stringify({ images: result.images, ok: result.ok, stats: result.stats }, null, 2)}\n`);
    return;
  }
  for (const image of result.images) if (image.ok && image.ref && image.digest) io.stdout.write(`${pinned(image.ref, image.digest)}\n`);
}

/** "docker.io/library/alpine:3.20@sha256:…": the reference as asked, pinned to what it resolved to. */
function pinned(ref: string, digest: string): string {
  const at = ref.indexOf('@');
  return `${at === -1 ? ref : ref.slice(0, at)}@${digest}`;
}

function renderImageFailure(image: ImageResult): string {
  const e = image.error;
  if (!e) return '';
  const hint = e.hint ? `\nhint: ${e.hint}` : '';
  return `error[${e.code}]: ${image.ref ?? image.input}: ${e.message}${hint}\n`;
}

/**
 * $DRAY_LOCK_STALE_MS: the cache lock stale time, for tests that kill a lock holder and want the
 * takeover in seconds (docs/cache-format.md, "Takeover"); not a flag on purpose: every process sharing
 * a cache must use the same value.
 */
function lockStaleFrom(env: NodeJS.ProcessEnv): { lockStaleMs?: number } {
  const text = env.DRAY_LOCK_STALE_MS;
  if (text === undefined || text === '') return {};
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`DRAY_LOCK_STALE_MS must be a positive number of milliseconds, not ${JSON.stringify(text)}`);
  return { lockStaleMs: ms };
}
