import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../../src/transfer/scheduler.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('createScheduler', () => {
  it('never runs more tasks than its slots', async () => {
    const scheduler = createScheduler(3);
    let running = 0;
    let peak = 0;
    const tasks = Array.from({ length: 20 }, (_, i) =>
      scheduler.run([i], async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
      }),
    );
    await Promise.all(tasks);
    expect(peak).toBe(3);
  });

  it('runs waiting tasks by priority, then arrival order', async () => {
    const scheduler = createScheduler(1);
    const blocker = gate();
    const order: string[] = [];
    const first = scheduler.run([0, 0], () => blocker.opened);
    const runs = [
      scheduler.run([2, 0], async () => void order.push('blob2')),
      scheduler.run([1, 1], async () => void order.push('blob1-chunk1')),
      scheduler.run([1, 1], async () => void order.push('blob1-chunk1-retry')),
      scheduler.run([1, 0], async () => void order.push('blob1-chunk0')),
    ];
    await new Promise((resolve) => setImmediate(resolve)); // p-limit starts the first task asynchronously
    expect(scheduler.active).toBe(1);
    expect(scheduler.pending).toBe(4);
    blocker.open();
    await Promise.all([first, ...runs]);
    expect(order).toEqual(['blob1-chunk0', 'blob1-chunk1', 'blob1-chunk1-retry', 'blob2']);
  });

  it('releases the slot when a task fails', async () => {
    const scheduler = createScheduler(1);
    await expect(scheduler.run([0], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(scheduler.run([1], async () => 'ok')).resolves.toBe('ok');
    expect(scheduler.active).toBe(0);
  });
});
