// mpi-osu-latency.mjs: mpi4py's demo/osu_latency.py (the OSU latency test): a ping-pong of 0 B ... 4 MiB
// between two ranks, timed with MPI.Wtime, the half round trip printed per size.
//
//   mpi4py:  s_msg = [s_buf, size, MPI.BYTE]
//            if i == skip: t_start = MPI.Wtime()
//            comm.Send(s_msg, 1, 1); comm.Recv(r_msg, 1, 1)
//            latency = (t_end - t_start) * 1e6 / (2 * loop)
//
// Run: node dist/cli/ucx-run.js -n 2 node docs/examples/mpi-osu-latency.mjs [MAX_MSG_SIZE] [loop]
//      (defaults 4194304 and 10000, as in the original; sizes above 8192 B do 100)
import * as MPI from 'node-ucx/mpi';

async function osuLatency({
  BENCHMARH = 'MPI Latency Test',
  skip = 1000,
  loop = 10000,
  skipLarge = 10,
  loopLarge = 100,
  largeMessageSize = 8192,
  MAX_MSG_SIZE = 1 << 22,
} = {}) {
  const comm = MPI.COMM_WORLD;
  const myid = comm.Get_rank();
  const numprocs = comm.Get_size();

  if (numprocs !== 2) {
    if (myid === 0) console.error('This test requires exactly two processes');
    await MPI.Finalize();
    process.exit(1);
  }

  const sBuf = new Uint8Array(MAX_MSG_SIZE);
  const rBuf = new Uint8Array(MAX_MSG_SIZE);

  if (myid === 0) console.log(`# ${BENCHMARH}`);
  if (myid === 0) console.log(`# ${'Size [B]'.padEnd(8)}${'Latency [us]'.padStart(20)}`);

  const messageSizes = [0, ...Array.from({ length: 30 }, (_, i) => 2 ** i)];
  for (const size of messageSizes) {
    if (size > MAX_MSG_SIZE) break;
    if (size > largeMessageSize) {
      skip = skipLarge;
      loop = loopLarge;
    }
    const sMsg = [sBuf, size, MPI.BYTE];
    const rMsg = [rBuf, size, MPI.BYTE];
    let tStart = 0;
    let tEnd = 0;
    await comm.Barrier();
    if (myid === 0) {
      for (let i = 0; i < loop + skip; i++) {
        if (i === skip) tStart = MPI.Wtime();
        await comm.Send(sMsg, 1, 1);
        await comm.Recv(rMsg, 1, 1);
      }
      tEnd = MPI.Wtime();
    } else if (myid === 1) {
      for (let i = 0; i < loop + skip; i++) {
        await comm.Recv(rMsg, 0, 1);
        await comm.Send(sMsg, 0, 1);
      }
    }
    if (myid === 0) {
      const latency = ((tEnd - tStart) * 1e6) / (2 * loop);
      console.log(`${String(size).padEnd(10)}${latency.toFixed(2).padStart(20)}`);
    }
  }
}

await MPI.Init();
const [maxSize, loops] = process.argv.slice(2).map(Number);
await osuLatency({
  ...(maxSize ? { MAX_MSG_SIZE: maxSize } : {}),
  ...(loops ? { loop: loops, skip: Math.ceil(loops / 10), loopLarge: Math.min(100, loops), skipLarge: Math.min(10, Math.ceil(loops / 10)) } : {}),
});
await MPI.Finalize();
