// mpi-spawn-master.mjs: mpi4py's demo/spawning/cpi-master.py. The master spawns 5 workers
// (mpi-spawn-worker.mjs), broadcasts the number of intervals to them over the intercommunicator
// (MPI.ROOT: "I am the root"; the workers pass the root's rank), and gets their sum back with Reduce.
//
//   mpi4py:  worker = MPI.COMM_SELF.Spawn(cmd, None, 5)
//            worker.Bcast([n, MPI.INT], root=MPI.ROOT)
//            worker.Reduce(sendbuf=None, recvbuf=[pi, MPI.DOUBLE], op=MPI.SUM, root=MPI.ROOT)
//            worker.Disconnect()
//
// Run: node dist/cli/ucx-run.js -n 1 node docs/examples/mpi-spawn-master.mjs [worker.mjs]
//      (or without ucx-run: node docs/examples/mpi-spawn-master.mjs)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as MPI from 'node-ucx/mpi';

const cmd = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'mpi-spawn-worker.mjs');
console.log(`${path.basename(process.argv[1])} -> ${cmd}`);

await MPI.init();
// mpi4py spawns an executable; a Node.js script is spawned as 'node' with the script as its first argument.
const worker = await MPI.COMM_SELF.Spawn('node', [cmd], 5);

const n = new Int32Array([100]);
await worker.Bcast(n, MPI.ROOT);

const pi = new Float64Array([0.0]);
await worker.Reduce(null, pi, MPI.SUM, MPI.ROOT);

await worker.Disconnect();

console.log(`pi: ${pi[0].toFixed(16)}, error: ${Math.abs(Math.PI - pi[0]).toFixed(16)}`);
