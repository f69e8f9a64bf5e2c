/**
 * One blob being written by this process (DESIGN.md §3): ingest/<alg>-<hex>/data, written
 * positionally, plus ledger.json recording the byte ranges really written, so Ctrl-C, a crash or a
 * full disk leaves a resumable partial. Commit fsyncs, checks size and digest, and renames the file
 * into blobs/; nothing unverified ever reaches blobs/.
 */
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '../context.js';
import { IntegrityError, LocalIOError, toLocalIOError } from '../errors.js';
import type { ByteRange, Descriptor } from '../oci/descriptor.js';
import { createDigester, shortDigest, splitDigest } from '../oci/digest.js';
import type { BlobInfo, Ingest } from './types.js';
import { blobPath, fsyncDir, ingestDir, writeFileAtomic } from './layout.js';
import { addRange, LEDGER_VERSION, parseLedger, rangesExtent, serializeLedger } from './ledger.js';
import type { BlobLock } from './lock.js';

/** Ledger refresh after this many bytes of writing: a crash loses at most this much progress. */
export const DEFAULT_LEDGER_FLUSH_BYTES = 4 * 1024 * 1024;
/** Ledger refresh after this long of writing, so slow links also keep progress and waiters see it. */
export const DEFAULT_LEDGER_FLUSH_MS = 1_000;
/** Read size when hashing what was not hashed inline at commit. */
const HASH_READ_BYTES = 1024 * 1024;

export interface OpenIngestOptions {
  /** Monotonic or wall milliseconds; only differences are used (ledger flush timing). */
  readonly now: () => number;
}

/** Returns the ingest directory's data and ledger paths. */
export function ingestPaths(root: string, desc: Descriptor): { dir: string; data: string; ledger: string } {
  const dir = ingestDir(root, desc.digest);
  return { dir, data: join(dir, 'data'), ledger: join(dir, 'ledger.json') };
}

/**
 * Opens (or resumes) the ingest of `desc`, which the caller has locked. Earlier ranges are kept only
 * when the ledger names the same digest and size and the data file is at least as long as they claim;
 * otherwise the ingest starts over.
 */
export async function openIngest(root: string, desc: Descriptor, lock: BlobLock, options: OpenIngestOptions): Promise<Ingest> {
  const paths = ingestPaths(root, desc);
  let fh: FileHandle | undefined;
  try {
    await mkdir(paths.dir, { recursive: true });
    const ranges = await readResumableRanges(paths, desc);
    if (ranges.length === 0) await rm(paths.data, { force: true });
    fh = await open(paths.data, constants.O_RDWR | constants.O_CREAT, 0o644);
    if ((await fh.stat()).size > desc.size) await fh.truncate(desc.size);
    const ingest = new FsIngest(root, desc, lock, fh, ranges, options);
    await ingest.flushLedger();
    return ingest;
  } catch (err) {
    await fh?.close().catch(() => {});
    await lock.release().catch(() => {});
    throw toLocalIOError(err, `opening the ingest of ${shortDigest(desc.digest)}`);
  }
}

async function readResumableRanges(paths: { data: string; ledger: string }, desc: Descriptor): Promise<ByteRange[]> {
  let text: string;
  try {
    text = await readFile(paths.ledger, 'utf8');
  } catch {
    return [];
  }
  const ledger = parseLedger(text);
  if (!ledger || ledger.digest !== desc.digest || ledger.size !== desc.size) return [];
  const length = await stat(paths.data).then((s) => s.size, () => -1);
  // A data file shorter than the ledger claims was torn or replaced: trust neither, start over.
  if (length < rangesExtent(ledger.ranges)) return [];
  return [...ledger.ranges];
}

type State = 'open' | 'committed' | 'aborted';

class FsIngest implements Ingest {
  readonly desc: Descriptor;
  readonly #root: string;
  readonly #lock: BlobLock;
  readonly #fh: FileHandle;
  readonly #now: () => number;
  readonly #paths: { dir: string; data: string; ledger: string };
  #ranges: ByteRange[];
  #state: State = 'open';
  #ledgerChain: Promise<void> = Promise.resolve();
  // Bytes [0, #hashedUpTo) went through #digester in order, as written by this process.
  #digester: ReturnType<typeof createDigester>;
  #hashedUpTo = 0;

  constructor(root: string, desc: Descriptor, lock: BlobLock, fh: FileHandle, ranges: ByteRange[], options: OpenIngestOptions) {
    this.desc = desc;
    this.#root = root;
    this.#lock = lock;
    this.#fh = fh;
    this.#ranges = ranges;
    this.#now = options.now;
    this.#paths = ingestPaths(root, desc);
    this.#digester = createDigester(splitDigest(desc.digest).algorithm);
  }

  completed(): readonly ByteRange[] {
    return this.#ranges;
  }

