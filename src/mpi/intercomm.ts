// Intercomm: an intercommunicator, two groups of processes (usually two jobs: a parent and the children
// it spawned, or an accepting and a connecting job). Point-to-point goes to the remote group (Comm does
// it, given the remote ranks); collectives follow MPI's intercommunicator rules: in a rooted one the root
// passes ROOT, the rest of its group PROC_NULL, and the other group the root's rank; data flows from one
// group to the other. Each group also has a local intracommunicator of its own for the part of a
// collective that stays inside it (as mpi4py's and MPICH's implementations do).
import type { Data } from '../index.js';
import { Comm } from './comm.js';
import { PROC_NULL, IN_PLACE, type InPlace } from './constants.js';
import { Channel } from './p2p.js';
import { nextSequence } from './tags.js';
import { CollectiveCall } from './collectives/call.js';
import { bytes, typedLike, validateData, validateHost, validateTyped } from './buffers.js';
import { Group } from './group.js';
import { MAX, Op, SUM, type TypedArray } from './op.js';
import { MPIError } from './errors.js';
import { blockArg, typedArg, type BufSpec } from './bufspec.js';
import type { ReduceBuf } from './comm.js';
import type { PortLink } from './port.js';
import type { World } from './world.js';

/** The root argument of an intercommunicator collective in the root's own process (MPI_ROOT). */
export const ROOT = -4;

type Role = 'root' | 'idle' | 'receiver';

/** An intercommunicator (from spawn, accept, connect, getParent): two groups, usually two jobs; point-to-point ranks and collective data go to the remote group. */
export class Intercomm extends Comm {
  /** The remote group's size. */
  readonly remoteSize: number;
  readonly #world: World;
  /** The local group as an intracommunicator (its own context). */
  readonly #local: Comm;
  readonly #localRanks: readonly number[];
  readonly #remoteRanks: readonly number[];
  /** Collective messages to and from the remote group. */
  readonly #cross: Channel;
  /** Whether this group comes first in merge() when both pass the same `high`. */
  readonly #first: boolean;
  #seq = 0;
  #link: PortLink | null;
  #disconnected: Promise<void> | null = null;

  /** @internal Made by spawn(), accept(), connect() (dpm.ts). */
  constructor(
    world: World,
    contextId: number,
    local: Comm,
    localRanks: readonly number[],
    remoteRanks: readonly number[],
    rank: number,
    first: boolean,
    link: PortLink | null,
  ) {
    super(world, contextId, localRanks, rank, remoteRanks);
    this.#world = world;
    this.#local = local;
    this.#localRanks = localRanks;
    this.#remoteRanks = remoteRanks;
    this.remoteSize = remoteRanks.length;
    this.#cross = new Channel(world, remoteRanks, rank, contextId, 'collective');
    this.#first = first;
    this.#link = link;
    live.add(this);
  }

  /** True: an intercommunicator. */
  override isInter(): boolean {
    return true;
  }
  /** False: an intercommunicator. */
  override isIntra(): boolean {
    return false;
  }
  /** The remote group's size (remoteSize). */
  getRemoteSize(): number {
    return this.remoteSize;
  }
  /** The remote group (its members' ranks in this process's table). */
  get remoteGroup(): Group {
    return new Group(this.#remoteRanks, this.#localRanks[this.rank]!);
  }

  // mpi4py spellings
  /** mpi4py's name for getRemoteSize(). */
  Get_remote_size(): number {
    return this.remoteSize;
  }
  /** mpi4py's name for remoteGroup. */
  Get_remote_group(): Group {
    return this.remoteGroup;
  }
  /** mpi4py's name for merge(). */
  Merge(high = false): Promise<Comm> {
    return this.merge(high);
  }
  /** mpi4py's name for disconnect(). */
  Disconnect(): Promise<void> {
    return this.disconnect();
  }

  // ---- collectives across the two groups ----

  /** Every process of both groups has entered. */
  override async barrier(): Promise<void> {
    this.#check();
    const call = this.#call();
    await this.#local.barrier();
    if (this.rank === 0) await Promise.all([call.sendObject(0, null), call.recvObject(0)]);
    await this.#local.barrier();
  }

  /** The root's object to every process of the other group: they get it, the root's group gets null. */
  override async bcast<T>(obj: T, root = 0): Promise<T> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') await call.sendObject(0, obj);
    if (role !== 'receiver') return null as T;
    const value = this.rank === 0 ? ((await call.recvObject(root)) as T) : (null as T);
    return this.#local.bcast(value, 0);
  }

