import { describe, expect, it } from 'vitest';
import type { ByteRange } from '../../../src/oci/descriptor.js';
import { BUSY, createSplitter, MIN_SPLIT_MS, WINDOW_MS, type LiveRange, type Splitter } from '../../../src/transfer/split.js';

const MiB = 1024 * 1024;
/** Bytes per millisecond of a 10 MB/s connection. */
const CAP = 10_000;

/**
 * A run of requests in virtual time: each flowing range moves at its own pace (bytes per ms), and
 * the splitter hears of every byte, as the engine would tell it.
 */
function simulation(options: { slots?: number; minPiece?: number; busy?: () => number } = {}) {
  let now = 0;
  const slots = options.slots ?? 12;
  const live = new Set<LiveRange>();
  const pace = new Map<LiveRange, number>();
  const spawned: ByteRange[] = [];
  /** For each split: where the request it was taken from stood at that moment. */
  const victims: { next: number; end: number }[] = [];
  let active = 0;
  const splitter: Splitter = createSplitter({
    now: () => now,
    idleSlots: () => slots - active,
    activeRequests: () => active,
    minPiece: options.minPiece ?? MiB,
    ...(options.busy ? { busy: options.busy } : {}),
  });
  const start = (range: ByteRange, bytesPerMs: number): LiveRange => {
    const r: LiveRange = { ...range, next: range.start, firstByteAt: now, attemptBytes: 0 };
    live.add(r);
    pace.set(r, bytesPerMs);
    active++;
    return r;
  };
  const blob = {
    live,
    spawn(range: ByteRange): LiveRange {
      spawned.push(range);
      const victim = [...live].find((r) => r.end === range.start - 1)!;
      victims.push({ next: victim.next, end: victim.end });
      // Queued at once, answered at the next step: what a slot taken by the engine looks like.
      const r: LiveRange = { ...range, next: range.start, firstByteAt: undefined, attemptBytes: 0 };
      live.add(r);
      pace.set(r, 0);
      active++;
      return r;
    },
  };
  splitter.register(blob);
  const end = (r: LiveRange): void => {
    live.delete(r);
    pace.delete(r);
    active--;
    splitter.onSlotFreed();
  };
  /** Advances `ms` in steps of 10 ms; `paceOf` gives each flowing range its bytes per ms. */
  const flow = (ms: number, paceOf: (r: LiveRange) => number): void => {
    for (let t = 0; t < ms; t += 10) {
      now += 10;
      let total = 0;
      for (const r of [...live]) {
        if (r.firstByteAt === undefined) r.firstByteAt = now;
        const n = Math.min(Math.round(paceOf(r) * 10), r.end - r.next + 1);
        r.next += n;
        r.attemptBytes += n;
        total += n;
        if (r.next > r.end) end(r);
      }
      if (total > 0) splitter.onBytes(total);
    }
  };
  return { start, flow, end, spawned, victims, live, splitter };
}

/** Each flowing range at the same pace: a link that caps every connection. */
const capped = (perConnection: number) => () => perConnection;
/** `total` shared by however many ranges flow: a saturated machine or link. */
const shared = (total: number, live: ReadonlySet<LiveRange>) => () => total / live.size;

