import { describe, expect, it } from 'vitest';
import { AbortedError } from '../../../src/errors.js';
import { createHostBackoff } from '../../../src/transfer/host-backoff.js';

/** A clock that only moves when someone sleeps, recording every sleep. */
function fakeClock(advance = true) {
  let t = 1_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    tick: (ms: number) => (t += ms),
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw new AbortedError('interrupted');
      sleeps.push(ms);
      if (advance) t += ms;
    },
  };
}

describe('createHostBackoff', () => {
  it('does not delay an unpaused host', async () => {
    const clock = fakeClock();
    const backoff = createHostBackoff(clock);
    await backoff.wait('a.example', new AbortController().signal);
    expect(clock.sleeps).toEqual([]);
    expect(backoff.remaining('a.example')).toBe(0);
  });

  it('pauses only the host that was rate limited, until the time passes', async () => {
    const clock = fakeClock();
    const backoff = createHostBackoff(clock);
    backoff.pause('a.example', 5_000);
    expect(backoff.remaining('a.example')).toBe(5_000);
    expect(backoff.remaining('b.example')).toBe(0);
    clock.tick(2_000);
    await backoff.wait('a.example', new AbortController().signal);
    expect(clock.sleeps).toEqual([3_000]);
    expect(backoff.remaining('a.example')).toBe(0);
  });

  it('extends a running pause but never shortens it', () => {
    const clock = fakeClock();
    const backoff = createHostBackoff(clock);
    backoff.pause('h', 5_000);
    backoff.pause('h', 1_000);
    expect(backoff.remaining('h')).toBe(5_000);
    backoff.pause('h', 9_000);
    expect(backoff.remaining('h')).toBe(9_000);
  });

  it('waits again when the pause is extended while sleeping', async () => {
    const clock = fakeClock();
    const backoff = createHostBackoff(clock);
    backoff.pause('h', 1_000);
    const originalSleep = clock.sleep;
    let first = true;
    const waiting = createHostBackoff({
      now: clock.now,
      sleep: async (ms, signal) => {
        await originalSleep(ms, signal);
        if (first) {
          first = false;
          waiting.pause('h', 4_000); // a 429 arrives while we sleep
        }
      },
    });
    waiting.pause('h', 1_000);
    await waiting.wait('h', new AbortController().signal);
    expect(clock.sleeps).toEqual([1_000, 4_000]);
  });

  it('ends the wait after one full sleep even on a frozen clock', async () => {
    const clock = fakeClock(false);
    const backoff = createHostBackoff(clock);
    backoff.pause('h', 2_500);
    await backoff.wait('h', new AbortController().signal);
    expect(clock.sleeps).toEqual([2_500]);
    expect(backoff.remaining('h')).toBe(0);
  });

  it('rejects with AbortedError when the signal fires', async () => {
    const clock = fakeClock();
    const backoff = createHostBackoff(clock);
    backoff.pause('h', 1_000);
    const ac = new AbortController();
    ac.abort();
    await expect(backoff.wait('h', ac.signal)).rejects.toBeInstanceOf(AbortedError);
  });
});
