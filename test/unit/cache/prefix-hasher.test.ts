import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { addRange } from '../../../src/cache/ledger.js';
import { PrefixHasher } from '../../../src/cache/prefix-hasher.js';
import type { ByteRange } from '../../../src/oci/descriptor.js';
import { computeDigest } from '../../../src/oci/digest.js';

/**
 * A file in memory with the ingest's bookkeeping: writes land at once, reads wait until released (or
 * run at once in auto mode), and every read is logged, so tests can interleave writes with reads.
 */
function fakeFile(size: number, options: { auto?: boolean } = {}) {
  const disk = Buffer.alloc(size);
  let ranges: ByteRange[] = [];
  const reads: { position: number; length: number }[] = [];
  const pending: (() => void)[] = [];
  const hasher = new PrefixHasher(
    'sha256',
    async (buffer, length, position) => {
      reads.push({ position, length });
      // The disk as the read starts: a write landing while it waits is not seen (the racy case).
      const seen = Buffer.from(disk.subarray(position, position + length));
      if (!options.auto) await new Promise<void>((resolve) => pending.push(resolve));
      seen.copy(buffer);
      return Math.max(0, Math.min(length, size - position));
    },
    () => (ranges[0]?.start === 0 ? ranges[0].end + 1 : 0),
  );
  return {
    disk,
    hasher,
    reads,
    /** Writes `bytes` at `position` the way the ingest does: willWrite, write, record, written. */
    write(position: number, bytes: Uint8Array) {
      hasher.willWrite(position);
      disk.set(bytes, position);
      ranges = addRange(ranges, { start: position, end: position + bytes.length - 1 });
      hasher.written(bytes, position);
    },
    /** Lets the oldest waiting read complete and waits for the hasher to take its bytes. */
    async releaseRead() {
      pending.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    },
    get waitingReads() {
      return pending.length;
    },
    async drain() {
      while (pending.length > 0) await this.releaseRead();
    },
  };
}

const MiB = 1024 * 1024;

describe('PrefixHasher', () => {
  it('hashes bytes written in order as they pass, with no read', async () => {
    const content = randomBytes(3 * MiB);
    const f = fakeFile(content.length, { auto: true });
    for (let at = 0; at < content.length; at += 64 * 1024) f.write(at, content.subarray(at, at + 64 * 1024));
    expect(await f.hasher.digest(content.length)).toBe(computeDigest(content));
    expect(f.reads).toEqual([]);
  });

  it('reads back only the bytes written ahead, once the prefix reaches them, before digest is asked', async () => {
    const content = randomBytes(4 * MiB);
    const f = fakeFile(content.length);
    f.write(2 * MiB, content.subarray(2 * MiB)); // the second chunk lands first
    expect(f.reads).toEqual([]); // not in the prefix yet: nothing to read
    f.write(0, content.subarray(0, 2 * MiB)); // the first chunk, hashed as it passes
    expect(f.hasher.hashedBytes).toBe(2 * MiB);
    expect(f.reads).toEqual([{ position: 2 * MiB, length: MiB }]); // the background read-back starts
    await f.drain();
    expect(f.hasher.hashedBytes).toBe(4 * MiB); // done before commit asks
    expect(await f.hasher.digest(content.length)).toBe(computeDigest(content));
    expect(f.reads.map((r) => r.position)).toEqual([2 * MiB, 3 * MiB]);
  });

  it('digest reads what never joined the prefix while writing (resumed or lone bytes)', async () => {
    const content = randomBytes(MiB + 5);
    const f = fakeFile(content.length, { auto: true });
    f.write(10, content.subarray(10)); // bytes 0-9 come last, in one write
    f.write(0, content.subarray(0, 10));
    expect(await f.hasher.digest(content.length)).toBe(computeDigest(content));
  });

  it('starts over when hashed bytes are written again (a stream restarted at 0)', async () => {
    const content = randomBytes(2 * MiB);
    const f = fakeFile(content.length, { auto: true });
    f.write(0, randomBytes(MiB)); // wrong bytes first, hashed inline
    f.write(0, content.subarray(0, MiB)); // rewritten: the inline hash no longer describes the disk
    f.write(MiB, content.subarray(MiB));
    expect(await f.hasher.digest(content.length)).toBe(computeDigest(content));
  });

  it('a write racing a read-back of the same bytes invalidates that read', async () => {
    const content = randomBytes(2 * MiB);
    const f = fakeFile(content.length);
    f.write(MiB, randomBytes(MiB)); // stale bytes ahead of the prefix
    f.write(0, content.subarray(0, MiB)); // prefix reaches them: read-back of [1 MiB, 2 MiB) is in flight
    expect(f.waitingReads).toBe(1);
    f.write(MiB, content.subarray(MiB)); // rewritten while the read is in flight
    // Whatever the read saw, the hash must describe the final disk.
    const digest = f.hasher.digest(content.length);
    await f.drain();
    await f.drain();
    expect(await digest).toBe(computeDigest(content));
  });

  it('stop ends background reads: none starts afterwards', async () => {
    const content = randomBytes(3 * MiB);
    const f = fakeFile(content.length);
    f.write(MiB, content.subarray(MiB));
    f.write(0, content.subarray(0, MiB));
    expect(f.reads).toHaveLength(1);
    const stopped = f.hasher.stop();
    await f.releaseRead();
    await stopped;
    expect(f.reads).toHaveLength(1);
    expect(f.hasher.hashedBytes).toBe(2 * MiB); // the read in flight finished; no further one began
  });
});
