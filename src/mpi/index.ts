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
import { bootstrap, detectLaunch, leaveLauncher } from './bootstrap.js';
import { abortAll, connectToParent, disconnectAll, setLostJobHandler } from './dpm.js';
import { Comm, setAbortHandler } from './comm.js';
import { MPIError, ERROR_CLASSES, getErrorClass, getErrorString, addErrorClass, addErrorCode, addErrorString } from './errors.js';
import { rc as errhandlerRc, runtime as errhandlerRuntime, type ErrorsMode } from './errhandler.js';
import { opSettings, type ObjectSemantics } from './op.js';
import { Request } from './request.js';
import { setSelfComm } from './win.js';
import { World, type RankErrorHandling } from './world.js';
import { decodeCard, encodeCard, ownCard } from './card.js';
import { isMainThread } from 'node:worker_threads';
import { version } from '../index.js';
import { rankProgress } from './progress.js';

export { Comm, CartComm, COMM_TYPE_SHARED, WTIME_IS_GLOBAL, type Buf, type ReduceBuf, type VBuf } from './comm.js';
export { Intercomm, ROOT } from './intercomm.js';
export {
  getParent,
  openPort,
  closePort,
  publishName,
  lookupName,
  unpublishName,
  getParent as Get_parent,
  openPort as Open_port,
  closePort as Close_port,
  publishName as Publish_name,
  lookupName as Lookup_name,
  unpublishName as Unpublish_name,
} from './dpm.js';
/** MPI_COMM_NULL: what getParent() gives a job that was not spawned. */
export const COMM_NULL = null;
export { ANY_SOURCE, ANY_TAG, PROC_NULL, UNDEFINED, IN_PLACE, type InPlace } from './constants.js';
export { TAG_UB, MAX_RANKS, MAX_CONTEXTS } from './tags.js';
export { computeDims } from './topology.js';
export type { VSpec } from './vspec.js';
export type { BufSpec, VBufSpec } from './bufspec.js';
export {
  Datatype,
  ORDER_C,
  ORDER_FORTRAN,
  DATATYPE_NULL,
  TYPECODES,
  CHAR,
  SIGNED_CHAR,
  UNSIGNED_CHAR,
  BYTE,
  SHORT,
  UNSIGNED_SHORT,
  INT,
  UNSIGNED,
  LONG,
  UNSIGNED_LONG,
  LONG_LONG,
  UNSIGNED_LONG_LONG,
  FLOAT,
  DOUBLE,
  LONG_DOUBLE,
  C_BOOL,
  BOOL,
  WCHAR,
  INT8_T,
  INT16_T,
  INT32_T,
  INT64_T,
  UINT8_T,
  UINT16_T,
  UINT32_T,
  UINT64_T,
  AINT,
  OFFSET,
  COUNT,
  C_FLOAT_COMPLEX,
  C_DOUBLE_COMPLEX,
  C_COMPLEX,
  COMPLEX,
  DOUBLE_COMPLEX,
  FLOAT32_T,
  FLOAT64_T,
  PACKED,
  FLOAT_INT,
  DOUBLE_INT,
  LONG_INT,
  SHORT_INT,
  TWOINT,
  INT_INT,
} from './datatype.js';
export { Errhandler, ERRORS_ARE_FATAL, ERRORS_RETURN, ERRORS_ABORT, type ErrorsMode } from './errhandler.js';
export { Info, INFO_NULL, INFO_ENV } from './info.js';
export { Message, MESSAGE_NULL, MESSAGE_NO_PROC } from './message.js';
export {
  File,
  FILE_NULL,
  ioDefaults,
  MODE_CREATE,
  MODE_RDONLY,
  MODE_WRONLY,
  MODE_RDWR,
  MODE_DELETE_ON_CLOSE,
  MODE_UNIQUE_OPEN,
  MODE_EXCL,
  MODE_APPEND,
  MODE_SEQUENTIAL,
  SEEK_SET,
  SEEK_CUR,
  SEEK_END,
  DISPLACEMENT_CURRENT,
} from './file.js';
export { Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC, REPLACE, NO_OP, type TypedArray } from './op.js';
export { Request, Prequest, Status } from './request.js';
export { Group, IDENT, SIMILAR, UNEQUAL } from './group.js';
export {
  MPIError,
  MPIError as Exception,
  ERR_LASTCODE,
  getErrorClass,
  getErrorString,
  addErrorClass,
  addErrorCode,
  addErrorString,
  type MPIErrorCode,
} from './errors.js';
export {
  Win,
  type WinOptions,
  type Target,
  LOCK_EXCLUSIVE,
  LOCK_SHARED,
  WIN_FLAVOR_CREATE,
  WIN_FLAVOR_ALLOCATE,
  MODE_NOCHECK,
  MODE_NOSTORE,
  MODE_NOPUT,
  MODE_NOPRECEDE,
  MODE_NOSUCCEED,
} from './win.js';