describe('createSplitter', () => {
  it('leaves a lone request alone until the run has a steady throughput to compare against', () => {
    const sim = simulation();
    sim.start({ start: 0, end: 200 * MiB - 1 }, CAP);
    sim.flow(WINDOW_MS * 2 - 20, capped(CAP));
    expect(sim.spawned).toEqual([]);
  });

  it('probes by giving the back half of the request with the longest time left to a new request', () => {
    const sim = simulation();
    const slow = sim.start({ start: 0, end: 200 * MiB - 1 }, CAP);
    sim.start({ start: 0, end: 300 * MiB - 1 }, 4 * CAP); // more bytes, but done sooner
    sim.flow(WINDOW_MS * 2 + 50, (r) => (r === slow ? CAP : 4 * CAP));
    expect(sim.spawned).toHaveLength(1);
    const [piece] = sim.spawned;
    const [victim] = sim.victims;
    expect(piece!.end).toBe(200 * MiB - 1);
    // The request now stops where the piece starts, halfway through what it had left.
    expect(slow.end).toBe(piece!.start - 1);
    const kept = victim!.end - victim!.next + 1;
    expect(kept - (piece!.end - piece!.start + 1)).toBeGreaterThanOrEqual(0);
    expect(kept - (piece!.end - piece!.start + 1)).toBeLessThanOrEqual(1);
  });

  it('does not probe while the throughput still climbs', () => {
    const sim = simulation();
    sim.start({ start: 0, end: 500 * MiB - 1 }, CAP);
    let pace = CAP;
    // +20 % per window, as a pull does while its connections warm up
    for (let w = 0; w < 6; w++) {
      sim.flow(WINDOW_MS, () => pace);
      pace *= 1.2;
    }
    expect(sim.spawned).toEqual([]);
  });

  it('doubles the probe while each one raises throughput, as on a link that caps every connection', () => {
    const sim = simulation();
    sim.start({ start: 0, end: 1000 * MiB - 1 }, CAP);
    sim.flow(3000, capped(CAP));
    // 1 → 2 → 4 → 8 → 12 requests: each probe paid, the last filled the slots.
    expect(sim.spawned.length).toBe(11);
    expect(sim.live.size).toBe(12);
  });

  it('stops at the ceiling when more requests share the same throughput, as on a busy machine', () => {
    const sim = simulation();
    sim.start({ start: 0, end: 1000 * MiB - 1 }, 0);
    sim.start({ start: 0, end: 1000 * MiB - 1 }, 0);
    sim.flow(3000, shared(20 * CAP, sim.live));
    // One probe, which did not pay: no more splits while the run stays at its ceiling.
    expect(sim.spawned).toHaveLength(1);
    expect(sim.live.size).toBe(3);
  });

  it('counts a probe during which a request ended as failed, though throughput rose', () => {
    const sim = simulation();
    const short = sim.start({ start: 0, end: 1000 * MiB - 1 }, 0);
    sim.start({ start: 0, end: 1000 * MiB - 1 }, 0);
    sim.flow(2 * WINDOW_MS + 30, shared(8 * CAP, sim.live));
    expect(sim.spawned).toHaveLength(1); // the probe
    // A request ends, and the machine then moves more bytes on fewer requests (as a loopback pull does).
    sim.end(short);
    sim.flow(2000, shared(12 * CAP, sim.live));
    expect(sim.spawned).toHaveLength(1); // no second probe: the rise came with an end, and set the ceiling
  });

  it('doubles the probe when throughput rose with no request ending', () => {
    const sim = simulation();
    sim.start({ start: 0, end: 1000 * MiB - 1 }, 0);
    sim.start({ start: 0, end: 1000 * MiB - 1 }, 0);
    sim.flow(2 * WINDOW_MS + 30, capped(4 * CAP));
    expect(sim.spawned).toHaveLength(1);
    sim.flow(WINDOW_MS + 100, capped(4 * CAP));
    expect(sim.spawned).toHaveLength(3); // then two at once
  });

  it('fills every idle slot once the run stays below its ceiling: requests that ended left the link idle', () => {
    const sim = simulation();
    // Six requests fill a 60 MB/s link at 10 MB/s each; three end early.
    const big = [0, 1, 2].map(() => sim.start({ start: 0, end: 500 * MiB - 1 }, 0));
    const small = [0, 1, 2].map(() => sim.start({ start: 0, end: 20_000_000 - 1 }, 0));
    const link = () => Math.min(CAP, (6 * CAP) / sim.live.size);
    sim.flow(1500, link);
    expect(sim.spawned).toHaveLength(1); // the probe: a seventh request adds nothing on a full link
    expect(small.every((r) => sim.live.has(r))).toBe(true);
    const before = sim.spawned.length;
    sim.flow(3000, link); // the small ones end after ~2.3 s: throughput falls to 40 MB/s
    expect(small.some((r) => sim.live.has(r))).toBe(false);
    expect(big.every((r) => sim.live.has(r))).toBe(true);
    expect(sim.spawned.length).toBeGreaterThan(before);
    expect(sim.live.size).toBe(12);
  });

  it('takes a dip for noise while one request moves a large share of the ceiling, as on a busy machine', () => {
    const sim = simulation();
    const a = sim.start({ start: 0, end: 2000 * MiB - 1 }, 0);
    sim.start({ start: 0, end: 2000 * MiB - 1 }, 0);
    sim.flow(1500, shared(40 * CAP, sim.live));
    expect(sim.spawned).toHaveLength(1); // the probe, which did not pay: ceiling 40 CAP
    const piece = [...sim.live].find((r) => r.start === sim.spawned[0]!.start)!;
    sim.end(piece);
    // A long dip to 60 %, but each request still moves 30 % of the ceiling: not a capped link.
    sim.flow(1000, shared(24 * CAP, sim.live));
    expect(sim.spawned).toHaveLength(1);
    expect(sim.live.has(a)).toBe(true);
  });

  it('never leaves a piece smaller than minPiece, nor splits a rest that takes less than MIN_SPLIT_MS', () => {
    const small = simulation({ minPiece: 8 * MiB });
    small.start({ start: 0, end: 16 * MiB - 1 }, CAP / 2); // 16 MiB at 5 MB/s: 3 s, but its halves would be < 8 MiB once started
    small.flow(1500, capped(CAP / 2));
    expect(small.spawned).toEqual([]);

    const quick = simulation();
    const pace = (4 * MiB) / MIN_SPLIT_MS; // 4 MiB left takes MIN_SPLIT_MS
    quick.start({ start: 0, end: 2 * WINDOW_MS * pace + 3 * MiB }, pace);
    quick.flow(2 * WINDOW_MS + 60, capped(pace));
    expect(quick.spawned).toEqual([]);
  });

  it('splits nothing while the event loop is busy: our own CPU is the limit', () => {
    let busy = BUSY;
    const sim = simulation({ busy: () => busy });
    sim.start({ start: 0, end: 1000 * MiB - 1 }, CAP);
    sim.flow(2000, capped(CAP));
    expect(sim.spawned).toEqual([]);
    busy = BUSY - 0.1;
    sim.flow(100, capped(CAP));
    expect(sim.spawned).toHaveLength(1);
  });

  it('splits nothing while no slot is idle', () => {
    const sim = simulation({ slots: 1 });
    sim.start({ start: 0, end: 1000 * MiB - 1 }, CAP);
    sim.flow(2000, capped(CAP));
    expect(sim.spawned).toEqual([]);
  });

  it('waits for first-byte delays: a split must save two of them', () => {
    const sim = simulation();
    sim.splitter.onFirstByte(5_000); // a host that takes 5 s to answer
    sim.start({ start: 0, end: 50 * MiB - 1 }, CAP); // ~5 s left: less than two first bytes
    sim.flow(1500, capped(CAP));
    expect(sim.spawned).toEqual([]);
  });
});
