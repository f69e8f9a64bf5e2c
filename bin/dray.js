#!/usr/bin/env node
// The CLI runs from one bundled file (npm run build): loading one module instead of ~700 saves a
// third of start-up, which is most of a small pull's time on a fast link. The launcher (a few kB)
// starts the registry's TCP handshakes first, so they overlap that loading, and compiles the bundle
// from a V8 code cache kept beside it (src/cli/launch.ts, src/cli/code-cache.ts).
//
// CommonJS (bin/package.json says so): Node reaches the first line of a CommonJS entry ~10 ms sooner
// than that of an ES module, and every millisecond before the handshakes start is added to the pull.
'use strict';
const { join } = require('node:path');
const { launch } = require('../dist/launch.cjs');

launch(join(__dirname, '..', 'dist', 'dray.cjs'), process.argv);
