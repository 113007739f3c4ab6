// A cluster made of the ranks of an MPI-style job (dask-mpi's initialize()): rank 0 runs the scheduler,
// rank 1 runs this script past initialize() as the client, ranks 2 and up are the workers.
//
//   ucx-run -n 4 node docs/examples/scheduler-mpirun.mjs
//   mpirun -n 4 node docs/examples/scheduler-mpirun.mjs      (Open MPI; add --oversubscribe on few cores)
//   srun -n 4 node docs/examples/scheduler-mpirun.mjs        (Slurm)
import { initialize, delayed } from 'node-ucx/scheduler';

// Only rank 1 gets past this line; the others serve until the client closes, then exit 0.
const client = await initialize();

const info = await client.schedulerInfo();
const workers = Object.keys(info.workers).length;

// Futures: 1000 squares computed on the workers, summed on one of them (the data moves between workers).
const squares = client.map(
  (x) => x * x,
  Array.from({ length: 1000 }, (_, i) => i),
);
const total = client.submit((xs) => xs.reduce((a, b) => a + b, 0), squares);
console.log(`sum of squares of 0..999 on ${workers} workers: ${await total.result()}`);

// delayed(): a small graph, computed on the cluster.
const inc = delayed((x) => x + 1);
const add = delayed((a, b) => a + b);
console.log(`delayed: ${await add(inc(1), inc(2)).compute()}`);

// Closing the client ends the job: the scheduler and the workers exit 0.
await client.close();
