// node-ucx/collections/dataframe: every operation's result equals the same computation done in one
// process over the whole table (a plain-JS reference over its rows), on the local schedulers;
// expressions add no task; bad input gives coded errors.
import { describe, it, expect, afterAll } from 'vitest';
import * as dd from 'node-ucx/collections/dataframe';
import type { DataFrame, LocalScheduler } from 'node-ucx/collections/dataframe';

const { arrow } = dd;

afterAll(async () => {
  await dd.closeLocalPools();
});

// ---- the data: 2000 rows, every column type, missing values, in 5 uneven partitions ----
const N = 2000;
interface Row {
  id: number;
  k: string;
  g: number;
  x: number;
  y: number;
  b: boolean;
  ts: number;
}
let seed = 12345;
const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const KEYS = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape'];
const T0 = Date.UTC(2015, 0, 1);
const rows: Row[] = Array.from({ length: N }, (_, i) => ({
  id: i,
  k: KEYS[Math.floor(rand() * KEYS.length)]!,
  g: Math.floor(rand() * 40) - 5,
  x: i % 37 === 0 ? NaN : Math.round(rand() * 1000) / 10,
  y: rand() * 10 - 5,
  b: rand() < 0.3,
  ts: T0 + Math.floor(rand() * 3 * 86_400_000),
}));
const table = new arrow.Table({
  id: arrow.makeVector(Int32Array.from(rows, (r) => r.id)),
  k: arrow.vectorFromArray(
    rows.map((r) => r.k),
    new arrow.Utf8(),
  ),
  g: arrow.makeVector(Int32Array.from(rows, (r) => r.g)),
  x: arrow.makeVector(Float64Array.from(rows, (r) => r.x)),
  y: arrow.makeVector(Float64Array.from(rows, (r) => r.y)),
  b: arrow.vectorFromArray(
    rows.map((r) => r.b),
    new arrow.Bool(),
  ),
  ts: arrow.vectorFromArray(
    rows.map((r) => r.ts),
    new arrow.TimestampMillisecond(),
  ),
});
const df = dd.fromArrow(table, { npartitions: 5 });

/** A computed table as plain rows (timestamps as milliseconds, bigints as numbers). */
function rowsOf(t: InstanceType<typeof arrow.Table>): Record<string, unknown>[] {
  const names = t.schema.fields.map((f) => f.name);
  const cols = names.map((n) => t.getChild(n)!);
  return Array.from({ length: t.numRows }, (_, i) =>
    Object.fromEntries(
      names.map((n, c) => {
        const v = cols[c]!.get(i);
        return [n, typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.getTime() : v];
      }),
    ),
  );
}

/** Numbers rounded to 9 significant digits (sums in another order differ in the last bits); NaN as null. */
function approx(value: unknown): unknown {
  if (typeof value === 'number') return Number.isNaN(value) ? null : Number(value.toPrecision(9));
  if (Array.isArray(value)) return value.map(approx);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, approx(v)]));
  return value;
}

const sortRows = (list: Record<string, unknown>[]): Record<string, unknown>[] => [...list].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
const by =
  <T>(f: (r: T) => number | string) =>
  (a: T, b: T): number => {
    const x = f(a);
    const y = f(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };

function groupRows<T>(list: T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of list) {
    const k = key(r);
    const g = m.get(k);
    if (g) g.push(r);
    else m.set(k, [r]);
  }
  return m;
}
const present = (xs: number[]): number[] => xs.filter((x) => !Number.isNaN(x));
const sum = (xs: number[]): number => present(xs).reduce((a, b) => a + b, 0);
const mean = (xs: number[]): number => sum(xs) / present(xs).length;

interface Case {
  name: string;
  make: () => DataFrame;
  expected: () => Record<string, unknown>[];
  ordered?: boolean;
}

