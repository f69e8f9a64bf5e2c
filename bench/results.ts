/**
 * The shape of bench/out/results.json and the arithmetic on it: medians, the physical limit and the
 * done-when targets of issue 3. Pure functions, so the report and the runner agree on every number.
 */
import type { WanProfile } from './wan-proxy.js';
import type { PullResult, ToolName } from './peers.js';

/** One measured pull plus what the proxy saw during it. */
export interface RunRecord extends PullResult {
  readonly bytesServed: number;
  readonly connections: number;
  readonly connectionsDropped: number;
  /** GET/HEAD requests whose path names a blob (the warm scenario wants none of these). */
  readonly blobRequests: number;
  /** CPU seconds the bench process (the proxy) spent during the pull. */
  readonly proxyCpuSeconds: number;
  /** `#connection METHOD path` of each request, in order, for reading where round trips went. */
  readonly requests: readonly string[];
}

/** Medians of one tool in one scenario. */
export interface ToolSummary {
  readonly tool: ToolName;
  readonly runs: number;
  readonly failures: number;
  readonly medianWallMs: number | undefined;
  readonly medianBytesServed: number | undefined;
  /** The largest peak RSS over the runs (client process; ctr's daemon separately). */
  readonly peakRssBytes: number | undefined;
  readonly daemonPeakRssBytes: number | undefined;
  readonly maxBlobRequests: number;
  readonly medianProxyCpuSeconds: number | undefined;
  readonly errors: readonly string[];
}

/** One scenario's results. */
export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly profile: WanProfile;
  readonly imageBytes: number;
  /** Image bytes ÷ link rate, when the link is capped. */
  readonly physicalLimitMs: number | undefined;
  /** Issue 4's shared-N scenarios: how many dray processes shared one cache in each run. */
  readonly processes?: number;
  readonly tools: readonly ToolSummary[];
  readonly runs: readonly RunRecord[];
}

/** Throughput of one big blob fetched straight from the registry and through the lan proxy. */
export interface ProxyOverhead {
  readonly bytes: number;
  readonly directMBps: number;
  readonly proxiedMBps: number;
  readonly proxyCpuSeconds: number;
}

/** Everything one `npm run bench` produced. */
export interface BenchResults {
  readonly date: string;
  readonly command: string;
  readonly machine: Readonly<Record<string, string>>;
  readonly notes: readonly string[];
  readonly proxyOverhead: ProxyOverhead | undefined;
  readonly scenarios: readonly ScenarioResult[];
}

/** One done-when target and whether this run met it. */
export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

/** The middle value (mean of the two middle ones for an even count), or undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Summarises the runs of one tool; failed runs count as failures and are left out of medians. */
export function summarise(tool: ToolName, runs: readonly RunRecord[]): ToolSummary {
  const mine = runs.filter((r) => r.tool === tool);
  const ok = mine.filter((r) => r.ok);
  const max = (xs: (number | undefined)[]): number | undefined => {
    const defined = xs.filter((x): x is number => x !== undefined);
    return defined.length ? Math.max(...defined) : undefined;
  };
  return {
    tool,
    runs: mine.length,
    failures: mine.length - ok.length,
    medianWallMs: median(ok.map((r) => r.wallMs)),
    medianBytesServed: median(ok.map((r) => r.bytesServed)),
    peakRssBytes: max(mine.map((r) => r.peakRssBytes)),
    daemonPeakRssBytes: max(mine.map((r) => r.daemonPeakRssBytes)),
    maxBlobRequests: Math.max(0, ...mine.map((r) => r.blobRequests)),
    medianProxyCpuSeconds: median(ok.map((r) => r.proxyCpuSeconds)),
    errors: [...new Set(mine.flatMap((r) => (r.error ? [r.error] : [])))],
  };
}

/** Image bytes ÷ link rate in ms, or undefined on an uncapped link. */
export function physicalLimitMs(imageBytes: number, profile: WanProfile): number | undefined {
  return profile.linkRate ? (imageBytes / profile.linkRate) * 1000 : undefined;
}

/** Sizes and rates in the issue are decimal: 1 MB = 10⁶ bytes. */
const MB = 1_000_000;

/** Served bytes ÷ image bytes above which a shared-N run fails issue 4's target: 1 % leaves room
 *  for HTTP headers and each process's own manifest requests (a few kB each), yet is less than the
 *  smallest layer (5 MB of 330 MB, 1.5 %) and one 8 MiB Range chunk, so any blob or chunk fetched
 *  twice fails it. The worst run counts, not the median: one double fetch is a broken lock. */
export const SHARED_MAX_RATIO = 1.01;

