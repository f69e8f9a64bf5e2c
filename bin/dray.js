#!/bin/sh
':' //; [ -z "$NODE_EXTRA_CA_CERTS" ] || export DRAY_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// Both a shell script and a CommonJS module. Run as `dray` or `./bin/dray.js`, the shell line above
// moves NODE_EXTRA_CA_CERTS aside and starts node on this same file, where it is JavaScript (the
// shell line is a string and a comment). Node 20 builds its whole root certificate store at start-up
// when that variable is set, 40-65 ms before the first line of JavaScript on the bench VM, whether
// or not the run ever speaks TLS; dray adds the file to its own CA list instead, read only when a
// TLS connection needs it (cli/launch.ts puts the variable back for child processes). Run as
// `node bin/dray.js`, the shell line never runs and node loads the file itself, which costs the
// start-up time but changes no result.
//
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
