// Request (a nonblocking operation in flight), Prequest (a persistent one, started again and again) and
// Status (what a receive got).
import { ANY_SOURCE, ANY_TAG, UNDEFINED } from './constants.js';
import { MPIError } from './errors.js';
import type { ErrorOwner } from './errhandler.js';
import { report } from './errhandler.js';

/** Anything with a byte size: a Datatype (its size), a typed array class (BYTES_PER_ELEMENT), or a number of bytes. */
export type ItemSize = number | { BYTES_PER_ELEMENT: number } | { readonly size: number; readonly isDatatype: true };

function itemBytes(item: ItemSize): number {
  if (typeof item === 'number') return item;
  if ('isDatatype' in item) return item.size;
  return item.BYTES_PER_ELEMENT;
}

/** What a receive or probe tells of a message (MPI_Status): its source, tag and size, whether it was cancelled, its error. */
export class Status {
  /** The sender's rank in the communicator. */
  source: number;
  /** The message's tag. */
  tag: number;
  /** Bytes received (for objects: the size of the encoded message). */
  count: number;
  /** Whether the operation was cancelled (Request.cancel()) instead of completing. */
  cancelled: boolean;
  /** The error class of the operation: MPI.SUCCESS (0) when it succeeded. */
  error: number;

  constructor(source = ANY_SOURCE, tag = ANY_TAG, count = 0, cancelled = false, error = 0) {
    this.source = source;
    this.tag = tag;
    this.count = count;
    this.cancelled = cancelled;
    this.error = error;
  }

  /** The sender's rank (source). */
  getSource(): number {
    return this.source;
  }
  /** The message's tag. */
  getTag(): number {
    return this.tag;
  }
  /** The operation's error class (error). */
  getError(): number {
    return this.error;
  }
  /**
   * Items received: bytes / the item's size (a Datatype, a typed array class, or bytes; default 1 byte);
   * UNDEFINED if it does not divide.
   */
  getCount(item: ItemSize = 1): number {
    const size = itemBytes(item);
    if (size === 0) return this.count === 0 ? 0 : UNDEFINED;
    return this.count % size === 0 ? this.count / size : UNDEFINED;
  }
  /** Basic elements received: for a Datatype, its basic elements (a double and an int are 2); else as getCount. */
  getElements(item: ItemSize = 1): number {
    if (typeof item === 'object' && 'isDatatype' in item) {
      const type = item as unknown as { size: number; elementCount(bytes: number): number };
      return type.elementCount(this.count);
    }
    return this.getCount(item);
  }
  /** Whether the operation was cancelled. */
  isCancelled(): boolean {
    return this.cancelled;
  }
  // mpi4py spellings
  /** mpi4py's name for getSource(). */
  Get_source(): number {
    return this.source;
  }
  /** mpi4py's name for getTag(). */
  Get_tag(): number {
    return this.tag;
  }
  /** mpi4py's name for getError(). */
  Get_error(): number {
    return this.error;
  }
  /** mpi4py's name for getCount(). */
  Get_count(item: ItemSize = 1): number {
    return this.getCount(item);
  }
  /** mpi4py's name for getElements(). */
  Get_elements(item: ItemSize): number {
    return this.getElements(item);
  }
  /** mpi4py's name for isCancelled(). */
  Is_cancelled(): boolean {
    return this.cancelled;
  }
  /** Sets source (MPI_Status_set_source), for a Status made by hand (generalized requests, tests). */
  Set_source(source: number): void {
    this.source = source;
  }
  /** Sets tag (MPI_Status_set_tag). */
  Set_tag(tag: number): void {
    this.tag = tag;
  }
  /** Sets error (MPI_Status_set_error). */
  Set_error(error: number): void {
    this.error = error;
  }
  /** Sets cancelled (MPI_Status_set_cancelled). */
  Set_cancelled(flag: boolean): void {
    this.cancelled = flag;
  }
  /** Sets the byte count as `count` items (MPI_Status_set_elements). */
  Set_elements(item: ItemSize, count: number): void {
    this.count = count * itemBytes(item);
  }
}

type Results<U extends readonly Request<unknown>[]> = { [K in keyof U]: U[K] extends Request<infer R> ? R : never };

const kStart = Symbol('node-ucx.mpi.request.start');

/** A nonblocking operation: isend, irecv, Isend, Irecv, Ibcast, ... `wait()` resolves with its result. */
export class Request<T = void> {
  #promise: Promise<T> | null = null;
  #cancel: (() => boolean) | null = null;
  #done = false;
  #value: T | undefined;
  #error: unknown;
  #status: Status | null = null;
  #owner: ErrorOwner | null = null;

  /** @internal `promise` null: an inactive persistent request (Prequest). */
  constructor(promise: Promise<T> | null, cancel: (() => boolean) | null = null, statusOf?: (value: T) => Status | null) {
    if (promise === null) this.#done = true;
    else this[kStart](promise, cancel, statusOf);
  }

