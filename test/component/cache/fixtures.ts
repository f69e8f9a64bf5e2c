/** Shared setup for the cache component tests: real temp directories, deterministic blobs. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBlobStore, type BlobStoreOptions } from '../../../src/cache/fs-store.js';
import type { BlobStore, Ingest, IngestOutcome } from '../../../src/cache/types.js';
import type { Descriptor } from '../../../src/oci/descriptor.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { ingestDir } from '../../../src/cache/layout.js';
import { parseLedger } from '../../../src/cache/ledger.js';

/** Creates a temp dir and returns it with a cleanup function. */
export async function tempDir(prefix = 'dray-cache-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Opens a store with a fast poll so waiting tests take milliseconds. */
export function openStore(root: string, options: BlobStoreOptions = {}): Promise<BlobStore> {
  return openBlobStore(root, { pollIntervalMs: 20, ...options });
}

/** Returns `size` deterministic pseudo-random bytes and their descriptor. */
export function makeBlob(size: number, seed = 1): { bytes: Uint8Array; desc: Descriptor } {
  const bytes = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return { bytes, desc: { mediaType: 'application/octet-stream', digest: computeDigest(bytes), size } };
}

/** Yields `bytes` in chunks of `chunk` bytes. */
export async function* chunks(bytes: Uint8Array, chunk = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, Math.min(bytes.length, i + chunk));
}

/** Yields `bytes` in chunks, then throws `err` (a body that dies mid-stream). */
export async function* failingAfter(bytes: Uint8Array, err: Error): AsyncGenerator<Uint8Array> {
  yield* chunks(bytes);
  throw err;
}

/** Narrows an outcome to an owned ingest, failing the test otherwise. */
export function owned(outcome: IngestOutcome): Ingest {
  if (outcome.kind !== 'owned') throw new Error(`expected an owned ingest, got ${outcome.kind}`);
  return outcome.ingest;
}

export const signal = new AbortController().signal;

/** Returns the path of the data file the ingest's ledger names (each holder writes its own `data-<id>`). */
export async function dataFile(root: string, digest: Digest): Promise<string> {
  const ledger = parseLedger(await readFile(join(ingestDir(root, digest), 'ledger.json'), 'utf8'));
  if (!ledger) throw new Error(`no readable ledger for ${digest}`);
  return join(ingestDir(root, digest), ledger.data ?? 'data');
}
