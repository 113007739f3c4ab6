// node-ucx/collections/array: every operation's result equals the same computation done directly on
// one typed array (array-reference.ts), on 'sync' and 'threads'; graphs read only the blocks they
// need; keys are deterministic; bad input gives coded errors.
import { describe, it, expect, afterAll } from 'vitest';
import * as da from 'node-ucx/collections/array';
import type { DArray, LocalScheduler } from 'node-ucx/collections/array';
import * as R from './array-reference.js';

afterAll(async () => {
  await da.closeLocalPools();
});

const SCHEDULERS: LocalScheduler[] = ['sync', 'threads'];

// A 3-D array with repeated values (ties for argmax) and negatives, chunked unevenly on every axis.
const shape3 = [5, 6, 7];
const values3 = Float64Array.from({ length: R.sizeOf(shape3) }, (_, i) => ((i * 37) % 101) / 7 - 5);
const p3: R.Plain = { data: values3, shape: shape3 };
const x3 = da.fromArray(values3, { shape: shape3, chunks: [2, 4, 3] });

// 2-D float and int arrays of the same shape, chunked differently.
const values2 = Float64Array.from({ length: 6 * 8 }, (_, i) => Math.sin(i) * 10);
const ints2 = Int32Array.from({ length: 6 * 8 }, (_, i) => ((i * 7) % 13) - 6);
const p2: R.Plain = { data: values2, shape: [6, 8] };
const q2: R.Plain = { data: ints2, shape: [6, 8] };
const a2 = da.fromArray(values2, { shape: [6, 8], chunks: [4, 3] });
const b2 = da.fromArray(ints2, { shape: [6, 8], chunks: [[1, 5], [8]] });

interface Case {
  name: string;
  make: () => DArray;
  expected: () => R.Plain;
  dtype?: string;
  digits?: number;
}

