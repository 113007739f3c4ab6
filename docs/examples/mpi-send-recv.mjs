// mpi-send-recv.mjs: mpi4py's typed-buffer point-to-point example, with tags.
//
//   mpi4py:  if rank == 0:
//                data = numpy.arange(1000, dtype='i')
//                comm.Send([data, MPI.INT], dest=1, tag=77)
//            elif rank == 1:
//                data = numpy.empty(1000, dtype='i')
//                comm.Recv([data, MPI.INT], source=0, tag=77)
//
// Send/Recv move the typed array's bytes with no copy and no serialization; the tag picks
// which message a receive takes. The Status says who sent what.
//
// Run: node dist/cli/ucx-run.js -n 2 node docs/examples/mpi-send-recv.mjs
import * as MPI from 'node-ucx/mpi';

const comm = await MPI.init();
if (comm.size < 2) throw new Error('run with at least 2 ranks: ucx-run -n 2 node docs/examples/mpi-send-recv.mjs');

if (comm.rank === 0) {
  const data = Int32Array.from({ length: 1000 }, (_, i) => i);
  const squares = Float64Array.from({ length: 10 }, (_, i) => i * i);
  // Sent in this order, received below in the other: the tags keep them apart.
  await comm.Send(squares, 1, 78);
  await comm.Send(data, 1, 77);
} else if (comm.rank === 1) {
  const data = new Int32Array(1000);
  const status = await comm.Recv(data, 0, 77);
  console.log(`rank 1 got ${status.getCount(Int32Array)} ints with tag ${status.tag} from rank ${status.source}:`, data.subarray(0, 5), '...', data[999]);
  const squares = new Float64Array(10);
  await comm.Recv(squares, 0, MPI.ANY_TAG);
  console.log('rank 1 got the squares:', squares);
  if (data[999] !== 999 || squares[9] !== 81) throw new Error('wrong data');
}
