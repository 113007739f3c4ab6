// Endpoint: one ucp_ep. Raw UCP operations (tag, stream, AM, RMA, atomics) plus
// endpoint-scoped messages (send/recv/sendObject), which add a small handshake
// so that each connection has its own tag namespace (docs/wire-format.md).
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptionsStylized } from 'node:util';
import { summary } from '../util/inspect.js';
import { debug } from '../util/debug.js';
import { encodeObject, decodeObject } from '../util/object-codec.js';
import { UCXError, Status, closedError } from '../util/errors.js';
import { abortedError, deadline } from '../util/abort.js';
import {
  validateAbortSignal,
  validateOptionalObject,
  validateInteger,
  validateUint64,
  validateView,
  validateBytes,
  invalidArgType,
  invalidArgValue,
  outOfRange,
} from '../util/validate.js';
import { checkHostMemory, toNativeData, MEMORY_TYPES, MEMORY_TYPE_HOST, type Data, type NativeDataArgs } from '../util/data.js';
import type { NativeBatch, NativeEndpoint, NativeEndpointFast, NativeHandle } from '../native.js';
import { defaults } from './defaults.js';
import { MAX_TIMEOUT_MS } from '../util/settings.js';
import type { Worker } from './worker.js';
import { MAX_AM_ID, validateRawTag } from './tags.js';
import { Session } from './session.js';
import { RemoteKey, unpackRemoteKey } from './memory.js';
import { requireFeature } from './features.js';
import {
  kNative,
  kDetach,
  kExpire,
  kOnError,
  kOnHandshake,
  kRequireOpen,
  kTrack,
  kFast,
  kCheckAccess,
  kBatched,
  kSendNow,
  kBounds,
  RESOLVED,
} from './internal.js';
import type { Batch } from './batch.js';

/** How the endpoint came to be: connect({host, port}), accepted by a listener, connect({address}), or UCX's reply endpoint. */
export type EndpointRole = 'client' | 'server' | 'address' | 'reply';
/** A remote atomic operation: 'add', 'and', 'or', 'xor' (no result) and their fetching forms 'fadd', 'fand', 'for', 'fxor', and 'swap' (resolve to the old value). */
export type AtomicOp = 'add' | 'and' | 'or' | 'xor' | 'swap' | 'fadd' | 'fand' | 'for' | 'fxor';

/** What {@link Endpoint.info} says about an endpoint. */
export interface EndpointInfo {
  /** The transports of its lanes, e.g. ['posix/memory', 'tcp/lo']. */
  transports: string[];
  /** UCX's whole ucp_ep_print_info report. */
  text: string;
  /** How the endpoint came to be. */
  role: EndpointRole;
  /** The peer as this side knows it (see {@link Endpoint.peer}). */
  peer: string;
}

/** Options of receives of unknown size: {@link Endpoint.recvMessage}, {@link Endpoint.recvObject}, {@link Worker.tagRecvMessage}. */
export interface RecvMessageOptions {
  /** Stops waiting: the receive rejects with an AbortError and the message stays queued. */
  signal?: AbortSignal;
  /**
   * The longest message to take (bytes). A longer one is dropped, unread, and the receive rejects with
   * UCS_ERR_MESSAGE_TRUNCATED: what a peer sends then never decides what this process allocates.
   */
  maxLength?: number;
}

// ucp_atomic_op_t values and whether the op fetches the old value.
export const ATOMIC_OPS: Record<AtomicOp, [opcode: number, fetch: boolean]> = {
  add: [0, false],
  and: [3, false],
  or: [4, false],
  xor: [5, false],
  swap: [1, true],
  fadd: [0, true],
  fand: [3, true],
  for: [4, true],
  fxor: [5, true],
};
export const ATOMIC_CSWAP = 2;

// UCP_AM_SEND_FLAG_* (ucp.h)
const AM_REPLY = 1;
const AM_EAGER = 2;
const AM_RNDV = 4;

/**
 * A connection to one peer (`ucp_ep_h`), made by {@link Worker.connect}, {@link connect} or accepted by a {@link Listener}.
 * Endpoint-scoped messages (send/recv, sendObject/recvObject) plus the raw UCP operations (tag, stream, active messages, RMA, atomics).
 * Events: 'error' (UCXError) when the endpoint fails, 'close'.
 */
