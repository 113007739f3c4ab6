// Worker: one ucp_worker with its progress engine, the tag receive side, active
// message handlers, listeners and the endpoints made from it.
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptionsStylized } from 'node:util';
import { summary } from '../util/inspect.js';
import { debug } from '../util/debug.js';
import dns from 'node:dns/promises';
import net from 'node:net';
import { UCXError, closedError } from '../util/errors.js';
import { abortedError, deadline, withAbort } from '../util/abort.js';
import {
  validateUint64,
  validateAbortSignal,
  validateObject,
  validateOptionalObject,
  validateInteger,
  validateFunction,
  validatePort,
  validateString,
  validateBytes,
  validateBoolean,
  invalidArgValue,
  outOfRange,
} from '../util/validate.js';
import { checkHostMemory, toNativeData, MEMORY_TYPE_HOST, type Data } from '../util/data.js';
import { native, NativeEvent, type NativeWorker, type NativeEndpoint, type NativeListener } from '../native.js';
import { defaults, type ProgressMode, type ErrorHandling } from './defaults.js';
import type { Context } from './context.js';
import { Endpoint, WIRE_UP_FAILURES, settingsHint, type EndpointRole, type RecvMessageOptions } from './endpoint.js';
import { Listener, type AcceptHook } from './listener.js';
import { FULL_MASK, HANDSHAKE_AM_ID, MAX_AM_ID, RESERVED_TAG_BIT, validateRawTag } from './tags.js';
import { HandshakeType, encodeHandshake, parseHandshake } from './handshake.js';
import { checkWorkerAddress, rememberOwnAddress } from './ucx-address.js';
import { kNative, kAttach, kDetach, kExpire, kOnError, kOnHandshake, kOnConnRequest, kNextCancelId, kWrapEndpoint, kFast, RESOLVED } from './internal.js';
import { Batch } from './batch.js';
import { ActiveMessageQueue, TagReceiver, workerFast, type TagReceiverOptions, type WorkerFast } from './receiver.js';

export type { ProgressMode, ErrorHandling };
/** Options of {@link Context.createWorker}. */
export interface WorkerOptions {
  /** How the worker makes progress: 'event' (default: sleeps on UCX's event fd), 'poll' (a busy loop, lowest latency, one core) or 'adaptive' (polls while busy, sleeps when idle). See docs/architecture.md. */
  progress?: ProgressMode;
  /** Error handling of the endpoints this worker makes and accepts (default: defaults.errorHandling). */
  errorHandling?: ErrorHandling;
  /**
   * Whether peers that connected to this worker's address (`connect({ address })`) may start endpoint
   * messaging with it (default false). Their HELLO carries their own worker address and this worker opens
   * an endpoint back to it, the 'connection' endpoint. Off by default: UCX authenticates nobody, so anyone
   * who can reach this worker could otherwise make it open endpoints to addresses of their choosing.
   * Raw tag/stream/AM traffic is not affected. At most defaults.maxAddressPeers such endpoints at once.
   */
  acceptAddressConnections?: boolean;
  /**
   * How long the worker keeps spinning (progressing) after activity before it sleeps, in µs ('event',
   * 'adaptive'; default defaults.eventSpinUs / defaults.adaptiveSpinUs), or one spin slice ('poll': default
   * defaults.pollSliceUs).
   */
  spinUs?: number;
  /** While spinning, how long to find nothing before yielding the CPU, µs (default defaults.yieldUs; 0: after every idle round). */
  yieldUs?: number;
}

/** Options of {@link Worker.listen} and the module's {@link listen}. */
export interface ListenOptions {
  /** The address to listen on (default '0.0.0.0': every interface); a name is resolved first. */
  host?: string;
  /** The port (default 0: any free one; Listener.port says which). */
  port?: number;
  /** Decides on each connection request ({ address, port } of the client); default: accept all. */
  accept?: AcceptHook;
}

