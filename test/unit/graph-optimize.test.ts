// The collections' graph optimizer (src/collections/core/optimize.ts) on graph shapes: what cull
// keeps, which chains fuse and which must not, and that a fused task computes what the chain did.
import { describe, it, expect } from 'vitest';
import { ref, isRef, type Graph } from '../../src/scheduler/graph.js';
import { kernels } from '../../src/scheduler/local/kernels.js';
import { cull, fuseLinear, inlineAliases, optimizeGraph } from '../../src/collections/core/optimize.js';
import { isFusedTask, runFused, type FusedSpec } from '../../src/collections/core/fused.js';

const inc = (x: number): number => x + 1;
const double = (x: number): number => x * 2;
const add = (a: number, b: number): number => a + b;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function spec(graph: Graph, key: string): FusedSpec {
  const task = graph[key];
  if (!isFusedTask(task)) throw new Error(`${key} is not fused: ${String(task)}`);
  return task[1];
}

/** Runs a graph in this thread, in dependency order (fused tasks through runFused). */
async function evaluate(graph: Graph, key: string, cache = new Map<string, unknown>()): Promise<unknown> {
  if (cache.has(key)) return cache.get(key);
  const value = graph[key];
  const resolve = async (v: unknown): Promise<unknown> => {
    if (isRef(v)) return evaluate(graph, v['\u0000key'], cache);
    if (Array.isArray(v)) return Promise.all(v.map(resolve));
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await resolve(x)])));
    }
    return v;
  };
  let result: unknown;
  if (isFusedTask(value)) result = await runFused((await resolve(value[1])) as FusedSpec);
  else if (Array.isArray(value) && typeof value[0] === 'function')
    result = await (value[0] as (...a: unknown[]) => unknown)(...((await resolve(value.slice(1))) as unknown[]));
  else result = await resolve(value);
  cache.set(key, result);
  return result;
}

describe('cull', () => {
  it('keeps exactly the keys the requested ones reach', () => {
    const graph: Graph = { a: 1, b: [inc, ref('a')], c: [inc, ref('b')], x: [inc, ref('a')], y: 5 };
    expect(Object.keys(cull(graph, ['c'])).sort()).toEqual(['a', 'b', 'c']);
    expect(Object.keys(cull(graph, ['c', 'y'])).sort()).toEqual(['a', 'b', 'c', 'y']);
  });

  it('leaves refs to keys the graph lacks for the scheduler to report', () => {
    expect(cull({ a: [inc, ref('missing')] }, ['a'])).toEqual({ a: [inc, ref('missing')] });
  });
});

