// Comm, the MPI communicator as the user sees it (and CartComm, its Cartesian kind): argument
// checks, then delegation. Messages go through two Channels (p2p.ts), one per context (tags.ts);
// the collective algorithms are in collectives/, one CollectiveCall per call.
import os from 'node:os';
import type { Data } from '../index.js';
import { ANY_SOURCE, ANY_TAG, PROC_NULL, UNDEFINED, IN_PLACE, type InPlace } from './constants.js';
import { MAX_CONTEXTS, TAG_UB, nextSequence } from './tags.js';
import { Channel, type Arrival } from './p2p.js';
import { checkMatching, isDevice, validateData } from './buffers.js';
import { Blocks, equalBlock, equalCounts, type VSpec } from './vspec.js';
import { blockArg, byteBlocks, incoming, outgoing, parsePayload, parseVPayload, typedArg, type BufSpec, type TypedPayload, type VBufSpec } from './bufspec.js';
import { Errhandler, defaultErrhandler, routeErrors, validateErrhandler } from './errhandler.js';
import { Message, MESSAGE_NO_PROC } from './message.js';
import { CollectiveCall } from './collectives/call.js';
import { objectValues, typedValues } from './collectives/values.js';
import { bcastBytes, bcastObject, gatherBytes, gatherObjects, scatterBytes, scatterObjects, treeReduce } from './collectives/tree.js';
import { allreduceTyped, recursiveDoubling, reduceScatterTyped } from './collectives/allreduce.js';
import { allgatherBlocks, bruckAllgather, disseminationBarrier } from './collectives/allgather.js';
import { allgatherv, alltoallBytes, alltoallObjects, alltoallv, gatherv, linearGather, linearScatter, scatterv } from './collectives/direct.js';
import { scanDoubling } from './collectives/scan.js';
import { BCAST_SEGMENT, rootedAlgorithm } from './collectives/select.js';
import { cartCoords, cartRank, cartShape, cartShift } from './topology.js';
import { MPIError } from './errors.js';
import { Group } from './group.js';
import { Op, SUM, MAX, REPLACE, NO_OP, opSettings, type TypedArray } from './op.js';
import { Prequest, Request, Status } from './request.js';
import type { World } from './world.js';
import type { Intercomm } from './intercomm.js';

/** @internal How Win reaches a communicator's runtime and rank map. */
export const kInternals = Symbol('node-ucx.mpi.internals');

/** Split_type: the ranks that can share memory (one host). */
export const COMM_TYPE_SHARED = 0;
/** Comm.Get_attr key: whether wtime() is synchronized across ranks (it is not). */
export const WTIME_IS_GLOBAL = -1_000_001;

function validateOp(op: unknown): asserts op is Op {
  if (!(op instanceof Op)) throw new MPIError('ERR_MPI_OP', 'op must be an MPI.Op (MPI.SUM, MPI.MAX, ..., or Op.create(fn))');
}

/** A buffer argument of the uppercase operations: a typed array, Buffer, DataView, DeviceMemory or an mpi4py-style spec. */
export type Buf = Data | BufSpec;
/** A reduction's buffer: a typed array or a [buf, count, datatype] spec of basic elements. */
export type ReduceBuf = TypedArray | BufSpec;
/** A v-collective's buffer: [buf, counts, displs?] or with a datatype (bufspec.ts). */
export type VBuf = VSpec | VBufSpec;

/** The op for the lowercase (object) collectives: a built-in one in the semantics MPI.rc.objectOps chose. */
function objectOp(op: Op): Op {
  return op.isPredefined && opSettings.objectOps === 'python' ? op.python : op;
}

/** Complex elements take SUM, REPLACE and NO_OP only (the rest would treat re and im apart). */
function checkComplex(op: Op, arg: TypedPayload | null, what: string): void {
  if (arg?.complex && op !== SUM && op !== REPLACE && op !== NO_OP)
    throw new MPIError('ERR_MPI_OP', `${what}: MPI.${op.name} does not apply to complex numbers`);
}

/** Rooted collectives take IN_PLACE at the root only (MPI's rule: elsewhere it would mean nothing). */
function checkRootInPlace(what: string, inPlace: boolean, isRoot: boolean): void {
  if (inPlace && !isRoot) throw new MPIError('ERR_MPI_ARG', `IN_PLACE is for the root of ${what} only`);
}

/** A communicator (mpi4py's Comm): a group of ranks that exchange messages and run collectives. Lowercase methods take any object; uppercase ones take buffers. */
export class Comm {
  /** This process's rank in the communicator. */
  readonly rank: number;
  /** The number of ranks in the communicator. */
  readonly size: number;
  /** The communicator's context id (unique among the communicators these processes share). */
  readonly contextId: number;
  readonly #world: World | null;
  /** Communicator rank → world rank. */
  readonly #ranks: readonly number[];
  /** Point-to-point and collective messages travel on two contexts, so that neither matches the other's (null before init). */
  readonly #p2p: Channel | null;
  readonly #coll: Channel | null;
  /** How many ranks point-to-point messages go to: this communicator's, or an intercommunicator's remote group's. */
  readonly #peers: number;
  /** The next collective call's sequence number (its tag on the collective context). */
  #seq = 0;
  #freed = false;
  /** What a failing operation does (errhandler.ts); new communicators inherit it. */
  errhandler: Errhandler = defaultErrhandler('comm');
  #name: string;

  /** @internal Made by MPI.init(), split(), dup(); `remote`: an intercommunicator's remote group (intercomm.ts). */
  constructor(world: World | null, contextId: number, ranks: readonly number[], rank: number, remote?: readonly number[]) {
    this.#world = world;
    this.contextId = contextId;
    this.#ranks = ranks;
    this.rank = rank;
    this.size = ranks.length;
    const peers = remote ?? ranks;
    this.#peers = peers.length;
    this.#p2p = world === null ? null : new Channel(world, peers, rank, contextId, 'p2p');
    this.#coll = world === null ? null : new Channel(world, peers, rank, contextId, 'collective');
    this.#name = contextId === 0 ? 'MPI_COMM_WORLD' : contextId === 1 ? 'MPI_COMM_SELF' : '';
  }

  /** This process's rank (rank). */
  getRank(): number {
    return this.rank;
  }
  /** The number of ranks (size). */
  getSize(): number {
    return this.size;
  }
  /** mpi4py spellings. */
  Get_rank(): number {
    return this.rank;
  }
  /** mpi4py's name for getSize(). */
  Get_size(): number {
    return this.size;
  }