const cases: Case[] = [
  { name: 'fromArray round trip', make: () => x3, expected: () => p3, dtype: 'float64' },
  { name: 'add a scalar', make: () => x3.add(2.5), expected: () => R.map(p3, (x) => x + 2.5), dtype: 'float64' },
  { name: 'sub, mul, div, pow chained', make: () => x3.sub(1).mul(3).div(2).pow(2), expected: () => R.map(p3, (x) => (((x - 1) * 3) / 2) ** 2), digits: 12 },
  {
    name: 'neg, abs, sqrt, exp, log',
    make: () => x3.neg().abs().sqrt().add(1).log().exp(),
    expected: () => R.map(p3, (x) => Math.exp(Math.log(Math.sqrt(Math.abs(-x)) + 1))),
    digits: 12,
  },
  {
    name: 'add of arrays chunked differently (rechunked to common blocks)',
    make: () => a2.add(b2),
    expected: () => R.zip(p2, q2, (x, y) => x + y),
    dtype: 'float64',
  },
  { name: 'mul of int32 arrays stays int32', make: () => b2.mul(b2.rechunk([3, 4])), expected: () => R.zip(q2, q2, (x, y) => x * y), dtype: 'int32' },
  { name: 'int32 divided is float64', make: () => b2.div(4), expected: () => R.map(q2, (x) => x / 4), dtype: 'float64' },
  { name: 'int32 plus a fraction is float64', make: () => b2.add(0.5), expected: () => R.map(q2, (x) => x + 0.5), dtype: 'float64' },
  { name: "mod has the divisor's sign", make: () => b2.mod(4), expected: () => R.map(q2, (x) => ((x % 4) + 4) % 4), dtype: 'int32' },
  { name: 'lt', make: () => a2.lt(b2), expected: () => R.zip(p2, q2, (x, y) => (x < y ? 1 : 0)), dtype: 'bool' },
  // bool + bool is bool in NumPy (a logical or), bool * bool a logical and.
  {
    name: 'le, gt, ge, eq, ne with scalars, combined as bools',
    make: () =>
      b2
        .le(0)
        .add(b2.gt(2))
        .mul(b2.ge(-5))
        .add(b2.eq(-6).mul(b2.ne(1))),
    expected: () => R.map(q2, (x) => +(((x <= 0 || x > 2) && x >= -5) || (x === -6 && x !== 1))),
    dtype: 'bool',
  },
  {
    name: 'bools in arithmetic with a number are int32',
    make: () => b2.gt(0).add(b2.gt(3)).mul(1).add(b2.gt(0)),
    expected: () => R.map(q2, (x) => +(x > 0 || x > 3) + +(x > 0)),
    dtype: 'int32',
  },
  { name: 'a 0-d array broadcast: x - mean', make: () => x3.sub(x3.mean()), expected: () => R.map(p3, (x) => x - R.mean(Array.from(values3))), digits: 12 },
  {
    name: 'broadcast: standardize columns, x - mean(axis 0, keepdims) / std(axis 0)',
    make: () => a2.sub(a2.mean({ axis: 0, keepdims: true })).div(a2.std({ axis: 0 })),
    expected: () => {
      const m = R.reduce(p2, [0], R.mean, true);
      const sd = R.reduce(p2, [0], (g) => Math.sqrt(R.variance(0)(g)));
      return R.broadcast(
        R.broadcast(p2, m, (x, y) => x - y),
        sd,
        (x, y) => x / y,
      );
    },
    digits: 10,
  },
  {
    name: 'broadcast: a column (6, 1) times a row (8,), chunked differently',
    make: () => a2.slice([null, [2, 3]]).mul(b2.slice([4])),
    expected: () => R.broadcast(R.select(p2, [R.sliceIndices(6, null, null, 1), [2]]), R.select(q2, [4]), (x, y) => x * y),
    digits: 12,
  },
  {
    name: 'broadcast in 3-d: (5, 6, 7) against (6, 1) (a missing leading axis) and (5, 1, 7)',
    make: () => x3.sub(x3.max({ axis: [0, 2], keepdims: true }).slice([0])).add(x3.min({ axis: 1, keepdims: true })),
    expected: () => {
      const mx = R.reduce(p3, [0, 2], (g) => Math.max(...g), true);
      const mn = R.reduce(p3, [1], (g) => Math.min(...g), true);
      return R.broadcast(
        R.broadcast(p3, mx, (x, y) => x - y),
        mn,
        (x, y) => x + y,
      );
    },
    digits: 12,
  },
  {
    name: 'concatenate along axis 1 (float64 and int32; rows cut to common blocks)',
    make: () => da.concatenate([a2, b2, a2.slice([null, [0, 3]])], { axis: 1 }),
    expected: () => R.concat([p2, q2, R.select(p2, [R.sliceIndices(6, null, null, 1), [0, 1, 2]])], 1),
    dtype: 'float64',
  },
  {
    name: 'concatenate along axis 0, then reduced',
    make: () => da.concatenate([x3, x3.slice([[1, 3]]).neg()]).sum({ axis: 2 }),
    expected: () => R.reduce(R.concat([p3, R.map(R.select(p3, [[1, 2]]), (v) => -v)], 0), [2], R.sum),
    digits: 12,
  },
  { name: 'reshape (5, 6, 7) to (30, 7): row blocks reused', make: () => x3.reshape([30, 7]), expected: () => ({ data: values3, shape: [30, 7] }) },
  {
    name: 'reshape to (-1, 14) and (6, 35), then reduced',
    make: () =>
      x3
        .reshape([-1, 14])
        .sum({ axis: 0 })
        .add(
          x3
            .reshape([6, 35])
            .max({ axis: 0 })
            .slice([[0, 14]]),
        ),
    expected: () =>
      R.zip(
        R.reduce({ data: values3, shape: [15, 14] }, [0], R.sum),
        R.select(
          R.reduce({ data: values3, shape: [6, 35] }, [0], (g) => Math.max(...g)),
          [Array.from({ length: 14 }, (_, i) => i)],
        ),
        (x, y) => x + y,
      ),
    digits: 12,
  },
  {
    name: 'ravel of a transposed array, and a one-element array to 0-d',
    make: () =>
      a2.T.ravel().add(
        a2
          .slice([
            [0, 1],
            [0, 1],
          ])
          .reshape([]),
      ),
    expected: () => R.map({ data: R.transpose(p2).data, shape: [48] }, (v) => v + values2[0]!),
    digits: 12,
  },
  {
    name: 'astype int8 (truncates, wraps)',
    make: () => a2.mul(20).astype('int8'),
    expected: () => R.map(p2, (x) => ((Math.trunc(x * 20) + 128) & 255) - 128),
    dtype: 'int8',
  },
  { name: 'sum of all', make: () => x3.sum(), expected: () => R.reduce(p3, undefined, R.sum), digits: 12 },
  { name: 'sum over axis 1', make: () => x3.sum({ axis: 1 }), expected: () => R.reduce(p3, [1], R.sum), digits: 12 },
  {
    name: 'sum over axes 0 and 2, keepdims, splitEvery 2',
    make: () => x3.sum({ axis: [0, -1], keepdims: true, splitEvery: 2 }),
    expected: () => R.reduce(p3, [0, 2], R.sum, true),
    digits: 12,
  },
  { name: 'sum of int32 is float64', make: () => b2.sum({ axis: 0 }), expected: () => R.reduce(q2, [0], R.sum), dtype: 'float64' },
  { name: 'mean over axis 2', make: () => x3.mean({ axis: 2 }), expected: () => R.reduce(p3, [2], R.mean), digits: 12 },
  { name: 'min of all', make: () => x3.min(), expected: () => R.reduce(p3, undefined, (g) => Math.min(...g)) },
  { name: 'max over axis 0', make: () => x3.max({ axis: 0 }), expected: () => R.reduce(p3, [0], (g) => Math.max(...g)) },
  { name: 'min of int32 over axis 1 stays int32', make: () => b2.min({ axis: 1 }), expected: () => R.reduce(q2, [1], (g) => Math.min(...g)), dtype: 'int32' },
  { name: 'std of all', make: () => x3.std(), expected: () => R.reduce(p3, undefined, (g) => Math.sqrt(R.variance(0)(g))), digits: 12 },
  {
    name: 'std over axis 1 with ddof 1, splitEvery 2',
    make: () => x3.std({ axis: 1, ddof: 1, splitEvery: 2 }),
    expected: () => R.reduce(p3, [1], (g) => Math.sqrt(R.variance(1)(g))),
    digits: 12,
  },
  { name: 'var over axes 0 and 1', make: () => x3.var({ axis: [0, 1] }), expected: () => R.reduce(p3, [0, 1], R.variance(0)), digits: 12 },
  { name: 'argmax of all (flat index, first of ties)', make: () => x3.argmax(), expected: () => R.reduce(p3, undefined, R.argmax), dtype: 'int32' },
  { name: 'argmax over axis 1', make: () => x3.argmax({ axis: 1 }), expected: () => R.reduce(p3, [1], R.argmax), dtype: 'int32' },
  { name: 'argmin over axis 0', make: () => x3.argmin({ axis: 0 }), expected: () => R.reduce(p3, [0], R.argmin), dtype: 'int32' },
  {
    name: 'matmul, blocked (3 contraction blocks, splitEvery 2)',
    make: () => a2.matmul(a2.T.rechunk([[3, 3, 2], 2]), { splitEvery: 2 }),
    expected: () => R.matmul(p2, R.transpose(p2)),
    digits: 10,
  },
  { name: 'dot of int32 matrices stays int32', make: () => b2.T.dot(b2), expected: () => R.matmul(R.transpose(q2), q2), dtype: 'int32' },
  { name: 'transpose (reversed)', make: () => x3.T, expected: () => R.transpose(p3) },
  { name: 'transpose with axes', make: () => x3.transpose([1, 0, 2]), expected: () => R.transpose(p3, [1, 0, 2]) },
  {
    name: 'slice with steps, negative step and an index',
    make: () => x3.slice([[1, null, 2], [null, null, -2], 3]),
    expected: () => R.select(p3, [R.sliceIndices(5, 1, null, 2), R.sliceIndices(6, null, null, -2), 3]),
  },
  {
    name: 'slice with negative bounds',
    make: () => x3.slice([[-4, -1], null, [5, 0, -3]]),
    expected: () => R.select(p3, [R.sliceIndices(5, -4, -1, 1), R.sliceIndices(6, 0, 6, 1), R.sliceIndices(7, 5, 0, -3)]),
  },
  { name: 'slice selecting nothing', make: () => x3.slice([[3, 3]]), expected: () => R.select(p3, [[]]) },
  { name: 'rechunk', make: () => x3.rechunk([5, [1, 1, 4], -1]), expected: () => p3 },
  {
    name: 'mapBlocks with an extra value and a block argument',
    make: () => a2.mapBlocks((blk, k: number, other: da.NDArray) => blk.data.map((v, i) => v * k + other.data[i]!), {}, 10, a2.add(1)),
    expected: () => R.map(p2, (x) => x * 10 + x + 1),
    digits: 12,
  },
  {
    name: 'mapBlocks changing dtype and chunks',
    make: () =>
      da.arange(10, { chunks: 4 }).mapBlocks((blk) => Float32Array.from(blk.data.subarray(0, 2), (v) => v / 2), { dtype: 'float32', chunks: [[2, 2, 2]] }),
    expected: () => ({ data: [0, 0.5, 2, 2.5, 4, 4.5], shape: [6] }),
    dtype: 'float32',
  },
  { name: 'arange', make: () => da.arange(3, 30, 4, { chunks: 2 }), expected: () => ({ data: [3, 7, 11, 15, 19, 23, 27], shape: [7] }), dtype: 'int32' },
  { name: 'arange of floats, descending', make: () => da.arange(1, -1, -0.5), expected: () => ({ data: [1, 0.5, 0, -0.5], shape: [4] }), dtype: 'float64' },
  {
    name: 'zeros, ones, full',
    make: () =>
      da
        .zeros([3, 4], { chunks: 2 })
        .add(da.ones([3, 4], { chunks: 3 }))
        .add(da.full([3, 4], 7, { chunks: [1, 4], dtype: 'int16' })),
    expected: () => ({ data: new Array(12).fill(8), shape: [3, 4] }),
    dtype: 'float64',
  },
];

