// Listener: one ucp_listener. Accepts every connection request and hands the
// new Endpoint to 'connection' listeners and to async iterators.
import { EventEmitter } from 'node:events';
import { deadline } from '../util/abort.js';
import type { NativeListener } from '../native.js';
import type { Worker } from './worker.js';
import type { Endpoint } from './endpoint.js';
import { kNative, kDetach, kOnConnRequest, kWrapEndpoint } from './internal.js';
import { defaults } from './defaults.js';

export class Listener extends EventEmitter implements AsyncIterable<Endpoint> {
  readonly worker: Worker;
  readonly host: string;
  /** The port it listens on (the real one when port 0 was asked for). */
  readonly port: number;
  readonly [kNative]: NativeListener;
  #closing: Promise<void> | undefined;
  #iterators = new Set<{ queue: Endpoint[]; wake: (() => void) | null }>();

  constructor(worker: Worker, nativeListener: NativeListener, onConnection?: (ep: Endpoint) => void) {
    super();
    this.worker = worker;
    this[kNative] = nativeListener;
    const [host, port] = nativeListener.address();
    this.host = host;
    this.port = port;
    if (onConnection !== undefined) this.on('connection', onConnection);
  }

  get closed(): boolean { return this.#closing !== undefined; }

  /** Stops accepting. Endpoints already accepted stay open. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this[kNative].close();
      this.worker[kDetach](this);
      for (const iterator of this.#iterators) iterator.wake?.();
      this.#closing = Promise.resolve();
      process.nextTick(() => this.emit('close'));
    }
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Yields each accepted endpoint; ends when the listener closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Endpoint, void, undefined> {
    const iterator = { queue: [] as Endpoint[], wake: null as (() => void) | null };
    this.#iterators.add(iterator);
    try {
      for (;;) {
        const next = iterator.queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.#closing !== undefined) return;
        await new Promise<void>((resolve) => { iterator.wake = resolve; });
        iterator.wake = null;
      }
    } finally {
      this.#iterators.delete(iterator);
    }
  }

  [kOnConnRequest](request: unknown, clientAddress: string): void {
    if (this.#closing !== undefined) {
      this[kNative].reject(request);
      return;
    }
    let endpoint: Endpoint;
    try {
      endpoint = this.worker[kWrapEndpoint](this[kNative].accept(request, this.worker.errorHandling === 'peer'), 'server', clientAddress);
    } catch (error) {
      this.#report(error);
      return;
    }
    // Hand the endpoint out once its wire-up is complete (a flush waits for it), as connect() does:
    // 'connection' then means ready, and UCX 1.13 never replays a rendezvous send queued during
    // wire-up onto shared memory (which trips an assertion in its 'none' error mode).
    deadline(endpoint.flush(), defaults.connectTimeoutMs, 'accepting a connection').then(
      () => {
        for (const iterator of this.#iterators) {
          iterator.queue.push(endpoint);
          iterator.wake?.();
        }
        this.emit('connection', endpoint);
      },
      (error: unknown) => {
        void endpoint.close({ force: true });
        this.#report(error);
      });
  }

  /** A connection that failed before anyone held its endpoint: 'error' if someone listens. */
  #report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
