import { describe, expect, it } from 'vitest';
import { pickRenderer, resolveProgressMode, type ProgressMode } from '../../../src/report/pick.js';
import { fakeTerminal } from './fake-terminal.js';
import { collect, fakeTime, opening } from './script.js';

describe('progress mode', () => {
  it.each<[ProgressMode, boolean, boolean, string]>([
    ['auto', true, false, 'tty'],
    ['auto', true, true, 'plain'],
    ['auto', false, false, 'plain'],
    ['auto', false, true, 'plain'],
    ['tty', false, true, 'tty'],
    ['plain', true, false, 'plain'],
    ['json', true, false, 'json'],
    ['none', true, false, 'none'],
  ])('%s with isTTY=%s and CI=%s means %s', (mode, isTTY, ci, expected) => {
    expect(resolveProgressMode(mode, { isTTY, ci })).toBe(expected);
  });
});

describe('pickRenderer', () => {
  it('draws bars on the terminal stream it is given for tty', () => {
    const term = fakeTerminal(100);
    const stderr = collect();
    const renderer = pickRenderer('auto', { stderr, isTTY: true, ci: false, tty: term, now: () => 0 });
    for (const e of opening()) renderer.handle(e);
    renderer.close();
    expect(term.lines().some((l) => l.startsWith('layer 1 '))).toBe(true);
    expect(stderr.text()).toBe('');
  });

  it('passes the heartbeat interval and timer to plain', () => {
    const time = fakeTime();
    const stderr = collect();
    const renderer = pickRenderer('auto', { stderr, isTTY: false, ci: false, heartbeatMs: 3_000, now: time.now, startInterval: time.startInterval });
    for (const e of opening()) renderer.handle(e);
    expect(time.tickers.map((t) => t.ms)).toEqual([3_000]);
    time.beat(3_000);
    expect(stderr.text()).toContain('[3.0s] 0 B of 55.0 MB (0%)');
    renderer.close();
  });

  it('writes nothing for none', () => {
    const stderr = collect();
    const renderer = pickRenderer('none', { stderr, isTTY: true, ci: false });
    for (const e of opening()) renderer.handle(e);
    renderer.close();
    expect(stderr.text()).toBe('');
  });
});
