#!/usr/bin/env node
// The CLI runs from one bundled file (npm run build): loading one module instead of ~700 saves a
// third of start-up, which is most of a small pull's time on a fast link. The registry's TCP
// handshakes start first (dist/preconnect.mjs, a few kB), so they overlap that loading.
import { preconnect } from '../dist/preconnect.mjs';

const early = preconnect(process.argv, process.env);
const { run } = await import('../dist/dray.mjs');
await run(process.argv, { early });
