// Comm, the MPI communicator as the user sees it (and CartComm, its Cartesian kind): argument
// checks, then delegation. Messages go through two Channels (p2p.ts), one per context (tags.ts);
// the collective algorithms are in collectives/, one CollectiveCall per call.
import type { Data } from '../index.js';
import { ANY_SOURCE, ANY_TAG, PROC_NULL, UNDEFINED, IN_PLACE, type InPlace } from './constants.js';
import { MAX_CONTEXTS, TAG_UB, nextSequence } from './tags.js';
import { Channel, type Arrival } from './p2p.js';
import { bytes, checkMatching, validateData, validateHost, validateTyped } from './buffers.js';
import { Blocks, equalBlock, equalCounts, parseVSpec, type VSpec } from './vspec.js';
import { CollectiveCall } from './collectives/call.js';
import { objectValues, typedValues } from './collectives/values.js';
import { bcastBytes, bcastObject, gatherBytes, gatherObjects, scatterBytes, scatterObjects, treeReduce } from './collectives/tree.js';
import { allreduceTyped, recursiveDoubling, reduceScatterTyped } from './collectives/allreduce.js';
import { allgatherBlocks, bruckAllgather, disseminationBarrier } from './collectives/allgather.js';
import { allgatherv, alltoallBytes, alltoallObjects, alltoallv, gatherv, scatterv } from './collectives/direct.js';
import { scanDoubling } from './collectives/scan.js';
import { BCAST_SEGMENT } from './collectives/select.js';
import { cartCoords, cartRank, cartShape, cartShift } from './topology.js';
import { MPIError } from './errors.js';
import { Group } from './group.js';
import { Op, SUM, MAX, type TypedArray } from './op.js';
import { Request, Status } from './request.js';
import type { World } from './world.js';

/** @internal How Win reaches a communicator's runtime and rank map. */
export const kInternals = Symbol('node-ucx.mpi.internals');

function validateOp(op: unknown): asserts op is Op {
  if (!(op instanceof Op)) throw new MPIError('ERR_MPI_OP', 'op must be an MPI.Op (MPI.SUM, MPI.MAX, ..., or Op.create(fn))');
}

/** Rooted collectives take IN_PLACE at the root only (MPI's rule: elsewhere it would mean nothing). */
function checkRootInPlace(what: string, inPlace: boolean, isRoot: boolean): void {
  if (inPlace && !isRoot) throw new MPIError('ERR_MPI_ARG', `IN_PLACE is for the root of ${what} only`);
}

export class Comm {
  /** This process's rank in the communicator. */
  readonly rank: number;
  readonly size: number;
  /** The communicator's context id (unique among the communicators these processes share). */
  readonly contextId: number;
  readonly #world: World | null;
  /** Communicator rank → world rank. */
  readonly #ranks: readonly number[];
  /** Point-to-point and collective messages travel on two contexts, so that neither matches the other's (null before init). */
  readonly #p2p: Channel | null;
  readonly #coll: Channel | null;
  /** The next collective call's sequence number (its tag on the collective context). */
  #seq = 0;
  #freed = false;

  /** @internal Made by MPI.init(), split(), dup(). */
  constructor(world: World | null, contextId: number, ranks: readonly number[], rank: number) {
    this.#world = world;
    this.contextId = contextId;
    this.#ranks = ranks;
    this.rank = rank;
    this.size = ranks.length;
    this.#p2p = world === null ? null : new Channel(world, ranks, rank, contextId, 'p2p');
    this.#coll = world === null ? null : new Channel(world, ranks, rank, contextId, 'collective');
  }

  getRank(): number { return this.rank; }
  getSize(): number { return this.size; }
  /** mpi4py spellings. */
  Get_rank(): number { return this.rank; }
  Get_size(): number { return this.size; }

  /** The world rank of a rank of this communicator. */
  worldRank(rank: number): number {
    this.#checkRank(rank, 'rank');
    return this.#ranks[rank]!;
  }

