// node-ucx/collections/bag: every operation's result equals the same computation in plain JS, on
// each local scheduler; keys are deterministic; linear chains run as one task per partition; bad
// input gives coded errors.
import { describe, it, expect, afterAll } from 'vitest';
import * as db from 'node-ucx/collections/bag';
import type { Bag, Item, LocalScheduler } from 'node-ucx/collections/bag';

const SCHEDULERS: LocalScheduler[] = ['sync', 'threads', 'processes'];

afterAll(async () => {
  await db.closeLocalPools();
});

interface Row {
  name: string;
  amount: number;
  tags: string[];
}
const numbers = Array.from({ length: 100 }, (_, i) => i);
const rows: Row[] = Array.from({ length: 40 }, (_, i) => ({ name: `n${i % 5}`, amount: (i * 7) % 23, tags: i % 3 === 0 ? ['a', 'b'] : ['c'] }));
const words = 'the quick brown fox jumps over the lazy dog the end fox'.split(' ');

const nums = db.fromSequence(numbers, { npartitions: 7 });
const people = db.fromSequence(rows, { npartitions: 4 });
const wordBag = db.fromSequence(words, { npartitions: 3 });

/** Sorts pairs by their canonical text: for results whose order Dask does not define (groupby, foldby). */
const sortedPairs = (pairs: unknown): unknown => (pairs as unknown[]).map((p) => JSON.stringify(p)).sort();
const countBy = <T>(items: T[], key: (x: T) => unknown): Map<unknown, number> => {
  const counts = new Map<unknown, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};

interface Case {
  name: string;
  make: () => Bag<unknown> | Item<unknown>;
  expected: unknown;
  normalize?: (value: unknown) => unknown;
  close?: boolean;
}