/** An active message as its handler ({@link Worker.onActiveMessage}) receives it. */
export interface ActiveMessage {
  /** The active-message id it was sent to (0 ... {@link MAX_AM_ID}). */
  id: number;
  /** The header the sender passed to amSend (empty when it passed null). */
  header: Buffer;
  /**
   * The payload in host memory; for rendezvous messages it has been received in full before the handler
   * runs. When the handler's `allocate` gave the memory, a view of its first `length` bytes (empty for
   * device memory: see `target`).
   */
  data: Buffer;
  /** The payload's length in bytes. */
  length: number;
  /** The endpoint to answer on, when the sender asked for it ({ reply: true }). */
  reply: Endpoint | null;
  /** What the handler's `allocate` returned, when the payload was received into it; otherwise null. */
  target: Data | null;
}
/** A handler of active messages; a rejected promise or a throw is reported as the worker's 'error' event. */
export type ActiveMessageHandler = (message: ActiveMessage) => void | Promise<void>;

/** Options of {@link Worker.onActiveMessage}. */
export interface ActiveMessageOptions {
  /**
   * Where to receive a rendezvous payload (large, or sent with { rendezvous: true }): a view or
   * DeviceMemory of at least `length` bytes, reused as the caller likes once the handler has it.
   * Without it each one lands in a new Buffer. Eager payloads always arrive in a new Buffer.
   * A throw, or a buffer too small or of a memory type this UCX lacks, drops the message and is
   * reported like a throwing handler.
   */
  allocate?: (length: number, header: Buffer) => Data;
}

/** UCP_AM_SEND_FLAG_EAGER (ucp.h) */
const AM_EAGER = 2;
const PROGRESS_MODES: readonly ProgressMode[] = ['event', 'poll', 'adaptive'];
const EMPTY = Buffer.alloc(0);

/** What a raw tag receive resolves to ({@link Worker.tagRecv}, {@link Worker.tagProbe}). */
export interface TagRecvResult {
  /** The message's length in bytes. */
  length: number;
  /** The tag it was sent with (bits outside the mask may differ from the tag asked for). */
  tag: bigint;
}

/** A raw tagged message of unknown size ({@link Worker.tagRecvMessage}). */
export interface TagMessage {
  /** The message, in a new Buffer. */
  data: Buffer;
  /** The tag it was sent with. */
  tag: bigint;
}

/** What a worker holds at one moment ({@link Worker.stats}): for diagnostics and leak checks. */
export interface WorkerStats {
  /** UCX requests (and unknown-size receives) not yet completed. */
  pendingRequests: number;
  /**
   * Requests whose endpoint closed or failed before UCX completed them: their promises have settled,
   * UCX still holds them (and their memory) until it completes them or the worker closes.
   */
  abandonedRequests: number;
  /** Open endpoints (connected, accepted, and those opened back to address peers). */
  endpoints: number;
  /** Open listeners. */
  listeners: number;
  /** Whether the worker currently keeps the event loop alive. */
  keepsAlive: boolean;
}

/**
 * Events: 'connection' (ep) when a peer that connected to this worker's address starts endpoint
 * messaging with it; 'error' (err) for failures no promise carries; 'close'.
 */
export class Worker extends EventEmitter {
  /** The context this worker was created on. */
  readonly context: Context;
  /** The progress mode it was created with ({@link WorkerOptions.progress}). */
  readonly progressMode: ProgressMode;
  /** The error handling of its endpoints ({@link WorkerOptions.errorHandling}). */
  readonly errorHandling: ErrorHandling;
  /** Whether peers may reach this worker's endpoint messaging by its address (WorkerOptions.acceptAddressConnections). */
  readonly acceptsAddressConnections: boolean;
  /** @internal */
  readonly [kNative]: NativeWorker;
  #endpoints = new Map<NativeEndpoint, Endpoint>();
  /** The same endpoints by local id: handshake messages name the endpoint they are for. */
  #byLocalId = new Map<bigint, Endpoint>();
  #listeners = new Map<NativeListener, Listener>();
  /** Endpoints opened back to worker-address peers, by the peer endpoint's id (a repeated HELLO finds its own). */
  #addressPeers = new Map<bigint, Endpoint>();
  #amHandlers = new Map<number, ActiveMessageHandler>();
  #amQueues = new Map<number, ActiveMessageQueue>();
  /** What `allocate` options returned: an AM payload that arrives in one of these is `target`. */
  #allocated = new WeakSet<object>();
  #address: Buffer | undefined;
  #maxAmHeader: number | undefined;
  #cancelSeq = 0;
  #closing: Promise<void> | undefined;
  #fast: WorkerFast | undefined;
  #lastTag: bigint | undefined;
  #lastMask: bigint | undefined;
  #lastUcxMask = FULL_MASK;
  #lastView: ArrayBufferView | undefined;

