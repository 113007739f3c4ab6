// node-ucx/collections/dataframe on a real LocalCluster (worker processes over UCX): Dask's first
// example as written on generated CSV files, the CSV and Parquet readers (whole files and blocks),
// hash-shuffle joins and sorts between workers, and bad input (missing files, malformed rows,
// unknown columns) failing with codes that name the partition and the file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { LocalCluster, Client } from 'node-ucx/scheduler';
import * as dd from 'node-ucx/collections/dataframe';

const { arrow } = dd;

let dir: string;
let cwd: string;
let cluster: LocalCluster;
let client: Client;

interface Row {
  user_id: number;
  value: number;
  name: string;
  when: string;
}
const rows: Row[] = [];
const DAYS = ['2015-01-01', '2015-01-02', '2015-01-03', '2015-02-01'];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-cluster-'));
  cwd = process.cwd();
  let seed = 7;
  const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const day of DAYS) {
    const lines = ['user_id,value,name,when'];
    for (let i = 0; i < 3000; i++) {
      const r: Row = {
        user_id: Math.floor(rand() * 100),
        value: Math.round(rand() * 1e4) / 100,
        name: ['ann', 'bob', 'cy, jr', 'dee "d"'][Math.floor(rand() * 4)]!,
        when: `${day} ${String(Math.floor(rand() * 24)).padStart(2, '0')}:00:00`,
      };
      rows.push(r);
      const quoted = /[,"]/.test(r.name) ? `"${r.name.replace(/"/g, '""')}"` : r.name;
      lines.push(`${r.user_id},${r.value},${quoted},${r.when}`);
    }
    fs.writeFileSync(path.join(dir, `${day}.csv`), `${lines.join('\n')}\n`);
  }
  cluster = new LocalCluster({ workers: 2, protocol: 'ucx' });
  await cluster.ready;
  client = new Client(cluster);
  await client.ready;
});

afterAll(async () => {
  process.chdir(cwd);
  await client?.close();
  await cluster?.close();
  await dd.closeLocalPools();
  fs.rmSync(dir, { recursive: true, force: true });
});

function meansByUser(list: Row[]): Map<number, number> {
  const acc = new Map<number, [number, number]>();
  for (const r of list) {
    const a = acc.get(r.user_id) ?? [0, 0];
    a[0] += r.value;
    a[1]++;
    acc.set(r.user_id, a);
  }
  return new Map([...acc].sort((a, b) => a[0] - b[0]).map(([k, [s, n]]) => [k, s / n]));
}

const close = (m: Map<number, number>): [number, number][] => [...m].map(([k, v]) => [k, Number(v.toPrecision(10))]);
const pairs = (t: InstanceType<typeof arrow.Table>, a: string, b: string): [number, number][] => {
  const x = t.getChild(a)!.toArray();
  const y = t.getChild(b)!.toArray();
  return Array.from(x, (k, i) => [Number(k), Number(Number(y[i]).toPrecision(10))]);
};

describe('on a LocalCluster', () => {
  it("Dask's first example, as written: readCsv('2015-*-*.csv'), groupby mean, compute() on the default Client", async () => {
    process.chdir(dir);
    const df = dd.readCsv('2015-*-*.csv');
    const result = await df.groupby('user_id').col('value').mean().compute();
    process.chdir(cwd);
    expect(result).toBeInstanceOf(arrow.Table);
    expect(df.npartitions).toBe(4); // one partition per file
    const expected = meansByUser(rows);
    expect(pairs(result, 'user_id', 'value')).toEqual(close(expected));
    expect(df.dtypes).toEqual({ user_id: 'int32', value: 'float64', name: 'utf8', when: 'utf8' });
  });

  it('the same frame computed again later (its inputs forgotten in between) gives the same result', async () => {
    const df = dd.readCsv(path.join(dir, '*.csv'));
    const means = df.groupby('user_id').col('value').mean();
    const first = await means.compute();
    await client.schedulerInfo(); // a round trip: the first computation's keys are released by now
    await new Promise((r) => setTimeout(r, 50));
    const second = await means.compute();
    expect(pairs(second, 'user_id', 'value')).toEqual(pairs(first, 'user_id', 'value'));
  });

  it('persist: the partitions stay on the workers and later computations start from them', async () => {
    const df = await dd.readCsv(path.join(dir, '*.csv')).persist();
    expect(df.layers.size).toBe(1); // the read tasks are gone: Futures stand in the graph
    const means = await df.groupby('user_id').col('value').mean().compute();
    expect(pairs(means, 'user_id', 'value')).toEqual(close(meansByUser(rows)));
    expect(await df.len().compute()).toBe(rows.length);
  });

  it('blocksize splits give the same rows, quoted fields and parseDates included', async () => {
    const df = dd.readCsv(path.join(dir, '*.csv'), { blocksize: 20_000, parseDates: ['when'] });
    expect(df.npartitions).toBeGreaterThan(8);
    const t = await df.compute({ scheduler: client });
    expect(t.numRows).toBe(rows.length);
    expect(t.getChild('name')!.toArray().slice(0, 50)).toEqual(rows.slice(0, 50).map((r) => r.name));
    const when = t.getChild('when')!;
    expect(Number(when.get(7))).toBe(Date.parse(`${rows[7]!.when.replace(' ', 'T')}Z`));
    const sums = await df.groupby('name').agg({ value: 'sum' }).compute();
    const want = new Map<string, number>();
    for (const r of rows) want.set(r.name, (want.get(r.name) ?? 0) + r.value);
    expect(pairs(sums, 'name', 'value').length).toBe(4);
    const got = Object.fromEntries(Array.from(sums.getChild('name')!.toArray(), (k, i) => [k, Number(Number(sums.getChild('value')!.get(i)).toFixed(6))]));
    expect(got).toEqual(Object.fromEntries([...want].map(([k, v]) => [k, Number(v.toFixed(6))])));
  });

  it('merge by hash shuffle between workers equals a one-process join', async () => {
    const df = dd.readCsv(path.join(dir, '*.csv'));
    const users = dd.fromColumns(
      { user_id: Float64Array.from({ length: 60 }, (_, i) => i * 2), score: Float64Array.from({ length: 60 }, (_, i) => i) },
      { npartitions: 3 },
    );
    const joined = df.merge(users, { on: 'user_id', npartitions: 4 });
    const t = await joined.compute();
    const want = rows.filter((r) => r.user_id % 2 === 0 && r.user_id < 120);
    expect(t.numRows).toBe(want.length);
    const s = t.getChild('score')!.toArray() as Float64Array;
    const u = t.getChild('user_id')!.toArray() as Int32Array;
    for (let i = 0; i < t.numRows; i++) expect(s[i]).toBe(u[i]! / 2);
    expect(s.reduce((a, b) => a + b, 0)).toBe(want.reduce((a, r) => a + r.user_id / 2, 0));
    // The shuffle's pieces were picked out where they were cut: one getItem task per (input, output) pair.
    const keys = Object.keys(joined.graph()).filter((k) => k.includes('-pick-'));
    expect(keys).toHaveLength(4 * 4 + 3 * 4);
  });

  it('sortValues, valueCounts and dropDuplicates between workers', async () => {
    const df = dd.readCsv(path.join(dir, '*.csv'));
    const sorted = await df.sortValues('value', { ascending: false }).select(['value']).compute();
    expect(Array.from(sorted.getChild('value')!.toArray() as Float64Array)).toEqual(rows.map((r) => r.value).sort((a, b) => b - a));
    const counts = await df.valueCounts('name').compute();
    const want = new Map<string, number>();
    for (const r of rows) want.set(r.name, (want.get(r.name) ?? 0) + 1);
    expect(Array.from(counts.getChild('count')!.toArray() as Int32Array)).toEqual([...want.values()].sort((a, b) => b - a));
    const distinct = await df.dropDuplicates(['user_id']).compute();
    expect(distinct.numRows).toBe(new Set(rows.map((r) => r.user_id)).size);
  });

  it('readParquet: files written with tableToParquet read back equal, one partition each, on the cluster', async () => {
    const table = new arrow.Table({
      id: arrow.makeVector(Int32Array.from({ length: 5000 }, (_, i) => i)),
      v: arrow.makeVector(Float64Array.from({ length: 5000 }, (_, i) => (i * 7) % 101)),
      k: arrow.vectorFromArray(
        Array.from({ length: 5000 }, (_, i) => `k${i % 13}`),
        new arrow.Utf8(),
      ),
    });
    for (let p = 0; p < 3; p++) fs.writeFileSync(path.join(dir, `part-${p}.parquet`), dd.tableToParquet(table.slice(p * 2000, Math.min(5000, (p + 1) * 2000))));
    const df = dd.readParquet(path.join(dir, 'part-*.parquet'));
    expect(df.npartitions).toBe(3);
    expect(df.dtypes).toEqual({ id: 'int32', v: 'float64', k: 'utf8' });
    const back = await df.compute();
    expect(Array.from(back.getChild('id')!.toArray() as Int32Array)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    const g = await df.groupby('k').col('v').sum().compute();
    const want = new Map<string, number>();
    for (let i = 0; i < 5000; i++) want.set(`k${i % 13}`, (want.get(`k${i % 13}`) ?? 0) + ((i * 7) % 101));
    expect(Object.fromEntries(Array.from(g.getChild('k')!.toArray(), (k, i) => [k, g.getChild('v')!.get(i)]))).toEqual(Object.fromEntries(want));
  });
});

describe('a worker killed mid-shuffle', () => {
  it('the merge still equals the one-process join (its lost pieces are computed again)', async () => {
    await using own = new LocalCluster({ workers: 3, protocol: 'ucx' });
    await own.ready;
    await using c = new Client(own, { setAsDefault: false });
    const n = 12_000;
    const left = dd
      .fromColumns({ id: Float64Array.from({ length: n }, (_, i) => i), v: Float64Array.from({ length: n }, (_, i) => i % 13) }, { npartitions: 12 })
      // Slow partitions (busy 150 ms each), so that the kill lands while pieces are being cut and moved.
      .mapPartitions((t: InstanceType<typeof arrow.Table>) => {
        const end = Date.now() + 150;
        while (Date.now() < end);
        return t;
      });
    const right = dd.fromColumns(
      { id: Float64Array.from({ length: n / 2 }, (_, i) => i * 2), w: Float64Array.from({ length: n / 2 }, () => 1) },
      { npartitions: 4 },
    );
    const total = left.merge(right, { on: 'id', npartitions: 6 }).col('v').sum().compute({ scheduler: c });
    const started = Date.now();
    while (own.scheduler.state.counts.memory < 8 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 10));
    expect(own.scheduler.state.counts.memory).toBeGreaterThanOrEqual(8);
    own.nannies[0]!.kill('SIGKILL');
    let want = 0;
    for (let i = 0; i < n; i += 2) want += i % 13;
    expect(await total).toBe(want);
  });
});

describe('bad input', () => {
  it('a missing file or a glob that matches nothing: ENOENT at once, naming it', () => {
    expect(() => dd.readCsv(path.join(dir, 'nope.csv'))).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('nope.csv') }));
    expect(() => dd.readCsv(path.join(dir, '1999-*.csv'))).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('1999-*.csv') }));
  });

  it('a malformed row: ERR_UCX_DATAFRAME_CSV naming the file, the line and the partition', async () => {
    const bad = path.join(dir, 'bad');
    fs.mkdirSync(bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'a.csv'), 'x,y\n1,2\n3,4\n');
    fs.writeFileSync(path.join(bad, 'b.csv'), 'x,y\n1,2\n3,4,5\n');
    const df = dd.readCsv(path.join(bad, '*.csv'));
    const error = (await df.compute().catch((e: unknown) => e)) as { code: string; message: string };
    expect(error.code).toBe('ERR_UCX_DATAFRAME_CSV');
    expect(error.message).toMatch(/line 3 of .*b\.csv: 3 fields, the header has 2/);
    expect(error.message).toMatch(/partition 1 of read-csv-/);
  });

  it('a value that is no number in a numeric column, and a file whose columns differ', async () => {
    const bad = path.join(dir, 'bad2');
    fs.mkdirSync(bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'a.csv'), 'x,y\n1,2.5\n');
    fs.writeFileSync(path.join(bad, 'b.csv'), 'x,y\n1,oops\n');
    fs.writeFileSync(path.join(bad, 'c.csv'), 'x,z\n1,2\n');
    await expect(dd.readCsv([path.join(bad, 'a.csv'), path.join(bad, 'b.csv')]).compute()).rejects.toMatchObject({
      code: 'ERR_UCX_DATAFRAME_CSV',
      message: expect.stringMatching(/line 2 of .*b\.csv: 'oops' in column 'y' is not a number.*partition 1/),
    });
    await expect(dd.readCsv([path.join(bad, 'a.csv'), path.join(bad, 'c.csv')]).compute()).rejects.toMatchObject({
      code: 'ERR_UCX_DATAFRAME_COLUMN',
      message: expect.stringMatching(/c\.csv.*no column 'y'.*partition 1 of read-csv-.*c\.csv/),
    });
    // An int32 column (as read from the first rows) that later holds a float.
    // (beyond the 256 KiB the types are read from).
    fs.writeFileSync(path.join(bad, 'd.csv'), `x\n${'1\n'.repeat(200_000)}2.5\n`);
    await expect(dd.readCsv(path.join(bad, 'd.csv')).compute({ scheduler: 'sync' })).rejects.toMatchObject({
      code: 'ERR_UCX_DATAFRAME_CSV',
      message: expect.stringMatching(/line 200002 .*'2\.5'.*int32.*dtype/),
    });
    await expect(
      dd
        .readCsv(path.join(bad, 'd.csv'), { dtype: { x: 'float64' } })
        .col('x')
        .sum()
        .compute({ scheduler: 'sync' }),
    ).resolves.toBe(200_002.5);
  });

  it('a file gone since the graph was made: ERR_UCX_DATAFRAME_READ naming it and the partition', async () => {
    const file = path.join(dir, 'gone.csv');
    fs.writeFileSync(file, 'x\n1\n');
    const df = dd.readCsv(file);
    fs.rmSync(file);
    await expect(df.compute()).rejects.toMatchObject({ code: 'ERR_UCX_DATAFRAME_READ', message: expect.stringMatching(/gone\.csv.*partition 0 of read-csv-/) });
  });

  it('a file that is no Parquet: ERR_UCX_DATAFRAME_PARQUET', () => {
    expect(() => dd.readParquet(path.join(dir, '2015-01-01.csv'))).toThrow(
      expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_PARQUET', message: expect.stringContaining('2015-01-01.csv') }),
    );
  });

  it('an unknown column in usecols or parseDates: ERR_UCX_DATAFRAME_COLUMN naming the file', () => {
    expect(() => dd.readCsv(path.join(dir, '2015-01-01.csv'), { parseDates: ['nope'] })).toThrow(
      expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN', message: expect.stringContaining('2015-01-01.csv') }),
    );
    expect(() => dd.readCsv(path.join(dir, '2015-01-01.csv'), { usecols: ['nope'] })).toThrow(expect.objectContaining({ code: 'ERR_UCX_DATAFRAME_COLUMN' }));
  });
});
