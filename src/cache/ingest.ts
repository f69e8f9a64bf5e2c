/**
 * One blob being written by this process (DESIGN.md §3): ingest/<alg>-<hex>/data-<id>, this holder's
 * own data file written positionally, plus ledger.json recording the byte ranges really written and
 * naming that file, so Ctrl-C, a crash or a full disk leaves a resumable partial. Commit fsyncs, checks
 * size and digest of this holder's own file (which no other process writes: ingest-resume.ts), and
 * renames it into blobs/ by its own name; nothing unverified ever reaches blobs/.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '../context.js';
import { IntegrityError, LocalIOError, LockError, errorCode, toLocalIOError } from '../errors.js';
import type { ByteRange, Descriptor } from '../oci/descriptor.js';
import { shortDigest, splitDigest } from '../oci/digest.js';
import type { BlobInfo, Ingest } from './types.js';
import { blobPath, fsyncDir, ingestDir, writeFileAtomic } from './layout.js';
import { PrefixHasher } from './prefix-hasher.js';
import { addRange, LEDGER_VERSION, parseLedger, serializeLedger } from './ledger.js';
import type { BlobLock } from './lock.js';
import { claimIngest, exists, LEDGER_FILE, newDataFileName, removeOtherDataFiles, renameIfOurs } from './ingest-resume.js';

/**
 * Ledger refresh after this many bytes of writing, or DEFAULT_LEDGER_FLUSH_MS, whichever comes first:
 * a crash loses at most this much progress. At 4 MiB a loopback pull rewrote ledgers ~80 times, 44 ms
 * of its main thread, to protect what a fast link refetches in a fraction of a second.
 */
export const DEFAULT_LEDGER_FLUSH_BYTES = 32 * 1024 * 1024;
/** At most this much arrives while a write is in flight before the reader waits for the disk (memory per stream). */
export const DEFAULT_WRITE_BATCH_BYTES = 1024 * 1024;
/** Background writeback of the data file after this many bytes written (see #startWriteback). */
const WRITEBACK_BYTES = 8 * 1024 * 1024;
/** Ledger refresh after this long of writing, so slow links also keep progress and waiters see it. */
export const DEFAULT_LEDGER_FLUSH_MS = 1_000;

export interface OpenIngestOptions {
  /** Monotonic or wall milliseconds; only differences are used (ledger flush timing). */
  readonly now: () => number;
}

interface IngestPaths {
  readonly dir: string;
  /** This holder's own data file. */
  readonly data: string;
  readonly dataName: string;
  readonly ledger: string;
}

/** Returns the ingest directory and its ledger path (the data file is named by the ledger). */
export function ingestPaths(root: string, desc: Descriptor): { dir: string; ledger: string } {
  const dir = ingestDir(root, desc.digest);
  return { dir, ledger: join(dir, LEDGER_FILE) };
}

/**
 * Opens (or resumes) the ingest of `desc`, which the caller has locked, in a data file of its own.
 * Earlier ranges are kept only when the ledger names the same digest and size and its data file is at
 * least as long as they claim; they are copied into the new file (ingest-resume.ts). Otherwise the
 * ingest starts over.
 */
export async function openIngest(root: string, desc: Descriptor, lock: BlobLock, options: OpenIngestOptions): Promise<Ingest> {
  const { dir, ledger } = ingestPaths(root, desc);
  const dataName = newDataFileName();
  const paths: IngestPaths = { dir, ledger, dataName, data: join(dir, dataName) };
  let fh: FileHandle | undefined;
  try {
    // A directory made just now holds no ledger and no earlier partial: nothing to claim or clean up,
    // and the ledger can be written in the background. That takes ten file operations a blob off the
    // time between a small image's manifest and its blob requests (most of it).
    const fresh = (await mkdir(dir, { recursive: true })) !== undefined;
    const { ranges } = fresh ? { ranges: [] } : await claimIngest(dir, desc, dataName);
    // Nothing reused: free the old partials' space now (a full disk needs it for our ledger).
    if (!fresh && ranges.length === 0) await removeOtherDataFiles(dir, dataName);
    fh = await open(paths.data, constants.O_RDWR | constants.O_CREAT | (fresh ? constants.O_EXCL : 0), 0o644);
    if (!fresh && (await fh.stat()).size > desc.size) await fh.truncate(desc.size);
    const ingest = new FsIngest(root, desc, lock, fh, ranges, paths, options);
    if (fresh) {
      // Written while the blob's request is on its way; the first write waits for it.
      ingest.recordFirstLedger(ingest.flushLedger());
    } else {
      // Ledger first, so that from here on it names our file; only then drop the earlier holders' files.
      await ingest.flushLedger();
      await removeOtherDataFiles(dir, dataName);
    }
    return ingest;
  } catch (err) {
    await fh?.close().catch(() => {});
    await lock.release().catch(() => {});
    throw toLocalIOError(err, `opening the ingest of ${shortDigest(desc.digest)}`);
  }
}