export class Endpoint extends EventEmitter {
  /** The worker this endpoint belongs to. */
  readonly worker: Worker;
  /** How it came to be (see {@link EndpointRole}). */
  readonly role: EndpointRole;
  /** The peer as this side knows it: 'host:port' of the listener, or the client's IP, or 'worker-address'. */
  readonly peer: string;
  /** @internal */
  readonly [kNative]: NativeEndpoint;
  /** The endpoint-scoped protocol (send/recv/sendObject and the handshake behind them). */
  readonly #session: Session;
  #error: UCXError | undefined;
  #closing: Promise<void> | undefined;
  /** Sends UCX has not completed yet: a graceful close waits for them. */
  #sends = new Set<Promise<void>>();
  #rkeys = new Set<RemoteKey>();
  #streamLost = false;
  #fast: NativeEndpointFast | undefined;
  /** Batches that held operations of this endpoint: a graceful close waits for them, like for #sends. */
  #batches = new Set<Batch>();

  /** When this wrapper was made (Date.now()): a failure soon after is likely a wire-up mismatch. */
  readonly #madeAt = Date.now();

  /** @internal Made by Worker.connect() and by listeners. */
  constructor(worker: Worker, nativeEndpoint: NativeEndpoint, role: EndpointRole, peer: string) {
    super();
    this.worker = worker;
    this[kNative] = nativeEndpoint;
    this.role = role;
    this.peer = peer;
    this.#session = new Session(this);
  }

  /** The tag this side receives endpoint-scoped messages on (bit 63 set). */
  get localId(): bigint {
    return this.#session.localId;
  }

  /** True once close() was called, or the endpoint failed. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }
  /** The error that broke this endpoint, if one did. */
  get error(): UCXError | undefined {
    return this.#error;
  }

  // ---- endpoint-scoped messages ----

