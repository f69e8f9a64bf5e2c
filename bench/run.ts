/**
 * `npm run bench`: builds the fixtures, starts docker-registry, and for each scenario puts a WAN
 * emulator in front of it and runs dray, skopeo and ctr side by side (interleaved, N runs each, the
 * order rotating from round to round);
 * the shared-N scenarios run N dray processes at once on one cache instead (bench/shared.ts).
 * Writes bench/out/results.json, docs/benchmark-chart.svg and the results section of
 * docs/benchmarks.md.
 *
 * Usage: node bench/out/js/run.js [--runs N] [--scenario NAME|shared|all]... [--tools dray,skopeo,ctr]
 *        [--no-docs] [--keep] [--dray-arg ARG]...
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BIG_IMAGE, buildFixture, fixtureRef, pushFixture, runTool, TINY_IMAGE, type Fixture } from './fixtures.js';
import { GNU_TIME, hasGnuTime } from './measure.js';
import { checkPull, ctrPeer, drayPeer, skopeoPeer, type Peer, type PullResult, type PullTarget } from './peers.js';
import { measureProxyOverhead } from './proxy-overhead.js';
import { startRegistry, type RegistryProcess } from './registry.js';
import { formatBytes, renderChart, renderMarkdown, spliceResults } from './report.js';
import { physicalLimitMs, summarise, type BenchResults, type RunRecord, type ScenarioResult } from './results.js';
import { SCENARIO_GROUPS, SCENARIOS, type Scenario } from './scenarios.js';
import { sharedDrayPeer } from './shared.js';
import { startWanProxy, type WanProxy, type WanProxyStats } from './wan-proxy.js';

/**
 * Five runs per tool and scenario. Three could not separate two tools 5 % apart on the 2-core bench VM
 * (±0.2 s from one loopback run to the next): the same build's `lan` median moved from 0.02 s ahead of
 * skopeo to 0.04 s behind between two full runs, with dray faster in 11 of 12 pairs by hand.
 */
const DEFAULT_RUNS = 5;

/** Requests kept per run in results.json; a pull of the big image makes a few dozen. */
const MAX_LOGGED_REQUESTS = 200;

interface Options {
  readonly runs: number;
  readonly scenarios: readonly Scenario[];
  readonly tools: readonly string[] | undefined;
  readonly docs: boolean;
  readonly keep: boolean;
  readonly drayArgs: readonly string[];
  readonly outDir: string;
  readonly repoRoot: string;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      runs: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      tools: { type: 'string' },
      'no-docs': { type: 'boolean' },
      keep: { type: 'boolean' },
      'dray-arg': { type: 'string', multiple: true },
    },
  });
  const runs = values.runs === undefined ? DEFAULT_RUNS : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
  const names = (values.scenario ?? []).flatMap((s) => s.split(',')).flatMap((n) => SCENARIO_GROUPS[n] ?? [n]);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${[...SCENARIOS.map((s) => s.name), ...Object.keys(SCENARIO_GROUPS)].join(', ')}`);
  const repoRoot = process.cwd();
  return {
    runs,
    scenarios: names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS.filter((s) => !s.optIn),
    tools: values.tools?.split(','),
    docs: !values['no-docs'],
    keep: values.keep ?? false,
    drayArgs: values['dray-arg'] ?? [],
    outDir: path.join(repoRoot, 'bench', 'out'),
    repoRoot,
  };
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const signal = controller.signal;
  const notes: string[] = [];
  const fixtureDir = path.join(options.outDir, 'fixtures');
  log('building fixtures (cached in bench/out/fixtures)…');
  const fixtures = { big: await buildFixture(BIG_IMAGE, fixtureDir), tiny: await buildFixture(TINY_IMAGE, fixtureDir) };
  const registry = await startRegistry(path.join(options.outDir, 'registry', 'storage'), signal);
  try {
    await pushFixture(fixtures.big, registry.address, signal);
    await pushFixture(fixtures.tiny, registry.address, signal);
    const peers: Peer[] = [];
    for (const peer of [drayPeer(options.repoRoot, options.drayArgs), skopeoPeer(), ctrPeer()]) {
      if (options.tools && !options.tools.includes(peer.name)) continue;
      const reason = await peer.unavailable();
      if (reason) notes.push(`${peer.name} skipped: ${reason}.`);
      else peers.push(peer);
    }
    if (!(await hasGnuTime())) notes.push(`${GNU_TIME} is missing (apt-get install time): peak RSS not measured.`);
    for (const note of notes) log(`note: ${note}`);
    const proxyOverhead = options.scenarios.some((s) => s.name === 'lan')
      ? await measureProxyOverhead(registry, fixtures.big, signal)
      : undefined;
    const scenarios: ScenarioResult[] = [];
    for (const scenario of options.scenarios) {
      const chosen = peers
        .filter((p) => scenario.tools.includes(p.name))
        .map((p) => (p.name === 'dray' && scenario.processes ? sharedDrayPeer(options.repoRoot, scenario.processes, options.drayArgs) : p));
      scenarios.push(await runScenario(scenario, fixtures[scenario.fixture], chosen, registry, options, signal));
    }
    const results: BenchResults = {
      date: new Date().toISOString(),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: await describeMachine(peers, signal),
      notes,
      proxyOverhead,
      scenarios,
    };
    await writeOutputs(results, options);
  } finally {
    await registry.stop();
  }
}

async function runScenario(
  scenario: Scenario,
  fixture: Fixture,
  peers: readonly Peer[],
  registry: RegistryProcess,
  options: Options,
  signal: AbortSignal,
): Promise<ScenarioResult> {
  const proxy = await startWanProxy(registry, scenario.profile, signal);
  const ref = fixtureRef(`127.0.0.1:${proxy.port}`, fixture);
  const scenarioDir = path.join(options.outDir, 'runs', scenario.name);
  await rm(scenarioDir, { recursive: true, force: true });
  const sharedCache = path.join(scenarioDir, 'shared-cache');
  const runs: RunRecord[] = [];
  try {
    if (scenario.warm) {
      for (const peer of peers) {
        const prime = { ref, fixture, workDir: path.join(scenarioDir, 'prime'), cacheDir: sharedCache, signal };
        const primed = await checkPull(await peer.pull(prime), fixture);
        if (!primed.ok) log(`${scenario.name}: priming ${peer.name} failed: ${primed.error}`);
      }
    }
    for (let i = 1; i <= options.runs; i++) {
      // Each run starts with the next tool, so that no tool always follows the same one and inherits
      // its aftermath (a deleted 330 MB output, a daemon just stopped) in every run.
      const order = peers.map((_, k) => peers[(k + i - 1) % peers.length]!);
      for (const peer of order) {
        const workDir = path.join(scenarioDir, `${peer.name}-${i}`);
        const cacheDir = scenario.warm ? sharedCache : path.join(workDir, 'cache');
        const record = await measureRun(peer, proxy, { ref, fixture, workDir, cacheDir, signal });
        runs.push(record);
        const spread = record.processWallMs ? ` (fastest of ${record.processWallMs.length} processes ${(Math.min(...record.processWallMs) / 1000).toFixed(2)} s)` : '';
        log(`${scenario.name} ${peer.name} #${i}: ${(record.wallMs / 1000).toFixed(2)} s${spread}, ${formatBytes(record.bytesServed)} served over ${record.connections} connections${record.ok ? '' : `, FAILED: ${record.error}`}`);
        if (!options.keep) await rm(workDir, { recursive: true, force: true });
      }
    }
  } finally {
    await proxy.close();
    if (!options.keep) await rm(scenarioDir, { recursive: true, force: true });
  }
  return {
    name: scenario.name,
    description: scenario.description,
    profile: scenario.profile,
    ...(scenario.processes ? { processes: scenario.processes } : {}),
    imageBytes: fixture.totalBytes,
    // A warm pull transfers no blobs, so the link's limit says nothing about it.
    physicalLimitMs: scenario.warm ? undefined : physicalLimitMs(fixture.totalBytes, scenario.profile),
    tools: peers.map((p) => summarise(p.name, runs)),
    runs,
  };
}

