// Error handlers: what happens when an MPI operation on a communicator, a window or a file fails.
// ERRORS_RETURN: the operation rejects (throws) with the MPIError; ERRORS_ARE_FATAL and ERRORS_ABORT:
// the job is aborted; a user handler (Errhandler.create / Comm.Create_errhandler) is called with the
// object and the error code, then the operation rejects with the error.
//
// Which handler an object starts with follows mpi4py's `rc.errors` (here MPI.rc.errors, or the
// NODE_UCX_MPI_ERRORS environment variable): 'exception' (the default, as in mpi4py: ERRORS_RETURN, and
// the error is thrown), 'default' (MPI's own defaults: ERRORS_ARE_FATAL for communicators and windows,
// ERRORS_RETURN for files), 'fatal' (ERRORS_ARE_FATAL everywhere) or 'abort' (ERRORS_ABORT everywhere).
import { MPIError } from './errors.js';

/** The object whose handler a failure goes to: a Comm, a Win or a File. */
export interface ErrorOwner {
  errhandler: Errhandler;
}

/** MPI.rc.errors: which handlers objects start with ('exception', the default, makes failures reject or throw). */
export type ErrorsMode = 'exception' | 'default' | 'fatal' | 'abort';

/** mpi4py's rc: set `MPI.rc.errors` before init() (or NODE_UCX_MPI_ERRORS) to choose the starting handlers. */
export const rc: { errors: ErrorsMode } = { errors: 'exception' };

type Kind = 'fatal' | 'return' | 'abort' | 'user';
type UserFunction = (owner: never, errorCode: number, error: MPIError) => void;

/** What happens when an operation on a Comm, Win or File fails: one of the predefined handlers, or Errhandler.create(fn). */
export class Errhandler {
  /** 'return' (ERRORS_RETURN), 'fatal' (ERRORS_ARE_FATAL), 'abort' (ERRORS_ABORT) or 'user' (Errhandler.create). */
  readonly kind: Kind;
  readonly #fn: UserFunction | null;
  #freed = false;

  /** @internal */
  constructor(kind: Kind, fn: UserFunction | null = null) {
    this.kind = kind;
    this.#fn = fn;
  }

