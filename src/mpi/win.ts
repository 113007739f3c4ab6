// RMA windows (MPI_Win) over UCX memory registration, remote keys, put/get and
// atomics. Every rank registers its window memory and a 16-byte control block
// (a reader-writer lock word for lock/unlock and a lock word for accumulates)
// and gives the others their packed remote keys; put and get then go straight
// to the target's memory with no action by the target.
import { Endpoint, type Data, type MemoryHandle, type RemoteKey } from '../index.js';
import { kInternals, type Comm } from './comm.js';
import { MPIError } from './errors.js';
import { byteLength, typedLike } from './buffers.js';
import { Op, SUM, BAND, BOR, BXOR, REPLACE, NO_OP, isTypedArray, type TypedArray } from './op.js';
import type { World } from './world.js';

export interface WinOptions {
  /** The unit of target displacements in bytes (MPI's disp_unit); default 1. */
  dispUnit?: number;
}

export const LOCK_EXCLUSIVE = 234;
export const LOCK_SHARED = 235;

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

interface Published { data: Uint8Array; control: Uint8Array; size: number; dispUnit: number }

// MPI ops that a UCX atomic performs element by element on 4- and 8-byte integers.
const ATOMIC_OPS = new Map<Op, 'add' | 'and' | 'or' | 'xor' | 'swap'>([[SUM, 'add'], [BAND, 'and'], [BOR, 'or'], [BXOR, 'xor'], [REPLACE, 'swap']]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
}

export class Win {
  /** The communicator the window was made on. */
  readonly comm: Comm;
  /** This rank's window memory (for Win.create: a view of the buffer given). */
  readonly buffer: Buffer;
  readonly dispUnit: number;
  readonly #world: World;
  readonly #memory: MemoryHandle;
  readonly #control: MemoryHandle;
  readonly #peers: Peer[];
  readonly #locks = new Map<number, number>();
  #freed = false;

  private constructor(comm: Comm, world: World, memory: MemoryHandle, control: MemoryHandle, buffer: Buffer, dispUnit: number, peers: Peer[]) {
    this.comm = comm;
    this.#world = world;
    this.#memory = memory;
    this.#control = control;
    this.buffer = buffer;
    this.dispUnit = dispUnit;
    this.#peers = peers;
  }

  /** Allocates `bytes` of window memory on every rank (collective). */
  static async allocate(bytes: number, comm: Comm, opts: WinOptions = {}): Promise<Win> {
    if (!Number.isInteger(bytes) || bytes < 0) throw new MPIError('ERR_MPI_ARG', `Win.allocate: bytes must be a non-negative integer, not ${String(bytes)}`);
    const { world } = comm[kInternals]();
    const memory = world.context.memMap({ length: Math.max(bytes, 1) });
    return Win.#setup(comm, world, memory, memory.buffer!.subarray(0, bytes), opts);
  }

  /** Exposes `buf` (this rank's memory) as the window (collective). */
  static async create(buf: ArrayBufferView, comm: Comm, opts: WinOptions = {}): Promise<Win> {
    if (!ArrayBuffer.isView(buf)) throw new MPIError('ERR_MPI_TYPE', 'Win.create needs a TypedArray, Buffer or DataView');
    const { world } = comm[kInternals]();
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const memory = world.context.memMap(view.length > 0 ? view : { length: 1 });
    return Win.#setup(comm, world, memory, view, opts);
  }

