/** The event bus: stamps events with run-relative time and fans them out to listeners. */
import type { Emit, PullEvent, PullEventBody } from './types.js';
import { PullError } from '../errors.js';
import type { ErrorSummary } from './types.js';

export type Listener = (event: PullEvent) => void;

export interface EventBus {
  readonly emit: Emit;
  subscribe(listener: Listener): () => void;
}

/** Returns a bus whose `emit` never throws: a failing listener cannot break a download. */
export function createEventBus(now: () => number = () => performance.now()): EventBus {
  const start = now();
  const listeners = new Set<Listener>();
  return {
    emit(body: PullEventBody) {
      const event = { ...body, t: Math.round(now() - start) } as PullEvent;
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // a renderer bug must not fail the pull
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Returns the plain-data summary of an error, as events carry it. */
export function summarizeError(err: unknown): ErrorSummary {
  if (err instanceof PullError) {
    const status = (err as { status?: unknown }).status;
    return typeof status === 'number'
      ? { code: err.code, message: err.message, status }
      : { code: err.code, message: err.message };
  }
  return { code: 'ERR_UNEXPECTED', message: err instanceof Error ? err.message : String(err) };
}
