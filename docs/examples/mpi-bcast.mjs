// mpi-bcast.mjs: mpi4py's "broadcasting a Python dictionary".
//
//   mpi4py:  if rank == 0:
//                data = {'key1' : [7, 2.72, 2+3j], 'key2' : ( 'abc', 'xyz')}
//            else:
//                data = None
//            data = comm.bcast(data, root=0)
//
// Lowercase methods move any structured-clone value (objects, arrays, Map, Set, Date,
// BigInt, typed arrays...); JavaScript has no complex numbers, so 2+3j becomes { re, im }.
//
// Run: node dist/cli/ucx-run.js -n 2 node docs/examples/mpi-bcast.mjs
import * as MPI from 'node-ucx/mpi';

const comm = await MPI.init();
let data = null;
if (comm.rank === 0) data = { key1: [7, 2.72, { re: 2, im: 3 }], key2: ['abc', 'xyz'], when: new Date(0) };
data = await comm.bcast(data, 0);
console.log(`rank ${comm.rank}:`, JSON.stringify(data));
if (data.key1[0] !== 7 || data.key2[1] !== 'xyz' || !(data.when instanceof Date)) throw new Error('wrong data');
