// Issue 4: the transfer layer's use of the store — cache hits refresh last-used, a lost lock is looked
// at again once. Real stores in temp dirs; the blob source serves from memory (no registry involved).
import { readFile, stat, utimes } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobPath } from '../../../src/cache/layout.js';
import type { BlobStore, Ingest } from '../../../src/cache/types.js';
import { createRunContext } from '../../../src/context.js';
import { LockError } from '../../../src/errors.js';
import type { PullEventBody } from '../../../src/events/types.js';
import type { Descriptor } from '../../../src/oci/descriptor.js';
import { computeDigest } from '../../../src/oci/digest.js';
import { createTransferManager } from '../../../src/transfer/manager.js';
import type { BlobSource } from '../../../src/transfer/types.js';
import { chunks, makeBlob, openStore, owned, signal, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const DAY = 24 * 3_600_000;

/** A source serving `bytes` (Range honoured), counting opens. */
function memorySource(bytes: Uint8Array): BlobSource & { opens: number } {
  const source = {
    key: 'memory.test',
    opens: 0,
    open: async (_desc: Descriptor, options: { range?: { start: number; end: number } }) => {
      source.opens += 1;
      const r = options.range;
      const body = Readable.from([Buffer.from(r ? bytes.subarray(r.start, r.end + 1) : bytes)]);
      return { body, url: new URL('http://memory.test/v2/x/blobs/y'), ...(r ? { served: r } : {}), totalSize: bytes.length };
    },
  };
  return source;
}

/** A store whose first `failures` ingests throw LockError from commit, as a lost takeover race does. */
function losingCommits(store: BlobStore, failures: number): BlobStore {
  let left = failures;
  const wrap = (ingest: Ingest): Ingest => ({
    desc: ingest.desc,
    completed: () => ingest.completed(),
    writeAt: (offset, body, options) => ingest.writeAt(offset, body, options),
    abort: (options) => ingest.abort(options),
    commit: async () => {
      if (left-- > 0) throw new LockError('lost the cache lock (test)');
      return ingest.commit();
    },
  });
  return Object.assign(Object.create(store) as BlobStore, {
    beginIngest: async (desc: Descriptor, options: Parameters<BlobStore['beginIngest']>[1]) => {
      const outcome = await store.beginIngest(desc, options);
      return outcome.kind === 'owned' ? { kind: 'owned' as const, ingest: wrap(outcome.ingest) } : outcome;
    },
  });
}

function run(store: BlobStore, desc: Descriptor, source: BlobSource, events: PullEventBody[] = []) {
  const ctx = createRunContext({ emit: (e) => events.push(e) });
  return createTransferManager({ store, ctx }).fetch({ desc, role: 'layer', source });
}

async function setLastUsed(path: string, msAgo: number): Promise<void> {
  const t = new Date(Date.now() - msAgo);
  await utimes(path, t, t);
}

describe('last use of cached blobs', () => {
  it('a cache hit in a pull refreshes the blob\'s last use', async () => {
    const store = await openStore(dir);
    const { bytes, desc } = makeBlob(50_000, 51);
    const ingest = owned(await store.beginIngest(desc, { signal }));
    await ingest.writeAt(0, chunks(bytes), { signal });
    await ingest.commit();
    await setLastUsed(blobPath(dir, desc.digest), 10 * DAY);
    const source = memorySource(bytes);
    const events: PullEventBody[] = [];
    await run(store, desc, source, events);
    expect(source.opens).toBe(0);
    expect(events.some((e) => e.type === 'blob.cached')).toBe(true);
    expect(Date.now() - (await stat(blobPath(dir, desc.digest))).mtimeMs).toBeLessThan(60_000);
  });

  it('putBytes of a blob already stored refreshes its last use', async () => {
    const store = await openStore(dir);
    const bytes = new TextEncoder().encode('{"schemaVersion":2}');
    const digest = computeDigest(bytes);
    await store.putBytes(digest, bytes);
    await setLastUsed(blobPath(dir, digest), 10 * DAY);
    await store.putBytes(digest, bytes);
    expect(Date.now() - (await stat(blobPath(dir, digest))).mtimeMs).toBeLessThan(60_000);
  });
});

describe('a lock lost during a download', () => {
  it('is looked at again once: the blob is resumed from what landed and committed', async () => {
    const { bytes, desc } = makeBlob(120_000, 52);
    const source = memorySource(bytes);
    const info = await run(losingCommits(await openStore(dir), 1), desc, source);
    expect(computeDigest(await readFile(info.path))).toBe(desc.digest);
    // The second round found the whole blob already on disk: no second request.
    expect(source.opens).toBe(1);
  });

  it('a second loss fails the blob with LockError (exit 7)', async () => {
    const { bytes, desc } = makeBlob(120_000, 53);
    const events: PullEventBody[] = [];
    const err = await run(losingCommits(await openStore(dir), 2), desc, memorySource(bytes), events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect((err as LockError).exitCode).toBe(7);
    expect(events.filter((e) => e.type === 'blob.failed')).toHaveLength(1);
  });
});
