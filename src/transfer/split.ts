/**
 * Adaptive splitting: a large blob is fetched as one ranged request, and the back half of a request
 * still far from its end goes to a new request when a slot sits idle — but only while more
 * connections buy more throughput.
 *
 * Why not split every large blob up front (guided chunks did): on a fast link the machine, not the
 * network, is the limit (a 330 MB pull over loopback on 2 cores: one connection as fast as twelve),
 * and every extra request costs the registry and us a round of work (~50 chunks cost the registry
 * 0.5 s of CPU and us as much). Why split at all: one connection across a far or
 * throttled link moves bytes ÷ its own rate (overlaybd's finding). Per-connection pace cannot tell
 * the two apart (twelve connections sharing a saturated CPU each look like a capped link), so the run
 * asks the link instead, the way TCP finds its window:
 * - Probe: once the run's throughput has stopped climbing, split the request with the longest time
 *   left; if throughput then rises by MIN_GAIN (and no request ended meanwhile, which alone lifts the
 *   others on a busy machine), probe again with twice as many splits.
 * - Ceiling: a probe that does not pay sets the ceiling, the throughput more connections did not
 *   raise. Nothing is split while the run stays near it.
 * - Capped: throughput below SATURATED × ceiling for DEFICIT_MS, with no request moving more than
 *   CAPPED_SHARE of it, means requests that ended left the link idle: each connection is held to its
 *   own pace (a far or throttled link). From then on every idle slot gets a split, so a request
 *   that ends hands its share to the others at once.
 * A request is split only when its rest would take longer than MIN_SPLIT_MS and two first-byte
 * delays, and each half keeps at least minPiece bytes; nothing is split while our own event loop is
 * BUSY (then this process's CPU is the limit, whatever the link).
 *
 * Pure decisions over an injected clock; the engine (download.ts, chunk.ts) owns the requests.
 */
import type { ByteRange } from '../oci/descriptor.js';

/** Window over which the run's throughput is measured, before and after a probe. */
export const WINDOW_MS = 250;
/**
 * A probe succeeds when the run's throughput rose at least this much (a fraction), or half what the
 * added requests would bring if each ran at the others' pace, whichever is more: beyond a few
 * requests, one more cannot show through the noise of a quarter-second window.
 */
export const MIN_GAIN = 0.2;
/** No probe while the run's throughput still climbs this much from one window to the next (start-up). */
const RAMP = 0.1;
/**
 * The run counts as capped once its throughput stays below this fraction of the ceiling for
 * DEFICIT_MS (measured over as long) while no request runs faster than CAPPED_SHARE of the ceiling.
 * High, because five of the six connections a link needs leave it 83 % full; the share test is what
 * keeps a busy machine's dips (±25 % from one window to the next on loopback, where a single
 * connection moves most of the ceiling) from counting: a false "capped" fills every slot with
 * splits, each wasting the bytes in flight on the request it cuts short (~6 MB over loopback).
 */
export const SATURATED = 0.9;
export const DEFICIT_MS = 100;
export const CAPPED_SHARE = 0.25;
/**
 * Nothing is split while this process's event loop was busy this much of the last window: then our
 * own CPU, not the link, is the limit, and another connection only adds work — over loopback also
 * the megabytes in flight on the request it cuts short. A 330 MB loopback pull keeps it 92–100 %
 * busy (by hand; a little less under the bench, whose own process competes for the 2 cores: at 80 %
 * one bench pull in three still probed), the same pull over the bench's far link 12–30 %, 61 % at
 * the most.
 */
export const BUSY = 0.5;
/** A request is not split when its rest would take less than this (or two first-byte delays). */
export const MIN_SPLIT_MS = 200;
/** Considered at most this often while bytes flow. */
const TICK_MS = 50;
/** A probe whose requests have no byte after this long is given up (the host stalls or refuses). */
const PROBE_TIMEOUT_MS = 5_000;

/** One request's share of a blob, in flight: its end can be lowered until the request reaches it. */
export interface LiveRange {
  readonly start: number;
  /** The last byte this request fetches; a split lowers it. */
  end: number;
  /** The first byte not yet handed to the writer. */
  next: number;
  /** When the current attempt's first byte arrived (undefined before, and between attempts). */
  firstByteAt: number | undefined;
  /** Bytes handed to the writer by the current attempt. */
  attemptBytes: number;
}

