// Comm: an MPI communicator over raw UCX tags. Point-to-point messages carry
// (communicator context, source rank, user tag) in the 63 tag bits node-ucx
// leaves to raw tags; collectives run on a second context of the same
// communicator, with a per-call sequence number as the tag. docs/mpi.md has the
// tag layout and the object wire format.
import type { Data } from '../index.js';
import { encodeObject, decodeObject } from '../object-codec.js';
import { ANY_SOURCE, ANY_TAG, PROC_NULL, UNDEFINED, IN_PLACE, type InPlace } from './constants.js';
import { MAX_CONTEXTS, TAG_UB, nextSequence } from './tags.js';
import { frame, pack, unpack, type Frame } from './wire.js';
import { Channel, type Arrival } from './p2p.js';
import { byteLength, bytes, slice, typedLike, validateData, validateHost, validateTyped } from './buffers.js';
import { copyBlock, equalBlock, equalCounts, parseVSpec, prefix, type VSpec } from './vspec.js';
import { cartCoords, cartRank, cartShape, cartShift } from './topology.js';
import { MPIError } from './errors.js';
import { Group } from './group.js';
import { Op, SUM, MAX, type TypedArray } from './op.js';
import { Request, Status } from './request.js';
import type { World } from './world.js';

export { ANY_SOURCE, ANY_TAG, PROC_NULL, UNDEFINED, IN_PLACE, type InPlace } from './constants.js';
export { TAG_UB, MAX_RANKS, MAX_CONTEXTS } from './tags.js';
export type { VSpec } from './vspec.js';
export { computeDims } from './topology.js';
/** @internal How Win reaches a communicator's runtime and rank map. */
export const kInternals = Symbol('node-ucx.mpi.internals');

/**
 * Bcast of typed arrays: buffers larger than twice this are pipelined through the tree in segments of this
 * size (NODE_UCX_MPI_BCAST_SEGMENT overrides, in bytes; 0: never segment).
 */
const BCAST_SEGMENT = Number(process.env.NODE_UCX_MPI_BCAST_SEGMENT ?? 1024 * 1024);
/** Allreduce of typed arrays: from this size on, the ring (reduce-scatter + allgather) replaces recursive doubling. */
const RING_ALLREDUCE_MIN = 64 * 1024;

function validateOp(op: unknown): asserts op is Op {
  if (!(op instanceof Op)) throw new MPIError('ERR_MPI_OP', 'op must be an MPI.Op (MPI.SUM, MPI.MAX, ..., or Op.create(fn))');
}

