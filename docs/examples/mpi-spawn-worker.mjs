// mpi-spawn-worker.mjs: mpi4py's demo/spawning/cpi-worker.py, started by mpi-spawn-master.mjs.
// Its parent is the intercommunicator to the master: Bcast from the master's rank 0, then each
// worker's share of the integral goes back with Reduce.
//
//   mpi4py:  master = MPI.Comm.Get_parent()
//            master.Bcast([n, MPI.INT], root=0)
//            master.Reduce(sendbuf=[pi, MPI.DOUBLE], recvbuf=None, op=MPI.SUM, root=0)
//            master.Disconnect()
import * as MPI from 'node-ucx/mpi';

await MPI.init();
const master = MPI.Comm.Get_parent();
const nprocs = master.Get_size();
const myrank = master.Get_rank();

const n = new Int32Array([0]);
await master.Bcast(n, 0);

const h = 1.0 / n[0];
let s = 0.0;
for (let i = myrank + 1; i <= n[0]; i += nprocs) {
  const x = h * (i - 0.5);
  s += 4.0 / (1.0 + x ** 2);
}
const pi = new Float64Array([s * h]);
await master.Reduce(pi, null, MPI.SUM, 0);

await master.Disconnect();
