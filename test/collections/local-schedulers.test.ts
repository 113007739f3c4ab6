// computeGraph on the three local schedulers, with real threads and child processes (dist/): the same
// graphs give the same results everywhere; independent tasks overlap up to the pool size; failures
// and bad graphs give coded errors; pools never keep a process alive; a default Client takes over.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ref, type Graph } from '../../dist/scheduler/graph.js';
import {
  computeGraph,
  closeLocalPools,
  setDefaultClient,
  getDefaultClient,
  type GraphComputer,
  type LocalScheduler,
} from '../../dist/scheduler/local/index.js';
import { TaskFailedError } from '../../dist/scheduler/errors.js';

const ROOT = path.resolve(__dirname, '..', '..');
const SCHEDULERS: LocalScheduler[] = ['sync', 'threads', 'processes'];

afterAll(async () => {
  await closeLocalPools();
});

/** A task that blocks its thread for `ms` and reports when it ran (self-contained: it travels as source). */
const busy = (ms: number): [number, number] => {
  const start = Date.now();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return [start, Date.now()];
};

/** The most intervals open at one instant. */
function maxOverlap(intervals: [number, number][]): number {
  const events = intervals
    .flatMap(
      ([s, e]) =>
        [
          [s, 1],
          [e, -1],
        ] as [number, number][],
    )
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, delta] of events) max = Math.max(max, (open += delta));
  return max;
}

describe.each(SCHEDULERS)("scheduler '%s'", (scheduler) => {
  it('computes the requested keys in order: functions in arguments, refs inside arrays and objects, literals with refs', async () => {
    const graph: Graph = {
      a: 2,
      b: [(x: number) => x + 1, ref('a')],
      c: [
        (f: (x: number) => number, o: { x: number; list: number[] }) => f(o.x) + o.list.length,
        (y: number) => y * 10,
        { x: ref('b'), list: [ref('a'), ref('b')] },
      ],
      d: { c: ref('c'), bytes: new Float64Array([1, 2]) },
      unused: [
        () => {
          throw new Error('must not run');
        },
      ],
    };
    await expect(computeGraph(graph, ['d', 'b', 'a'], { scheduler, numWorkers: 2 })).resolves.toEqual([{ c: 32, bytes: new Float64Array([1, 2]) }, 3, 2]);
  });

  it('a task that throws rejects with a TaskFailedError naming the key, with the remote name, code and stack', async () => {
    const graph: Graph = {
      x: 4,
      y: [
        (v: number) => {
          throw Object.assign(new RangeError(`bad ${v}`), { code: 'E_BAD' });
        },
        ref('x'),
      ],
    };
    const error = (await computeGraph(graph, ['y'], { scheduler, numWorkers: 2 }).catch((e: unknown) => e)) as TaskFailedError;
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ key: 'y', code: 'E_BAD', message: 'y: RangeError: bad 4' });
    expect(error.remote.name).toBe('RangeError');
    expect(error.stack).toContain('--- on the worker ---');
    // 'sync' calls the function itself: its stack points at this file.
    if (scheduler === 'sync') expect(error.remote.stack).toContain('local-schedulers.test.ts');
  });

  it('a bad graph fails before any task runs: a missing key, a cycle', async () => {
    const graph: Graph = { a: [busy, 1], b: [(x: unknown) => x, ref('a'), ref('nowhere')] };
    await expect(computeGraph(graph, ['b'], { scheduler })).rejects.toMatchObject({
      code: 'ERR_SCHEDULER_MISSING_KEY',
      message: expect.stringContaining("'nowhere'"),
    });
    await expect(computeGraph({ a: 1 }, ['zz'], { scheduler })).rejects.toMatchObject({ code: 'ERR_SCHEDULER_MISSING_KEY' });
    const cyclic: Graph = { p: [(x: unknown) => x, ref('q')], q: [(x: unknown) => x, ref('p')] };
    await expect(computeGraph(cyclic, ['p'], { scheduler })).rejects.toMatchObject({ code: 'ERR_SCHEDULER_CYCLE' });
  });

  it(`independent tasks run ${scheduler === 'sync' ? 'one at a time' : 'in parallel, up to the pool size'}`, async () => {
    const graph: Graph = {};
    for (let i = 0; i < 4; i++) graph[`t${i}`] = [busy, 250];
    const intervals = (await computeGraph(graph, Object.keys(graph), { scheduler, numWorkers: 2 })) as [number, number][];
    expect(maxOverlap(intervals)).toBe(scheduler === 'sync' ? 1 : 2);
  });
});