function lowbitTree(vr: number, size: number): { parent: number; children: number[] } {
  // Binomial tree over relative ranks: the parent clears the lowest set bit; children add smaller powers of two.
  let mask = 1;
  let parent = -1;
  while (mask < size) {
    if (vr & mask) {
      parent = vr - mask;
      break;
    }
    mask <<= 1;
  }
  const children: number[] = [];
  for (mask >>= 1; mask > 0; mask >>= 1) if (vr + mask < size) children.push(vr + mask);
  return { parent, children };
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
    const tag = this.#nextTag();
    const empty = new Uint8Array(0);
    for (let distance = 1; distance < this.size; distance *= 2) {
      const to = (this.rank + distance) % this.size;
      const from = (this.rank - distance + this.size) % this.size;
      await Promise.all([this.#csend(to, empty, tag), this.#crecvRaw(from, empty, tag)]);
    }
  }

  Barrier(): Promise<void> { return this.barrier(); }

  /** Binomial-tree broadcast of a structured-clone copy; the root gets `obj` itself back. */
  async bcast<T>(obj: T, root = 0): Promise<T> {
    this.#use();
    this.#checkRoot(root);
    if (this.size === 1) return obj;
    const tag = this.#nextTag();
    const vr = (this.rank - root + this.size) % this.size;
    const { parent, children } = lowbitTree(vr, this.size);
    const wire = this.rank === root
      ? frame(encodeObject(obj), root, tag)
      : await this.#crecvWire((parent + root) % this.size, tag);
    const sends = children.map((child) => this.#coll!.sendFrame((child + root) % this.size, wire, tag));
    const result = this.rank === root ? obj : decodeObject(wire.body) as T;
    await Promise.all(sends);
    return result;
  }

  /** Binomial-tree scatter: `objs` (root only) has one element per rank; each rank gets its own. */
  async scatter<T>(objs: readonly T[] | null, root = 0): Promise<T> {
    this.#use();
    this.#checkRoot(root);
    const size = this.size;
    if (this.rank === root && (!Array.isArray(objs) || objs.length !== size)) {
      throw new MPIError('ERR_MPI_COUNT', `scatter at the root needs an array of ${size} elements`);
    }
    if (size === 1) return objs![0]!;
    const tag = this.#nextTag();
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    // parts[i]: the encoding for relative rank vr + i.
    let parts: Buffer[];
    if (this.rank === root) {
      parts = [];
      for (let i = 0; i < size; i++) parts.push(encodeObject(objs![(i + root) % size]));
    } else {
      parts = unpack(decodeObject((await this.#crecvWire((parent + root) % size, tag)).body) as Buffer);
    }
    const sends = children.map((child) => {
      const from = child - vr;
      const to = Math.min(from + lowestSpan(child, size), parts.length);
      return this.#coll!.sendObject((child + root) % size, pack(parts.slice(from, to)), tag);
    });
    const mine = this.rank === root ? objs![root]! : decodeObject(parts[0]!) as T;
    await Promise.all(sends);
    return mine;
  }

  /** Binomial-tree gather: the root gets an array (in rank order), the others null. */
  async gather<T>(obj: T, root = 0): Promise<T[] | null> {
    this.#use();
    this.#checkRoot(root);
    const size = this.size;
    if (size === 1) return [obj];
    const tag = this.#nextTag();
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    // Children in ascending order cover the relative ranks right after ours.
    const received = await Promise.all(children.slice().reverse().map((child) => this.#crecvWire((child + root) % size, tag)));
    const parts: Buffer[] = [encodeObject(obj)];
    for (const wire of received) parts.push(...unpack(decodeObject(wire.body) as Buffer));
    if (this.rank !== root) {
      await this.#coll!.sendObject((parent + root) % size, pack(parts), tag);
      return null;
    }
    const result = new Array<T>(size);
    result[root] = obj;
    for (let i = 1; i < size; i++) result[(i + root) % size] = decodeObject(parts[i]!) as T;
    return result;
  }

  /** Every rank gets every rank's object, in rank order (Bruck's algorithm: ceil(log2 size) rounds). */
  async allgather<T>(obj: T): Promise<T[]> {
    this.#use();
    const size = this.size;
    if (size === 1) return [obj];
    const tag = this.#nextTag();
    // parts[i] is the encoding of rank (rank + i) % size.
    const parts: Buffer[] = [encodeObject(obj)];
    for (let distance = 1; distance < size; distance *= 2) {
      const count = Math.min(distance, size - distance);
      const to = (this.rank - distance + size) % size;
      const from = (this.rank + distance) % size;
      const sent = this.#coll!.sendObject(to, pack(parts.slice(0, count)), tag);
      const wire = await this.#crecvWire(from, tag);
      parts.push(...unpack(decodeObject(wire.body) as Buffer));
      await sent;
    }
    const result = new Array<T>(size);
    result[this.rank] = obj;
    for (let i = 1; i < size; i++) result[(this.rank + i) % size] = decodeObject(parts[i]!) as T;
    return result;
  }

  /** objs[i] goes to rank i; the result's element j came from rank j. */
  async alltoall<T>(objs: readonly T[]): Promise<T[]> {
    this.#use();
    const size = this.size;
    if (!Array.isArray(objs) || objs.length !== size) throw new MPIError('ERR_MPI_COUNT', `alltoall needs an array of ${size} elements`);
    const result = new Array<T>(size);
    result[this.rank] = decodeObject(encodeObject(objs[this.rank])) as T;
    if (size === 1) return result;
    const tag = this.#nextTag();
    const work: Promise<void>[] = [];
    for (let i = 1; i < size; i++) {
      const to = (this.rank + i) % size;
      const from = (this.rank - i + size) % size;
      work.push(this.#coll!.sendObject(to, objs[to], tag));
      work.push(this.#crecvWire(from, tag).then((wire) => { result[from] = decodeObject(wire.body) as T; }));
    }
    await Promise.all(work);
    return result;
  }

  /** Binomial-tree reduction; the root gets op(x0, x1, ..., x(size-1)), the others null. */
  async reduce<T>(obj: T, op: Op = SUM, root = 0): Promise<T | null> {
    this.#use();
    validateOp(op);
    this.#checkRoot(root);
    if (this.size === 1) return obj;
    const tag = this.#nextTag();
    // A non-commutative op is combined in rank order: reduce to rank 0, then hand the result to the root.
    const treeRoot = op.commute ? root : 0;
    const value = await this.#reduceValues(obj, op, treeRoot, tag);
    if (treeRoot === root) return this.rank === root ? value as T : null;
    if (this.rank === 0) await this.#coll!.sendObject(root, value, tag);
    if (this.rank === root) return decodeObject((await this.#crecvWire(0, tag)).body) as T;
    return null;
  }

  /** Recursive doubling (with the non-power-of-two ranks folded in); every rank gets op(x0, ..., x(size-1)). */
  async allreduce<T>(obj: T, op: Op = SUM): Promise<T> {
    this.#use();
    validateOp(op);
    const size = this.size;
    if (size === 1) return obj;
    const tag = this.#nextTag();
    const rank = this.rank;
    let pof2 = 1;
    while (pof2 * 2 <= size) pof2 *= 2;
    const rem = size - pof2;
    let acc: unknown = obj;
    let newrank: number;
    if (rank < 2 * rem) {
      if (rank % 2 === 0) {
        await this.#sendValue(rank + 1, acc, tag);
        newrank = -1;
      } else {
        acc = op.apply(await this.#recvValue(rank - 1, tag), acc);
        newrank = rank >> 1;
      }
    } else {
      newrank = rank - rem;
    }
    if (newrank >= 0) {
      for (let mask = 1; mask < pof2; mask <<= 1) {
        const newdst = newrank ^ mask;
        const dst = newdst < rem ? newdst * 2 + 1 : newdst + rem;
        const [other] = await Promise.all([this.#recvValue(dst, tag), this.#sendValue(dst, acc, tag)]);
        acc = dst < rank ? op.apply(other, acc) : op.apply(acc, other);
      }
    }
    if (rank < 2 * rem) {
      if (rank % 2 === 1) await this.#sendValue(rank - 1, acc, tag);
      else acc = await this.#recvValue(rank + 1, tag);
    }
    return acc as T;
  }

  /** Inclusive prefix reduction: rank r gets op(x0, ..., xr). Recursive doubling. */
  async scan<T>(obj: T, op: Op = SUM): Promise<T> {
    return (await this.#scanValues(obj, op, false)) as T;
  }

  /** Exclusive prefix reduction: rank r gets op(x0, ..., x(r-1)); rank 0 gets null. */
  async exscan<T>(obj: T, op: Op = SUM): Promise<T | null> {
    return (await this.#scanValues(obj, op, true)) as T | null;
  }

  // ======================= collectives: buffers =======================

  /** Broadcasts the root's `buf` into every rank's `buf` (binomial tree; large buffers pipelined in segments). */
  async Bcast(buf: Data, root = 0): Promise<void> {
    this.#use();
    validateData(buf, 'buf');
    this.#checkRoot(root);
    if (this.size === 1) return;
    const tag = this.#nextTag();
    const size = this.size;
    const n = byteLength(buf);
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    const segments: [number, number][] = [];
    if (BCAST_SEGMENT > 0 && n > 2 * BCAST_SEGMENT) for (let offset = 0; offset < n; offset += BCAST_SEGMENT) segments.push([offset, Math.min(BCAST_SEGMENT, n - offset)]);
    else segments.push([0, n]);
    const receives = this.rank === root
      ? null
      : segments.map(([offset, length]) => this.#crecv((parent + root) % size, slice(buf, offset, length), tag, 'Bcast'));
    const sends: Promise<void>[] = [];
    for (let i = 0; i < segments.length; i++) {
      if (receives !== null) await receives[i];
      const [offset, length] = segments[i]!;
      for (const child of children) sends.push(this.#csend((child + root) % size, slice(buf, offset, length), tag));
    }
    await Promise.all(sends);
  }

  /** Element-wise reduction of every rank's `sendbuf` into the root's `recvbuf` (binomial tree). */
  async Reduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray | null, op: Op = SUM, root = 0): Promise<void> {
    this.#use();
    validateOp(op);
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    if (sendbuf === IN_PLACE && !isRoot) throw new MPIError('ERR_MPI_ARG', 'IN_PLACE is for the root of Reduce only');
    if (isRoot) validateTyped(recvbuf, 'recvbuf');
    const source = sendbuf === IN_PLACE ? recvbuf! : sendbuf;
    validateTyped(source, 'sendbuf');
    if (isRoot && (recvbuf!.length !== source.length || recvbuf!.constructor !== source.constructor)) {
      throw new MPIError('ERR_MPI_COUNT', `Reduce: recvbuf ${recvbuf!.constructor.name}(${recvbuf!.length}) does not match sendbuf ${source.constructor.name}(${source.length})`);
    }
    op.checkTyped(source);
    const acc = isRoot ? recvbuf! : source.slice() as TypedArray;
    if (isRoot && sendbuf !== IN_PLACE) acc.set(source as never);
    if (this.size === 1) return;
    const tag = this.#nextTag();
    const treeRoot = op.commute ? root : 0;
    await this.#reduceTypedTree(acc, op, treeRoot, tag);
    if (treeRoot !== root) {
      if (this.rank === 0) await this.#csend(root, acc, tag);
      if (isRoot) await this.#crecv(0, acc, tag, 'Reduce');
    }
  }

  /** Element-wise reduction; every rank gets the result in `recvbuf`. Recursive doubling, or a ring for large buffers. */
  async Allreduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    this.#use();
    validateOp(op);
    validateTyped(recvbuf, 'recvbuf');
    if (sendbuf !== IN_PLACE) {
      validateTyped(sendbuf, 'sendbuf');
      if (sendbuf.length !== recvbuf.length || sendbuf.constructor !== recvbuf.constructor) {
        throw new MPIError('ERR_MPI_COUNT', `Allreduce: recvbuf ${recvbuf.constructor.name}(${recvbuf.length}) does not match sendbuf ${sendbuf.constructor.name}(${sendbuf.length})`);
      }
      if (sendbuf !== recvbuf) recvbuf.set(sendbuf as never);
    }
    op.checkTyped(recvbuf);
    if (this.size === 1) return;
    const tag = this.#nextTag();
    if (!op.commute) {
      await this.#reduceTypedTree(recvbuf, op, 0, tag);
      await this.#bcastPlain(recvbuf, 0, tag);
    } else {
      const algorithm = allreduceAlgorithm(recvbuf.byteLength, recvbuf.length, this.size, op.splitUnit);
      if (algorithm === 'reduce-bcast') {
        await this.#reduceTypedTree(recvbuf, op, 0, tag);
        await this.#bcastPlain(recvbuf, 0, tag);
      } else if (algorithm === 'rabenseifner') {
        await this.#rabenseifner(recvbuf, op, tag, op.splitUnit);
      } else if (algorithm === 'ring') {
        const counts = equalCounts(recvbuf.length, this.size, op.splitUnit);
        await this.#ringReduceScatter(recvbuf, op, tag, 0, counts);
        await this.#ringAllgather(recvbuf, tag, counts);
      } else {
        await this.#recursiveDoubling(recvbuf, op, tag);
      }
    }
  }

  /** Concatenates every rank's `sendbuf` (equal sizes) into the root's `recvbuf`, in rank order (binomial tree). */
  async Gather(sendbuf: ArrayBufferView | InPlace, recvbuf: ArrayBufferView | null, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const size = this.size;
    const isRoot = this.rank === root;
    if (isRoot) validateHost(recvbuf, 'recvbuf');
    if (sendbuf === IN_PLACE && !isRoot) throw new MPIError('ERR_MPI_ARG', 'IN_PLACE is for the root of Gather only');
    const n = equalBlock('Gather', sendbuf, 'sendbuf', isRoot ? recvbuf : null, 'recvbuf', size);
    const own = sendbuf === IN_PLACE ? bytes(recvbuf!).subarray(root * n, root * n + n) : bytes(sendbuf);
    if (size === 1) {
      if (sendbuf !== IN_PLACE) bytes(recvbuf!).set(own);
      return;
    }
    const tag = this.#nextTag();
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    const span = lowestSpan(vr, size);
    // Blocks of relative ranks [vr, vr + span), in order.
    let block: Uint8Array;
    if (isRoot && root === 0) block = bytes(recvbuf!);
    else if (children.length === 0) block = own;
    else block = new Uint8Array(Math.min(span, size - vr) * n);
    if (block !== own && !(isRoot && root === 0 && sendbuf === IN_PLACE)) block.set(own, 0);
    await Promise.all(children.map((child) => {
      const count = Math.min(lowestSpan(child, size), size - child);
      const offset = (child - vr) * n;
      return this.#crecv((child + root) % size, block.subarray(offset, offset + count * n), tag, 'Gather');
    }));
    if (!isRoot) {
      await this.#csend((parent + root) % size, block.subarray(0, Math.min(span, size - vr) * n), tag);
      return;
    }
    if (root !== 0) {
      const out = bytes(recvbuf!);
      for (let i = 0; i < size; i++) out.set(block.subarray(i * n, i * n + n), ((i + root) % size) * n);
    }
  }

  /** Splits the root's `sendbuf` into equal blocks; rank i gets block i in `recvbuf` (binomial tree). */
  async Scatter(sendbuf: ArrayBufferView | null, recvbuf: ArrayBufferView | InPlace, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const size = this.size;
    const isRoot = this.rank === root;
    if (isRoot) validateHost(sendbuf, 'sendbuf');
    if (recvbuf === IN_PLACE && !isRoot) throw new MPIError('ERR_MPI_ARG', 'IN_PLACE is for the root of Scatter only');
    const n = equalBlock('Scatter', recvbuf, 'recvbuf', isRoot ? sendbuf : null, 'sendbuf', size);
    const out = recvbuf === IN_PLACE ? null : bytes(recvbuf);
    if (size === 1) {
      out?.set(bytes(sendbuf!).subarray(0, n));
      return;
    }
    const tag = this.#nextTag();
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    const span = Math.min(lowestSpan(vr, size), size - vr);
    let block: Uint8Array;
    if (isRoot) {
      const all = bytes(sendbuf!);
      if (root === 0) block = all;
      else {
        block = new Uint8Array(size * n);
        for (let i = 0; i < size; i++) block.set(all.subarray(((i + root) % size) * n, ((i + root) % size) * n + n), i * n);
      }
    } else if (children.length === 0) {
      block = out!;
      await this.#crecv((parent + root) % size, block, tag, 'Scatter');
    } else {
      block = new Uint8Array(span * n);
      await this.#crecv((parent + root) % size, block, tag, 'Scatter');
    }
    await Promise.all(children.map((child) => {
      const count = Math.min(lowestSpan(child, size), size - child);
      const offset = (child - vr) * n;
      return this.#csend((child + root) % size, block.subarray(offset, offset + count * n), tag);
    }));
    if (out !== null && block !== out) out.set(block.subarray(0, n));
  }

  /** Every rank's `sendbuf` (equal sizes) concatenated into every rank's `recvbuf`, in rank order. */
  async Allgather(sendbuf: ArrayBufferView | InPlace, recvbuf: ArrayBufferView): Promise<void> {
    this.#use();
    validateHost(recvbuf, 'recvbuf');
    const size = this.size;
    const n = equalBlock('Allgather', sendbuf, 'sendbuf', recvbuf, 'recvbuf', size);
    if (sendbuf !== IN_PLACE) bytes(recvbuf).set(bytes(sendbuf), this.rank * n);
    if (size === 1) return;
    const tag = this.#nextTag();
    const out = bytes(recvbuf);
    if ((size & (size - 1)) === 0) {
      // Recursive doubling: after the step with `mask`, this rank holds the aligned group of 2 * mask blocks.
      for (let mask = 1; mask < size; mask <<= 1) {
        const partner = this.rank ^ mask;
        const mine = this.rank & ~(mask - 1);
        const theirs = partner & ~(mask - 1);
        await Promise.all([
          this.#csend(partner, out.subarray(mine * n, (mine + mask) * n), tag),
          this.#crecv(partner, out.subarray(theirs * n, (theirs + mask) * n), tag, 'Allgather'),
        ]);
      }
    } else {
      const right = (this.rank + 1) % size;
      const left = (this.rank - 1 + size) % size;
      for (let step = 0; step < size - 1; step++) {
        const sendBlock = (this.rank - step + size) % size;
        const recvBlock = (this.rank - step - 1 + size) % size;
        await Promise.all([
          this.#csend(right, out.subarray(sendBlock * n, sendBlock * n + n), tag),
          this.#crecv(left, out.subarray(recvBlock * n, recvBlock * n + n), tag, 'Allgather'),
        ]);
      }
    }
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
    const tag = this.#nextTag();
    const work: Promise<unknown>[] = [];
    for (let i = 1; i < size; i++) {
      const to = (this.rank + i) % size;
      const from = (this.rank - i + size) % size;
      work.push(this.#crecv(from, out.subarray(from * n, from * n + n), tag, 'Alltoall'));
      work.push(this.#csend(to, source.subarray(to * n, to * n + n), tag));
    }
    await Promise.all(work);
  }

  // ---- v-collectives: blocks of different sizes, [buf, counts, displs] (mpi4py's buffer spec) ----

  /** Every rank's `sendbuf` into block `rank` of the root's `recvspec` (direct sends to the root). */
  async Gatherv(sendbuf: ArrayBufferView | InPlace, recvspec: VSpec | null, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    if (sendbuf === IN_PLACE && !isRoot) throw new MPIError('ERR_MPI_ARG', 'IN_PLACE is for the root of Gatherv only');
    if (sendbuf !== IN_PLACE) validateHost(sendbuf, 'sendbuf');
    const blocks = isRoot ? parseVSpec(recvspec, this.size, 'recvspec', 'Gatherv') : null;
    const tag = this.#nextTag();
    if (!isRoot) {
      await this.#csend(root, sendbuf as ArrayBufferView, tag);
      return;
    }
    if (sendbuf !== IN_PLACE) copyBlock(blocks!.block(root), bytes(sendbuf), 'Gatherv');
    await Promise.all(this.#others().map((r) => this.#crecv(r, blocks!.block(r), tag, 'Gatherv')));
  }

  /** Block i of the root's `sendspec` to rank i's `recvbuf` (direct sends from the root). */
  async Scatterv(sendspec: VSpec | null, recvbuf: ArrayBufferView | InPlace, root = 0): Promise<void> {
    this.#use();
    this.#checkRoot(root);
    const isRoot = this.rank === root;
    if (recvbuf === IN_PLACE && !isRoot) throw new MPIError('ERR_MPI_ARG', 'IN_PLACE is for the root of Scatterv only');
    if (recvbuf !== IN_PLACE) validateHost(recvbuf, 'recvbuf');
    const blocks = isRoot ? parseVSpec(sendspec, this.size, 'sendspec', 'Scatterv') : null;
    const tag = this.#nextTag();
    if (!isRoot) {
      await this.#crecv(root, recvbuf as ArrayBufferView, tag, 'Scatterv');
      return;
    }
    if (recvbuf !== IN_PLACE) copyBlock(bytes(recvbuf), blocks!.block(root), 'Scatterv');
    await Promise.all(this.#others().map((r) => this.#csend(r, blocks!.block(r), tag)));
  }

  /** Every rank's `sendbuf` into block `rank` of every rank's `recvspec` (every pair exchanges directly). */
  async Allgatherv(sendbuf: ArrayBufferView | InPlace, recvspec: VSpec): Promise<void> {
    this.#use();
    if (sendbuf !== IN_PLACE) validateHost(sendbuf, 'sendbuf');
    const blocks = parseVSpec(recvspec, this.size, 'recvspec', 'Allgatherv');
    if (sendbuf !== IN_PLACE) copyBlock(blocks.block(this.rank), bytes(sendbuf), 'Allgatherv');
    const tag = this.#nextTag();
    const mine = blocks.block(this.rank);
    await Promise.all(this.#others().flatMap((r) => [
      this.#csend(r, mine, tag),
      this.#crecv(r, blocks.block(r), tag, 'Allgatherv'),
    ]));
  }

  /** Block j of `sendspec` to rank j; block j of `recvspec` from rank j (every pair exchanges directly). */
  async Alltoallv(sendspec: VSpec, recvspec: VSpec): Promise<void> {
    this.#use();
    const out = parseVSpec(sendspec, this.size, 'sendspec', 'Alltoallv');
    const into = parseVSpec(recvspec, this.size, 'recvspec', 'Alltoallv');
    copyBlock(into.block(this.rank), out.block(this.rank), 'Alltoallv');
    const tag = this.#nextTag();
    await Promise.all(this.#others().flatMap((r) => [
      this.#csend(r, out.block(r), tag),
      this.#crecv(r, into.block(r), tag, 'Alltoallv'),
    ]));
  }

  /** The other ranks, starting after this one (so that not every rank sends to rank 0 first). */
  #others(): number[] {
    return Array.from({ length: this.size - 1 }, (_, i) => (this.rank + 1 + i) % this.size);
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
    const work = whole.slice() as TypedArray;
    const displs = prefix(counts);
    if (size > 1) {
      const tag = this.#nextTag();
      if (op.commute && op.splitUnit > 0 && counts.every((c) => c % op.splitUnit === 0)) {
        await this.#ringReduceScatter(work, op, tag, 1, counts);
      } else {
        await this.#reduceTypedTree(work, op, 0, tag);
        await this.#bcastPlain(work, 0, tag);
      }
    }
    const mine = work.subarray(displs[this.rank]!, displs[this.rank]! + counts[this.rank]!);
    recvbuf.set(mine as never, 0);
  }

  /** Inclusive prefix reduction of typed arrays. */
  async Scan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    await this.#scanTyped(sendbuf, recvbuf, op, false);
  }

  /** Exclusive prefix reduction of typed arrays (rank 0's recvbuf is left as it is). */
  async Exscan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    await this.#scanTyped(sendbuf, recvbuf, op, true);
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
    const contextId = Math.max(...entries.map((e) => e[2]));
    if (contextId >= MAX_CONTEXTS) throw new MPIError('ERR_MPI_COMM', `out of communicator context ids (${MAX_CONTEXTS})`);
    world.nextContextId = contextId + 1;
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
    const contextId = await this.allreduce(world.nextContextId, MAX);
    if (contextId >= MAX_CONTEXTS) throw new MPIError('ERR_MPI_COMM', `out of communicator context ids (${MAX_CONTEXTS})`);
    world.nextContextId = contextId + 1;
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

  #checkRank(rank: unknown, what: string): asserts rank is number {
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw new MPIError('ERR_MPI_RANK', `${what} ${String(rank)} is not a rank of this communicator (0 ... ${this.size - 1})`);
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
    if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new MPIError('ERR_MPI_ROOT', `root ${String(root)} is not a rank of this communicator (0 ... ${this.size - 1})`);
    }
  }

  #checkTag(tag: unknown, any: boolean): asserts tag is number {
    if (any && tag === ANY_TAG) return;
    if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > TAG_UB) {
      throw new MPIError('ERR_MPI_TAG', `tag ${String(tag)} is not in 0 ... ${TAG_UB}${any ? ' (or ANY_TAG)' : ''}`);
    }
  }

  // collective point-to-point: on the collective context, tagged with the call's sequence number

  #csend(dest: number, data: Data, tag: number): Promise<void> {
    return this.#coll!.sendBytes(dest, data, tag);
  }

  /** Receives exactly into.byteLength bytes from `source`, or rejects with ERR_MPI_COUNT. */
  #crecv(source: number, into: Data, tag: number, what: string): Promise<void> {
    return this.#coll!.recvExactly(into, source, tag, what);
  }

  /** A receive whose length does not matter (barrier). */
  #crecvRaw(source: number, into: Data, tag: number): Promise<unknown> {
    return this.#coll!.recvBytes(into, source, tag, undefined, 'barrier');
  }

  #crecvWire(source: number, tag: number): Promise<Frame> {
    return this.#coll!.recvFrame(source, tag, undefined, 'collective');
  }

  #sendValue(dest: number, value: unknown, tag: number): Promise<void> {
    return this.#coll!.sendObject(dest, value, tag);
  }

  async #recvValue(source: number, tag: number): Promise<unknown> {
    return decodeObject((await this.#crecvWire(source, tag)).body);
  }

  async #reduceValues(obj: unknown, op: Op, root: number, tag: number): Promise<unknown> {
    const size = this.size;
    const vr = (this.rank - root + size) % size;
    let acc = obj;
    for (let mask = 1; mask < size; mask <<= 1) {
      if ((vr & mask) === 0) {
        const child = vr | mask;
        if (child < size) acc = op.apply(acc, await this.#recvValue((child + root) % size, tag));
      } else {
        await this.#sendValue((vr - mask + root) % size, acc, tag);
        return null;
      }
    }
    return acc;
  }

  async #scanValues(obj: unknown, op: Op, exclusive: boolean): Promise<unknown> {
    this.#use();
    validateOp(op);
    if (this.size === 1) return exclusive ? null : obj;
    const tag = this.#nextTag();
    const rank = this.rank;
    let partial: unknown = obj;
    let result: unknown = exclusive ? null : obj;
    let have = !exclusive;
    for (let mask = 1; mask < this.size; mask <<= 1) {
      const partner = rank ^ mask;
      if (partner >= this.size) continue;
      const [other] = await Promise.all([this.#recvValue(partner, tag), this.#sendValue(partner, partial, tag)]);
      if (partner < rank) {
        partial = op.apply(other, partial);
        result = have ? op.apply(other, result) : other;
        have = true;
      } else {
        partial = op.apply(partial, other);
      }
    }
    return result;
  }

  /** Binomial-tree reduction of `acc` (every rank's contribution, same length) into the tree root's `acc`. */
  async #reduceTypedTree(acc: TypedArray, op: Op, root: number, tag: number): Promise<void> {
    const size = this.size;
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    // Children in ascending order cover the relative ranks right after ours; all receives are posted at once,
    // and combined in that order as they complete: acc = acc op child1 op child2 ...
    const ordered = children.slice().reverse();
    const scratch = ordered.map(() => typedLike(acc, acc.length));
    const received = ordered.map((child, i) => this.#crecv((child + root) % size, scratch[i]!, tag, 'Reduce'));
    for (let i = 0; i < ordered.length; i++) {
      await received[i];
      op.reduceInto(acc, scratch[i]!, false);
    }
    if (parent >= 0) await this.#csend((parent + root) % size, acc, tag);
  }

  /** Binomial broadcast inside another collective (same tag). */
  async #bcastPlain(buf: TypedArray, root: number, tag: number): Promise<void> {
    const size = this.size;
    const vr = (this.rank - root + size) % size;
    const { parent, children } = lowbitTree(vr, size);
    if (parent >= 0) await this.#crecv((parent + root) % size, buf, tag, 'Bcast');
    await Promise.all(children.map((child) => this.#csend((child + root) % size, buf, tag)));
  }

  /**
   * Rabenseifner's allreduce for a power-of-two size (commutative ops): reduce-scatter by recursive halving,
   * then allgather by recursive doubling: 2 log2(size) steps, each moving half the data of the one before.
   */
  async #rabenseifner(buf: TypedArray, op: Op, tag: number, unit: number): Promise<void> {
    const size = this.size;
    const rank = this.rank;
    const counts = equalCounts(buf.length, size, unit);
    const displs = prefix(counts);
    const span = (lo: number, hi: number): TypedArray => buf.subarray(displs[lo]!, hi === size ? buf.length : displs[hi]!) as TypedArray;
    const tmp = typedLike(buf, Math.ceil(buf.length / 2) + size);
    // A step never writes what an earlier step sent, so sends complete in the background: only receives
    // are on the critical path (a rendezvous send's completion costs the sender another wake-up).
    const sends: Promise<void>[] = [];
    let lo = 0;
    let hi = size;
    for (let distance = size >> 1; distance >= 1; distance >>= 1) {
      const partner = rank ^ distance;
      const mid = (lo + hi) >> 1;
      const [keepLo, keepHi, sendLo, sendHi] = (rank & distance) === 0 ? [lo, mid, mid, hi] : [mid, hi, lo, mid];
      const keep = span(keepLo, keepHi);
      const incoming = tmp.subarray(0, keep.length) as TypedArray;
      sends.push(this.#csend(partner, span(sendLo, sendHi), tag));
      await this.#crecv(partner, incoming, tag, 'Allreduce');
      op.reduceInto(keep, incoming, false);
      lo = keepLo;
      hi = keepHi;
    }
    for (let distance = 1; distance < size; distance <<= 1) {
      const partner = rank ^ distance;
      const width = hi - lo;
      const theirLo = lo ^ distance;
      sends.push(this.#csend(partner, span(lo, hi), tag));
      await this.#crecv(partner, span(theirLo, theirLo + width), tag, 'Allreduce');
      lo = Math.min(lo, theirLo);
      hi = lo + 2 * width;
    }
    await Promise.all(sends);
  }

  async #recursiveDoubling(buf: TypedArray, op: Op, tag: number): Promise<void> {
    const size = this.size;
    const rank = this.rank;
    const tmp = typedLike(buf, buf.length);
    let pof2 = 1;
    while (pof2 * 2 <= size) pof2 *= 2;
    const rem = size - pof2;
    let newrank: number;
    if (rank < 2 * rem) {
      if (rank % 2 === 0) {
        await this.#csend(rank + 1, buf, tag);
        newrank = -1;
      } else {
        await this.#crecv(rank - 1, tmp, tag, 'Allreduce');
        op.reduceInto(buf, tmp, true);
        newrank = rank >> 1;
      }
    } else {
      newrank = rank - rem;
    }
    if (newrank >= 0) {
      for (let mask = 1; mask < pof2; mask <<= 1) {
        const newdst = newrank ^ mask;
        const dst = newdst < rem ? newdst * 2 + 1 : newdst + rem;
        await Promise.all([this.#csend(dst, buf, tag), this.#crecv(dst, tmp, tag, 'Allreduce')]);
        op.reduceInto(buf, tmp, dst < rank);
      }
    }
    if (rank < 2 * rem) {
      if (rank % 2 === 1) await this.#csend(rank - 1, buf, tag);
      else await this.#crecv(rank + 1, buf, tag, 'Allreduce');
    }
  }

  /**
   * Ring reduce-scatter over blocks of `buf` (commutative ops). Afterwards block (rank + shift) % size holds the
   * full reduction (shift 0: the block after this rank's, as the ring allgather expects; shift... see callers).
   */
  async #ringReduceScatter(buf: TypedArray, op: Op, tag: number, mode: 0 | 1, counts = equalCounts(buf.length, this.size)): Promise<void> {
    const size = this.size;
    const displs = prefix(counts);
    const right = (this.rank + 1) % size;
    const left = (this.rank - 1 + size) % size;
    const tmp = typedLike(buf, Math.max(...counts));
    // mode 0: this rank ends with block rank + 1 (the ring allgather starts from there); mode 1: with block rank.
    const base = mode === 0 ? 0 : -1;
    // The block sent at one step is not written at the next (size > 2): sends complete in the background.
    const sends: Promise<void>[] = [];
    for (let step = 0; step < size - 1; step++) {
      const sendBlock = ((this.rank - step + base) % size + 2 * size) % size;
      const recvBlock = ((this.rank - step - 1 + base) % size + 2 * size) % size;
      const incoming = tmp.subarray(0, counts[recvBlock]!) as TypedArray;
      const sent = this.#csend(right, buf.subarray(displs[sendBlock]!, displs[sendBlock]! + counts[sendBlock]!), tag);
      if (size === 2) await sent;
      else sends.push(sent);
      await this.#crecv(left, incoming, tag, 'Allreduce');
      op.reduceInto(buf.subarray(displs[recvBlock]!, displs[recvBlock]! + counts[recvBlock]!) as TypedArray, incoming, false);
    }
    await Promise.all(sends);
  }

  /** Ring allgather of the blocks after #ringReduceScatter(mode 0): block (rank + 1) % size is complete here. */
  async #ringAllgather(buf: TypedArray, tag: number, counts: readonly number[]): Promise<void> {
    const size = this.size;
    const displs = prefix(counts);
    const right = (this.rank + 1) % size;
    const left = (this.rank - 1 + size) % size;
    const sends: Promise<void>[] = [];
    for (let step = 0; step < size - 1; step++) {
      const sendBlock = (this.rank - step + 1 + size) % size;
      const recvBlock = (this.rank - step + size) % size;
      sends.push(this.#csend(right, buf.subarray(displs[sendBlock]!, displs[sendBlock]! + counts[sendBlock]!), tag));
      await this.#crecv(left, buf.subarray(displs[recvBlock]!, displs[recvBlock]! + counts[recvBlock]!), tag, 'Allreduce');
    }
    await Promise.all(sends);
  }

  async #scanTyped(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op, exclusive: boolean): Promise<void> {
    this.#use();
    validateOp(op);
    validateTyped(recvbuf, 'recvbuf');
    const own = sendbuf === IN_PLACE ? recvbuf.slice() as TypedArray : sendbuf;
    validateTyped(own, 'sendbuf');
    if (own.length !== recvbuf.length || own.constructor !== recvbuf.constructor) {
      throw new MPIError('ERR_MPI_COUNT', `${exclusive ? 'Exscan' : 'Scan'}: recvbuf ${recvbuf.constructor.name}(${recvbuf.length}) does not match sendbuf ${own.constructor.name}(${own.length})`);
    }
    op.checkTyped(own);
    if (!exclusive && own !== recvbuf) recvbuf.set(own as never);
    if (this.size === 1) return;
    const tag = this.#nextTag();
    const rank = this.rank;
    const partial = own.slice() as TypedArray;
    const tmp = typedLike(own, own.length);
    let have = !exclusive;
    for (let mask = 1; mask < this.size; mask <<= 1) {
      const partner = rank ^ mask;
      if (partner >= this.size) continue;
      await Promise.all([this.#csend(partner, partial, tag), this.#crecv(partner, tmp, tag, exclusive ? 'Exscan' : 'Scan')]);
      if (partner < rank) {
        op.reduceInto(partial, tmp, true);
        if (have) op.reduceInto(recvbuf, tmp, true);
        else recvbuf.set(tmp as never);
        have = true;
      } else {
        op.reduceInto(partial, tmp, false);
      }
    }
  }
}

type AllreduceAlgorithm = 'recursive-doubling' | 'ring' | 'rabenseifner' | 'reduce-bcast';

/**
 * Which allreduce for typed arrays: recursive doubling for small buffers (fewest steps); for large ones
 * Rabenseifner's on power-of-two sizes, else the ring (both move 2(p-1)/p of the data per rank).
 * NODE_UCX_MPI_ALLREDUCE=recursive-doubling|ring|rabenseifner|reduce-bcast overrides (for tuning and comparisons).
 */
function allreduceAlgorithm(bytes: number, length: number, size: number, unit: number): AllreduceAlgorithm {
  const forced = process.env.NODE_UCX_MPI_ALLREDUCE;
  const pow2 = (size & (size - 1)) === 0;
  if (forced === 'reduce-bcast') return 'reduce-bcast';
  // Ops that must see whole buffers, and buffers of fewer items than ranks, are not split into blocks.
  if (forced === 'recursive-doubling' || unit === 0 || length < size * unit) return 'recursive-doubling';
  if (forced === 'ring') return 'ring';
  if (forced === 'rabenseifner' && pow2) return 'rabenseifner';
  if (bytes < RING_ALLREDUCE_MIN) return 'recursive-doubling';
  return pow2 ? 'rabenseifner' : 'ring';
}

/** The number of relative ranks a binomial-tree node at `vr` covers (its lowest set bit; the root covers all). */
function lowestSpan(vr: number, size: number): number {
  if (vr === 0) {
    let span = 1;
    while (span < size) span *= 2;
    return span;
  }
  return vr & -vr;
}

function isCancellation(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted && error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR');
}


// Set by the runtime: how comm.abort() ends the job.
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
