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

/** What the main bundle exports (cli/entry.ts). */
interface Entry {
  run(argv: readonly string[], launch: LaunchOptions): Promise<void>;
}

/** Runs dray from the bundle at `bundle` for `argv` (process.argv shape); never rejects. */
export async function launch(bundle: string, argv: readonly string[]): Promise<void> {
  const early = preconnect(argv, process.env);
  // No optimizing tier-up for WebAssembly: undici's HTTP parser is the only wasm, its baseline code is
  // fast enough (it hands body bytes through as slices; lan and wan pulls measured no slower), and a
  // tier-up job in flight makes the process wait at exit (entry.ts). Set before compiling: V8 accepts
  // a code cache only under the flags it was made with.
  setFlagsFromString('--liftoff-only');
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
