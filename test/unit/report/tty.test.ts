import { describe, expect, it } from 'vitest';
import type { PullEvent } from '../../../src/events/types.js';
import { createTtyRenderer } from '../../../src/report/tty.js';
import { fakeTerminal } from './fake-terminal.js';
import { at, CONFIG, fakeTime, L1, L2, L3, opening, REF, scriptedRun } from './script.js';

const short = (digest: string) => digest.slice(7, 19);

function start(columns = 100, rows?: number) {
  const term = fakeTerminal(columns, rows);
  const time = fakeTime();
  const renderer = createTtyRenderer(term, { now: time.now });
  const feed = (events: readonly PullEvent[]) => {
    for (const e of events) {
      time.set(e.t);
      renderer.handle(e);
    }
  };
  const lineOf = (digest: string) => term.lines().filter((l) => l.includes(short(digest)));
  return { term, renderer, feed, lineOf };
}

describe('tty renderer', () => {
  it('draws one line per layer with bar, bytes, rate, ETA and state', () => {
    const { term, renderer, feed, lineOf } = start();
    const run = scriptedRun();
    feed(run.slice(0, 17)); // up to layer 2's retry
    expect(term.lines()[0]).toBe(`${REF} → d0d0d0d0d0d0  linux/amd64, 3 layers, 55.0 MB`);
    expect(lineOf(CONFIG)).toEqual([expect.stringMatching(/^config {4}c0c0c0c0c0c0 +1\.5 kB {2}done$/)]);
    // 10 MB in the 1.365 s since it started: 7.3 MB/s, 20 MB to go: 3 s.
    expect(lineOf(L1)).toEqual([expect.stringMatching(/^layer 1 {3}a1a1a1a1a1a1 \[█+░+\] +10\.0 MB \/ 30\.0 MB +7\.3 MB\/s +ETA 3s {2}downloading ×4$/)]);
    expect(lineOf(L3)).toEqual([expect.stringMatching(/\[█+\] +5\.0 MB \/ 5\.0 MB +cached$/)]);
    expect(term.lines().at(-1)).toMatch(/^total +\[█+░+\] +\d+\.\d MB \/ 55\.0 MB +.*2\/4 done, 1 retry$/);
    expect(term.lines().every((l) => l.length < 100)).toBe(true);
    renderer.close();
  });

  it('shows a retry on the layer\'s own line, without a second bar, and keeps that bar afterwards', () => {
    const { renderer, feed, lineOf } = start();
    const run = scriptedRun();
    feed(run.slice(0, 17));
    expect(lineOf(L2)).toEqual([expect.stringMatching(/\[█+░+\] +5\.0 MB \/ 20\.0 MB +retrying 2\/5: connection reset by peer$/)]);
    feed(run.slice(17, 22)); // layer 1 done, layer 2 moves again (progress, then verifying)
    expect(lineOf(L2)).toEqual([expect.stringMatching(/20\.0 MB \/ 20\.0 MB .*verifying$/)]);
    feed(run.slice(22, 24)); // done, before run.done adds the summary
    expect(lineOf(L2)).toEqual([expect.stringMatching(/\[█+\] +20\.0 MB \/ 20\.0 MB +done$/)]);
    renderer.close();
  });

  it('shows queued and waiting-for-another-process states', () => {
    const { renderer, feed, lineOf } = start();
    feed([...opening(), at(130, { type: 'blob.waiting', digest: L1, holder: 'pid 42 on ci-7' })]);
    expect(lineOf(L1)[0]).toMatch(/waiting for another dray \(pid 42 on ci-7\)$/);
    expect(lineOf(L2)[0]).toMatch(/0 B \/ 20\.0 MB +queued$/);
    renderer.close();
  });

  it('keeps the final frame, restores the cursor and prints the summary below it', () => {
    const { term, renderer, feed } = start();
    feed(scriptedRun());
    renderer.close();
    const lines = term.lines();
    expect(lines).toHaveLength(6 + 3); // the frame (header, 4 blobs, total), then the summary's 3 lines
    expect(lines.slice(1, 5).map((l) => l.split(/\s+/).at(-1))).toEqual(['done', 'done', 'done', 'cached']);
    expect(lines[5]).toMatch(/^total .*55\.0 MB \/ 55\.0 MB .*4\/4 done, 1 retry$/);
    expect(lines[6]).toMatch(/^pulled docker\.io\/library\/alpine:3\.20@sha256:d0/);
    expect(lines[7]).toMatch(/^4 blobs: 3 downloaded, 1 from cache/);
    expect(lines[8]).toMatch(/^retried: layer 2/);
    expect(term.cursorVisible()).toBe(true);
  });

  it('prints a warning above the bars without breaking them', () => {
    const { term, renderer, feed, lineOf } = start();
    const run = scriptedRun();
    feed(run.slice(0, 12));
    feed([at(1_200, { type: 'warning', code: 'W_MIRROR', message: 'mirror.example failed, using docker.io' })]);
    feed(run.slice(12, 15));
    const lines = term.lines();
    expect(lines[0]).toBe('warning: mirror.example failed, using docker.io');
    expect(lines[1]).toMatch(new RegExp(`^${REF} →`));
    for (const digest of [CONFIG, L1, L2, L3]) expect(lineOf(digest)).toHaveLength(1);
    renderer.close();
  });

  it('folds finished lines when the terminal is too short for all of them', () => {
    const { term, renderer, feed, lineOf } = start(100, 6);
    const run = scriptedRun();
    feed(run.slice(0, 17)); // config done, layer 3 cached, layers 1 and 2 under way
    const lines = term.lines();
    expect(lines).toHaveLength(5);
    expect(lineOf(L1)).toHaveLength(1);
    expect(lineOf(L2)).toHaveLength(1);
    expect(lines[3]).toBe('… 2 more (2 finished, 0 to go)');
    expect(lines[4]).toMatch(/^total /);
    renderer.close();
  });

  it('replaces control characters in registry text before they reach the terminal', () => {
    const { term, renderer, feed } = start();
    feed(opening());
    feed([at(200, { type: 'blob.retry', digest: L1, attempt: 2, maxAttempts: 5, delayMs: 1, error: { code: 'E', message: 'bad\u001b[2Jthing' } })]);
    expect(term.raw()).not.toContain('\u001b[2J');
    expect(term.lines().some((l) => l.includes('bad?[2Jthing'))).toBe(true);
    renderer.close();
  });
});
