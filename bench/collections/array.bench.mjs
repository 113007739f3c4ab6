// node-ucx/collections/array against dask.array: sum and column std of a random array (1 GiB of
// float64 at --scale 1: 16384 x 8192 in 8 row blocks), and the sum of a blocked matrix product
// (n = 4096 * sqrt(scale), 4 x 4 blocks). The random numbers are made by the tasks on both sides
// (different generators), so only the work and the partial results move. Each side: the fastest
// of 2 runs.
import * as da from 'node-ucx/collections/array';

const tasksOf = (c) => Object.keys(c.optimize(c.graph(), c.keys)).length;

/** The fastest of `repeat` runs (each with other seeds: new keys, nothing reused), its tasks and the bytes it moved. */
async function measure(client, make, repeat = 2) {
  const graphTasks = tasksOf(make(0));
  let best = null;
  for (let r = 0; r < repeat; r++) {
    const before = (await client.schedulerInfo()).bytesMoved;
    const started = performance.now();
    await make(r).compute({ scheduler: client });
    const nodeUcxMs = performance.now() - started;
    const bytesMoved = (await client.schedulerInfo()).bytesMoved - before;
    if (best === null || nodeUcxMs < best.nodeUcxMs) best = { nodeUcxMs, graphTasks, bytesMoved };
  }
  return best;
}

export default async function arrayBench({ client, dask, scale }) {
  const rows = Math.max(8, Math.round(16384 * scale));
  const cols = 8192;
  const rowChunk = Math.ceil(rows / 8);
  const n = Math.max(64, Math.round((4096 * Math.sqrt(scale)) / 4) * 4);
  const gib = ((rows * cols * 8) / 2 ** 30).toFixed(2);
  // Warm: the workers import the kernels once.
  await da.ones([16], { chunks: 4 }).sum().compute({ scheduler: client });
  const workloads = [
    {
      workload: `array sum (${rows}x${cols} float64, ${gib} GiB, ${Math.ceil(rows / rowChunk)} blocks)`,
      make: (r) => da.random([rows, cols], { seed: 10 + r, chunks: [rowChunk, cols] }).sum(),
      python: `import dask.array as da\ndef bench():\n    return float(da.random.random((${rows}, ${cols}), chunks=(${rowChunk}, ${cols})).sum().compute())`,
    },
    {
      workload: `array std over axis 0 (${rows}x${cols})`,
      make: (r) => da.random([rows, cols], { seed: 20 + r, chunks: [rowChunk, cols] }).std({ axis: 0 }),
      python: `import dask.array as da\ndef bench():\n    return float(da.random.random((${rows}, ${cols}), chunks=(${rowChunk}, ${cols})).std(axis=0).compute()[0])`,
    },
    {
      workload: `array matmul + sum (${n}x${n} @ ${n}x${n}, 4x4 blocks)`,
      make: (r) =>
        da
          .random([n, n], { seed: 30 + r, chunks: n / 4 })
          .matmul(da.random([n, n], { seed: 40 + r, chunks: n / 4 }))
          .sum(),
      python: `import dask.array as da\ndef bench():\n    a = da.random.random((${n}, ${n}), chunks=${n / 4})\n    b = da.random.random((${n}, ${n}), chunks=${n / 4})\n    return float((a @ b).sum().compute())`,
    },
  ];
  const out = [];
  for (const w of workloads) {
    const mine = await measure(client, w.make);
    const theirs = await dask.time(w.python, { needs: ['dask.array', 'numpy'] });
    const daskMs = theirs?.ms ?? null;
    out.push({
      workload: w.workload,
      nodeUcxMs: mine.nodeUcxMs,
      daskMs,
      ratio: daskMs === null ? null : mine.nodeUcxMs / daskMs,
      graphTasks: mine.graphTasks,
      bytesMoved: mine.bytesMoved,
    });
  }
  return out;
}