/** MPI's error classes as numbers (Open MPI's, as mpi4py's MPI.ERR_* there): MPIError.errorClass is one. */
export const {
  /** MPI_SUCCESS (0): No errors. */
  SUCCESS,
  /** MPI_ERR_BUFFER (1): Invalid buffer pointer. MPIError.code 'ERR_MPI_BUFFER'. */
  ERR_BUFFER,
  /** MPI_ERR_COUNT (2): Invalid count argument. MPIError.code 'ERR_MPI_COUNT'. */
  ERR_COUNT,
  /** MPI_ERR_TYPE (3): Invalid datatype. MPIError.code 'ERR_MPI_TYPE'. */
  ERR_TYPE,
  /** MPI_ERR_TAG (4): Invalid tag. MPIError.code 'ERR_MPI_TAG'. */
  ERR_TAG,
  /** MPI_ERR_COMM (5): Invalid communicator. MPIError.code 'ERR_MPI_COMM'. */
  ERR_COMM,
  /** MPI_ERR_RANK (6): Invalid rank. MPIError.code 'ERR_MPI_RANK'. */
  ERR_RANK,
  /** MPI_ERR_REQUEST (7): Invalid request. MPIError.code 'ERR_MPI_REQUEST'. */
  ERR_REQUEST,
  /** MPI_ERR_ROOT (8): Invalid root. MPIError.code 'ERR_MPI_ROOT'. */
  ERR_ROOT,
  /** MPI_ERR_GROUP (9): Invalid group. MPIError.code 'ERR_MPI_GROUP'. */
  ERR_GROUP,
  /** MPI_ERR_OP (10): Invalid reduce operation. MPIError.code 'ERR_MPI_OP'. */
  ERR_OP,
  /** MPI_ERR_TOPOLOGY (11): Invalid communicator topology. MPIError.code 'ERR_MPI_TOPOLOGY'. */
  ERR_TOPOLOGY,
  /** MPI_ERR_DIMS (12): Invalid topology dimension. MPIError.code 'ERR_MPI_DIMS'. */
  ERR_DIMS,
  /** MPI_ERR_ARG (13): Invalid argument of some other kind. MPIError.code 'ERR_MPI_ARG'. */
  ERR_ARG,
  /** MPI_ERR_UNKNOWN (14): Unknown error. MPIError.code 'ERR_MPI_UNKNOWN'. */
  ERR_UNKNOWN,
  /** MPI_ERR_TRUNCATE (15): Message truncated. MPIError.code 'ERR_MPI_TRUNCATE'. */
  ERR_TRUNCATE,
  /** MPI_ERR_OTHER (16): Known error not in this list. MPIError.code 'ERR_MPI_OTHER'. */
  ERR_OTHER,
  /** MPI_ERR_INTERN (17): Internal error. MPIError.code 'ERR_MPI_INTERN'. */
  ERR_INTERN,
  /** MPI_ERR_IN_STATUS (18): Error code is in status. MPIError.code 'ERR_MPI_IN_STATUS'. */
  ERR_IN_STATUS,
  /** MPI_ERR_PENDING (19): Pending request. MPIError.code 'ERR_MPI_PENDING'. */
  ERR_PENDING,
  /** MPI_ERR_ACCESS (20): Invalid access mode (permission denied). MPIError.code 'ERR_MPI_ACCESS'. */
  ERR_ACCESS,
  /** MPI_ERR_AMODE (21): Invalid amode argument. MPIError.code 'ERR_MPI_AMODE'. */
  ERR_AMODE,
  /** MPI_ERR_ASSERT (22): Invalid assert argument. MPIError.code 'ERR_MPI_ASSERT'. */
  ERR_ASSERT,
  /** MPI_ERR_BAD_FILE (23): Bad file. MPIError.code 'ERR_MPI_BAD_FILE'. */
  ERR_BAD_FILE,
  /** MPI_ERR_BASE (24): Invalid base. MPIError.code 'ERR_MPI_BASE'. */
  ERR_BASE,
  /** MPI_ERR_CONVERSION (25): Error in data conversion. MPIError.code 'ERR_MPI_CONVERSION'. */
  ERR_CONVERSION,
  /** MPI_ERR_DISP (26): Invalid displacement. MPIError.code 'ERR_MPI_DISP'. */
  ERR_DISP,
  /** MPI_ERR_DUP_DATAREP (27): Conversion functions could not be registered because the data representation identifier was already defined. MPIError.code 'ERR_MPI_DUP_DATAREP'. */
  ERR_DUP_DATAREP,
  /** MPI_ERR_FILE_EXISTS (28): File exists. MPIError.code 'ERR_MPI_FILE_EXISTS'. */
  ERR_FILE_EXISTS,
  /** MPI_ERR_FILE_IN_USE (29): File operation could not be completed, the file is in use. MPIError.code 'ERR_MPI_FILE_IN_USE'. */
  ERR_FILE_IN_USE,
  /** MPI_ERR_FILE (30): Invalid file. MPIError.code 'ERR_MPI_FILE'. */
  ERR_FILE,
  /** MPI_ERR_INFO_KEY (31): Illegal info key. MPIError.code 'ERR_MPI_INFO_KEY'. */
  ERR_INFO_KEY,
  /** MPI_ERR_INFO_NOKEY (32): No such key. MPIError.code 'ERR_MPI_INFO_NOKEY'. */
  ERR_INFO_NOKEY,
  /** MPI_ERR_INFO_VALUE (33): Illegal info value. MPIError.code 'ERR_MPI_INFO_VALUE'. */
  ERR_INFO_VALUE,
  /** MPI_ERR_INFO (34): Invalid info object. MPIError.code 'ERR_MPI_INFO'. */
  ERR_INFO,
  /** MPI_ERR_IO (35): Input/output error. MPIError.code 'ERR_MPI_IO'. */
  ERR_IO,
  /** MPI_ERR_KEYVAL (36): Invalid key value. MPIError.code 'ERR_MPI_KEYVAL'. */
  ERR_KEYVAL,
  /** MPI_ERR_LOCKTYPE (37): Invalid lock. MPIError.code 'ERR_MPI_LOCKTYPE'. */
  ERR_LOCKTYPE,
  /** MPI_ERR_NAME (38): Name not found. MPIError.code 'ERR_MPI_NAME'. */
  ERR_NAME,
  /** MPI_ERR_NO_MEM (39): Out of memory. MPIError.code 'ERR_MPI_NO_MEM'. */
  ERR_NO_MEM,
  /** MPI_ERR_NOT_SAME (40): Objects are not identical. MPIError.code 'ERR_MPI_NOT_SAME'. */
  ERR_NOT_SAME,
  /** MPI_ERR_NO_SPACE (41): No space left on device. MPIError.code 'ERR_MPI_NO_SPACE'. */
  ERR_NO_SPACE,
  /** MPI_ERR_NO_SUCH_FILE (42): No such file or directory. MPIError.code 'ERR_MPI_NO_SUCH_FILE'. */
  ERR_NO_SUCH_FILE,
  /** MPI_ERR_PORT (43): Invalid port. MPIError.code 'ERR_MPI_PORT'. */
  ERR_PORT,
  /** MPI_ERR_QUOTA (44): Out of quota. MPIError.code 'ERR_MPI_QUOTA'. */
  ERR_QUOTA,
  /** MPI_ERR_READ_ONLY (45): File is read only. MPIError.code 'ERR_MPI_READ_ONLY'. */
  ERR_READ_ONLY,
  /** MPI_ERR_RMA_CONFLICT (46): Rma conflict during operation. MPIError.code 'ERR_MPI_RMA_CONFLICT'. */
  ERR_RMA_CONFLICT,
  /** MPI_ERR_RMA_SYNC (47): Error executing rma sync. MPIError.code 'ERR_MPI_RMA_SYNC'. */
  ERR_RMA_SYNC,
  /** MPI_ERR_SERVICE (48): Unknown service name. MPIError.code 'ERR_MPI_SERVICE'. */
  ERR_SERVICE,
  /** MPI_ERR_SIZE (49): Invalid size. MPIError.code 'ERR_MPI_SIZE'. */
  ERR_SIZE,
  /** MPI_ERR_SPAWN (50): Could not spawn processes. MPIError.code 'ERR_MPI_SPAWN'. */
  ERR_SPAWN,
  /** MPI_ERR_UNSUPPORTED_DATAREP (51): Requested file data representation is not supported. MPIError.code 'ERR_MPI_UNSUPPORTED_DATAREP'. */
  ERR_UNSUPPORTED_DATAREP,
  /** MPI_ERR_UNSUPPORTED_OPERATION (52): Requested operation is not supported. MPIError.code 'ERR_MPI_UNSUPPORTED_OPERATION'. */
  ERR_UNSUPPORTED_OPERATION,
  /** MPI_ERR_WIN (53): Invalid window. MPIError.code 'ERR_MPI_WIN'. */
  ERR_WIN,
  /** MPI_ERR_RMA_RANGE (68): Invalid RMA range (past the target window). MPIError.code 'ERR_MPI_RMA_RANGE'. */
  ERR_RMA_RANGE,
  /** MPI_ERR_RMA_ATTACH (69): Could not attach RMA segment. MPIError.code 'ERR_MPI_RMA_ATTACH'. */
  ERR_RMA_ATTACH,
  /** MPI_ERR_RMA_FLAVOR (70): The window flavor does not support this operation. MPIError.code 'ERR_MPI_RMA_FLAVOR'. */
  ERR_RMA_FLAVOR,
  /** MPI_ERR_RMA_SHARED (71): Memory cannot be shared. MPIError.code 'ERR_MPI_RMA_SHARED'. */
  ERR_RMA_SHARED,
  /** MPI_ERR_PROC_FAILED (75): A process in the operation has failed (or the job is being aborted). MPIError.code 'ERR_MPI_PROC_FAILED'. */
  ERR_PROC_FAILED,
} = ERROR_CLASSES as Record<string, number>;