  /** The world rank of a rank of this communicator. */
  worldRank(rank: number): number {
    this.#checkRank(rank, 'rank');
    return this.#ranks[rank]!;
  }

  /** True once free() was called: operations then throw ERR_MPI_COMM. */
  get freed(): boolean {
    return this.#freed;
  }

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
    if (status != null) Object.assign(status, st);
    return value as T;
  }

  /** send() as a Request. */
  isend(obj: unknown, dest: number, tag = 0): Request<void> {
    return new Request(this.send(obj, dest, tag));
  }

  /** ssend() as a Request: complete once the receiver has matched the message. */
  issend(obj: unknown, dest: number, tag = 0): Request<void> {
    return new Request(this.ssend(obj, dest, tag));
  }

  /** A receive that can be waited on, tested and cancelled; wait() resolves with the object. */
  irecv<T = unknown>(source = ANY_SOURCE, tag = ANY_TAG): Request<T> {
    return this.#cancellable(
      (signal) => this.#recvObject(source, tag, signal),
      (value) => value as T,
    );
  }

  /** Sends `sendobj` to `dest` and receives from `source` at once (no deadlock when both sides do it). */
  async sendrecv<T = unknown>(sendobj: unknown, dest: number, sendtag = 0, source = ANY_SOURCE, recvtag = ANY_TAG, status?: Status): Promise<T> {
    // The send's arguments are checked first: a receive posted for a send that cannot go would take a later message.
    this.#checkDest(dest);
    this.#checkTag(sendtag, false);
    const received = this.recv<T>(source, recvtag, status);
    const sent = this.send(sendobj, dest, sendtag);
    const [value] = await Promise.all([received, sent]);
    return value;
  }

  /** Waits until a matching message has arrived (it stays queued) and returns its Status. */
  async probe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<Status> {
    for (let spins = 0; ; spins++) {
      const found = this.iprobe(source, tag, status);
      if (found !== null) return found;
      // Sleep-free at first (a reply is often microseconds away), then back off to 1 ms.
      await new Promise((resolve) => (spins < 64 ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
  }

  /** The Status of a matching message that has arrived, or null. Counts are bytes on the wire (objects: header + encoding). */
  iprobe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Status | null {
    this.#use();
    this.#checkSource(source);
    this.#checkTag(tag, true);
    const found = source === PROC_NULL ? new Status(PROC_NULL, ANY_TAG, 0) : this.#p2p!.probe(source, tag);
    if (found === null) return null;
    const st = found instanceof Status ? found : new Status(found.source, found.tag, found.length);
    if (status != null) Object.assign(status, st);
    return st;
  }

  /**
   * Sends the data of `buf`: a typed array's bytes (no copy: it must not change until this resolves), or a
   * [buf, count, datatype] spec's items (packed when the datatype is not contiguous).
   */
  Send(buf: Buf, dest: number, tag = 0): Promise<void> {
    let data: Data;
    return this.#send(
      dest,
      tag,
      () => {
        data = outgoing(buf, 'buf', 'Send');
      },
      (p2p) => p2p.sendBytes(dest, data, tag),
    );
  }

  /** Synchronous mode: as Send(), resolving once the receiver has matched the message. */
  Ssend(buf: Buf, dest: number, tag = 0): Promise<void> {
    let data: Data;
    return this.#send(
      dest,
      tag,
      () => {
        data = outgoing(buf, 'buf', 'Ssend');
      },
      (p2p) => p2p.sendBytes(dest, data, tag, true),
    );
  }

  /** Buffered mode: the data is copied first, so `buf` may change at once. */
  Bsend(buf: Buf, dest: number, tag = 0): Promise<void> {
    let data: Data;
    return this.#send(
      dest,
      tag,
      () => {
        const out = outgoing(buf, 'buf', 'Bsend');
        data = ArrayBuffer.isView(out) ? Uint8Array.from(out as Uint8Array) : out;
      },
      (p2p) => p2p.sendBytes(dest, data, tag),
    );
  }

  /** Ready mode (the receive is already posted): a standard send here. */
  Rsend(buf: Buf, dest: number, tag = 0): Promise<void> {
    let data: Data;
    return this.#send(
      dest,
      tag,
      () => {
        data = outgoing(buf, 'buf', 'Rsend');
      },
      (p2p) => p2p.sendBytes(dest, data, tag),
    );
  }

  /** Receives into `buf` (a typed array: no copy; a strided spec: unpacked). Rejects with ERR_MPI_TRUNCATE if the message is longer. */
  Recv(buf: Buf, source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<Status> {
    return this.#recvBytes(buf, source, tag, undefined).then(([, st]) => {
      if (status != null) Object.assign(status, st);
      return st;
    });
  }

  /** Send() as a Request. */
  Isend(buf: Buf, dest: number, tag = 0): Request<void> {
    return new Request(this.Send(buf, dest, tag));
  }

  /** Ssend() as a Request. */
  Issend(buf: Buf, dest: number, tag = 0): Request<void> {
    return new Request(this.Ssend(buf, dest, tag));
  }

  /** Bsend() as a Request. */
  Ibsend(buf: Buf, dest: number, tag = 0): Request<void> {
    return new Request(this.Bsend(buf, dest, tag));
  }

  /** Rsend() as a Request. */
  Irsend(buf: Buf, dest: number, tag = 0): Request<void> {
    return new Request(this.Rsend(buf, dest, tag));
  }

  /** wait() resolves with the Status. */
  Irecv(buf: Buf, source = ANY_SOURCE, tag = ANY_TAG): Request<Status> {
    return this.#cancellable(
      (signal) => this.#recvBytes(buf, source, tag, signal),
      (_, st) => st,
    );
  }

  /** mpi4py's argument order: sendbuf, dest, sendtag, recvbuf, source, recvtag, status. */
  async Sendrecv(
    sendbuf: Buf,
    dest: number,
    sendtag = 0,
    recvbuf: Buf | null = null,
    source = ANY_SOURCE,
    recvtag = ANY_TAG,
    status?: Status,
  ): Promise<Status> {
    this.#checkDest(dest);
    this.#checkTag(sendtag, false);
    const data = isDevice(sendbuf) ? sendbuf : outgoing(sendbuf, 'sendbuf', 'Sendrecv');
    const received = this.Recv(recvbuf as Buf, source, recvtag, status);
    const sent = this.Send(data, dest, sendtag);
    const [st] = await Promise.all([received, sent]);
    return st;
  }

  /** Sends `buf` and receives into it (MPI_Sendrecv_replace): what was there goes, what arrives replaces it. */
  async Sendrecv_replace(buf: Buf, dest: number, sendtag = 0, source = ANY_SOURCE, recvtag = ANY_TAG, status?: Status): Promise<Status> {
    this.#use();
    const copy = isDevice(buf) ? buf : (outgoing(buf, 'buf', 'Sendrecv_replace') as Uint8Array).slice();
    const received = this.Recv(buf, source, recvtag, status);
    const sent = this.Send(copy as Data, dest, sendtag);
    const [st] = await Promise.all([received, sent]);
    return st;
  }

  // ---- persistent requests: made inactive, started with start()/Prequest.startall(), reusable ----

  /** A persistent Send(): each start() sends `buf` again (MPI_Send_init). */
  Send_init(buf: Buf, dest: number, tag = 0): Prequest<void> {
    return this.#persistent(() => [this.Send(buf, dest, tag), null, undefined]);
  }
  /** A persistent Ssend() (MPI_Ssend_init). */
  Ssend_init(buf: Buf, dest: number, tag = 0): Prequest<void> {
    return this.#persistent(() => [this.Ssend(buf, dest, tag), null, undefined]);
  }
  /** A persistent Bsend() (MPI_Bsend_init). */
  Bsend_init(buf: Buf, dest: number, tag = 0): Prequest<void> {
    return this.#persistent(() => [this.Bsend(buf, dest, tag), null, undefined]);
  }
  /** A persistent Rsend() (MPI_Rsend_init). */
  Rsend_init(buf: Buf, dest: number, tag = 0): Prequest<void> {
    return this.#persistent(() => [this.Rsend(buf, dest, tag), null, undefined]);
  }
  /** A persistent receive: each round's wait() resolves with its Status. */
  Recv_init(buf: Buf, source = ANY_SOURCE, tag = ANY_TAG): Prequest<Status> {
    return this.#persistent(() =>
      this.#receiveRound(
        (signal) => this.#recvBytes(buf, source, tag, signal),
        (_, st) => st,
      ),
    );
  }
  /** Send_init(), in camelCase. */
  sendInit(buf: Buf, dest: number, tag = 0): Prequest<void> {
    return this.Send_init(buf, dest, tag);
  }
  /** Recv_init(), in camelCase. */
  recvInit(buf: Buf, source = ANY_SOURCE, tag = ANY_TAG): Prequest<Status> {
    return this.Recv_init(buf, source, tag);
  }

  #persistent<T>(begin: () => [Promise<T>, (() => boolean) | null, ((value: T) => Status | null) | undefined]): Prequest<T> {
    this.#use();
    const request = new Prequest<T>(begin);
    request.reportTo(this);
    return request;
  }

  // ---- matched probe: the message found is taken out of matching, received with its own recv/Recv ----

  /** Waits for a matching message and takes it (MPI_Mprobe): receive it with message.recv() (objects) or message.Recv(buf). */
  async mprobe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<Message> {
    for (let spins = 0; ; spins++) {
      const message = this.improbe(source, tag, status);
      if (message !== null) return message;
      await new Promise((resolve) => (spins < 64 ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
  }

  /** Takes a matching message that has arrived (MPI_Improbe), or null. */
  improbe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Message | null {
    this.#use();
    this.#checkSource(source);
    this.#checkTag(tag, true);
    if (source === PROC_NULL) {
      if (status != null) Object.assign(status, new Status(PROC_NULL, ANY_TAG, 0));
      return MESSAGE_NO_PROC;
    }
    const p2p = this.#p2p!;
    const found = p2p.probe(source, tag);
    if (found === null) return null;
    // Posted now, with nothing in between: UCX gives this receive exactly the message the probe saw.
    const scratch = Buffer.allocUnsafe(found.length);
    const received = p2p.recvBytes(scratch, found.source, found.tag, undefined, 'Mprobe').then(() => scratch);
    if (status != null) Object.assign(status, new Status(found.source, found.tag, found.length));
    return new Message(p2p, found.source, found.tag, found.length, received);
  }

  /** mpi4py's name for mprobe(). */
  Mprobe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<Message> {
    return this.mprobe(source, tag, status);
  }
  /** mpi4py's name for improbe(). */
  Improbe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Message | null {
    return this.improbe(source, tag, status);
  }

  /** mpi4py's Probe(source, tag, status): `status`, if given, is filled in. */
  Probe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Promise<Status> {
    return this.probe(source, tag, status);
  }
  /** mpi4py's name for iprobe(). */
  Iprobe(source = ANY_SOURCE, tag = ANY_TAG, status?: Status): Status | null {
    return this.iprobe(source, tag, status);
  }

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

  #recvBytes(buf: Buf, source: number, tag: number, signal: AbortSignal | undefined): Promise<[unknown, Status]> {
    let target: { into: Data; finish(received: number): void };
    return this.#recv(
      source,
      tag,
      () => {
        target = incoming(buf, 'buf', 'Recv');
      },
      (p2p) =>
        p2p.recvBytes(target.into, source, tag, signal, 'Recv').then((arrival) => {
          target.finish(arrival.length);
          return [undefined, arrival];
        }),
    );
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
    return new Request(...this.#receiveRound(start, result));
  }

  /** One receive that cancel() can abort: [the promise, the cancel function, how to get the Status]. */
  #receiveRound<R>(
    start: (signal: AbortSignal) => Promise<[unknown, Status]>,
    result: (value: unknown, status: Status) => R,
  ): [Promise<R>, () => boolean, () => Status | null] {
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
      },
    );
    return [
      promise,
      () => {
        controller.abort();
        return true;
      },
      () => status,
    ];
  }

  // ======================= collectives: objects =======================

  /** Dissemination barrier: ceil(log2 size) rounds of empty messages. */
  async barrier(): Promise<void> {
    this.#use();
    if (this.size === 1) return;
    await disseminationBarrier(this.#call());
  }

  /** mpi4py's name for barrier(). */
  Barrier(): Promise<void> {
    return this.barrier();
  }

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
    const value = await treeReduce(call, objectValues(call, objectOp(op)), obj as unknown, op.commute, root);
    return this.rank === root ? (value as T) : null;
  }

  /** Recursive doubling (with the non-power-of-two ranks folded in); every rank gets op(x0, ..., x(size-1)). */
  async allreduce<T>(obj: T, op: Op = SUM): Promise<T> {
    this.#use();
    validateOp(op);
    if (this.size === 1) return obj;
    const call = this.#call();
    return (await recursiveDoubling(call, objectValues(call, objectOp(op)), obj as unknown)) as T;
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
    return scanDoubling(call, objectValues(call, objectOp(op)), obj, exclusive ? null : obj, !exclusive);
  }

  // ======================= collectives: buffers =======================
  // Buffers are typed arrays (their bytes as they are) or mpi4py's specs ([buf, count, datatype], ...):
  // contiguous data travels as a view of the buffer, strided data is packed first and unpacked after.

  /** Broadcasts the root's `buf` into every rank's `buf` (binomial tree; large buffers pipelined in segments). */
  async Bcast(buf: Buf, root = 0): Promise<void> {
    this.#use();
    if (isDevice(buf)) validateData(buf, 'buf');
    const payload = isDevice(buf) ? null : parsePayload(buf, 'buf', 'Bcast');
    this.#checkRoot(root);
    if (this.size === 1) return;
    const data = payload === null ? (buf as Data) : payload.data();
    await bcastBytes(this.#call(), data, root, BCAST_SEGMENT);
    if (payload !== null && !payload.contiguous && this.rank !== root) payload.store(data as Uint8Array);
  }

  /** Element-wise reduction of every rank's `sendbuf` into the root's `recvbuf` (binomial tree). */
  async Reduce(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf | null, op: Op = SUM, root = 0): Promise<void> {
    this.#use();
    validateOp(op);
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    checkRootInPlace('Reduce', sendbuf === IN_PLACE, isRoot);
    const recv = isRoot ? typedArg(recvbuf, 'recvbuf', 'Reduce') : null;
    const send = sendbuf === IN_PLACE ? null : typedArg(sendbuf, 'sendbuf', 'Reduce');
    const source = send?.array ?? recv!.array;
    if (isRoot) checkMatching('Reduce', recv!.array, source);
    op.checkTyped(source);
    checkComplex(op, send ?? recv, 'Reduce');
    const acc = isRoot ? recv!.array : (source.slice() as TypedArray);
    if (isRoot && send !== null) acc.set(source as never);
    if (this.size > 1) {
      const call = this.#call();
      await treeReduce(call, typedValues(call, op, acc, 'Reduce'), acc, op.commute, root);
    }
    recv?.commit();
  }

  /** Element-wise reduction; every rank gets the result in `recvbuf`. Recursive doubling, or a ring for large buffers. */
  async Allreduce(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Promise<void> {
    this.#use();
    validateOp(op);
    const recv = typedArg(recvbuf, 'recvbuf', 'Allreduce');
    const send = sendbuf === IN_PLACE ? null : typedArg(sendbuf, 'sendbuf', 'Allreduce');
    if (send !== null) {
      checkMatching('Allreduce', recv.array, send.array);
      if (send.array !== recv.array) recv.array.set(send.array as never);
    }
    op.checkTyped(recv.array);
    checkComplex(op, recv, 'Allreduce');
    if (this.size > 1) await allreduceTyped(this.#call(), recv.array, op);
    recv.commit();
  }

  /** Concatenates every rank's `sendbuf` (equal sizes) into the root's `recvbuf`, in rank order (binomial tree; large blocks straight to the root). */
  async Gather(sendbuf: BufSpec | InPlace, recvbuf: BufSpec | null, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    const recv = isRoot ? blockArg(recvbuf, 'recvbuf', 'Gather', this.size) : null;
    checkRootInPlace('Gather', sendbuf === IN_PLACE, isRoot);
    const send = sendbuf === IN_PLACE ? IN_PLACE : blockArg(sendbuf, 'sendbuf', 'Gather', 1).bytes;
    const all = recv?.bytes ?? null;
    const n = equalBlock('Gather', send, 'sendbuf', all, 'recvbuf', this.size);
    const own = send === IN_PLACE ? all!.subarray(root * n, root * n + n) : send;
    if (this.size === 1) {
      if (send !== IN_PLACE) all!.set(own);
    } else {
      const gather = rootedAlgorithm(n) === 'linear' ? linearGather : gatherBytes;
      await gather(this.#call(), own, all, n, root, send === IN_PLACE);
    }
    recv?.finish();
  }

  /** Splits the root's `sendbuf` into equal blocks; rank i gets block i in `recvbuf` (binomial tree; large blocks straight from the root). */
  async Scatter(sendbuf: BufSpec | null, recvbuf: BufSpec | InPlace, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    const all = isRoot ? blockArg(sendbuf, 'sendbuf', 'Scatter', this.size).bytes : null;
    checkRootInPlace('Scatter', recvbuf === IN_PLACE, isRoot);
    const recv = recvbuf === IN_PLACE ? null : blockArg(recvbuf, 'recvbuf', 'Scatter', 1);
    const n = equalBlock('Scatter', recv?.bytes ?? IN_PLACE, 'recvbuf', all, 'sendbuf', this.size);
    const out = recv?.bytes ?? null;
    if (this.size === 1) out?.set(all!.subarray(0, n));
    else await (rootedAlgorithm(n) === 'linear' ? linearScatter : scatterBytes)(this.#call(), all, out, n, root);
    recv?.finish();
  }

  /** Every rank's `sendbuf` (equal sizes) concatenated into every rank's `recvbuf`, in rank order. */
  async Allgather(sendbuf: BufSpec | InPlace, recvbuf: BufSpec): Promise<void> {
    this.#use();
    const recv = blockArg(recvbuf, 'recvbuf', 'Allgather', this.size);
    const send = sendbuf === IN_PLACE ? IN_PLACE : blockArg(sendbuf, 'sendbuf', 'Allgather', 1).bytes;
    const size = this.size;
    const n = equalBlock('Allgather', send, 'sendbuf', recv.bytes, 'recvbuf', size);
    if (send !== IN_PLACE) recv.bytes.set(send, this.rank * n);
    if (size > 1) await allgatherBlocks(this.#call(), new Blocks(recv.bytes, new Array<number>(size).fill(n)));
    recv.finish();
  }

  /** Block i of `sendbuf` goes to rank i; block j of `recvbuf` comes from rank j (all exchanges at once). */
  async Alltoall(sendbuf: BufSpec | InPlace, recvbuf: BufSpec): Promise<void> {
    this.#use();
    const recv = blockArg(recvbuf, 'recvbuf', 'Alltoall', this.size);
    const size = this.size;
    const source = sendbuf === IN_PLACE ? recv.bytes.slice() : blockArg(sendbuf, 'sendbuf', 'Alltoall', size).bytes;
    if (source.byteLength % size !== 0)
      throw new MPIError('ERR_MPI_COUNT', `Alltoall: sendbuf of ${source.byteLength} bytes does not split into ${size} blocks`);
    const n = source.byteLength / size;
    if (recv.bytes.byteLength < n * size) throw new MPIError('ERR_MPI_COUNT', `Alltoall: recvbuf has ${recv.bytes.byteLength} bytes, ${n * size} needed`);
    const out = recv.bytes;
    out.set(source.subarray(this.rank * n, this.rank * n + n), this.rank * n);
    if (size > 1) await alltoallBytes(this.#call(), source, out, n);
    recv.finish();
  }

  // ---- v-collectives: blocks of different sizes, [buf, counts, displs, datatype] (mpi4py's buffer spec) ----

  /** Every rank's `sendbuf` into block `rank` of the root's `recvspec` (direct sends to the root). */
  async Gatherv(sendbuf: BufSpec | InPlace, recvspec: VBuf | null, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    checkRootInPlace('Gatherv', sendbuf === IN_PLACE, isRoot);
    const own = sendbuf === IN_PLACE ? null : blockArg(sendbuf, 'sendbuf', 'Gatherv', 1).bytes;
    const staged = isRoot ? byteBlocks(parseVPayload(recvspec, this.size, 'recvspec', 'Gatherv')) : null;
    await gatherv(this.#call(), own, staged?.blocks ?? null, root);
    staged?.finish();
  }

  /** Block i of the root's `sendspec` to rank i's `recvbuf` (direct sends from the root). */
  async Scatterv(sendspec: VBuf | null, recvbuf: BufSpec | InPlace, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    checkRootInPlace('Scatterv', recvbuf === IN_PLACE, isRoot);
    const recv = recvbuf === IN_PLACE ? null : blockArg(recvbuf, 'recvbuf', 'Scatterv', 1);
    const staged = isRoot ? byteBlocks(parseVPayload(sendspec, this.size, 'sendspec', 'Scatterv')) : null;
    await scatterv(this.#call(), staged?.blocks ?? null, recv?.bytes ?? null, root);
    recv?.finish();
  }

  /** Every rank's `sendbuf` into block `rank` of every rank's `recvspec` (every pair exchanges directly). */
  async Allgatherv(sendbuf: BufSpec | InPlace, recvspec: VBuf): Promise<void> {
    this.#use();
    const own = sendbuf === IN_PLACE ? null : blockArg(sendbuf, 'sendbuf', 'Allgatherv', 1).bytes;
    const staged = byteBlocks(parseVPayload(recvspec, this.size, 'recvspec', 'Allgatherv'));
    await allgatherv(this.#call(), own, staged.blocks);
    staged.finish();
  }

  /** Block j of `sendspec` to rank j; block j of `recvspec` from rank j (every pair exchanges directly). */
  async Alltoallv(sendspec: VBuf, recvspec: VBuf): Promise<void> {
    this.#use();
    const out = byteBlocks(parseVPayload(sendspec, this.size, 'sendspec', 'Alltoallv'));
    const into = byteBlocks(parseVPayload(recvspec, this.size, 'recvspec', 'Alltoallv'));
    await alltoallv(this.#call(), out.blocks, into.blocks);
    into.finish();
  }

  /** Reduces `sendbuf` (size blocks of recvbuf's count) and leaves block `rank` of the result in `recvbuf`. */
  async Reduce_scatter_block(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Promise<void> {
    this.#use();
    const recv = typedArg(recvbuf, 'recvbuf', 'Reduce_scatter_block');
    const length = sendbuf === IN_PLACE ? recv.array.length / this.size : recv.array.length;
    if (!Number.isInteger(length)) throw new MPIError('ERR_MPI_COUNT', 'Reduce_scatter_block: IN_PLACE recvbuf does not split into equal blocks');
    await this.#reduceScatter(sendbuf, recv, new Array<number>(this.size).fill(length), op, 'Reduce_scatter_block');
  }

  /**
   * Reduces `sendbuf` and scatters it: rank i gets `recvcounts[i]` items (of recvbuf's datatype; default: equal
   * blocks). Ring for commutative ops.
   */
  async Reduce_scatter(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, recvcounts: readonly number[] | null = null, op: Op = SUM): Promise<void> {
    this.#use();
    const recv = typedArg(recvbuf, 'recvbuf', 'Reduce_scatter');
    if (recvcounts !== null && (!Array.isArray(recvcounts) || recvcounts.length !== this.size || recvcounts.some((c) => !Number.isInteger(c) || c < 0))) {
      throw new MPIError('ERR_MPI_COUNT', `Reduce_scatter: recvcounts must be ${this.size} non-negative integers`);
    }
    await this.#reduceScatter(sendbuf, recv, recvcounts?.map((c) => c * recv.perItem) ?? null, op, 'Reduce_scatter');
  }

  async #reduceScatter(sendbuf: ReduceBuf | InPlace, recv: TypedPayload, elementCounts: number[] | null, op: Op, what: string): Promise<void> {
    validateOp(op);
    const size = this.size;
    const send = sendbuf === IN_PLACE ? recv : typedArg(sendbuf, 'sendbuf', what);
    const whole = send.array;
    const counts = elementCounts ?? equalCounts(whole.length, size);
    const total = counts.reduce((a, b) => a + b, 0);
    if (whole.length !== total) throw new MPIError('ERR_MPI_COUNT', `${what}: sendbuf has ${whole.length} elements, recvcounts add up to ${total}`);
    if (sendbuf !== IN_PLACE && recv.array.length < counts[this.rank]!) {
      throw new MPIError('ERR_MPI_COUNT', `${what}: recvbuf has ${recv.array.length} elements, ${counts[this.rank]} needed`);
    }
    if (whole.constructor !== recv.array.constructor)
      throw new MPIError('ERR_MPI_COUNT', `${what}: sendbuf ${whole.constructor.name} and recvbuf ${recv.array.constructor.name} differ`);
    op.checkTyped(whole);
    checkComplex(op, send, what);
    const work = new Blocks(whole.slice() as TypedArray, counts);
    if (size > 1) await reduceScatterTyped(this.#call(), work, op);
    recv.array.set(work.block(this.rank) as never, 0);
    recv.commit();
  }

  /** Inclusive prefix reduction of typed arrays. */
  async Scan(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Promise<void> {
    await this.#scanTyped(sendbuf, recvbuf, op, false);
  }

  /** Exclusive prefix reduction of typed arrays (rank 0's recvbuf is left as it is). */
  async Exscan(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Promise<void> {
    await this.#scanTyped(sendbuf, recvbuf, op, true);
  }

  async #scanTyped(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op, exclusive: boolean): Promise<void> {
    const what = exclusive ? 'Exscan' : 'Scan';
    this.#use();
    validateOp(op);
    const recv = typedArg(recvbuf, 'recvbuf', what);
    const out = recv.array;
    const send = sendbuf === IN_PLACE ? null : typedArg(sendbuf, 'sendbuf', what);
    const own = send === null ? (out.slice() as TypedArray) : send.array;
    checkMatching(what, out, own);
    op.checkTyped(own);
    checkComplex(op, send ?? recv, what);
    if (!exclusive && own !== out) out.set(own as never);
    if (this.size > 1) {
      const call = this.#call();
      await scanDoubling(call, typedValues(call, op, own, what), own.slice() as TypedArray, out, !exclusive);
    }
    recv.commit();
  }

  // ---- nonblocking collectives: the blocking ones are already asynchronous (and take their place in the
  // communicator's sequence of collectives when called); these wrap them in a Request.
  /** barrier() as a Request (MPI_Ibarrier). Collectives are asynchronous already: this only wraps the promise. */
  ibarrier(): Request<void> {
    return new Request(this.barrier());
  }
  /** mpi4py's name for ibarrier(). */
  Ibarrier(): Request<void> {
    return this.ibarrier();
  }
  /** bcast() as a Request. */
  ibcast<T>(obj: T, root = 0): Request<T> {
    return new Request(this.bcast(obj, root));
  }
  /** gather() as a Request. */
  igather<T>(obj: T, root = 0): Request<T[] | null> {
    return new Request(this.gather(obj, root));
  }
  /** scatter() as a Request. */
  iscatter<T>(objs: readonly T[] | null, root = 0): Request<T> {
    return new Request(this.scatter(objs, root));
  }
  /** allgather() as a Request. */
  iallgather<T>(obj: T): Request<T[]> {
    return new Request(this.allgather(obj));
  }
  /** alltoall() as a Request. */
  ialltoall<T>(objs: readonly T[]): Request<T[]> {
    return new Request(this.alltoall(objs));
  }
  /** reduce() as a Request. */
  ireduce<T>(obj: T, op: Op = SUM, root = 0): Request<T | null> {
    return new Request(this.reduce(obj, op, root));
  }
  /** allreduce() as a Request. */
  iallreduce<T>(obj: T, op: Op = SUM): Request<T> {
    return new Request(this.allreduce(obj, op));
  }
  /** scan() as a Request. */
  iscan<T>(obj: T, op: Op = SUM): Request<T> {
    return new Request(this.scan(obj, op));
  }
  /** exscan() as a Request. */
  iexscan<T>(obj: T, op: Op = SUM): Request<T | null> {
    return new Request(this.exscan(obj, op));
  }
  /** Bcast() as a Request (MPI_Ibcast). */
  Ibcast(buf: Buf, root = 0): Request<void> {
    return new Request(this.Bcast(buf, root));
  }
  /** Gather() as a Request (MPI_Igather). */
  Igather(sendbuf: BufSpec | InPlace, recvbuf: BufSpec | null, root = 0): Request<void> {
    return new Request(this.Gather(sendbuf, recvbuf, root));
  }
  /** Scatter() as a Request (MPI_Iscatter). */
  Iscatter(sendbuf: BufSpec | null, recvbuf: BufSpec | InPlace, root = 0): Request<void> {
    return new Request(this.Scatter(sendbuf, recvbuf, root));
  }
  /** Allgather() as a Request (MPI_Iallgather). */
  Iallgather(sendbuf: BufSpec | InPlace, recvbuf: BufSpec): Request<void> {
    return new Request(this.Allgather(sendbuf, recvbuf));
  }
  /** Alltoall() as a Request (MPI_Ialltoall). */
  Ialltoall(sendbuf: BufSpec | InPlace, recvbuf: BufSpec): Request<void> {
    return new Request(this.Alltoall(sendbuf, recvbuf));
  }
  /** Gatherv() as a Request (MPI_Igatherv). */
  Igatherv(sendbuf: BufSpec | InPlace, recvspec: VBuf | null, root = 0): Request<void> {
    return new Request(this.Gatherv(sendbuf, recvspec, root));
  }
  /** Scatterv() as a Request (MPI_Iscatterv). */
  Iscatterv(sendspec: VBuf | null, recvbuf: BufSpec | InPlace, root = 0): Request<void> {
    return new Request(this.Scatterv(sendspec, recvbuf, root));
  }
  /** Allgatherv() as a Request (MPI_Iallgatherv). */
  Iallgatherv(sendbuf: BufSpec | InPlace, recvspec: VBuf): Request<void> {
    return new Request(this.Allgatherv(sendbuf, recvspec));
  }
  /** Alltoallv() as a Request (MPI_Ialltoallv). */
  Ialltoallv(sendspec: VBuf, recvspec: VBuf): Request<void> {
    return new Request(this.Alltoallv(sendspec, recvspec));
  }
  /** Reduce() as a Request (MPI_Ireduce). */
  Ireduce(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf | null, op: Op = SUM, root = 0): Request<void> {
    return new Request(this.Reduce(sendbuf, recvbuf, op, root));
  }
  /** Allreduce() as a Request (MPI_Iallreduce). */
  Iallreduce(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Request<void> {
    return new Request(this.Allreduce(sendbuf, recvbuf, op));
  }
  /** Reduce_scatter() as a Request (MPI_Ireduce_scatter). */
  Ireduce_scatter(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, recvcounts: readonly number[] | null = null, op: Op = SUM): Request<void> {
    return new Request(this.Reduce_scatter(sendbuf, recvbuf, recvcounts, op));
  }
  /** Reduce_scatter_block() as a Request (MPI_Ireduce_scatter_block). */
  Ireduce_scatter_block(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Request<void> {
    return new Request(this.Reduce_scatter_block(sendbuf, recvbuf, op));
  }
  /** Scan() as a Request (MPI_Iscan). */
  Iscan(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Request<void> {
    return new Request(this.Scan(sendbuf, recvbuf, op));
  }
  /** Exscan() as a Request (MPI_Iexscan). */
  Iexscan(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf, op: Op = SUM): Request<void> {
    return new Request(this.Exscan(sendbuf, recvbuf, op));
  }

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
    return this.#inherit(
      new Comm(
        world,
        contextId,
        ranks,
        members.findIndex((m) => m.rank === this.rank),
      ),
    );
  }

  /** A new communicator with the same ranks and a context of its own. Collective. */
  async dup(): Promise<Comm> {
    const world = this.#use();
    const contextId = this.#takeContext(world, await this.allreduce(world.nextContextId, MAX));
    return this.#inherit(new Comm(world, contextId, this.#ranks, this.rank));
  }

  /**
   * A communicator of the group's members, ranked in group order (MPI_Comm_create_group): collective over the
   * members only, so the other ranks need not call it. The members agree on a context id through messages on
   * this communicator's point-to-point context with `tag` (as MPI's tag argument: no other point-to-point
   * traffic among the members may use it meanwhile). Null on a rank not in the group.
   */
  async createGroup(group: Group, tag = 0): Promise<Comm | null> {
    const world = this.#use();
    if (!(group instanceof Group)) throw new MPIError('ERR_MPI_GROUP', 'Create_group: expected an MPI Group (comm.group, then incl/excl/...)');
    this.#checkTag(tag, false);
    const members = group.worldRanks.map((worldRank) => {
      const rank = this.#ranks.indexOf(worldRank);
      if (rank < 0) throw new MPIError('ERR_MPI_GROUP', `Create_group: world rank ${worldRank} of the group is not in this communicator`);
      return rank;
    });
    const me = members.indexOf(this.rank);
    if (me < 0) return null;
    const others = members.filter((r) => r !== this.rank);
    const [values] = await Promise.all([
      Promise.all(others.map((r) => this.recv<number>(r, tag))),
      Promise.all(others.map((r) => this.send(world.nextContextId, r, tag))),
    ]);
    const contextId = this.#takeContext(world, Math.max(world.nextContextId, ...values));
    return this.#inherit(new Comm(world, contextId, group.worldRanks, me));
  }

  /**
   * Splits by kind (MPI_Comm_split_type): COMM_TYPE_SHARED groups the ranks that share memory (one host);
   * UNDEFINED gives null. Ranks are ordered by `key`, then by rank here. Collective.
   */
  async splitType(splitType: number, key = 0, _info: unknown = null): Promise<Comm | null> {
    this.#use();
    if (splitType === UNDEFINED) return this.split(UNDEFINED, key);
    if (splitType !== COMM_TYPE_SHARED) throw new MPIError('ERR_MPI_ARG', `Split_type: split type ${String(splitType)} is not COMM_TYPE_SHARED or UNDEFINED`);
    const hosts = await this.allgather(os.hostname());
    return this.split(hosts.indexOf(hosts[this.rank]!), key);
  }

  /** mpi4py's name for createGroup(). */
  Create_group(group: Group, tag = 0): Promise<Comm | null> {
    return this.createGroup(group, tag);
  }
  /** mpi4py's name for splitType(). */
  Split_type(splitType: number, key = 0, info: unknown = null): Promise<Comm | null> {
    return this.splitType(splitType, key, info);
  }
  /** mpi4py's Clone: a duplicate. */
  Clone(): Promise<Comm> {
    return this.dup();
  }

  // ---- error handlers (errhandler.ts) ----

  /** A handler that calls `fn(comm, errorCode, error)` when an operation on a communicator fails (MPI_Comm_create_errhandler). */
  static createErrhandler(fn: (comm: Comm, errorCode: number, error: MPIError) => void): Errhandler {
    return Errhandler.create(fn);
  }
  /** mpi4py's name for createErrhandler(). */
  static Create_errhandler(fn: (comm: Comm, errorCode: number, error: MPIError) => void): Errhandler {
    return Errhandler.create(fn);
  }

  /** Sets what a failing operation on this communicator does (communicators made from it inherit it). */
  setErrhandler(errhandler: Errhandler): void {
    validateErrhandler(errhandler);
    this.errhandler = errhandler;
  }

  /** The communicator's error handler. */
  getErrhandler(): Errhandler {
    return this.errhandler;
  }

  /** Runs this communicator's handler for `errorCode` (MPI_Comm_call_errhandler), as a failing operation would. */
  callErrhandler(errorCode: number): void {
    this.errhandler.invoke(this, new MPIError(errorCode));
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

  // ---- attributes and names ----

  /** The value of a predefined attribute: TAG_UB gives the largest tag (mpi4py: comm.Get_attr(MPI.TAG_UB)); others null. */
  getAttr(keyval: number): number | boolean | null {
    if (keyval === TAG_UB) return TAG_UB;
    if (keyval === WTIME_IS_GLOBAL) return false;
    return null;
  }

  /** mpi4py's name for getAttr(). */
  Get_attr(keyval: number): number | boolean | null {
    return this.getAttr(keyval);
  }

  /** The communicator's name: 'MPI_COMM_WORLD', 'MPI_COMM_SELF', or what setName() set ('' by default). */
  get name(): string {
    return this.#name;
  }
  /** The communicator's name (name). */
  getName(): string {
    return this.#name;
  }
  /** Names the communicator (MPI_Comm_set_name), for messages and tools. */
  setName(name: string): void {
    this.#name = String(name);
  }
  /** mpi4py's name for getName(). */
  Get_name(): string {
    return this.#name;
  }
  /** mpi4py's name for setName(). */
  Set_name(name: string): void {
    this.setName(name);
  }

  #inherit<C extends Comm>(comm: C): C {
    comm.errhandler = this.errhandler;
    return comm;
  }

  /** mpi4py's name for split(). */
  Split(color: number | null = 0, key = 0): Promise<Comm | null> {
    return this.split(color, key);
  }
  /** mpi4py's name for group. */
  Get_group(): Group {
    return this.group;
  }
  /** mpi4py's Create_cart(dims, periods, reorder): createCart() with positional arguments. */
  Create_cart(dims: readonly number[], periods?: readonly boolean[] | null, reorder = false): Promise<CartComm | null> {
    return this.createCart(dims, { periods: periods ?? undefined, reorder });
  }
  /** mpi4py's name for create(). */
  Create(group: Group): Promise<Comm | null> {
    return this.create(group);
  }
  /** mpi4py's name for dup(). */
  Dup(): Promise<Comm> {
    return this.dup();
  }

  /** Marks the communicator unusable (MPI_Comm_free). */
  free(): void {
    this.#freed = true;
  }

  /** mpi4py's name for free(). */
  Free(): void {
    this.free();
  }

  /**
   * Ends the whole job with `code` (MPI_Abort): the launcher (or rank 0) is told, every rank exits, and the
   * job's exit status is `code`. The promise never settles: `await comm.abort(2)` stops the caller there.
   */
  abort(code = 1): Promise<never> {
    const exitCode = Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
    return abortJob(exitCode, `rank ${this.rank} called abort(${code})`);
  }

  /** mpi4py's name for abort(). */
  Abort(code = 1): Promise<never> {
    return this.abort(code);
  }

  // ======================= dynamic processes (dpm.ts) =======================

  /**
   * Starts `maxprocs` processes of `command args` (a job of their own, under ucx-run; 'node' is this
   * Node.js) and resolves with the intercommunicator to them. Collective; only `root`'s arguments count.
   */
  spawn(command: string, args: readonly string[] | null = null, maxprocs = 1, root = 0): Promise<Intercomm> {
    return dynamicProcesses().spawn(this, command, args, maxprocs, root);
  }

  /** mpi4py's order: Spawn(command, args, maxprocs, info, root); `info` is not read. */
  Spawn(command: string, args: readonly string[] | null = null, maxprocs = 1, _info: unknown = null, root = 0): Promise<Intercomm> {
    return this.spawn(command, args, maxprocs, root);
  }

  /** Waits for one job to connect to `port` (from MPI.openPort(); read at `root`). Collective. */
  accept(port: string | null, root = 0): Promise<Intercomm> {
    return dynamicProcesses().accept(this, port, root);
  }

  /** mpi4py's Accept(port, info, root); `info` is not read. */
  Accept(port: string | null, _info: unknown = null, root = 0): Promise<Intercomm> {
    return this.accept(port, root);
  }

  /** Connects this communicator's processes to the job accepting on `port` (read at `root`). Collective. */
  connect(port: string | null, root = 0): Promise<Intercomm> {
    return dynamicProcesses().connect(this, port, root);
  }

  /** mpi4py's Connect(port, info, root); `info` is not read. */
  Connect(port: string | null, _info: unknown = null, root = 0): Promise<Intercomm> {
    return this.connect(port, root);
  }

  /** Whether this is an intercommunicator (Intercomm): false here. */
  isInter(): boolean {
    return false;
  }
  /** Whether this is an intracommunicator: true here. */
  isIntra(): boolean {
    return true;
  }
  /** mpi4py's name for isInter(). */
  Is_inter(): boolean {
    return this.isInter();
  }
  /** mpi4py's name for isIntra(). */
  Is_intra(): boolean {
    return this.isIntra();
  }

  /** mpi4py's MPI.Comm.Get_parent(): the intercommunicator to the job that spawned this one, or null. */
  static Get_parent(): Intercomm | null {
    return dynamicProcesses().getParent();
  }

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

  #checkRank(rank: unknown, what: string, code: 'ERR_MPI_RANK' | 'ERR_MPI_ROOT' = 'ERR_MPI_RANK', size = this.size): asserts rank is number {
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= size) {
      throw new MPIError(code, `${what} ${String(rank)} is not a rank of this communicator (0 ... ${size - 1})`);
    }
  }

  #checkDest(dest: unknown): asserts dest is number {
    this.#use();
    if (dest === PROC_NULL) return;
    this.#checkRank(dest, 'dest', 'ERR_MPI_RANK', this.#peers);
  }

  #checkSource(source: unknown): asserts source is number {
    if (source === ANY_SOURCE || source === PROC_NULL) return;
    this.#checkRank(source, 'source', 'ERR_MPI_RANK', this.#peers);
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

/** What dpm.ts provides (set when it loads: node-ucx/mpi's index loads it). */
interface DynamicProcesses {
  spawn(comm: Comm, command: string, args: readonly string[] | null, maxprocs: number, root: number): Promise<Intercomm>;
  accept(comm: Comm, port: string | null, root: number): Promise<Intercomm>;
  connect(comm: Comm, port: string | null, root: number): Promise<Intercomm>;
  getParent(): Intercomm | null;
}
let dpm: DynamicProcesses | null = null;
function dynamicProcesses(): DynamicProcesses {
  if (dpm === null) throw new MPIError('ERR_MPI_COMM', "dynamic processes need node-ucx/mpi itself (import * as MPI from 'node-ucx/mpi')");
  return dpm;
}
export function setDynamicProcesses(provider: DynamicProcesses): void {
  dpm = provider;
}

// Set by the runtime (index.ts): how comm.abort() ends the job.
let abortJob: (code: number, reason: string) => Promise<never> = (code) => process.exit(code);
export function setAbortHandler(handler: (code: number, reason: string) => Promise<never>): void {
  abortJob = handler;
}

/** A communicator with a Cartesian topology (Comm.createCart); the grid arithmetic is topology.ts's. */
export class CartComm extends Comm {
  /** The grid's extent in each dimension. */
  readonly dims: readonly number[];
  /** Whether each dimension wraps around. */
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

  /** The number of dimensions. */
  get ndim(): number {
    return this.dims.length;
  }

  /** The coordinates of a rank of this communicator. */
  getCoords(rank: number): number[] {
    return cartCoords(this, rank);
  }

  /** The rank at these coordinates; periodic dimensions wrap, others must be in range. */
  getCartRank(coords: readonly number[]): number {
    return cartRank(this, coords);
  }

  /** [source, dest] for a shift by `disp` along `direction`: PROC_NULL past a non-periodic edge. */
  shift(direction: number, disp: number): [number, number] {
    return cartShift(this, this.coords, direction, disp);
  }

  // mpi4py spellings
  /** mpi4py's name for ndim. */
  Get_dim(): number {
    return this.ndim;
  }
  /** mpi4py's name for getCoords(). */
  Get_coords(rank: number): number[] {
    return this.getCoords(rank);
  }
  /** mpi4py's name for getCartRank(). */
  Get_cart_rank(coords: readonly number[]): number {
    return this.getCartRank(coords);
  }
  /** mpi4py's name for shift(). */
  Shift(direction: number, disp: number): [number, number] {
    return this.shift(direction, disp);
  }
  /** mpi4py's Get_topo(): [dims, periods, coords]. */
  Get_topo(): [number[], boolean[], number[]] {
    return [[...this.dims], [...this.periods], [...this.coords]];
  }
}

// Every failure of a communicator's operations goes through its error handler (errhandler.ts).
routeErrors(Comm.prototype, [
  'setErrhandler',
  'getErrhandler',
  'callErrhandler',
  'Set_errhandler',
  'Get_errhandler',
  'Call_errhandler',
  'worldRank',
  'getRank',
  'getSize',
  'Get_rank',
  'Get_size',
  'abort',
  'Abort',
  'free',
  'Free',
  'getAttr',
  'Get_attr',
]);
routeErrors(CartComm.prototype);