describe.each(SCHEDULERS)("array on '%s'", (scheduler) => {
  for (const c of cases) {
    it(`${c.name} equals the direct computation`, async () => {
      R.expectArray(await c.make().compute({ scheduler }), c.expected(), c.dtype, c.digits);
    });
  }

  it('random: seeded, the same on every scheduler, uniform in [0, 1)', async () => {
    const r = da.random([200, 50], { seed: 7, chunks: [64, 20] });
    const got = await r.compute({ scheduler });
    const again = await da.random([200, 50], { seed: 7, chunks: [64, 20] }).compute({ scheduler: 'sync' });
    expect(Array.from(got.data)).toEqual(Array.from(again.data));
    const other = await da.random([200, 50], { seed: 8, chunks: [64, 20] }).compute({ scheduler });
    expect(Array.from(other.data)).not.toEqual(Array.from(got.data));
    expect(Math.min(...got.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...got.data)).toBeLessThan(1);
    const m = R.mean(Array.from(got.data));
    expect(Math.abs(m - 0.5)).toBeLessThan(0.02);
    // Blocks are different streams: no two blocks start alike.
    expect(new Set([got.get(0, 0), got.get(64, 0), got.get(0, 20), got.get(128, 40)]).size).toBe(4);
    // And a reduction of it equals the reduction of its elements.
    R.expectArray(await r.sum({ axis: 0 }).compute({ scheduler }), R.reduce({ data: got.data, shape: [200, 50] }, [0], R.sum), 'float64', 10);
  });

  it('compute() of several arrays in one graph; persist() keeps the keys, with literal blocks', async () => {
    const y = x3.mul(2);
    const [s, m] = await da.compute([y.sum(), y.max({ axis: 0 })], { scheduler });
    R.expectArray(
      s,
      R.reduce(
        R.map(p3, (x) => x * 2),
        undefined,
        R.sum,
      ),
      undefined,
      12,
    );
    R.expectArray(
      m,
      R.reduce(
        R.map(p3, (x) => x * 2),
        [0],
        (g) => Math.max(...g),
      ),
    );
    const held = await y.persist({ scheduler });
    expect(held.keys).toEqual(y.keys);
    for (const key of held.keys) expect(ArrayBuffer.isView(held.graph()[key])).toBe(true);
    R.expectArray(
      await held.sum().compute({ scheduler }),
      R.reduce(
        R.map(p3, (x) => x * 2),
        undefined,
        R.sum,
      ),
      undefined,
      12,
    );
  });

  it('a min of an empty array fails with ERR_UCX_ARRAY_EMPTY; its sum is 0 and its mean NaN', async () => {
    const empty = da.zeros([0, 3]);
    await expect(empty.min().compute({ scheduler })).rejects.toMatchObject({ code: 'ERR_UCX_ARRAY_EMPTY' });
    expect((await empty.sum().compute({ scheduler })).item()).toBe(0);
    expect((await empty.mean().compute({ scheduler })).item()).toBeNaN();
    R.expectArray(await empty.sum({ axis: 0 }).compute({ scheduler }), { data: [0, 0, 0], shape: [3] });
  });

  it('a mapBlocks function that gives the wrong size fails with ERR_UCX_ARRAY_CHUNKS naming the block', async () => {
    await expect(a2.mapBlocks((blk) => blk.data.subarray(1)).compute({ scheduler })).rejects.toMatchObject({
      code: 'ERR_UCX_ARRAY_CHUNKS',
      message: expect.stringMatching(/for block \d\.\d, whose chunk shape is \(\d, \d\)/),
    });
  });
});

