/**
 * The plain renderer's periodic beat: total bytes, rate and ETA since the last beat, and every layer
 * that made no progress since then. A stalled download emits no events, which is exactly when a CI
 * log needs a line (moby#8342): the beat is computed from the state and the clock, not from events.
 */
import { formatBytes, formatDuration, formatEta, formatPercent, formatRate } from './format.js';
import { isFinished, type BlobView, type RunView } from './state.js';
import { blobName } from './summary.js';

/** What the previous beat saw, so the next one can report the difference. */
export interface BeatMark {
  readonly t: number;
  readonly networkBytes: number;
}

/** Returns the lines of one beat at run time `now`; none when nothing is under way. */
export function heartbeatLines(view: RunView, now: number, last: BeatMark): string[] {
  if (view.done) return [];
  const blobs = [...view.blobs.values()];
  const open = blobs.filter((b) => !isFinished(b));
  const elapsed = `[${formatDuration(now)}]`;
  if (open.length > 0) return [progressLine(view, blobs, open, now, last, elapsed), ...stalledLines(open, now, last)];
  const resolving = [...view.images.values()].filter((i) => i.status === 'resolving');
  if (resolving.length > 0) return [`${elapsed} resolving ${resolving.map((i) => i.ref).join(', ')}`];
  const exporting = [...view.images.values()].filter((i) => i.export && !i.export.done && i.status !== 'failed');
  if (exporting.length > 0) {
    return [`${elapsed} writing ${exporting.map((i) => `${i.export!.format} ${i.export!.dest} (${plural(i.export!.layers, 'layer')} so far)`).join(', ')}`];
  }
  return [`${elapsed} working`];
}

function progressLine(view: RunView, blobs: readonly BlobView[], open: readonly BlobView[], now: number, last: BeatMark, elapsed: string): string {
  const total = blobs.reduce((n, b) => n + b.size, 0);
  const present = blobs.reduce((n, b) => n + (isFinished(b) ? b.size : Math.min(b.bytes, b.size)), 0);
  const span = now - last.t;
  const rate = span > 0 ? ((view.networkBytes - last.networkBytes) * 1000) / span : 0;
  const remaining = open.filter((b) => b.status !== 'waiting').reduce((n, b) => n + Math.max(b.size - b.bytes, 0), 0);
  const eta = rate > 0 ? formatEta((remaining * 1000) / rate) : '--';
  const counts = countStates(blobs);
  return `${elapsed} ${formatBytes(present)} of ${formatBytes(total)} (${formatPercent(present, total)}), ${formatRate(rate)}, ETA ${eta}; ${counts}`;
}

function countStates(blobs: readonly BlobView[]): string {
  const counts = new Map<string, number>();
  for (const b of blobs) {
    const key = b.status === 'cached' ? 'done' : b.status;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const order = ['downloading', 'retrying', 'verifying', 'waiting', 'queued', 'done', 'failed'];
  return order.flatMap((k) => (counts.has(k) ? [`${counts.get(k)} ${k}`] : [])).join(', ');
}

/** Blobs that were transferring at the last beat and have not moved since; blobs another process holds. */
function stalledLines(open: readonly BlobView[], now: number, last: BeatMark): string[] {
  const lines: string[] = [];
  const stalled = open.filter((b) => (b.status === 'downloading' || b.status === 'retrying') && b.progressAt !== undefined && b.progressAt <= last.t);
  if (stalled.length > 0) {
    const described = stalled.map((b) => {
      const retry = b.retry ? `, retry ${b.retry.attempt}/${b.retry.maxAttempts}: ${b.retry.message}` : '';
      return `${blobName(b)} at ${formatBytes(b.bytes)} of ${formatBytes(b.size)}, silent for ${formatDuration(now - b.progressAt!)}${retry}`;
    });
    lines.push(`  no progress since the last beat: ${described.join('; ')}`);
  }
  const waiting = open.filter((b) => b.status === 'waiting');
  if (waiting.length > 0) lines.push(`  waiting for another dray: ${waiting.map((b) => `${blobName(b)} (${b.holder ?? 'unknown holder'})`).join('; ')}`);
  return lines;
}

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}
