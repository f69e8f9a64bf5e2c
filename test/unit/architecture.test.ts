// DESIGN.md §2: cli/ may import anything and nothing imports it; core folders never touch process.*;
// each third-party dependency is imported by exactly one module. Like ggcr's internal/depcheck.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const files = sourceFiles(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  return specs;
}

const OWNERS: Record<string, string> = {
  undici: 'registry/undici-send.ts',
  'p-limit': 'transfer/scheduler.ts',
  'proper-lockfile': 'cache/lock.ts',
  'tar-stream': 'sinks/tar.ts',
  'cli-progress': 'report/tty.ts',
  fzstd: 'sinks/decompress.ts',
};

describe('architecture', () => {
  it('finds the source tree', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(Object.entries(OWNERS))('imports %s only from %s', (dep, owner) => {
    const importers = files.filter((f) => importsOf(f.text).some((s) => s === dep || s.startsWith(`${dep}/`))).map((f) => f.path);
    expect(importers.filter((p) => p !== owner)).toEqual([]);
  });

  it('imports commander only from cli/', () => {
    const importers = files.filter((f) => importsOf(f.text).includes('commander')).map((f) => f.path);
    expect(importers.every((p) => p.startsWith('cli/'))).toBe(true);
  });

  it('never imports cli/ from outside it', () => {
    const offenders = files.filter((f) => !f.path.startsWith('cli/') && importsOf(f.text).some((s) => /(^|\/)cli\//.test(s)));
    expect(offenders.map((f) => f.path)).toEqual([]);
  });

  it('keeps process.* out of the core folders', () => {
    const offenders = files
      .filter((f) => !f.path.startsWith('cli/'))
      .filter((f) => /\bprocess\.(env|argv|stdout|stderr|stdin|exit|exitCode|on|cwd)\b/.test(f.text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, '')));
    expect(offenders.map((f) => f.path)).toEqual([]);
  });

  it('uses named exports only', () => {
    expect(files.filter((f) => /\bexport default\b/.test(f.text)).map((f) => f.path)).toEqual([]);
  });

  it('keeps every source file under 500 lines', () => {
    expect(files.filter((f) => f.text.split('\n').length > 500).map((f) => f.path)).toEqual([]);
  });
});
