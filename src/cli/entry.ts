/**
 * The main bundle's entry (dist/dray.cjs, run by launch.ts): runs {@link main}, and ends the process
 * as soon as its output is flushed instead of letting the event loop run dry.
 *
 * Why not a natural exit: before a Node process ends on an empty loop, V8 waits for its background
 * compile jobs, and undici's HTTP parser is WebAssembly whose optimizing tier-up is such a job; on a
 * 2-core machine that wait measured 50–100 ms after every pull, a fifth of a small pull's time. The
 * launcher therefore turns tier-up off (`--liftoff-only` in LAUNCH_V8_FLAGS, launch.ts says why that costs nothing).
 */
import type { Writable } from 'node:stream';
import { main, type LaunchOptions } from './main.js';

/** Runs dray for `argv` (process.argv shape) and exits with its exit code once stdout and stderr are written. */
export async function run(argv: readonly string[], launch: LaunchOptions = {}): Promise<void> {
  await main(argv, launch);
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit();
}

/** Resolves once `stream` has handed every queued byte to the OS, or can no longer (closed, EPIPE). */
function flushed(stream: Writable): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done).off('error', done).off('close', done);
      resolve();
    };
    stream.on('drain', done).on('error', done).on('close', done);
  });
}
