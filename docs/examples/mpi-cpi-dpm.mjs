// mpi-cpi-dpm.mjs: mpi4py's demo/compute-pi/cpi-dpm.py, "parallel PI computation using Dynamic Process
// Management": a parent spawns children, or a client connects to a server that published a port under
// a service name. The master reads the number of intervals from stdin, sends it to the workers' rank 0,
// which broadcasts it in their COMM_WORLD; the result comes back the same way.
//
// Run:  parent/child:   echo 100 | node dist/cli/ucx-run.js -n 1 node docs/examples/mpi-cpi-dpm.mjs [nchilds]
//       client/server:  node dist/cli/ucx-run.js -n 3 node docs/examples/mpi-cpi-dpm.mjs server [-v] &
//                       echo 100 | node dist/cli/ucx-run.js -n 1 node docs/examples/mpi-cpi-dpm.mjs client [-v]
// (the service name is published in a directory of this user's: NODE_UCX_NAME_DIR, or os.tmpdir()'s)
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as MPI from 'node-ucx/mpi';

const argv = process.argv.slice(2);
let VERBOSE = false;
if (argv.includes('-v')) {
  VERBOSE = true;
  argv.splice(argv.indexOf('-v'), 1);
}

async function getN() {
  process.stdout.write('Enter the number of intervals: (0 quits) ');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    const n = Number.parseInt(line, 10);
    return Number.isInteger(n) && n > 0 ? n : 0;
  }
  return 0;
}

function view(pi, np = null, wt = null) {
  if (pi !== null) {
    process.stdout.write(`computed pi is:  ${pi.toFixed(16)}\n`);
    process.stdout.write(`absolute error:  ${Math.abs(pi - Math.PI).toFixed(16)}\n`);
  }
  if (np !== null) process.stdout.write(`computing units: ${np} processes\n`);
  if (wt !== null) process.stdout.write(`wall clock time: ${wt} seconds\n`);
}

async function compPi(n, comm, root = 0) {
  const nprocs = comm.Get_size();
  const myrank = comm.Get_rank();
  const N = new Int32Array([n]);
  await comm.Bcast(N, root);
  if (N[0] === 0) return 0.0;
  const h = 1.0 / N[0];
  let s = 0.0;
  for (let i = myrank; i < N[0]; i += nprocs) {
    const x = h * (i + 0.5);
    s += 4.0 / (1.0 + x ** 2);
  }
  const mypi = new Float64Array([s * h]);
  const pi = new Float64Array(1);
  await comm.Reduce(mypi, comm.rank === root ? pi : null, MPI.SUM, root);
  return pi[0];
}

async function master(icomm) {
  const n = await getN();
  let wt = MPI.Wtime();
  await icomm.Send(new Int32Array([n]), 0);
  const pi = new Float64Array(1);
  await icomm.Recv(pi, 0);
  wt = MPI.Wtime() - wt;
  if (n === 0) return;
  const np = icomm.Get_remote_size();
  view(pi[0], np, wt);
}

async function worker(icomm) {
  const myrank = icomm.Get_rank();
  const source = myrank === 0 ? 0 : MPI.PROC_NULL;
  const dest = source;
  const n = new Int32Array(1);
  await icomm.Recv(n, source);
  const pi = await compPi(n[0], MPI.COMM_WORLD, 0);
  await icomm.Send(new Float64Array([pi]), dest);
}

// Parent/Child

async function mainParent(nprocs = 1) {
  if (!(nprocs > 0) || MPI.COMM_WORLD.Get_size() !== 1) throw new Error('the parent is a job of one process');
  const icomm = await MPI.COMM_WORLD.Spawn('node', [fileURLToPath(import.meta.url), 'child'], nprocs);
  await master(icomm);
  await icomm.Disconnect();
}

async function mainChild() {
  const icomm = MPI.Comm.Get_parent();
  if (icomm === MPI.COMM_NULL) throw new Error('not spawned');
  await worker(icomm);
  await icomm.Disconnect();
}

// Client/Server

async function mainServer(COMM) {
  const myrank = COMM.Get_rank();
  let service = null;
  let port = null;
  const info = MPI.INFO_NULL;
  if (myrank === 0) {
    port = await MPI.Open_port(info);
    log(COMM, `open port '${port}'`);
    service = 'cpi';
    MPI.Publish_name(service, port, info);
    log(COMM, `service '${service}' published.`);
  }
  log(COMM, 'waiting for client connection ...');
  const icomm = await COMM.Accept(port, info, 0);
  log(COMM, 'client connection accepted.');
  await worker(icomm);
  log(COMM, 'disconnecting from client ...');
  await icomm.Disconnect();
  log(COMM, 'client disconnected.');
  if (myrank === 0) {
    MPI.Unpublish_name(service, port, info);
    log(COMM, `service '${service}' unpublished`);
    await MPI.Close_port(port);
    log(COMM, `closed  port '${port}' `);
  }
}

async function mainClient(COMM) {
  if (COMM.Get_size() !== 1) throw new Error('the client is a job of one process');
  const service = 'cpi';
  const info = MPI.INFO_NULL;
  const port = MPI.Lookup_name(service, info);
  log(COMM, `service '${service}' found in port '${port}'.`);
  log(COMM, 'connecting to server ...');
  const icomm = await COMM.Connect(port, info, 0);
  log(COMM, 'server connected.');
  await master(icomm);
  log(COMM, 'disconnecting from server ...');
  await icomm.Disconnect();
  log(COMM, 'server disconnected.');
}

function log(COMM, text) {
  if (!VERBOSE || COMM.rank !== 0) return;
  process.stdout.write(`${text}\n`);
}

await MPI.init();
if (argv.includes('server')) await mainServer(MPI.COMM_WORLD);
else if (argv.includes('client')) await mainClient(MPI.COMM_WORLD);
else if (argv.includes('child')) await mainChild();
else await mainParent(Number.parseInt(argv[0] ?? '2', 10) || 2);