  override async Bcast(buf: Data, root = 0): Promise<void> {
    validateData(buf, 'buf');
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') await this.#cross.sendBytes(0, buf, call.tag);
    if (role !== 'receiver') return;
    if (this.rank === 0) await this.#cross.recvExactly(buf, root, call.tag, 'Bcast');
    await this.#local.Bcast(buf, 0);
  }

  /** The other group's objects, reduced, at the root (others get null). */
  override async reduce<T>(obj: T, op: Op = SUM, root = 0): Promise<T | null> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') return (await call.recvObject(0)) as T;
    if (role === 'idle') return null;
    const value = await this.#local.reduce(obj, op, 0);
    if (this.rank === 0) await call.sendObject(root, value);
    return null;
  }

  override async Reduce(sendbuf: ReduceBuf | InPlace, recvbuf: ReduceBuf | null, op: Op = SUM, root = 0): Promise<void> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') {
      const recv = typedArg(recvbuf, 'recvbuf', 'Reduce');
      await this.#cross.recvExactly(recv.array, 0, call.tag, 'Reduce');
      recv.commit();
      return;
    }
    if (role === 'idle') return;
    if (sendbuf === IN_PLACE) throw new MPIError('ERR_MPI_ARG', "Reduce: IN_PLACE is for an intracommunicator's root");
    const send = typedArg(sendbuf, 'sendbuf', 'Reduce').array;
    const partial = this.rank === 0 ? typedLike(send, send.length) : null;
    await this.#local.Reduce(send, partial, op, 0);
    if (partial !== null) await this.#cross.sendBytes(root, partial, call.tag);
  }

  /** Every process gets the reduction of the other group's objects. */
  override async allreduce<T>(obj: T, op: Op = SUM): Promise<T> {
    this.#check();
    const call = this.#call();
    const mine = await this.#local.reduce(obj, op, 0);
    let theirs: unknown = null;
    if (this.rank === 0) [, theirs] = await Promise.all([call.sendObject(0, mine), call.recvObject(0)]);
    return this.#local.bcast(theirs as T, 0);
  }

  override async Allreduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: Op = SUM): Promise<void> {
    this.#check();
    validateTyped(recvbuf, 'recvbuf');
    const source = sendbuf === IN_PLACE ? (recvbuf.slice() as TypedArray) : sendbuf;
    validateTyped(source, 'sendbuf');
    const call = this.#call();
    const partial = this.rank === 0 ? typedLike(source, source.length) : null;
    await this.#local.Reduce(source, partial, op, 0);
    if (partial !== null) {
      await Promise.all([this.#cross.sendBytes(0, partial, call.tag), this.#cross.recvExactly(recvbuf, 0, call.tag, 'Allreduce')]);
    }
    await this.#local.Bcast(recvbuf, 0);
  }

  /** The root gets the other group's objects, in their rank order; everyone else gets null. */
  override async gather<T>(obj: T, root = 0): Promise<T[] | null> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') return (await call.recvObject(0)) as T[];
    if (role === 'idle') return null;
    const all = await this.#local.gather(obj, 0);
    if (this.rank === 0) await call.sendObject(root, all);
    return null;
  }

  /** The root's objects (one per process of the other group) to the other group; the root's group gets null. */
  override async scatter<T>(objs: readonly T[] | null, root = 0): Promise<T> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') {
      if (!Array.isArray(objs) || objs.length !== this.remoteSize)
        throw new MPIError('ERR_MPI_COUNT', `scatter at the root needs an array of ${this.remoteSize} elements (the remote group's size)`);
      await call.sendObject(0, objs);
      return null as T;
    }
    if (role === 'idle') return null as T;
    const all = this.rank === 0 ? ((await call.recvObject(root)) as T[]) : null;
    return this.#local.scatter(all, 0);
  }

  /** Every process gets the other group's objects, in their rank order. */
  override async allgather<T>(obj: T): Promise<T[]> {
    this.#check();
    const call = this.#call();
    const mine = await this.#local.gather(obj, 0);
    let theirs: unknown = null;
    if (this.rank === 0) [, theirs] = await Promise.all([call.sendObject(0, mine), call.recvObject(0)]);
    return this.#local.bcast(theirs as T[], 0);
  }

  /** objs[j] goes to process j of the other group; the result's element j came from it. */
  override async alltoall<T>(objs: readonly T[]): Promise<T[]> {
    this.#check();
    if (!Array.isArray(objs) || objs.length !== this.remoteSize)
      throw new MPIError('ERR_MPI_COUNT', `alltoall needs an array of ${this.remoteSize} elements (the remote group's size)`);
    const call = this.#call();
    const received = await Promise.all(
      objs.map(async (value, j) => {
        const [, got] = await Promise.all([call.sendObject(j, value), call.recvObject(j)]);
        return got as T;
      }),
    );
    return received;
  }

  /** The root gets the other group's `sendbuf`s (equal sizes) concatenated in their rank order. */
  override async Gather(sendbuf: BufSpec | InPlace, recvbuf: BufSpec | null, root = 0): Promise<void> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') {
      const recv = blockArg(recvbuf, 'recvbuf', 'Gather', this.remoteSize);
      await this.#cross.recvExactly(recv.bytes, 0, call.tag, 'Gather');
      recv.finish();
      return;
    }
    if (role === 'idle') return;
    if (sendbuf === IN_PLACE) throw new MPIError('ERR_MPI_ARG', "Gather: IN_PLACE is for an intracommunicator's root");
    const send = blockArg(sendbuf, 'sendbuf', 'Gather', 1).bytes;
    const all = this.rank === 0 ? new Uint8Array(send.byteLength * this.size) : null;
    await this.#local.Gather(send, all, 0);
    if (all !== null) await this.#cross.sendBytes(root, all, call.tag);
  }

  /** The root's `sendbuf`, in equal blocks, one to each process of the other group. */
  override async Scatter(sendbuf: BufSpec | null, recvbuf: BufSpec | InPlace, root = 0): Promise<void> {
    const role = this.#role(root);
    const call = this.#call();
    if (role === 'root') {
      const send = blockArg(sendbuf, 'sendbuf', 'Scatter', this.remoteSize).bytes;
      if (send.byteLength % this.remoteSize !== 0)
        throw new MPIError('ERR_MPI_COUNT', `Scatter: sendbuf of ${send.byteLength} bytes does not split into ${this.remoteSize} blocks`);
      await this.#cross.sendBytes(0, send, call.tag);
      return;
    }
    if (role === 'idle') return;
    if (recvbuf === IN_PLACE) throw new MPIError('ERR_MPI_ARG', "Scatter: IN_PLACE is for an intracommunicator's root");
    const recv = blockArg(recvbuf, 'recvbuf', 'Scatter', 1);
    const all = this.rank === 0 ? new Uint8Array(recv.bytes.byteLength * this.size) : null;
    if (all !== null) await this.#cross.recvExactly(all, root, call.tag, 'Scatter');
    await this.#local.Scatter(all, recv.bytes, 0);
    recv.finish();
  }

  /** Every process gets the other group's `sendbuf`s concatenated in their rank order. */
  override async Allgather(sendbuf: ArrayBufferView | InPlace, recvbuf: ArrayBufferView): Promise<void> {
    this.#check();
    validateHost(sendbuf, 'sendbuf');
    validateHost(recvbuf, 'recvbuf');
    const call = this.#call();
    const mine = this.rank === 0 ? new Uint8Array(sendbuf.byteLength * this.size) : null;
    await this.#local.Gather(sendbuf, mine, 0);
    if (mine !== null) await Promise.all([this.#cross.sendBytes(0, mine, call.tag), this.#cross.recvExactly(bytes(recvbuf), 0, call.tag, 'Allgather')]);
    await this.#local.Bcast(recvbuf, 0);
  }

  // ---- what only an intracommunicator does ----

  override split(): Promise<Comm | null> {
    return this.#intraOnly('split');
  }
  override dup(): Promise<Comm> {
    return this.#intraOnly('dup');
  }
  override create(): Promise<Comm | null> {
    return this.#intraOnly('create');
  }
  override createCart(): Promise<never> {
    return this.#intraOnly('createCart');
  }
  override scan<T>(): Promise<T> {
    return this.#intraOnly('scan');
  }
  override exscan<T>(): Promise<T | null> {
    return this.#intraOnly('exscan');
  }
  override Scan(): Promise<void> {
    return this.#intraOnly('Scan');
  }
  override Exscan(): Promise<void> {
    return this.#intraOnly('Exscan');
  }
  override Reduce_scatter(): Promise<void> {
    return this.#intraOnly('Reduce_scatter');
  }
  override Reduce_scatter_block(): Promise<void> {
    return this.#intraOnly('Reduce_scatter_block');
  }
  override Alltoall(): Promise<void> {
    return this.#intraOnly('Alltoall');
  }
  override Gatherv(): Promise<void> {
    return this.#intraOnly('Gatherv');
  }
  override Scatterv(): Promise<void> {
    return this.#intraOnly('Scatterv');
  }
  override Allgatherv(): Promise<void> {
    return this.#intraOnly('Allgatherv');
  }
  override Alltoallv(): Promise<void> {
    return this.#intraOnly('Alltoallv');
  }

  // ---- merge and disconnect ----

  /**
   * One intracommunicator of both groups: the group that passes `high` false comes first (with equal
   * `high`, the accepting or spawning group does). Collective over both groups.
   */
  async merge(high = false): Promise<Comm> {
    this.#check();
    if (typeof high !== 'boolean') throw new TypeError(`The "high" argument must be of type boolean. Received ${typeof high}`);
    const call = this.#call();
    const world = this.#world;
    const candidate = await this.#local.allreduce(world.nextContextId, MAX);
    let theirs: [boolean, number] | null = null;
    if (this.rank === 0) [, theirs] = await Promise.all([call.sendObject(0, [high, candidate]), call.recvObject(0) as Promise<[boolean, number]>]);
    const [remoteHigh, remoteCandidate] = await this.#local.bcast(theirs!, 0);
    const contextId = Math.max(candidate, remoteCandidate);
    world.nextContextId = Math.max(world.nextContextId, contextId + 1);
    const localFirst = high === remoteHigh ? this.#first : !high;
    const ranks = localFirst ? [...this.#localRanks, ...this.#remoteRanks] : [...this.#remoteRanks, ...this.#localRanks];
    return new Comm(world, contextId, ranks, localFirst ? this.rank : this.remoteSize + this.rank);
  }

  /**
   * Waits until both groups are here (so that nothing is left in flight), ends the link between the jobs
   * and frees the communicator: after it, either job may end without the other. Collective over both groups.
   */
  disconnect(): Promise<void> {
    this.#disconnected ??= (async () => {
      if (!this.freed) await this.barrier();
      await this.#link?.disconnect();
      this.#link = null;
      this.#local.free();
      this.free();
      live.delete(this);
    })();
    return this.#disconnected;
  }

  /** @internal Ends the link at once (the job is being torn down). */
  abortLink(): void {
    this.#link?.abort();
    this.#link = null;
    live.delete(this);
  }

  // ---- internals ----

  #check(): void {
    // Comm's own checks (initialized, not freed, not failed) come with any operation; a cheap one here.
    if (this.freed) throw new MPIError('ERR_MPI_COMM', 'the intercommunicator was disconnected or freed');
    if (this.#world.failed !== null) throw this.#world.failed;
  }

  /** What this process does in a rooted collective, from its `root` argument (checked). */
  #role(root: unknown): Role {
    this.#check();
    if (root === ROOT) return 'root';
    if (root === PROC_NULL) return 'idle';
    if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= this.remoteSize) {
      throw new MPIError(
        'ERR_MPI_ROOT',
        `root ${String(root)} is neither MPI.ROOT, MPI.PROC_NULL nor a rank of the remote group (0 ... ${this.remoteSize - 1})`,
      );
    }
    return 'receiver';
  }

  #call(): CollectiveCall {
    const tag = this.#seq;
    this.#seq = nextSequence(tag);
    return new CollectiveCall(this.#cross, tag);
  }

  #intraOnly(what: string): Promise<never> {
    return Promise.reject(new MPIError('ERR_MPI_COMM', `${what} needs an intracommunicator; this is an intercommunicator (merge() it first)`));
  }
}

/** Intercommunicators whose link is still up (finalize disconnects them). */
export const live = new Set<Intercomm>();