describe('graphs', () => {
  it('keys are deterministic: the same operations on the same inputs give the same keys', () => {
    const a = da
      .fromArray(values2, { shape: [6, 8], chunks: [4, 3] })
      .add(1)
      .sum({ axis: 0 });
    const b = da
      .fromArray(values2, { shape: [6, 8], chunks: [4, 3] })
      .add(1)
      .sum({ axis: 0 });
    expect(a.keys).toEqual(b.keys);
    expect(a2.add(2).keys).not.toEqual(a2.add(1).keys);
    expect(a2.keys).toEqual(['0.0', '0.1', '0.2', '1.0', '1.1', '1.2'].map((i) => `${a2.name}-${i}`));
  });

  it('slicing reads only the blocks it needs: the culled graph has no other input block', () => {
    const sliced = x3.slice([[0, 2], [4, 6], 1]); // block (0, 1, 0) only
    const graph = sliced.optimize(sliced.graph(), sliced.keys);
    const inputs = x3.keys.filter((key) => Object.hasOwn(graph, key) || JSON.stringify(graph).includes(`"${key}"`));
    expect(inputs).toEqual([x3.blockKey([0, 1, 0])]);
  });

  it('linear chains fuse: an elementwise chain and its reduction are one task per block', () => {
    const total = x3.add(1).mul(2).sqrt().sum();
    const graph = total.optimize(total.graph(), total.keys);
    // 18 input blocks (literals) + 18 fused per-block tasks + 2 aggregates of 16 and 2 + the final one.
    expect(x3.keys).toHaveLength(18);
    expect(Object.keys(graph)).toHaveLength(18 * 2 + 2 + 1);
    const fused = Object.values(graph).filter((v) => Array.isArray(v) && (v[0] as { export?: string }).export === 'runFused');
    expect(fused).toHaveLength(18);
    expect((fused[0] as [unknown, { keys: string[] }])[1].keys).toHaveLength(4); // add, mul, sqrt, the block's partial sum
  });

  it('misaligned chunks are cut at both boundaries', () => {
    const sum = a2.add(b2);
    expect(sum.chunks).toEqual([
      [1, 3, 2],
      [3, 3, 2],
    ]);
  });
});

