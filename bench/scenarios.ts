/**
 * The bench scenarios of issue 3, and issue 4's shared-cache ones. Rates and sizes are decimal (1 MB = 10⁶ bytes), as link speeds are.
 */
import type { ToolName } from './peers.js';
import type { WanProfile } from './wan-proxy.js';

const MB = 1_000_000;

/** One scenario: which image, through which link, by which tools. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly fixture: 'big' | 'tiny';
  readonly profile: WanProfile;
  readonly tools: readonly ToolName[];
  /** Pull once unmeasured first and keep dray's cache, so measured runs find every blob cached. */
  readonly warm?: boolean;
  /** Issue 4: this many dray processes pull at once into one fresh cache (see shared.ts). */
  readonly processes?: number;
  /** Left out of a plain `npm run bench`; run by name or through a group. */
  readonly optIn?: boolean;
}

/** A far registry: 100 ms RTT (Europe ↔ US east), 10 MB/s per TCP connection (what one flow gets
 *  from a busy CDN or registry front end), 60 MB/s access link (~500 Mbit/s). */
export const WAN: WanProfile = { rttMs: 100, connectionRate: 10 * MB, linkRate: 60 * MB };

/** Each connection is reset after ~40 MB, so every large blob needs resumes. */
export const FAULTS: WanProfile = { ...WAN, dropAfterBytes: 40 * MB };

const ALL: readonly ToolName[] = ['dray', 'skopeo', 'ctr'];

export const SCENARIOS: readonly Scenario[] = [
  { name: 'lan', description: 'big image, unlimited loopback link', fixture: 'big', profile: { rttMs: 0 }, tools: ALL },
  { name: 'wan', description: 'big image, far registry', fixture: 'big', profile: WAN, tools: ALL },
  { name: 'faults', description: 'big image, far registry, connections reset after 40 MB', fixture: 'big', profile: FAULTS, tools: ALL },
  { name: 'warm', description: 'big image already in dray’s cache', fixture: 'big', profile: WAN, tools: ['dray'], warm: true },
  { name: 'tiny', description: 'one ~1 KB layer, far registry', fixture: 'tiny', profile: WAN, tools: ALL },
  ...[2, 4, 8].map((n): Scenario => ({
    name: `shared-${n}`,
    description: `big image, far registry, ${n} dray processes at once on one fresh cache`,
    fixture: 'big',
    profile: WAN,
    tools: ['dray'],
    processes: n,
    // 8-14 s a run; all three would add ~1.5 minutes to a ~7-minute bench. shared-8 is the hardest
    // case (most waiters per lock), so it alone runs by default; `--scenario shared` runs all three.
    ...(n === 8 ? {} : { optIn: true }),
  })),
];

/** Names for several scenarios at once: `--scenario shared` (every shared-N), `--scenario all`. */
export const SCENARIO_GROUPS: Readonly<Record<string, readonly string[]>> = {
  shared: SCENARIOS.filter((s) => s.processes !== undefined).map((s) => s.name),
  all: SCENARIOS.map((s) => s.name),
};