type State = 'open' | 'committed' | 'aborted';

class FsIngest implements Ingest {
  readonly desc: Descriptor;
  readonly #root: string;
  readonly #lock: BlobLock;
  readonly #fh: FileHandle;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #writebackError: unknown;
  readonly #now: () => number;
  readonly #paths: IngestPaths;
  #ranges: ByteRange[];
  #state: State = 'open';
  #ledgerChain: Promise<void> = Promise.resolve();
  #queuedFlush: Promise<void> | undefined;
  /** The first ledger of a fresh ingest, written in the background: resolves to its error or undefined. */
  #firstLedger: Promise<unknown> | undefined;
  readonly #hasher: PrefixHasher;

  constructor(root: string, desc: Descriptor, lock: BlobLock, fh: FileHandle, ranges: ByteRange[], paths: IngestPaths, options: OpenIngestOptions) {
    this.desc = desc;
    this.#root = root;
    this.#lock = lock;
    this.#fh = fh;
    this.#ranges = ranges;
    this.#now = options.now;
    this.#paths = paths;
    this.#hasher = new PrefixHasher(
      splitDigest(desc.digest).algorithm,
      async (buffer, length, position) => (await fh.read(buffer, 0, length, position)).bytesRead,
      () => (this.#ranges[0]?.start === 0 ? this.#ranges[0].end + 1 : 0),
    );
  }

  completed(): readonly ByteRange[] {
    return this.#ranges;
  }

  /** Takes the background write of a fresh ingest's first ledger, which every write waits for. */
  recordFirstLedger(flush: Promise<void>): void {
    this.#firstLedger = flush.then(
      () => undefined,
      (err: unknown) => err,
    );
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
    // Network chunks are small (16–64 KiB). A chunk is written at once when no write is in flight; while
    // one is, arrivals gather and go out together in one writev. Fast links get few large writes (tens of
    // thousands fewer thread-pool round trips on a big blob), slow or stalled ones lose no latency.
    // Only bytes really written reach the ledger.
    let batch: Uint8Array[] = [];
    let batched = 0;
    let received = 0;
    let inflight: Promise<void> | undefined;
    let writeError: unknown;
    const writeBatch = async (): Promise<void> => {
      const chunks = batch;
      const length = batched;
      batch = [];
      batched = 0;
      // No data before the ledger naming its file, so a crash leaves a partial the next holder can
      // claim. Waited for here, not before reading: the body must be consumed (and its errors heard)
      // from the start, or an abort in between destroys it with nobody listening.
      if (this.#firstLedger !== undefined) {
        const err = await this.#firstLedger;
        if (err !== undefined) throw err;
        this.#firstLedger = undefined;
      }
      await this.#writeFully(chunks, pos);
      for (const chunk of chunks) {
        this.#recordWritten(chunk, pos);
        pos += chunk.length;
      }
      unflushedBytes += length;
      this.#startWriteback(length);
      options.onBytes?.(length);
      if (unflushedBytes >= DEFAULT_LEDGER_FLUSH_BYTES || this.#now() - lastFlush >= DEFAULT_LEDGER_FLUSH_MS) {
        unflushedBytes = 0;
        lastFlush = this.#now();
        // Not awaited: four file operations in the thread pool stalled this stream's writes each time
        // (~0.1 s of a 330 MB pull on loopback). A failure still stops the stream at its next chunk, and
        // writeAt's closing flush is awaited, so the ledger matches the disk when writeAt returns.
        this.flushLedger().catch((err: unknown) => {
          writeError ??= err;
        });
      }
    };
    const startWrite = (): void => {
      if (inflight !== undefined || batched === 0 || writeError !== undefined) return;
      inflight = writeBatch().then(
        () => {
          inflight = undefined;
          startWrite();
        },
        (err: unknown) => {
          inflight = undefined;
          writeError = err;
        },
      );
    };
    const settle = async (): Promise<void> => {
      startWrite();
      while (inflight !== undefined) await inflight;
      if (writeError !== undefined) throw writeError;
    };
    try {
      for await (const chunk of body) {
        throwIfAborted(options.signal);
        if (this.#lock.lost) throw this.#lock.lost;
        if (writeError !== undefined) throw writeError;
        if (offset + received + chunk.length > this.desc.size) {
          throw new IntegrityError(`${shortDigest(this.desc.digest)}: received more bytes than the descriptor's size ${this.desc.size}`);
        }
        received += chunk.length;
        batch.push(chunk);
        batched += chunk.length;
        startWrite();
        if (batched >= DEFAULT_WRITE_BATCH_BYTES) await settle(); // the disk is slower than the network: push back
      }
      await settle();
      throwIfAborted(options.signal);
    } catch (err) {
      failure = err;
      // bytes that arrived before a network error or abort are good data: keep them for the resume
      if (!(err instanceof LocalIOError) && !this.#lock.lost) await settle().catch(() => {});
      else while (inflight !== undefined) await inflight;
    }
    // Every writeAt ends (success, body error, abort, disk full) with the ledger matching the disk,
    // except the one that completes the blob: commit comes next and removes the ledger, and a crash
    // in between costs at most the last flush interval.
    try {
      if (failure !== undefined || !this.#complete()) await this.flushLedger();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw failure;
    return pos - offset;
  }

  async #writeFully(chunks: readonly Uint8Array[], position: number): Promise<void> {
    this.#hasher.willWrite(position);
    let pending = chunks;
    let at = position;
    try {
      // A short write is continued; a failure part-way leaves the whole batch out of the ledger, so
      // those bytes are fetched again rather than trusted.
      while (pending.length > 0) {
        const { bytesWritten } = await this.#fh.writev(pending as Uint8Array[], at);
        at += bytesWritten;
        pending = skipBytes(pending, bytesWritten);
      }
    } catch (err) {
      throw toLocalIOError(err, `writing ${shortDigest(this.desc.digest)} to the cache`);
    }
  }

  /**
   * Starts writing the data out once WRITEBACK_BYTES have landed since the last time. Linux holds dirty
   * pages until gigabytes pile up, so without this the whole blob reached the disk during commit's
   * fsync, after the last byte arrived (a 330 MB pull spent ~0.3 s there). One datasync at a time, in
   * the background; its error is kept for commit, because the failed pages no longer count as dirty
   * and commit's own fsync might not report it again.
   */
  #startWriteback(written: number): void {
    this.#unsynced += written;
    if (this.#syncing || this.#unsynced < WRITEBACK_BYTES) return;
    this.#unsynced = 0;
    this.#syncing = this.#fh.datasync().then(
      () => {
        this.#syncing = undefined;
      },
      (err: unknown) => {
        this.#syncing = undefined;
        this.#writebackError ??= err;
      },
    );
  }

  #complete(): boolean {
    const [first] = this.#ranges;
    return this.#ranges.length === 1 && first !== undefined && first.start === 0 && first.end === this.desc.size - 1;
  }