describe('bad input', () => {
  it('throws coded errors where the graph is built', () => {
    const code = (f: () => unknown, c: string, text?: string): void => {
      expect(f).toThrow(expect.objectContaining({ code: c, ...(text ? { message: expect.stringContaining(text) } : {}) }));
    };
    code(() => da.fromArray('abc' as never), 'ERR_INVALID_ARG_TYPE');
    code(() => da.fromArray(new Float64Array(10), { shape: [3, 4] }), 'ERR_UCX_ARRAY_SHAPE', '(3, 4)');
    code(() => da.zeros([3, -1]), 'ERR_OUT_OF_RANGE');
    code(() => da.zeros([3, 4], { chunks: [[1, 1], 2] }), 'ERR_UCX_ARRAY_CHUNKS', 'adds up to 2');
    code(() => da.zeros([3, 4], { chunks: [2] }), 'ERR_UCX_ARRAY_CHUNKS');
    code(() => da.zeros([3, 4], { chunks: 0 }), 'ERR_OUT_OF_RANGE');
    code(() => da.zeros([3], { dtype: 'int64' as never }), 'ERR_INVALID_ARG_VALUE');
    code(() => a2.add(x3), 'ERR_UCX_ARRAY_SHAPE', '(6, 8) and (5, 6, 7) do not broadcast');
    code(() => a2.add(da.zeros([6])), 'ERR_UCX_ARRAY_SHAPE', 'axis 1: 8 and 6');
    code(() => a2.add('1' as never), 'ERR_INVALID_ARG_TYPE');
    code(() => a2.matmul(a2), 'ERR_UCX_ARRAY_SHAPE', 'do not align');
    code(() => a2.matmul(b2.T), 'ERR_UCX_ARRAY_CHUNKS', '(chunks ((4, 2), (3, 3, 2))) and (8) on the right (chunks ((8,), (1, 5)))');
    code(() => x3.matmul(x3), 'ERR_UCX_ARRAY_SHAPE', '2-D');
    code(() => x3.sum({ axis: 3 }), 'ERR_OUT_OF_RANGE');
    code(() => x3.sum({ axis: [0, 0] }), 'ERR_INVALID_ARG_VALUE');
    code(() => x3.sum({ splitEvery: 1 }), 'ERR_OUT_OF_RANGE');
    code(() => x3.argmax({ axis: [0, 1] as never }), 'ERR_INVALID_ARG_TYPE');
    code(() => x3.slice([[0, 5, 0]]), 'ERR_OUT_OF_RANGE');
    code(() => x3.slice([9]), 'ERR_OUT_OF_RANGE');
    code(() => x3.slice([null, null, null, null]), 'ERR_OUT_OF_RANGE');
    code(() => x3.slice([['a' as never]]), 'ERR_INVALID_ARG_TYPE');
    code(() => x3.transpose([0, 0, 1]), 'ERR_INVALID_ARG_VALUE');
    code(() => x3.rechunk([[1, 1], -1, -1]), 'ERR_UCX_ARRAY_CHUNKS');
    code(() => x3.mapBlocks(Math.sqrt as never), 'ERR_INVALID_ARG_VALUE');
    code(() => x3.mapBlocks((b) => b, {}, a2), 'ERR_UCX_ARRAY_CHUNKS');
    code(() => da.random([3], { seed: -1 }), 'ERR_OUT_OF_RANGE');
    code(() => da.arange(0, 5, 0), 'ERR_INVALID_ARG_VALUE');
    code(() => da.concatenate([a2, x3]), 'ERR_UCX_ARRAY_SHAPE');
    code(() => da.concatenate([a2, a2.T], { axis: 1 }), 'ERR_UCX_ARRAY_SHAPE', 'differ off axis 1');
    code(() => da.concatenate([]), 'ERR_INVALID_ARG_TYPE');
    code(() => x3.reshape([7, 31]), 'ERR_UCX_ARRAY_SHAPE', '210 elements');
    code(() => x3.reshape([-1, 11]), 'ERR_UCX_ARRAY_SHAPE');
    code(() => x3.reshape([-1, -1]), 'ERR_INVALID_ARG_VALUE');
  });
});