const cases: Case[] = [
  {
    name: 'select',
    make: () => df.select(['y', 'k']),
    expected: () => rows.map((r) => ({ y: r.y, k: r.k })),
    ordered: true,
  },
  {
    name: 'filter and arithmetic (assign)',
    make: () => {
      const f = df.filter(df.col('x').gt(50).and(df.col('k').ne('fig')));
      return f.assign({ z: f.col('x').mul(2).add(f.col('y')).sub(1), w: f.col('g').mod(7), big: f.col('y').abs().ge(2) }).select(['id', 'z', 'w', 'big']);
    },
    expected: () =>
      rows.filter((r) => r.x > 50 && r.k !== 'fig').map((r) => ({ id: r.id, z: r.x * 2 + r.y - 1, w: ((r.g % 7) + 7) % 7, big: Math.abs(r.y) >= 2 })),
    ordered: true,
  },
  {
    name: "Series of the frame a filter was made from line up with it (Dask's df[df.x > 50].assign(z=df.x * 2))",
    make: () => {
      const big = df.filter(df.col('x').gt(50));
      return big.assign({ z: df.col('x').mul(2), d: big.col('y').add(df.col('g')) }).select(['id', 'z', 'd']);
    },
    expected: () => rows.filter((r) => r.x > 50).map((r) => ({ id: r.id, z: r.x * 2, d: r.y + r.g })),
    ordered: true,
  },
  {
    name: 'concat (partitions reused)',
    make: () => dd.concat([df.filter(df.col('g').lt(0)).select(['id']), df.filter(df.col('g').gt(30)).select(['id'])]),
    expected: () => [...rows.filter((r) => r.g < 0), ...rows.filter((r) => r.g > 30)].map((r) => ({ id: r.id })),
    ordered: true,
  },
  {
    name: 'isin and loc',
    make: () =>
      df.loc(
        df
          .col('k')
          .isin(['apple', 'fig'])
          .or(df.col('g').isin([3, 4])),
        ['id', 'k'],
      ),
    expected: () => rows.filter((r) => ['apple', 'fig'].includes(r.k) || [3, 4].includes(r.g)).map((r) => ({ id: r.id, k: r.k })),
    ordered: true,
  },
  {
    name: 'isna / notna',
    make: () => df.filter(df.col('x').isna()).select(['id']),
    expected: () => rows.filter((r) => Number.isNaN(r.x)).map((r) => ({ id: r.id })),
    ordered: true,
  },
  {
    name: 'groupby(k).col(x).mean()',
    make: () => df.groupby('k').col('x').mean(),
    expected: () => [...groupRows(rows, (r) => r.k)].sort(by(([k]) => k)).map(([k, g]) => ({ k, x: mean(g.map((r) => r.x)) })),
    ordered: true,
  },
  {
    name: 'groupby(g, b).agg(sum, count, min, max, mean)',
    make: () => df.groupby(['g', 'b']).agg({ x: ['sum', 'count'], y: ['min', 'max', 'mean'], id: 'max' }, { splitEvery: 2 }),
    expected: () =>
      [...groupRows(rows, (r) => `${r.g}|${r.b}`)]
        .map(([, g]) => ({
          g: g[0]!.g,
          b: g[0]!.b,
          x_sum: sum(g.map((r) => r.x)),
          x_count: present(g.map((r) => r.x)).length,
          y_min: Math.min(...g.map((r) => r.y)),
          y_max: Math.max(...g.map((r) => r.y)),
          y_mean: mean(g.map((r) => r.y)),
          id: Math.max(...g.map((r) => r.id)),
        }))
        .sort((a, c) => a.g - c.g || Number(a.b) - Number(c.b)),
    ordered: true,
  },
  {
    name: 'groupby var/std (ddof 1) and size',
    make: () => df.groupby('k').agg({ y: ['var', 'std', 'size'] }),
    expected: () =>
      [...groupRows(rows, (r) => r.k)].sort(by(([k]) => k)).map(([k, g]) => {
        const ys = g.map((r) => r.y);
        const m = mean(ys);
        const v = ys.reduce((s, y) => s + (y - m) ** 2, 0) / (ys.length - 1);
        return { k, y_var: v, y_std: Math.sqrt(v), y_size: ys.length };
      }),
    ordered: true,
  },
  {
    name: 'valueCounts',
    make: () => df.valueCounts('k'),
    expected: () => [...groupRows(rows, (r) => r.k)].map(([k, g]) => ({ k, count: g.length })).sort((a, c) => c.count - a.count || (a.k < c.k ? -1 : 1)),
    ordered: true,
  },
  {
    name: 'Series.valueCounts',
    make: () => df.col('g').valueCounts(),
    expected: () => [...groupRows(rows, (r) => String(r.g))].map(([, g]) => ({ g: g[0]!.g, count: g.length })).sort((a, c) => c.count - a.count || a.g - c.g),
    ordered: true,
  },
  {
    name: 'dropDuplicates(subset)',
    make: () => df.dropDuplicates(['k', 'b']).select(['id', 'k', 'b']),
    expected: () => {
      const seen = new Set<string>();
      return rows
        .filter((r) => {
          const key = `${r.k}|${r.b}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        })
        .map((r) => ({ id: r.id, k: r.k, b: r.b }));
    },
    ordered: true,
  },
  {
    name: 'sortValues (two keys, descending first)',
    make: () => df.sortValues(['g', 'id'], { ascending: [false, true] }).select(['g', 'id']),
    expected: () => [...rows].sort((a, c) => c.g - a.g || a.id - c.id).map((r) => ({ g: r.g, id: r.id })),
    ordered: true,
  },
  {
    name: 'sortValues (strings, 3 output partitions)',
    make: () => df.sortValues(['k', 'id'], { npartitions: 3 }).select(['k', 'id']),
    expected: () => [...rows].sort((a, c) => (a.k < c.k ? -1 : a.k > c.k ? 1 : a.id - c.id)).map((r) => ({ k: r.k, id: r.id })),
    ordered: true,
  },
  {
    name: 'merge (inner, hash shuffle)',
    make: () =>
      df.select(['id', 'k', 'g']).merge(
        dd.fromArrow(
          new arrow.Table({
            k: arrow.vectorFromArray(['apple', 'banana', 'fig', 'kiwi', 'apple'], new arrow.Utf8()),
            price: arrow.makeVector(Float64Array.from([1, 2, 3, 4, 5])),
          }),
          { npartitions: 2 },
        ),
        { on: 'k' },
      ),
    expected: () =>
      rows.flatMap((r) =>
        [
          ['apple', 1],
          ['banana', 2],
          ['fig', 3],
          ['kiwi', 4],
          ['apple', 5],
        ]
          .filter(([k]) => k === r.k)
          .map(([, price]) => ({ id: r.id, k: r.k, g: r.g, price })),
      ),
  },
  {
    name: 'merge (left, int key against a float key, suffixes)',
    make: () => df.select(['id', 'g', 'y']).merge(dd.fromColumns({ g: [0, 1, 2, 30], y: [10, 11, 12, 13] }, { npartitions: 3 }), { on: 'g', how: 'left' }),
    expected: () => rows.map((r) => ({ id: r.id, g: r.g, y_x: r.y, y_y: ({ 0: 10, 1: 11, 2: 12, 30: 13 } as Record<number, number>)[r.g] ?? NaN })),
  },
  {
    name: 'merge (outer, leftOn/rightOn)',
    make: () =>
      df
        .filter(df.col('id').lt(50))
        .select(['id', 'k'])
        .merge(dd.fromColumns({ key: [0, 10, 20, 3000], v: [1, 2, 3, 4] }), { leftOn: 'id', rightOn: 'key', how: 'outer' }),
    expected: () => [
      ...rows
        .filter((r) => r.id < 50)
        .map((r) => ({ id: r.id, k: r.k, key: [0, 10, 20].includes(r.id) ? r.id : NaN, v: ({ 0: 1, 10: 2, 20: 3 } as Record<number, number>)[r.id] ?? NaN })),
      { id: NaN, k: '', key: 3000, v: 4 },
    ],
  },
  {
    name: 'merge (broadcast)',
    make: () => df.select(['id', 'k']).merge(dd.fromColumns({ k: ['date', 'grape'], n: [1, 2] }), { on: 'k', shuffle: 'broadcast' }),
    expected: () => rows.filter((r) => r.k === 'date' || r.k === 'grape').map((r) => ({ id: r.id, k: r.k, n: r.k === 'date' ? 1 : 2 })),
  },
  {
    name: 'resample(ts, 6h).agg',
    make: () => df.resample('ts', '6h').agg({ y: 'sum', id: 'count' }),
    expected: () =>
      [...groupRows(rows, (r) => String(Math.floor(r.ts / 21_600_000) * 21_600_000))]
        .map(([t, g]) => ({ ts: Number(t), y: sum(g.map((r) => r.y)), id: g.length }))
        .sort((a, c) => a.ts - c.ts),
    ordered: true,
  },
  {
    name: 'rolling(4).mean (windows across partitions)',
    make: () => df.select(['id', 'y']).rolling(4).mean(),
    expected: () => rows.map((r, i) => ({ id: i < 3 ? NaN : i - 1.5, y: i < 3 ? NaN : (rows[i - 3]!.y + rows[i - 2]!.y + rows[i - 1]!.y + r.y) / 4 })),
    ordered: true,
  },
  {
    name: 'mapPartitions',
    make: () => df.mapPartitions((t: InstanceType<typeof arrow.Table>) => t.select(['id', 'k']).slice(0, 2)),
    expected: () => [0, 400, 800, 1200, 1600].flatMap((s) => [rows[s]!, rows[s + 1]!]).map((r) => ({ id: r.id, k: r.k })),
    ordered: true,
  },
];

describe.each(['sync', 'threads'] as LocalScheduler[])('on %s', (scheduler) => {
  for (const c of cases) {
    it(c.name, async () => {
      const got = rowsOf(await c.make().compute({ scheduler }));
      const want = c.expected().map((r) => Object.fromEntries(Object.entries(r)));
      if (c.ordered === true) expect(approx(got)).toEqual(approx(want));
      else expect(approx(sortRows(got))).toEqual(approx(sortRows(want)));
    });
  }

  it('scalar reductions', async () => {
    const xs = rows.map((r) => r.x);
    const [s, m, n, lo, hi, sd, len] = await dd.compute(
      [df.col('x').sum(), df.col('x').mean(), df.col('x').count(), df.col('y').min(), df.col('y').max(), df.col('y').std({ ddof: 0 }), df.len()],
      { scheduler },
    );
    const ys = rows.map((r) => r.y);
    const my = mean(ys);
    expect(approx([s, m, n, lo, hi, sd, len])).toEqual(
      approx([sum(xs), mean(xs), present(xs).length, Math.min(...ys), Math.max(...ys), Math.sqrt(ys.reduce((a, y) => a + (y - my) ** 2, 0) / ys.length), N]),
    );
  });

  it('corr (pairwise complete)', async () => {
    const got = rowsOf(await df.corr(['x', 'y']).compute({ scheduler }));
    const pairs = rows.filter((r) => !Number.isNaN(r.x));
    const mx = mean(pairs.map((r) => r.x));
    const my = mean(pairs.map((r) => r.y));
    let sxy = 0,
      sxx = 0,
      syy = 0;
    for (const r of pairs) {
      sxy += (r.x - mx) * (r.y - my);
      sxx += (r.x - mx) ** 2;
      syy += (r.y - my) ** 2;
    }
    const rxy = sxy / Math.sqrt(sxx * syy);
    expect(approx(got)).toEqual(
      approx([
        { column: 'x', x: 1, y: rxy },
        { column: 'y', x: rxy, y: 1 },
      ]),
    );
  });

  it('empty partitions and empty frames: groupby, sort, merge, head, reductions', async () => {
    const none = df.filter(df.col('id').lt(0));
    const some = df.filter(df.col('id').lt(3)); // rows in the first partition only
    expect((await none.groupby('k').col('x').mean().compute({ scheduler })).numRows).toBe(0);
    expect((await none.sortValues('x').compute({ scheduler })).numRows).toBe(0);
    expect(rowsOf(await some.sortValues('id', { ascending: false }).select(['id']).compute({ scheduler }))).toEqual([{ id: 2 }, { id: 1 }, { id: 0 }]);
    expect((await none.merge(df.select(['k', 'y']), { on: 'k' }).compute({ scheduler })).numRows).toBe(0);
    expect(rowsOf(await some.groupby('k').size().compute({ scheduler })).reduce((n, r) => n + (r.size as number), 0)).toBe(3);
    expect((await none.head(5, { scheduler })).numRows).toBe(0);
    expect(await none.col('x').sum().compute({ scheduler })).toBe(0);
    expect(await none.col('x').mean().compute({ scheduler })).toBeNaN();
  });

  it('persist: the same frame over its computed partitions', async () => {
    const f = df.filter(df.col('g').lt(3));
    const held = await f.persist({ scheduler });
    expect(held.keys).toEqual(f.keys);
    expect(rowsOf(await held.select(['id']).compute({ scheduler })).map((r) => r.id)).toEqual(rows.filter((r) => r.g < 3).map((r) => r.id));
  });

  it('Series: filter, unique, toFrame', async () => {
    const s = df.col('g').filter(df.col('k').eq('fig'));
    expect(rowsOf(await s.compute({ scheduler })).map((r) => r.g)).toEqual(rows.filter((r) => r.k === 'fig').map((r) => r.g));
    const u = rowsOf(await df.col('k').unique().compute({ scheduler })).map((r) => r.k);
    expect(u).toEqual([...new Set(rows.map((r) => r.k))]);
    expect(await df.col('x').mul(2).rename('x2').toFrame().col('x2').max().compute({ scheduler })).toBe(2 * Math.max(...present(rows.map((r) => r.x))));
  });

  it('head: the first rows, from as many partitions as asked', async () => {
    expect(rowsOf(await df.select(['id']).head(3, { scheduler }))).toEqual([{ id: 0 }, { id: 1 }, { id: 2 }]);
    const far = await df.filter(df.col('id').ge(350)).select(['id']).head(100, { scheduler, npartitions: 2 });
    expect(rowsOf(far).map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => 350 + i));
  });
});

describe('writers', () => {
  it('toCsv and toParquet: a file per partition, read back equal', async () => {
    const { default: fs } = await import('node:fs');
    const { default: os } = await import('node:os');
    const { default: path } = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-write-'));
    try {
      const csv = await df.toCsv(path.join(dir, 'csv', 'part-*.csv'), { scheduler: 'threads' });
      expect(csv).toEqual([0, 1, 2, 3, 4].map((i) => path.join(dir, 'csv', `part-${i}.csv`)));
      const back = dd.readCsv(path.join(dir, 'csv', 'part-*.csv'), { parseDates: ['ts'] });
      expect(back.dtypes).toEqual(df.dtypes);
      expect(approx(rowsOf(await back.compute({ scheduler: 'sync' })))).toEqual(approx(rowsOf(table)));
      const pq = await df.toParquet(path.join(dir, 'pq'), { scheduler: 'threads' });
      expect(pq).toHaveLength(5);
      const fromPq = dd.readParquet(path.join(dir, 'pq', '*.parquet'));
      expect(approx(rowsOf(await fromPq.compute({ scheduler: 'sync' })))).toEqual(approx(rowsOf(table)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the graph', () => {
  it('column arithmetic adds no task; select, filter and assign fuse into one task per partition', () => {
    const f = df.filter(df.col('x').gt(1));
    const out = f.assign({ z: f.col('x').mul(2).add(f.col('y')).div(3) }).select(['z']);
    const graph = out.optimize(out.graph(), out.keys);
    // The 5 partitions held in the graph, and one task per partition under the last key.
    expect(Object.keys(graph).sort()).toEqual([...df.keys, ...out.keys].sort());
  });

  it('keys are deterministic: the same operations give the same names', () => {
    expect(df.groupby('k').col('x').mean().name).toBe(df.groupby('k').col('x').mean().name);
    expect(df.groupby('k').col('x').mean().name).not.toBe(df.groupby('k').col('y').mean().name);
  });

  it('the results are Arrow tables with the columns typed as the frame says', async () => {
    const t = await df.groupby('k').agg({ g: 'min', x: 'count', b: 'first' }).compute({ scheduler: 'sync' });
    expect(t).toBeInstanceOf(arrow.Table);
    expect(t.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(['k:Utf8', 'g:Int32', 'x:Int32', 'b:Bool']);
  });
});

describe('bad input', () => {
  it('an unknown column: ERR_UCX_DATAFRAME_COLUMN, naming it and the columns there are', () => {
    expect(() => df.col('nope')).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN', message: expect.stringMatching(/'nope'.*id, k, g/) }));
    expect(() => df.groupby('nope')).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN' }));
    expect(() => df.groupby('k').agg({ nope: 'sum' })).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN' }));
    expect(() => df.select(['id']).merge(df.select(['k']))).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN' }));
    expect(() => df.sortValues('nope')).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN' }));
  });

  it('aggregating a key names its column <key>_<how>; two outputs of one name are refused', async () => {
    const t = await df.groupby('g').col('g').count().compute({ scheduler: 'sync' });
    expect(t.schema.fields.map((f) => f.name)).toEqual(['g', 'g_count']);
    expect(() => df.groupby('k').agg({ x: ['sum'], x_sum: 'sum' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('types that do not fit: ERR_UCX_DATAFRAME_TYPE', () => {
    expect(() => dd.concat([df.select(['id']), df.select(['x'])])).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_TYPE' }));
    expect(() => df.col('k').add(1)).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_TYPE' }));
    expect(() => df.filter(df.col('x'))).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_TYPE' }));
    expect(() => df.groupby('g').agg({ k: 'mean' })).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_TYPE' }));
    expect(() => df.col('k').sum()).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_TYPE' }));
  });

  it('Series that do not line up (no index): ERR_UCX_DATAFRAME_ALIGN', () => {
    const f = df.filter(df.col('x').gt(1));
    // Rows the frame does not have: a Series of a filtered frame on the whole one, or of a sorted one.
    expect(() => df.assign({ z: f.col('x') })).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_ALIGN' }));
    expect(() => df.sortValues('y').assign({ z: df.col('x') })).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_ALIGN' }));
    expect(() => df.col('x').add(df.sortValues('y').col('x'))).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_ALIGN' }));
    // A column replaced since: the Series' values are not the frame's.
    expect(() => df.assign({ x: 0 }).assign({ w: df.col('x') })).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_ALIGN' }));
    // assign, select and filter keep the rest lined up.
    expect(() =>
      df
        .assign({ z: 1 })
        .select(['x', 'y', 'z'])
        .filter(df.col('y').gt(0))
        .assign({ w: df.col('x') }),
    ).not.toThrow();
  });

  it('a mapPartitions function that gives no table fails the task, naming the partition', async () => {
    const bad = df.mapPartitions((t: InstanceType<typeof arrow.Table>) => (t.numRows === 0 ? t : null) as unknown as InstanceType<typeof arrow.Table>);
    await expect(bad.compute({ scheduler: 'threads' })).rejects.toMatchObject({
      code: 'ERR_UCX_DATAFRAME_TYPE',
      message: expect.stringMatching(/partition \d of from-arrow/),
    });
  });
});