  // Chunk by chunk, not once per batch: the hasher hashes a chunk in passing only while the recorded
  // prefix ends where the chunk does; a whole batch recorded first sent it reading the rest back from disk.
  #recordWritten(chunk: Uint8Array, position: number): void {
    this.#ranges = addRange(this.#ranges, { start: position, end: position + chunk.length - 1 });
    this.#hasher.written(chunk, position);
  }

  /**
   * Writes the ledger, naming our data file (serialised: one rename at a time), unless the lock was
   * lost to another process. The directory vanishing means another holder committed or discarded it:
   * we lost this blob (LockError, so the transfer layer looks again), not the disk.
   */
  flushLedger(closed = false): Promise<void> {
    // A flush still queued will record the ranges as they are when it starts: it serves this call too,
    // so streams finishing together do not queue one rename each.
    if (!closed && this.#queuedFlush) return this.#queuedFlush;
    const next: Promise<void> = this.#ledgerChain.then(async () => {
      if (this.#queuedFlush === next) this.#queuedFlush = undefined;
      if (this.#lock.lost) return;
      const text = serializeLedger({
        version: LEDGER_VERSION,
        digest: this.desc.digest,
        size: this.desc.size,
        ranges: this.#ranges,
        updatedAt: new Date().toISOString(),
        data: this.#paths.dataName,
        closed,
      });
      try {
        // No fsync: the rename keeps a reader from seeing half a ledger, and a ledger lost to a power
        // cut only costs the resume (the data file is not fsynced before commit either, and commit
        // verifies every byte). Each flush used to fsync, a disk flush per 64 MiB and per blob start.
        await writeFileAtomic(this.#paths.ledger, text, this.#paths.dir, 0o644, { sync: false });
      } catch (err) {
        if (errorCode(err) === 'ENOENT') throw this.#lostBlob('its ingest directory was removed by another process');
        throw toLocalIOError(err, `recording progress of ${shortDigest(this.desc.digest)}`);
      }
    });
    this.#ledgerChain = next.catch(() => {});
    if (!closed) this.#queuedFlush = next;
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
    const info = { digest: this.desc.digest, size: this.desc.size, path: target };
    this.#state = 'committed';
    let committed = false; // the blob is in blobs/ and our lock is still ours to release
    try {
      // fchmod on our own descriptor: the verified inode is the one made read-only and renamed.
      // Meanwhile: has another process committed the same digest first? Its file is identical, so
      // that is success.
      const chmodded = this.#fh.chmod(0o444).then(() => this.#fh.close());
      const [present] = await Promise.all([exists(target), chmodded]);
      committed = present || (await renameIfOurs(this.#paths.data, target));
      // Both need only the rename done: the new name made durable, our scratch directory gone.
      if (committed) await Promise.all([fsyncDir(join(target, '..')), this.#removeDir()]);
    } catch (err) {
      throw toLocalIOError(err, `committing ${shortDigest(this.desc.digest)} to the cache`);
    } finally {
      // Our data file gone means another process took the blob over: its lock is not ours to remove.
      if (committed) await this.#lock.release();
      else this.#lock.abandon();
    }
    // Taken over: the new owner may have committed already, which is as good as our own commit.
    if (committed || (await exists(target))) return info;
    throw this.#lostBlob('another process took over its download');
  }

  /**
   * Removes the ingest directory. After a commit it holds the ledger alone, so two file operations do;
   * anything else left there (a scratch file of a ledger rewrite) takes the recursive removal, whose
   * JavaScript tree walk cost ~2 ms of the event loop per blob.
   */
  async #removeDir(): Promise<void> {
    try {
      await unlink(this.#paths.ledger).catch((err: unknown) => {
        if (errorCode(err) !== 'ENOENT') throw err;
      });
      await rmdir(this.#paths.dir);
    } catch {
      await rm(this.#paths.dir, { recursive: true, force: true });
    }
  }

  #lostBlob(why: string): LockError {
    this.#lock.abandon();
    return new LockError(`lost ${shortDigest(this.desc.digest)}: ${why}`, {
      hint: 'another process took the lock over as stale; a very busy machine or a slow shared filesystem can cause this',
    });
  }

  /** fsyncs the data and returns its size and digest; the fsync and the hashing of what is left overlap. */
  async #verify(): Promise<{ size: number; digest: string }> {
    try {
      const { size } = await this.#fh.stat();
      if (size !== this.desc.size) return { size, digest: '' };
      const [digest] = await Promise.all([this.#hasher.digest(size), this.#fh.sync(), this.#syncing]);
      if (this.#writebackError !== undefined) throw this.#writebackError;
      return { size, digest };
    } catch (err) {
      throw toLocalIOError(err, `verifying ${shortDigest(this.desc.digest)} in the cache`);
    }
  }

  async abort(options: { keepPartial: boolean }): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    try {
      await this.#hasher.stop();
      await this.#ledgerChain;
      // close() waits for writes still in flight on the handle, so after it nothing writes our file.
      await this.#fh.close().catch(() => {});
      // Say so in the ledger: the next holder may then adopt the file instead of copying it. Best
      // effort: without it (full disk) the next holder copies, which is merely slower.
      if (options.keepPartial && this.#ranges.length > 0) await this.flushLedger(true).catch(() => {});
      // Only our own file, and the ledger only while it names it: after a takeover the directory
      // holds the new owner's work, which is never deleted under them.
      if (!options.keepPartial) await this.#discardOwnFiles();
    } finally {
      await this.#lock.release();
    }
  }

  async #discardOwnFiles(): Promise<void> {
    await rm(this.#paths.data, { force: true });
    if (this.#lock.lost) return;
    const ledger = parseLedger(await readFile(this.#paths.ledger, 'utf8').catch(() => ''));
    if (ledger?.data === this.#paths.dataName) await rm(this.#paths.ledger, { force: true });
    // Succeeds only when nothing else is left (scratch files of the ledger's atomic writes included).
    await rmdir(this.#paths.dir).catch(() => {});
  }

  #assertUsable(): void {
    if (this.#lock.lost) throw this.#lock.lost;
    if (this.#state !== 'open') throw new LocalIOError(`the ingest of ${shortDigest(this.desc.digest)} is already ${this.#state}`);
  }
}

/** Returns the buffers left after the first `n` bytes (for continuing a short writev). */
function skipBytes(chunks: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = n;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    out.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return out;
}