const cases: Case[] = [
  { name: 'map', make: () => nums.map((x: number) => x * x), expected: numbers.map((x) => x * x) },
  { name: 'map with an extra value', make: () => nums.map((x: number, k: number) => x + k, 1000), expected: numbers.map((x) => x + 1000) },
  { name: 'map with an Item argument', make: () => nums.map((x: number, top: number) => x / top, nums.max()), expected: numbers.map((x) => x / 99) },
  {
    name: 'map zipping a bag partitioned alike',
    make: () =>
      nums.map(
        (x: number, y: number) => x * 1000 + y,
        nums.map((x: number) => 99 - x),
      ),
    expected: numbers.map((x) => x * 1000 + 99 - x),
  },
  {
    name: 'map with an async function',
    make: () =>
      nums.map(async (x: number) => {
        await null;
        return -x;
      }),
    expected: numbers.map((x) => -x),
  },
  {
    name: 'starmap',
    make: () => nums.map((x: number) => [x, 2]).starmap((a: number, b: number, c: number) => a * b + c, 1),
    expected: numbers.map((x) => x * 2 + 1),
  },
  { name: 'filter', make: () => nums.filter((x: number, m: number) => x % m === 0, 3), expected: numbers.filter((x) => x % 3 === 0) },
  { name: 'remove', make: () => nums.remove((x: number) => x % 3 === 0), expected: numbers.filter((x) => x % 3 !== 0) },
  { name: 'flatMap', make: () => wordBag.flatMap((w: string) => w.split('')), expected: words.flatMap((w) => w.split('')) },
  { name: 'flatten', make: () => people.pluck('tags').flatten(), expected: rows.flatMap((r) => r.tags) },
  { name: 'mapPartitions', make: () => nums.mapPartitions((part: number[]) => [part.length]), expected: [15, 15, 14, 14, 14, 14, 14] },
  { name: 'pluck', make: () => people.pluck('name'), expected: rows.map((r) => r.name) },
  { name: 'pluck of several keys', make: () => people.pluck(['name', 'amount']), expected: rows.map((r) => [r.name, r.amount]) },
  { name: 'pluck with a fallback', make: () => people.pluck('missing', 0), expected: rows.map(() => 0) },
  {
    name: 'a chain: map, filter, map',
    make: () =>
      nums
        .map((x: number) => x + 1)
        .filter((x: number) => x % 2 === 0)
        .map((x: number) => `${x}`),
    expected: numbers
      .map((x) => x + 1)
      .filter((x) => x % 2 === 0)
      .map(String),
  },
  { name: 'count', make: () => nums.count(), expected: 100 },
  { name: 'count after filter', make: () => nums.filter((x: number) => x > 89).count(), expected: 10 },
  { name: 'sum', make: () => nums.sum(), expected: 4950 },
  { name: 'sum of an empty bag', make: () => nums.filter(() => false).sum(), expected: 0 },
  { name: 'sum of bigints', make: () => nums.map((x: number) => BigInt(x)).sum(), expected: 4950n },
  { name: 'mean', make: () => nums.mean(), expected: 49.5 },
  { name: 'min', make: () => people.pluck('amount').min(), expected: Math.min(...rows.map((r) => r.amount)) },
  { name: 'max', make: () => people.pluck('amount').max(), expected: Math.max(...rows.map((r) => r.amount)) },
  { name: 'var', make: () => nums.var(), expected: numbers.reduce((a, x) => a + (x - 49.5) ** 2, 0) / 100, close: true },
  { name: 'std with ddof 1', make: () => nums.std({ ddof: 1 }), expected: Math.sqrt(numbers.reduce((a, x) => a + (x - 49.5) ** 2, 0) / 99), close: true },
  { name: 'all', make: () => nums.map((x: number) => x >= 0).all(), expected: true },
  { name: 'any', make: () => nums.map((x: number) => x > 98).any(), expected: true },
  { name: 'fold', make: () => nums.fold((acc: number, x: number) => acc + x), expected: 4950 },
  {
    name: 'fold with initial and combine',
    make: () =>
      nums.fold((acc: number[], x: number) => (x % 10 === 0 ? [...acc, x] : acc), {
        initial: [] as number[],
        combine: (a: number[], b: number[]) => [...a, ...b],
      }),
    expected: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90],
  },
  {
    name: 'reduce with an initial value (used once)',
    make: () => nums.reduce((a: number, b: number) => a + b, 1000),
    expected: numbers.reduce((a, b) => a + b, 1000),
  },
  {
    name: 'reduction (a user perPartition and aggregate)',
    make: () =>
      nums.reduction(
        (part: number[]) => Math.max(...part),
        (maxes: number[]) => Math.max(...maxes),
        { splitEvery: 2 },
      ),
    expected: 99,
  },
  { name: 'frequencies', make: () => wordBag.frequencies(), expected: [...countBy(words, (w) => w)], normalize: sortedPairs },
  { name: 'frequencies sorted', make: () => wordBag.frequencies({ sort: true }).take(1, { scheduler: 'sync' }) as never, expected: [['the', 3]] },
  {
    name: 'frequencies of arrays, compared by content',
    make: () => nums.map((x: number) => [x % 2, 'k']).frequencies(),
    expected: [
      [[0, 'k'], 50],
      [[1, 'k'], 50],
    ],
    normalize: sortedPairs,
  },
  { name: 'topk', make: () => nums.topk(3), expected: [99, 98, 97] },
  {
    name: 'topk by a key',
    make: () => people.topk(2, { key: 'amount' }).pluck('amount'),
    expected: rows
      .map((r) => r.amount)
      .sort((a, b) => b - a)
      .slice(0, 2),
  },
  { name: 'topk by a function', make: () => nums.topk(2, { key: (x: number) => -x }), expected: [0, 1] },
  { name: 'distinct', make: () => wordBag.distinct(), expected: [...new Set(words)] },
  { name: 'distinct by content', make: () => nums.map((x: number) => ({ even: x % 2 === 0 })).distinct(), expected: [{ even: true }, { even: false }] },
  { name: 'distinct by a key', make: () => people.distinct({ key: 'name' }).pluck('name'), expected: ['n0', 'n1', 'n2', 'n3', 'n4'] },
  {
    name: 'foldby',
    make: () => people.foldby('name', (acc: number, r: Row) => acc + r.amount, { initial: 0, combine: (a: number, b: number) => a + b }),
    expected: [...rows.reduce((m, r) => m.set(r.name, (m.get(r.name) ?? 0) + r.amount), new Map<string, number>())],
    normalize: sortedPairs,
  },
  {
    name: 'foldby without initial values',
    make: () =>
      nums.foldby(
        (x: number) => x % 3,
        (a: number, x: number) => Math.max(a, x),
      ),
    expected: [
      [0, 99],
      [1, 97],
      [2, 98],
    ],
    normalize: sortedPairs,
  },
  {
    name: 'groupby',
    make: () => nums.groupby((x: number) => x % 4),
    expected: [0, 1, 2, 3].map((k) => [k, numbers.filter((x) => x % 4 === k)]),
    normalize: (v) => sortedPairs((v as [number, number[]][]).map(([k, xs]) => [k, [...xs].sort((a, b) => a - b)])),
  },
  {
    name: 'groupby into 2 partitions by field',
    make: () => people.groupby('name', { npartitions: 2 }).map((pair: [string, Row[]]) => [pair[0], pair[1].length]),
    expected: [...countBy(rows, (r) => r.name)],
    normalize: sortedPairs,
  },
  { name: 'Item.apply', make: () => nums.sum().apply((s: number, d: number) => s / d, 10), expected: 495 },
  { name: 'concat', make: () => db.concat([nums.filter((x: number) => x < 3), wordBag]), expected: [0, 1, 2, ...words] },
  { name: 'range', make: () => db.range(10, { npartitions: 3 }).map((x: number) => x * 2), expected: Array.from({ length: 10 }, (_, i) => i * 2) },
];