/** mpi4py's name for getErrorClass(). */
export const Get_error_class = getErrorClass;
/** mpi4py's name for getErrorString(). */
export const Get_error_string = getErrorString;
/** mpi4py's name for addErrorClass(). */
export const Add_error_class = addErrorClass;
/** mpi4py's name for addErrorCode(). */
export const Add_error_code = addErrorCode;
/** mpi4py's name for addErrorString(). */
export const Add_error_string = addErrorString;

/**
 * mpi4py's rc, set before init(): `errors` ('exception' by default: failures reject/throw; 'fatal', 'abort':
 * they end the job; 'default': MPI's own defaults), and `objectOps` ('elementwise' by default; 'python':
 * built-in ops combine objects as mpi4py does, with Python's operators: SUM concatenates arrays, MAX
 * compares them lexicographically).
 */
export const rc = {
  /** Which error handlers objects start with: 'exception' (the default), 'default', 'fatal' or 'abort'. */
  get errors(): ErrorsMode {
    return errhandlerRc.errors;
  },
  /** Sets it (before init(): objects made later start with it); ERR_MPI_ARG for anything else. */
  set errors(mode: ErrorsMode) {
    if (!['exception', 'default', 'fatal', 'abort'].includes(mode))
      throw new MPIError('ERR_MPI_ARG', `rc.errors: '${String(mode)}' is not exception, default, fatal or abort`);
    errhandlerRc.errors = mode;
  },
  /** How built-in ops combine objects in the lowercase collectives: 'elementwise' (the default) or 'python'. */
  get objectOps(): ObjectSemantics {
    return opSettings.objectOps;
  },
  /** Sets it; ERR_MPI_ARG for anything else. */
  set objectOps(mode: ObjectSemantics) {
    if (mode !== 'elementwise' && mode !== 'python') throw new MPIError('ERR_MPI_ARG', `rc.objectOps: '${String(mode)}' is not elementwise or python`);
    opSettings.objectOps = mode;
  },
};

