/**
 * `--metrics-file PATH`: the run's metrics in Prometheus text format, written at the end of every run —
 * successful, failed or interrupted — for node_exporter's textfile collector. The recorder listens to the
 * events (which the CLI sees whatever pull() returns), so a run that throws still leaves its counts.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExitCode, LocalIOError, toExitCode } from '../errors.js';
import type { PullEvent } from '../events/types.js';
import { createMetricsCollector } from '../report/metrics.js';
import { formatMetrics } from '../report/metrics-text.js';
import type { TextSink } from '../report/types.js';
import type { TransferStats } from '../transfer/types.js';
import { renderError } from './render-error.js';

export interface MetricsRecorder {
  handle(event: PullEvent): void;
  /** Writes the file for the run as seen so far; call once, at the end, on every path. */
  write(end: { readonly exitCode: number; readonly stats?: TransferStats }): Promise<void>;
}

/** Returns a recorder for `path`; `now` gives wall-clock ms for the timestamp metric. */
export function createMetricsRecorder(path: string, now: () => number = Date.now): MetricsRecorder {
  const collector = createMetricsCollector();
  return {
    handle: (event) => collector.apply(event),
    write: async ({ exitCode, stats }) => {
      const text = formatMetrics(collector.snapshot(), { endedAtMs: now(), exitCode, ...(stats ? { stats } : {}) });
      await writeFileAtomic(path, text);
    },
  };
}

/**
 * Writes `text` to `path` through a temp file in the same directory and a rename, so a collector
 * scraping meanwhile reads the old file or the new one, never half of one. The temp name does not end
 * in `.prom`, so the textfile collector ignores it (node_exporter's own advice: write, then mv).
 * No AbortSignal on purpose: an interrupted run is exactly when the file must still be written.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => {});
    throw new LocalIOError(`cannot write the metrics file ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check that the directory exists and is writable',
    });
  }
}

/**
 * Writes the metrics of a run that threw (a run-level error, Ctrl-C). The run's own error is the one the
 * user must see and the exit code it decides; a failure to write the file is only reported beside it.
 */
export async function writeMetricsAfterFailure(recorder: MetricsRecorder | undefined, err: unknown, interrupted: boolean, stderr: TextSink): Promise<void> {
  if (!recorder) return;
  try {
    await recorder.write({ exitCode: interrupted ? ExitCode.Interrupted : toExitCode(err) });
  } catch (writeErr) {
    stderr.write(renderError(writeErr, { debug: false }));
  }
}
