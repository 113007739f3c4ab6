// MPI.Info: string keys and values (hints), as mpi4py's Info. MPI-IO reads cb_nodes, cb_buffer_size,
// romio_cb_write and romio_cb_read from it; the rest is kept and ignored.
import { MPIError } from './errors.js';

/** Hints as string keys and values (mpi4py's Info): MPI-IO reads its cb_* and romio_cb_* keys; others are kept and ignored. */
export class Info {
  readonly #entries = new Map<string, string>();
  #freed = false;
  readonly #null: boolean;

  /** @internal `isNull`: INFO_NULL. */
  constructor(entries?: Iterable<[string, string]> | Record<string, string> | null, isNull = false) {
    this.#null = isNull;
    if (entries === null || entries === undefined) return;
    const pairs = Symbol.iterator in Object(entries) ? (entries as Iterable<[string, string]>) : Object.entries(entries);
    for (const [key, value] of pairs) this.set(key, value);
  }

  /** A new Info, empty or with these entries (mpi4py: Info.Create(dict)). */
  static create(entries?: Iterable<[string, string]> | Record<string, string> | null): Info {
    return new Info(entries);
  }

  /** mpi4py's name for create(). */
  static Create(entries?: Iterable<[string, string]> | Record<string, string> | null): Info {
    return Info.create(entries);
  }

  /** True for INFO_NULL and INFO_ENV, which cannot be changed. */
  get isNull(): boolean {
    return this.#null;
  }

  /** Sets `key` (1 ... 255 characters) to `value`, as a string. */
  set(key: string, value: string): void {
    this.#check(true);
    if (typeof key !== 'string' || key.length === 0 || key.length > 255) throw new MPIError('ERR_MPI_INFO_KEY', `Info: bad key ${String(key)}`);
    this.#entries.set(key, String(value));
  }

  /** The value of `key`, or null. */
  get(key: string): string | null {
    this.#check(false);
    return this.#entries.get(key) ?? null;
  }

  /** Removes `key`; ERR_MPI_INFO_NOKEY if it is not there. */
  delete(key: string): void {
    this.#check(true);
    if (!this.#entries.delete(key)) throw new MPIError('ERR_MPI_INFO_NOKEY', `Info: no key ${String(key)}`);
  }

  /** How many keys it has. */
  get size(): number {
    return this.#entries.size;
  }
  /** Its keys, in insertion order. */
  keys(): string[] {
    return [...this.#entries.keys()];
  }
  /** Its [key, value] pairs, in insertion order. */
  items(): [string, string][] {
    return [...this.#entries.entries()];
  }
  /** A copy, which changes apart from this one. */
  dup(): Info {
    return new Info(this.#entries);
  }
  /** MPI_Info_free: using it afterwards throws ERR_MPI_INFO. */
  free(): void {
    this.#freed = true;
  }

  // mpi4py spellings
  /** mpi4py's name for set(). */
  Set(key: string, value: string): void {
    this.set(key, value);
  }
  /** mpi4py's name for get(). */
  Get(key: string): string | null {
    return this.get(key);
  }
  /** mpi4py's name for delete(). */
  Delete(key: string): void {
    this.delete(key);
  }
  /** mpi4py's name for size. */
  Get_nkeys(): number {
    return this.size;
  }
  /** The `n`th key (MPI_Info_get_nthkey); ERR_MPI_ARG past the last. */
  Get_nthkey(n: number): string {
    const key = this.keys()[n];
    if (key === undefined) throw new MPIError('ERR_MPI_ARG', `Info.Get_nthkey: no key ${n} (${this.size} keys)`);
    return key;
  }
  /** mpi4py's name for dup(). */
  Dup(): Info {
    return this.dup();
  }
  /** mpi4py's name for free(). */
  Free(): void {
    this.free();
  }

  #check(writing: boolean): void {
    if (this.#freed) throw new MPIError('ERR_MPI_INFO', 'the Info was freed');
    if (writing && this.#null) throw new MPIError('ERR_MPI_INFO', 'INFO_NULL cannot be changed');
  }
}

/** No hints. */
export const INFO_NULL = new Info(null, true);
/** The environment's hints (none here). */
export const INFO_ENV = new Info(null, true);

/** Accepts an Info, a plain object of hints, or null. */
export function asInfo(value: unknown): Info {
  if (value === null || value === undefined) return INFO_NULL;
  if (value instanceof Info) return value;
  if (typeof value === 'object') return new Info(value as Record<string, string>);
  throw new MPIError('ERR_MPI_INFO', 'info must be an MPI.Info, an object of string hints, or null');
}
