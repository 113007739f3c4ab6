// Short tasks queue in the executor's threads behind the running one (WorkerState.pipelineDepth,
// ThreadPool depth): the state machine hands over more only for prefixes measured short, and the
// pool still runs each thread's tasks one at a time, in order, and settles every one of them.
import { describe, it, expect, afterEach } from 'vitest';
import { WorkerState, type WorkerInstruction } from '../../src/scheduler/state/worker-state.js';
// The pool's threads load the built executor-thread.js: the pool is taken from the build too.
import { ThreadPool } from '../../dist/scheduler/executor.js';
import { toCode } from '../../dist/scheduler/code.js';

const executes = (out: WorkerInstruction[]): string[] => out.filter((i) => i.op === 'execute').map((i) => (i as { key: string }).key);

function computeAll(state: WorkerState, keys: string[]): string[] {
  const started: string[] = [];
  for (const [i, key] of keys.entries()) {
    started.push(...executes(state.handle({ type: 'compute-task', task: { key, payload: [Buffer.from([i])], deps: {}, priority: [0, i] } })));
  }
  return started;
}

describe('WorkerState pipelineDepth', () => {
  it('queues short tasks behind a busy thread, up to the depth, once their prefix is measured short', () => {
    const state = new WorkerState({ nthreads: 1, pipelineDepth: 2, shortTaskMs: 1 });
    const keys = Array.from({ length: 8 }, (_, i) => `inc-${i}`);
    // Nothing measured yet: one at a time.
    expect(computeAll(state, keys)).toEqual(['inc-0']);
    const next = executes(state.handle({ type: 'execute-success', key: 'inc-0', nbytes: 8, typeName: 'number', duration: 0.05 }));
    expect(next).toEqual(['inc-1', 'inc-2', 'inc-3']);
    expect(state.executing.size).toBe(3);
  });

  it('keeps long tasks to one per thread, and a depth of 0 never queues', () => {
    const long = new WorkerState({ nthreads: 1, pipelineDepth: 3, shortTaskMs: 1 });
    computeAll(long, ['slow-0', 'slow-1', 'slow-2']);
    expect(executes(long.handle({ type: 'execute-success', key: 'slow-0', nbytes: 8, typeName: 'number', duration: 50 }))).toEqual(['slow-1']);
    const off = new WorkerState({ nthreads: 2 });
    computeAll(off, ['inc-0', 'inc-1', 'inc-2', 'inc-3']);
    expect(executes(off.handle({ type: 'execute-success', key: 'inc-0', nbytes: 8, typeName: 'number', duration: 0.01 }))).toEqual(['inc-2']);
    expect(off.executing.size).toBe(2);
  });

  it('does not queue tasks that ask for resources', () => {
    const state = new WorkerState({ nthreads: 1, pipelineDepth: 2, resources: { GPU: 4 } });
    state.handle({ type: 'compute-task', task: { key: 'gpu-0', payload: [Buffer.alloc(1)], deps: {}, priority: [0, 0], resources: { GPU: 1 } } });
    state.handle({ type: 'compute-task', task: { key: 'gpu-1', payload: [Buffer.alloc(1)], deps: {}, priority: [0, 1], resources: { GPU: 1 } } });
    expect(executes(state.handle({ type: 'execute-success', key: 'gpu-0', nbytes: 8, typeName: 'number', duration: 0.01 }))).toEqual(['gpu-1']);
    expect(state.executing.size).toBe(1);
  });
});

describe('ThreadPool depth', () => {
  let pool: ThreadPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("runs a thread's queued tasks one at a time, in order, with the right results", async () => {
    pool = new ThreadPool(1, { depth: 4 });
    const code = toCode(async (i: number) => {
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 2));
      return [i, started, performance.now()];
    });
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => pool!.run(code, [i])));
    const spans = outcomes.map((o) => {
      expect(o.ok).toBe(true);
      return (o as { value: number[] }).value;
    });
    expect(spans.map((s) => s[0])).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // Async tasks in one thread never overlap: each starts after the one before ended.
    for (let i = 1; i < spans.length; i++) expect(spans[i]![1]).toBeGreaterThanOrEqual(spans[i - 1]![2]!);
  });

  it('a thread that dies fails its running task; the tasks queued behind it run on its replacement', async () => {
    pool = new ThreadPool(1, { depth: 3 });
    const die = toCode(() => {
      setImmediate(() => {
        throw new Error('boom');
      });
      return new Promise(() => {});
    });
    const ok = toCode((x: number) => x * 2);
    const outcomes = await Promise.all([pool.run(die, []), pool.run(ok, [1]), pool.run(ok, [2])]);
    expect(outcomes[0]!.ok).toBe(false);
    expect((outcomes[0] as { error: { message: string } }).error.message).toMatch(/thread died/);
    expect(outcomes.slice(1).map((o) => (o as { value: number }).value)).toEqual([2, 4]);
  });

  it('large typed-array results move out of the thread whole; views of part of a buffer, small ones and shared memory are copied', async () => {
    pool = new ThreadPool(1, { depth: 2 });
    const code = toCode((n: number) => {
      const whole = new Float64Array(n).map((_, i) => i);
      const part = new Uint8Array(new ArrayBuffer(n * 8), 8, 16).fill(7);
      const small = Buffer.from('pooled bytes');
      const shared = new Int32Array(new SharedArrayBuffer(1 << 17)).fill(3);
      // The thread keeps a view of the moved buffer: it finds it detached once the result is out.
      (globalThis as { kept?: Float64Array }).kept = whole;
      return { whole, twice: [whole, whole], part, small, shared };
    });
    const outcome = await pool.run(code, [1 << 14]);
    expect(outcome.ok).toBe(true);
    const value = (outcome as { value: Record<string, unknown> }).value as {
      whole: Float64Array;
      twice: Float64Array[];
      part: Uint8Array;
      small: Uint8Array;
      shared: Int32Array;
    };
    expect(value.whole.length).toBe(1 << 14);
    expect(value.whole[12345]).toBe(12345);
    // One buffer, two views of it in the result: still one buffer on this side.
    expect(value.twice[0]!.buffer).toBe(value.twice[1]!.buffer);
    expect([...value.part]).toEqual(new Array(16).fill(7));
    expect(Buffer.from(value.small).toString()).toBe('pooled bytes');
    expect(value.shared[100]).toBe(3);
    // The moved buffer is gone from the thread: a second task sees the view it kept detached.
    const probe = toCode(() => (globalThis as { kept?: Float64Array }).kept?.length);
    expect(await pool.run(probe, [])).toMatchObject({ ok: true, value: 0 });
  });

  it('close() settles queued and running tasks', async () => {
    pool = new ThreadPool(1, { depth: 2 });
    const hang = toCode(() => new Promise(() => {}));
    const pending = [pool.run(hang, []), pool.run(hang, []), pool.run(hang, [])];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = pool.close();
    pool = undefined;
    await closing;
    const outcomes = await Promise.race([Promise.all(pending), new Promise((resolve) => setTimeout(() => resolve('hung'), 5000))]);
    expect(outcomes).not.toBe('hung');
  });
});
