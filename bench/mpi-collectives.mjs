// P8: the MPI shim's collectives, timed exactly like ../shared/anchors/mpi4py_collectives.py
// (same operations, sizes, iteration counts and warm-up), so the two compare as a ratio in one run.
//   node dist/cli/ucx-run.js -n 4 node bench/mpi-collectives.mjs
// Rank 0 prints one JSON line (µs per operation).
import * as MPI from 'node-ucx/mpi';

const comm = await MPI.init();
const rank = comm.rank;

async function timeit(fn, n) {
  for (let i = 0; i < Math.max(1, Math.floor(n / 10)); i++) await fn();
  await comm.barrier();
  const t0 = MPI.wtime();
  for (let i = 0; i < n; i++) await fn();
  return ((MPI.wtime() - t0) / n) * 1e6;
}

const x = new Float64Array(1 << 17).fill(rank); // 1 MiB of float64
const y = new Float64Array(x.length);
const obj = { key1: [7, 2.72, { re: 2, im: 3 }], key2: ['abc', 'xyz'] };
const res = {
  barrier_us: await timeit(() => comm.barrier(), 2000),
  bcast_object_us: await timeit(() => comm.bcast(obj, 0), 2000),
  Allreduce_1MiB_f64_us: await timeit(() => comm.Allreduce(x, y, MPI.SUM), 200),
  allreduce_scalar_object_us: await timeit(() => comm.allreduce(rank, MPI.SUM), 2000),
  Bcast_1MiB_us: await timeit(() => comm.Bcast(x, 0), 200),
};
if (rank === 0) console.log(JSON.stringify({ tool: 'node-ucx', ranks: comm.size, progress: process.env.NODE_UCX_PROGRESS ?? 'event', ...res }));