/** Thread support levels. A Node process makes MPI calls from the thread that called init() only. */
export const THREAD_SINGLE = 0;
/** Only the thread that called init() makes MPI calls (MPI_THREAD_FUNNELED): the level provided here. */
export const THREAD_FUNNELED = 1;
/** Any thread, one at a time (MPI_THREAD_SERIALIZED): may be asked for; THREAD_FUNNELED is provided. */
export const THREAD_SERIALIZED = 2;
/** Any thread at any time (MPI_THREAD_MULTIPLE): initThread()'s default request; THREAD_FUNNELED is provided. */
export const THREAD_MULTIPLE = 3;
/** The MPI standard version this follows (mpi4py's Get_version on Open MPI 4.1 says the same). */
export const VERSION = 3;
/** The MPI standard's subversion (3.1). */
export const SUBVERSION = 1;
/** MPI_BOTTOM: no buffer (Win.Create(MPI.BOTTOM) exposes no memory). */
export const BOTTOM = null;
/** The bytes Bsend needs beyond the message in an attached buffer (none: Bsend copies). */
export const BSEND_OVERHEAD = 0;
export { detectLaunch, resolveRendezvous, type LaunchInfo, type Launcher } from './bootstrap.js';

// Open MPI's mpirun gives each rank a pseudo-terminal for its output, whatever its own output is (a file,
// a pipe, a CI log): console.log would colour objects with escape codes there. Ranks under mpirun write
// plain text, as mpi4py's do, unless FORCE_COLOR asks for colours.
if (process.env.OMPI_COMM_WORLD_RANK !== undefined && process.env.FORCE_COLOR === undefined) {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.isTTY) Object.assign(stream, { getColorDepth: () => 1, hasColors: () => false });
  }
}

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
  const progress = rankProgress(env, os.availableParallelism());
  const errorHandling = (env.NODE_UCX_MPI_ERROR_HANDLING ?? 'auto') as RankErrorHandling;
  if (errorHandling !== 'none' && errorHandling !== 'peer' && errorHandling !== 'auto') {
    throw new MPIError('ERR_MPI_ARG', `NODE_UCX_MPI_ERROR_HANDLING=${errorHandling}: expected auto, none or peer`);
  }
  const launch = detectLaunch(env);
  const w = new World(launch, { ...progress, errorHandling });
  try {
    const boot = await bootstrap(launch, encodeCard(ownCard(w.worker.address)), env);
    w.boot = boot;
    try {
      w.addProcesses(boot.cards.map((bytes, rank) => decodeCard(bytes, `rank ${rank}`)));
    } catch (error) {
      boot.kv?.close();
      throw error;
    }
    boot.kv?.onAbort(jobAbort);
    boot.kv?.onLost((reason) => jobAbort(1, reason));
  } catch (error) {
    await w.close().catch(() => {});
    state = 'uninitialized';
    initPromise = undefined;
    throw error;
  }
  world = w;
  COMM_WORLD = new Comm(
    w,
    0,
    Array.from({ length: w.size }, (_, i) => i),
    w.rank,
  );
  COMM_SELF = new Comm(w, 1, [w.rank], 0);
  setAbortHandler(abortJob);
  setLostJobHandler((reason) => {
    void abortJob(1, reason);
  });
  try {
    // A spawned job meets its parent (docs/mpi.md, "Dynamic processes").
    await connectToParent(COMM_WORLD);
  } catch (error) {
    w.boot.kv?.close();
    await w.close().catch(() => {});
    world = undefined;
    state = 'uninitialized';
    initPromise = undefined;
    throw error;
  }
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
    // Connected jobs are disconnected first (collectively with them), so that either may then end alone.
    await disconnectAll();
    if (w.size > 1) await COMM_WORLD.barrier();
    await w.worker.flush().catch(() => {});
    // Every rank has flushed before any closes its endpoints: a close then never meets a peer mid-flush
    // (which UCX reports as 'error during flush: Endpoint timeout' on endpoints without peer error handling).
    if (boot.kv !== null) await boot.kv.finalize();
    if (boot.file !== null) fs.rmSync(boot.file, { force: true });
    await w.close();
    leaveLauncher(boot);
    state = 'finalized';
  })();
  return finalizePromise;
}

