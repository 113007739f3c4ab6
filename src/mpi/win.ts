// RMA windows (MPI_Win) over UCX memory registration, remote keys, put/get and
// atomics. Every rank registers its window memory and a 16-byte control block
// (a reader-writer lock word for lock/unlock and a lock word for accumulates)
// and gives the others their packed remote keys; put and get then go straight
// to the target's memory with no action by the target. Targets may be a
// displacement or mpi4py's (disp, count, datatype): a strided target datatype
// becomes one put or get per contiguous run.
import { Endpoint, type Data, type MemoryHandle, type RemoteKey } from '../index.js';
import { kInternals, Comm } from './comm.js';
import { MPIError } from './errors.js';
import { byteLength, isDevice, typedLike } from './buffers.js';
import { Op, SUM, BAND, BOR, BXOR, REPLACE, NO_OP, isTypedArray, type TypedArray } from './op.js';
import { Errhandler, defaultErrhandler, routeErrors, validateErrhandler } from './errhandler.js';
import { asDatatype, viewBytes, type Datatype } from './datatype.js';
import { parsePayload, typedArg, type BufSpec, type Payload, type TypedPayload } from './bufspec.js';
import { Runs } from './fileview.js';
import { Request } from './request.js';
import type { Group } from './group.js';
import type { Info } from './info.js';
import type { World } from './world.js';

/** Options of Win.allocate() and Win.create(). */
export interface WinOptions {
  /** The unit of target displacements in bytes (MPI's disp_unit); default 1. */
  dispUnit?: number;
}

/** mpi4py's target argument: a displacement (in disp units), or [disp, count?, datatype?]; null/undefined: 0. */
export type Target = number | null | undefined | readonly [disp: number, count?: number, datatype?: Datatype | string];

/** Win.lock(): an exclusive lock (no other rank holds one on that target meanwhile). */
export const LOCK_EXCLUSIVE = 234;
/** Win.lock(): a shared lock (with other shared lockers). */
export const LOCK_SHARED = 235;
/** Window flavors (Win.flavor). */
export const WIN_FLAVOR_CREATE = 1;
/** Win.flavor of a window made by Win.allocate() (WIN_FLAVOR_CREATE: by Win.create()). */
export const WIN_FLAVOR_ALLOCATE = 2;
/** Assertions for fence/lock (accepted, no effect). */
export const MODE_NOCHECK = 1;
/** Fence/lock assertion (MPI_MODE_NOSTORE): accepted, no effect. */
export const MODE_NOSTORE = 8;
/** Fence/lock assertion (MPI_MODE_NOPUT): accepted, no effect. */
export const MODE_NOPUT = 4;
/** Fence/lock assertion (MPI_MODE_NOPRECEDE): accepted, no effect. */
export const MODE_NOPRECEDE = 2;
/** Fence/lock assertion (MPI_MODE_NOSUCCEED): accepted, no effect. */
export const MODE_NOSUCCEED = 16;

const WRITER = 1n << 62n;
const LOCK_WORD = 0;
const ACC_WORD = 8;
const CONTROL_BYTES = 16;

interface Peer {
  endpoint: Endpoint;
  data: RemoteKey;
  control: RemoteKey;
  size: number;
  dispUnit: number;
}

interface Published {
  data: Uint8Array;
  control: Uint8Array;
  size: number;
  dispUnit: number;
}

// MPI ops that a UCX atomic performs element by element on 4- and 8-byte integers (and their fetching forms).
const ATOMIC_OPS = new Map<Op, 'add' | 'and' | 'or' | 'xor' | 'swap'>([
  [SUM, 'add'],
  [BAND, 'and'],
  [BOR, 'or'],
  [BXOR, 'xor'],
  [REPLACE, 'swap'],
]);
const FETCHING_OPS = new Map<Op, 'fadd' | 'fand' | 'for' | 'fxor' | 'swap'>([
  [SUM, 'fadd'],
  [BAND, 'fand'],
  [BOR, 'for'],
  [BXOR, 'fxor'],
  [REPLACE, 'swap'],
  [NO_OP, 'fadd'],
]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
}

/** Integer arrays UCX atomics can work on element by element: 4- and 8-byte ones. */
function atomicSize(array: TypedArray): 4 | 8 | 0 {
  if (array instanceof Int32Array || array instanceof Uint32Array) return 4;
  if (array instanceof BigInt64Array || array instanceof BigUint64Array) return 8;
  return 0;
}

/** A fetched atomic's unsigned result as the array's element. */
function fromAtomic(array: TypedArray, value: bigint): number | bigint {
  if (array instanceof Int32Array) return Number(BigInt.asIntN(32, value));
  if (array instanceof Uint32Array) return Number(BigInt.asUintN(32, value));
  if (array instanceof BigInt64Array) return BigInt.asIntN(64, value);
  return BigInt.asUintN(64, value);
}

