#!/usr/bin/env node
// The collections benchmarks: node-ucx's collections on a LocalCluster (2 worker processes over UCX)
// against Dask on LocalCluster(n_workers=2, threads_per_worker=1), workload by workload. Runs every
// bench/collections/*.bench.mjs; each default-exports async ({ client, dask, scale }) => rows, a row
// being { workload, nodeUcxMs, daskMs, ratio, graphTasks, bytesMoved } (ratio: nodeUcxMs / daskMs,
// above 1 when node-ucx is slower; daskMs null where Dask or the module is missing). `client` is a
// node-ucx Client of that cluster; `dask` is dask.mjs's helper: `await dask.time(pythonCode, { needs:
// ['dask.array'], repeat: 2 })` resolves with { ms, value } (the fastest run of the snippet's
// `def bench():`) or null, and `dask.available(module)` / `dask.reason(module)` say what is installed.
//
//   npm run bench:collections                         (after npm run build; default --scale 0.1)
//   node bench/collections/run.mjs --scale 1          (about 1 GiB of array data, minutes)
//   node bench/collections/run.mjs --only array --doc (writes the table into docs/performance.md)
//   node bench/collections/run.mjs --no-dask          (node-ucx only: Dask ms '-')
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, Client } from 'node-ucx/scheduler';
import { createDask } from './dask.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = args[at + 1];
  return value === undefined || value.startsWith('--') ? true : value;
};
const scale = Number(option('scale', '0.1'));
if (!(scale > 0)) throw new RangeError(`--scale must be a positive number, not ${option('scale')}`);
const only = option('only', null);
const doc = option('doc', null);
const docFile = doc === true ? path.join(here, '..', '..', 'docs', 'performance.md') : doc;

const files = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs') && (only === null || f.includes(only)))
  .sort();
if (args.includes('--no-dask')) process.env.DASK_PYTHON = 'none';
const dask = createDask();
process.stderr.write(`[bench] scale ${scale}; ${files.join(', ')}; dask ${dask.version ?? `unavailable (${dask.reason('dask')})`}\n`);

const cluster = new LocalCluster({ workers: 2 });
await cluster.ready;
const client = new Client(cluster);
await client.ready;
const rows = [];
try {
  for (const file of files) {
    const bench = (await import(path.join(here, file))).default;
    const started = performance.now();
    for (const row of await bench({ client, dask, scale })) {
      const ratio = row.ratio ?? (row.daskMs ? row.nodeUcxMs / row.daskMs : null);
      rows.push({ file, ...row, ratio });
      process.stderr.write(
        `[bench] ${row.workload}: node-ucx ${row.nodeUcxMs.toFixed(0)} ms, dask ${row.daskMs === null ? '-' : row.daskMs.toFixed(0) + ' ms'}\n`,
      );
    }
    process.stderr.write(`[bench] ${file} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
} finally {
  await client.close();
  await cluster.close();
}

const mib = (n) => (n === null || n === undefined ? '-' : `${(n / 2 ** 20).toFixed(1)} MiB`);
const ms = (n) => (n === null || n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
const table = [
  `Collections on a LocalCluster of 2 worker processes (node-ucx over UCX; Dask ${dask.version ?? 'not installed'}: LocalCluster(n_workers=2, threads_per_worker=1)), --scale ${scale}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. Times: the fastest of 2 runs (new keys each), graph building included; ratio = node-ucx / Dask (above 1: node-ucx slower); bytes moved: results copied worker to worker (node-ucx's scheduler count).`,
  '',
  '| workload | node-ucx ms | Dask ms | ratio | graph tasks | bytes moved |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.workload} | ${ms(r.nodeUcxMs)} | ${ms(r.daskMs)} | ${r.ratio === null ? '-' : r.ratio.toFixed(2)} | ${r.graphTasks ?? '-'} | ${mib(r.bytesMoved)} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);

if (docFile) {
  const begin = '<!-- bench:collections -->';
  const end = '<!-- /bench:collections -->';
  const text = fs.existsSync(docFile) ? fs.readFileSync(docFile, 'utf8') : '';
  const block = `${begin}\n${table}\n${end}`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  const next =
    a >= 0 && b > a
      ? text.slice(0, a) + block + text.slice(b + end.length)
      : `${text.trimEnd()}\n\n## Collections\n\n\`npm run bench:collections\` (bench/collections/run.mjs; \`--scale 1\`: about 1 GiB of array data; \`--doc\` rewrites this table).\n\n${block}\n`;
  fs.writeFileSync(docFile, next);
  process.stderr.write(`[bench] wrote the table into ${docFile}\n`);
}
