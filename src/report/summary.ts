/**
 * The end-of-run summary both human renderers print at run.done: per image what was pulled (reference,
 * digest to pin it, platform, layers, size) or why it failed, then the run's totals: bytes downloaded
 * against bytes from the cache, time, average rate, retries and failed blobs. Pure: state in, lines out.
 */
import { shortDigest } from '../oci/digest.js';
import type { PullEvent } from '../events/types.js';
import { formatBytes, formatDuration, formatRate, sanitizeText } from './format.js';
import { createRunState, type BlobView, type ImageView, type RunView } from './state.js';

/** Returns the summary of a whole recorded run. */
export function summarizeEvents(events: readonly PullEvent[]): string[] {
  const state = createRunState();
  for (const e of events) state.apply(e);
  return summaryLines(state.view);
}

/** Returns the summary lines for the run so far (no trailing newlines, no control characters). */
export function summaryLines(view: RunView): string[] {
  const lines = [...view.images.values()].map(imageLine);
  const blobs = [...view.blobs.values()];
  // Nothing was fetched (every image failed to resolve, or the run failed before): the error says it all.
  if (blobs.length > 0) lines.push(totalsLine(view, blobs));
  const retried = blobs.filter((b) => b.retries > 0);
  if (retried.length > 0) {
    const described = retried.map((b) => `${blobName(b)} (${plural(b.retries, 'retry', 'retries')}, last: ${b.lastRetry?.message ?? 'unknown error'})`);
    lines.push(`retried: ${described.join('; ')}`);
  }
  for (const b of blobs) if (b.status === 'failed') lines.push(`failed: ${blobName(b)}: ${b.error?.message ?? 'unknown error'}`);
  return lines.map(sanitizeText);
}

function imageLine(image: ImageView): string {
  if (image.status === 'failed') return `failed ${image.ref}: ${image.error?.message ?? 'unknown error'}`;
  const verb = image.status === 'done' ? 'pulled' : 'incomplete';
  const pin = image.digest ? `@${image.digest}` : '';
  const details = [image.platform, image.layers !== undefined ? plural(image.layers, 'layer') : undefined, image.size !== undefined ? formatBytes(image.size) : undefined]
    .filter((d) => d !== undefined)
    .join(', ');
  const exported = image.export?.done ? `; wrote ${image.export.format} to ${image.export.dest}` : '';
  return `${verb} ${image.ref}${pin}${details ? ` (${details})` : ''}${exported}`;
}

function totalsLine(view: RunView, blobs: readonly BlobView[]): string {
  const fromNetwork = blobs.filter((b) => b.status === 'done' && b.from === 'network');
  const fromCache = blobs.filter((b) => b.status === 'cached' || (b.status === 'done' && b.from === 'other-process'));
  const byOthers = fromCache.filter((b) => b.from === 'other-process').length;
  const failed = blobs.filter((b) => b.status === 'failed').length;
  const downloaded = blobs.reduce((n, b) => n + b.received, 0);
  const cachedBytes = fromCache.reduce((n, b) => n + b.size, 0);
  const ms = view.done?.t ?? view.lastT;
  const counts = [
    `${fromNetwork.length} downloaded`,
    `${fromCache.length} from cache${byOthers > 0 ? ` (${byOthers} fetched by another dray)` : ''}`,
    ...(failed > 0 ? [`${failed} failed`] : []),
  ].join(', ');
  const average = ms > 0 && downloaded > 0 ? ` (average ${formatRate((downloaded * 1000) / ms)})` : '';
  return `${plural(blobs.length, 'blob')}: ${counts}; ${formatBytes(downloaded)} downloaded, ${formatBytes(cachedBytes)} from cache in ${formatDuration(ms)}${average}; ${plural(view.retries, 'retry', 'retries')}`;
}

/** "layer 3 a1b2c3d4e5f6". */
export function blobName(b: BlobView): string {
  return `${b.label} ${shortDigest(b.digest)}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