  /**
   * A handler that calls `fn(owner, errorCode, error)` when an operation on the object it is set on fails
   * (mpi4py's Comm.Create_errhandler, Win.Create_errhandler, File.Create_errhandler). The operation then
   * rejects with the error; a handler that throws rejects it with what it threw.
   */
  static create<T>(fn: (owner: T, errorCode: number, error: MPIError) => void): Errhandler {
    if (typeof fn !== 'function') {
      const error = new TypeError(`The "fn" argument must be of type function. Received ${typeof fn}`);
      (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
      throw error;
    }
    return new Errhandler('user', fn as UserFunction);
  }

  /** @internal Runs the handler for `error` on `owner`. */
  invoke(owner: unknown, error: MPIError): void {
    if (this.kind === 'return') return;
    if (this.kind === 'user') {
      this.#fn!(owner as never, error.errorCode, error);
      return;
    }
    const code = Math.min(Math.max(error.errorClass, 1), 255);
    aborting = true;
    void runtime.abort(code, `${describe(owner)}: ${error.code}: ${error.message} (${this.kind === 'fatal' ? 'MPI.ERRORS_ARE_FATAL' : 'MPI.ERRORS_ABORT'})`);
  }

  /** True once free() was called (the objects it is set on keep using it). */
  get freed(): boolean {
    return this.#freed;
  }
  /** MPI_Errhandler_free: the objects it is set on keep it. */
  free(): void {
    this.#freed = true;
  }
  /** mpi4py's name for free(). */
  Free(): void {
    this.free();
  }
}

/** The failing operation aborts the whole job (MPI's default for communicators and windows). */
export const ERRORS_ARE_FATAL = new Errhandler('fatal');
/** The failing operation rejects with the MPIError (mpi4py's default: an exception). */
export const ERRORS_RETURN = new Errhandler('return');
/** MPI-4's ERRORS_ABORT: aborts the processes of the object's communicator (here: the job). */
export const ERRORS_ABORT = new Errhandler('abort');

/** @internal How handlers abort the job (set by index.ts to its abort path). */
export const runtime: { abort: (code: number, reason: string) => Promise<never> } = {
  abort: (code) => process.exit(code),
};

/** The handler a new object of this kind starts with, by rc.errors. */
export function defaultErrhandler(kind: 'comm' | 'win' | 'file'): Errhandler {
  const mode = rcMode();
  switch (mode) {
    case 'fatal':
      return ERRORS_ARE_FATAL;
    case 'abort':
      return ERRORS_ABORT;
    case 'default':
      return kind === 'file' ? ERRORS_RETURN : ERRORS_ARE_FATAL;
    default:
      return ERRORS_RETURN;
  }
}

function rcMode(): ErrorsMode {
  const env = process.env.NODE_UCX_MPI_ERRORS;
  if (env === 'exception' || env === 'default' || env === 'fatal' || env === 'abort') return env;
  return rc.errors;
}

export function validateErrhandler(value: unknown): asserts value is Errhandler {
  if (!(value instanceof Errhandler)) {
    throw new MPIError('ERR_MPI_ARG', 'expected an MPI.Errhandler (MPI.ERRORS_RETURN, MPI.ERRORS_ARE_FATAL, MPI.ERRORS_ABORT, or Comm.Create_errhandler(fn))');
  }
}

const handled = new WeakSet<object>();
/** Set once a fatal handler ran: the failed operation then never returns, as in MPI (the job is ending). */
let aborting = false;

/**
 * Sends `error` through `owner`'s handler once (an operation built on other operations of the same object
 * sees it handled already) and returns what the operation should throw. Only MPIErrors are MPI failures:
 * TypeError and RangeError (bad arguments) pass through untouched.
 */
export function report(owner: ErrorOwner, error: unknown): unknown {
  if (!(error instanceof MPIError) || handled.has(error)) return error;
  handled.add(error);
  owner.errhandler.invoke(owner, error);
  return error;
}

/**
 * Routes the failures of every method of `proto` (but those in `skip`) through the object's handler:
 * synchronous throws, rejected promises, and requests that fail later (any result with a reportTo method).
 */
export function routeErrors(proto: object, skip: readonly string[] = []): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || skip.includes(name)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
    if (typeof descriptor.value !== 'function') continue;
    const method = descriptor.value as (...args: unknown[]) => unknown;
    const routed = function (this: ErrorOwner, ...args: unknown[]): unknown {
      let result: unknown;
      try {
        result = method.apply(this, args);
      } catch (error) {
        throw report(this, error);
      }
      if (result instanceof Promise) {
        return result.catch((error: unknown) => {
          const reported = report(this, error);
          if (aborting) return new Promise<never>(() => {});
          throw reported;
        });
      }
      if (result !== null && typeof result === 'object' && typeof (result as Reporting).reportTo === 'function') {
        (result as Reporting).reportTo(this);
      }
      return result;
    };
    Object.defineProperty(routed, 'name', { value: name });
    Object.defineProperty(proto, name, { ...descriptor, value: routed });
  }
}

/** Something that fails later (a Request): it reports its failure to `owner` when it happens. */
export interface Reporting {
  reportTo(owner: ErrorOwner): void;
}

function describe(owner: unknown): string {
  const o = owner as { constructor?: { name?: string }; rank?: number; comm?: { rank?: number } } | null;
  const kind = o?.constructor?.name ?? 'MPI object';
  const rank = o?.rank ?? o?.comm?.rank;
  return `MPI error on a ${kind}${rank === undefined ? '' : ` (rank ${rank})`}`;
}
