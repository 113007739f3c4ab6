// Every Client method against a real LocalCluster, on each transport: futures as arguments (nested),
// map, gather of nested structures, scatter (and broadcast), compute(graph), delayed, asCompleted,
// wait with each returnWhen, cancel, run, schedulerInfo, close; large maps and graphs; and bad input,
// which must end as a coded error on its future, never a crashed worker or scheduler.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { LocalCluster, Client, delayed, moduleFunction, ref, taskOptions, type Future, type Protocol } from 'node-ucx/scheduler';
import { within } from '../helpers.js';
import { until } from './helpers.js';

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const fn = (name: string) => moduleFunction(TASKS, name);
const inc = fn('inc');
const add = fn('add');
const sleep = fn('sleep');

const PROTOCOLS: Protocol[] = ['inproc', 'tcp', 'ucx'];

describe.each(PROTOCOLS)('Client over %s', (protocol) => {
  let cluster: LocalCluster;
  let client: Client;
  /** What the scheduler reported as going wrong inside it (a transition that threw, a message it could not use). */
  const warnings: unknown[] = [];

  beforeAll(async () => {
    cluster = new LocalCluster({ workers: 2, protocol });
    await within(cluster.ready, 20_000, 'the cluster to start');
    cluster.scheduler.on('warning', (warning: unknown) => warnings.push(warning));
    client = new Client(cluster);
    await client.ready;
  });

  afterEach(() => {
    expect(warnings.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it('submit: futures as arguments, nested in arrays and objects, are their results; self-contained functions and module references both run', async () => {
    const a = client.submit(inc, 1);
    const b = client.submit((x: number) => x * 10, 3);
    const c = client.submit((xs: number[], o: { k: { v: number } }, plain: string) => xs[0]! + xs[1]! + o.k.v + plain.length, [a, b], { k: { v: a } }, 'abc');
    expect(await c).toBe(2 + 30 + 2 + 3);
    expect(await a.result()).toBe(2);
    expect(a.status).toBe('finished');
    // The same call is the same key (pure); pure: false makes a new task.
    expect(client.submit(inc, 1).key).toBe(a.key);
    expect(client.submit(inc, 1, taskOptions({ pure: false })).key).not.toBe(a.key);
    const named = client.submit(inc, 41, taskOptions({ key: `answer-${protocol}`, priority: 10, retries: 1 }));
    expect(named.key).toBe(`answer-${protocol}`);
    expect(await named).toBe(42);
  });

  it('map: over several iterables (zipped); gather walks arrays and plain objects of futures', async () => {
    const products = client.map((x: number, y: number) => x * y, [1, 2, 3, 4], new Set([5, 6, 7]));
    expect(products).toHaveLength(3);
    const incs = client.map(inc, [10, 20]);
    const gathered = await client.gather({ p: products, nested: [incs[0], { deep: incs[1], n: 7 }], s: 'x' });
    expect(gathered).toEqual({ p: [5, 12, 21], nested: [11, { deep: 21, n: 7 }], s: 'x' });
  });

  it('scatter: arrays, objects and single values become futures usable as arguments; broadcast puts them on every worker', async () => {
    const [x, y] = (await client.scatter([5, new Float64Array(1000).fill(2)])) as Future[];
    expect(await client.submit((a: number, arr: Float64Array) => a + arr.reduce((s, v) => s + v, 0), x, y)).toBe(2005);
    const named = (await client.scatter({ p: 'pp', q: [1, 2] })) as Record<string, Future>;
    expect(await client.submit((p: string, q: number[]) => p + q.join(''), named.p, named.q)).toBe('pp12');
    const [single] = (await client.scatter(7)) as Future[];
    expect(await single).toBe(7);
    const [everywhere] = (await client.scatter([{ big: 'b'.repeat(100) }], { broadcast: true })) as Future[];
    // (The scheduler hears of scattered data a moment after scatter() resolves; before any task that uses it.)
    await until(() => cluster.scheduler.state.tasks.get(everywhere!.key)?.whoHas.size === 2, 'the scheduler to know both replicas');
    // Tasks on both workers use it where it is.
    const lengths = await client.gather(client.map((o: { big: string }, i: number) => o.big.length + i, [everywhere, everywhere], [0, 1]));
    expect(lengths).toEqual([100, 101]);
  });

  it('compute(graph): tasks with refs, literals, keys chosen or all; a graph may build on futures already computed', async () => {
    const graph = {
      one: 1,
      two: [inc, ref('one')],
      list: [(...xs: number[]) => xs, ref('one'), ref('two'), { n: ref('two') }],
      total: [add, ref('one'), ref('two'), 10],
    };
    expect(await client.compute(graph, ['total', 'list'])).toEqual([13, [1, 2, { n: 2 }]]);
    expect(await client.compute({ a: [inc, 1], b: [inc, ref('a')] })).toMatchObject({ a: 2, b: 3 });
    const earlier = client.submit(inc, 100);
    const [built] = client.submitGraph({ later: [inc, ref(earlier.key)] });
    expect(await built).toBe(102);
  });

  it('delayed: lazy calls build a graph; compute() runs it on the client', async () => {
    const dInc = delayed((x: number) => x + 1, { name: 'dinc' });
    const dAdd = delayed((a: number, b: number[]) => a + b[0]! + b[1]!, { name: 'dadd' });
    const result = dAdd(dInc(1), [dInc(2), dInc(3)]);
    expect(result.key.startsWith('dadd-')).toBe(true);
    expect(await result.compute({ client })).toBe(2 + 3 + 4);
  });

  it('asCompleted: futures in the order they finish, errors included', async () => {
    const slow = client.submit(sleep, 400, 'slow', taskOptions({ pure: false }));
    const fast = client.submit(sleep, 10, 'fast', taskOptions({ pure: false }));
    const order: string[] = [];
    const bad = client.submit(fn('throws'), 'no', taskOptions({ pure: false }));
    for await (const future of client.asCompleted([slow, fast, bad])) order.push(future === slow ? 'slow' : future === fast ? 'fast' : 'bad');
    // Two workers of one thread: 'bad' runs after 'fast' or after 'slow', wherever it was placed.
    expect(order.indexOf('fast')).toBeLessThan(order.indexOf('slow'));
    expect(order.sort()).toEqual(['bad', 'fast', 'slow']);
    expect(bad.status).toBe('error');
  });

  it('wait: ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, and a timeout', async () => {
    const quick = client.submit(sleep, 10, 'q', taskOptions({ pure: false }));
    const slow = client.submit(sleep, 700, 's', taskOptions({ pure: false }));
    let { done, notDone } = await client.wait([quick, slow], { returnWhen: 'FIRST_COMPLETED' });
    expect([...done]).toEqual([quick]);
    expect([...notDone]).toEqual([slow]);
    const failing = client.submit(fn('throws'), 'x', taskOptions({ pure: false }));
    ({ done, notDone } = await client.wait([slow, failing], { returnWhen: 'FIRST_EXCEPTION' }));
    expect(done.has(failing)).toBe(true);
    expect(notDone.has(slow)).toBe(true);
    ({ done, notDone } = await client.wait([slow], { timeoutMs: 10 }));
    expect(done.size + notDone.size).toBe(1);
    ({ done, notDone } = await client.wait([quick, slow, failing], { returnWhen: 'ALL_COMPLETED' }));
    expect(done.size).toBe(3);
    expect(notDone.size).toBe(0);
    expect((await client.wait([])).done.size).toBe(0);
  });

  it('cancel: a running task and what depends on it reject with ERR_SCHEDULER_CANCELLED, and the cluster forgets them', async () => {
    // (A task cancelled while it runs keeps its thread until it returns: a short one.)
    const long = client.submit(sleep, 1000, 'never', taskOptions({ pure: false }));
    const after = client.submit(inc, long);
    await until(() => cluster.scheduler.state.tasks.get(long.key)?.status === 'processing', 'the long task to be placed');
    const cancelledAt = performance.now();
    await long.cancel();
    await expect(long.result()).rejects.toMatchObject({ code: 'ERR_SCHEDULER_CANCELLED' });
    await expect(after.result()).rejects.toMatchObject({ code: 'ERR_SCHEDULER_CANCELLED' });
    expect(performance.now() - cancelledAt).toBeLessThan(500);
    expect(long.status).toBe('cancelled');
    await until(
      () => !cluster.scheduler.state.tasks.has(long.key) && !cluster.scheduler.state.tasks.has(after.key),
      'the scheduler to forget the cancelled keys',
    );
    // The cluster computes on.
    expect(await client.gather(client.map(inc, [1, 2, 3, 4]))).toEqual([2, 3, 4, 5]);
    // A finished future cancelled: cancelled too (its result used to be fetched for ever), and the
    // scheduler lets go of it.
    const finished = client.submit(fn('block'), 100_000, 1, taskOptions({ pure: false }));
    await finished;
    await client.cancel([finished]);
    expect(finished.status).toBe('cancelled');
    await expect(within(finished.result(), 2000, 'a cancelled finished future')).rejects.toMatchObject({ code: 'ERR_SCHEDULER_CANCELLED' });
    await until(() => !cluster.scheduler.state.tasks.has(finished.key), 'the scheduler to forget a cancelled finished key');
  });

  it('run: a function on every worker, in its own process; schedulerInfo: the workers and task counts', async () => {
    const pids = await client.run(() => process.pid);
    expect(Object.keys(pids).sort()).toEqual([...cluster.workers].sort());
    if (protocol === 'inproc') expect(new Set(Object.values(pids))).toEqual(new Set([process.pid]));
    else expect(Object.values(pids).every((pid) => pid !== process.pid)).toBe(true);
    const withArgs = await client.run((a: number, b: number) => a + b, 2, 3);
    expect(Object.values(withArgs)).toEqual([5, 5]);
    await expect(
      client.run(() => {
        throw new Error('nope');
      }),
    ).rejects.toThrow(/nope/);
    const info = await client.schedulerInfo();
    expect(info.address).toBe(cluster.schedulerAddress);
    expect(Object.keys(info.workers).sort()).toEqual([...cluster.workers].sort());
    for (const w of Object.values(info.workers)) expect(w).toMatchObject({ nthreads: 1, status: 'running' });
    expect(typeof info.tasks).toBe('object');
  });

  it('large: a 2,000-task graph with dependencies (a tree of sums over chains) gives the right result', async () => {
    const graph: Record<string, unknown> = {};
    // 500 chains of 3 increments, then a reduction tree of pairwise sums (~499 tasks).
    let level: string[] = [];
    for (let i = 0; i < 500; i++) {
      graph[`x-${i}-0`] = [inc, i];
      graph[`x-${i}-1`] = [inc, ref(`x-${i}-0`)];
      graph[`x-${i}-2`] = [inc, ref(`x-${i}-1`)];
      level.push(`x-${i}-2`);
    }
    let depth = 0;
    while (level.length > 1) {
      const next: string[] = [];
      for (let i = 0; i < level.length; i += 2) {
        const key = `sum-${depth}-${i}`;
        graph[key] = i + 1 < level.length ? [add, ref(level[i]!), ref(level[i + 1]!)] : [add, ref(level[i]!)];
        next.push(key);
      }
      level = next;
      depth++;
    }
    expect(Object.keys(graph).length).toBeGreaterThanOrEqual(1999);
    const [total] = await within(client.compute(graph, [level[0]!]) as Promise<number[]>, 30_000, 'the 2,000-task graph');
    expect(total).toBe((500 * 499) / 2 + 3 * 500);
    // Intermediates are freed once used: only what is still wanted stays.
    await until(() => ![...cluster.scheduler.state.tasks.keys()].some((k) => k.startsWith('x-') || k.startsWith('sum-')), 'the graph to be forgotten');
  });

  it('bad input: each a coded error on its own future; the workers and the scheduler carry on', async () => {
    const before = await client.run(() => process.pid);
    expect(() => client.submit(42 as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => client.submit(Math.max)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    await expect(client.compute({ a: [inc, ref('b')], b: [inc, ref('a')] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => client.submitGraph({ a: [inc, ref('b')], b: [inc, ref('a')] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // A ref to a key outside the graph is the scheduler's to judge: it knows none by that name.
    await expect(client.compute({ a: [inc, ref('nowhere')] }, ['a'])).rejects.toMatchObject({ code: 'ERR_SCHEDULER_MISSING_KEY' });
    const cases: [string, Future, Record<string, unknown>][] = [
      ['unknown module', client.submit(moduleFunction('file:///nonexistent/module.mjs', 'f'), 1), { code: 'ERR_SCHEDULER_IMPORT' }],
      ['unknown export', client.submit(fn('nope'), 1), { code: 'ERR_SCHEDULER_IMPORT' }],
      ['an export that is not a function', client.submit(fn('notAFunction'), 1), { code: 'ERR_SCHEDULER_IMPORT' }],
      ['a result that cannot be serialized', client.submit(fn('unserializable')), { code: 'ERR_SCHEDULER_UNSERIALIZABLE' }],
      ['a bare specifier that is not installed', client.submit({ module: 'not-installed-anywhere', export: 'y' } as never), { code: 'ERR_SCHEDULER_IMPORT' }],
      [
        'a free variable',
        client.submit(() => (globalThis as unknown as { undefinedThing: () => number }).undefinedThing() + notDefinedHere),
        { name: 'TaskFailedError' },
      ],
      [
        "a thrown error, with the worker's stack",
        client.submit(fn('throws'), 'bad'),
        { code: 'ERR_TEST_THROWN', remote: expect.objectContaining({ name: 'RangeError', stack: expect.stringContaining('tasks.mjs') }) },
      ],
      ['a missing key', client.submit(inc, ref(`missing-${protocol}`)), { code: 'ERR_SCHEDULER_MISSING_KEY' }],
      ['process.exit in a task (ends its thread only)', client.submit(fn('exitWorker'), 3), { name: 'TaskFailedError' }],
    ];
    for (const [what, future, expected] of cases) {
      const error = await within(
        future.result().then(
          () => null,
          (e: unknown) => e,
        ),
        20_000,
        what,
      );
      expect(error, what).toMatchObject(expected);
    }
    const [missingGraph] = client.submitGraph({ g: [inc, ref('nowhere-at-all')] });
    await expect(missingGraph!.result()).rejects.toMatchObject({ code: 'ERR_SCHEDULER_MISSING_KEY' });
    // Nobody crashed: same worker processes, and they still compute.
    expect(await client.run(() => process.pid)).toEqual(before);
    expect(await client.gather(client.map(inc, [1, 2]))).toEqual([2, 3]);
    expect(cluster.scheduler.closed).toBe(false);
  });

  it("close: pending futures reject with ERR_SCHEDULER_CLOSED, later calls throw it, and the cluster forgets the client's keys", async () => {
    const other = new Client(cluster, { setAsDefault: false });
    await other.ready;
    const done = other.submit(inc, 1000);
    await done;
    const pending = other.submit(sleep, 500, 'never', taskOptions({ pure: false }));
    await new Promise((r) => setTimeout(r, 20));
    await other.close();
    await expect(pending.result()).rejects.toMatchObject({ code: 'ERR_SCHEDULER_CLOSED' });
    expect(() => other.submit(inc, 1)).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULER_CLOSED' }));
    await expect(other.schedulerInfo()).rejects.toMatchObject({ code: 'ERR_SCHEDULER_CLOSED' });
    await other.close(); // idempotent
    await until(
      () => !cluster.scheduler.state.tasks.has(pending.key) && !cluster.scheduler.state.tasks.has(done.key),
      "the scheduler to forget the closed client's keys",
    );
  });
});

declare const notDefinedHere: number;

describe('Client over ucx: 10,000 tasks', () => {
  it('a 10k-task map gives the right results, and releasing them frees everything', async () => {
    await using cluster = new LocalCluster({ workers: 2, protocol: 'ucx' });
    await cluster.ready;
    await using client = new Client(cluster);
    const futures = client.map(
      (x: number) => x * 2,
      Array.from({ length: 10_000 }, (_, i) => i),
    );
    const results = await within(client.gather(futures) as Promise<number[]>, 30_000, '10,000 results');
    expect(results).toHaveLength(10_000);
    for (let i = 0; i < 10_000; i++) if (results[i] !== i * 2) throw new Error(`result ${i} is ${results[i]}`);
    for (const f of futures) f.release();
    await until(() => cluster.scheduler.state.tasks.size === 0, 'the scheduler to forget the released keys');
    const info = await client.schedulerInfo();
    for (const w of Object.values(info.workers)) expect(w.stored).toBe(0);
  });
});