/** An RMA window (MPI_Win, mpi4py's Win): memory each rank of a communicator exposes to the others' put, get, accumulate and atomics. */
export class Win {
  /** The communicator the window was made on. */
  readonly comm: Comm;
  /** This rank's window memory (for Win.create: a view of the buffer given). */
  readonly buffer: Buffer;
  /** The unit of this rank's target displacements, in bytes. */
  readonly dispUnit: number;
  /** WIN_FLAVOR_CREATE or WIN_FLAVOR_ALLOCATE. */
  readonly flavor: number;
  /** What a failing operation does; new windows start with the default (errhandler.ts). */
  errhandler: Errhandler = defaultErrhandler('win');
  readonly #world: World;
  readonly #memory: MemoryHandle | null;
  readonly #control: MemoryHandle;
  readonly #peers: Peer[];
  readonly #locks = new Map<number, number>();
  #freed = false;
  #name = '';

  private constructor(
    comm: Comm,
    world: World,
    memory: MemoryHandle | null,
    control: MemoryHandle,
    buffer: Buffer,
    dispUnit: number,
    peers: Peer[],
    flavor: number,
  ) {
    this.comm = comm;
    this.#world = world;
    this.#memory = memory;
    this.#control = control;
    this.buffer = buffer;
    this.dispUnit = dispUnit;
    this.#peers = peers;
    this.flavor = flavor;
  }

  /** Allocates `bytes` of window memory on every rank (collective). */
  static async allocate(bytes: number, comm: Comm, opts: WinOptions = {}): Promise<Win> {
    if (!Number.isInteger(bytes) || bytes < 0) throw new MPIError('ERR_MPI_ARG', `Win.allocate: bytes must be a non-negative integer, not ${String(bytes)}`);
    if (!(comm instanceof Comm)) throw new MPIError('ERR_MPI_COMM', 'Win.allocate: expected a communicator');
    const { world } = comm[kInternals]();
    const memory = world.context.memMap({ length: Math.max(bytes, 1) });
    return Win.#setup(comm, world, memory, memory.buffer!.subarray(0, bytes), opts, WIN_FLAVOR_ALLOCATE);
  }

  /** Exposes `buf` (this rank's memory; null: none, a window of 0 bytes here) as the window (collective). */
  static async create(buf: ArrayBufferView | null, comm: Comm, opts: WinOptions = {}): Promise<Win> {
    if (buf !== null && buf !== undefined && !ArrayBuffer.isView(buf))
      throw new MPIError('ERR_MPI_TYPE', 'Win.create needs a TypedArray, Buffer or DataView (or null)');
    if (!(comm instanceof Comm)) throw new MPIError('ERR_MPI_COMM', 'Win.create: expected a communicator');
    const { world } = comm[kInternals]();
    const view = buf === null || buf === undefined ? Buffer.alloc(0) : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const memory = world.context.memMap(view.length > 0 ? view : { length: 1 });
    return Win.#setup(comm, world, memory, view, opts, WIN_FLAVOR_CREATE);
  }

  /** mpi4py's Win.Allocate(size, disp_unit=1, info=INFO_NULL, comm=COMM_SELF). */
  static Allocate(size: number, dispUnit = 1, _info: Info | null = null, comm?: Comm): Promise<Win> {
    return Win.allocate(size, comm ?? selfComm(), { dispUnit });
  }

  /** mpi4py's Win.Create(memory, disp_unit=1, info=INFO_NULL, comm=COMM_SELF); memory null (MPI.BOTTOM): none here. */
  static Create(memory: ArrayBufferView | null, dispUnit = 1, _info: Info | null = null, comm?: Comm): Promise<Win> {
    return Win.create(memory, comm ?? selfComm(), { dispUnit });
  }

  /** A handler that calls `fn(win, errorCode, error)` when an operation on a window fails. */
  static createErrhandler(fn: (win: Win, errorCode: number, error: MPIError) => void): Errhandler {
    return Errhandler.create(fn);
  }
  /** mpi4py's name for createErrhandler(). */
  static Create_errhandler(fn: (win: Win, errorCode: number, error: MPIError) => void): Errhandler {
    return Errhandler.create(fn);
  }