  get freed(): boolean { return this.#freed; }

  /** @internal */
  [kInternals](): { world: World; ranks: readonly number[] } {
    return { world: this.#use(), ranks: this.#ranks };
  }

  // ======================= point to point =======================
  // Objects (lowercase) and buffers (uppercase) share the checks and the channel; only the payload differs.

  /** Sends a structured-clone copy of `obj` to `dest`. Resolves when `obj` may change (the bytes are copied). */
  send(obj: unknown, dest: number, tag = 0): Promise<void> {
    return this.#send(dest, tag, null, (p2p) => p2p.sendObject(dest, obj, tag));
  }

  /** Synchronous mode: resolves once the receiver has matched the message. */
  ssend(obj: unknown, dest: number, tag = 0): Promise<void> {
    return this.#send(dest, tag, null, (p2p) => p2p.sendObject(dest, obj, tag, true));
  }

  /** Receives an object. `status`, if given, is filled in. */
  async recv<T = unknown>(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<T> {
    const [value, st] = await this.#recvObject(source, tag, undefined);
    if (status !== undefined) Object.assign(status, st);
    return value as T;
  }

  isend(obj: unknown, dest: number, tag = 0): Request<void> {
    return new Request(this.send(obj, dest, tag));
  }

  issend(obj: unknown, dest: number, tag = 0): Request<void> {
    return new Request(this.ssend(obj, dest, tag));
  }

  /** A receive that can be waited on, tested and cancelled; wait() resolves with the object. */
  irecv<T = unknown>(source = ANY_SOURCE, tag = ANY_TAG): Request<T> {
    return this.#cancellable((signal) => this.#recvObject(source, tag, signal), (value) => value as T);
  }

  /** Sends `sendobj` to `dest` and receives from `source` at once (no deadlock when both sides do it). */
  async sendrecv<T = unknown>(sendobj: unknown, dest: number, sendtag = 0, source = ANY_SOURCE, recvtag = ANY_TAG, status?: Status): Promise<T> {
    const received = this.recv<T>(source, recvtag, status);
    const sent = this.send(sendobj, dest, sendtag);
    const [value] = await Promise.all([received, sent]);
    return value;
  }

  /** Waits until a matching message has arrived (it stays queued) and returns its Status. */
  async probe(source = ANY_SOURCE, tag = ANY_TAG): Promise<Status> {
    for (let spins = 0; ; spins++) {
      const status = this.iprobe(source, tag);
      if (status !== null) return status;
      // Sleep-free at first (a reply is often microseconds away), then back off to 1 ms.
      await new Promise((resolve) => (spins < 64 ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
  }

  /** The Status of a matching message that has arrived, or null. Counts are bytes on the wire (objects: header + encoding). */
  iprobe(source = ANY_SOURCE, tag = ANY_TAG): Status | null {
    this.#use();
    this.#checkSource(source);
    this.#checkTag(tag, true);
    if (source === PROC_NULL) return new Status(PROC_NULL, ANY_TAG, 0);
    const found = this.#p2p!.probe(source, tag);
    return found === null ? null : new Status(found.source, found.tag, found.length);
  }

  /** Sends the bytes of `buf` (no copy: it must not change until this resolves). */
  Send(buf: Data, dest: number, tag = 0): Promise<void> {
    return this.#send(dest, tag, () => validateData(buf, 'buf'), (p2p) => p2p.sendBytes(dest, buf, tag));
  }

  Ssend(buf: Data, dest: number, tag = 0): Promise<void> {
    return this.#send(dest, tag, () => validateData(buf, 'buf'), (p2p) => p2p.sendBytes(dest, buf, tag, true));
  }

  /** Receives into `buf` (no copy). Rejects with ERR_MPI_TRUNCATE if the message is longer. */
  Recv(buf: Data, source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<Status> {
    return this.#recvBytes(buf, source, tag, undefined).then(([, st]) => {
      if (status !== undefined) Object.assign(status, st);
      return st;
    });
  }

  Isend(buf: Data, dest: number, tag = 0): Request<void> {
    return new Request(this.Send(buf, dest, tag));
  }

  Issend(buf: Data, dest: number, tag = 0): Request<void> {
    return new Request(this.Ssend(buf, dest, tag));
  }

  /** wait() resolves with the Status. */
  Irecv(buf: Data, source = ANY_SOURCE, tag = ANY_TAG): Request<Status> {
    return this.#cancellable((signal) => this.#recvBytes(buf, source, tag, signal), (_, st) => st);
  }

  async Sendrecv(sendbuf: Data, dest: number, sendtag: number, recvbuf: Data, source = ANY_SOURCE, recvtag = ANY_TAG, status?: Status): Promise<Status> {
    const received = this.Recv(recvbuf, source, recvtag, status);
    const sent = this.Send(sendbuf, dest, sendtag);
    const [st] = await Promise.all([received, sent]);
    return st;
  }

  Probe(source = ANY_SOURCE, tag = ANY_TAG): Promise<Status> { return this.probe(source, tag); }
  Iprobe(source = ANY_SOURCE, tag = ANY_TAG): Status | null { return this.iprobe(source, tag); }

  /** A send's checks (`checkPayload` first), then `send` on the point-to-point channel; PROC_NULL resolves at once. */
  #send(dest: number, tag: number, checkPayload: (() => void) | null, send: (p2p: Channel) => Promise<void>): Promise<void> {
    try {
      checkPayload?.();
      this.#checkDest(dest);
      this.#checkTag(tag, false);
      if (dest === PROC_NULL) return Promise.resolve();
      return send(this.#p2p!);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #recvObject(source: number, tag: number, signal: AbortSignal | undefined): Promise<[unknown, Status]> {
    return this.#recv(source, tag, null, (p2p) => p2p.recvObject(source, tag, signal, 'recv'));
  }

  #recvBytes(buf: Data, source: number, tag: number, signal: AbortSignal | undefined): Promise<[unknown, Status]> {
    return this.#recv(source, tag, () => validateData(buf, 'buf'),
      (p2p) => p2p.recvBytes(buf, source, tag, signal, 'Recv').then((arrival) => [undefined, arrival]));
  }

  /** A receive's checks, then `receive` on the point-to-point channel; PROC_NULL completes at once, with no value. */
  #recv<T>(source: number, tag: number, checkPayload: (() => void) | null, receive: (p2p: Channel) => Promise<[T, Arrival]>): Promise<[T | null, Status]> {
    try {
      this.#use();
      checkPayload?.();
      this.#checkSource(source);
      this.#checkTag(tag, true);
      if (source === PROC_NULL) return Promise.resolve([null, new Status(PROC_NULL, ANY_TAG, 0)]);
      return receive(this.#p2p!).then(([value, arrival]) => [value, new Status(arrival.source, arrival.tag, arrival.length)]);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A receive as a Request: cancel() aborts it, and it then completes (as in MPI) with status.cancelled set and no value. */
  #cancellable<R>(start: (signal: AbortSignal) => Promise<[unknown, Status]>, result: (value: unknown, status: Status) => R): Request<R> {
    const controller = new AbortController();
    let status: Status | null = null;
    const promise = start(controller.signal).then(
      ([value, st]) => {
        status = st;
        return result(value, st);
      },
      (error: unknown) => {
        if (!isCancellation(error, controller.signal)) throw error;
        status = new Status(ANY_SOURCE, ANY_TAG, 0, true);
        return result(undefined, status);
      });
    return new Request(promise, () => { controller.abort(); return true; }, () => status);
  }

  // ======================= collectives: objects =======================

  /** Dissemination barrier: ceil(log2 size) rounds of empty messages. */
  async barrier(): Promise<void> {
    this.#use();
    if (this.size === 1) return;
    await disseminationBarrier(this.#call());
  }

  Barrier(): Promise<void> { return this.barrier(); }

  /** Binomial-tree broadcast of a structured-clone copy; the root gets `obj` itself back. */
  async bcast<T>(obj: T, root = 0): Promise<T> {
    this.#use();
    this.#checkRoot(root);
    if (this.size === 1) return obj;
    return bcastObject(this.#call(), obj, root);
  }

  /** Binomial-tree scatter: `objs` (root only) has one element per rank; each rank gets its own. */
  async scatter<T>(objs: readonly T[] | null, root = 0): Promise<T> {
    this.#use();
    this.#checkRoot(root);
    if (this.rank === root && (!Array.isArray(objs) || objs.length !== this.size)) {
      throw new MPIError('ERR_MPI_COUNT', `scatter at the root needs an array of ${this.size} elements`);
    }
    if (this.size === 1) return objs![0]!;
    return scatterObjects(this.#call(), objs, root);
  }

  /** Binomial-tree gather: the root gets an array (in rank order), the others null. */
  async gather<T>(obj: T, root = 0): Promise<T[] | null> {
    this.#use();
    this.#checkRoot(root);
    if (this.size === 1) return [obj];
    return gatherObjects(this.#call(), obj, root);
  }

  /** Every rank gets every rank's object, in rank order (Bruck's algorithm: ceil(log2 size) rounds). */
  async allgather<T>(obj: T): Promise<T[]> {
    this.#use();
    if (this.size === 1) return [obj];
    return bruckAllgather(this.#call(), obj);
  }

  /** objs[i] goes to rank i; the result's element j came from rank j. */
  async alltoall<T>(objs: readonly T[]): Promise<T[]> {
    this.#use();
    if (!Array.isArray(objs) || objs.length !== this.size) throw new MPIError('ERR_MPI_COUNT', `alltoall needs an array of ${this.size} elements`);
    return alltoallObjects(this.#call(), objs);
  }

  /** Binomial-tree reduction; the root gets op(x0, x1, ..., x(size-1)), the others null. */
  async reduce<T>(obj: T, op: Op = SUM, root = 0): Promise<T | null> {
    this.#use();
    validateOp(op);
    this.#checkRoot(root);
    if (this.size === 1) return obj;
    const call = this.#call();
    const value = await treeReduce(call, objectValues(call, op), obj as unknown, op.commute, root);
    return this.rank === root ? value as T : null;
  }

  /** Recursive doubling (with the non-power-of-two ranks folded in); every rank gets op(x0, ..., x(size-1)). */
  async allreduce<T>(obj: T, op: Op = SUM): Promise<T> {
    this.#use();
    validateOp(op);
    if (this.size === 1) return obj;
    const call = this.#call();
    return await recursiveDoubling(call, objectValues(call, op), obj as unknown) as T;
  }

  /** Inclusive prefix reduction: rank r gets op(x0, ..., xr). Recursive doubling. */
  async scan<T>(obj: T, op: Op = SUM): Promise<T> {
    return (await this.#scanObject(obj, op, false)) as T;
  }

  /** Exclusive prefix reduction: rank r gets op(x0, ..., x(r-1)); rank 0 gets null. */
  async exscan<T>(obj: T, op: Op = SUM): Promise<T | null> {
    return (await this.#scanObject(obj, op, true)) as T | null;
  }

  async #scanObject(obj: unknown, op: Op, exclusive: boolean): Promise<unknown> {
    this.#use();
    validateOp(op);
    if (this.size === 1) return exclusive ? null : obj;
    const call = this.#call();
    return scanDoubling(call, objectValues(call, op), obj, exclusive ? null : obj, !exclusive);
  }

  // ======================= collectives: buffers =======================

  /** Broadcasts the root's `buf` into every rank's `buf` (binomial tree; large buffers pipelined in segments). */
  async Bcast(buf: Data, root = 0): Promise<void> {
    this.#use();
    validateData(buf, 'buf');
    this.#checkRoot(root);
    if (this.size === 1) return;
    await bcastBytes(this.#call(), buf, root, BCAST_SEGMENT);
  }

  /** Element-wise reduction of every rank's `sendbuf` into the root's `recvbuf` (binomial tree). */
  async Reduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray | null, op: Op = SUM, root = 0): Promise<void> {
    this.#use();
    validateOp(op);
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    checkRootInPlace('Reduce', sendbuf === IN_PLACE, isRoot);
    if (isRoot) validateTyped(recvbuf, 'recvbuf');
    const source = sendbuf === IN_PLACE ? recvbuf! : sendbuf;
    validateTyped(source, 'sendbuf');
    if (isRoot) checkMatching('Reduce', recvbuf!, source);
    op.checkTyped(source);
    const acc = isRoot ? recvbuf! : source.slice() as TypedArray;
    if (isRoot && sendbuf !== IN_PLACE) acc.set(source as never);
    if (this.size === 1) return;
    const call = this.#call();
    await treeReduce(call, typedValues(call, op, acc, 'Reduce'), acc, op.commute, root);
  }

  /** Element-wise reduction; every rank gets the result in `recvbuf`. Recursive doubling, or a ring for large buffers. */
  async Allreduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    this.#use();
    validateOp(op);
    validateTyped(recvbuf, 'recvbuf');
    if (sendbuf !== IN_PLACE) {
      validateTyped(sendbuf, 'sendbuf');
      checkMatching('Allreduce', recvbuf, sendbuf);
      if (sendbuf !== recvbuf) recvbuf.set(sendbuf as never);
    }
    op.checkTyped(recvbuf);
    if (this.size === 1) return;
    await allreduceTyped(this.#call(), recvbuf, op);
  }

  /** Concatenates every rank's `sendbuf` (equal sizes) into the root's `recvbuf`, in rank order (binomial tree). */
  async Gather(sendbuf: ArrayBufferView | InPlace, recvbuf: ArrayBufferView | null, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    if (isRoot) validateHost(recvbuf, 'recvbuf');
    checkRootInPlace('Gather', sendbuf === IN_PLACE, isRoot);
    const n = equalBlock('Gather', sendbuf, 'sendbuf', isRoot ? recvbuf : null, 'recvbuf', this.size);
    const own = sendbuf === IN_PLACE ? bytes(recvbuf!).subarray(root * n, root * n + n) : bytes(sendbuf);
    if (this.size === 1) {
      if (sendbuf !== IN_PLACE) bytes(recvbuf!).set(own);
      return;
    }
    await gatherBytes(this.#call(), own, isRoot ? bytes(recvbuf!) : null, n, root, sendbuf === IN_PLACE);
  }

  /** Splits the root's `sendbuf` into equal blocks; rank i gets block i in `recvbuf` (binomial tree). */
  async Scatter(sendbuf: ArrayBufferView | null, recvbuf: ArrayBufferView | InPlace, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    if (isRoot) validateHost(sendbuf, 'sendbuf');
    checkRootInPlace('Scatter', recvbuf === IN_PLACE, isRoot);
    const n = equalBlock('Scatter', recvbuf, 'recvbuf', isRoot ? sendbuf : null, 'sendbuf', this.size);
    const out = recvbuf === IN_PLACE ? null : bytes(recvbuf);
    if (this.size === 1) {
      out?.set(bytes(sendbuf!).subarray(0, n));
      return;
    }
    await scatterBytes(this.#call(), isRoot ? bytes(sendbuf!) : null, out, n, root);
  }

  /** Every rank's `sendbuf` (equal sizes) concatenated into every rank's `recvbuf`, in rank order. */
  async Allgather(sendbuf: ArrayBufferView | InPlace, recvbuf: ArrayBufferView): Promise<void> {
    this.#use();
    validateHost(recvbuf, 'recvbuf');
    const size = this.size;
    const n = equalBlock('Allgather', sendbuf, 'sendbuf', recvbuf, 'recvbuf', size);
    if (sendbuf !== IN_PLACE) bytes(recvbuf).set(bytes(sendbuf), this.rank * n);
    if (size === 1) return;
    await allgatherBlocks(this.#call(), new Blocks(bytes(recvbuf), new Array<number>(size).fill(n)));
  }

  /** Block i of `sendbuf` goes to rank i; block j of `recvbuf` comes from rank j (all exchanges at once). */
  async Alltoall(sendbuf: ArrayBufferView | InPlace, recvbuf: ArrayBufferView): Promise<void> {
    this.#use();
    validateHost(recvbuf, 'recvbuf');
    const size = this.size;
    if (sendbuf !== IN_PLACE) validateHost(sendbuf, 'sendbuf');
    const source = sendbuf === IN_PLACE ? bytes(recvbuf).slice() : bytes(sendbuf);
    if (source.byteLength % size !== 0) throw new MPIError('ERR_MPI_COUNT', `Alltoall: sendbuf of ${source.byteLength} bytes does not split into ${size} blocks`);
    const n = source.byteLength / size;
    if (recvbuf.byteLength < n * size) throw new MPIError('ERR_MPI_COUNT', `Alltoall: recvbuf has ${recvbuf.byteLength} bytes, ${n * size} needed`);
    const out = bytes(recvbuf);
    out.set(source.subarray(this.rank * n, this.rank * n + n), this.rank * n);
    if (size === 1) return;
    await alltoallBytes(this.#call(), source, out, n);
  }

  // ---- v-collectives: blocks of different sizes, [buf, counts, displs] (mpi4py's buffer spec) ----

  /** Every rank's `sendbuf` into block `rank` of the root's `recvspec` (direct sends to the root). */
  async Gatherv(sendbuf: ArrayBufferView | InPlace, recvspec: VSpec | null, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    checkRootInPlace('Gatherv', sendbuf === IN_PLACE, isRoot);
    if (sendbuf !== IN_PLACE) validateHost(sendbuf, 'sendbuf');
    const blocks = isRoot ? parseVSpec(recvspec, this.size, 'recvspec', 'Gatherv') : null;
    await gatherv(this.#call(), sendbuf === IN_PLACE ? null : bytes(sendbuf), blocks, root);
  }

  /** Block i of the root's `sendspec` to rank i's `recvbuf` (direct sends from the root). */
  async Scatterv(sendspec: VSpec | null, recvbuf: ArrayBufferView | InPlace, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    checkRootInPlace('Scatterv', recvbuf === IN_PLACE, isRoot);
    if (recvbuf !== IN_PLACE) validateHost(recvbuf, 'recvbuf');
    const blocks = isRoot ? parseVSpec(sendspec, this.size, 'sendspec', 'Scatterv') : null;
    await scatterv(this.#call(), blocks, recvbuf === IN_PLACE ? null : bytes(recvbuf), root);
  }

  /** Every rank's `sendbuf` into block `rank` of every rank's `recvspec` (every pair exchanges directly). */
  async Allgatherv(sendbuf: ArrayBufferView | InPlace, recvspec: VSpec): Promise<void> {
    this.#use();
    if (sendbuf !== IN_PLACE) validateHost(sendbuf, 'sendbuf');
    const blocks = parseVSpec(recvspec, this.size, 'recvspec', 'Allgatherv');
    await allgatherv(this.#call(), sendbuf === IN_PLACE ? null : bytes(sendbuf), blocks);
  }

  /** Block j of `sendspec` to rank j; block j of `recvspec` from rank j (every pair exchanges directly). */
  async Alltoallv(sendspec: VSpec, recvspec: VSpec): Promise<void> {
    this.#use();
    const out = parseVSpec(sendspec, this.size, 'sendspec', 'Alltoallv');
    const into = parseVSpec(recvspec, this.size, 'recvspec', 'Alltoallv');
    await alltoallv(this.#call(), out, into);
  }

  /** Reduces `sendbuf` (size blocks of recvbuf.length elements) and leaves block `rank` of the result in `recvbuf`. */
  async Reduce_scatter_block(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    this.#use();
    validateTyped(recvbuf, 'recvbuf');
    const counts = new Array<number>(this.size).fill(sendbuf === IN_PLACE ? recvbuf.length / this.size : recvbuf.length);
    if (sendbuf === IN_PLACE && !Number.isInteger(counts[0])) throw new MPIError('ERR_MPI_COUNT', 'Reduce_scatter_block: IN_PLACE recvbuf does not split into equal blocks');
    await this.Reduce_scatter(sendbuf, recvbuf, counts, op);
  }

  /** Reduces `sendbuf` and scatters it: rank i gets `recvcounts[i]` elements (default: equal blocks). Ring for commutative ops. */
  async Reduce_scatter(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, recvcounts: readonly number[] | null = null, op: Op = SUM): Promise<void> {
    this.#use();
    validateOp(op);
    validateTyped(recvbuf, 'recvbuf');
    const size = this.size;
    const whole = sendbuf === IN_PLACE ? recvbuf : sendbuf;
    validateTyped(whole, 'sendbuf');
    const counts = recvcounts ?? equalCounts(whole.length, size);
    if (!Array.isArray(counts) || counts.length !== size || counts.some((c) => !Number.isInteger(c) || c < 0)) {
      throw new MPIError('ERR_MPI_COUNT', `Reduce_scatter: recvcounts must be ${size} non-negative integers`);
    }
    const total = counts.reduce((a, b) => a + b, 0);
    if (whole.length !== total) throw new MPIError('ERR_MPI_COUNT', `Reduce_scatter: sendbuf has ${whole.length} elements, recvcounts add up to ${total}`);
    if (sendbuf !== IN_PLACE && recvbuf.length < counts[this.rank]!) {
      throw new MPIError('ERR_MPI_COUNT', `Reduce_scatter: recvbuf has ${recvbuf.length} elements, ${counts[this.rank]} needed`);
    }
    op.checkTyped(whole);
    const work = new Blocks(whole.slice() as TypedArray, counts);
    if (size > 1) await reduceScatterTyped(this.#call(), work, op);
    recvbuf.set(work.block(this.rank) as never, 0);
  }

  /** Inclusive prefix reduction of typed arrays. */
  async Scan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    await this.#scanTyped(sendbuf, recvbuf, op, false);
  }

  /** Exclusive prefix reduction of typed arrays (rank 0's recvbuf is left as it is). */
  async Exscan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    await this.#scanTyped(sendbuf, recvbuf, op, true);
  }

  async #scanTyped(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op, exclusive: boolean): Promise<void> {
    const what = exclusive ? 'Exscan' : 'Scan';
    this.#use();
    validateOp(op);
    validateTyped(recvbuf, 'recvbuf');
    const own = sendbuf === IN_PLACE ? recvbuf.slice() as TypedArray : sendbuf;
    validateTyped(own, 'sendbuf');
    checkMatching(what, recvbuf, own);
    op.checkTyped(own);
    if (!exclusive && own !== recvbuf) recvbuf.set(own as never);
    if (this.size === 1) return;
    const call = this.#call();
    await scanDoubling(call, typedValues(call, op, own, what), own.slice() as TypedArray, recvbuf, !exclusive);
  }

  // nonblocking collectives: the blocking ones are already asynchronous; these wrap them in a Request.
  ibarrier(): Request<void> { return new Request(this.barrier()); }
  Ibarrier(): Request<void> { return this.ibarrier(); }
  ibcast<T>(obj: T, root = 0): Request<T> { return new Request(this.bcast(obj, root)); }
  Ibcast(buf: Data, root = 0): Request<void> { return new Request(this.Bcast(buf, root)); }
  Iallreduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Request<void> { return new Request(this.Allreduce(sendbuf, recvbuf, op)); }

  // ======================= communicators =======================

  /** This communicator's processes as a Group (comm rank i is group rank i). */
  get group(): Group {
    this.#use();
    return new Group(this.#ranks, this.#ranks[this.rank]!);
  }

  /**
   * A Cartesian grid of `dims` (row-major: the last dimension varies fastest) over the first
   * prod(dims) ranks, which keep their order (`reorder` is accepted and ignored, as MPI allows); the
   * other ranks get null. `periods[i]`: dimension i wraps around. Collective.
   */
  async createCart(dims: readonly number[], opts: { periods?: readonly boolean[]; reorder?: boolean } = {}): Promise<CartComm | null> {
    this.#use();
    const shape = cartShape(dims, opts.periods, this.size);
    const sub = await this.split(this.rank < shape.cells ? 0 : UNDEFINED, this.rank);
    if (sub === null) return null;
    const { world, ranks } = sub[kInternals]();
    return new CartComm(world, sub.contextId, ranks, sub.rank, shape.dims, shape.periods);
  }

  /**
   * A communicator of the group's members, ranked in group order; null on the ranks not in it.
   * The group must be a subset of this communicator, the same on every rank. Collective over this one.
   */
  async create(group: Group): Promise<Comm | null> {
    if (!(group instanceof Group)) throw new MPIError('ERR_MPI_ARG', 'create: expected an MPI Group (comm.group, then incl/excl/...)');
    const outside = group.worldRanks.find((worldRank) => !this.#ranks.includes(worldRank));
    if (outside !== undefined) throw new MPIError('ERR_MPI_ARG', `create: world rank ${outside} of the group is not in this communicator`);
    const rank = group.rank;
    return this.split(rank === UNDEFINED ? UNDEFINED : 0, rank === UNDEFINED ? 0 : rank);
  }

  /**
   * Splits into disjoint communicators, one per `color`; ranks are ordered by `key`, then by rank here.
   * `color` UNDEFINED (or null) gives null (MPI_COMM_NULL). Collective.
   */
  async split(color: number | null = 0, key = 0): Promise<Comm | null> {
    const world = this.#use();
    if (color !== null && color !== UNDEFINED && (!Number.isInteger(color) || color < 0)) {
      throw new MPIError('ERR_MPI_ARG', `split: color must be a non-negative integer or UNDEFINED, not ${String(color)}`);
    }
    if (!Number.isInteger(key)) throw new MPIError('ERR_MPI_ARG', `split: key must be an integer, not ${String(key)}`);
    const entries = await this.allgather([color ?? UNDEFINED, key, world.nextContextId] as const);
    const contextId = this.#takeContext(world, Math.max(...entries.map((e) => e[2])));
    const mine = color ?? UNDEFINED;
    if (mine === UNDEFINED) return null;
    const members = entries
      .map((e, rank) => ({ color: e[0], key: e[1], rank }))
      .filter((m) => m.color === mine)
      .sort((a, b) => a.key - b.key || a.rank - b.rank);
    const ranks = members.map((m) => this.#ranks[m.rank]!);
    return new Comm(world, contextId, ranks, members.findIndex((m) => m.rank === this.rank));
  }

  /** A new communicator with the same ranks and a context of its own. Collective. */
  async dup(): Promise<Comm> {
    const world = this.#use();
    const contextId = this.#takeContext(world, await this.allreduce(world.nextContextId, MAX));
    return new Comm(world, contextId, this.#ranks, this.rank);
  }

  Split(color: number | null = 0, key = 0): Promise<Comm | null> { return this.split(color, key); }
  Get_group(): Group { return this.group; }
  Create_cart(dims: readonly number[], periods?: readonly boolean[] | null, reorder = false): Promise<CartComm | null> {
    return this.createCart(dims, { periods: periods ?? undefined, reorder });
  }
  Create(group: Group): Promise<Comm | null> { return this.create(group); }
  Dup(): Promise<Comm> { return this.dup(); }

  /** Marks the communicator unusable (MPI_Comm_free). */
  free(): void {
    this.#freed = true;
  }

  Free(): void { this.free(); }

  /**
   * Ends the whole job with `code` (MPI_Abort): the launcher (or rank 0) is told, every rank exits, and the
   * job's exit status is `code`. The promise never settles: `await comm.abort(2)` stops the caller there.
   */
  abort(code = 1): Promise<never> {
    const exitCode = Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
    return abortJob(exitCode, `rank ${this.rank} called abort(${code})`);
  }

  Abort(code = 1): Promise<never> { return this.abort(code); }

  // ======================= internals =======================

  #use(): World {
    const world = this.#world;
    if (world === null) throw new MPIError('ERR_MPI_COMM', 'MPI is not initialized: await MPI.init() first');
    if (world.failed !== null) throw world.failed;
    if (this.#freed) throw new MPIError('ERR_MPI_COMM', 'the communicator was freed');
    if (world.worker.closed) throw new MPIError('ERR_MPI_COMM', 'MPI is finalized');
    return world;
  }

  #nextTag(): number {
    const tag = this.#seq;
    this.#seq = nextSequence(tag);
    return tag;
  }

  /**
   * A new communicator's context id: the largest next-free id among its ranks (so unique among the
   * communicators they share), and this process's next-free id moves past it.
   */
  #takeContext(world: World, contextId: number): number {
    if (contextId >= MAX_CONTEXTS) throw new MPIError('ERR_MPI_COMM', `out of communicator context ids (${MAX_CONTEXTS})`);
    world.nextContextId = contextId + 1;
    return contextId;
  }

  #checkRank(rank: unknown, what: string, code: 'ERR_MPI_RANK' | 'ERR_MPI_ROOT' = 'ERR_MPI_RANK'): asserts rank is number {
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw new MPIError(code, `${what} ${String(rank)} is not a rank of this communicator (0 ... ${this.size - 1})`);
    }
  }

  #checkDest(dest: unknown): asserts dest is number {
    this.#use();
    if (dest === PROC_NULL) return;
    this.#checkRank(dest, 'dest');
  }

  #checkSource(source: unknown): asserts source is number {
    if (source === ANY_SOURCE || source === PROC_NULL) return;
    this.#checkRank(source, 'source');
  }

  #checkRoot(root: unknown): asserts root is number {
    this.#checkRank(root, 'root', 'ERR_MPI_ROOT');
  }

  #checkTag(tag: unknown, any: boolean): asserts tag is number {
    if (any && tag === ANY_TAG) return;
    if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > TAG_UB) {
      throw new MPIError('ERR_MPI_TAG', `tag ${String(tag)} is not in 0 ... ${TAG_UB}${any ? ' (or ANY_TAG)' : ''}`);
    }
  }

  /** A collective call on this communicator: the collective channel, with the call's sequence number as its tag. */
  #call(): CollectiveCall {
    return new CollectiveCall(this.#coll!, this.#nextTag());
  }
}

/** Whether a receive failed because its own signal aborted it (cancel()), not for another reason. */
function isCancellation(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted && error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR');
}

// Set by the runtime (index.ts): how comm.abort() ends the job.
let abortJob: (code: number, reason: string) => Promise<never> = (code) => process.exit(code);
export function setAbortHandler(handler: (code: number, reason: string) => Promise<never>): void {
  abortJob = handler;
}

/** A communicator with a Cartesian topology (Comm.createCart); the grid arithmetic is topology.ts's. */
export class CartComm extends Comm {
  readonly dims: readonly number[];
  readonly periods: readonly boolean[];
  /** This rank's coordinates. */
  readonly coords: readonly number[];

  /** @internal Made by Comm.createCart(). */
  constructor(world: World, contextId: number, ranks: readonly number[], rank: number, dims: readonly number[], periods: readonly boolean[]) {
    super(world, contextId, ranks, rank);
    this.dims = Object.freeze([...dims]);
    this.periods = Object.freeze([...periods]);
    this.coords = Object.freeze(this.getCoords(rank));
  }

  get ndim(): number { return this.dims.length; }

  /** The coordinates of a rank of this communicator. */
  getCoords(rank: number): number[] { return cartCoords(this, rank); }

  /** The rank at these coordinates; periodic dimensions wrap, others must be in range. */
  getCartRank(coords: readonly number[]): number { return cartRank(this, coords); }

  /** [source, dest] for a shift by `disp` along `direction`: PROC_NULL past a non-periodic edge. */
  shift(direction: number, disp: number): [number, number] { return cartShift(this, this.coords, direction, disp); }

  // mpi4py spellings
  Get_dim(): number { return this.ndim; }
  Get_coords(rank: number): number[] { return this.getCoords(rank); }
  Get_cart_rank(coords: readonly number[]): number { return this.getCartRank(coords); }
  Shift(direction: number, disp: number): [number, number] { return this.shift(direction, disp); }
  Get_topo(): [number[], boolean[], number[]] { return [[...this.dims], [...this.periods], [...this.coords]]; }
}