  /** Prefer {@link Context.createWorker}, which does the same. */
  constructor(context: Context, opts: WorkerOptions = {}) {
    super();
    validateOptionalObject(opts, 'opts');
    const mode = opts.progress ?? defaults.progressMode;
    if (!PROGRESS_MODES.includes(mode)) throw invalidArgValue('opts.progress', mode, "must be 'event', 'poll' or 'adaptive'");
    const errorHandling = opts.errorHandling ?? defaults.errorHandling;
    if (errorHandling !== 'peer' && errorHandling !== 'none') {
      throw invalidArgValue('opts.errorHandling', errorHandling, "must be 'peer' or 'none'");
    }
    const acceptAddressConnections = opts.acceptAddressConnections ?? false;
    validateBoolean(acceptAddressConnections, 'opts.acceptAddressConnections');
    this.context = context;
    this.progressMode = mode;
    this.errorHandling = errorHandling;
    this.acceptsAddressConnections = acceptAddressConnections;
    const spinUs = opts.spinUs ?? (mode === 'poll' ? defaults.pollSliceUs : mode === 'adaptive' ? defaults.adaptiveSpinUs : defaults.eventSpinUs);
    validateInteger(spinUs, 'opts.spinUs', mode === 'poll' ? 1 : 0, mode === 'poll' ? 100_000 : 60_000_000);
    const yieldUs = opts.yieldUs ?? defaults.yieldUs;
    validateInteger(yieldUs, 'opts.yieldUs', 0, 60_000_000);
    this[kNative] = new native.Worker(
      context[kNative],
      PROGRESS_MODES.indexOf(mode),
      spinUs,
      defaults.fallbackMs,
      (kind, ...args) => this.#onEvent(kind, args),
      yieldUs,
    );
    if (context.features.includes('am')) this[kNative].setAmHandler(HANDSHAKE_AM_ID, true, false);
    context[kAttach](this);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The largest active-message header (bytes) this worker's transports carry: amSend refuses longer ones. */
  get maxAmHeader(): number {
    if (this.#closing) throw closedError('Worker');
    this.#maxAmHeader ??= this[kNative].maxAmHeader();
    return this.#maxAmHeader;
  }

  /** This worker's UCX address: give it to a peer for connect({ address }). */
  get address(): Buffer {
    if (this.#closing) throw closedError('Worker');
    this.#address ??= rememberOwnAddress(this, this[kNative].address());
    return this.#address;
  }

  /**
   * Opens a UCX listener (client-server connections over the sockaddr connection manager). `accept`
   * decides on each connection request before any endpoint exists: UCX itself authenticates nobody.
   */
  async listen(opts: ListenOptions = {}, onConnection?: (ep: Endpoint) => void): Promise<Listener> {
    validateOptionalObject(opts, 'opts');
    const host = opts.host ?? '0.0.0.0';
    const port = opts.port ?? 0;
    validateString(host, 'opts.host');
    validatePort(port, 'opts.port');
    if (opts.accept !== undefined) validateFunction(opts.accept, 'opts.accept');
    if (onConnection !== undefined) validateFunction(onConnection, 'onConnection');
    const ip = await resolveHost(host);
    if (this.#closing) throw closedError('Worker');
    const nativeListener = this[kNative].listen(ip, port);
    const listener = new Listener(this, nativeListener, onConnection, opts.accept);
    this.#listeners.set(nativeListener, listener);
    return listener;
  }

  /**
   * Connects to a listener (`{ host, port }`) or to a worker address (`{ address }`); resolves once connected.
   * `errorHandling` overrides the worker's for this endpoint (an MPI rank uses 'none', shared memory, for
   * peers on its own host and 'peer' for the others).
   */
  async connect(
    to: { host: string; port: number } | { address: Uint8Array },
    opts: { signal?: AbortSignal; errorHandling?: ErrorHandling } = {},
  ): Promise<Endpoint> {
    validateObject(to, 'to');
    validateOptionalObject(opts, 'opts');
    validateAbortSignal(opts.signal, 'opts.signal');
    const errorHandling = opts.errorHandling ?? this.errorHandling;
    if (errorHandling !== 'peer' && errorHandling !== 'none') {
      throw invalidArgValue('opts.errorHandling', errorHandling, "must be 'peer' or 'none'");
    }
    let nativeEndpoint: NativeEndpoint;
    let role: EndpointRole;
    let peer: string;
    if ('address' in to) {
      validateBytes(to.address, 'to.address');
      if (to.address.byteLength === 0) throw invalidArgValue('to.address', to.address, 'must not be empty');
      if (this.#closing) throw closedError('Worker');
      if (opts.signal?.aborted) throw abortedError(opts.signal);
      checkWorkerAddress(to.address, this.address, { sameHostLanes: errorHandling === 'none' });
      nativeEndpoint = this[kNative].connectAddress(to.address, errorHandling === 'peer');
      role = 'address';
      peer = 'worker-address';
    } else {
      validateString(to.host, 'to.host');
      validatePort(to.port, 'to.port');
      if (to.port === 0) throw outOfRange('to.port', '>= 1 and <= 65535', 0);
      const ip = await resolveHost(to.host);
      if (this.#closing) throw closedError('Worker');
      if (opts.signal?.aborted) throw abortedError(opts.signal);
      nativeEndpoint = this[kNative].connect(ip, to.port, errorHandling === 'peer');
      role = 'client';
      peer = `${to.host}:${to.port}`;
    }
    const endpoint = this[kWrapEndpoint](nativeEndpoint, role, peer);
    debug('connect to %s: endpoint created, waiting for wire-up', peer);
    try {
      // A flush completes once wire-up is done, or fails if the peer is unreachable.
      await deadline(endpoint.flush(), defaults.connectTimeoutMs, 'connect', opts.signal);
    } catch (error) {
      await endpoint.close({ force: true });
      const said = connectError(error, peer, this);
      debug('connect to %s failed: %s', peer, (said as Error).message);
      throw said;
    }
    debug('connected to %s', peer);
    return endpoint;
  }

  /** Receives a raw tagged message into `into`; `mask` selects which tag bits must match (default: all). */
  tagRecv(into: Data, tag: bigint, mask: bigint = FULL_MASK, opts: { signal?: AbortSignal } = {}): Promise<TagRecvResult> {
    try {
      const data = toNativeData(into, 'into', this.context.memoryTypes);
      validateRawTag(tag);
      validateUint64(mask, 'mask');
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
      if (this.#closing) throw closedError('Worker');
      const signal = opts.signal;
      if (signal?.aborted) throw abortedError(signal);
      const cancelId = signal ? this[kNextCancelId]() : 0;
      if (mask === FULL_MASK) {
        // An exact match: the sender's tag is `tag`, so only the length crosses N-API and the result
        // object is built here (building it natively cost more than the extra promise step).
        const length = this[kNative].tagRecv(data.target, data.length, data.memoryType, tag, FULL_MASK, cancelId, true);
        if (!(length instanceof Promise)) return Promise.resolve({ length, tag });
        return withAbort(length, signal, () => this[kNative].cancel(cancelId)).then((received) => ({ length: received, tag }));
      }
      // The reserved bit is always matched, so a wildcard never takes an endpoint-scoped message.
      const result = this[kNative].tagRecv(data.target, data.length, data.memoryType, tag, mask | RESERVED_TAG_BIT, cancelId);
      if (!(result instanceof Promise)) return Promise.resolve(result);
      return withAbort(result, signal, () => this[kNative].cancel(cancelId));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives a raw tagged message of unknown size (probe, then receive into a fresh Buffer). With
   * `maxLength`, a longer message is dropped and the receive rejects with UCS_ERR_MESSAGE_TRUNCATED.
   */
  tagRecvMessage(tag: bigint, mask: bigint = FULL_MASK, opts: RecvMessageOptions = {}): Promise<TagMessage> {
    try {
      validateRawTag(tag);
      validateUint64(mask, 'mask');
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
      const maxLength = opts.maxLength ?? Number.MAX_SAFE_INTEGER;
      validateInteger(maxLength, 'opts.maxLength', 0, Number.MAX_SAFE_INTEGER);
      if (this.#closing) throw closedError('Worker');
      const signal = opts.signal;
      if (signal?.aborted) throw abortedError(signal);
      const cancelId = this[kNextCancelId]();
      const result = this[kNative].tagRecvMessage(tag, mask | RESERVED_TAG_BIT, cancelId, false, maxLength);
      return withAbort(result, signal, () => this[kNative].cancel(cancelId));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- the fast path: no promise per operation (docs/api.md, "Batches and synchronous receives") ----

  /** A Batch: operations on this worker's endpoints without a promise each, and one wait() for those UCX did not complete inline. */
  batch(): Batch {
    return new Batch(this);
  }

  /**
   * Receives a raw tagged message that has arrived, at once: `{ length, tag }`, or null when none
   * matches after up to `spins` rounds of progress (default 1; 0: none). A Promise when the message
   * matched but is still arriving (a rendezvous). A message longer than `into` throws
   * UCS_ERR_MESSAGE_TRUNCATED (UCX drops it), as tagRecv rejects.
   */
  tryTagRecv(
    into: Data,
    tag: bigint,
    mask: bigint = FULL_MASK,
    spins = 1,
  ):
    | {
        /** The message's length in bytes. */
        length: number;
        /** The sender's tag. */
        tag: bigint;
      }
    | null
    | Promise<{
        /** The message's length in bytes. */
        length: number;
        /** The sender's tag. */
        tag: bigint;
      }> {
    // The last tag, mask and host view that passed their checks are not checked again (a receive loop
    // passes the same ones); detached buffers are refused natively.
    if (tag !== this.#lastTag) {
      validateRawTag(tag);
      this.#lastTag = tag;
    }
    if (mask !== this.#lastMask) {
      validateUint64(mask, 'mask');
      this.#lastMask = mask;
      this.#lastUcxMask = mask === FULL_MASK ? FULL_MASK : mask | RESERVED_TAG_BIT;
    }
    if (typeof spins !== 'number' || !(spins >= 0 && spins <= 0x7fffffff && Number.isInteger(spins))) validateInteger(spins, 'spins', 0, 0x7fffffff);
    if (this.#closing) throw closedError('Worker');
    const fast = this[kFast];
    const exact = this.#lastUcxMask === FULL_MASK;
    let result: number | null | Promise<number>;
    if (ArrayBuffer.isView(into)) {
      if (into !== this.#lastView) {
        checkHostMemory(into, 'into');
        this.#lastView = into;
      }
      result = fast.ops.tryTagRecv(into, into.byteLength, MEMORY_TYPE_HOST, tag, this.#lastUcxMask, spins);
    } else {
      const data = toNativeData(into, 'into', this.context.memoryTypes);
      result = fast.ops.tryTagRecv(data.target, data.length, data.memoryType, tag, this.#lastUcxMask, spins);
    }
    if (result === null) return null;
    const sender = exact ? tag : fast.tag[0]!;
    if (typeof result === 'number') return { length: result, tag: sender };
    return result.then((length) => ({ length, tag: sender }));
  }

  /**
   * The active messages of `id` queued for synchronous receives (ActiveMessageQueue.tryRecv) instead of a
   * handler. One queue or one handler per id; close() the queue to free the id.
   */
  activeMessageQueue(id: number): ActiveMessageQueue {
    validateInteger(id, 'id', 0, MAX_AM_ID);
    if (this.#closing) throw closedError('Worker');
    if (this.#amHandlers.has(id) || this.#amQueues.has(id)) {
      throw invalidArgValue('id', id, 'already has a handler or a queue on this worker');
    }
    const queue = new ActiveMessageQueue(this, this[kFast], id, () => {
      this.#amQueues.delete(id);
      if (!this.#closing) this[kNative].setAmHandler(id, false, false);
    });
    this[kNative].setAmHandler(id, true, true, undefined, true);
    this.#amQueues.set(id, queue);
    return queue;
  }

  /** Raw tagged messages in batches (TagReceiver): every queued match in one call, into a ring of slots. */
  tagReceiver(tag: bigint, mask: bigint = FULL_MASK, opts: TagReceiverOptions = {}): TagReceiver {
    if (this.#closing) throw closedError('Worker');
    return new TagReceiver(this, this[kFast], tag, mask, opts);
  }

  /** @internal The fast receives' bound functions and scratch, made on first use. */
  get [kFast](): WorkerFast {
    this.#fast ??= workerFast(this[kNative]);
    return this.#fast;
  }

  /** Whether a matching raw message has arrived (it stays queued); progresses the worker first. */
  tagProbe(tag: bigint, mask: bigint = FULL_MASK): TagRecvResult | null {
    validateRawTag(tag);
    validateUint64(mask, 'mask');
    if (this.#closing) throw closedError('Worker');
    this[kNative].progress();
    return this[kNative].tagProbe(tag, mask | RESERVED_TAG_BIT);
  }

  /** Sets (or with null removes) the handler of active messages with this id. */
  onActiveMessage(id: number, handler: ActiveMessageHandler | null, opts: ActiveMessageOptions = {}): void {
    validateInteger(id, 'id', 0, MAX_AM_ID);
    if (handler !== null) validateFunction(handler, 'handler');
    validateOptionalObject(opts, 'opts');
    if (opts.allocate !== undefined) validateFunction(opts.allocate, 'opts.allocate');
    if (this.#closing) throw closedError('Worker');
    if (this.#amQueues.has(id)) throw invalidArgValue('id', id, 'has an ActiveMessageQueue on this worker (close it first)');
    if (handler === null) {
      if (this.#amHandlers.delete(id)) this[kNative].setAmHandler(id, false, false);
      return;
    }
    // In poll mode a registered handler keeps the worker spinning, so arrivals are seen at once.
    const allocate = opts.allocate;
    this[kNative].setAmHandler(
      id,
      true,
      true,
      allocate === undefined
        ? undefined
        : (length, header) => {
            try {
              const target = allocate(length, header);
              const args = toNativeData(target, 'the result of opts.allocate', this.context.memoryTypes);
              if (args.length < length) throw outOfRange('the result of opts.allocate', `at least ${length} bytes (the payload)`, args.length);
              this.#allocated.add(target as object);
              return [args.target, args.memoryType, target];
            } catch (error) {
              this.#report(error);
              return null;
            }
          },
    );
    this.#amHandlers.set(id, handler);
  }

  /** Completes every operation started on this worker (ucp_worker_flush). */
  flush(): Promise<void> {
    if (this.#closing) return Promise.reject(closedError('Worker'));
    try {
      return this[kNative].flush() ?? RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** One manual round of progress; delivers what completed. Returns the number of UCX events. */
  progress(): number {
    if (this.#closing) throw closedError('Worker');
    return this[kNative].progress();
  }

  /** Diagnostics: what the worker holds now. */
  stats(): WorkerStats {
    const [pending, waiters, endpoints, listeners, keepsAlive, abandoned] = this[kNative].stats();
    return { pendingRequests: pending + waiters, abandonedRequests: abandoned, endpoints, listeners, keepsAlive };
  }

  /** Closes listeners and endpoints, settles every pending operation, and destroys the worker. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** `await using worker = context.createWorker()`: closes the worker at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** util.inspect: `Worker { state, progress, errorHandling, endpoints, listeners }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return summary(
      'Worker',
      {
        state: this.#closing ? 'closed' : 'open',
        progress: this.progressMode,
        errorHandling: this.errorHandling,
        endpoints: this.#endpoints.size,
        listeners: this.#listeners.size,
      },
      depth,
      options,
      inspectFn,
    );
  }

  async #close(): Promise<void> {
    debug('worker close: %d endpoints, %d listeners', this.#endpoints.size, this.#listeners.size);
    await Promise.all([...this.#listeners.values()].map((listener) => listener.close()));
    await Promise.all([...this.#endpoints.values()].map((endpoint) => endpoint.close()));
    await this[kNative].close();
    this.context[kDetach](this);
    this.emit('close');
  }

  // ---- internals used by Endpoint and Listener ----

  /** @internal */
  [kNextCancelId](): number {
    this.#cancelSeq = this.#cancelSeq >= 0xfffffffe ? 1 : this.#cancelSeq + 1;
    return this.#cancelSeq;
  }

  /** @internal */
  [kWrapEndpoint](nativeEndpoint: NativeEndpoint, role: EndpointRole, peer: string): Endpoint {
    let endpoint = this.#endpoints.get(nativeEndpoint);
    if (endpoint === undefined) {
      endpoint = new Endpoint(this, nativeEndpoint, role, peer);
      this.#endpoints.set(nativeEndpoint, endpoint);
      this.#byLocalId.set(endpoint.localId, endpoint);
    }
    return endpoint;
  }

  /** @internal */
  [kDetach](child: Endpoint | Listener): void {
    if (child instanceof Endpoint) {
      this.#endpoints.delete(child[kNative]);
      this.#byLocalId.delete(child.localId);
    } else {
      this.#listeners.delete(child[kNative]);
    }
  }

  /**
   * A handshake-channel message. It names its receiver, except a first HELLO: that one belongs to the
   * endpoint UCX answers on (a listener's or connect()'s pair), or comes from a peer that connected to
   * our worker address, whose HELLO carries its own address. UCX's reply endpoint for such a peer is
   * freed by UCX when the peer goes away, so the peer gets an endpoint of our own instead — only if this
   * worker accepts address connections, for at most defaults.maxAddressPeers peers at once, and only for
   * an address that passes checkWorkerAddress; anything else is refused (or dropped, without a reply endpoint).
   */
  #onHandshake(header: Buffer, data: Buffer | null, replyNative: NativeEndpoint | null): void {
    const message = parseHandshake(header);
    if (message === null) return;
    if (message.receiver !== 0n) {
      this.#byLocalId.get(message.receiver)?.[kOnHandshake](message.type, message.sender);
      return;
    }
    const known = replyNative === null ? undefined : this.#endpoints.get(replyNative);
    if (known !== undefined) {
      known[kOnHandshake](message.type, message.sender);
      return;
    }
    if (message.type !== HandshakeType.Hello || this.#closing) return;
    const again = this.#addressPeers.get(message.sender);
    if (again !== undefined) {
      again[kOnHandshake](message.type, message.sender);
      return;
    }
    if (!this.acceptsAddressConnections || data === null || this.#addressPeers.size >= defaults.maxAddressPeers) {
      this.#refuse(replyNative, message.sender);
      return;
    }
    let nativeEndpoint: NativeEndpoint;
    try {
      checkWorkerAddress(data, this.address, { sameHostLanes: this.errorHandling === 'none' });
      nativeEndpoint = this[kNative].connectAddress(data, this.errorHandling === 'peer');
    } catch (error) {
      // The peer's bad address: refused, and 'error' listeners hear of it (never an uncaught exception).
      this.#refuse(replyNative, message.sender);
      if (this.listenerCount('error') > 0) this.emit('error', error);
      return;
    }
    const endpoint = this[kWrapEndpoint](nativeEndpoint, 'reply', 'worker-address');
    this.#addressPeers.set(message.sender, endpoint);
    endpoint.once('close', () => this.#addressPeers.delete(message.sender));
    endpoint[kOnHandshake](message.type, message.sender);
    // Handed out once wired up, like a listener's: UCX 1.13 asserts on a rendezvous send queued during wire-up.
    deadline(endpoint.flush(), defaults.connectTimeoutMs, 'reply endpoint wire-up').then(
      () => {
        if (!endpoint.closed) this.emit('connection', endpoint);
      },
      () => {
        void endpoint.close({ force: true });
      },
    );
  }

  /** Tells a worker-address peer that its HELLO is refused, on UCX's reply endpoint while it is valid (now). */
  #refuse(replyNative: NativeEndpoint | null, sender: bigint): void {
    if (replyNative === null) return;
    try {
      replyNative.amSend(HANDSHAKE_AM_ID, encodeHandshake(HandshakeType.Refuse, RESERVED_TAG_BIT, sender), null, 0, 0, AM_EAGER)?.catch(() => {});
    } catch {
      // The peer is gone already.
    }
  }

  #onEvent(kind: NativeEvent, args: unknown[]): void {
    switch (kind) {
      case NativeEvent.EndpointError: {
        this.#endpoints.get(args[0] as NativeEndpoint)?.[kOnError](args[1] as UCXError);
        break;
      }
      case NativeEvent.ConnRequest: {
        const nativeListener = args[0] as NativeListener;
        const listener = this.#listeners.get(nativeListener);
        if (listener === undefined) nativeListener.reject(args[1]);
        else listener[kOnConnRequest](args[1], args[2] as string, (args[3] as number | undefined) ?? 0);
        break;
      }
      case NativeEvent.ActiveMessage: {
        const [id, header, data, length, replyNative, status] = args as [number, Buffer, Buffer | null, number, NativeEndpoint | null, UCXError | null];
        if (status !== null) {
          this.#report(status);
          break;
        }
        if (id === HANDSHAKE_AM_ID) {
          try {
            this.#onHandshake(header, data, replyNative);
          } finally {
            // UCX's own reply endpoint (not one of ours) is valid only now: let its wrapper go.
            if (replyNative !== null && !this.#endpoints.has(replyNative)) replyNative.close(false);
          }
          break;
        }
        const handler = this.#amHandlers.get(id);
        if (handler === undefined) break;
        // A reply endpoint that is not one of ours is UCX's, and lives only for this handler call (kExpire).
        const known = replyNative === null || this.#endpoints.has(replyNative);
        const reply = replyNative === null ? null : this[kWrapEndpoint](replyNative, 'reply', 'worker-address');
        const target = data !== null && this.#allocated.has(data) ? (data as Data) : null;
        const payload = target === null ? (data ?? EMPTY) : hostView(target, length);
        try {
          const result = handler({ id, header, data: payload, length, reply, target });
          if (result instanceof Promise) result.catch((error: unknown) => this.#report(error));
        } catch (error) {
          this.#report(error);
        } finally {
          if (!known) reply?.[kExpire]();
        }
        break;
      }
    }
  }

  /** A failure with no promise to carry it (a throwing AM handler): 'error' if someone listens, else uncaught. */
  #report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else
      process.nextTick(() => {
        throw error;
      });
  }
}

async function resolveHost(host: string): Promise<string> {
  if (net.isIP(host) !== 0) return host;
  const { address } = await dns.lookup(host);
  return address;
}

/** The first `length` bytes of an allocator's host buffer as a Buffer; empty for device memory. */
function hostView(target: Data, length: number): Buffer {
  if (!ArrayBuffer.isView(target)) return EMPTY;
  return Buffer.from(target.buffer, target.byteOffset, length);
}

/**
 * What a failed connect() says: UCX reports a refused TCP connection as 'Endpoint is not connected'
 * and an accept hook's no as 'Operation rejected by remote peer'; say which address, and what it means.
 */
function connectError(error: unknown, peer: string, worker: Worker): unknown {
  if (!(error instanceof UCXError)) return error;
  const ucx = error.message;
  const where = peer === 'worker-address' ? 'the worker address' : peer;
  let message: string | undefined;
  if (error.code === 'UCS_ERR_NOT_CONNECTED' || error.code === 'UCS_ERR_UNREACHABLE') {
    message =
      peer === 'worker-address'
        ? `cannot connect to the worker address: its worker is gone or unreachable (UCX: ${ucx})`
        : `cannot connect to ${where}: nobody listens there (connection refused), or it is unreachable (UCX: ${ucx})`;
  } else if (error.code === 'UCS_ERR_REJECTED') {
    message = `cannot connect to ${where}: its listener refused the connection (its accept hook said no) (UCX: ${ucx})`;
  } else if (WIRE_UP_FAILURES.has(error.code)) {
    // Wire-up failed after the peer answered: most often a peer whose UCX is set up differently.
    message = `cannot connect to ${where}: the connection broke during wire-up. ${settingsHint(worker)} (UCX: ${ucx})`;
  }
  return message === undefined ? error : Object.assign(new UCXError(message, error.code, error.status), { cause: error });
}
