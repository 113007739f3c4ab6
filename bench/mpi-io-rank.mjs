// The node-ucx side of the MPI-IO benchmark (bench/mpi-io.mjs runs it under ucx-run; bench/mpi4py_io.py is
// the same program with mpi4py). Every pattern moves `size` bytes in all (the 4-byte strided one `int-size`);
// rank 0 prints one JSON line with the median seconds per pattern, each time from a barrier before to a
// barrier after, a write on a file truncated to 0 first, a read on the file as the write left it.
//   node dist/cli/ucx-run.js -n 4 node bench/mpi-io-rank.mjs --dir DIR --size BYTES --int-size BYTES --iters N
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as MPI from 'node-ucx/mpi';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: '.' },
    size: { type: 'string', default: String(64 << 20) },
    'int-size': { type: 'string', default: String(1 << 20) },
    iters: { type: 'string', default: '5' },
    patterns: { type: 'string' },
  },
});
const size = Number(args.size);
const intSize = Number(args['int-size']);
const iters = Number(args.iters);
const only = args.patterns?.split(',') ?? null;

const comm = await MPI.init();
const { rank, size: ranks } = comm;
const file = path.join(args.dir, `node-ucx-mpi-io-${process.env.NODE_UCX_JOB_ID ?? process.ppid}.dat`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median seconds of `body(fh)` over `iters` runs after one warm-up; `truncate`: on an empty file each time. */
async function time(setup, body, truncate) {
  const fh = await MPI.File.Open(comm, file, MPI.MODE_RDWR | MPI.MODE_CREATE);
  await setup(fh);
  const times = [];
  for (let i = 0; i <= iters; i++) {
    if (truncate) await fh.Set_size(0);
    await comm.Barrier();
    const t0 = MPI.Wtime();
    await body(fh);
    await comm.Barrier();
    if (i > 0) times.push(MPI.Wtime() - t0);
  }
  await fh.Close();
  return median(times);
}

const results = {};
const want = (name) => !only || only.includes(name);
const share = size / ranks;
const block = new Uint8Array(share).fill(rank + 1);
const doubles = new Float64Array(block.buffer); // the tutorial writes doubles
const none = async () => {};

// Contiguous: rank r owns bytes [r S/p, (r + 1) S/p).
if (want('write-at')) results['write-at'] = await time(none, (fh) => fh.Write_at(rank * share, doubles), true);
if (want('write-at-all')) results['write-at-all'] = await time(none, (fh) => fh.Write_at_all(rank * share, doubles), true);
if (want('read-at-all')) {
  const into = new Float64Array(doubles.length);
  results['read-at-all'] = await time(
    (fh) => fh.Write_at_all(rank * share, doubles),
    (fh) => fh.Read_at_all(rank * share, into),
    false,
  );
  if (into[0] !== doubles[0] || into.at(-1) !== doubles.at(-1)) throw new Error('read-at-all read other bytes');
}

// Strided: the tutorial's view, blocks of `bytes` round robin (rank r owns blocks r, r + p, ...).
function strided(bytes, total) {
  const count = total / ranks / bytes;
  const elem = MPI.BYTE.Create_contiguous(bytes).Commit();
  const filetype = elem.Create_vector(count, 1, ranks).Commit();
  return (fh) => fh.Set_view(rank * bytes, MPI.BYTE, filetype);
}
const view4k = strided(4096, size);
if (want('write-strided')) results['write-strided'] = await time(view4k, (fh) => fh.Write(block), true);
if (want('write-all-strided')) results['write-all-strided'] = await time(view4k, (fh) => fh.Write_all(block), true);
if (want('read-all-strided')) {
  const into = new Uint8Array(share);
  results['read-all-strided'] = await time(
    async (fh) => {
      await view4k(fh);
      await fh.Write_all(block);
      await fh.Seek(0);
    },
    async (fh) => {
      await fh.Read_all(into);
      await fh.Seek(0);
    },
    false,
  );
  if (into[0] !== rank + 1 || into.at(-1) !== rank + 1) throw new Error('read-all-strided read other bytes');
}
if (want('write-all-strided-int')) {
  const ints = new Uint8Array(intSize / ranks).fill(rank + 1);
  results['write-all-strided-int'] = await time(strided(4, intSize), (fh) => fh.Write_all(ints), true);
}

if (rank === 0) {
  console.log(JSON.stringify({ tool: 'node-ucx', ranks, size, intSize, iters, results }));
  await MPI.File.Delete(file).catch(() => {});
}
await MPI.finalize();
