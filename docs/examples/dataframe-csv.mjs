// dataframe-csv.mjs: Dask's first dataframe example with node-ucx/collections/dataframe, on a
// LocalCluster of two worker processes over UCX: a glob of CSV files, a groupby mean, a filter
// with column arithmetic, and a join by hash shuffle between the workers, each checked against
// plain JS. Results come back as Apache Arrow tables.
//
// Run: node docs/examples/dataframe-csv.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster, Client } from 'node-ucx/scheduler';
import * as dd from 'node-ucx/collections/dataframe';

// Some CSV files: one a day.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataframe-'));
const rows = [];
for (let day = 1; day <= 5; day++) {
  const lines = ['user_id,value,country'];
  for (let i = 0; i < 20_000; i++) {
    const row = { user_id: (i * 7919 + day) % 500, value: ((i * 31 + day) % 1000) / 10, country: ['fr', 'de', 'us'][(i + day) % 3] };
    rows.push(row);
    lines.push(`${row.user_id},${row.value},${row.country}`);
  }
  fs.writeFileSync(path.join(dir, `2015-01-0${day}.csv`), lines.join('\n') + '\n');
}
process.chdir(dir);

const cluster = new LocalCluster({ workers: 2 });
const client = new Client(cluster); // the default Client from now on: compute() runs on the cluster
await client.ready;

// Dask's example, as written.
const df = dd.readCsv('2015-*-*.csv');
const means = await df.groupby('user_id').col('value').mean().compute();
console.log(
  `${df.npartitions} partitions, columns ${JSON.stringify(df.dtypes)}; mean value of ${means.numRows} users, user 0: ${means.get(0).value.toFixed(3)}`,
);

// The same in plain JS.
const acc = new Map();
for (const r of rows) {
  const a = acc.get(r.user_id) ?? [0, 0];
  a[0] += r.value;
  a[1]++;
  acc.set(r.user_id, a);
}
const ids = means.getChild('user_id').toArray();
const values = means.getChild('value').toArray();
ids.forEach((id, i) => {
  const [s, n] = acc.get(id);
  assert.ok(Math.abs(values[i] - s / n) < 1e-9);
});
assert.equal(means.numRows, acc.size);

// A filter with column arithmetic (no task of its own: evaluated in the task that reads the file),
// then per-country sums.
const big = df.filter(df.col('value').gt(50));
const taxed = big.assign({ gross: big.col('value').mul(1.2).add(1) });
const byCountry = await taxed.groupby('country').agg({ gross: 'sum', value: 'count' }).compute();
console.log(
  'gross by country:',
  byCountry
    .toArray()
    .map((r) => `${r.country} ${r.gross.toFixed(1)} (${r.value} rows)`)
    .join(', '),
);
const want = new Map();
for (const r of rows) if (r.value > 50) want.set(r.country, (want.get(r.country) ?? 0) + r.value * 1.2 + 1);
for (const r of byCountry.toArray()) assert.ok(Math.abs(r.gross - want.get(r.country)) < 1e-6 * r.gross);

// A join: both sides shuffled by user_id between the workers, joined partition by partition.
const users = dd.fromColumns(
  { user_id: Float64Array.from({ length: 500 }, (_, i) => i), tier: Array.from({ length: 500 }, (_, i) => (i % 10 === 0 ? 'gold' : 'basic')) },
  { npartitions: 2 },
);
const joined = df.merge(users, { on: 'user_id' });
const gold = joined.filter(joined.col('tier').eq('gold'));
const goldMean = await gold.col('value').mean().compute();
const goldRows = rows.filter((r) => r.user_id % 10 === 0);
assert.ok(Math.abs(goldMean - goldRows.reduce((s, r) => s + r.value, 0) / goldRows.length) < 1e-9);
console.log(`gold users' mean value: ${goldMean.toFixed(3)} over ${goldRows.length} rows`);

await client.close();
await cluster.close();
process.chdir(os.tmpdir());
fs.rmSync(dir, { recursive: true, force: true });