describe('what cannot travel', () => {
  it("a native function fails 'threads' and 'processes' before anything runs, naming where it is", async () => {
    for (const scheduler of ['threads', 'processes'] as const) {
      await expect(computeGraph({ a: [Math.sqrt, 4] }, ['a'], { scheduler })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG_VALUE',
        message: expect.stringContaining("graph['a'][0]"),
      });
      await expect(computeGraph({ a: [(f: () => number) => f(), Math.random] }, ['a'], { scheduler })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    }
  });

  it("a closure's free variables do not travel: ReferenceError on 'threads' (the rule of docs/collections.md)", async () => {
    const offset = 10;
    const graph: Graph = { a: [(x: number) => x + offset, 1] };
    await expect(computeGraph(graph, ['a'], { scheduler: 'sync' })).resolves.toEqual([11]);
    await expect(computeGraph(graph, ['a'], { scheduler: 'threads' })).rejects.toMatchObject({ key: 'a', remote: { name: 'ReferenceError' } });
  });

  it('a result that cannot be copied back is ERR_SCHEDULER_UNSERIALIZABLE', async () => {
    for (const scheduler of ['threads', 'processes'] as const) {
      await expect(computeGraph({ a: [() => () => 1] }, ['a'], { scheduler })).rejects.toMatchObject({ key: 'a', code: 'ERR_SCHEDULER_UNSERIALIZABLE' });
    }
  });

  it('a task that exits its process fails with ERR_SCHEDULER_KILLED_WORKER, and the pool recovers', async () => {
    await expect(computeGraph({ a: [() => process.exit(3)] }, ['a'], { scheduler: 'processes', numWorkers: 1 })).rejects.toMatchObject({
      key: 'a',
      code: 'ERR_SCHEDULER_KILLED_WORKER',
      message: expect.stringContaining('exit code 3'),
    });
    await expect(computeGraph({ a: [() => process.pid] }, ['a'], { scheduler: 'processes', numWorkers: 1 })).resolves.toEqual([expect.any(Number)]);
  });
});

describe('the default Client', () => {
  it('computations that name no scheduler go to it, with the graph prepared for travel; null clears it', async () => {
    const seen: Graph[] = [];
    const stand: GraphComputer = {
      async compute(graph, keys) {
        seen.push(graph);
        return computeGraph(graph, keys, { scheduler: 'threads' });
      },
    };
    setDefaultClient(stand);
    try {
      expect(getDefaultClient()).toBe(stand);
      const graph: Graph = { a: [(f: (x: number) => number, x: number) => f(x), (x: number) => x * 3, 5] };
      await expect(computeGraph(graph, ['a'])).resolves.toEqual([15]);
      await expect(computeGraph(graph, ['a'], { scheduler: 'distributed' })).resolves.toEqual([15]);
      // The function inside the arguments travels as code: the Client ships only each task's own function.
      expect(JSON.stringify(seen[0])).toContain('callWithFunctions');
      // A named local scheduler still runs here.
      await expect(computeGraph(graph, ['a'], { scheduler: 'sync' })).resolves.toEqual([15]);
      expect(seen.length).toBe(2);
    } finally {
      setDefaultClient(null);
    }
    await expect(computeGraph({ a: 1 }, ['a'], { scheduler: 'distributed' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => setDefaultClient({} as GraphComputer)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('a closed Client is no default', () => {
    const client = { closed: false, compute: async () => [] };
    setDefaultClient(client);
    client.closed = true;
    expect(getDefaultClient()).toBeNull();
  });
});

describe('pools and the process', () => {
  it('a script that computes on threads and processes exits by itself (idle pools hold nothing), and awaiting a task keeps it up', async () => {
    const script = `
      import { computeGraph } from ${JSON.stringify(path.join(ROOT, 'dist/scheduler/local/index.js'))};
      const slow = [() => { const t = Date.now(); while (Date.now() - t < 200); return 1; }];
      const [a] = await computeGraph({ a: slow }, ['a'], { scheduler: 'threads' });
      const [b] = await computeGraph({ b: slow }, ['b'], { scheduler: 'processes' });
      console.log('done', a + b);
    `;
    // A file, not -e: threads inherit the parent's flags, and --input-type is refused for a file.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucx-pools-')), 'compute.mjs');
    fs.writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, `the script did not exit by itself (null: killed after 20 s); output: ${out}`).toBe(0);
    expect(out).toContain('done 2');
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});
