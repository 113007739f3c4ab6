// Dataframe workloads against Dask: a groupby mean and a hash-shuffle join over generated rows,
// from CSV and from Parquet (10 M rows at scale 1; 1 M at the default scale 0.1).
//
// Contract (bench/collections/run.mjs, `npm run bench:collections`): the default export is
// `async ({ client, dask, scale }) => rows`, rows `{ workload, nodeUcxMs, daskMs, ratio, graphTasks,
// bytesMoved }`; `dask(snippet)` runs a python3 snippet on a dask LocalCluster (2 workers × 1
// thread) and gives what it printed (the snippets print one JSON line, `{"ms": ...}`).
//
// Standalone: `node bench/collections/dataframe.bench.mjs [scale]` starts its own LocalCluster
// (2 workers × 1 thread, UCX) and runs Dask itself through /usr/bin/python3 or python3 when
// dask.dataframe and distributed import there (Debian: apt-get install -y python3-distributed
// python3-pandas); otherwise daskMs is null. Dask reads Parquet only with pyarrow or fastparquet:
// without them the Parquet rows have daskMs null.
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
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
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
      if (lines.length === 100_000) { chunks.push(lines.join('\n'), '\n'); lines = []; }
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
 * One timed run of fresh keys: a second computation of the same keys straight after the first
 * would find the first one's results still held. The workers are warmed first on other files (warm()).
 */
async function timed(client, collection) {
  const before = (await client.schedulerInfo()).bytesMoved;
  const started = performance.now();
  const value = await collection.compute({ scheduler: client });
  const ms = performance.now() - started;
  const after = (await client.schedulerInfo()).bytesMoved;
  return { ms, value, bytesMoved: after - before };
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
  await dd.compute([small.groupby('user_id').col('score').mean(), p.merge(small, { on: 'user_id', npartitions: 4 }).col('score_x').sum(), p.groupby('user_id').col('score').mean()], { scheduler: client });
}

const daskPrelude = (dir) => `
import json, time, warnings
warnings.filterwarnings('ignore')
import dask, dask.dataframe as dd
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
client = Client(cluster)
dask.config.set({'dataframe.shuffle.method': 'tasks', 'shuffle': 'tasks'})
D = ${JSON.stringify(dir)}
def run(f):
    f()  # warm: imports and the workers' first use
    t = time.perf_counter(); f(); return (time.perf_counter() - t) * 1000
`;

function daskSnippet(dir, workload) {
  const read = workload.startsWith('parquet') ? `dd.read_parquet(D + '/rows-*.parquet')` : `dd.read_csv(D + '/rows-*.csv')`;
  const body = workload.endsWith('groupby-mean')
    ? `lambda: ${read}.groupby('user_id').value.mean().compute()`
    : `lambda: dd.merge(${read}, dd.read_csv(D + '/users.csv').repartition(npartitions=2), on='user_id', how='inner', shuffle='tasks').score.sum().compute()`;
  return `${daskPrelude(dir)}
ms = run(${body})
print(json.dumps({'ms': ms}))
client.close(); cluster.close()
`;
}

/** What the dask helper gave, as milliseconds (null when Dask could not run it). */
function daskMsOf(result) {
  if (result === null || result === undefined) return null;
  if (typeof result === 'number') return result;
  if (typeof result === 'object') return result.ms ?? result.daskMs ?? null;
  const line = String(result).trim().split('\n').filter(Boolean).pop();
  try { return JSON.parse(line).ms ?? null; } catch { return null; }
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
      'csv-join': () => dd.readCsv(path.join(dir, 'rows-*.csv')).merge(dd.readCsv(path.join(dir, 'users.csv')), { on: 'user_id', npartitions: FILES }).col('score').sum(),
      'parquet-groupby-mean': () => dd.readParquet(path.join(dir, 'rows-*.parquet')).groupby('user_id').col('value').mean(),
      'parquet-join': () => dd.readParquet(path.join(dir, 'rows-*.parquet')).merge(dd.readCsv(path.join(dir, 'users-b.csv')), { on: 'user_id', npartitions: FILES }).col('score').sum(),
    };
    await warm(client, dir);
    const out = [];
    for (const [workload, make] of Object.entries(workloads)) {
      const collection = make();
      const { ms, bytesMoved } = await timed(client, collection);
      let daskMs = null;
      if (dask !== null && dask !== undefined) {
        try { daskMs = daskMsOf(await dask(daskSnippet(dir, workload))); } catch (error) { console.error(`[dataframe] dask ${workload}: ${String(error?.message ?? error).split('\n').slice(-3).join(' ')}`); }
      }
      const row = { workload: `dataframe-${workload} (${rows} rows)`, nodeUcxMs: Math.round(ms), daskMs: daskMs === null ? null : Math.round(daskMs), ratio: daskMs === null ? null : Number((ms / daskMs).toFixed(2)), graphTasks: tasksOf(collection), bytesMoved };
      console.error(`[dataframe] ${JSON.stringify(row)}`);
      out.push(row);
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A python3 with dask.dataframe and distributed, or null. */
function findPython() {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import dask.dataframe, distributed, pandas'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return null;
}

/** The standalone dask helper: runs the snippet, gives its stdout (throws with its stderr when it fails). */
function standaloneDask(python) {
  return async (snippet) => {
    const run = spawnSync(python, ['-c', snippet], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(run.stderr || `python exited with ${run.status}`);
    return run.stdout;
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { LocalCluster, Client } = await import('node-ucx/scheduler');
  const scale = Number(process.argv[2] ?? 0.1);
  const cluster = new LocalCluster({ workers: 2, threads: 1 });
  const client = new Client(cluster);
  await client.ready;
  const python = findPython();
  if (python === null) console.error('[dataframe] no python3 with dask.dataframe and distributed: daskMs is null');
  try {
    const rows = await dataframeBench({ client, dask: python === null ? null : standaloneDask(python), scale });
    console.table(rows);
  } finally {
    await client.close();
    await cluster.close();
  }
}
