import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatEta, formatPercent, sanitizeText } from '../../../src/report/format.js';
import { createRateMeter } from '../../../src/report/rate.js';
import { createRunClock } from '../../../src/report/clock.js';

describe('formatting', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1_500, '1.5 kB'],
    [30_000_000, '30.0 MB'],
    [160_000_000, '160 MB'],
    [2_500_000_000, '2.5 GB'],
  ])('formatBytes(%d) is %s', (n, text) => expect(formatBytes(n)).toBe(text));

  it.each<[number | undefined, string]>([
    [undefined, '--'],
    [Number.POSITIVE_INFINITY, '--'],
    [300, '<1s'],
    [4_400, '4s'],
    [65_000, '1m05s'],
    [7_380_000, '2h03m'],
  ])('formatEta(%s) is %s', (ms, text) => expect(formatEta(ms)).toBe(text));

  it('formats durations and percentages', () => {
    expect([formatDuration(850), formatDuration(12_400), formatDuration(185_000)]).toEqual(['850ms', '12.4s', '3m05s']);
    expect([formatPercent(1, 3), formatPercent(5, 0), formatPercent(9, 3)]).toEqual(['33%', '100%', '100%']);
  });

  it('replaces every C0 and C1 control character, newline included', () => {
    expect(sanitizeText('a\u001b[31mb\r\nc\u0007d\u009be\u007f')).toBe('a?[31mb??c?d?e?');
  });
});

describe('rate meter', () => {
  it('measures over its window and falls to 0 when bytes stop', () => {
    const meter = createRateMeter(5_000);
    meter.add(0, 0);
    meter.add(1_000, 2_000_000);
    meter.add(2_000, 4_000_000);
    expect(meter.rate(2_000)).toBe(2_000_000);
    expect(meter.rate(4_000)).toBe(1_000_000); // no new bytes for 2 s: the average over 4 s
    expect(meter.rate(7_500)).toBe(0); // a full window without bytes
  });
});

describe('run clock', () => {
  it('maps the clock onto event time from the first event on', () => {
    let now = 50_000;
    const clock = createRunClock(() => now);
    expect(clock.now()).toBe(0);
    clock.observe(200);
    now = 53_000;
    expect(clock.now()).toBe(3_200);
  });
});
