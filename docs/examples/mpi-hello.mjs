// mpi-hello.mjs: mpi4py's "Hello, World!" (demo/helloworld.py) with a barrier.
//
//   mpi4py:  comm = MPI.COMM_WORLD
//            print("Hello, World! I am process %d of %d on %s." % (comm.rank, comm.size, MPI.Get_processor_name()))
//            comm.Barrier()
//
// Run: node dist/cli/ucx-run.js -n 2 node docs/examples/mpi-hello.mjs
//      (or mpirun -n 2 node docs/examples/mpi-hello.mjs under Open MPI)
import * as MPI from 'node-ucx/mpi';

const comm = await MPI.init(); // COMM_WORLD
console.log(`Hello, World! I am process ${comm.rank} of ${comm.size} on ${MPI.getProcessorName()}.`);
await comm.barrier(); // nobody goes on before everybody said hello
if (comm.rank === 0) console.log(`All ${comm.size} processes passed the barrier.`);
// MPI.finalize() runs by itself once the event loop is empty (like mpi4py's atexit hook).
