#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/) into dist/dray.cjs and the launcher into dist/launch.cjs
 * (`npm run bundle`, part of `npm run build`; bin/dray.js says why one file).
 *
 * Two of undici's Node imports are replaced in the bundle, because loading them was ~15-25 ms of every
 * run's start-up (tiny pull over loopback, interleaved medians of 15: 265 → 240 ms) for nothing dray uses:
 * - `node:http2` (with `node:tls` and most of `node:http` behind it), needed only by undici's HTTP/2
 *   client. dray never allows HTTP/2; client-h2.js already falls back when the module is missing.
 * - `node:http`, from which undici takes `maxHeaderSize` (its default limit when a client sets none:
 *   registry/undici-send.ts sets one) and `IncomingMessage` (to recognise Node's own response streams
 *   when it destroys a request body: dray never hands it one).
 * The replacements are checked below: if undici starts using either module some other way, the build
 * fails instead of the CLI.
 *
 * Plain JavaScript on purpose: Node 20 cannot run TypeScript.
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const UNDICI = join(ROOT, 'node_modules', 'undici', 'lib');

/** What undici may do with each replaced module: every file importing it, and the uses allowed there. */
const EXPECTED = {
  'node:http2': { 'dispatcher/client-h2.js': ["http2 = require('node:http2')"] },
  'node:http': {
    'core/util.js': ["const { IncomingMessage } = require('node:http')"],
    'dispatcher/client.js': ["const http = require('node:http')"],
  },
};

const REPLACEMENTS = {
  'node:http2': "throw new Error('node:http2 is not in the dray bundle (HTTP/2 is never used)');",
  'node:http': "module.exports = { maxHeaderSize: 16 * 1024, IncomingMessage: class IncomingMessageNotBundled {} };",
};

/** @type {import('esbuild').Plugin} */
const undiciWithoutHttp = {
  name: 'undici-without-http',
  setup(b) {
    const seen = new Set();
    b.onResolve({ filter: /^node:http2?$/ }, (args) => {
      if (!args.importer.startsWith(UNDICI)) return undefined;
      const file = args.importer.slice(UNDICI.length + 1);
      const allowed = EXPECTED[args.path][file];
      const source = readFileSync(args.importer, 'utf8');
      if (allowed === undefined || !allowed.every((use) => source.includes(use))) {
        throw new Error(`undici's ${file} imports ${args.path} in a way scripts/bundle.js does not expect: review the replacement`);
      }
      seen.add(`${args.path} ${file}`);
      return { path: args.path, namespace: 'dray-replaced' };
    });
    b.onLoad({ filter: /.*/, namespace: 'dray-replaced' }, (args) => ({ contents: REPLACEMENTS[args.path], loader: 'js' }));
    b.onEnd(() => {
      const expected = Object.entries(EXPECTED).flatMap(([mod, files]) => Object.keys(files).map((f) => `${mod} ${f}`));
      const missing = expected.filter((e) => !seen.has(e));
      if (missing.length > 0) throw new Error(`scripts/bundle.js expected undici to import ${missing.join(', ')}: review the replacement`);
    });
  },
};

const common = { bundle: true, minify: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' };
await build({ ...common, entryPoints: [join(ROOT, 'dist/cli/entry.js')], outfile: join(ROOT, 'dist/dray.cjs'), plugins: [undiciWithoutHttp] });
await build({ ...common, entryPoints: [join(ROOT, 'dist/cli/launch.js')], outfile: join(ROOT, 'dist/launch.cjs') });
