#!/bin/sh
':' //; [ -z "$NODE_EXTRA_CA_CERTS" ] || export DRAY_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; [ -n "$GLIBC_TUNABLES" ] || export GLIBC_TUNABLES=glibc.malloc.hugetlb=1 DRAY_GLIBC_TUNABLES=1; exec node "$0" "$@"
// Both a shell script and a CommonJS module. Run as `dray` or `./bin/dray.js`, the shell line above
// sets up node's environment and starts node on this same file, where it is JavaScript (the shell
// line is a string and a comment). Run as `node bin/dray.js`, the shell line never runs: that costs
// the time below but changes no result. cli/launch.ts puts the environment back as it was for the
// programs dray starts (credential helpers).
// - NODE_EXTRA_CA_CERTS is moved aside. Node 20 builds its whole root certificate store at start-up
//   when it is set, 40-65 ms before the first line of JavaScript on the bench VM, whether or not the
//   run ever speaks TLS; dray adds the file to its own CA list instead, read only when a TLS
//   connection needs it.
// - GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (unless the variable is already set) lets malloc back its
//   heap with transparent huge pages where the kernel allows it (madvise mode). Node allocates a
//   new buffer for every socket read; a 330 MB loopback pull took 16-17 k page faults, each dear in
//   a VM, and now takes ~8 k: 1.50 -> 1.40 s, CPU 1.54 -> 1.42 s (bench VM, 8 runs each). glibc
//   before 2.35 and other C libraries ignore it.
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