  async writeAt(offset: number, body: AsyncIterable<Uint8Array>, options: { signal: AbortSignal; onBytes?: (n: number) => void }): Promise<number> {
    this.#assertUsable();
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.desc.size) {
      throw new LocalIOError(`write offset ${offset} is outside ${shortDigest(this.desc.digest)} (size ${this.desc.size})`);
    }
    let pos = offset;
    let unflushedBytes = 0;
    let lastFlush = this.#now();
    let failure: unknown;
    try {
      for await (const chunk of body) {
        throwIfAborted(options.signal);
        if (this.#lock.lost) throw this.#lock.lost;
        if (pos + chunk.length > this.desc.size) {
          throw new IntegrityError(`${shortDigest(this.desc.digest)}: received more bytes than the descriptor's size ${this.desc.size}`);
        }
        await this.#writeFully(chunk, pos);
        this.#recordWritten(chunk, pos);
        pos += chunk.length;
        unflushedBytes += chunk.length;
        options.onBytes?.(chunk.length);
        if (unflushedBytes >= DEFAULT_LEDGER_FLUSH_BYTES || this.#now() - lastFlush >= DEFAULT_LEDGER_FLUSH_MS) {
          unflushedBytes = 0;
          lastFlush = this.#now();
          await this.flushLedger();
        }
      }
      throwIfAborted(options.signal);
    } catch (err) {
      failure = err;
    }
    // Every writeAt ends (success, body error, abort, disk full) with the ledger matching the disk.
    try {
      await this.flushLedger();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw failure;
    return pos - offset;
  }

  async #writeFully(chunk: Uint8Array, position: number): Promise<void> {
    if (position < this.#hashedUpTo) {
      // Rewriting bytes already hashed: the inline hash may no longer describe the disk. Start over
      // and let commit hash the file itself.
      this.#resetInlineHash();
    }
    let done = 0;
    try {
      // A short write is continued; a failure part-way leaves the whole chunk out of the ledger, so
      // those bytes are fetched again rather than trusted.
      while (done < chunk.length) {
        const { bytesWritten } = await this.#fh.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw toLocalIOError(err, `writing ${shortDigest(this.desc.digest)} to the cache`);
    }
  }

  #recordWritten(chunk: Uint8Array, position: number): void {
    this.#ranges = addRange(this.#ranges, { start: position, end: position + chunk.length - 1 });
    if (position === this.#hashedUpTo) {
      this.#digester.hash.update(chunk);
      this.#hashedUpTo += chunk.length;
    } else if (position < this.#hashedUpTo) {
      // Another write overlapped this range while it was in flight; which bytes won is unknown here.
      this.#resetInlineHash();
    }
  }

  #resetInlineHash(): void {
    this.#digester = createDigester(splitDigest(this.desc.digest).algorithm);
    this.#hashedUpTo = 0;
  }

  /** Writes the ledger (serialised: one rename at a time) unless the lock was lost to another process. */
  flushLedger(): Promise<void> {
    const snapshot = this.#ranges;
    const next = this.#ledgerChain.then(async () => {
      if (this.#lock.lost) return;
      const text = serializeLedger({ version: LEDGER_VERSION, digest: this.desc.digest, size: this.desc.size, ranges: snapshot, updatedAt: new Date().toISOString() });
      try {
        await writeFileAtomic(this.#paths.ledger, text, this.#paths.dir);
      } catch (err) {
        throw toLocalIOError(err, `recording progress of ${shortDigest(this.desc.digest)}`);
      }
    });
    this.#ledgerChain = next.catch(() => {});
    return next;
  }

  async commit(): Promise<BlobInfo> {
    this.#assertUsable();
    await this.#ledgerChain;
    const actual = await this.#verify();
    if (actual.size !== this.desc.size || actual.digest !== this.desc.digest) {
      await this.abort({ keepPartial: false });
      const what = actual.size !== this.desc.size ? `size ${actual.size} bytes, expected ${this.desc.size}` : `digest ${actual.digest}, expected ${this.desc.digest}`;
      throw new IntegrityError(`${shortDigest(this.desc.digest)}: downloaded content has ${what}`, {
        hint: 'the registry or a proxy served different bytes; the partial download was discarded',
      });
    }
    const target = blobPath(this.#root, this.desc.digest);
    this.#state = 'committed';
    try {
      await this.#fh.close();
      await chmod(this.#paths.data, 0o444);
      const exists = await stat(target).then(() => true, () => false);
      // Another process may have committed the same digest first: its file is identical, so that is success.
      if (!exists) {
        await rename(this.#paths.data, target);
        await fsyncDir(join(target, '..'));
      }
      await rm(this.#paths.dir, { recursive: true, force: true });
    } catch (err) {
      throw toLocalIOError(err, `committing ${shortDigest(this.desc.digest)} to the cache`);
    } finally {
      await this.#lock.release();
    }
    return { digest: this.desc.digest, size: this.desc.size, path: target };
  }

  /** fsyncs the data and returns its size and digest, hashing from disk whatever was not hashed inline. */
  async #verify(): Promise<{ size: number; digest: string }> {
    try {
      await this.#fh.sync();
      const { size } = await this.#fh.stat();
      if (size !== this.desc.size) return { size, digest: '' };
      const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);
      for (let pos = this.#hashedUpTo; pos < size; ) {
        const { bytesRead } = await this.#fh.read(buffer, 0, Math.min(buffer.length, size - pos), pos);
        if (bytesRead === 0) break;
        this.#digester.hash.update(buffer.subarray(0, bytesRead));
        pos += bytesRead;
      }
      return { size, digest: this.#digester.digest() };
    } catch (err) {
      throw toLocalIOError(err, `verifying ${shortDigest(this.desc.digest)} in the cache`);
    }
  }

  async abort(options: { keepPartial: boolean }): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    try {
      await this.#ledgerChain;
      await this.#fh.close().catch(() => {});
      // After losing the lock the ingest belongs to whoever took it over: never delete it under them.
      if (!options.keepPartial && !this.#lock.lost) await rm(this.#paths.dir, { recursive: true, force: true });
    } finally {
      await this.#lock.release();
    }
  }

  #assertUsable(): void {
    if (this.#lock.lost) throw this.#lock.lost;
    if (this.#state !== 'open') throw new LocalIOError(`the ingest of ${shortDigest(this.desc.digest)} is already ${this.#state}`);
  }
}