describe.each(SCHEDULERS)("bag on '%s'", (scheduler) => {
  for (const c of cases) {
    it(`${c.name} equals plain JS`, async () => {
      const made = c.make();
      const value = typeof (made as { compute?: unknown }).compute === 'function' ? await made.compute({ scheduler }) : await made;
      const normalize = c.normalize ?? ((v: unknown) => v);
      if (c.close) expect(value as number).toBeCloseTo(c.expected as number, 9);
      else expect(normalize(value)).toEqual(normalize(c.expected));
    });
  }

  it('take: from the first partition, or from all', async () => {
    await expect(nums.take(3, { scheduler })).resolves.toEqual([0, 1, 2]);
    await expect(nums.take(20, { scheduler })).resolves.toEqual(numbers.slice(0, 15));
    await expect(nums.take(20, { scheduler, npartitions: -1 })).resolves.toEqual(numbers.slice(0, 20));
  });

  it('compute() of several collections shares their inputs', async () => {
    const squares = nums.map((x: number) => x * x);
    await expect(db.compute([squares.sum(), squares.count(), squares.max()], { scheduler })).resolves.toEqual([328350, 100, 9801]);
  });

  it('persist() holds the partitions: the same keys, now literals', async () => {
    const squares = nums.map((x: number) => x * x);
    const held = await squares.persist({ scheduler });
    expect(held.keys).toEqual(squares.keys);
    expect(held.layers.size).toBe(1);
    for (const key of held.keys) expect(Array.isArray(held.graph()[key])).toBe(true);
    await expect(held.sum().compute({ scheduler })).resolves.toBe(328350);
  });

  it('an empty bag: min fails with ERR_COLLECTIONS_EMPTY, count is 0, fold without initial fails', async () => {
    const empty = db.fromSequence([] as number[]);
    expect(empty.npartitions).toBe(1);
    await expect(empty.count().compute({ scheduler })).resolves.toBe(0);
    await expect(empty.min().compute({ scheduler })).rejects.toMatchObject({
      code: 'ERR_COLLECTIONS_EMPTY',
      message: expect.stringContaining('min of an empty bag'),
    });
    await expect(empty.fold((a: number, b: number) => a + b).compute({ scheduler })).rejects.toMatchObject({ code: 'ERR_COLLECTIONS_EMPTY' });
    await expect(empty.mean().compute({ scheduler })).rejects.toMatchObject({ code: 'ERR_COLLECTIONS_EMPTY' });
  });

  it('a function that throws fails with a TaskFailedError naming the key and the step, with the remote stack', async () => {
    const failing = nums
      .map(function explode(x: number) {
        if (x === 42) throw new TypeError(`cannot take ${x}`);
        return x;
      })
      .map((x: number) => x + 1);
    const error = (await failing.compute({ scheduler }).catch((e: unknown) => e)) as db.TaskFailedError;
    expect(error).toBeInstanceOf(db.TaskFailedError);
    // 42 is in partition 2 of 7 (15 + 15 + 14): the chain map-map is one fused task under the last map's key.
    expect(error.key).toBe(failing.keys[2]);
    expect(error.remote.name).toBe('TypeError');
    expect(error.message).toMatch(/cannot take 42 \(in 'map-explode-[0-9a-f]{16}-2', fused into 'map-[0-9a-f]{16}-2'\)/);
    expect(error.remote.stack).toContain('explode');
  });
});

