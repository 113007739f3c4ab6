// node-ucx/mpi: mpi4py's API for Node.js over UCX. See docs/mpi.md.
//
//   import * as MPI from 'node-ucx/mpi';
//   const comm = await MPI.init();            // COMM_WORLD
//   if (comm.rank === 0) await comm.send({ a: 7 }, 1, 11);
//   else if (comm.rank === 1) console.log(await comm.recv(0, 11));
//
// Launch with `ucx-run -n 4 node script.mjs`, Open MPI's `mpirun -n 4 node script.mjs`
// or Slurm's `srun -n 4 node script.mjs`.
import fs from 'node:fs';
import os from 'node:os';
import { bootstrap } from './bootstrap.js';
import { Comm, setAbortHandler } from './comm.js';
import { MPIError } from './errors.js';
import { Request } from './request.js';
import { World } from './world.js';
import type { ProgressMode, ErrorHandling } from '../index.js';

export { Comm, CartComm } from './comm.js';
export { ANY_SOURCE, ANY_TAG, PROC_NULL, UNDEFINED, IN_PLACE, type InPlace } from './constants.js';
export { TAG_UB, MAX_RANKS, MAX_CONTEXTS } from './tags.js';
export { computeDims } from './topology.js';
export type { VSpec } from './vspec.js';
export {
  Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC, REPLACE, NO_OP, type TypedArray,
} from './op.js';
export { Request, Status } from './request.js';
export { Group, IDENT, SIMILAR, UNEQUAL } from './group.js';
export { MPIError, type MPIErrorCode } from './errors.js';
export { Win, type WinOptions, LOCK_EXCLUSIVE, LOCK_SHARED } from './win.js';
export { detectLaunch, resolveRendezvous, type LaunchInfo, type Launcher } from './bootstrap.js';

/** The communicator of every rank of the job; usable once init() resolved. */
export let COMM_WORLD: Comm = new Comm(null, 0, [0], 0);
/** A communicator of this process alone. */
export let COMM_SELF: Comm = new Comm(null, 1, [0], 0);

type State = 'uninitialized' | 'initializing' | 'initialized' | 'finalizing' | 'finalized';
let state: State = 'uninitialized';
let initPromise: Promise<Comm> | undefined;
let finalizePromise: Promise<void> | undefined;
let world: World | undefined;
let aborting = false;

const PROGRESS_MODES: readonly ProgressMode[] = ['event', 'poll', 'adaptive'];

/**
 * Joins the job (rank and size from the launcher, worker addresses through the rendezvous store) and
 * resolves with COMM_WORLD. Idempotent. Without a launcher it is a job of one rank.
 */
export function init(): Promise<Comm> {
  if (state === 'finalizing' || state === 'finalized') return Promise.reject(new MPIError('ERR_MPI_COMM', 'MPI was finalized; it cannot be initialized again'));
  if (initPromise === undefined) {
    state = 'initializing';
    initPromise = initialize();
  }
  return initPromise;
}

/** mpi4py's name. */
export const Init = init;

async function initialize(): Promise<Comm> {
  const env = process.env;
  const progress = (env.NODE_UCX_PROGRESS ?? 'event') as ProgressMode;
  if (!PROGRESS_MODES.includes(progress)) throw new MPIError('ERR_MPI_ARG', `NODE_UCX_PROGRESS=${progress}: expected event, poll or adaptive`);
  const errorHandling = (env.NODE_UCX_MPI_ERROR_HANDLING ?? 'none') as ErrorHandling;
  if (errorHandling !== 'none' && errorHandling !== 'peer') throw new MPIError('ERR_MPI_ARG', `NODE_UCX_MPI_ERROR_HANDLING=${errorHandling}: expected none or peer`);
  const boot = await bootstrap(jobAbort, env);
  const w = new World(boot, { progress, errorHandling });
  try {
    if (boot.kv !== null) {
      boot.kv.onAbort(jobAbort);
      boot.kv.onLost(() => jobAbort(1, 'lost the connection to the rendezvous server (the launcher or rank 0 is gone)'));
      w.addresses = await boot.kv.exchange('worker-address', w.worker.address, Number(env.NODE_UCX_BOOTSTRAP_TIMEOUT_MS ?? 60_000));
      // The store's connection must not keep the process alive: an MPI program ends when its work does.
      boot.kv.unref();
      boot.server?.unref();
    } else {
      w.addresses = [w.worker.address];
    }
  } catch (error) {
    await w.close().catch(() => {});
    boot.kv?.close();
    await boot.server?.close();
    state = 'uninitialized';
    initPromise = undefined;
    throw error;
  }
  world = w;
  COMM_WORLD = new Comm(w, 0, Array.from({ length: w.size }, (_, i) => i), w.rank);
  COMM_SELF = new Comm(w, 1, [w.rank], 0);
  // Like mpi4py's atexit hook: finalize when the program has nothing left to do.
  process.once('beforeExit', () => {
    if (state !== 'initialized') return;
    finalize().catch((error: unknown) => {
      process.stderr.write(`[node-ucx mpi] rank ${w.rank}: finalize failed: ${String((error as Error)?.message ?? error)}\n`);
      process.exitCode = 1;
    });
  });
  state = 'initialized';
  return COMM_WORLD;
}

