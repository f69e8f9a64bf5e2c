/**
 * The launcher, required by bin/dray.js as its own small bundle (dist/launch.cjs): starts the early
 * connections (preconnect.ts), then loads the main bundle (dist/dray.cjs) through its code cache
 * (code-cache.ts) and runs it. After a successful pull with no usable cache, it writes one at exit.
 */
import { readFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import type { LaunchOptions } from './main.js';
import { loadBundle } from './code-cache.js';
import { preconnect } from './preconnect.js';

/**
 * V8 flags set before the bundle is compiled: V8 accepts a code cache only under the flags it was
 * made with.
 * - `--liftoff-only`: no optimizing tier-up for WebAssembly. undici's HTTP parser is the only wasm,
 *   its baseline code is fast enough (it hands body bytes through as slices; lan and wan pulls measured
 *   no slower), and a tier-up job in flight makes the process wait at exit (entry.ts).
 * - `--semi-space-growth-factor=1`: the young generation keeps its first size instead of doubling
 *   to 16 MB. Node allocates a new buffer for every socket read, and a grown young generation let
 *   ~100 MB of dead ones pile up between scavenges, every new page a page fault (~25,000 in a 330 MB
 *   pull, the sys time being most of what dray spent beyond skopeo). Measured on the 2-core bench VM,
 *   alternating runs: loopback pull 1.97–2.04 s → 1.67–1.84 s, CPU 2.1 → 1.8 s, peak RSS 107–110 →
 *   83–86 MB, faults 21–24 k → 15–16 k; the tiny pull 531 → 499 ms (medians of 13).
 * - `--no-wasm-lazy-compilation`: undici compiles its parser (synchronously, new WebAssembly.Module)
 *   when the run's first connection is set up; with this flag every function is compiled then, ~10 ms
 *   that on a far registry fall in the wait for the handshake's round trip. Lazily, each function was
 *   compiled on its first call, when the first response arrived: 6.5 ms of a 10 ms stall in the CPU
 *   profile, right on a small pull's critical path. Tiny pull through the wan profile, interleaved
 *   medians of 13: 449 → 428 ms and 463 → 439 ms. Over loopback nothing is waited for, and the whole
 *   compile costs ~3 ms more than the lazy one.
 */
export const LAUNCH_V8_FLAGS = '--liftoff-only --semi-space-growth-factor=1 --no-wasm-lazy-compilation';

/** Where bin/dray.js's shell line keeps NODE_EXTRA_CA_CERTS away from node's start-up (bin/dray.js says why). */
export const MOVED_EXTRA_CA_CERTS = 'DRAY_NODE_EXTRA_CA_CERTS';
/** Set by bin/dray.js's shell line when it set GLIBC_TUNABLES for node itself (bin/dray.js says why). */
export const SET_GLIBC_TUNABLES = 'DRAY_GLIBC_TUNABLES';

/** What the main bundle exports (cli/entry.ts). */
interface Entry {
  run(argv: readonly string[], launch: LaunchOptions): Promise<void>;
}

/** Runs dray from the bundle at `bundle` for `argv` (process.argv shape); never rejects. */
export async function launch(bundle: string, argv: readonly string[]): Promise<void> {
  restoreEnvironment(process.env);
  const early = preconnect(argv, process.env);
  setFlagsFromString(LAUNCH_V8_FLAGS);
  let source: string;
  try {
    // Read asynchronously on purpose: Node defers a socket's connect() to the next tick, and the
    // compile below holds the thread for tens of milliseconds; reading lets the connects go out first.
    // Decoded in one call: readFile's own decoding goes through a StringDecoder chunk by chunk, which
    // cost ~6 ms for the 600 KB bundle against well under 1 ms for this.
    source = (await readFile(bundle)).toString('utf8');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    process.stderr.write(`dray: cannot load ${bundle}: ${why}; reinstall dray (in a checkout: npm run build)\n`);
    process.exit(1);
  }
  const loaded = loadBundle(bundle, source, `${bundle}.v8-cache`);
  // A pull runs most of the code, so its cache serves every later command best.
  if (loaded.cache !== 'used' && argv[2] === 'pull') {
    process.once('exit', (code) => {
      if (code === 0) loaded.saveCache();
    });
  }
  await (loaded.exports as Entry).run(argv, { early });
}

/**
 * Undoes what bin/dray.js's shell line did to the environment, so that dray and the programs it
 * starts (a credential helper) see the user's: NODE_EXTRA_CA_CERTS comes back (dray reads it as one
 * more CA file, cli/network-options.ts), and the GLIBC_TUNABLES meant for node alone goes.
 */
export function restoreEnvironment(env: Record<string, string | undefined>): void {
  const moved = env[MOVED_EXTRA_CA_CERTS];
  if (moved !== undefined) {
    delete env[MOVED_EXTRA_CA_CERTS];
    env.NODE_EXTRA_CA_CERTS ??= moved;
  }
  if (env[SET_GLIBC_TUNABLES] !== undefined) {
    delete env[SET_GLIBC_TUNABLES];
    delete env.GLIBC_TUNABLES;
  }
}