/** A blob whose server honours Range: its ranges in flight, and how to start a new request. */
export interface SplittableBlob {
  readonly live: ReadonlySet<LiveRange>;
  /** Starts a request for `range`, which a split just took from a live range of this blob. */
  spawn(range: ByteRange): LiveRange;
}

export interface SplitterDeps {
  readonly now: () => number;
  /** Slots of the run's budget neither in use nor claimed by a waiting request. */
  readonly idleSlots: () => number;
  /** Requests holding a slot now (connections carrying bytes or about to). */
  readonly activeRequests: () => number;
  /** Neither half of a split is smaller than this. */
  readonly minPiece: number;
  /** The share of the last window this process's event loop was busy (0–1); undefined: unknown. */
  readonly busy?: () => number | undefined;
}

export interface Splitter {
  /** Starts considering `blob`'s live ranges; returns the function that stops. */
  register(blob: SplittableBlob): () => void;
  /** Counts `n` bytes received and, at most once per tick, considers a split. */
  onBytes(n: number): void;
  /** A request's first byte came `ms` after it was sent: splits must save more than that. */
  onFirstByte(ms: number): void;
  /** A request ended and its slot may be idle: considers a split now. */
  onSlotFreed(): void;
}

interface Probe {
  readonly before: number;
  readonly at: number;
  readonly ranges: readonly LiveRange[];
  /** Requests flowing when it began. */
  readonly flowing: number;
  /** Requests ended in the run when it began. */
  readonly ended: number;
}

/** Returns the run's splitter. */
export function createSplitter(deps: SplitterDeps): Splitter {
  const blobs = new Set<SplittableBlob>();
  const meter = createMeter();
  let ceiling: number | undefined;
  // Below SATURATED × ceiling since then.
  let deficitSince: number | undefined;
  let capped = false;
  let probeSize = 1;
  let lastProbePaid = false;
  let probe: Probe | undefined;
  let firstByteMs: number | undefined;
  let ended = 0;
  let lastTick = Number.NEGATIVE_INFINITY;

  const settleProbe = (now: number): boolean => {
    if (!probe) return true;
    const started = probe.ranges.map((r) => r.firstByteAt).filter((t): t is number => t !== undefined);
    if (started.length === 0) {
      if (now - probe.at < PROBE_TIMEOUT_MS) return false;
      probe = undefined; // no answer: nothing learnt, try again later
      return true;
    }
    const from = Math.min(...started);
    if (now - from < WINDOW_MS) return false;
    const after = meter.rate(from, now);
    const gain = Math.max(MIN_GAIN, probe.ranges.length / probe.flowing / 2);
    // A request that ended meanwhile handed its share to the others: on a busy machine that alone
    // lifts them, so the rise proves nothing, and the probe counts as failed.
    const clean = ended === probe.ended;
    lastProbePaid = clean && after !== undefined && after >= probe.before * (1 + gain);
    if (lastProbePaid) probeSize *= 2;
    else ceiling = Math.max(probe.before, after ?? 0);
    probe = undefined;
    return true;
  };

  /** The highest pace (bytes per ms) of a request in flight, over its attempt so far. */
  const fastest = (now: number): number => {
    let max = 0;
    for (const blob of blobs) {
      for (const range of blob.live) {
        const elapsed = range.firstByteAt === undefined ? 0 : now - range.firstByteAt;
        if (elapsed >= TICK_MS) max = Math.max(max, range.attemptBytes / elapsed);
      }
    }
    return max;
  };

  const victim = (now: number): { blob: SplittableBlob; range: LiveRange } | undefined => {
    const floorMs = Math.max(MIN_SPLIT_MS, 2 * (firstByteMs ?? 0));
    let best: { blob: SplittableBlob; range: LiveRange; ms: number } | undefined;
    for (const blob of blobs) {
      for (const range of blob.live) {
        const rest = range.end - range.next + 1;
        if (rest < 2 * deps.minPiece || range.firstByteAt === undefined) continue;
        const elapsed = now - range.firstByteAt;
        if (elapsed < TICK_MS || range.attemptBytes === 0) continue;
        const ms = rest / (range.attemptBytes / elapsed);
        if (ms >= floorMs && (!best || ms > best.ms)) best = { blob, range, ms };
      }
    }
    return best;
  };

  const split = (blob: SplittableBlob, range: LiveRange): LiveRange => {
    const rest = range.end - range.next + 1;
    const at = range.next + Math.ceil(rest / 2);
    const taken = { start: at, end: range.end };
    range.end = at - 1;
    return blob.spawn(taken);
  };

  const consider = (): void => {
    const now = deps.now();
    lastTick = now;
    if (blobs.size === 0) return;
    if (!settleProbe(now)) return;
    const idle = deps.idleSlots();
    const rate = meter.rate(now - WINDOW_MS, now);
    if (idle <= 0 || rate === undefined || (deps.busy?.() ?? 0) >= BUSY) return;
    let wanted: number;
    if (ceiling === undefined) {
      // Still ramping up (connections warming, the first window partly empty): a probe now would
      // credit itself with the climb. A climb our last probe made is no reason to wait.
      const previous = meter.rate(now - 2 * WINDOW_MS, now - WINDOW_MS);
      if (!lastProbePaid && (previous === undefined || rate > previous * (1 + RAMP))) return;
      wanted = Math.min(probeSize, idle);
    } else {
      const recent = meter.rate(now - DEFICIT_MS, now) ?? rate;
      if (recent >= SATURATED * ceiling || fastest(now) > CAPPED_SHARE * ceiling) {
        deficitSince = undefined;
        if (!capped) return;
      } else {
        deficitSince ??= now;
        if (now - deficitSince >= DEFICIT_MS) capped = true;
      }
      if (!capped) return;
      wanted = idle; // every slot busy, as fixed chunks would keep them

    }
    const spawned: LiveRange[] = [];
    for (let i = 0; i < wanted; i++) {
      const pick = victim(now);
      if (!pick) break;
      spawned.push(split(pick.blob, pick.range));
    }
    if (ceiling === undefined && spawned.length > 0) probe = { before: rate, at: now, ranges: spawned, flowing: Math.max(1, deps.activeRequests() - spawned.length), ended };
  };

  return {
    register(blob) {
      blobs.add(blob);
      return () => void blobs.delete(blob);
    },
    onBytes(n) {
      const now = deps.now();
      meter.add(n, now);
      if (now - lastTick >= TICK_MS) consider();
    },
    onFirstByte(ms) {
      firstByteMs = firstByteMs === undefined ? ms : 0.7 * firstByteMs + 0.3 * ms;
    },
    onSlotFreed() {
      ended++;
      consider();
    },
  };
}

