// Dataframe workloads against Dask: a groupby mean and a hash-shuffle join over generated rows,
// from CSV and from Parquet (10 M rows at scale 1; 1 M at the default scale 0.1).
//
// Contract (bench/collections/run.mjs, `npm run bench:collections`): the default export is
// `async ({ client, dask, scale }) => rows`, rows `{ workload, nodeUcxMs, daskMs, ratio, graphTasks,
// bytesMoved }`; `dask.time(code, { needs })` (dask.mjs) times a python snippet's `def bench():` on
// a dask LocalCluster (2 workers × 1 thread), the fastest of 2 runs. Here too: the fastest of 2
// runs, each on keys the scheduler has forgotten (so computed again, not found in memory).
//
// Standalone: `node bench/collections/dataframe.bench.mjs [scale]` starts its own LocalCluster
// (2 workers × 1 thread, UCX) and dask.mjs's helper (Debian: apt-get install -y python3-distributed
// python3-pandas; without them daskMs is null). Dask reads Parquet only with pyarrow or
// fastparquet: without them the Parquet rows have daskMs null.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dd from 'node-ucx/collections/dataframe';

const { arrow } = dd;
const FILES = 8;
const USERS = 100_000;

/** The data: `rows` rows of (user_id int, value float, name string) in FILES CSV and Parquet files; the users table for the join. */
function generate(dir, rows) {
  const per = Math.ceil(rows / FILES);
  let seed = 42;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
  for (let f = 0; f < FILES; f++) {
    const n = Math.min(per, rows - f * per);
    const ids = new Int32Array(n);
    const values = new Float64Array(n);
    const nameOf = new Array(n);
    const chunks = ['user_id,value,name\n'];
    let lines = [];
    for (let i = 0; i < n; i++) {
      ids[i] = Math.floor(rand() * USERS);
      values[i] = Math.round(rand() * 100_000) / 100;
      nameOf[i] = names[i & 7];
      lines.push(`${ids[i]},${values[i]},${nameOf[i]}`);
      if (lines.length === 100_000) {
        chunks.push(lines.join('\n'), '\n');
        lines = [];
      }
    }
    if (lines.length > 0) chunks.push(lines.join('\n'), '\n');
    fs.writeFileSync(path.join(dir, `rows-${f}.csv`), chunks.join(''));
    const table = new arrow.Table({ user_id: arrow.makeVector(ids), value: arrow.makeVector(values), name: arrow.vectorFromArray(nameOf, new arrow.Utf8()) });
    fs.writeFileSync(path.join(dir, `rows-${f}.parquet`), dd.tableToParquet(table));
  }
  const users = ['user_id,score'];
  for (let u = 0; u < USERS; u += 2) users.push(`${u},${u % 97}`);
  // Two copies: each join its own keys (see timed()).
  for (const name of ['users.csv', 'users-b.csv']) fs.writeFileSync(path.join(dir, name), `${users.join('\n')}\n`);
}

/** The optimized graph's size: what the scheduler runs. */
function tasksOf(collection) {
  return Object.keys(collection.optimize(collection.graph(), collection.keys)).length;
}

/**
 * The fastest of two runs, graph building included. Between them a scheduler round trip: the first run's keys are released
 * by then, so the second computes them again (the Client sends them again) instead of finding them.
 */
async function timed(client, make) {
  let best = null;
  for (let run = 0; run < 2; run++) {
    const before = (await client.schedulerInfo()).bytesMoved;
    const started = performance.now();
    const value = await make().compute({ scheduler: client }); // graph building (schemas read) included
    const ms = performance.now() - started;
    const after = (await client.schedulerInfo()).bytesMoved;
    if (best === null || ms < best.ms) best = { ms, value, bytesMoved: after - before };
  }
  return best;
}

/** Every kernel and reader imported on the workers, on small files of their own. */
async function warm(client, dir) {
  // Four files each: every worker reads some (parquet-wasm compiles its module on first use).
  const rows = Array.from({ length: 1000 }, (_, i) => `${i % 50},${i}`);
  for (let f = 0; f < 4; f++) fs.writeFileSync(path.join(dir, `warm-${f}.csv`), `user_id,score\n${rows.join('\n')}\n`);
  const small = dd.readCsv(path.join(dir, 'warm-*.csv'));
  const table = await small.compute({ scheduler: client });
  for (let f = 0; f < 4; f++) fs.writeFileSync(path.join(dir, `warm-${f}.parquet`), dd.tableToParquet(table));
  const p = dd.readParquet(path.join(dir, 'warm-*.parquet'));
  await dd.compute(
    [
      small.groupby('user_id').col('score').mean(),
      p.merge(small, { on: 'user_id', npartitions: 4 }).col('score_x').sum(),
      p.groupby('user_id').col('score').mean(),
    ],
    { scheduler: client },
  );
}

