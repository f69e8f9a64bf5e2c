/**
 * The bench scenarios of issue 3. Rates and sizes are decimal (1 MB = 10⁶ bytes), as link speeds are.
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
];
