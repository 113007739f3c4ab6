// The main thread's side of the bootstrap thread (store-thread.ts): the rendezvous store's client API
// (exchange, finalize, abort, and the job's abort and lost-store events) over postMessage. The thread
// keeps the process alive only while a request is pending, so an MPI program ends when its work does.
import { Worker } from 'node:worker_threads';
import { MPIError, type MPIErrorCode } from './errors.js';
import type { ServerInfo } from './kvstore.js';
import type { StoreThreadData } from './store-thread.js';

type FromThread =
  | { type: 'serving'; urls: string[] }
  | { type: 'joined'; server: ServerInfo }
  | { type: 'failed'; error: { message: string; code?: string } }
  | { type: 'exchanged'; id: number; values: Uint8Array[] }
  | { type: 'exchange-failed'; id: number; error: { message: string; code?: string } }
  | { type: 'finalized'; released: boolean }
  | { type: 'abort'; code: number; reason: string }
  | { type: 'lost'; reason: string };

function rebuild(error: { message: string; code?: string }): MPIError {
  return new MPIError((error.code?.startsWith('ERR_MPI_') ? error.code : 'ERR_MPI_BOOTSTRAP') as MPIErrorCode, error.message);
}

export class StoreLink {
  readonly server: ServerInfo;
  /** Where rank 0 serves the store (file and PMIx modes), else null. */
  readonly servingUrls: string[] | null;
  readonly #thread: Worker;
  readonly #pending = new Map<number, { resolve: (values: Buffer[]) => void; reject: (error: unknown) => void }>();
  #nextId = 1;
  #refs = 0;
  #finalized: ((released: boolean) => void) | undefined;
  #onAbort: ((code: number, reason: string) => void) | undefined;
  #onLost: ((reason: string) => void) | undefined;
  /** An abort or loss that came before its handler was set. */
  #missed: { type: 'abort'; code: number; reason: string } | { type: 'lost'; reason: string } | undefined;
  #closed = false;

  private constructor(thread: Worker, server: ServerInfo, servingUrls: string[] | null) {
    this.#thread = thread;
    this.server = server;
    this.servingUrls = servingUrls;
  }

  /**
   * Starts the thread (serving the store first when `data.serve` is set: `onServing` gets its addresses,
   * before any rank can join) and resolves once this rank has joined.
   */
  static start(data: StoreThreadData, onServing?: (urls: string[]) => void): Promise<StoreLink> {
    // No execArgv: the rank's own flags (--input-type with -e, say) are not the thread's.
    const thread = new Worker(new URL('./store-thread.js', import.meta.url), { workerData: data, execArgv: [], stdout: false, stderr: false });
    return new Promise<StoreLink>((resolve, reject) => {
      let servingUrls: string[] | null = null;
      let link: StoreLink | undefined;
      const early: FromThread[] = [];
      thread.on('message', (message: FromThread) => {
        if (link !== undefined) {
          link.#receive(message);
          return;
        }
        switch (message.type) {
          case 'serving':
            servingUrls = message.urls;
            try {
              onServing?.(message.urls);
            } catch (error) {
              void thread.terminate();
              reject(error);
            }
            break;
          case 'joined':
            link = new StoreLink(thread, message.server, servingUrls);
            thread.unref();
            resolve(link);
            for (const queued of early.splice(0)) link.#receive(queued);
            break;
          case 'failed':
            void thread.terminate();
            reject(rebuild(message.error));
            break;
          default:
            early.push(message);
        }
      });
      thread.once('error', (error) => {
        if (link === undefined) reject(new MPIError('ERR_MPI_BOOTSTRAP', `the bootstrap thread failed: ${error.message}`, { cause: error }));
        else link.#receive({ type: 'lost', reason: `the bootstrap thread failed: ${error.message}` });
      });
      thread.once('exit', (code) => {
        if (link === undefined) reject(new MPIError('ERR_MPI_BOOTSTRAP', `the bootstrap thread exited (${code}) before this rank joined`));
        else link.#exited();
      });
    });
  }

  /** Called when the store says the job ends (at once, if it already did). */
  onAbort(handler: (code: number, reason: string) => void): void {
    this.#onAbort = handler;
    if (this.#missed?.type === 'abort') handler(this.#missed.code, this.#missed.reason);
  }

  /** Called when the store is lost before finalize (at once, if it already was). */
  onLost(handler: (reason: string) => void): void {
    this.#onLost = handler;
    if (this.#missed?.type === 'lost') handler(this.#missed.reason);
  }

  /** Gives `value` under `name` and resolves with every rank's value, in rank order. */
  exchange(name: string, value: Buffer, timeoutMs: number): Promise<Buffer[]> {
    if (this.#closed) return Promise.reject(new MPIError('ERR_MPI_COMM', 'the rendezvous store connection is closed'));
    const id = this.#nextId++;
    this.#hold();
    return new Promise<Buffer[]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#thread.postMessage({ type: 'exchange', id, name, value, timeoutMs });
    }).finally(() => this.#release());
  }

  /** Says finalize and waits until every rank has (true) or `ms` passed (false); then the thread ends. */
  finalize(ms = 30_000): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    this.#hold();
    return new Promise<boolean>((resolve) => {
      this.#finalized = resolve;
      this.#thread.postMessage({ type: 'finalize', ms });
    }).finally(() => {
      this.#closed = true;
      this.#release();
    });
  }

  /** Asks the store to end the job with `code`. */
  abort(code: number, reason: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#thread.postMessage({ type: 'abort', code, reason });
    // The thread sends it at once; give it a moment on the wire.
    this.#hold();
    return new Promise<void>((resolve) => setTimeout(resolve, 100)).finally(() => this.#release());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#thread.postMessage({ type: 'close' });
    void this.#thread.terminate();
  }

  #hold(): void {
    if (this.#refs++ === 0) this.#thread.ref();
  }

  #release(): void {
    if (--this.#refs === 0) this.#thread.unref();
  }

  #receive(message: FromThread): void {
    switch (message.type) {
      case 'exchanged': {
        const values = message.values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        this.#pending.get(message.id)?.resolve(values);
        this.#pending.delete(message.id);
        break;
      }
      case 'exchange-failed':
        this.#pending.get(message.id)?.reject(rebuild(message.error));
        this.#pending.delete(message.id);
        break;
      case 'finalized':
        this.#closed = true;
        this.#finalized?.(message.released);
        break;
      case 'abort':
        if (this.#onAbort === undefined) this.#missed ??= message;
        else this.#onAbort(message.code, message.reason);
        break;
      case 'lost':
        if (this.#onLost === undefined) this.#missed ??= message;
        else this.#onLost(message.reason);
        break;
      default:
        break;
    }
  }

  #exited(): void {
    const error = new MPIError('ERR_MPI_COMM', 'the rendezvous store connection is closed');
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#finalized?.(false);
    if (!this.#closed) {
      this.#closed = true;
      this.#onLost?.('the bootstrap thread ended');
    }
  }
}