/**
 * Leaves the job: a barrier (so that nobody tears down what a peer still uses), then the rendezvous store is
 * told, and UCX is closed. Runs by itself when the event loop empties; call it before process.exit().
 */
export function finalize(): Promise<void> {
  if (finalizePromise !== undefined) return finalizePromise;
  if (state === 'uninitialized') {
    state = 'finalized';
    finalizePromise = Promise.resolve();
    return finalizePromise;
  }
  finalizePromise = (async () => {
    await initPromise;
    state = 'finalizing';
    const w = world!;
    const boot = w.boot;
    if (w.size > 1) await COMM_WORLD.barrier();
    await w.worker.flush().catch(() => {});
    if (boot.kv !== null) await boot.kv.finalize();
    if (boot.server !== null) {
      await boot.server.waitAllFinalized(10_000);
      await boot.server.close();
    }
    if (boot.file !== null) fs.rmSync(boot.file, { force: true });
    await w.close();
    state = 'finalized';
  })();
  return finalizePromise;
}

export const Finalize = finalize;

export function isInitialized(): boolean { return state === 'initialized' || state === 'finalizing' || state === 'finalized'; }
export function isFinalized(): boolean { return state === 'finalized'; }
export const Is_initialized = isInitialized;
export const Is_finalized = isFinalized;

/** Seconds, with nanosecond resolution, from an arbitrary point (MPI_Wtime). */
export function wtime(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** The resolution of wtime() in seconds. */
export function wtick(): number {
  return 1e-9;
}

export const Wtime = wtime;
export const Wtick = wtick;

export function getProcessorName(): string {
  return os.hostname();
}

export const Get_processor_name = getProcessorName;

/** Waits for every request; resolves with their results, in order. */
export const waitall = Request.waitall;
export const waitany = Request.waitany;
export const testall = Request.testall;

// comm.abort() (and abort() below) end the job through abortJob, before init() too.
setAbortHandler(abortJob);

/** Ends the whole job with `code` (MPI_Abort on COMM_WORLD; a code outside 0 ... 255 exits with 1). See Comm.abort(). */
export function abort(code = 1): Promise<never> {
  return COMM_WORLD.abort(code);
}

/**
 * comm.abort(code): tells the others (through the launcher, or rank 0's store), then exits with `code`.
 * The promise never settles: `await` it to stop the calling code where it is.
 */
function abortJob(code: number, reason: string): Promise<never> {
  const w = world;
  if (!aborting) {
    aborting = true;
    process.stderr.write(`[node-ucx mpi] MPI abort: ${reason}\n`);
    process.exitCode = code;
    const boot = w?.boot;
    const told = boot === undefined ? Promise.resolve()
      : boot.server !== null ? boot.server.broadcastAbort(code, reason, w!.rank)
        : boot.kv?.abort(code, reason) ?? Promise.resolve();
    const timer = setTimeout(() => process.exit(code), 2_000);
    void told.finally(() => {
      clearTimeout(timer);
      process.exit(code);
    });
  }
  return new Promise<never>(() => {});
}

/** The job ends because another rank failed or aborted: fail what is pending, then exit with `code`. */
function jobAbort(code: number, reason: string): void {
  if (aborting) return;
  aborting = true;
  process.stderr.write(`[node-ucx mpi] rank ${world?.rank ?? '?'}: ${reason}; exiting with code ${code}\n`);
  if (world !== undefined) {
    world.failed = new MPIError('ERR_MPI_PROC_FAILED', reason);
    // Closing the worker rejects every pending operation (with world.failed); then the process ends.
    void world.worker.close().catch(() => {});
  }
  setTimeout(() => process.exit(code), 200);
}

/** mpi4py spelling of computeDims. */
export { computeDims as Compute_dims } from './topology.js';
