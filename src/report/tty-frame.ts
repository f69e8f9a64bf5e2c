/**
 * The lines of one terminal frame, pure: per image a header, per blob a line (label, short digest, bar,
 * bytes, rate, ETA, state), one overall line last. Small blobs (configs) get no bar. When the frame
 * would not fit the terminal's height, finished lines fold into one "… N more" line, so the cursor
 * never has to climb past the top of the screen.
 */
import { shortDigest } from '../oci/digest.js';
import { formatBytes, formatEta, formatRate, sanitizeText } from './format.js';
import { isFinished, type BlobView, type ImageView, type RunView } from './state.js';

/** Blobs smaller than this get no bar: they land in one read, a bar would only flicker (pnpm draws bars from 5 MB up; configs are a few kB). */
export const DEFAULT_MIN_BAR_BYTES = 1_000_000;

export interface FrameInput {
  readonly view: RunView;
  /** Bytes per second of one blob now. */
  readonly blobRate: (digest: string) => number;
  /** Bytes per second of the whole run now. */
  readonly totalRate: number;
  readonly width: number;
  /** At most this many lines. */
  readonly height: number;
}

type Row = { readonly rank: number; readonly text: (layout: Layout) => string; readonly finished: boolean };

interface Layout {
  readonly bar: number;
  readonly width: number;
}

// label(9) sp digest(12) sp [bar] sp bytes(19) sp rate(10) sp eta(9) 2sp state
const FIXED_COLUMNS = 9 + 1 + 12 + 1 + 2 + 1 + 19 + 1 + 10 + 1 + 9 + 2;
const MIN_STATE = 20;

/** Returns the frame's lines, each at most `width - 1` characters (the last column would wrap). */
export function frameLines(input: FrameInput): string[] {
  const width = Math.max(input.width - 1, 40);
  const layout: Layout = { width, bar: Math.max(6, Math.min(30, width - FIXED_COLUMNS - MIN_STATE)) };
  const rows = fitRows(collectRows(input), Math.max(input.height, 3));
  return rows.map((row) => clip(sanitizeText(row.text(layout)), width));
}

function collectRows(input: FrameInput): Row[] {
  const { view } = input;
  const rows: Row[] = [];
  const blobs = [...view.blobs.values()];
  for (const image of view.images.values()) {
    rows.push({ rank: image.status === 'resolving' ? 0 : 3, finished: image.status !== 'resolving', text: () => imageText(image) });
    for (const b of blobs) if (b.ref === image.ref) rows.push(blobRow(b, input));
  }
  for (const b of blobs) if (!view.images.has(b.ref)) rows.push(blobRow(b, input));
  rows.push({ rank: 0, finished: false, text: (layout) => totalText(input, layout) });
  return rows;
}

/** Keeps the most interesting rows in their order; the rest become one summary row before the total. */
function fitRows(rows: Row[], height: number): Row[] {
  if (rows.length <= height) return rows;
  const body = rows.slice(0, -1);
  const total = rows[rows.length - 1]!; // the overall line always shows
  const chosen = new Set([...body.keys()].sort((a, b) => body[a]!.rank - body[b]!.rank || a - b).slice(0, height - 2));
  const hidden = body.filter((_, i) => !chosen.has(i));
  const done = hidden.filter((r) => r.finished).length;
  const more: Row = { rank: 0, finished: false, text: () => `… ${hidden.length} more (${done} finished, ${hidden.length - done} to go)` };
  return [...body.filter((_, i) => chosen.has(i)), more, total];
}

function blobRow(b: BlobView, input: FrameInput): Row {
  const rank = isFinished(b) ? (b.status === 'failed' ? 1 : 3) : b.status === 'queued' ? 2 : 0;
  return { rank, finished: isFinished(b), text: (layout) => blobText(b, input.blobRate(b.digest), layout) };
}