/** mpi4py's name for finalize(). */
export const Finalize = finalize;

/** Whether init() has completed (MPI_Initialized), even if finalize() was called since. */
export function isInitialized(): boolean {
  return state === 'initialized' || state === 'finalizing' || state === 'finalized';
}
/** Whether finalize() has completed (MPI_Finalized). */
export function isFinalized(): boolean {
  return state === 'finalized';
}
/** mpi4py's name for isInitialized(). */
export const Is_initialized = isInitialized;
/** mpi4py's name for isFinalized(). */
export const Is_finalized = isFinalized;

/** Seconds, with nanosecond resolution, from an arbitrary point (MPI_Wtime). */
export function wtime(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** The resolution of wtime() in seconds. */
export function wtick(): number {
  return 1e-9;
}

/** mpi4py's name for wtime(). */
export const Wtime = wtime;
/** mpi4py's name for wtick(). */
export const Wtick = wtick;

/** This host's name (MPI_Get_processor_name). */
export function getProcessorName(): string {
  return os.hostname();
}

/** mpi4py's name for getProcessorName(). */
export const Get_processor_name = getProcessorName;

/** Waits for every request; resolves with their results, in order. */
export const waitall = Request.waitall;
/** Request.waitany(): waits for the first request to complete. */
export const waitany = Request.waitany;
/** Request.testall(): whether every request is complete, without waiting. */
export const testall = Request.testall;

// comm.abort() (and abort() below) end the job through abortJob, before init() too; so do fatal error handlers.
setAbortHandler(abortJob);
errhandlerRuntime.abort = abortJob;
setSelfComm(() => COMM_SELF);

/**
 * init() with a thread level (MPI_Init_thread): resolves with the level provided. Node runs a process's
 * JavaScript on one thread, so MPI calls come from the thread that called init(): THREAD_FUNNELED (worker
 * threads cannot reach this job's communicators). Operations may still overlap, as promises.
 */
export async function initThread(required = THREAD_MULTIPLE): Promise<number> {
  if (!Number.isInteger(required) || required < THREAD_SINGLE || required > THREAD_MULTIPLE) {
    throw new MPIError('ERR_MPI_ARG', `initThread: ${String(required)} is not a thread level (THREAD_SINGLE ... THREAD_MULTIPLE)`);
  }
  await init();
  return queryThread();
}

/** mpi4py's name for initThread(). */
export const Init_thread = initThread;

/** The thread level provided (MPI_Query_thread). */
export function queryThread(): number {
  return THREAD_FUNNELED;
}

/** mpi4py's name for queryThread(). */
export const Query_thread = queryThread;

/** Whether this is the thread that called init() (worker threads do not share this MPI). */
export function isThreadMain(): boolean {
  return isMainThread;
}

/** mpi4py's name for isThreadMain(). */
export const Is_thread_main = isThreadMain;

/** [version, subversion] of the MPI standard followed. */
export function getVersion(): [number, number] {
  return [VERSION, SUBVERSION];
}

/** mpi4py's name for getVersion(). */
export const Get_version = getVersion;

/** The library behind it: node-ucx's and UCX's versions. */
export function getLibraryVersion(): string {
  return `node-ucx ${version.binding} (MPI ${VERSION}.${SUBVERSION} subset over UCX ${version.ucx})`;
}

/** mpi4py's name for getLibraryVersion(). */
export const Get_library_version = getLibraryVersion;

let attached: ArrayBufferView | null = null;
/** Attaches a buffer for buffered sends (MPI_Buffer_attach). Bsend copies the data itself, so it only keeps it. */
export function attachBuffer(buf: ArrayBufferView): void {
  if (!ArrayBuffer.isView(buf)) throw new MPIError('ERR_MPI_BUFFER', 'attachBuffer takes a buffer');
  if (attached !== null) throw new MPIError('ERR_MPI_BUFFER', 'a buffer is already attached (detachBuffer first)');
  attached = buf;
}

/** Detaches the attached buffer and returns it. */
export function detachBuffer(): ArrayBufferView | null {
  const buf = attached;
  attached = null;
  return buf;
}

/** mpi4py's name for attachBuffer(). */
export const Attach_buffer = attachBuffer;
/** mpi4py's name for detachBuffer(). */
export const Detach_buffer = detachBuffer;

/** Memory for windows and buffers (MPI_Alloc_mem): a zeroed Buffer. */
export function allocMem(size: number, _info: unknown = null): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new MPIError('ERR_MPI_ARG', `allocMem: ${String(size)} is not a size`);
  return Buffer.alloc(size);
}

/** Releases memory from allocMem (the garbage collector does it). */
export function freeMem(_mem: unknown): void {}

/** mpi4py's name for allocMem(). */
export const Alloc_mem = allocMem;
/** mpi4py's name for freeMem(). */
export const Free_mem = freeMem;

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
    const told = w?.boot?.kv?.abort(code, reason) ?? Promise.resolve();
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
  abortAll();
  if (world !== undefined) {
    world.failed = new MPIError('ERR_MPI_PROC_FAILED', reason);
    // Closing the worker rejects every pending operation (with world.failed); then the process ends.
    void world.worker.close().catch(() => {});
  }
  setTimeout(() => process.exit(code), 200);
}

/** mpi4py spelling of computeDims. */
export { computeDims as Compute_dims } from './topology.js';