let parquetEngine;
/** Whether Dask can read Parquet there (pyarrow or fastparquet); says so once when not. */
function daskParquet(dask) {
  if (parquetEngine === undefined) {
    parquetEngine =
      dask.python !== null && ['pyarrow', 'fastparquet'].some((m) => spawnSync(dask.python, ['-c', `import ${m}`], { stdio: 'ignore' }).status === 0);
    if (!parquetEngine && dask.python !== null) console.error('[dataframe] Dask has neither pyarrow nor fastparquet: no Dask times for Parquet');
  }
  return parquetEngine;
}

/** The workload for dask.time(): a `def bench():` over the same files. */
function daskSnippet(dir, workload) {
  const read = workload.startsWith('parquet') ? `dd.read_parquet(D + '/rows-*.parquet')` : `dd.read_csv(D + '/rows-*.csv')`;
  const users = workload.startsWith('parquet') ? 'users-b.csv' : 'users.csv';
  const body = workload.endsWith('groupby-mean')
    ? `return float(${read}.groupby('user_id').value.mean().compute().sum())`
    : // users in 2 partitions: with one, Dask joins each partition with it whole (no shuffle); node-ucx's
      // merge shuffles both sides by default, so Dask's does here too.
      `return float(dd.merge(${read}, dd.read_csv(D + '/${users}').repartition(npartitions=2), on='user_id', how='inner', npartitions=${FILES}, shuffle='tasks').score.sum().compute())`;
  return `import dask, dask.dataframe as dd
dask.config.set({'shuffle': 'tasks', 'dataframe.shuffle.method': 'tasks'})
D = ${JSON.stringify(dir)}
def bench():
    ${body}`;
}

export default async function dataframeBench({ client, dask, scale = 0.1 }) {
  const rows = Math.max(10_000, Math.round(10_000_000 * scale));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dataframe-'));
  try {
    const t0 = performance.now();
    generate(dir, rows);
    console.error(`[dataframe] ${rows} rows in ${FILES} CSV and Parquet files (${(performance.now() - t0).toFixed(0)} ms to write)`);
    const workloads = {
      'csv-groupby-mean': () => dd.readCsv(path.join(dir, 'rows-*.csv')).groupby('user_id').col('value').mean(),
      'csv-join': () =>
        dd
          .readCsv(path.join(dir, 'rows-*.csv'))
          .merge(dd.readCsv(path.join(dir, 'users.csv')), { on: 'user_id', npartitions: FILES })
          .col('score')
          .sum(),
      'parquet-groupby-mean': () => dd.readParquet(path.join(dir, 'rows-*.parquet')).groupby('user_id').col('value').mean(),
      'parquet-join': () =>
        dd
          .readParquet(path.join(dir, 'rows-*.parquet'))
          .merge(dd.readCsv(path.join(dir, 'users-b.csv')), { on: 'user_id', npartitions: FILES })
          .col('score')
          .sum(),
    };
    await warm(client, dir);
    const out = [];
    for (const [workload, make] of Object.entries(workloads)) {
      const { ms, bytesMoved } = await timed(client, make);
      const collection = make();
      const runDask = dask !== null && dask !== undefined && (!workload.startsWith('parquet') || daskParquet(dask));
      const theirs = runDask ? await dask.time(daskSnippet(dir, workload), { needs: ['dask.dataframe', 'pandas'] }) : null;
      const daskMs = theirs?.ms ?? null;
      const row = {
        workload: `dataframe-${workload} (${rows} rows)`,
        nodeUcxMs: Math.round(ms),
        daskMs: daskMs === null ? null : Math.round(daskMs),
        ratio: daskMs === null ? null : Number((ms / daskMs).toFixed(2)),
        graphTasks: tasksOf(collection),
        bytesMoved,
      };
      console.error(`[dataframe] ${JSON.stringify(row)}`);
      out.push(row);
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { LocalCluster, Client } = await import('node-ucx/scheduler');
  const { createDask } = await import('./dask.mjs');
  const scale = Number(process.argv[2] ?? 0.1);
  const cluster = new LocalCluster({ workers: 2, threads: 1 });
  const client = new Client(cluster);
  await client.ready;
  const dask = createDask();
  if (!dask.available('dask.dataframe')) console.error(`[dataframe] no Dask: ${dask.reason('dask.dataframe')}; daskMs is null`);
  try {
    console.table(await dataframeBench({ client, dask, scale }));
  } finally {
    await client.close();
    await cluster.close();
  }
}
