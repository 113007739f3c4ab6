// P8: the MPI shim's collectives, timed exactly like bench/mpi/mpi4py_collectives.py (the first five
// rows are ../shared/anchors/mpi4py_collectives.py's: same operations, sizes, iteration counts and
// warm-up), so the two compare as a ratio in one run. bench/mpi/run.mjs runs both, interleaved.
//   node dist/cli/ucx-run.js -n 4 node bench/mpi-collectives.mjs
// Rank 0 prints one JSON line (µs per operation). "1 MiB" is the largest buffer of the call: each rank's
// send and receive buffer (Allreduce, Bcast, Alltoall: blocks of 1/size of it), the root's receive buffer
// (Gather: each rank sends 1/size), the root's send buffer (Scatter), each rank's send buffer
// (Reduce_scatter_block: each rank keeps 1/size).
import * as MPI from 'node-ucx/mpi';

const comm = await MPI.init();
const rank = comm.rank;
const size = comm.size;

async function timeit(fn, n) {
  for (let i = 0; i < Math.max(1, Math.floor(n / 10)); i++) await fn();
  await comm.barrier();
  const t0 = MPI.wtime();
  for (let i = 0; i < n; i++) await fn();
  return ((MPI.wtime() - t0) / n) * 1e6;
}

const x = new Float64Array(1 << 17).fill(rank); // 1 MiB of float64
const y = new Float64Array(x.length);
const block = x.length / size; // 1 MiB / size (size divides 2^17 for 1, 2, 4, 8 ...)
const part = x.subarray(0, block);
const into = y.subarray(0, block);
const obj = { key1: [7, 2.72, { re: 2, im: 3 }], key2: ['abc', 'xyz'] };
const only = process.env.NODE_UCX_BENCH_ONLY?.split(',');
const cases = [
  ['barrier_us', () => comm.barrier(), 2000],
  ['bcast_object_us', () => comm.bcast(obj, 0), 2000],
  ['Allreduce_1MiB_f64_us', () => comm.Allreduce(x, y, MPI.SUM), 200],
  ['allreduce_scalar_object_us', () => comm.allreduce(rank, MPI.SUM), 2000],
  ['Bcast_1MiB_us', () => comm.Bcast(x, 0), 200],
  ['Alltoall_1MiB_us', () => comm.Alltoall(x, y), 200],
  ['Gather_1MiB_us', () => comm.Gather(part, rank === 0 ? y : null, 0), 200],
  ['Scatter_1MiB_us', () => comm.Scatter(rank === 0 ? x : null, into, 0), 200],
  ['Reduce_scatter_block_1MiB_us', () => comm.Reduce_scatter_block(x, into, MPI.SUM), 200],
];
const res = {};
for (const [name, fn, n] of cases) if (!only || only.includes(name)) res[name] = await timeit(fn, n);
if (rank === 0) console.log(JSON.stringify({ tool: 'node-ucx', ranks: size, progress: process.env.NODE_UCX_PROGRESS ?? 'default', ...res }));
