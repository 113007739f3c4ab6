// Request (a nonblocking operation in flight) and Status (what a receive got).
import { ANY_SOURCE, ANY_TAG, UNDEFINED } from './constants.js';
import { MPIError } from './errors.js';

export class Status {
  /** The sender's rank in the communicator. */
  source: number;
  tag: number;
  /** Bytes received (for objects: the size of the encoded message). */
  count: number;
  cancelled: boolean;
  error: MPIError | null;

  constructor(source = ANY_SOURCE, tag = ANY_TAG, count = 0, cancelled = false, error: MPIError | null = null) {
    this.source = source;
    this.tag = tag;
    this.count = count;
    this.cancelled = cancelled;
    this.error = error;
  }

  getSource(): number { return this.source; }
  getTag(): number { return this.tag; }
  /** Elements received: bytes / `itemBytes` (a typed array's BYTES_PER_ELEMENT); UNDEFINED if it does not divide. */
  getCount(itemBytes: number | { BYTES_PER_ELEMENT: number } = 1): number {
    const size = typeof itemBytes === 'number' ? itemBytes : itemBytes.BYTES_PER_ELEMENT;
    return this.count % size === 0 ? this.count / size : UNDEFINED;
  }
  isCancelled(): boolean { return this.cancelled; }
}

/** A nonblocking operation: isend, irecv, Isend, Irecv, ... `wait()` resolves with its result. */
export class Request<T = void> {
  readonly #promise: Promise<T>;
  readonly #cancel: (() => boolean) | null;
  #done = false;
  #value: T | undefined;
  #error: unknown;
  #status: Status | null = null;

  /** @internal */
  constructor(promise: Promise<T>, cancel: (() => boolean) | null = null, statusOf?: (value: T) => Status | null) {
    this.#cancel = cancel;
    this.#promise = promise.then(
      (value) => {
        this.#done = true;
        this.#value = value;
        this.#status = statusOf?.(value) ?? null;
        return value;
      },
      (error: unknown) => {
        this.#done = true;
        this.#error = error;
        throw error;
      });
    // A request nobody waits on must not become an unhandled rejection: wait() rethrows.
    this.#promise.catch(() => {});
  }

  /** Whether it has completed (successfully or not). */
  get done(): boolean { return this.#done; }

  /** The Status of a completed receive (null before, and for sends). */
  get status(): Status | null { return this.#status; }

  /** Resolves with the result (the object for irecv, the Status for Irecv, undefined for sends). */
  wait(): Promise<T> { return this.#promise; }

  /** mpi4py's req.test(): [true, result] once complete, else [false, undefined]. Throws if the operation failed. */
  test(): [boolean, T | undefined] {
    if (!this.#done) return [false, undefined];
    if (this.#error !== undefined) throw this.#error;
    return [true, this.#value];
  }

  /** Tries to cancel (receives not yet matched can be); wait() then rejects with a cancelled error. */
  cancel(): boolean {
    if (this.#done || this.#cancel === null) return false;
    return this.#cancel();
  }

  // mpi4py's uppercase spellings
  Wait(): Promise<T> { return this.wait(); }
  Test(): boolean { return this.test()[0]; }
  Cancel(): boolean { return this.cancel(); }

  /** Waits for all; resolves with their results in order (rejects with the first failure). */
  static waitall<U extends readonly Request<unknown>[]>(requests: U): Promise<{ [K in keyof U]: U[K] extends Request<infer R> ? R : never }> {
    if (!Array.isArray(requests)) return Promise.reject(new MPIError('ERR_MPI_ARG', 'waitall takes an array of Requests'));
    return Promise.all(requests.map((r: Request<unknown>) => r.wait())) as Promise<{ [K in keyof U]: U[K] extends Request<infer R> ? R : never }>;
  }

  /** Waits for the first to complete: resolves with [index, result]. */
  static waitany<R>(requests: readonly Request<R>[]): Promise<[number, R]> {
    if (!Array.isArray(requests) || requests.length === 0) return Promise.reject(new MPIError('ERR_MPI_ARG', 'waitany takes a non-empty array of Requests'));
    return Promise.race(requests.map((r: Request<R>, i: number) => r.wait().then((value: R): [number, R] => [i, value])));
  }

  /** [true, results] if all are complete, else [false, undefined]. */
  static testall<R>(requests: readonly Request<R>[]): [boolean, R[] | undefined] {
    const results: R[] = [];
    for (const r of requests) {
      const [flag, value] = r.test();
      if (!flag) return [false, undefined];
      results.push(value as R);
    }
    return [true, results];
  }
}
