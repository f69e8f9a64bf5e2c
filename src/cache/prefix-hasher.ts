/**
 * The digest of an ingest whose bytes arrive out of order (Range chunks written side by side).
 *
 * Bytes written exactly where the hashed prefix ends are hashed as they pass, without a disk read.
 * Bytes written further on wait; once the contiguous written prefix has grown past them (the chunk
 * before them finished), they are read back — from the page cache, they were just written — and hashed
 * in the background while the download goes on. Commit is then left with little or nothing to read,
 * instead of re-reading most of a chunked blob at the end of the pull, its slowest moment.
 *
 * One reader at a time, positional reads only. A write over bytes already hashed makes the hash
 * unknowable: it starts over from byte 0 (a new generation; a read in flight for the old one is
 * dropped) and the background reads re-hash from disk.
 */
import type { Digest, DigestAlgorithm } from '../oci/digest.js';
import { createDigester } from '../oci/digest.js';

/** Read size for bytes hashed from disk. */
const READ_BYTES = 1024 * 1024;

/** Reads up to `length` bytes at `position` into `buffer`; returns how many were read (0 at end of file). */
export type ReadAt = (buffer: Buffer, length: number, position: number) => Promise<number>;

export class PrefixHasher {
  readonly #algorithm: DigestAlgorithm;
  readonly #readAt: ReadAt;
  /** One past the last byte of the contiguous bytes written from 0 (they are on disk). */
  readonly #prefixEnd: () => number;
  #digester: ReturnType<typeof createDigester>;
  // Bytes [0, #hashedUpTo) went through #digester in order.
  #hashedUpTo = 0;
  #generation = 0;
  #reading: Promise<void> | undefined;
  // While a read is in flight: one past its last byte. A write below it may race the read.
  #readingEnd = 0;
  #stopped = false;

  constructor(algorithm: DigestAlgorithm, readAt: ReadAt, prefixEnd: () => number) {
    this.#algorithm = algorithm;
    this.#readAt = readAt;
    this.#prefixEnd = prefixEnd;
    this.#digester = createDigester(algorithm);
  }

  /** Bytes hashed so far, from 0. */
  get hashedBytes(): number {
    return this.#hashedUpTo;
  }

  /** Call before writing at `position`: a write over hashed (or being-read) bytes invalidates the hash. */
  willWrite(position: number): void {
    if (position < this.#frontier()) this.#startOver();
  }

  /** Call once `chunk` is on disk at `position` and counted in the prefix. */
  written(chunk: Uint8Array, position: number): void {
    if (position === this.#hashedUpTo && this.#reading === undefined) {
      this.#digester.hash.update(chunk);
      this.#hashedUpTo += chunk.length;
    } else if (position < this.#frontier()) {
      // This write overlapped bytes hashed (or read) while it was in flight; which bytes won is unknown here.
      this.#startOver();
    }
    this.#catchUp();
  }

  /** Hashes whatever of the first `size` bytes is not hashed yet (reading it from disk) and returns the digest. */
  async digest(size: number): Promise<Digest> {
    while (this.#reading !== undefined) await this.#reading;
    if (this.#hashedUpTo < size) {
      // Everything is written by now: the rest was never in the prefix, or a background read failed.
      await this.#startReading(() => size, true);
    }
    return this.#digester.digest();
  }

  /** Stops background reads and waits for the one in flight (before the file is closed). */
  async stop(): Promise<void> {
    this.#stopped = true;
    while (this.#reading !== undefined) await this.#reading;
  }

  #frontier(): number {
    return this.#reading === undefined ? this.#hashedUpTo : Math.max(this.#hashedUpTo, this.#readingEnd);
  }

  #startOver(): void {
    this.#generation++;
    this.#digester = createDigester(this.#algorithm);
    this.#hashedUpTo = 0;
    this.#reading = undefined; // a read of the old generation finds its generation gone and drops its bytes
  }

  #catchUp(): void {
    if (this.#reading !== undefined || this.#stopped || this.#prefixEnd() <= this.#hashedUpTo) return;
    void this.#startReading(this.#prefixEnd, false);
  }

  #startReading(end: () => number, mustFinish: boolean): Promise<void> {
    const reading: Promise<void> = this.#readUntil(this.#generation, end, mustFinish).finally(() => {
      if (this.#reading !== reading) return;
      this.#reading = undefined;
      this.#catchUp(); // bytes that joined the prefix during the last read
    });
    this.#reading = reading;
    return reading;
  }

  /** Reads and hashes from #hashedUpTo up to end() (re-read after every read: the prefix grows meanwhile). */
  async #readUntil(generation: number, end: () => number, mustFinish: boolean): Promise<void> {
    const mine = (): boolean => generation === this.#generation;
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    try {
      while (mine() && (mustFinish || !this.#stopped)) {
        const at = this.#hashedUpTo;
        const length = Math.min(buffer.length, end() - at);
        if (length <= 0) break;
        this.#readingEnd = at + length;
        const read = await this.#readAt(buffer, length, at);
        if (!mine()) return;
        if (read === 0) break;
        this.#digester.hash.update(buffer.subarray(0, read));
        this.#hashedUpTo = at + read;
      }
    } catch (err) {
      // In the background a failed read only leaves the rest to digest(); there it is the answer.
      if (mustFinish && mine()) throw err;
    }
  }
}
