// Listener: one ucp_listener. Asks its accept hook about each connection request
// (UCX has no authentication: the hook is where a service decides who may talk
// to it), accepts or rejects it through UCX, and hands each new Endpoint to
// 'connection' listeners and to async iterators.
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptionsStylized } from 'node:util';
import { summary } from '../util/inspect.js';
import { debug } from '../util/debug.js';
import { deadline } from '../util/abort.js';
import type { NativeListener } from '../native.js';
import type { Worker } from './worker.js';
import type { Endpoint } from './endpoint.js';
import { kNative, kDetach, kOnConnRequest, kWrapEndpoint } from './internal.js';
import { defaults } from './defaults.js';

/** A client asking to connect, as its accept hook sees it. */
export interface ConnectionRequest {
  /** The client's IP address. */
  address: string;
  /** The client's port. */
  port: number;
}
/** true accepts the connection; false refuses it (ucp_listener_reject: the client's connect fails). */
export type AcceptHook = (request: ConnectionRequest) => boolean | Promise<boolean>;

/**
 * A UCX listener (`ucp_listener_h`) accepting client-server connections: made by {@link Worker.listen} or {@link listen}.
 * Events: 'connection' (ep), 'error' (err), 'close'. Also an async iterable of the endpoints it accepts.
 */
export class Listener extends EventEmitter implements AsyncIterable<Endpoint> {
  /** The worker whose listener this is. */
  readonly worker: Worker;
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on (the real one when port 0 was asked for). */
  readonly port: number;
  /** @internal */
  readonly [kNative]: NativeListener;
  #closing: Promise<void> | undefined;
  #iterators = new Set<{ queue: Endpoint[]; wake: (() => void) | null }>();
  readonly #accept: AcceptHook | undefined;
  /** Connection requests the accept hook is deciding on: each is answered exactly once (accept or reject). */
  #undecided = new Set<unknown>();

  /** @internal Made by Worker.listen(). */
  constructor(worker: Worker, nativeListener: NativeListener, onConnection?: (ep: Endpoint) => void, accept?: AcceptHook) {
    super();
    this.worker = worker;
    this[kNative] = nativeListener;
    this.#accept = accept;
    const [host, port] = nativeListener.address();
    this.host = host;
    this.port = port;
    if (onConnection !== undefined) this.on('connection', onConnection);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Stops accepting. Endpoints already accepted stay open. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      // UCX wants every connection request answered before its listener goes.
      for (const request of this.#undecided) this[kNative].reject(request);
      this.#undecided.clear();
      this[kNative].close();
      debug('listener %s:%d closed', this.host, this.port);
      this.worker[kDetach](this);
      for (const iterator of this.#iterators) iterator.wake?.();
      this.#closing = Promise.resolve();
      process.nextTick(() => this.emit('close'));
    }
    return this.#closing;
  }

  /** `await using listener = await worker.listen()`: closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** util.inspect: `Listener { state, address }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return summary('Listener', { state: this.closed ? 'closed' : 'open', address: `${this.host}:${this.port}` }, depth, options, inspectFn);
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
        await new Promise<void>((resolve) => {
          iterator.wake = resolve;
        });
        iterator.wake = null;
      }
    } finally {
      this.#iterators.delete(iterator);
    }
  }

  /** @internal */
  [kOnConnRequest](request: unknown, clientAddress: string, clientPort: number): void {
    if (this.#closing !== undefined) {
      this[kNative].reject(request);
      return;
    }
    const accept = this.#accept;
    if (accept === undefined) {
      this.#acceptRequest(request, clientAddress);
      return;
    }
    // The hook decides, bounded by connectTimeoutMs (the client gives up by then anyway); a hook that
    // throws or rejects refuses the client, and the error goes to 'error'.
    this.#undecided.add(request);
    let decision: Promise<boolean>;
    try {
      decision = Promise.resolve(accept({ address: clientAddress, port: clientPort }));
    } catch (error) {
      decision = Promise.reject(error);
    }
    deadline(decision, defaults.connectTimeoutMs, "the listener's accept hook").then(
      (accepted) => this.#decide(request, clientAddress, accepted === true),
      (error: unknown) => {
        this.#decide(request, clientAddress, false);
        this.#report(error);
      },
    );
  }

  #decide(request: unknown, clientAddress: string, accepted: boolean): void {
    if (!this.#undecided.delete(request)) return; // the listener closed meanwhile and refused it
    if (accepted) this.#acceptRequest(request, clientAddress);
    else this[kNative].reject(request);
  }

  #acceptRequest(request: unknown, clientAddress: string): void {
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
        debug('listener %s:%d accepted a connection from %s', this.host, this.port, clientAddress);
        for (const iterator of this.#iterators) {
          iterator.queue.push(endpoint);
          iterator.wake?.();
        }
        this.emit('connection', endpoint);
      },
      (error: unknown) => {
        void endpoint.close({ force: true });
        this.#report(error);
      },
    );
  }

  /** A connection that failed before anyone held its endpoint: 'error' if someone listens. */
  #report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