/** Issue 4's rows: N processes on one cache cost the image's bytes once, in every run. */
function sharedTargets(results: BenchResults): TargetCheck[] {
  return results.scenarios.flatMap((s) => {
    const runs = s.runs.filter((r) => r.tool === 'dray');
    if (s.processes === undefined || runs.length === 0) return [];
    const worst = Math.max(...runs.map((r) => r.bytesServed)) / s.imageBytes;
    const ok = runs.filter((r) => r.ok).length;
    return [{
      target: `${s.name}: ${s.processes} processes → 1× image bytes`,
      measured: `${worst.toFixed(4)} × (worst of ${runs.length} runs; ${ok}/${runs.length} ok)`,
      met: ok === runs.length && worst <= SHARED_MAX_RATIO,
    }];
  });
}

/** Evaluates issue 3's and issue 4's done-when targets against whatever scenarios ran. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const find = (scenario: string, tool: ToolName): { s: ScenarioResult; t: ToolSummary } | undefined => {
    const s = results.scenarios.find((x) => x.name === scenario);
    const t = s?.tools.find((x) => x.tool === tool);
    return s && t ? { s, t } : undefined;
  };
  const secs = (ms: number | undefined): string => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
  const checks: TargetCheck[] = [];
  const wan = find('wan', 'dray');
  const wanSkopeo = find('wan', 'skopeo');
  if (wan) {
    const limit = wan.s.physicalLimitMs;
    const wall = wan.t.medianWallMs;
    const ratio = wall !== undefined && limit ? wall / limit : undefined;
    checks.push({ target: 'wan: dray ≤ 1.25 × physical limit', measured: ratio === undefined ? 'n/a' : `${ratio.toFixed(2)} × (${secs(wall)} vs ${secs(limit)})`, met: ratio === undefined ? undefined : ratio <= 1.25 });
    const sk = wanSkopeo?.t.medianWallMs;
    const speedup = sk !== undefined && wall ? sk / wall : undefined;
    checks.push({ target: 'wan: dray ≥ 2.5 × faster than skopeo', measured: speedup === undefined ? 'n/a' : `${speedup.toFixed(2)} ×`, met: speedup === undefined ? undefined : speedup >= 2.5 });
  }
  const lan = find('lan', 'dray');
  const lanSkopeo = find('lan', 'skopeo');
  if (lan && lanSkopeo) {
    const [d, s] = [lan.t.medianWallMs, lanSkopeo.t.medianWallMs];
    checks.push({ target: 'lan: dray no slower than skopeo', measured: `${secs(d)} vs ${secs(s)}`, met: d === undefined || s === undefined ? undefined : d <= s });
  }
  const faults = find('faults', 'dray');
  if (faults) {
    const served = faults.t.medianBytesServed;
    const extra = served === undefined ? undefined : (served - faults.s.imageBytes) / faults.s.imageBytes;
    checks.push({ target: 'faults: dray completes with correct digests', measured: `${faults.t.runs - faults.t.failures}/${faults.t.runs} runs verified`, met: faults.t.failures === 0 && faults.t.runs > 0 });
    checks.push({ target: 'faults: dray refetches ≤ 2 % of the image', measured: extra === undefined ? 'n/a' : `${(extra * 100).toFixed(2)} %`, met: extra === undefined ? undefined : extra <= 0.02 });
  }
  const warm = find('warm', 'dray');
  if (warm) checks.push({ target: 'warm: no blob requests', measured: `${warm.t.maxBlobRequests} blob requests`, met: warm.t.maxBlobRequests === 0 && warm.t.failures === 0 });
  const tiny = find('tiny', 'dray');
  // milliseconds shown: the median sits within a few of the threshold, and 0.50 s would hide which side
  if (tiny) checks.push({ target: 'tiny through wan: under 0.5 s', measured: tiny.t.medianWallMs === undefined ? 'n/a' : `${(tiny.t.medianWallMs / 1000).toFixed(3)} s`, met: tiny.t.medianWallMs === undefined ? undefined : tiny.t.medianWallMs < 500 });
  const bigRss = results.scenarios
    .filter((s) => s.name !== 'tiny')
    .flatMap((s) => s.tools.filter((t) => t.tool === 'dray').map((t) => t.peakRssBytes ?? 0));
  if (bigRss.length) {
    const peak = Math.max(...bigRss);
    checks.push({ target: 'dray peak RSS < 200 MB on the 330 MB image (per process)', measured: `${(peak / MB).toFixed(0)} MB`, met: peak > 0 ? peak < 200 * MB : undefined });
  }
  return [...checks, ...sharedTargets(results)];
}