/** The run's bytes over time: rates over the recent past, from cumulative counts. */
interface Meter {
  add(n: number, now: number): void;
  /** Bytes per ms between `from` and `to`; undefined unless bytes were counted by `from`. */
  rate(from: number, to: number): number | undefined;
}

/** Additions closer together than this share one point, bounding the points kept to a few hundred. */
const METER_STEP_MS = 10;

function createMeter(): Meter {
  // Cumulative bytes at points in time, oldest first, at least METER_STEP_MS apart (a later
  // addition within the step moves the last point); pruned to the last few windows.
  const times: number[] = [];
  const counts: number[] = [];
  let total = 0;
  // the count at the last point at or before t, by binary search: the meter holds up to ~700 points
  // and is asked six times per batch written (a linear scan was 11 ms of a loopback pull)
  const countAt = (t: number): number | undefined => {
    let lo = 0;
    let hi = times.length - 1;
    let found: number | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid]! <= t) {
        found = counts[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  return {
    add(n, now) {
      total += n;
      const last = times.length - 1;
      if (last > 0 && now - times[last - 1]! < METER_STEP_MS) {
        times[last] = now;
        counts[last] = total;
        return;
      }
      if (last < 0) {
        times.push(now);
        counts.push(0);
      }
      times.push(now);
      counts.push(total);
      // Keep one point older than the longest look-back, so a window that starts there has a base.
      const horizon = now - 8 * WINDOW_MS - PROBE_TIMEOUT_MS;
      let old = 0;
      while (old + 2 < times.length && times[old + 1]! <= horizon) old++;
      if (old > 0) {
        times.splice(0, old);
        counts.splice(0, old);
      }
    },
    rate(from, to) {
      const base = countAt(from);
      const end = countAt(to);
      return base === undefined || end === undefined || to <= from ? undefined : (end - base) / (to - from);
    },
  };
}
