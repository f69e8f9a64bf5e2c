import { describe, expect, it } from 'vitest';
import { EVENTS_SCHEMA_VERSION } from '../../../src/events/types.js';
import { createJsonRenderer } from '../../../src/report/json.js';
import { at, collect, L2, scriptedRun } from './script.js';

describe('json renderer', () => {
  it('writes every event as one parseable line carrying the schema version, t and type first', () => {
    const out = collect();
    const renderer = createJsonRenderer(out);
    const events = scriptedRun();
    for (const e of events) renderer.handle(e);
    renderer.close();
    const lines = out.text().split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(events.length);
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(parsed).slice(0, 3)).toEqual(['schema', 't', 'type']);
      expect(parsed).toEqual({ schema: EVENTS_SCHEMA_VERSION, ...events[i] });
    });
  });

  it('keeps a control character in a message inside its line, escaped', () => {
    const out = collect();
    createJsonRenderer(out).handle(
      at(5, { type: 'blob.retry', digest: L2, attempt: 2, maxAttempts: 5, delayMs: 1, error: { code: 'E', message: 'a\nb\u001b[2Jc' } }),
    );
    expect(out.text().split('\n')).toHaveLength(2);
    expect(out.text()).not.toContain('\u001b');
    expect((JSON.parse(out.text()) as { error: { message: string } }).error.message).toBe('a\nb\u001b[2Jc');
  });
});
