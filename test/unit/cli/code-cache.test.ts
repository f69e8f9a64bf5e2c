import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadBundle } from '../../../src/cli/code-cache.js';

// A CommonJS module with a function that only runs after loading, so the cache made after the call
// holds lazily compiled code too; it also uses each of the wrapper's bindings.
const SOURCE = `
const { basename } = require('node:path');
function greet(name) { return 'hello ' + name + ' from ' + basename(__filename) + ' in ' + basename(__dirname); }
module.exports = { greet, self: this === exports };
`;

describe('loadBundle', () => {
  let dir: string;
  let file: string;
  let cacheFile: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dray-code-cache-'));
    file = join(dir, 'bundle.cjs');
    cacheFile = `${file}.v8-cache`;
    await writeFile(file, SOURCE);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const greet = (exports: unknown): string => (exports as { greet(name: string): string }).greet('dray');

  it('runs the bundle as CommonJS without a cache, then writes one that the next load uses', async () => {
    const first = loadBundle(file, SOURCE, cacheFile);
    expect(first.cache).toBe('missing');
    expect(greet(first.exports)).toBe(`hello dray from bundle.cjs in ${dir.split('/').pop()}`);
    expect((first.exports as { self: boolean }).self).toBe(true);
    first.saveCache();
    expect((await stat(cacheFile)).size).toBeGreaterThan(0);

    const second = loadBundle(file, SOURCE, cacheFile);
    expect(second.cache).toBe('used');
    expect(greet(second.exports)).toBe(greet(first.exports));
    // An accepted cache is left as it is.
    const before = await readFile(cacheFile);
    second.saveCache();
    expect(await readFile(cacheFile)).toEqual(before);
  });

  it('compiles from source when the cache is damaged or made for other code, and replaces it', async () => {
    await writeFile(cacheFile, Buffer.alloc(4096, 7));
    const damaged = loadBundle(file, SOURCE, cacheFile);
    expect(damaged.cache).toBe('rejected');
    expect(greet(damaged.exports)).toMatch(/^hello dray/);
    damaged.saveCache();
    expect(loadBundle(file, SOURCE, cacheFile).cache).toBe('used');

    const changed = `${SOURCE}\nmodule.exports.extra = 1;\n`;
    const stale = loadBundle(file, changed, cacheFile);
    expect(stale.cache).toBe('rejected');
    expect((stale.exports as { extra: number }).extra).toBe(1);
  });

  it('treats a cache it cannot write as a compile, not an error: nothing serialised, no temporary file', async () => {
    const unwritable = join(dir, 'missing-dir', 'bundle.cjs.v8-cache');
    const loaded = loadBundle(file, SOURCE, unwritable);
    const serialise = vi.spyOn(Script.prototype, 'createCachedData');
    try {
      expect(() => loaded.saveCache()).not.toThrow();
      expect(serialise).not.toHaveBeenCalled();
    } finally {
      serialise.mockRestore();
    }
    expect(await readdir(dir)).toEqual(['bundle.cjs']);
  });
});
