// guardBody: the body's own chunks, unjoined; backpressure on a consumer that holds back; the byte
// limit; the stream's errors; the idle timeout; the abort signal.
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, StalledError } from '../../../src/errors.js';
import { guardBody } from '../../../src/transfer/body.js';

const KiB = 1024;
const guard = (body: Readable, over: Partial<Parameters<typeof guardBody>[1]> = {}) =>
  guardBody(body, { maxBytes: () => Number.POSITIVE_INFINITY, idleTimeoutMs: 30_000, signal: new AbortController().signal, ...over });

/** A body that makes `count` chunks of `size` bytes on demand and counts what it made. */
function source(count: number, size: number): { body: Readable; made: () => number } {
  let made = 0;
  const body = new Readable({
    read() {
      if (made === count * size) return void this.push(null);
      made += size;
      this.push(Buffer.alloc(size, made / size));
    },
  });
  return { body, made: () => made };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('guardBody', () => {
  it('yields the chunks the body delivered, not one buffer joining those that waited', async () => {
    const chunks = [Buffer.from('aaa'), Buffer.from('bbbb'), Buffer.from('cc')];
    const body = new Readable({ read() {} });
    for (const c of chunks) body.push(c); // all buffered before the first read
    body.push(null);
    const out: Uint8Array[] = [];
    for await (const c of guard(body)) out.push(c);
    expect(out).toEqual(chunks);
    expect(out[1]).toBe(chunks[1]); // the same buffer: nothing copied
  });

  it('pauses the body while the consumer holds back, and resumes once it has taken the queue', async () => {
    const { body, made } = source(64, 16 * KiB); // 1 MiB in all
    const it = guard(body)[Symbol.asyncIterator]();
    await it.next();
    await new Promise((resolve) => setTimeout(resolve, 20)); // consumer busy: the body runs ahead, then stops
    const heldBack = made();
    expect(heldBack).toBeLessThanOrEqual(256 * KiB + 64 * KiB + 32 * KiB); // our queue, the body's own buffer, one in flight
    expect(body.isPaused()).toBe(true);
    let total = 16 * KiB;
    for (let next = await it.next(); !next.done; next = await it.next()) total += next.value.byteLength;
    expect(total).toBe(1024 * KiB);
  });

  it('stops at the byte limit, asked again before every chunk, and destroys the body', async () => {
    const { body } = source(8, 10);
    let limit = 25;
    const out: number[] = [];
    for await (const c of guard(body, { maxBytes: () => limit })) {
      out.push(c.byteLength);
      if (out.length === 1) limit = 15; // lowered meanwhile (a split)
    }
    expect(out).toEqual([10, 5]);
    expect(body.destroyed).toBe(true);
  });

  it("throws the body's error, and a close before the end as a premature close", async () => {
    const failing = new Readable({ read() {} });
    failing.push(Buffer.from('x'));
    setImmediate(() => failing.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    await expect(drain(guard(failing))).rejects.toMatchObject({ code: 'ECONNRESET' });
    const closed = new Readable({ read() {} });
    setImmediate(() => closed.destroy());
    await expect(drain(guard(closed))).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('fails with StalledError when no byte comes for the idle timeout', async () => {
    vi.useFakeTimers();
    const body = new Readable({ read() {} });
    const done = drain(guard(body, { idleTimeoutMs: 5_000 }));
    const seen = expect(done).rejects.toBeInstanceOf(StalledError);
    await vi.advanceTimersByTimeAsync(5_001);
    await seen;
    expect(body.destroyed).toBe(true);
  });

  it('fails with AbortedError on abort, and an error the body emits after that is not left unheard', async () => {
    const ac = new AbortController();
    const body = new Readable({ read() {} });
    ac.signal.addEventListener('abort', () => body.destroy(new Error('late')), { once: true }); // as a transport might
    const done = drain(guard(body, { signal: ac.signal }));
    setImmediate(() => void Promise.resolve().then(() => ac.abort())); // from a microtask: we stop before the error's tick
    await expect(done).rejects.toBeInstanceOf(AbortedError);
  });
});

async function drain(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.byteLength;
  return n;
}
