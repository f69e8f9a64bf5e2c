/**
 * Blob responses of the fake registry: HEAD, GET, single Range (RFC 9110 §14) and the body faults
 * (ignored Range, wrong Content-Range, reset, stall, slow, corrupt).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  bodyFaultApplies,
  corruptBytes,
  type FakeRegistryFaults,
  type FaultCounter,
} from './fake-registry-faults.js';

/** One request as the fake registry saw it. */
export interface FakeRequest {
  readonly server: 'registry' | 'storage';
  readonly method: string;
  /** Path with query. */
  readonly path: string;
  readonly range?: string;
  /** Whether the request carried an Authorization header (its value is never kept). */
  readonly authorization: boolean;
  status: number;
  /** Body bytes written so far. */
  bytesSent: number;
  readonly time: number;
}

/** Slow bodies write every this many ms: small enough to look smooth, large enough to be cheap. */
const SLOW_TICK_MS = 20;
/** Unthrottled bodies are written in chunks of this size so reset/stall points are exact. */
const CHUNK = 64 * 1024;

export interface BlobResponseContext {
  readonly faults: FakeRegistryFaults;
  readonly counter: FaultCounter;
  readonly entry: FakeRequest;
}

/** Parses "bytes=a-b" / "bytes=a-" / "bytes=-n"; undefined when absent or not a single range. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Writes the status and headers, recording the status in the log entry. */
export function writeHead(res: ServerResponse, entry: FakeRequest, status: number, headers: Record<string, string | number>): void {
  entry.status = status;
  res.writeHead(status, headers);
}

/** Answers a blob HEAD or GET with every configured fault. */
export async function serveBlob(req: IncomingMessage, res: ServerResponse, ctx: BlobResponseContext, digest: string, stored: Uint8Array): Promise<void> {
  const { faults, entry } = ctx;
  const bytes = faults.corrupt?.includes(digest) ? corruptBytes(stored) : stored;
  const size = bytes.byteLength;
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
  if (!faults.omitDigestHeader) headers['docker-content-digest'] = digest;
  if (!faults.ignoreRange) headers['accept-ranges'] = 'bytes';
  const range = faults.ignoreRange ? undefined : parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    writeHead(res, entry, 416, { ...headers, 'content-range': `bytes */${size}`, 'content-length': 0 });
    res.end();
    return;
  }
  let body = bytes;
  if (range) {
    body = bytes.subarray(range.start, range.end + 1);
    const start = faults.wrongContentRange ? range.start + 1 : range.start;
    writeHead(res, entry, 206, { ...headers, 'content-range': `bytes ${start}-${range.end}/${size}`, 'content-length': body.byteLength });
  } else {
    writeHead(res, entry, 200, { ...headers, 'content-length': size });
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await writeBody(res, body, ctx, digest);
}

async function writeBody(res: ServerResponse, body: Uint8Array, ctx: BlobResponseContext, digest: string): Promise<void> {
  const { faults, counter, entry } = ctx;
  let stopAt = body.byteLength;
  let then: 'end' | 'reset' | 'stall' = 'end';
  if (bodyFaultApplies(faults.resetAfter, counter, digest) && faults.resetAfter.bytes < stopAt) {
    stopAt = faults.resetAfter.bytes;
    then = 'reset';
  } else if (bodyFaultApplies(faults.stallAfter, counter, digest) && faults.stallAfter.bytes < stopAt) {
    stopAt = faults.stallAfter.bytes;
    then = 'stall';
  }
  const bps = faults.bytesPerSecond;
  const chunkSize = bps ? Math.max(1, Math.floor((bps * SLOW_TICK_MS) / 1000)) : CHUNK;
  for (let at = 0; at < stopAt; ) {
    if (res.destroyed) return;
    const chunk = body.subarray(at, Math.min(stopAt, at + chunkSize));
    at += chunk.byteLength;
    if (!(await flush(res, chunk))) return;
    entry.bytesSent += chunk.byteLength;
    if (bps && at < stopAt) await new Promise((r) => setTimeout(r, SLOW_TICK_MS));
  }
  if (then === 'end') res.end();
  // the written bytes are flushed to the kernel; closing now delivers them, then EOF short of Content-Length
  else if (then === 'reset') res.socket?.destroy();
  // 'stall': leave the response open; the client's timeout or close() ends it
}

/** Writes a chunk and resolves once it is handed to the kernel; false when the socket went away. */
function flush(res: ServerResponse, chunk: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false);
    res.once('close', onClose);
    res.write(chunk, (err) => {
      res.off('close', onClose);
      resolve(!err);
    });
  });
}