function imageText(image: ImageView): string {
  if (image.status === 'resolving') return `${image.ref}  resolving…`;
  if (image.status === 'failed') return `${image.ref}  failed: ${image.error?.message ?? 'unknown error'}`;
  const details = [image.platform, image.layers !== undefined ? `${image.layers} layer${image.layers === 1 ? '' : 's'}` : undefined, image.size !== undefined ? formatBytes(image.size) : undefined];
  const digest = image.digest ? ` → ${shortDigest(image.digest)}` : '';
  return `${image.ref}${digest}  ${details.filter((d) => d !== undefined).join(', ')}`;
}

function blobText(b: BlobView, rate: number, layout: Layout): string {
  const hasBar = b.role === 'layer' && b.size >= DEFAULT_MIN_BAR_BYTES;
  const fraction = isFinished(b) && b.status !== 'failed' ? 1 : b.size > 0 ? b.bytes / b.size : 0;
  const bar = hasBar ? drawBar(fraction, layout.bar) : ' '.repeat(layout.bar + 2);
  const bytes = hasBar || !isFinished(b) ? `${formatBytes(b.bytes)} / ${formatBytes(b.size)}` : formatBytes(b.size);
  const left = [b.label.padEnd(9), shortDigest(b.digest), bar, bytes.padStart(19)];
  // Only a moving download has a rate and an ETA; every other state may use their columns for its words.
  if (b.status !== 'downloading') return [...left, ` ${stateText(b)}`].join(' ');
  const eta = rate > 0 ? `ETA ${formatEta(((b.size - b.bytes) * 1000) / rate)}` : '';
  return [...left, formatRate(rate).padStart(10), eta.padStart(9), ` ${stateText(b)}`].join(' ');
}

/** The state word(s) of a blob line. */
export function stateText(b: BlobView): string {
  switch (b.status) {
    case 'queued':
      return 'queued';
    case 'waiting':
      return `waiting for another dray (${b.holder ?? 'holder unknown'})`;
    case 'downloading':
      return `downloading${b.chunks > 1 ? ` ×${b.chunks}` : ''}${b.retries > 0 ? ` (retried ${b.retries})` : ''}`;
    case 'retrying':
      return b.retry ? `retrying ${b.retry.attempt}/${b.retry.maxAttempts}: ${b.retry.message}` : 'retrying';
    case 'verifying':
      return 'verifying';
    case 'cached':
      return 'cached';
    case 'done':
      return b.from === 'other-process' ? 'done (by another dray)' : 'done';
    case 'failed':
      return `failed: ${b.error?.message ?? 'unknown error'}`;
  }
}

function totalText(input: FrameInput, layout: Layout): string {
  const blobs = [...input.view.blobs.values()];
  const total = blobs.reduce((n, b) => n + b.size, 0);
  const present = blobs.reduce((n, b) => n + (isFinished(b) ? b.size : Math.min(b.bytes, b.size)), 0);
  const remaining = blobs.filter((b) => !isFinished(b) && b.status !== 'waiting').reduce((n, b) => n + Math.max(b.size - b.bytes, 0), 0);
  const finished = blobs.filter(isFinished).length;
  const running = finished < blobs.length;
  const eta = running && input.totalRate > 0 ? `ETA ${formatEta((remaining * 1000) / input.totalRate)}` : '';
  const retries = input.view.retries > 0 ? `, ${input.view.retries} ${input.view.retries === 1 ? 'retry' : 'retries'}` : '';
  return [
    'total'.padEnd(9 + 1 + 12),
    drawBar(total > 0 ? present / total : 0, layout.bar),
    `${formatBytes(present)} / ${formatBytes(total)}`.padStart(19),
    (running ? formatRate(input.totalRate) : '').padStart(10),
    eta.padStart(9),
    ` ${finished}/${blobs.length} done${retries}`,
  ].join(' ');
}

/** "[█████░░░░░]" of `width` cells inside the brackets. */
export function drawBar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

function clip(text: string, width: number): string {
  const trimmed = text.trimEnd();
  return trimmed.length <= width ? trimmed : `${trimmed.slice(0, width - 1)}…`;
}
