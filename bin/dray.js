#!/usr/bin/env node
// The CLI runs from one bundled file (npm run build): loading one module instead of ~700 saves a
// third of start-up, which is most of a small pull's time on a fast link.
import { main } from '../dist/dray.mjs';

main(process.argv);
