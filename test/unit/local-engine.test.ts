// The local schedulers' planning and loop (src/scheduler/local/plan.ts, engine.ts), driven by runners
// written here: which keys run, in what order, how many at once, when results are freed, and what
// a bad graph or a failing task gives.
import { describe, it, expect } from 'vitest';
import { ref, type Graph } from '../../src/scheduler/graph.js';
import { planGraph } from '../../src/scheduler/local/plan.js';
import { runPlan, type RunOutcome, type TaskRunner } from '../../src/scheduler/local/engine.js';
import { TaskFailedError } from '../../src/scheduler/errors.js';
import { taskErrorOf } from '../../src/scheduler/errors.js';

const inc = (x: number): number => x + 1;
const add = (a: number, b: number): number => a + b;

/** Runs functions in this thread; `concurrency` at once; each task's run waits for `gate` when given. */
function directRunner(concurrency = 1, gate?: (key: string) => Promise<void>): TaskRunner & { started: string[]; maxRunning: number } {
  let running = 0;
  const runner = {
    concurrency,
    started: [] as string[],
    maxRunning: 0,
    async run(key: string, fn: unknown, args: unknown[]): Promise<RunOutcome> {
      runner.started.push(key);
      running++;
      runner.maxRunning = Math.max(runner.maxRunning, running);
      try {
        if (gate) await gate(key);
        return { ok: true, value: await (fn as (...a: unknown[]) => unknown)(...args) };
      } catch (error) {
        return { ok: false, error: taskErrorOf(error), cause: error };
      } finally {
        running--;
      }
    },
  };
  return runner;
}

function run(graph: Graph, keys: string[], runner: TaskRunner = directRunner(), callbacks = {}): Promise<unknown[]> {
  return runPlan(graph, planGraph(graph, keys), keys, runner, { callbacks });
}

describe('planGraph', () => {
  it('keeps only what the requested keys need, each key after its dependencies, inputs just before their consumer', () => {
    const graph: Graph = { a: 1, b: [inc, ref('a')], c: [inc, ref('a')], d: [add, ref('b'), ref('c')], unused: [inc, ref('zzz')] };
    const plan = planGraph(graph, ['d']);
    expect(plan.order).toEqual(['a', 'b', 'c', 'd']);
    expect(plan.dependencies.get('d')).toEqual(['b', 'c']);
    expect(plan.dependents.get('a')).toEqual(['b', 'c']);
  });

  it('a requested key missing from the graph, or a ref to one, is ERR_SCHEDULER_MISSING_KEY naming it', () => {
    expect(() => planGraph({ a: 1 }, ['b'])).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULER_MISSING_KEY', message: expect.stringContaining("'b'") }));
    expect(() => planGraph({ a: [inc, ref('nope')] }, ['a'])).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULER_MISSING_KEY', message: expect.stringMatching(/graph\['a'\] refers to 'nope'/) }),
    );
  });

  it('a cycle is ERR_SCHEDULER_CYCLE showing the cycle', () => {
    const graph: Graph = { a: [inc, ref('c')], b: [inc, ref('a')], c: [inc, ref('b')], d: [inc, ref('a')] };
    expect(() => planGraph(graph, ['d'])).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULER_CYCLE', message: expect.stringContaining('a -> c -> b -> a') }),
    );
  });

  it('walks graphs deeper than the call stack', () => {
    const graph: Graph = { k0: 0 };
    for (let i = 1; i <= 50_000; i++) graph[`k${i}`] = [inc, ref(`k${i - 1}`)];
    expect(planGraph(graph, ['k50000']).order.length).toBe(50_001);
  });
});

describe('runPlan', () => {
  it('resolves the requested keys in order, refs inside arrays and objects resolved, literals with refs included', async () => {
    const graph: Graph = {
      a: 1,
      b: [inc, ref('a')],
      c: [add, ref('b'), 10],
      d: { list: [ref('b'), ref('c')], n: 3 },
      e: [(o: { x: number[] }) => o.x.length, { x: [ref('a'), ref('b')] }],
    };
    await expect(run(graph, ['e', 'd', 'a', 'e'])).resolves.toEqual([2, { list: [2, 12], n: 3 }, 1, 2]);
  });

  it('awaits async task functions', async () => {
    const graph: Graph = {
      a: [
        async () => {
          await new Promise((r) => setTimeout(r, 5));
          return 7;
        },
      ],
      b: [inc, ref('a')],
    };
    await expect(run(graph, ['b'])).resolves.toEqual([8]);
  });

  it('runs up to `concurrency` tasks at once, never more', async () => {
    const graph: Graph = {};
    for (let i = 0; i < 8; i++) graph[`t${i}`] = [() => i];
    const runner = directRunner(3, () => new Promise((r) => setTimeout(r, 10)));
    await run(graph, Object.keys(graph), runner);
    expect(runner.maxRunning).toBe(3);
  });

  it('frees each result once no remaining task needs it, and keeps the requested ones', async () => {
    const graph: Graph = { a: 1, b: [inc, ref('a')], c: [inc, ref('b')], d: [inc, ref('c')], e: [add, ref('d'), ref('b')] };
    const events: string[] = [];
    const callbacks = {
      onTaskStart: (key: string) => events.push(`start ${key}`),
      onRelease: (key: string) => events.push(`release ${key}`),
    };
    await expect(run(graph, ['e', 'c'], directRunner(), callbacks)).resolves.toEqual([6, 3]);
    // a goes as soon as b has run; b (also e's input) only after e; c was requested, so it stays.
    expect(events).toEqual(['start b', 'release a', 'start c', 'start d', 'start e', 'release d', 'release b']);
  });

  it('a depth-first order: a tree reduction consumes each group of inputs as soon as it exists', async () => {
    const graph: Graph = {};
    for (let i = 0; i < 4; i++) graph[`p${i}`] = [() => i];
    graph.s0 = [add, ref('p0'), ref('p1')];
    graph.s1 = [add, ref('p2'), ref('p3')];
    graph.total = [add, ref('s0'), ref('s1')];
    const runner = directRunner(1);
    await expect(run(graph, ['total'], runner)).resolves.toEqual([6]);
    expect(runner.started).toEqual(['p0', 'p1', 's0', 'p2', 'p3', 's1', 'total']);
  });

  it('a task that throws rejects with a TaskFailedError naming its key, with the remote stack and the original as cause; nothing after it starts', async () => {
    const boom = new RangeError('bad input 3');
    const graph: Graph = {
      a: 3,
      b: [
        (x: number) => {
          if (x === 3) throw boom;
          return x;
        },
        ref('a'),
      ],
      c: [inc, ref('b')],
    };
    const runner = directRunner();
    const error = (await run(graph, ['c'], runner).catch((e: unknown) => e)) as TaskFailedError;
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error.key).toBe('b');
    expect(error.message).toBe('b: RangeError: bad input 3');
    expect(error.remote.stack).toContain('local-engine.test.ts');
    expect(error.cause).toBe(boom);
    expect(runner.started).toEqual(['b']);
  });

  it('an aborted signal rejects with an AbortError and starts nothing more', async () => {
    const controller = new AbortController();
    const graph: Graph = {
      a: [
        () => {
          controller.abort();
          return 1;
        },
      ],
      b: [inc, ref('a')],
    };
    const runner = directRunner();
    const error = await runPlan(graph, planGraph(graph, ['b']), ['b'], runner, { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(runner.started).toEqual(['a']);
  });
});