  /** Sends one message to the peer's recv()/recvMessage()/recvObject(); any size, order kept. */
  send(data: Data): Promise<void> {
    try {
      return this.#session.send(toNativeData(data, 'data', this.worker.context.memoryTypes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Same as send(). */
  sendMessage(data: Data): Promise<void> {
    return this.send(data);
  }

  /** Receives the next message into `into`; resolves to its length. A message longer than `into` rejects with UCS_ERR_MESSAGE_TRUNCATED. */
  recv(into: Data, opts: { signal?: AbortSignal } = {}): Promise<number> {
    try {
      const args = toNativeData(into, 'into', this.worker.context.memoryTypes);
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
      return this.#session.recvInto(args, opts.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Receives the next message, whatever its size, into a new Buffer. */
  recvMessage(opts: RecvMessageOptions = {}): Promise<Buffer> {
    return this.#recvMessageAs(opts, (data) => data);
  }

  /**
   * Sends a structured-clone copy of `value` (Map, Set, Date, BigInt, typed arrays, ... survive): plain
   * data in node-ucx's compact format, anything else as v8.serialize() (object-codec.ts).
   */
  sendObject(value: unknown): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = encodeObject(value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.send(bytes);
  }

  /** Receives the next message as a value sent by sendObject(). */
  recvObject<T = unknown>(opts: RecvMessageOptions = {}): Promise<T> {
    return this.#recvMessageAs(opts, decodeObject as (data: Buffer) => T);
  }

  /** The next message of any size (probe, then a receive into a new Buffer), turned into a T by `map`. */
  #recvMessageAs<T>(opts: RecvMessageOptions, map: (data: Buffer) => T): Promise<T> {
    try {
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
      const maxLength = opts.maxLength ?? Number.MAX_SAFE_INTEGER;
      validateInteger(maxLength, 'opts.maxLength', 0, Number.MAX_SAFE_INTEGER);
      return this.#session.recvMessage(opts.signal, maxLength, map);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- raw UCP ----

  /** ucp_tag_send_nbx (or the synchronous variant, which completes once the receiver matched it). */
  tagSend(data: Data, tag: bigint, opts: { sync?: boolean } = {}): Promise<void> {
    try {
      const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
      validateRawTag(tag);
      validateOptionalObject(opts, 'opts');
      this[kRequireOpen]();
      return this[kTrack](this[kNative].tagSend(args.target, args.length, args.memoryType, tag, opts.sync === true));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends bytes on the endpoint's UCP stream (ucp_stream_send_nbx): no message boundaries; the peer's streamRecv reads them in order. */
  streamSend(data: Data): Promise<void> {
    try {
      const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
      this[kRequireOpen]();
      // Zero bytes on a byte stream is nothing to send; UCX 1.13 also asserts on the receiver if asked to.
      if (args.length === 0) return RESOLVED;
      return this[kTrack](this[kNative].streamSend(args.target, args.length, args.memoryType));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives stream bytes into `into`: whatever has arrived, or with waitAll exactly into.byteLength.
   * Resolves to the count. Aborting it rejects at once, but UCX (1.13) cannot cancel a stream receive,
   * so later streamRecv calls on this endpoint reject with ERR_UCX_STREAM_ABORTED.
   */
  streamRecv(into: Data, opts: { waitAll?: boolean; signal?: AbortSignal } = {}): Promise<number> {
    try {
      const args = toNativeData(into, 'into', this.worker.context.memoryTypes);
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
      this[kRequireOpen]();
      if (this.#streamLost) {
        throw new UCXError("an aborted streamRecv left this endpoint's stream at an unknown position", 'ERR_UCX_STREAM_ABORTED', Status.ERR_CANCELED);
      }
      const signal = opts.signal;
      if (signal?.aborted) throw abortedError(signal);
      if (args.length === 0) return Promise.resolve(0);
      const result = this[kNative].streamRecv(args.target, args.length, args.memoryType, opts.waitAll === true, 0);
      if (!(result instanceof Promise) || signal === undefined) return Promise.resolve(result);
      // UCX 1.13 cannot cancel a stream receive: on abort the promise rejects at once, UCX keeps
      // the (still pinned) buffer and fills it when bytes come, and the stream's position is lost.
      return new Promise<number>((resolve, reject) => {
        const onAbort = (): void => {
          this.#streamLost = true;
          reject(abortedError(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        result.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** ucp_am_send_nbx to the peer worker's handler for `id`. */
  amSend(id: number, header: ArrayBufferView | null, data: Data | null, opts: { reply?: boolean; rendezvous?: boolean; eager?: boolean } = {}): Promise<void> {
    try {
      const flags = amSendFlags(this.worker, id, header, opts);
      const args: NativeDataArgs | null = data === null ? null : toNativeData(data, 'data', this.worker.context.memoryTypes);
      this[kRequireOpen]();
      return this[kTrack](this[kNative].amSend(id, header, args?.target ?? null, args?.length ?? 0, args?.memoryType ?? 0, flags));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- RMA and atomics (docs/rma.md) ----

  /** Unpacks a peer's MemoryHandle.packRkey() for put/get/atomics on this endpoint. */
  unpackRkey(packed: Uint8Array): RemoteKey {
    validateBytes(packed, 'packed');
    requireFeature(this.worker.context, 'unpackRkey', 'rma', 'amo');
    this[kRequireOpen]();
    const rkey = unpackRemoteKey(this, packed);
    this.#rkeys.add(rkey);
    return rkey;
  }

  /** Writes `from` to the peer's memory at remoteAddress. Resolves when the local buffer may be reused; flush() for remote completion. */
  put(from: Data, remoteAddress: bigint, rkey: RemoteKey): Promise<void> {
    try {
      const args = toNativeData(from, 'from', this.worker.context.memoryTypes);
      requireFeature(this.worker.context, 'put', 'rma');
      const key = this.#checkAccess('put', rkey, remoteAddress, args.length, 1, args.memoryType);
      return this[kTrack](this[kNative].put(args.target, args.length, args.memoryType, remoteAddress, key));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reads the peer's memory at remoteAddress into `into`. */
  get(into: Data, remoteAddress: bigint, rkey: RemoteKey): Promise<void> {
    try {
      const args = toNativeData(into, 'into', this.worker.context.memoryTypes);
      requireFeature(this.worker.context, 'get', 'rma');
      const key = this.#checkAccess('get', rkey, remoteAddress, args.length, 1, args.memoryType);
      return this[kNative].get(args.target, args.length, args.memoryType, remoteAddress, key) ?? RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A remote atomic on a 4- or 8-byte word. Fetching ops resolve to the old value; 'add'/'and'/'or'/'xor' resolve to 0n. */
  atomic(op: AtomicOp, remoteAddress: bigint, rkey: RemoteKey, value: bigint, opts: { size?: 4 | 8 } = {}): Promise<bigint> {
    try {
      const spec = Object.hasOwn(ATOMIC_OPS, op) ? ATOMIC_OPS[op] : undefined;
      if (spec === undefined) throw invalidArgValue('op', op, `must be one of ${Object.keys(ATOMIC_OPS).join(', ')}`);
      validateOptionalObject(opts, 'opts');
      const size = atomicSize(opts.size);
      const operand = atomicOperand(value, size, 'value');
      requireFeature(this.worker.context, 'atomic', 'amo');
      const key = this.#checkAccess(`atomic '${op}'`, rkey, remoteAddress, size, size);
      const [opcode, fetch] = spec;
      const result = this[kNative].atomic(opcode, remoteAddress, key, operand, size, fetch);
      return Promise.resolve(result).then((fetched) => fetched ?? 0n);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Atomically: if the word equals `compare`, store `swap`. Resolves to the old value. */
  compareSwap(remoteAddress: bigint, rkey: RemoteKey, compare: bigint, swap: bigint, opts: { size?: 4 | 8 } = {}): Promise<bigint> {
    try {
      validateOptionalObject(opts, 'opts');
      const size = atomicSize(opts.size);
      const compareOperand = atomicOperand(compare, size, 'compare');
      const swapOperand = atomicOperand(swap, size, 'swap');
      requireFeature(this.worker.context, 'compareSwap', 'amo');
      const key = this.#checkAccess('compareSwap', rkey, remoteAddress, size, size);
      const result = this[kNative].atomic(ATOMIC_CSWAP, remoteAddress, key, compareOperand, size, true, swapOperand);
      return Promise.resolve(result).then((fetched) => fetched ?? 0n);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Completes every operation started on this endpoint, remotely too (ucp_ep_flush). */
  flush(): Promise<void> {
    try {
      this[kRequireOpen]();
      return this[kNative].flush() ?? RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Orders: RMA and atomics issued after the fence complete after those before it (ucp_worker_fence). */
  fence(): void {
    this[kRequireOpen]();
    this.worker[kNative].fence();
  }

  /** What UCX chose for this endpoint: transports ('posix/memory', 'tcp/lo', ...) and the full ucp_ep_print_info text. */
  info(): EndpointInfo {
    this[kRequireOpen]();
    const text = this[kNative].info();
    const transports = new Set<string>();
    for (const match of text.matchAll(/lane\[\d+\]:\s+\d+:([\w-]+\/[\w:.-]+?)(?:\.\d+)?\s/g)) transports.add(match[1]!);
    return { transports: [...transports], text, role: this.role, peer: this.peer };
  }

  /**
   * Closes the endpoint. Graceful by default (UCX flushes, the peer is told), bounded by
   * `timeoutMs` (default defaults.closeTimeoutMs) for the whole close; `force` drops it at once.
   * Pending receives reject. Idempotent.
   */
  close(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing === undefined) {
      try {
        validateOptionalObject(opts, 'opts');
        if (opts.timeoutMs !== undefined) validateInteger(opts.timeoutMs, 'opts.timeoutMs', 0, MAX_TIMEOUT_MS);
      } catch (error) {
        return Promise.reject(error);
      }
      this.#closing = this.#close(opts.force === true || this.#error !== undefined, Date.now() + (opts.timeoutMs ?? defaults.closeTimeoutMs));
    }
    return this.#closing;
  }

  /**
   * `for await (const message of endpoint)`: each endpoint-scoped message as a Buffer (as
   * recvMessage() gives them), until the endpoint is closed here or the peer closes it. A failure (the
   * peer died, the link broke) is thrown. Leaving the loop early leaves the endpoint open.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      let message: Buffer;
      try {
        message = await this.recvMessage();
      } catch (error) {
        const closedHere = this.#closing !== undefined && this.#error === undefined;
        if (closedHere || this.#session.peerClosed || (error as UCXError).code === 'ERR_UCX_CLOSED') return;
        throw error;
      }
      yield message;
    }
  }

  /** util.inspect: `Endpoint { state, role, peer, transports }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    const state = this.#error !== undefined ? (this.#session.peerClosed ? 'closed by peer' : 'failed') : this.#closing !== undefined ? 'closed' : 'open';
    let transports: string[] | undefined;
    try {
      if (state === 'open') transports = this.info().transports;
    } catch {
      // closed meanwhile
    }
    return summary('Endpoint', { state, role: this.role, peer: this.peer, transports, error: this.#error?.code }, depth, options, inspectFn);
  }

  /** `await using ep = await connect(...)`: closes the endpoint at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----

  /** @internal */
  [kRequireOpen](): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#closing !== undefined || this.worker.closed) throw closedError('Endpoint');
  }

  /** @internal Tracks a send that UCX did not complete inline, so that a graceful close can wait for it. */
  [kTrack](send: Promise<void> | undefined): Promise<void> {
    if (send === undefined) return RESOLVED;
    this.#sends.add(send);
    const forget = (): void => {
      this.#sends.delete(send);
    };
    send.then(forget, forget);
    return send;
  }

  /** @internal Batch.send(): an endpoint-scoped send without a promise once the handshake is done (Session.sendNow). */
  [kSendNow](args: NativeDataArgs, batch: NativeBatch): boolean | Promise<void> {
    return this.#session.sendNow(args, batch);
  }

  /** @internal The native fast operations (Batch): bound functions, made on first use. */
  get [kFast](): NativeEndpointFast {
    this.#fast ??= this[kNative].fastOps();
    return this.#fast;
  }

  /** @internal A batch now holds a pending operation of this endpoint. */
  [kBatched](batch: Batch): void {
    this.#batches.add(batch);
  }

  /** @internal The checks of put/get/atomics (see #checkAccess), for a Batch: the key's fast handle. */
  [kCheckAccess](op: string, rkey: RemoteKey, remoteAddress: bigint, length: number, alignment: number, localType = MEMORY_TYPE_HOST): NativeHandle {
    this.#checkAccess(op, rkey, remoteAddress, length, alignment, localType);
    return rkey[kFast];
  }

  /** @internal A handshake-channel message for this endpoint (the worker routes them by receiver id, see handshake.ts). */
  [kOnHandshake](type: number, sender: bigint): void {
    this.#session.onMessage(type, sender);
  }

  /** UCX's v1 RMA protocols copy through host memory whatever the memory is: a segfault, not an error. */
  #checkRmaMemory(op: string, side: 'local' | 'remote', type: string): void {
    const rmaTypes = this.worker.context.rmaMemoryTypes;
    if (rmaTypes.includes(type)) return;
    throw new UCXError(
      `${op} with ${side} '${type}' memory needs UCX's memory-type-aware protocols, which this ` +
        `context does not use (its RMA memory types: ${rmaTypes.join(', ')}); create the Context with config { PROTO_ENABLE: 'y' }`,
      'UCS_ERR_UNSUPPORTED',
      Status.ERR_UNSUPPORTED,
    );
  }

  /**
   * Checks an RMA or atomic before UCX sees it. `op` and `localType` (a MEMORY_TYPES index) name the
   * operation and its local buffer for the device-memory check; atomics have no local buffer.
   */
  #checkAccess(op: string, rkey: RemoteKey, remoteAddress: bigint, length: number, alignment: number, localType = MEMORY_TYPE_HOST) {
    if (!(rkey instanceof RemoteKey)) throw invalidArgType('rkey', "a RemoteKey from this endpoint's unpackRkey()", rkey);
    validateUint64(remoteAddress, 'remoteAddress');
    this[kRequireOpen]();
    if (!this.#rkeys.has(rkey)) throw invalidArgValue('rkey', rkey, 'was not unpacked on this endpoint (or is destroyed)');
    if (localType !== MEMORY_TYPE_HOST || rkey.memoryType !== 'host') {
      if (alignment > 1) {
        // Seen on UCX 1.13.1 with CUDA (H200): a fetch-add on device memory segfaults in the target's
        // ucp_atomic_req_handler with either protocol version. Atomics need a transport with device
        // atomics (GPUDirect RDMA); node-ucx cannot tell those apart, so it refuses them all.
        throw new UCXError(
          `${op} on '${rkey.memoryType}' memory is not supported: atomics work on host memory only`,
          'UCS_ERR_UNSUPPORTED',
          Status.ERR_UNSUPPORTED,
        );
      }
      this.#checkRmaMemory(op, 'local', MEMORY_TYPES[localType]!);
      this.#checkRmaMemory(op, 'remote', rkey.memoryType);
    }
    // Without BigInt arithmetic on the common path (each operation allocates): the offset into the region
    // as a number, and the base's low bits for the alignment.
    const { end, baseLow } = rkey[kBounds];
    const offset = remoteAddress === rkey.base ? 0 : remoteAddress > rkey.base && remoteAddress <= end ? Number(remoteAddress - rkey.base) : -1;
    if (offset < 0 || offset + length > rkey.length) {
      throw outOfRange('remoteAddress', `within the remote region [0x${rkey.base.toString(16)}, 0x${end.toString(16)}) for ${length} bytes`, remoteAddress);
    }
    if (alignment > 1 && (baseLow + offset) % alignment !== 0) {
      throw outOfRange('remoteAddress', `aligned to ${alignment} bytes for a ${alignment}-byte atomic`, remoteAddress);
    }
    return rkey[kNative];
  }

  /**
   * @internal
   * A UCX reply endpoint handed to an active-message handler lives only as long as UCX keeps it, which
   * is until its peer goes away (UCX 1.13 then frees it, unannounced): after the handler it is let go,
   * and any later use is ERR_UCX_CLOSED rather than a use of freed memory.
   */
  [kExpire](): void {
    if (this.#closing !== undefined) return;
    this.#closing = RESOLVED;
    this.#session.end(closedError('Endpoint'));
    this[kNative].close(false); // not owned: only forgets the pointer
    this.worker[kDetach](this);
  }

  /** @internal Called by RemoteKey.destroy(). */
  [kDetach](rkey: RemoteKey): void {
    this.#rkeys.delete(rkey);
  }

  /** @internal UCX reported the connection broken (peer died, link cut): fail everything pending and close. */
  [kOnError](reported: UCXError): void {
    if (this.#error !== undefined) return;
    if (this.#closing !== undefined) {
      // Closing gracefully, and the connection broke (the peer closed or died): no BYE_ACK will come.
      this.#session.peerGone();
      return;
    }
    // After the peer's BYE the disconnect is its close(), not a failure: say so (same code).
    let error = reported;
    if (this.#session.peerClosed) {
      error = Object.assign(
        new UCXError(`the peer closed the endpoint (${this.peer}) with close(); nothing more will arrive`, reported.code, reported.status),
        { cause: reported },
      );
    } else if ((this.role === 'client' || this.role === 'server') && WIRE_UP_FAILURES.has(reported.code) && Date.now() - this.#madeAt < WIRE_UP_WINDOW_MS) {
      // A peer whose UCX pairs no lanes with ours breaks the connection right after wire-up (UCX 1.13
      // asserts or logs 'no remote ep address for lane' there); our connect() may have completed already.
      error = Object.assign(
        new UCXError(
          `${reported.message}: the connection broke ${Date.now() - this.#madeAt} ms after it was made. ` + settingsHint(this.worker),
          reported.code,
          reported.status,
        ),
        { cause: reported },
      );
    }
    debug('endpoint to %s: %s (%s)', this.peer, error.message, error.code);
    this.#error = error;
    this.#session.end(error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    void this.close({ force: true });
  }

  /** Everything within one bound (`until`, a Date.now() time): closeTimeoutMs for the whole close. */
  async #close(force: boolean, until: number): Promise<void> {
    debug('endpoint to %s: closing (%s)', this.peer, force ? 'force' : 'graceful');
    this.#session.beginClose();
    for (const rkey of this.#rkeys) rkey.destroy();
    if (!force) {
      // Graceful: let this endpoint's sends finish (a rendezvous send completes only once the
      // peer receives it, which ucp_ep_flush does not wait for), then flush and say goodbye, all
      // bounded: a peer that never takes its data cannot hold close() forever.
      try {
        const batched = [...this.#batches].filter((batch) => batch.pending > 0).map((batch) => batch.wait());
        const sends = Promise.allSettled([...this.#sends, ...batched])
          .then(() => this[kNative].flush() ?? RESOLVED)
          .then(() => this.#session.goodbye());
        await deadline(sends, Math.max(1, until - Date.now()), 'endpoint sends and flush before close');
      } catch {
        force = true;
      }
    }
    const error = this.#error ?? closedError('Endpoint');
    this.#session.end(error);
    const native = this[kNative];
    try {
      // What UCX still holds for this endpoint rejects now, with the error that broke it or ERR_UCX_CLOSED.
      const closing = native.close(force, error);
      if (closing !== undefined) await deadline(closing, Math.max(1, until - Date.now()), 'endpoint close');
    } catch {
      // The endpoint is gone either way: a close that UCX fails (peer already dead) or that outlives
      // its bound (a frozen peer in 'none' mode) still leaves it closed, and close() must not reject
      // for it; an unfinished close no longer keeps the process alive.
      native.abandonClose();
    }
    this.worker[kDetach](this);
    this.emit('close');
  }
}

/** @internal The codes a connection that breaks during or right after wire-up fails with. */
export const WIRE_UP_FAILURES: ReadonlySet<string> = new Set(['UCS_ERR_CONNECTION_RESET', 'UCS_ERR_ENDPOINT_TIMEOUT', 'UCS_ERR_LINK_FAILURE']);
/** A client-server endpoint that fails this soon after it was made gets settingsHint() in its error. */
const WIRE_UP_WINDOW_MS = 1000;

/**
 * @internal What to check when a connection breaks at wire-up: both sides' UCX settings (docs/wire-format.md,
 * "Interoperating with C UCP programs"). UCP features need not match; the settings that choose lanes must.
 */
export function settingsHint(worker: Worker): string {
  return (
    `If the peer is not node-ucx, its UCX settings must match this side's: the same error-handling mode ` +
    `(this worker: '${worker.errorHandling}') and, on one host, shared memory in the same error handling (node-ucx ` +
    `sets MM_ERROR_HANDLING=y and PUT_ENABLE=n: start the peer with UCX_POSIX_ERROR_HANDLING=y ` +
    `UCX_SYSV_ERROR_HANDLING=y UCX_TCP_PUT_ENABLE=n, or give this context config: { MM_ERROR_HANDLING: 'n', ` +
    `PUT_ENABLE: 'y' }); UCP features need not match (this context: ${worker.context.features.join(', ')}). ` +
    `See docs/wire-format.md`
  );
}

/** Checks amSend's id, header and options (for ep.amSend and Batch.amSend); returns UCP_AM_SEND_FLAG_* bits. */
export function amSendFlags(
  worker: Worker,
  id: number,
  header: ArrayBufferView | null,
  opts: { reply?: boolean; rendezvous?: boolean; eager?: boolean },
): number {
  validateInteger(id, 'id', 0, MAX_AM_ID);
  if (header !== null) {
    validateView(header, 'header');
    checkHostMemory(header, 'header');
    // UCX 1.13 aborts the process on a header its transports cannot carry ("RTS is too big").
    const max = worker.maxAmHeader;
    if (header.byteLength > max) throw outOfRange('header.byteLength', `<= ${max} (this worker's maxAmHeader)`, header.byteLength);
  }
  validateOptionalObject(opts, 'opts');
  if (opts.rendezvous === true && opts.eager === true) throw invalidArgValue('opts', opts, 'cannot ask for both rendezvous and eager');
  return (opts.reply === true ? AM_REPLY : 0) | (opts.rendezvous === true ? AM_RNDV : 0) | (opts.eager === true ? AM_EAGER : 0);
}

export function atomicSize(size: unknown): 4 | 8 {
  if (size === undefined) return 8;
  if (size !== 4 && size !== 8) throw outOfRange('opts.size', '4 or 8', size);
  return size;
}

/** Accepts signed or unsigned values that fit `size` bytes; UCX takes the two's-complement bits. */
const ATOMIC_LIMITS = { 4: [-(1n << 31n), 1n << 32n], 8: [-(1n << 63n), 1n << 64n] } as const;

export function atomicOperand(value: unknown, size: 4 | 8, name: string): bigint {
  if (typeof value !== 'bigint') throw invalidArgType(name, 'of type bigint', value);
  const [min, limit] = ATOMIC_LIMITS[size];
  if (value >= 0n && value < limit) return value; // the common case, without allocating
  if (value < min || value >= limit) throw outOfRange(name, `a ${size * 8}-bit integer (signed or unsigned)`, value);
  return BigInt.asUintN(size * 8, value);
}
