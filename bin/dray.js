#!/usr/bin/env node
// The CLI runs from one bundled file (npm run build): loading one module instead of ~700 saves a
// third of start-up, which is most of a small pull's time on a fast link.
import { run } from '../dist/dray.mjs';

await run(process.argv);
