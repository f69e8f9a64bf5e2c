/**
 * RunMetrics as Prometheus text exposition format 0.0.4, for node_exporter's textfile collector
 * (`--metrics-file`). A file describes the last run only, so every metric is a gauge named
 * `dray_last_run_*`, as Prometheus recommends for batch jobs: a counter that restarts with each run
 * would make rate() lie. Every labelled family lists all its label values, zeros included, so a series
 * never vanishes between runs. Pure: data in, text out.
 */
import type { TransferStats } from '../transfer/types.js';
import type { RunMetrics } from './metrics.js';

export interface MetricsContext {
  /** When the run ended, ms since the epoch (the file's timestamp metric; alerting on staleness needs it). */
  readonly endedAtMs: number;
  /** The process's exit code, when the caller knows it (the CLI does). */
  readonly exitCode?: number;
  /** The transfer engine's own counters, when pull() returned them: adds the peak of concurrent bodies. */
  readonly stats?: TransferStats;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly samples: readonly (readonly [labels: Readonly<Record<string, string>>, value: number])[];
}

/** Returns the metrics file's text: `# HELP`, `# TYPE gauge` and samples per family, ending in a newline. */
export function formatMetrics(m: RunMetrics, context: MetricsContext): string {
  return metricFamilies(m, context).map(formatFamily).join('');
}

function metricFamilies(m: RunMetrics, context: MetricsContext): Family[] {
  const one = (name: string, help: string, value: number): Family => ({ name, help, samples: [[{}, value]] });
  const families: Family[] = [
    one('dray_last_run_timestamp_seconds', 'When the last dray run ended, in seconds since the epoch.', context.endedAtMs / 1000),
    one('dray_last_run_success', '1 if the last run pulled every image, else 0.', m.finished && m.ok ? 1 : 0),
    ...(context.exitCode !== undefined ? [one('dray_last_run_exit_code', 'Exit code of the last run (docs/exit-codes.md).', context.exitCode)] : []),
    one('dray_last_run_duration_seconds', 'Wall time of the last run.', m.durationMs / 1000),
    {
      name: 'dray_last_run_images',
      help: 'Images of the last run by outcome.',
      samples: [
        [{ outcome: 'success' }, m.images.succeeded],
        [{ outcome: 'failure' }, m.images.failed],
      ],
    },
    {
      name: 'dray_last_run_blob_attempts',
      help: 'HTTP requests for blob bytes in the last run, counted where the scheduler starts them, by outcome (unfinished: still open when the run ended).',
      samples: [
        [{ outcome: 'success' }, m.attempts.succeeded],
        [{ outcome: 'failure' }, m.attempts.failed],
        [{ outcome: 'cancelled' }, m.attempts.cancelled],
        [{ outcome: 'unfinished' }, m.attempts.unfinished],
      ],
    },
    {
      name: 'dray_last_run_blobs',
      help: 'Distinct blobs of the last run by how they ended: fetched from the network, found in the cache, fetched by another process, failed, or unfinished.',
      samples: (['network', 'cache', 'other-process', 'failed', 'unfinished'] as const).map((k) => [{ outcome: k }, m.blobs[k]] as const),
    },
    {
      name: 'dray_last_run_bytes',
      help: 'Blob bytes of the last run by source: received from the network (failed attempts included), read from the cache, fetched by another process.',
      samples: (['network', 'cache', 'other-process'] as const).map((k) => [{ source: k }, m.bytes[k]] as const),
    },
    {
      name: 'dray_last_run_retries',
      help: 'Blob retries of the last run by the error code that caused them.',
      samples: Object.keys(m.retries)
        .sort()
        .map((reason) => [{ reason }, m.retries[reason] ?? 0] as const),
    },
    one('dray_last_run_lock_waits', 'Times a blob of the last run waited for another process holding its lock.', m.lockWaits),
    one('dray_last_run_lock_wait_seconds', 'Total time blobs of the last run spent waiting for another process.', m.lockWaitMs / 1000),
  ];
  if (context.stats) {
    families.push(one('dray_last_run_peak_concurrent_bodies', 'Most blob response bodies open at once in the last run.', context.stats.peakActive));
  }
  return families;
}

function formatFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`];
  for (const [labels, value] of f.samples) lines.push(`${f.name}${formatLabels(labels)} ${formatValue(value)}`);
  return `${lines.join('\n')}\n`;
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Exposition format: label values escape backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}
