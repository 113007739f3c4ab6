#!/usr/bin/env node
// Cross-checks node-ucx/collections/dataframe against pandas on the same generated CSV files:
// groupby aggregations, valueCounts, dropDuplicates, merges, sortValues, corr and resample.
// Not a test dependency: it needs a python3 with pandas (Debian: apt-get install -y python3-pandas).
//
// Run (after npm run build): node scripts/dataframe-pandas-check.mjs
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as dd from 'node-ucx/collections/dataframe';

const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import pandas'], { stdio: 'ignore' }).status === 0);
if (python === undefined) {
  console.error('no python3 with pandas: nothing to check against');
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-pandas-'));
let seed = 3;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
for (let f = 0; f < 3; f++) {
  const lines = ['id,k,g,x,y,ts'];
  for (let i = 0; i < 5000; i++) {
    const x = rand() < 0.05 ? '' : (Math.round(rand() * 1e5) / 100).toString();
    const ts = new Date(Date.UTC(2015, 0, 1) + Math.floor(rand() * 5 * 86_400_000)).toISOString().slice(0, 19).replace('T', ' ');
    lines.push(`${f * 5000 + i},${['a', 'b', 'c', 'd'][Math.floor(rand() * 4)]},${Math.floor(rand() * 30)},${x},${(rand() * 10 - 5).toFixed(6)},${ts}`);
  }
  fs.writeFileSync(path.join(dir, `data-${f}.csv`), `${lines.join('\n')}\n`);
}
fs.writeFileSync(path.join(dir, 'right.csv'), `g,w\n${Array.from({ length: 20 }, (_, i) => `${i * 2},${i}`).join('\n')}\n`);

const rowsOf = (t) =>
  t
    .toArray()
    .map((r) => Object.fromEntries(Object.entries(r.toJSON()).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.getTime() : v])));
const df = dd.readCsv(path.join(dir, 'data-*.csv'), { parseDates: ['ts'] });
const right = dd.readCsv(path.join(dir, 'right.csv'));
const ours = {
  agg: rowsOf(
    await df
      .groupby(['k', 'g'])
      .agg({ x: ['sum', 'mean', 'count', 'min', 'max'], y: ['std'] })
      .compute(),
  ),
  valueCounts: rowsOf(await df.valueCounts('g').compute()),
  dropDuplicates: rowsOf(await df.dropDuplicates(['k', 'g']).select(['id']).compute()),
  mergeInner: rowsOf(await df.merge(right, { on: 'g' }).sortValues('id').select(['id', 'w']).compute()),
  mergeLeft: rowsOf(await df.merge(right, { on: 'g', how: 'left' }).sortValues('id').select(['id', 'w']).compute()),
  sorted: rowsOf(
    await df
      .sortValues(['x', 'id'], { ascending: [false, true] })
      .select(['id'])
      .compute(),
  ),
  corr: rowsOf(await df.corr(['x', 'y', 'g']).compute()),
  resample: rowsOf(await df.resample('ts', '6h').agg({ y: 'sum' }).compute()),
};

const pandas = spawnSync(
  python,
  [
    '-c',
    `
import json, glob, pandas as pd, numpy as np
D = ${JSON.stringify(dir)}
df = pd.concat([pd.read_csv(f, parse_dates=['ts']) for f in sorted(glob.glob(D + '/data-*.csv'))], ignore_index=True)
right = pd.read_csv(D + '/right.csv')
def rows(frame): return json.loads(frame.to_json(orient='records', double_precision=15))
agg = df.groupby(['k', 'g']).agg(x_sum=('x', 'sum'), x_mean=('x', 'mean'), x_count=('x', 'count'), x_min=('x', 'min'), x_max=('x', 'max'), y_std=('y', 'std')).reset_index()
vc = df['g'].value_counts().rename_axis('g').reset_index(name='count')
vc = vc.sort_values(['count', 'g'], ascending=[False, True])
corr = df[['x', 'y', 'g']].corr().rename_axis('column').reset_index()
res = df.resample('6h', on='ts').agg({'y': 'sum'}).reset_index()
res = res[df.set_index('ts').resample('6h')['y'].count().values > 0]
res['ts'] = res['ts'].astype('int64') // 10**6
print(json.dumps({
  'agg': rows(agg), 'valueCounts': rows(vc),
  'dropDuplicates': rows(df.drop_duplicates(['k', 'g'])[['id']]),
  'mergeInner': rows(df.merge(right, on='g').sort_values('id')[['id', 'w']]),
  'mergeLeft': rows(df.merge(right, on='g', how='left').sort_values('id')[['id', 'w']]),
  'sorted': rows(df.sort_values(['x', 'id'], ascending=[False, True], na_position='last')[['id']]),
  'corr': rows(corr), 'resample': rows(res),
}))
`,
  ],
  { encoding: 'utf8', maxBuffer: 256 << 20 },
);
fs.rmSync(dir, { recursive: true, force: true });
if (pandas.status !== 0) {
  console.error(pandas.stderr);
  process.exit(1);
}
const theirs = JSON.parse(pandas.stdout);

/** Values equal to 9 significant digits; NaN, null and undefined alike (pandas' JSON writes NaN as null). */
function same(a, b) {
  const missing = (v) => v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));
  if (missing(a) || missing(b)) return missing(a) && missing(b);
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  return a === b;
}
let failures = 0;
for (const [name, mine] of Object.entries(ours)) {
  const other = theirs[name];
  const problems = [];
  if (mine.length !== other.length) problems.push(`${mine.length} rows, pandas ${other.length}`);
  for (let i = 0; i < Math.min(mine.length, other.length) && problems.length < 3; i++) {
    for (const key of Object.keys(other[i]))
      if (!same(mine[i][key], other[i][key])) problems.push(`row ${i} ${key}: ${mine[i][key]} vs pandas ${other[i][key]}`);
  }
  console.log(`${problems.length === 0 ? 'ok  ' : 'DIFF'} ${name} (${mine.length} rows)${problems.length > 0 ? `: ${problems.slice(0, 3).join('; ')}` : ''}`);
  if (problems.length > 0) failures++;
}
process.exit(failures === 0 ? 0 : 1);