  static async #setup(comm: Comm, world: World, memory: MemoryHandle, buffer: Buffer, opts: WinOptions): Promise<Win> {
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
      return new Win(comm, world, memory, control, buffer, dispUnit, peers);
    } catch (error) {
      control.unmap();
      memory.unmap();
      throw error;
    }
  }

  // ---- communication ----

  /** Writes `origin` into `targetRank`'s window at `targetDisp` × dispUnit. Complete after flush/unlock/fence. */
  put(origin: Data, targetRank: number, targetDisp = 0): Promise<void> {
    try {
      const [peer, address] = this.#target(targetRank, targetDisp, byteLength(origin), 'put');
      return peer.endpoint.put(origin, address, peer.data).catch((error: unknown) => { throw this.#world.mapError(error, 'Win.put'); });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reads from `targetRank`'s window at `targetDisp` × dispUnit into `origin`. */
  get(origin: Data, targetRank: number, targetDisp = 0): Promise<void> {
    try {
      const [peer, address] = this.#target(targetRank, targetDisp, byteLength(origin), 'get');
      return peer.endpoint.get(origin, address, peer.data).catch((error: unknown) => { throw this.#world.mapError(error, 'Win.get'); });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * target = target op origin, element by element, atomically with respect to other accumulates.
   * SUM/BAND/BOR/BXOR/REPLACE on 4- and 8-byte integer arrays are UCX atomics; anything else takes the
   * target's accumulate lock, reads, combines and writes back.
   */
  async accumulate(origin: TypedArray, targetRank: number, targetDisp = 0, op: Op = SUM): Promise<void> {
    if (!isTypedArray(origin)) throw new MPIError('ERR_MPI_TYPE', 'accumulate needs a TypedArray origin');
    if (!(op instanceof Op)) throw new MPIError('ERR_MPI_OP', 'accumulate needs an MPI.Op');
    op.checkTyped(origin);
    const [peer, address] = this.#target(targetRank, targetDisp, origin.byteLength, 'accumulate');
    const size = origin.BYTES_PER_ELEMENT;
    const atomic = ATOMIC_OPS.get(op);
    if (op === NO_OP) return;
    if (atomic !== undefined && (size === 4 || size === 8) && address % BigInt(size) === 0n
      && (origin instanceof Int32Array || origin instanceof Uint32Array || origin instanceof BigInt64Array || origin instanceof BigUint64Array)) {
      const work: Promise<bigint>[] = [];
      for (let i = 0; i < origin.length; i++) {
        const value = origin[i]!;
        work.push(peer.endpoint.atomic(atomic, address + BigInt(i * size), peer.data, BigInt(value), { size }));
      }
      await Promise.all(work).catch((error: unknown) => { throw this.#world.mapError(error, 'Win.accumulate'); });
      return;
    }
    await this.#withAccumulateLock(peer, async () => {
      const current = typedLike(origin, origin.length);
      await peer.endpoint.get(current, address, peer.data);
      op.reduceInto(current, origin, false);
      await peer.endpoint.put(current, address, peer.data);
      await peer.endpoint.flush();
    });
  }

  /** Atomically: old = target; target = old op value (8-byte integers). Resolves with old. */
  async fetchAndOp(value: bigint, targetRank: number, targetDisp = 0, op: Op = SUM): Promise<bigint> {
    if (typeof value !== 'bigint') throw new MPIError('ERR_MPI_TYPE', 'fetchAndOp takes a bigint (an 8-byte integer)');
    const [peer, address] = this.#target(targetRank, targetDisp, 8, 'fetchAndOp');
    if (address % 8n !== 0n) throw new MPIError('ERR_MPI_WIN', 'fetchAndOp needs an 8-byte aligned target');
    const fetching = new Map<Op, 'fadd' | 'fand' | 'for' | 'fxor' | 'swap'>([[SUM, 'fadd'], [BAND, 'fand'], [BOR, 'for'], [BXOR, 'fxor'], [REPLACE, 'swap']]);
    const kind = fetching.get(op);
    if (op === NO_OP) return peer.endpoint.atomic('fadd', address, peer.data, 0n);
    if (kind === undefined) throw new MPIError('ERR_MPI_OP', `fetchAndOp supports SUM, BAND, BOR, BXOR, REPLACE and NO_OP, not ${op.name}`);
    return peer.endpoint.atomic(kind, address, peer.data, value).catch((error: unknown) => { throw this.#world.mapError(error, 'Win.fetchAndOp'); });
  }

  /** Atomically: if target == compare then target = swap (8-byte integers). Resolves with the old value. */
  compareAndSwap(compare: bigint, swap: bigint, targetRank: number, targetDisp = 0): Promise<bigint> {
    try {
      const [peer, address] = this.#target(targetRank, targetDisp, 8, 'compareAndSwap');
      if (address % 8n !== 0n) throw new MPIError('ERR_MPI_WIN', 'compareAndSwap needs an 8-byte aligned target');
      return peer.endpoint.compareSwap(address, peer.data, compare, swap).catch((error: unknown) => { throw this.#world.mapError(error, 'Win.compareAndSwap'); });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- synchronization ----

  /** Active target: completes every RMA operation of every rank on this window, then all go on (collective). */
  async fence(): Promise<void> {
    this.#check();
    await this.flushAll();
    await this.comm.barrier();
  }

  /** Passive target: starts an access epoch to `rank` (exclusive: alone; shared: with other shared lockers). */
  async lock(rank: number, lockType = LOCK_EXCLUSIVE): Promise<void> {
    const peer = this.#peer(rank, 'lock');
    if (this.#locks.has(rank)) throw new MPIError('ERR_MPI_WIN', `rank ${rank} is already locked by this process`);
    if (lockType !== LOCK_EXCLUSIVE && lockType !== LOCK_SHARED) throw new MPIError('ERR_MPI_ARG', 'lockType must be LOCK_EXCLUSIVE or LOCK_SHARED');
    const word = peer.control.base + BigInt(LOCK_WORD);
    for (let spins = 0; ; spins++) {
      if (lockType === LOCK_EXCLUSIVE) {
        if (await peer.endpoint.compareSwap(word, peer.control, 0n, WRITER) === 0n) break;
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
  async lockAll(): Promise<void> {
    for (let rank = 0; rank < this.comm.size; rank++) await this.lock(rank, LOCK_SHARED);
  }

  async unlockAll(): Promise<void> {
    for (const rank of [...this.#locks.keys()]) await this.unlock(rank);
  }

  /** Completes, at the target, every RMA operation this rank issued to `rank`. */
  async flush(rank: number): Promise<void> {
    await this.#peer(rank, 'flush').endpoint.flush();
  }

  async flushAll(): Promise<void> {
    this.#check();
    await Promise.all(this.#peers.map((peer) => peer.endpoint.flush()));
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
    this.#memory.unmap();
  }

  // mpi4py spellings
  Put(origin: Data, targetRank: number, targetDisp = 0): Promise<void> { return this.put(origin, targetRank, targetDisp); }
  Get(origin: Data, targetRank: number, targetDisp = 0): Promise<void> { return this.get(origin, targetRank, targetDisp); }
  Accumulate(origin: TypedArray, targetRank: number, targetDisp = 0, op: Op = SUM): Promise<void> { return this.accumulate(origin, targetRank, targetDisp, op); }
  Fence(): Promise<void> { return this.fence(); }
  Lock(rank: number, lockType = LOCK_EXCLUSIVE): Promise<void> { return this.lock(rank, lockType); }
  Unlock(rank: number): Promise<void> { return this.unlock(rank); }
  Flush(rank: number): Promise<void> { return this.flush(rank); }
  Free(): Promise<void> { return this.free(); }

  // ---- internals ----

  #check(): void {
    if (this.#freed) throw new MPIError('ERR_MPI_WIN', 'the window was freed');
    if (this.#world.failed !== null) throw this.#world.failed;
  }

  #peer(rank: number, what: string): Peer {
    this.#check();
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.comm.size) {
      throw new MPIError('ERR_MPI_RANK', `${what}: ${String(rank)} is not a rank of the window's communicator (0 ... ${this.comm.size - 1})`);
    }
    return this.#peers[rank]!;
  }

  #target(rank: number, disp: number, length: number, what: string): [Peer, bigint] {
    const peer = this.#peer(rank, what);
    if (!Number.isInteger(disp) || disp < 0) throw new MPIError('ERR_MPI_WIN', `${what}: targetDisp must be a non-negative integer, not ${String(disp)}`);
    const offset = disp * peer.dispUnit;
    if (offset + length > peer.size) {
      throw new MPIError('ERR_MPI_WIN', `${what}: ${length} bytes at displacement ${disp} (× ${peer.dispUnit}) overrun rank ${rank}'s window of ${peer.size} bytes`);
    }
    return [peer, peer.data.base + BigInt(offset)];
  }

  async #withAccumulateLock(peer: Peer, body: () => Promise<void>): Promise<void> {
    const word = peer.control.base + BigInt(ACC_WORD);
    const me = BigInt(this.comm.rank + 1);
    for (let spins = 0; await peer.endpoint.compareSwap(word, peer.control, 0n, me) !== 0n; spins++) await sleep(spins < 50 ? 0 : 1);
    try {
      await body();
    } finally {
      await peer.endpoint.compareSwap(word, peer.control, me, 0n);
    }
  }
}
