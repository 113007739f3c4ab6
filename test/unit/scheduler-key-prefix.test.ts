// Key prefixes group tasks for measured durations (how many short tasks a worker may hold) and for
// the dashboard: hand-written graph keys ('chunk_12', 'l0') must group like Dask's tuple keys.
import { describe, it, expect } from 'vitest';
import { keyPrefix, SchedulerState } from '../../src/scheduler/state/scheduler-state.js';

describe('keyPrefix', () => {
  it('takes what comes before the first dash', () => {
    expect(keyPrefix('inc-3fa2c1')).toBe('inc');
    expect(keyPrefix('sum-0-1')).toBe('sum');
  });
  it('drops trailing digits and separators of hand-written keys', () => {
    expect(keyPrefix('l0')).toBe('l');
    expect(keyPrefix('chunk_12')).toBe('chunk');
    expect(keyPrefix('x.3.4')).toBe('x');
  });
  it('keeps keys made only of digits, and keys with no number', () => {
    expect(keyPrefix('1234')).toBe('1234');
    expect(keyPrefix('total')).toBe('total');
    expect(keyPrefix('-x')).toBe('-x');
  });
});

describe('root tasks of one hand-written prefix', () => {
  it('share their measured duration, so a worker holds more of them once they prove short', () => {
    const state = new SchedulerState({ workerSaturation: 1, pipelineMs: 1 });
    state.handle({ type: 'worker-added', spec: { address: 'w', name: 'w', nthreads: 1, memoryLimit: 0, resources: {} }, now: 0 });
    const tasks = Array.from({ length: 100 }, (_, i) => ({ key: `leaf${i}`, deps: [], payload: [Buffer.from([i])] }));
    const first = state.handle({ type: 'update-graph', client: 'c', tasks, wanted: tasks.map((t) => t.key) });
    const sent = first.filter((i) => i.op === 'compute-task');
    expect(sent).toHaveLength(1);
    const next = state.handle({
      type: 'task-finished',
      worker: 'w',
      key: (sent[0]!.body as { key: string }).key,
      nbytes: 8,
      typeName: 'number',
      duration: 0.05,
    });
    // 1 ms of 0.05 ms tasks per thread: the worker now holds about 20 of them, not one.
    expect(next.filter((i) => i.op === 'compute-task').length).toBeGreaterThanOrEqual(15);
  });
});
