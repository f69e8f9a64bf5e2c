// docs/cli.md is generated from the built CLI's --help (scripts/gen-cli-docs.js): this fails when a flag
// or command changed and `npm run docs` was not run, and checks the reference covers every command.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runDray } from '../helpers/cli.js';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts', 'gen-cli-docs.js');

async function regenerated(): Promise<string> {
  return (await exec(process.execPath, [SCRIPT, '--print'], { cwd: ROOT, maxBuffer: 4 * 1024 * 1024 })).stdout;
}

let doc: string;

beforeAll(async () => {
  doc = await regenerated();
});

describe('docs/cli.md', () => {
  it('is exactly what the generator makes from the current --help (run `npm run docs` if this fails)', async () => {
    const committed = await readFile(join(ROOT, 'docs', 'cli.md'), 'utf8');
    expect(doc).toBe(committed);
  });

  it('has a section for every command and subcommand, holding its --help verbatim', async () => {
    const titles = [...doc.matchAll(/^## (dray.*)$/gm)].map((m) => m[1]);
    expect(titles).toEqual(['dray', 'dray pull', 'dray inspect', 'dray cache', 'dray cache ls', 'dray cache du', 'dray cache prune', 'dray cache verify', 'dray cache path']);
    for (const path of [['pull'], ['cache', 'prune']]) {
      const help = await runDray([...path, '--help']);
      expect(help.code).toBe(0);
      expect(doc).toContain(`## ${['dray', ...path].join(' ')}\n\n\`\`\`text\n${help.stdout.trimEnd()}\n\`\`\`\n`);
    }
    expect(doc).toContain('--metrics-file <path>');
  });

  it('keeps the hand-written captured screens after the generated reference', () => {
    const tail = doc.slice(doc.indexOf('<!-- end of generated reference'));
    expect(tail).toContain('### On a terminal');
    expect(tail).toMatch(/^layer 1 +[0-9a-f]{12} \[[█░]+\]/m);
    expect(tail).toContain('### In a pipe or CI log');
    expect(tail).toContain('dray_last_run_blob_attempts{outcome="failure"}');
  });
});
