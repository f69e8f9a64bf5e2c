/** Shared setup for transfer component tests: a real FsBlobStore in a temp dir, recorded events and sleeps. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBlobStore } from '../../../src/cache/fs-store.js';
import type { BlobStore } from '../../../src/cache/types.js';
import type { RunContext } from '../../../src/context.js';
import { AbortedError } from '../../../src/errors.js';
import type { PullEventBody } from '../../../src/events/types.js';
import { createTransferManager } from '../../../src/transfer/manager.js';
import type { TransferOptions } from '../../../src/transfer/options.js';
import type { Splitter, SplitterDeps } from '../../../src/transfer/split.js';
import type { TransferManager } from '../../../src/transfer/types.js';
import { BufferBlobSource, type Script } from './blob-source-double.js';

export const KiB = 1024;

export interface Harness {
  readonly root: string;
  readonly store: BlobStore;
  readonly events: PullEventBody[];
  /** Every ctx.sleep call, in ms; sleeps return at once. */
  readonly sleeps: number[];
  readonly abort: AbortController;
  readonly ctx: RunContext;
  readonly source: BufferBlobSource;
  readonly manager: TransferManager;
  /** A fresh manager (and context) on the same store, as a later run would have. */
  nextRun(options?: Partial<TransferOptions>): Harness;
}

const roots: string[] = [];

/** Chunks of 64 KiB, chunked from 128 KiB, 4 slots, unless overridden. */
export async function createHarness(options: Partial<TransferOptions> = {}, script?: Script, hooks: Hooks = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'dray-transfer-'));
  roots.push(root);
  const store = await openBlobStore(root);
  return build(root, store, new BufferBlobSource(script), options, hooks);
}

export interface Hooks {
  /** Runs after a sleep is recorded; by default sleeps return at once. */
  readonly afterSleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** The splitting policy; the real one by default. */
  readonly splitter?: (deps: SplitterDeps) => Splitter;
}

function build(root: string, store: BlobStore, source: BufferBlobSource, options: Partial<TransferOptions>, hooks: Hooks): Harness {
  const events: PullEventBody[] = [];
  const sleeps: number[] = [];
  const abort = new AbortController();
  const ctx: RunContext = {
    emit: (e) => events.push(e),
    signal: abort.signal,
    now: () => performance.now(),
    sleep: async (ms, signal) => {
      if ((signal ?? abort.signal).aborted) throw new AbortedError('interrupted');
      sleeps.push(ms);
      await hooks.afterSleep?.(ms, signal);
    },
    random: () => 0.5,
  };
  const manager = createTransferManager({ store, ctx, ...(hooks.splitter ? { splitter: hooks.splitter } : {}) }, { chunkSize: 64 * KiB, concurrency: 4, ...options });
  return {
    root,
    store,
    events,
    sleeps,
    abort,
    ctx,
    source,
    manager,
    nextRun: (next = options) => build(root, store, source, next, {}),
  };
}

/** Removes every harness directory. */
export async function cleanupHarnesses(): Promise<void> {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
}

/** Reads the committed file. */
export function readCommitted(path: string): Promise<Buffer> {
  return readFile(path);
}

/** Events of one type. */
export function eventsOf<T extends PullEventBody['type']>(events: readonly PullEventBody[], type: T): Extract<PullEventBody, { type: T }>[] {
  return events.filter((e): e is Extract<PullEventBody, { type: T }> => e.type === type);
}
