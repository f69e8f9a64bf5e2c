/** Guards a response body: a read-idle timeout, a byte limit, and the abort signal. */
import type { Readable } from 'node:stream';
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

/**
 * Yields the body's bytes under the guards. The idle timer runs only while we wait for the network,
 * not while the consumer writes to disk, so a slow disk is never mistaken for a stalled server. The
 * body is destroyed when iteration ends, on every path.
 */
export async function* guardBody(body: Readable, options: GuardOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const { signal, idleTimeoutMs } = options;
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    body.destroy(err);
  };
  const onAbort = () => fail(new AbortedError('interrupted', { cause: signal.reason }));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | string>;
  let yielded = 0;
  try {
    while (options.maxBytes() > yielded) {
      const timer = setTimeout(() => fail(new StalledError(`no bytes received for ${idleTimeoutMs} ms`)), idleTimeoutMs);
      timer.unref();
      let next: IteratorResult<Uint8Array | string>;
      try {
        next = await it.next();
      } catch (err) {
        throw failure ?? err;
      } finally {
        clearTimeout(timer);
      }
      if (failure) throw failure;
      if (next.done) return;
      let chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      const left = options.maxBytes() - yielded;
      if (left <= 0) return;
      if (chunk.byteLength > left) chunk = chunk.subarray(0, left);
      yielded += chunk.byteLength;
      options.onYield?.(chunk.byteLength);
      yield chunk;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!body.destroyed) body.destroy();
  }
}