describe('fuseLinear', () => {
  it('a map-map-map chain over a literal partition becomes one task under the last key', async () => {
    const graph: Graph = {
      p: [1, 2, 3],
      m1: [(xs: number[]) => xs.map(inc), ref('p')],
      m2: [(xs: number[]) => xs.map(double), ref('m1')],
      m3: [sum, ref('m2')],
    };
    const fused = fuseLinear(graph, ['m3']);
    expect(Object.keys(fused).sort()).toEqual(['m3', 'p']);
    expect(spec(fused, 'm3').keys).toEqual(['m1', 'm2', 'm3']);
    await expect(evaluate(fused, 'm3')).resolves.toBe(18);
  });

  it('one chain per partition, and the aggregate over them stays unfused', () => {
    const graph: Graph = {};
    for (let i = 0; i < 3; i++) {
      graph[`p${i}`] = [() => i];
      graph[`m${i}`] = [inc, ref(`p${i}`)];
      graph[`r${i}`] = [double, ref(`m${i}`)];
    }
    graph.total = [(...xs: number[]) => xs.reduce(add), ref('r0'), ref('r1'), ref('r2')];
    const fused = fuseLinear(graph, ['total']);
    expect(Object.keys(fused).sort()).toEqual(['r0', 'r1', 'r2', 'total']);
    expect(spec(fused, 'r1').keys).toEqual(['p1', 'm1', 'r1']);
    expect(fused.total).toBe(graph.total);
  });

  it('a task with two dependents is not fused (its result is needed twice)', () => {
    const graph: Graph = { a: [() => 1], b: [inc, ref('a')], c: [double, ref('a')], d: [add, ref('b'), ref('c')] };
    const fused = fuseLinear(graph, ['d']);
    expect(fused).toEqual(graph);
  });

  it('nothing fuses into a task with another dependency (the branches would run in series)', () => {
    const graph: Graph = { a: [() => 1], x: [() => 2], b: [add, ref('a'), ref('x')] };
    expect(fuseLinear(graph, ['b'])).toEqual(graph);
  });

  it('a requested key keeps its task, and the chain after it fuses on its own', async () => {
    const graph: Graph = { a: [() => 1], b: [inc, ref('a')], c: [inc, ref('b')], d: [inc, ref('c')] };
    const fused = fuseLinear(graph, ['b', 'd']);
    expect(Object.keys(fused).sort()).toEqual(['b', 'd']);
    expect(spec(fused, 'b').keys).toEqual(['a', 'b']);
    expect(spec(fused, 'd').keys).toEqual(['c', 'd']);
    await expect(evaluate(fused, 'd')).resolves.toBe(4);
  });

  it('a selection (getItem) stays where the data is: it is not fused into its dependent', () => {
    const graph: Graph = { a: [() => [1, 2]], pick: [kernels.getItem, ref('a'), 1], b: [inc, ref('pick')] };
    const fused = fuseLinear(graph, ['b']);
    expect(fused.b).toBe(graph.b);
    // ...but what it selects from may fuse into it.
    expect(spec(fused, 'pick').keys).toEqual(['a', 'pick']);
  });

  it('a ref used twice by the next step is the previous result twice', async () => {
    const graph: Graph = { a: [() => 5], b: [(x: number, o: { y: number }) => x * o.y, ref('a'), { y: ref('a') }] };
    const fused = fuseLinear(graph, ['b']);
    await expect(evaluate(fused, 'b')).resolves.toBe(25);
  });

  it('fusing a fused graph again keeps specs flat', async () => {
    const graph: Graph = { a: [() => 1], b: [inc, ref('a')], c: [inc, ref('b')], d: [inc, ref('c')] };
    const once = fuseLinear(graph, ['b', 'd']);
    const twice = fuseLinear(once, ['d']);
    expect(Object.keys(twice)).toEqual(['d']);
    expect(spec(twice, 'd').keys).toEqual(['a', 'b', 'c', 'd']);
    expect(spec(twice, 'd').steps.every((step) => !isFusedTask(step))).toBe(true);
    await expect(evaluate(twice, 'd')).resolves.toBe(4);
  });

  it('a step that throws names itself and the fused key in the error', async () => {
    const graph: Graph = {
      a: [() => 1],
      b: [
        (x: number) => {
          throw new TypeError(`no ${x}`);
        },
        ref('a'),
      ],
      c: [inc, ref('b')],
    };
    const fused = fuseLinear(graph, ['c']);
    const error = (await evaluate(fused, 'c').catch((e: Error) => e)) as Error;
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe("no 1 (in 'b', fused into 'c')");
    expect(error.stack).toMatch(/^TypeError: no 1 \(in 'b', fused into 'c'\)\n/);
  });
});

describe('inlineAliases and optimizeGraph', () => {
  it('refs to aliases go to what they name, so that chains through them fuse', async () => {
    const graph: Graph = { a: [() => 3], alias: ref('a'), alias2: ref('alias'), b: [inc, ref('alias2')] };
    expect(inlineAliases(graph, ['b'])).toEqual({ a: graph.a, b: [inc, ref('a')] });
    const optimized = optimizeGraph(graph, ['b']);
    expect(Object.keys(optimized)).toEqual(['b']);
    await expect(evaluate(optimized, 'b')).resolves.toBe(4);
  });

  it('a requested alias stays', () => {
    const graph: Graph = { a: [() => 3], alias: ref('a') };
    expect(inlineAliases(graph, ['alias'])).toEqual(graph);
  });
});