  static async #setup(comm: Comm, world: World, memory: MemoryHandle, buffer: Buffer, opts: WinOptions, flavor: number): Promise<Win> {
    const dispUnit = opts.dispUnit ?? 1;
    if (!Number.isInteger(dispUnit) || dispUnit < 1) throw new MPIError('ERR_MPI_ARG', `dispUnit must be a positive integer, not ${String(dispUnit)}`);
    const control = world.context.memMap({ length: CONTROL_BYTES });
    try {
      const mine: Published = { data: memory.packRkey(), control: control.packRkey(), size: buffer.length, dispUnit };
      const all = await comm.allgather(mine);
      const { ranks } = comm[kInternals]();
      const peers: Peer[] = [];
      for (let rank = 0; rank < comm.size; rank++) {
        const connecting = world.endpoint(ranks[rank]!);
        const endpoint = connecting instanceof Endpoint ? connecting : await connecting;
        const info = all[rank]!;
        peers.push({ endpoint, data: endpoint.unpackRkey(info.data), control: endpoint.unpackRkey(info.control), size: info.size, dispUnit: info.dispUnit });
      }
      return new Win(comm, world, memory, control, buffer, dispUnit, peers, flavor);
    } catch (error) {
      control.unmap();
      memory.unmap();
      throw error;
    }
  }

  // ---- communication ----

  /**
   * Writes `origin` (a buffer or [buf, count, datatype]) into `targetRank`'s window at `target`: a displacement
   * (× dispUnit) or [disp, count, datatype] (a strided target: one put per run). Complete after flush/unlock/fence.
   */
  put(origin: Data | BufSpec, targetRank: number, target: Target = 0): Promise<void> {
    try {
      if (isDevice(origin)) {
        const [peer, address] = this.#target(targetRank, this.#disp(target), byteLength(origin), 'put');
        return peer.endpoint.put(origin, address, peer.data).catch((error: unknown) => {
          throw this.#world.mapError(error, 'Win.put');
        });
      }
      const payload = parsePayload(origin, 'origin', 'Win.put');
      const data = payload.data();
      const [peer, base, runs] = this.#targetRuns(targetRank, target, payload, 'put');
      const work: Promise<void>[] = [];
      let at = 0;
      for (let i = 0; i < runs.count; i++) {
        const length = runs.lengths[i]!;
        work.push(peer.endpoint.put(data.subarray(at, at + length), base + BigInt(runs.offsets[i]!), peer.data));
        at += length;
      }
      return Promise.all(work).then(
        () => undefined,
        (error: unknown) => {
          throw this.#world.mapError(error, 'Win.put');
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reads from `targetRank`'s window at `target` into `origin` (a buffer or [buf, count, datatype]). */
  get(origin: Data | BufSpec, targetRank: number, target: Target = 0): Promise<void> {
    try {
      if (isDevice(origin)) {
        const [peer, address] = this.#target(targetRank, this.#disp(target), byteLength(origin), 'get');
        return peer.endpoint.get(origin, address, peer.data).catch((error: unknown) => {
          throw this.#world.mapError(error, 'Win.get');
        });
      }
      const payload = parsePayload(origin, 'origin', 'Win.get');
      const [peer, base, runs] = this.#targetRuns(targetRank, target, payload, 'get');
      const receiver = payload.receiver();
      const into = receiver.into as Uint8Array;
      const work: Promise<void>[] = [];
      let at = 0;
      for (let i = 0; i < runs.count; i++) {
        const length = runs.lengths[i]!;
        work.push(peer.endpoint.get(into.subarray(at, at + length), base + BigInt(runs.offsets[i]!), peer.data));
        at += length;
      }
      return Promise.all(work).then(
        () => receiver.finish(at),
        (error: unknown) => {
          throw this.#world.mapError(error, 'Win.get');
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * target = target op origin, element by element, atomically with respect to other accumulates.
   * SUM/BAND/BOR/BXOR/REPLACE on 4- and 8-byte integers are UCX atomics; anything else takes the
   * target's accumulate lock, reads, combines and writes back.
   */
  async accumulate(origin: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Promise<void> {
    const [values, peer, base, runs] = this.#accumulateArgs(origin, targetRank, target, op, 'accumulate');
    if (op === NO_OP) return;
    const size = atomicSize(values.array);
    const atomic = ATOMIC_OPS.get(op);
    if (atomic !== undefined && size !== 0 && aligned(base, runs, size)) {
      const work: Promise<bigint>[] = [];
      eachElement(runs, size, (offset, i) => {
        work.push(peer.endpoint.atomic(atomic, base + BigInt(offset), peer.data, BigInt(values.array[i]!), { size }));
      });
      await Promise.all(work).catch((error: unknown) => {
        throw this.#world.mapError(error, 'Win.accumulate');
      });
      return;
    }
    await this.#withAccumulateLock(peer, async () => {
      const current = typedLike(values.array, values.array.length);
      await this.#getRuns(peer, base, runs, viewBytes(current));
      op.reduceInto(current, values.array, false);
      await this.#putRuns(peer, base, runs, viewBytes(current));
      await peer.endpoint.flush();
    });
  }

  /**
   * result = target; target = target op origin, atomically (MPI_Get_accumulate). NO_OP only fetches;
   * REPLACE swaps. Atomics for 4- and 8-byte integers, the accumulate lock otherwise.
   */
  async getAccumulate(origin: TypedArray | BufSpec | null, result: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Promise<void> {
    const out = typedArg(result, 'result', 'Win.getAccumulate');
    const values = origin === null || op === NO_OP ? null : typedArg(origin, 'origin', 'Win.getAccumulate');
    if (values !== null && (values.array.length !== out.array.length || values.array.constructor !== out.array.constructor)) {
      throw new MPIError('ERR_MPI_COUNT', 'Win.getAccumulate: origin and result must be alike (same element type and count)');
    }
    if (!(op instanceof Op)) throw new MPIError('ERR_MPI_OP', 'getAccumulate needs an MPI.Op');
    if (values !== null) op.checkTyped(values.array);
    const resultPayload = Array.isArray(result) ? parsePayload(result, 'result', 'Win.getAccumulate') : null;
    const like = resultPayload ?? parsePayload(out.array, 'result', 'Win.getAccumulate');
    const [peer, base, runs] = this.#targetRuns(targetRank, target, like, 'getAccumulate');
    const size = atomicSize(out.array);
    const fetching = FETCHING_OPS.get(op);
    if (fetching !== undefined && size !== 0 && aligned(base, runs, size)) {
      const work: Promise<void>[] = [];
      eachElement(runs, size, (offset, i) => {
        const operand = values === null ? 0n : BigInt(values.array[i]!);
        work.push(
          peer.endpoint.atomic(fetching, base + BigInt(offset), peer.data, operand, { size }).then((old) => {
            (out.array as unknown as (number | bigint)[])[i] = fromAtomic(out.array, old);
          }),
        );
      });
      await Promise.all(work).catch((error: unknown) => {
        throw this.#world.mapError(error, 'Win.getAccumulate');
      });
      out.commit();
      return;
    }
    await this.#withAccumulateLock(peer, async () => {
      await this.#getRuns(peer, base, runs, viewBytes(out.array));
      if (values !== null) {
        const next = out.array.slice() as TypedArray;
        op.reduceInto(next, values.array, false);
        await this.#putRuns(peer, base, runs, viewBytes(next));
        await peer.endpoint.flush();
      }
    });
    out.commit();
  }

  /** Atomically: old = target; target = old op value (8-byte integers). Resolves with old. */
  async fetchAndOp(value: bigint, targetRank: number, targetDisp = 0, op: Op = SUM): Promise<bigint> {
    if (typeof value !== 'bigint') throw new MPIError('ERR_MPI_TYPE', 'fetchAndOp takes a bigint (an 8-byte integer)');
    const [peer, address] = this.#target(targetRank, targetDisp, 8, 'fetchAndOp');
    if (address % 8n !== 0n) throw new MPIError('ERR_MPI_WIN', 'fetchAndOp needs an 8-byte aligned target');
    const kind = FETCHING_OPS.get(op);
    if (op === NO_OP) return peer.endpoint.atomic('fadd', address, peer.data, 0n);
    if (kind === undefined) throw new MPIError('ERR_MPI_OP', `fetchAndOp supports SUM, BAND, BOR, BXOR, REPLACE and NO_OP, not ${op.name}`);
    return peer.endpoint.atomic(kind, address, peer.data, value).catch((error: unknown) => {
      throw this.#world.mapError(error, 'Win.fetchAndOp');
    });
  }

  /** Atomically: if target == compare then target = swap (8-byte integers). Resolves with the old value. */
  compareAndSwap(compare: bigint, swap: bigint, targetRank: number, targetDisp = 0): Promise<bigint> {
    try {
      const [peer, address] = this.#target(targetRank, targetDisp, 8, 'compareAndSwap');
      if (address % 8n !== 0n) throw new MPIError('ERR_MPI_WIN', 'compareAndSwap needs an 8-byte aligned target');
      return peer.endpoint.compareSwap(address, peer.data, compare, swap).catch((error: unknown) => {
        throw this.#world.mapError(error, 'Win.compareAndSwap');
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Request forms: they complete when the origin buffer may be reused (put) or holds the data (get). */
  rput(origin: Data | BufSpec, targetRank: number, target: Target = 0): Request<void> {
    return new Request(this.put(origin, targetRank, target));
  }
  /** get() as a Request: complete when `origin` holds the data. */
  rget(origin: Data | BufSpec, targetRank: number, target: Target = 0): Request<void> {
    return new Request(this.get(origin, targetRank, target));
  }
  /** accumulate() as a Request. */
  raccumulate(origin: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Request<void> {
    return new Request(this.accumulate(origin, targetRank, target, op));
  }
  /** getAccumulate() as a Request: complete when `result` holds the old values. */
  rgetAccumulate(origin: TypedArray | BufSpec | null, result: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Request<void> {
    return new Request(this.getAccumulate(origin, result, targetRank, target, op));
  }

  // ---- synchronization ----

  /** Active target: completes every RMA operation of every rank on this window, then all go on (collective). */
  async fence(_assertion = 0): Promise<void> {
    this.#check();
    await this.flushAll();
    await this.comm.barrier();
  }

  /** Passive target: starts an access epoch to `rank` (exclusive: alone; shared: with other shared lockers). */
  async lock(rank: number, lockType = LOCK_EXCLUSIVE, _assertion = 0): Promise<void> {
    const peer = this.#peer(rank, 'lock');
    if (this.#locks.has(rank)) throw new MPIError('ERR_MPI_WIN', `rank ${rank} is already locked by this process`);
    if (lockType !== LOCK_EXCLUSIVE && lockType !== LOCK_SHARED) throw new MPIError('ERR_MPI_ARG', 'lockType must be LOCK_EXCLUSIVE or LOCK_SHARED');
    const word = peer.control.base + BigInt(LOCK_WORD);
    for (let spins = 0; ; spins++) {
      if (lockType === LOCK_EXCLUSIVE) {
        if ((await peer.endpoint.compareSwap(word, peer.control, 0n, WRITER)) === 0n) break;
      } else {
        const before = await peer.endpoint.atomic('fadd', word, peer.control, 1n);
        if ((before & WRITER) === 0n) break;
        await peer.endpoint.atomic('add', word, peer.control, -1n);
      }
      await sleep(spins < 50 ? 0 : 1);
    }
    this.#locks.set(rank, lockType);
  }

  /** Ends the epoch: this rank's operations on `rank` complete at the target, then the lock is released. */
  async unlock(rank: number): Promise<void> {
    const peer = this.#peer(rank, 'unlock');
    const lockType = this.#locks.get(rank);
    if (lockType === undefined) throw new MPIError('ERR_MPI_WIN', `rank ${rank} is not locked by this process`);
    await peer.endpoint.flush();
    const word = peer.control.base + BigInt(LOCK_WORD);
    if (lockType === LOCK_EXCLUSIVE) await peer.endpoint.atomic('add', word, peer.control, -WRITER);
    else await peer.endpoint.atomic('add', word, peer.control, -1n);
    await peer.endpoint.flush();
    this.#locks.delete(rank);
  }

  /** Shared locks on every rank. */
  async lockAll(_assertion = 0): Promise<void> {
    for (let rank = 0; rank < this.comm.size; rank++) await this.lock(rank, LOCK_SHARED);
  }

  /** Ends lockAll()'s epoch: every rank's operations complete, then the locks are released. */
  async unlockAll(): Promise<void> {
    for (const rank of [...this.#locks.keys()]) await this.unlock(rank);
  }

  /** Completes, at the target, every RMA operation this rank issued to `rank`. */
  async flush(rank: number): Promise<void> {
    await this.#peer(rank, 'flush').endpoint.flush();
  }

  /** Completes, at their targets, every RMA operation this rank issued. */
  async flushAll(): Promise<void> {
    this.#check();
    await Promise.all(this.#peers.map((peer) => peer.endpoint.flush()));
  }

  /** Local completion equals remote completion here (UCX flush). */
  flushLocal(rank: number): Promise<void> {
    return this.flush(rank);
  }
  /** As flushAll() (local completion equals remote completion here). */
  flushLocalAll(): Promise<void> {
    return this.flushAll();
  }
  /** Memory synchronization of the window copy (MPI_Win_sync): nothing to do, memory is the window. */
  sync(): void {
    this.#check();
  }

  /** Releases the window (collective: nobody's memory goes while another rank may still use it). */
  async free(): Promise<void> {
    if (this.#freed) return;
    await this.fence();
    this.#freed = true;
    for (const peer of this.#peers) {
      peer.data.destroy();
      peer.control.destroy();
    }
    this.#control.unmap();
    this.#memory?.unmap();
  }

  /** The group of the window's communicator. */
  get group(): Group {
    return this.comm.group;
  }
  /** The group of the window's communicator (group). */
  getGroup(): Group {
    return this.comm.group;
  }
  /** This rank's window memory (mpi4py's win.tomemory()). */
  tomemory(): Buffer {
    return this.buffer;
  }
  /** True once free() was called. */
  get freed(): boolean {
    return this.#freed;
  }
  /** The window's name (setName(); '' by default). */
  getName(): string {
    return this.#name;
  }
  /** Names the window (MPI_Win_set_name), for messages and tools. */
  setName(name: string): void {
    this.#name = String(name);
  }

  /** Sets what a failing operation on this window does. */
  setErrhandler(errhandler: Errhandler): void {
    validateErrhandler(errhandler);
    this.errhandler = errhandler;
  }
  /** The window's error handler. */
  getErrhandler(): Errhandler {
    return this.errhandler;
  }
  /** Calls the window's error handler with `errorCode`, as a failing operation would (MPI_Win_call_errhandler). */
  callErrhandler(errorCode: number): void {
    this.errhandler.invoke(this, new MPIError(errorCode));
  }

  // mpi4py spellings (and argument order)
  /** mpi4py's name for put(). */
  Put(origin: Data | BufSpec, targetRank: number, target: Target = 0): Promise<void> {
    return this.put(origin, targetRank, target);
  }
  /** mpi4py's name for get(). */
  Get(origin: Data | BufSpec, targetRank: number, target: Target = 0): Promise<void> {
    return this.get(origin, targetRank, target);
  }
  /** mpi4py's name for accumulate(). */
  Accumulate(origin: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Promise<void> {
    return this.accumulate(origin, targetRank, target, op);
  }
  /** mpi4py's name for getAccumulate(). */
  Get_accumulate(origin: TypedArray | BufSpec | null, result: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Promise<void> {
    return this.getAccumulate(origin, result, targetRank, target, op);
  }
  /** mpi4py: Fetch_and_op(origin, result, target_rank, target_disp=0, op=SUM) on one element of the buffers' type. */
  Fetch_and_op(origin: TypedArray | BufSpec, result: TypedArray | BufSpec, targetRank: number, targetDisp = 0, op: Op = SUM): Promise<void> {
    return this.getAccumulate(op === NO_OP ? null : firstElement(origin, 'origin'), firstElement(result, 'result'), targetRank, [targetDisp, 1], op);
  }
  /** mpi4py: Compare_and_swap(origin, compare, result, target_rank, target_disp=0): one 4- or 8-byte integer. */
  async Compare_and_swap(
    origin: TypedArray | BufSpec,
    compare: TypedArray | BufSpec,
    result: TypedArray | BufSpec,
    targetRank: number,
    targetDisp = 0,
  ): Promise<void> {
    const swap = typedArg(firstElement(origin, 'origin'), 'origin', 'Win.Compare_and_swap');
    const cmp = typedArg(firstElement(compare, 'compare'), 'compare', 'Win.Compare_and_swap');
    const out = typedArg(firstElement(result, 'result'), 'result', 'Win.Compare_and_swap');
    const size = atomicSize(out.array);
    if (size === 0 || atomicSize(swap.array) !== size || atomicSize(cmp.array) !== size) {
      throw new MPIError('ERR_MPI_TYPE', 'Win.Compare_and_swap works on 4- and 8-byte integers (MPI.INT, MPI.INT64_T, ...)');
    }
    const [peer, address] = this.#target(targetRank, targetDisp, size, 'Compare_and_swap');
    if (address % BigInt(size) !== 0n) throw new MPIError('ERR_MPI_WIN', `Compare_and_swap needs a ${size}-byte aligned target`);
    const old = await peer.endpoint.compareSwap(address, peer.data, BigInt(cmp.array[0]!), BigInt(swap.array[0]!), { size }).catch((error: unknown) => {
      throw this.#world.mapError(error, 'Win.Compare_and_swap');
    });
    (out.array as unknown as (number | bigint)[])[0] = fromAtomic(out.array, old);
    out.commit();
  }
  /** mpi4py's name for rput(). */
  Rput(origin: Data | BufSpec, targetRank: number, target: Target = 0): Request<void> {
    return this.rput(origin, targetRank, target);
  }
  /** mpi4py's name for rget(). */
  Rget(origin: Data | BufSpec, targetRank: number, target: Target = 0): Request<void> {
    return this.rget(origin, targetRank, target);
  }
  /** mpi4py's name for raccumulate(). */
  Raccumulate(origin: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Request<void> {
    return this.raccumulate(origin, targetRank, target, op);
  }
  /** mpi4py's name for rgetAccumulate(). */
  Rget_accumulate(origin: TypedArray | BufSpec | null, result: TypedArray | BufSpec, targetRank: number, target: Target = 0, op: Op = SUM): Request<void> {
    return this.rgetAccumulate(origin, result, targetRank, target, op);
  }
  /** mpi4py's name for fence(). */
  Fence(assertion = 0): Promise<void> {
    return this.fence(assertion);
  }
  /** mpi4py's name for lock(). */
  Lock(rank: number, lockType = LOCK_EXCLUSIVE, assertion = 0): Promise<void> {
    return this.lock(rank, lockType, assertion);
  }
  /** mpi4py's name for unlock(). */
  Unlock(rank: number): Promise<void> {
    return this.unlock(rank);
  }
  /** mpi4py's name for lockAll(). */
  Lock_all(assertion = 0): Promise<void> {
    return this.lockAll(assertion);
  }
  /** mpi4py's name for unlockAll(). */
  Unlock_all(): Promise<void> {
    return this.unlockAll();
  }
  /** mpi4py's name for flush(). */
  Flush(rank: number): Promise<void> {
    return this.flush(rank);
  }
  /** mpi4py's name for flushAll(). */
  Flush_all(): Promise<void> {
    return this.flushAll();
  }
  /** mpi4py's name for flushLocal(). */
  Flush_local(rank: number): Promise<void> {
    return this.flushLocal(rank);
  }
  /** mpi4py's name for flushLocalAll(). */
  Flush_local_all(): Promise<void> {
    return this.flushLocalAll();
  }
  /** mpi4py's name for sync(). */
  Sync(): void {
    this.sync();
  }
  /** mpi4py's name for free(). */
  Free(): Promise<void> {
    return this.free();
  }
  /** mpi4py's name for getGroup(). */
  Get_group(): Group {
    return this.comm.group;
  }
  /** mpi4py's name for getName(). */
  Get_name(): string {
    return this.#name;
  }
  /** mpi4py's name for setName(). */
  Set_name(name: string): void {
    this.setName(name);
  }
  /** mpi4py's name for setErrhandler(). */
  Set_errhandler(errhandler: Errhandler): void {
    this.setErrhandler(errhandler);
  }
  /** mpi4py's name for getErrhandler(). */
  Get_errhandler(): Errhandler {
    return this.errhandler;
  }
  /** mpi4py's name for callErrhandler(). */
  Call_errhandler(errorCode: number): void {
    this.callErrhandler(errorCode);
  }

  // ---- internals ----

  #check(): void {
    if (this.#freed) throw new MPIError('ERR_MPI_WIN', 'the window was freed');
    if (this.#world.failed !== null) throw this.#world.failed;
    // Every window call makes progress, as an MPI library's calls do: operations on this rank's own memory
    // complete inline, so a loop of them (a spin on a counter in its own window, mpi4py's nxtval mutex)
    // would otherwise never let the event loop run UCX, and the peers' software atomics on this memory
    // would wait for ever.
    this.#world.worker.progress();
  }

  #peer(rank: number, what: string): Peer {
    this.#check();
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.comm.size) {
      throw new MPIError('ERR_MPI_RANK', `${what}: ${String(rank)} is not a rank of the window's communicator (0 ... ${this.comm.size - 1})`);
    }
    return this.#peers[rank]!;
  }

  /** A target's displacement (for forms that take a plain one). */
  #disp(target: Target): number {
    if (target === null || target === undefined) return 0;
    if (typeof target === 'number') return target;
    return target[0] ?? 0;
  }

  #target(rank: number, disp: number, length: number, what: string): [Peer, bigint] {
    const peer = this.#peer(rank, what);
    if (!Number.isInteger(disp) || disp < 0) throw new MPIError('ERR_MPI_WIN', `${what}: targetDisp must be a non-negative integer, not ${String(disp)}`);
    const offset = disp * peer.dispUnit;
    if (offset + length > peer.size) {
      throw new MPIError(
        'ERR_MPI_WIN',
        `${what}: ${length} bytes at displacement ${disp} (× ${peer.dispUnit}) overrun rank ${rank}'s window of ${peer.size} bytes`,
      );
    }
    return [peer, peer.data.base + BigInt(offset)];
  }

  /**
   * A target as runs of bytes from the target window's start (address `base`): mpi4py's target is a
   * displacement (count and datatype: the origin's) or [disp, count, datatype].
   */
  #targetRuns(rank: number, target: Target, origin: Payload, what: string): [Peer, bigint, Runs] {
    const peer = this.#peer(rank, what);
    let disp = 0;
    let count = origin.count;
    let type = origin.type;
    if (typeof target === 'number') disp = target;
    else if (Array.isArray(target)) {
      disp = target[0] ?? 0;
      if (target[2] !== undefined && target[2] !== null) type = asDatatype(target[2], `Win.${what}: the target datatype`);
      count = target[1] ?? (type === origin.type ? origin.count : origin.byteLength / Math.max(type.size, 1));
    } else if (target !== null && target !== undefined) {
      throw new MPIError('ERR_MPI_ARG', `Win.${what}: target must be a displacement or [disp, count, datatype]`);
    }
    if (!Number.isInteger(disp) || disp < 0)
      throw new MPIError('ERR_MPI_WIN', `Win.${what}: the target displacement must be a non-negative integer, not ${String(disp)}`);
    if (!Number.isInteger(count) || count < 0)
      throw new MPIError('ERR_MPI_COUNT', `Win.${what}: the target count must be a non-negative integer, not ${String(count)}`);
    // As Open MPI (and mpi4py's tutorial) do: a target smaller than the origin moves the target's worth (the
    // origin's first bytes); a larger one would reach past the origin buffer.
    if (count * type.size > origin.byteLength) {
      throw new MPIError(
        'ERR_MPI_COUNT',
        `Win.${what}: the target (${count} × ${type.name} = ${count * type.size} bytes) is larger than the origin (${origin.byteLength} bytes)`,
      );
    }
    const origin0 = disp * peer.dispUnit;
    const runs = new Runs(type.offsets.length * Math.min(count, 1024));
    for (let i = 0; i < count; i++) {
      for (let s = 0; s < type.offsets.length; s++) runs.push(origin0 + i * type.extent + type.offsets[s]!, type.lengths[s]!);
    }
    for (let i = 0; i < runs.count; i++) {
      if (runs.offsets[i]! < 0 || runs.offsets[i]! + runs.lengths[i]! > peer.size) {
        throw new MPIError(
          'ERR_MPI_WIN',
          `Win.${what}: the target (${count} × ${type.name} at displacement ${disp} × ${peer.dispUnit}) overruns rank ${rank}'s window of ${peer.size} bytes`,
        );
      }
    }
    return [peer, peer.data.base, runs];
  }

  #accumulateArgs(origin: TypedArray | BufSpec, targetRank: number, target: Target, op: Op, what: string): [TypedPayload, Peer, bigint, Runs] {
    if (!isTypedArray(origin) && !Array.isArray(origin))
      throw new MPIError('ERR_MPI_TYPE', `${what} needs a TypedArray origin (or a [buf, count, datatype] spec)`);
    if (!(op instanceof Op)) throw new MPIError('ERR_MPI_OP', `${what} needs an MPI.Op`);
    const values = typedArg(origin, 'origin', `Win.${what}`);
    op.checkTyped(values.array);
    const payload = Array.isArray(origin) ? parsePayload(origin, 'origin', `Win.${what}`) : parsePayload(values.array, 'origin', `Win.${what}`);
    const [peer, base, runs] = this.#targetRuns(targetRank, target, payload, what);
    return [values, peer, base, runs];
  }

  async #getRuns(peer: Peer, base: bigint, runs: Runs, into: Uint8Array): Promise<void> {
    const work: Promise<void>[] = [];
    let at = 0;
    for (let i = 0; i < runs.count; i++) {
      work.push(peer.endpoint.get(into.subarray(at, at + runs.lengths[i]!), base + BigInt(runs.offsets[i]!), peer.data));
      at += runs.lengths[i]!;
    }
    await Promise.all(work).catch((error: unknown) => {
      throw this.#world.mapError(error, 'Win.get');
    });
  }

  async #putRuns(peer: Peer, base: bigint, runs: Runs, data: Uint8Array): Promise<void> {
    const work: Promise<void>[] = [];
    let at = 0;
    for (let i = 0; i < runs.count; i++) {
      work.push(peer.endpoint.put(data.subarray(at, at + runs.lengths[i]!), base + BigInt(runs.offsets[i]!), peer.data));
      at += runs.lengths[i]!;
    }
    await Promise.all(work).catch((error: unknown) => {
      throw this.#world.mapError(error, 'Win.put');
    });
  }

  async #withAccumulateLock(peer: Peer, body: () => Promise<void>): Promise<void> {
    const word = peer.control.base + BigInt(ACC_WORD);
    const me = BigInt(this.comm.rank + 1);
    for (let spins = 0; (await peer.endpoint.compareSwap(word, peer.control, 0n, me)) !== 0n; spins++) await sleep(spins < 50 ? 0 : 1);
    try {
      await body();
    } finally {
      await peer.endpoint.compareSwap(word, peer.control, me, 0n);
    }
  }
}

/** Calls `fn(byte offset, element index)` for every `size`-byte element of the runs, in order. */
function eachElement(runs: Runs, size: number, fn: (offset: number, index: number) => void): void {
  let index = 0;
  for (let r = 0; r < runs.count; r++) {
    const offset = runs.offsets[r]!;
    const n = runs.lengths[r]! / size;
    for (let k = 0; k < n; k++) fn(offset + k * size, index++);
  }
}

/** Whether every element of the runs at `base` is aligned to its size (UCX atomics need it). */
function aligned(base: bigint, runs: Runs, size: number): boolean {
  if (base % BigInt(size) !== 0n) return false;
  for (let r = 0; r < runs.count; r++) if (runs.offsets[r]! % size !== 0 || runs.lengths[r]! % size !== 0) return false;
  return true;
}

/** The first element of a buffer argument, as a one-element spec (Fetch_and_op, Compare_and_swap). */
function firstElement(buf: TypedArray | BufSpec, name: string): BufSpec {
  if (Array.isArray(buf)) {
    const [b, second, third] = buf as unknown[];
    const type = third ?? (typeof second === 'object' || typeof second === 'string' ? second : undefined);
    return (type === undefined ? [b, 1] : [b, 1, type]) as unknown as BufSpec;
  }
  if (!isTypedArray(buf)) throw new MPIError('ERR_MPI_TYPE', `${name} must be a TypedArray or a [buf, count, datatype] spec`);
  if (buf.length < 1) throw new MPIError('ERR_MPI_COUNT', `${name} must hold at least one element`);
  return (buf as TypedArray).subarray(0, 1);
}

let self: (() => Comm) | null = null;
/** @internal index.ts says where COMM_SELF is (mpi4py's default communicator of Win.Allocate/Create). */
export function setSelfComm(get: () => Comm): void {
  self = get;
}
function selfComm(): Comm {
  if (self === null) throw new MPIError('ERR_MPI_COMM', 'MPI is not initialized: await MPI.init() first');
  return self();
}

// Every failure of a window's operations goes through its error handler (errhandler.ts).
routeErrors(Win.prototype, ['setErrhandler', 'getErrhandler', 'callErrhandler', 'Set_errhandler', 'Get_errhandler', 'Call_errhandler', 'tomemory']);