/** One pull through the proxy: counters and the bench's CPU (the proxy's) are read before the
 *  blobs are hashed, so checking does not count as proxy work. A tool that cannot even start
 *  (containerd refusing to boot) is a failed run, not a failed bench.
 *
 *  Each run starts after a sync(1): the tools take turns, and without it a run inherited the page
 *  cache the previous tool left dirty (up to 660 MB). A tool that fsyncs (dray, containerd) then
 *  waited for that writeback as well as its own, one that does not (skopeo) did not. */
async function measureRun(peer: Peer, proxy: WanProxy, target: PullTarget): Promise<RunRecord> {
  await mkdir(target.workDir, { recursive: true });
  await runTool('sync', [], target.signal);
  proxy.reset();
  const cpu = process.cpuUsage();
  try {
    const outcome = await peer.pull(target);
    const fields = proxyFields(proxy.stats(), process.cpuUsage(cpu));
    return { ...(await checkPull(outcome, target.fixture)), ...fields };
  } catch (err) {
    if (target.signal.aborted) throw err;
    const message = err instanceof Error ? err.message : String(err);
    const failed: PullResult = { tool: peer.name, wallMs: 0, peakRssBytes: undefined, ok: false, error: message.split('\n')[0] ?? message };
    return { ...failed, ...proxyFields(proxy.stats(), process.cpuUsage(cpu)) };
  }
}

function proxyFields(stats: WanProxyStats, cpu: NodeJS.CpuUsage): Omit<RunRecord, keyof PullResult> {
  return {
    bytesServed: stats.bytesServed,
    connections: stats.connectionsOpened,
    connectionsDropped: stats.connectionsDropped,
    blobRequests: stats.requests.filter((r) => r.path.includes('/blobs/')).length,
    proxyCpuSeconds: (cpu.user + cpu.system) / 1e6,
    requests: stats.requests.slice(0, MAX_LOGGED_REQUESTS).map((r) => `#${r.connection} ${r.method} ${r.path}`),
  };
}

async function describeMachine(peers: readonly Peer[], signal: AbortSignal): Promise<Record<string, string>> {
  const machine: Record<string, string> = {
    CPU: `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    Memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    Kernel: `${os.type()} ${os.release()}`,
    Node: process.version,
  };
  for (const peer of peers) machine[peer.name] = await peer.version(signal).catch((err: Error) => `unknown (${err.message})`);
  machine['docker-registry'] = (await runTool('docker-registry', ['--version'], signal).catch(() => 'unknown')).trim();
  return machine;
}

async function writeOutputs(results: BenchResults, options: Options): Promise<void> {
  await mkdir(options.outDir, { recursive: true });
  await writeFile(path.join(options.outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const markdown = renderMarkdown(results, 'benchmark-chart.svg');
  await writeFile(path.join(options.outDir, 'results.md'), `${markdown}\n`);
  process.stdout.write(`${markdown}\n`);
  if (!options.docs) return;
  const docsDir = path.join(options.repoRoot, 'docs');
  await writeFile(path.join(docsDir, 'benchmark-chart.svg'), renderChart(results));
  const docPath = path.join(docsDir, 'benchmarks.md');
  const doc = await readFile(docPath, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(docPath, spliceResults(doc, markdown));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