describe('graphs and keys', () => {
  it('names are deterministic: the same operations on the same inputs give the same keys', () => {
    const again = db.fromSequence(numbers, { npartitions: 7 });
    const f = (x: number): number => x + 1;
    expect(again.name).toBe(nums.name);
    expect(again.map(f).name).toBe(nums.map(f).name);
    expect(nums.map(f, 1).name).not.toBe(nums.map(f, 2).name);
    expect(nums.map(f).name).toMatch(/^map-f-[0-9a-f]{16}$/);
    expect(nums.keys[0]).toBe(`${nums.name}-0`);
  });

  it('a map-filter-map chain is one task per partition, and a sum over it one more tree', () => {
    const chain = nums
      .map((x: number) => x + 1)
      .filter((x: number) => x > 3)
      .map((x: number) => x * 2);
    const total = chain.sum({ splitEvery: 3 });
    const optimized = total.optimize(total.graph(), total.keys);
    // Per partition one fused task (map, filter, map, the sum's partial); aggregates of 3: ceil(7/3) = 3,
    // then the final one. The third aggregate has one input only, so partition 6's chain fuses into it too.
    const tasks = Object.keys(optimized).filter((k) => !k.startsWith('from-sequence'));
    expect(tasks.length).toBe(6 + 3 + 1);
    const part0 = optimized[`${total.name}-part-0`] as [unknown, { keys: string[] }];
    expect(part0[1].keys.map((k) => k.replace(/-[0-9a-f]{16}/, ''))).toEqual(['map-0', 'filter-0', 'map-0', 'sum-part-0']);
    const lastAggregate = optimized[`${total.name}-agg0-2`] as [unknown, { keys: string[] }];
    expect(lastAggregate[1].keys.length).toBe(5);
  });

  it("fromSequence: exact npartitions, partitionSize, and Dask's default sizes", () => {
    expect(db.fromSequence(numbers, { npartitions: 3 }).npartitions).toBe(3);
    expect(db.fromSequence(numbers, { partitionSize: 30 }).npartitions).toBe(4);
    expect(db.fromSequence(numbers.slice(0, 50)).npartitions).toBe(50);
    expect(db.fromSequence(Array.from({ length: 10_000 }, (_, i) => i)).npartitions).toBe(1000);
    expect(db.fromSequence([1, 2], { npartitions: 5 }).npartitions).toBe(2);
  });

  it('bad arguments are Node-style errors where the graph is built', () => {
    expect(() => nums.map(Math.sqrt)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('native') }));
    expect(() => nums.map(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => nums.map((x: number, y: number) => x + y, wordBag)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('partitioned alike') }),
    );
    expect(() => nums.filter((x: number, y: number) => x > y, nums)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => db.fromSequence('abc' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => db.fromSequence(numbers, { npartitions: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => nums.sum({ splitEvery: 1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => nums.topk(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('a module function works as a user function (the primary way for real code)', async () => {
    const sqrt = db.moduleFunction('node:path', 'basename');
    await expect(db.fromSequence(['/a/b.txt', '/c/d.txt']).map(sqrt).compute({ scheduler: 'threads' })).resolves.toEqual(['b.txt', 'd.txt']);
  });
});
