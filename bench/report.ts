/**
 * Renders results as the markdown that goes into docs/benchmarks.md (between two marker comments,
 * so the prose around it stays hand-written) and as a hand-written SVG chart: one panel per
 * scenario, one bar per tool, the physical limit as a dashed line. No dependencies.
 */
import { checkTargets, type BenchResults, type ScenarioResult } from './results.js';

/** Markers around the generated part of docs/benchmarks.md. */
export const RESULTS_START = '<!-- bench:results:start -->';
export const RESULTS_END = '<!-- bench:results:end -->';

const MB = 1_000_000;

function secs(ms: number | undefined): string {
  if (ms === undefined) return '—';
  return ms > 0 && ms < 10 ? '< 0.01 s' : `${(ms / 1000).toFixed(2)} s`;
}

/** Decimal MB above 10 MB, kB below (the tiny image's whole pull is a few kB). */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '—';
  return bytes >= 10 * MB ? `${(bytes / MB).toFixed(1)} MB` : `${(bytes / 1000).toFixed(1)} kB`;
}

function profileText(s: ScenarioResult): string {
  const p = s.profile;
  const parts = [`RTT ${p.rttMs} ms`];
  if (p.connectionRate) parts.push(`${p.connectionRate / MB} MB/s per connection`);
  if (p.linkRate) parts.push(`${p.linkRate / MB} MB/s link`);
  if (p.dropAfterBytes) parts.push(`drop after ${p.dropAfterBytes / MB} MB`);
  return parts.join(', ');
}

/** The results section: machine, command, results table, targets, chart link. */
export function renderMarkdown(results: BenchResults, chartPath: string): string {
  const lines: string[] = [RESULTS_START, ''];
  lines.push(`Run on ${results.date} with \`${results.command}\`.`, '');
  lines.push('| Machine | |', '|---|---|');
  for (const [key, value] of Object.entries(results.machine)) lines.push(`| ${key} | ${value} |`);
  lines.push('');
  for (const note of results.notes) lines.push(`> ${note}`, '');
  lines.push('| Scenario | Link | Tool | Median wall | Physical limit | Served by proxy | Peak RSS | Runs ok |');
  lines.push('|---|---|---|---:|---:|---:|---:|---:|');
  for (const s of results.scenarios) {
    for (const t of s.tools) {
      const rss = t.daemonPeakRssBytes !== undefined ? `${formatBytes(t.peakRssBytes)} + ${formatBytes(t.daemonPeakRssBytes)} daemon` : formatBytes(t.peakRssBytes);
      const cells = [s.name, profileText(s), t.tool, secs(t.medianWallMs), secs(s.physicalLimitMs), formatBytes(t.medianBytesServed), rss, `${t.runs - t.failures}/${t.runs}`];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  lines.push('');
  const failures = results.scenarios.flatMap((s) => s.tools.flatMap((t) => t.errors.map((e) => `${s.name}/${t.tool}: ${e}`)));
  if (failures.length) {
    lines.push('Failures:', '');
    for (const f of failures) lines.push(`- ${f.replaceAll('|', '\\|')}`);
    lines.push('');
  }
  const po = results.proxyOverhead;
  if (po) {
    lines.push(`Proxy overhead (lan profile, one ${formatBytes(po.bytes)} blob over one connection): direct ${po.directMBps.toFixed(0)} MB/s, through the proxy ${po.proxiedMBps.toFixed(0)} MB/s, proxy CPU ${po.proxyCpuSeconds.toFixed(2)} s.`, '');
  }
  lines.push('| Target (issues 3 and 4) | Measured | Met |', '|---|---|---|');
  for (const c of checkTargets(results)) lines.push(`| ${c.target} | ${c.measured} | ${c.met === undefined ? 'n/a' : c.met ? 'yes' : '**no**'} |`);
  lines.push('', `![median wall time per scenario](${chartPath})`, '', RESULTS_END);
  return lines.join('\n');
}

/** Replaces the marked section of `doc` (or appends it when the markers are missing). */
export function spliceResults(doc: string, section: string): string {
  const start = doc.indexOf(RESULTS_START);
  const end = doc.indexOf(RESULTS_END);
  if (start < 0 || end < start) return `${doc.trimEnd()}\n\n${section}\n`;
  return doc.slice(0, start) + section + doc.slice(end + RESULTS_END.length);
}

const TOOL_COLOURS: Readonly<Record<string, string>> = { dray: '#2b6cb0', skopeo: '#c05621', ctr: '#2f855a' };
const WIDTH = 720;
const LABEL_W = 70;
const BAR_H = 18;
const PANEL_GAP = 34;

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** A small-multiples bar chart of median wall time, each scenario on its own scale. */
export function renderChart(results: BenchResults): string {
  const body: string[] = [];
  let y = 30;
  const plotW = WIDTH - LABEL_W - 90;
  for (const s of results.scenarios) {
    const walls = s.tools.map((t) => t.medianWallMs ?? 0);
    const scale = Math.max(...walls, s.physicalLimitMs ?? 0, 1);
    body.push(`<text x="10" y="${y}" font-weight="bold">${escapeXml(s.name)}</text>`);
    body.push(`<text x="${LABEL_W}" y="${y}" fill="#555">${escapeXml(profileText(s))}</text>`);
    y += 8;
    const top = y;
    for (const t of s.tools) {
      const w = t.medianWallMs === undefined ? 0 : (t.medianWallMs / scale) * plotW;
      body.push(`<text x="${LABEL_W - 6}" y="${y + 13}" text-anchor="end">${t.tool}</text>`);
      body.push(`<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H - 4}" fill="${TOOL_COLOURS[t.tool] ?? '#777'}"/>`);
      const label = t.medianWallMs === undefined ? 'failed' : secs(t.medianWallMs);
      body.push(`<text x="${(LABEL_W + w + 4).toFixed(1)}" y="${y + 12}">${label}</text>`);
      y += BAR_H;
    }
    if (s.physicalLimitMs !== undefined) {
      const x = LABEL_W + (s.physicalLimitMs / scale) * plotW;
      body.push(`<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${y}" stroke="#000" stroke-dasharray="4 3"/>`);
      body.push(`<text x="${(x + 3).toFixed(1)}" y="${y + 10}" fill="#000" font-size="10">limit ${secs(s.physicalLimitMs)}</text>`);
    }
    y += PANEL_GAP - 8;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="14" font-size="13">Median wall time, lower is better (each scenario on its own scale; dashed: image bytes ÷ link rate)</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
