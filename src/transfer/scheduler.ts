/**
 * The run's budget of concurrent HTTP bodies (DESIGN.md §4). The only importer of p-limit.
 *
 * p-limit supplies the budget; on top of it, waiting tasks are ordered by a priority tuple (the job's
 * call order, then its chunk index) instead of plain arrival order, so a chunk or a retry of the bottom
 * layer still goes before the top layer's first request even though it is enqueued later. A task holds
 * its slot from opening a response until the body is drained or destroyed: the task itself must do both
 * before it settles, on every path. A task must never await another scheduled task (p-limit deadlock).
 */
import pLimit from 'p-limit';

/** Lexicographic: [jobOrder, chunkIndex]. Lower runs first; equal priorities run in arrival order. */
export type Priority = readonly number[];

export interface Scheduler {
  /** Runs `task` when a slot is free and no higher-priority task waits; the slot is held until it settles. */
  run<T>(priority: Priority, task: () => Promise<T>): Promise<T>;
  /** Tasks holding a slot now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly pending: number;
}

interface Waiting {
  readonly priority: Priority;
  readonly seq: number;
  readonly start: () => Promise<void>;
}

/** Returns a scheduler with `concurrency` slots. */
export function createScheduler(concurrency: number): Scheduler {
  const limit = pLimit(concurrency);
  const queue: Waiting[] = [];
  let seq = 0;
  // Each run() adds one entry and one limit() call; whichever call gets a slot takes the best entry.
  const runNext = async (): Promise<void> => {
    const next = queue.shift();
    if (next) await next.start();
  };
  return {
    run<T>(priority: Priority, task: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        insert(queue, {
          priority,
          seq: seq++,
          start: async () => {
            try {
              resolve(await task());
            } catch (err) {
              reject(err);
            }
          },
        });
        void limit(runNext);
      });
    },
    get active() {
      return limit.activeCount;
    },
    get pending() {
      return queue.length;
    },
  };
}

function insert(queue: Waiting[], entry: Waiting): void {
  let i = queue.length;
  while (i > 0 && before(entry, queue[i - 1]!)) i--;
  queue.splice(i, 0, entry);
}

function before(a: Waiting, b: Waiting): boolean {
  const n = Math.max(a.priority.length, b.priority.length);
  for (let i = 0; i < n; i++) {
    const x = a.priority[i] ?? -1;
    const y = b.priority[i] ?? -1;
    if (x !== y) return x < y;
  }
  return a.seq < b.seq;
}
