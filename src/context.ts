/**
 * RunContext: everything time-, randomness- and event-shaped that core code needs, injected so tests
 * control it (no global logger, no real sleeps in unit tests).
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Emit } from './events/types.js';
import { AbortedError } from './errors.js';

export interface RunContext {
  /** Receives every event of the run; synchronous, never throws into the caller. */
  readonly emit: Emit;
  /** Aborted on Ctrl-C or by the library caller. */
  readonly signal: AbortSignal;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Resolves after `ms`, rejects with AbortedError when the signal aborts first. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1); jitter comes from here so tests can fix it. */
  readonly random: () => number;
}

/** Returns a context on real time: performance.now, real timers, Math.random. */
export function createRunContext(options: { emit?: Emit; signal?: AbortSignal } = {}): RunContext {
  const signal = options.signal ?? new AbortController().signal;
  // every in-flight request and sleep of the run listens on this one signal: hundreds is normal, not a leak
  setMaxListeners(0, signal);
  return {
    emit: options.emit ?? (() => {}),
    signal,
    now: () => performance.now(),
    sleep: (ms, s) => realSleep(ms, s ?? signal),
    random: Math.random,
  };
}

async function realSleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    // ref'd on purpose: an awaited backoff is the only thing keeping the loop alive between attempts;
    // an unref'd one lets the process exit 0 mid-retry
    await delay(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw new AbortedError('interrupted', { cause: err });
    throw err;
  }
}

/** Throws AbortedError when the signal has fired; call at the top of every I/O step. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('interrupted', { cause: signal.reason });
}