  /** @internal Follows a new operation (a persistent request's start). */
  [kStart](promise: Promise<T>, cancel: (() => boolean) | null, statusOf?: (value: T) => Status | null): void {
    this.#cancel = cancel;
    this.#done = false;
    this.#value = undefined;
    this.#error = undefined;
    this.#status = null;
    this.#promise = promise.then(
      (value) => {
        this.#done = true;
        this.#value = value;
        this.#status = statusOf?.(value) ?? null;
        return value;
      },
      (error: unknown) => {
        this.#done = true;
        this.#error = this.#owner === null ? error : report(this.#owner, error);
        if (error instanceof MPIError) this.#status = new Status(ANY_SOURCE, ANY_TAG, 0, false, error.errorClass);
        throw this.#error;
      },
    );
    // A request nobody waits on must not become an unhandled rejection: wait() rethrows.
    this.#promise.catch(() => {});
  }

  /** @internal A failure later goes to the handler of the communicator (window, file) that made the request. */
  reportTo(owner: ErrorOwner): void {
    this.#owner ??= owner;
  }

  /** Whether it has completed (successfully or not); an inactive persistent request counts as complete. */
  get done(): boolean {
    return this.#done;
  }

  /** The Status of a completed receive (null before, and for sends). */
  get status(): Status | null {
    return this.#status;
  }

  /** Resolves with the result (the object for irecv, the Status for Irecv, undefined for sends); `status`, if given, is filled in. */
  async wait(status?: Status): Promise<T> {
    const value = this.#promise === null ? (undefined as T) : await this.#promise;
    if (status != null) fill(status, this.#status);
    return value;
  }

  /** mpi4py's req.test(): [true, result] once complete, else [false, undefined]. Throws if the operation failed. */
  test(status?: Status): [boolean, T | undefined] {
    if (!this.#done) return [false, undefined];
    if (this.#error !== undefined) throw this.#error;
    if (status != null) fill(status, this.#status);
    return [true, this.#value];
  }

  /** Tries to cancel (receives not yet matched can be); wait() then completes with status.cancelled. */
  cancel(): boolean {
    if (this.#done || this.#cancel === null) return false;
    return this.#cancel();
  }

  /** Whether it is complete, without consuming it (MPI_Request_get_status); `status` is filled in if so. */
  getStatus(status?: Status): boolean {
    if (this.#done && status != null) fill(status, this.#status);
    return this.#done;
  }

  /** Forgets the request (the operation still completes). */
  free(): void {}

  // mpi4py's uppercase spellings: Wait and Test give no value (buffer operations)
  /** mpi4py's Wait(): as wait(), without the value (buffer operations). */
  async Wait(status?: Status): Promise<void> {
    await this.wait(status);
  }
  /** mpi4py's Test(): as test(), the flag only. */
  Test(status?: Status): boolean {
    return this.test(status)[0];
  }
  /** mpi4py's name for cancel(). */
  Cancel(): boolean {
    return this.cancel();
  }
  /** mpi4py's name for getStatus(). */
  Get_status(status?: Status): boolean {
    return this.getStatus(status);
  }
  /** mpi4py's name for free(). */
  Free(): void {
    this.free();
  }

  /** Waits for all; resolves with their results in order (rejects with the first failure). `statuses` are filled in. */
  static async waitall<U extends readonly Request<unknown>[]>(requests: U, statuses?: Status[]): Promise<Results<U>> {
    checkList(requests, 'waitall');
    const results = await Promise.all(requests.map((r: Request<unknown>) => r.wait()));
    fillAll(requests, statuses);
    return results as Results<U>;
  }

  /** Waits for the first to complete: resolves with [index, result]. */
  static async waitany<R>(requests: readonly Request<R>[], status?: Status): Promise<[number, R]> {
    checkList(requests, 'waitany', true);
    const [index, value] = await Promise.race(requests.map((r: Request<R>, i: number) => r.wait().then((v: R): [number, R] => [i, v])));
    if (status != null) fill(status, requests[index]!.status);
    return [index, value];
  }

  /** Waits until at least one completes: resolves with the indices of all that have (and their results). */
  static async waitsome<R>(requests: readonly Request<R>[], statuses?: Status[]): Promise<[number[], R[]]> {
    checkList(requests, 'waitsome', true);
    await Request.waitany(requests);
    return Request.testsome(requests, statuses);
  }

  /** [true, results] if all are complete, else [false, undefined]. */
  static testall<R>(requests: readonly Request<R>[], statuses?: Status[]): [boolean, R[] | undefined] {
    checkList(requests, 'testall');
    const results: R[] = [];
    for (const r of requests) {
      const [flag, value] = r.test();
      if (!flag) return [false, undefined];
      results.push(value as R);
    }
    fillAll(requests, statuses);
    return [true, results];
  }

  /** [index, true, result] for a complete one, else [UNDEFINED, false, undefined]. */
  static testany<R>(requests: readonly Request<R>[], status?: Status): [number, boolean, R | undefined] {
    checkList(requests, 'testany');
    for (let i = 0; i < requests.length; i++) {
      const [flag, value] = requests[i]!.test(status);
      if (flag) return [i, true, value];
    }
    return [UNDEFINED, false, undefined];
  }

  /** The indices of the complete ones and their results. */
  static testsome<R>(requests: readonly Request<R>[], statuses?: Status[]): [number[], R[]] {
    checkList(requests, 'testsome');
    const indices: number[] = [];
    const values: R[] = [];
    requests.forEach((r, i) => {
      const [flag, value] = r.test(statuses?.[indices.length]);
      if (flag) {
        indices.push(i);
        values.push(value as R);
      }
    });
    return [indices, values];
  }

  // mpi4py's uppercase statics (buffer operations: no values)
  /** mpi4py's Waitall: as waitall(), without the values. */
  static async Waitall(requests: readonly Request<unknown>[], statuses?: Status[]): Promise<void> {
    await Request.waitall(requests, statuses);
  }
  /** mpi4py's Waitany: as waitany(), the index only. */
  static async Waitany(requests: readonly Request<unknown>[], status?: Status): Promise<number> {
    return (await Request.waitany(requests, status))[0];
  }
  /** mpi4py's Waitsome: as waitsome(), the indices only. */
  static async Waitsome(requests: readonly Request<unknown>[], statuses?: Status[]): Promise<number[]> {
    return (await Request.waitsome(requests, statuses))[0];
  }
  /** mpi4py's Testall: as testall(), the flag only. */
  static Testall(requests: readonly Request<unknown>[], statuses?: Status[]): boolean {
    return Request.testall(requests, statuses)[0];
  }
  /** mpi4py's Testany: as testany(), [index, flag] without the value. */
  static Testany(requests: readonly Request<unknown>[], status?: Status): [number, boolean] {
    const [index, flag] = Request.testany(requests, status);
    return [index, flag];
  }
  /** mpi4py's Testsome: as testsome(), the indices only. */
  static Testsome(requests: readonly Request<unknown>[], statuses?: Status[]): number[] {
    return Request.testsome(requests, statuses)[0];
  }
}

/**
 * A persistent request (Send_init, Recv_init, ...): made inactive; start() begins the operation, wait()
 * completes it, and it can be started again. wait() on an inactive one returns at once.
 */
export class Prequest<T = void> extends Request<T> {
  readonly #begin: () => [Promise<T>, (() => boolean) | null, ((value: T) => Status | null) | undefined];
  #active = false;

  /** @internal `begin` starts one round of the operation. */
  constructor(begin: () => [Promise<T>, (() => boolean) | null, ((value: T) => Status | null) | undefined]) {
    super(null);
    this.#begin = begin;
  }

  /** Whether a started round has not been waited for yet. */
  get active(): boolean {
    return this.#active && !this.done;
  }

  /** Starts the operation (MPI_Start). */
  start(): void {
    if (this.#active && !this.done) throw new MPIError('ERR_MPI_REQUEST', 'start: the persistent request is still active (wait for it first)');
    const [promise, cancel, statusOf] = this.#begin();
    this.#active = true;
    this[kStart](promise, cancel, statusOf);
  }

  /** mpi4py's name for start(). */
  Start(): void {
    this.start();
  }

  /** Starts every request (MPI_Startall). */
  static startall(requests: readonly Prequest<unknown>[]): void {
    checkList(requests, 'startall');
    for (const r of requests) {
      if (!(r instanceof Prequest)) throw new MPIError('ERR_MPI_REQUEST', 'startall takes persistent requests (Send_init, Recv_init, ...)');
      r.start();
    }
  }

  /** mpi4py's name for startall(). */
  static Startall(requests: readonly Prequest<unknown>[]): void {
    Prequest.startall(requests);
  }
}

function checkList(requests: unknown, what: string, nonEmpty = false): asserts requests is readonly Request<unknown>[] {
  if (!Array.isArray(requests) || (nonEmpty && requests.length === 0) || !requests.every((r) => r instanceof Request)) {
    throw new MPIError('ERR_MPI_REQUEST', `${what} takes ${nonEmpty ? 'a non-empty' : 'an'} array of Requests`);
  }
}

function fill(status: Status, from: Status | null): void {
  Object.assign(status, from ?? new Status());
}

function fillAll(requests: readonly Request<unknown>[], statuses: Status[] | undefined): void {
  if (statuses == null) return;
  requests.forEach((r, i) => {
    if (statuses[i] === undefined) statuses[i] = new Status();
    fill(statuses[i]!, r.status);
  });
}
