/** Guards a response body: a read-idle timeout, a byte limit, and the abort signal. */
import { finished, type Readable } from 'node:stream';
import { AbortedError, StalledError } from '../errors.js';

export interface GuardOptions {
  /**
   * Yield at most this many bytes in all, then stop (a server sending more than asked must not
   * overwrite the next chunk). Asked again before every chunk: the caller may lower it meanwhile.
   */
  readonly maxBytes: () => number;
  /** No bytes for this long while we wait for them → the body is destroyed with StalledError. */
  readonly idleTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Called with each chunk's length as it is yielded. */
  readonly onYield?: (n: number) => void;
}

/** Bytes held back from the consumer before the body is paused (the socket then fills and TCP pushes back). */
const PAUSE_BYTES = 256 * 1024;
/** A paused body resumes once the consumer has taken all but this much. */
const RESUME_BYTES = 64 * 1024;

/**
 * Yields the body's bytes under the guards, chunk by chunk as the socket delivered them. The idle
 * timer runs only while we wait for the network, not while the consumer writes to disk, so a slow
 * disk is never mistaken for a stalled server. The body is destroyed when iteration ends, on every
 * path.
 *
 * The body flows into a queue of its own chunks rather than being read through its async iterator:
 * that iterator calls read(), which joins every chunk buffered meanwhile into one new buffer, a copy
 * of most of the body (46 ms of a 330 MB loopback pull's main thread) into fresh memory, page faults
 * and all, only for the writer to split it again.
 */
export async function* guardBody(body: Readable, options: GuardOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const { signal, idleTimeoutMs } = options;
  let failure: Error | undefined;
  let ended = false;
  const queue: Uint8Array[] = [];
  let queued = 0;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: Error): void => {
    failure ??= err;
    body.destroy(err);
    notify();
  };
  const onData = (data: Uint8Array | string): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    queue.push(chunk);
    queued += chunk.byteLength;
    if (queued >= PAUSE_BYTES) body.pause();
    notify();
  };
  const onAbort = () => fail(new AbortedError('interrupted', { cause: signal.reason }));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  // An error, or a close before the end (a connection reset): the stream's own error, as its iterator gave.
  const unwatch = finished(body, (err) => {
    if (err) failure ??= err;
    else ended = true;
    notify();
  });
  body.on('data', onData);
  let yielded = 0;
  try {
    while (options.maxBytes() > yielded) {
      if (failure) throw failure;
      let chunk = queue.shift();
      if (chunk === undefined) {
        if (ended) return;
        const timer = setTimeout(() => fail(new StalledError(`no bytes received for ${idleTimeoutMs} ms`)), idleTimeoutMs);
        timer.unref();
        await new Promise<void>((resolve) => (wake = resolve));
        clearTimeout(timer);
        continue;
      }
      queued -= chunk.byteLength;
      if (queued <= RESUME_BYTES && body.isPaused()) body.resume();
      const left = options.maxBytes() - yielded;
      if (left <= 0) return;
      if (chunk.byteLength > left) chunk = chunk.subarray(0, left);
      yielded += chunk.byteLength;
      options.onYield?.(chunk.byteLength);
      yield chunk;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    body.off('data', onData);
    // an error still on its way (a destroy just before we stopped) must not go unheard once we stop listening
    body.on('error', () => {});
    unwatch();
    if (!body.destroyed) body.destroy();
  }
}
