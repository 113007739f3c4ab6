// array-stats.mjs: column statistics and a matrix product with node-ucx/collections/array (Dask's
// dask.array): a chunked array of random numbers, standardized per column (broadcasting), its
// correlation matrix by a blocked matmul, written to a .npy file and read back; checked against
// plain loops over one typed array. The same code runs on threads, in this thread, and on a cluster.
//
// Run: node docs/examples/array-stats.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as da from 'node-ucx/collections/array';
import { LocalCluster, Client } from 'node-ucx/scheduler';

const [rows, cols] = [4000, 60];
// 4000 x 60 float64 in blocks of 1000 x 30: 8 blocks, each made by its task from the seed.
const x = da.random([rows, cols], { seed: 42, chunks: [1000, 30] });
// Lazy: each method adds a layer of tasks; nothing runs until compute().
const z = x.sub(x.mean({ axis: 0 })).div(x.std({ axis: 0 })); // (4000, 60) minus (60,): broadcast
const corr = z.T.matmul(z).div(rows); // 60 x 60; the contraction in 4 blocks
const biggest = z.max({ axis: 0 }).argmax(); // the column with the largest z-score

async function run(scheduler) {
  const started = performance.now();
  // One graph for all three: x's blocks are made once.
  const [data, c, top] = await da.compute([x, corr, biggest], { scheduler });
  const ms = (performance.now() - started).toFixed(0);
  // The same in plain JS, on the computed elements.
  const col = (j) => Array.from({ length: rows }, (_, r) => data.get(r, j));
  const zcol = (j) => {
    const v = col(j);
    const m = v.reduce((s, e) => s + e, 0) / rows;
    const sd = Math.sqrt(v.reduce((s, e) => s + (e - m) ** 2, 0) / rows);
    return v.map((e) => (e - m) / sd);
  };
  for (const [i, j] of [
    [0, 0],
    [3, 17],
    [59, 58],
  ]) {
    const [a, b] = [zcol(i), zcol(j)];
    const expected = a.reduce((s, e, r) => s + e * b[r], 0) / rows;
    assert.ok(Math.abs(c.get(i, j) - expected) < 1e-9, `corr[${i}, ${j}]: ${c.get(i, j)} vs ${expected}`);
  }
  const maxima = Array.from({ length: cols }, (_, j) => Math.max(...zcol(j)));
  assert.equal(top.item(), maxima.indexOf(Math.max(...maxima)));
  console.log(
    `${String(scheduler).padEnd(11)} ${ms.padStart(5)} ms  corr ${c.shape.join('x')} (corr[3,17] = ${c.get(3, 17).toFixed(4)}), largest z-score in column ${top.item()}`,
  );
}

await run('threads'); // the first run also starts the thread pool
await run('sync');

// A cluster: two worker processes over UCX. The blocks stay on the workers; only results come back.
const cluster = new LocalCluster({ workers: 2 });
const client = new Client(cluster); // the default scheduler from now on
try {
  await client.ready;
  await run('distributed');
  // .npy files: written block by block by the tasks, read back in blocks of rows.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'array-example-'));
  const file = await z.toNpy(path.join(dir, 'z.npy'));
  const back = da.readNpy(file, { chunks: [500, -1] });
  // The file's blocks (500 x 60) and z's (1000 x 30) differ: the subtraction cuts both to common blocks.
  assert.equal((await back.sub(z).abs().max().compute()).item(), 0);
  console.log(`${file}: ${back.shape.join('x')} ${back.dtype}, read in ${back.numblocks[0]} blocks of rows`);
  fs.rmSync(dir, { recursive: true, force: true });
} finally {
  await client.close();
  await cluster.close();
}
