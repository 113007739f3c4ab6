// Session: the endpoint-scoped protocol of one Endpoint (send/recv/sendObject),
// on top of raw UCP. Each endpoint has an id that is its receive tag; the
// handshake channel (HANDSHAKE_AM_ID, handshake.ts) tells the peer that id,
// so each connection has a tag namespace of its own. The session owns the
// handshake state, sends queued behind it, the order of receives, the
// heartbeat and the goodbye that makes a graceful close lose nothing
// (docs/wire-format.md).
import { UCXError, Status, closedError, isCanceled } from '../util/errors.js';
import { debug } from '../util/debug.js';
import { abortedError, deadline, withAbort } from '../util/abort.js';
import type { NativeDataArgs } from '../util/data.js';
import type { NativeBatch } from '../native.js';
import { defaults } from './defaults.js';
import { FULL_MASK, HANDSHAKE_AM_ID, randomEndpointId } from './tags.js';
import { HandshakeType, encodeHandshake } from './handshake.js';
import { kNative, kNextCancelId, kOnError, kTrack, kRequireOpen, kFast, RESOLVED } from './internal.js';
import type { Endpoint } from './endpoint.js';

// UCP_AM_SEND_FLAG_* (ucp.h): handshake messages ask for a reply endpoint and go eagerly.
const AM_REPLY = 1;
const AM_EAGER = 2;
/** Heartbeat intervals of silence after which the peer is declared gone. */
const HEARTBEAT_MISSES = 3;

/** Posted tag receives ('into') and probe-then-receive ('message') are matched by UCX separately. */
type RecvKind = 'into' | 'message';

interface Handshake {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Session {
  /** The tag this side receives endpoint-scoped messages on (bit 63 set). */
  readonly localId: bigint = randomEndpointId();
  readonly #endpoint: Endpoint;
  #remoteId: bigint | undefined;
  #handshake: Handshake | undefined;
  /** Sends waiting for the handshake; later sends queue behind them to keep their order. */
  #sendsWaiting = 0;
  #pendingRecvs = new Set<number>();
  #recvKind: RecvKind | undefined;
  /** Settles when the last receive asked for has been handed to UCX. */
  #postedTail: Promise<unknown> = RESOLVED;
  /** Receives waiting for an earlier one before they can be handed to UCX. */
  #unposted = 0;
  /** The last receive asked for (its promise), for a receive of the other kind to wait on. */
  #lastRecv: Promise<unknown> = RESOLVED;
  #heartbeat: NodeJS.Timeout | undefined;
  #lastHeard = 0;
  #byeAcked: (() => void) | undefined;
  /** Set once the endpoint failed or is closing: no more handshake replies, no heartbeat. */
  #ended = false;
  /** The peer said BYE: it is closing gracefully, and the disconnect UCX reports next is that close. */
  #peerClosed = false;

  constructor(endpoint: Endpoint) {
    this.#endpoint = endpoint;
  }

  /** Whether the peer closed its endpoint gracefully (its BYE arrived). */
  get peerClosed(): boolean {
    return this.#peerClosed;
  }

  /** Whether the peer's id is known (its HELLO or ACK arrived). */
  get established(): boolean {
    return this.#remoteId !== undefined;
  }

  /** Sends one endpoint-scoped message; before the handshake it waits for it, keeping the order. */
  send(args: NativeDataArgs): Promise<void> {
    const endpoint = this.#endpoint;
    endpoint[kRequireOpen]();
    if (this.#remoteId === undefined || this.#sendsWaiting > 0) {
      // Sends queued behind the handshake keep their order, and a graceful close() issued
      // meanwhile waits for them (they are tracked like any send).
      this.#sendsWaiting++;
      return endpoint[kTrack](
        this.#handshaken().then(
          () => {
            this.#sendsWaiting--;
            return this.#sendTagged(args, true);
          },
          (error: unknown) => {
            this.#sendsWaiting--;
            throw error;
          },
        ),
      );
    }
    return this.#sendTagged(args, false);
  }

  /**
   * Batch.send(): once the handshake is done, one tag send without a promise (true: UCX completed it
   * inline; false: counted on `batch`). Before it, the send queues behind the handshake as send() does,
   * and the promise comes back for the batch to hold.
   */
  sendNow(args: NativeDataArgs, batch: NativeBatch): boolean | Promise<void> {
    const endpoint = this.#endpoint;
    if (this.#remoteId === undefined || this.#sendsWaiting > 0) return this.send(args);
    endpoint[kRequireOpen]();
    return endpoint[kFast].tagSend(args.target, args.length, args.memoryType, this.#remoteId, batch);
  }

  /** A receive of a known-size message into `args` (resolves to its length). */
  recvInto(args: NativeDataArgs, signal: AbortSignal | undefined): Promise<number> {
    const worker = this.#endpoint.worker[kNative];
    // The tag is this endpoint's own: the length alone comes back (no result object to build).
    return this.#postRecv(
      'into',
      signal,
      (cancelId) => worker.tagRecv(args.target, args.length, args.memoryType, this.localId, FULL_MASK, cancelId, true),
      (length) => length,
    );
  }

  /** The next message of any size (probe, then a receive into a new Buffer), turned into a T by `map`. */
  recvMessage<T>(signal: AbortSignal | undefined, maxLength: number, map: (data: Buffer) => T): Promise<T> {
    const worker = this.#endpoint.worker[kNative];
    return this.#postRecv('message', signal, (cancelId) => worker.tagRecvMessage(this.localId, FULL_MASK, cancelId, true, maxLength), map);
  }

  /** A handshake-channel message for this endpoint (the worker routes them by receiver id). */
  onMessage(type: number, sender: bigint): void {
    if (this.#remoteId === undefined) debug('handshake with %s: established (message type %d from the peer)', this.#endpoint.peer, type);
    this.#remoteId ??= sender;
    this.#lastHeard = Date.now();
    if (type === HandshakeType.Bye) {
      this.#peerClosed = true;
      debug('endpoint to %s: the peer is closing it (BYE)', this.#endpoint.peer);
    }
    if (type === HandshakeType.Hello) this.#answer(HandshakeType.Ack);
    else if (type === HandshakeType.Ping) this.#answer(HandshakeType.Pong);
    else if (type === HandshakeType.Bye) {
      this.#answer(HandshakeType.ByeAck, true);
      // Both sides closing at once: the peer reads nothing more (its close ended its receives), and it
      // may close before our BYE reaches it; waiting for its BYE_ACK would only run out the bound.
      this.#byeAcked?.();
    } else if (type === HandshakeType.ByeAck) this.#byeAcked?.();
    else if (type === HandshakeType.Refuse) {
      this.#remoteId = undefined;
      this.#handshake?.reject(
        new UCXError(
          'the peer does not accept connections to its worker address ' + '(it must create its worker with { acceptAddressConnections: true })',
          'UCS_ERR_REJECTED',
          Status.ERR_REJECTED,
        ),
      );
      return;
    }
    this.#handshake?.resolve();
    this.#startHeartbeat();
  }

  /**
   * With a node-ucx peer (the handshake is done): BYE, then wait for its BYE_ACK. UCX 1.13 reports a
   * close through the connection manager's socket, which can overtake data still unread on the data
   * lane and make the peer drop it; BYE travels on the data lane behind everything sent before.
   */
  goodbye(): Promise<void> {
    // A peer that said BYE is closing and reads nothing more: no BYE to wait for (see onMessage).
    if (this.#remoteId === undefined || this.#endpoint.error !== undefined || this.#peerClosed) return RESOLVED;
    const acked = new Promise<void>((resolve) => {
      this.#byeAcked = resolve;
    });
    this.#answer(HandshakeType.Bye, true);
    return acked;
  }

  /** The connection broke while this side closes: stop waiting for the peer's BYE_ACK. */
  peerGone(): void {
    this.#byeAcked?.();
  }

  /**
   * The endpoint is closing: no more handshake replies or heartbeats, and pending receives end (they
   * reject with the endpoint's error, or ERR_UCX_CLOSED). Sends queued behind the handshake still go.
   */
  beginClose(): void {
    this.#ended = true;
    this.#stopHeartbeat();
    this.cancelReceives();
  }

  /** The endpoint failed or has closed: as beginClose(), and a handshake still awaited rejects with `error`. */
  end(error: unknown): void {
    this.beginClose();
    this.#handshake?.reject(error);
  }

  /** Cancels every receive UCX holds for this session. */
  cancelReceives(): void {
    const worker = this.#endpoint.worker;
    if (worker.closed) return;
    for (const cancelId of this.#pendingRecvs) worker[kNative].cancel(cancelId);
  }

  // ---- internals ----

  /** `queued`: asked for before a close() that is now waiting for it. */
  #sendTagged(args: NativeDataArgs, queued: boolean): Promise<void> {
    const endpoint = this.#endpoint;
    if (endpoint.error !== undefined) throw endpoint.error;
    if (!queued) endpoint[kRequireOpen]();
    return endpoint[kTrack](endpoint[kNative].tagSend(args.target, args.length, args.memoryType, this.#remoteId!, false));
  }

  #handshaken(): Promise<void> {
    if (this.#handshake === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#handshake = { promise, resolve, reject };
      const endpoint = this.#endpoint;
      if (!endpoint.worker.context.features.includes('am')) {
        reject(new UCXError("endpoint messages need the 'am' feature in the Context", 'UCS_ERR_UNSUPPORTED', Status.ERR_UNSUPPORTED));
      } else if (this.#remoteId !== undefined) {
        resolve();
      } else {
        // A peer reached by worker address cannot tell which of its endpoints we are: the HELLO brings
        // our worker address, and the peer opens an endpoint of its own back to it.
        const address = endpoint.role === 'address' ? endpoint.worker.address : null;
        const header = encodeHandshake(HandshakeType.Hello, this.localId, 0n);
        const hello = endpoint[kNative].amSend(HANDSHAKE_AM_ID, header, address, address?.length ?? 0, 0, AM_REPLY | AM_EAGER);
        hello?.catch(reject);
        deadline(promise, defaults.handshakeTimeoutMs, 'endpoint handshake (is the peer a node-ucx endpoint?)').catch(reject);
      }
    }
    return this.#handshake.promise;
  }

  /** Sends a handshake-channel message (ACK, PING, PONG, BYE, BYE_ACK); failures surface through the endpoint's error. */
  #answer(type: HandshakeType, evenWhileClosing = false): void {
    const endpoint = this.#endpoint;
    if (endpoint.error !== undefined || (this.#ended && !evenWhileClosing)) return;
    try {
      const header = encodeHandshake(type, this.localId, this.#remoteId ?? 0n);
      endpoint[kNative].amSend(HANDSHAKE_AM_ID, header, null, 0, 0, AM_REPLY | AM_EAGER)?.catch(() => {});
    } catch {
      // The endpoint is going away; its error or close says so.
    }
  }

  #startHeartbeat(): void {
    const interval = defaults.heartbeatMs;
    if (interval <= 0 || this.#heartbeat !== undefined || this.#ended) return;
    this.#heartbeat = setInterval(() => {
      const silentFor = Date.now() - this.#lastHeard;
      if (silentFor > HEARTBEAT_MISSES * interval) {
        this.#endpoint[kOnError](new UCXError(`no heartbeat from the peer for ${silentFor} ms`, 'UCS_ERR_ENDPOINT_TIMEOUT', Status.ERR_ENDPOINT_TIMEOUT));
      } else {
        this.#answer(HandshakeType.Ping);
      }
    }, interval);
    this.#heartbeat.unref(); // a heartbeat alone never keeps the process alive
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /**
   * Receives stay possible after the peer closed or died while messages it sent before are still
   * queued in the worker (like reading a socket after FIN); then they fail with the endpoint's error.
   */
  #requireReceivable(): void {
    const endpoint = this.#endpoint;
    if (endpoint.error !== undefined && !endpoint.worker.closed && endpoint.worker[kNative].tagProbe(this.localId, FULL_MASK) !== null) return;
    endpoint[kRequireOpen]();
  }

  /**
   * Posts a receive in order with the ones before it. `start` hands it to UCX (a result, or a promise of
   * one), `map` turns that result into what the caller gets, in the same step as the bookkeeping: one
   * promise hop per receive.
   */
  #postRecv<R, T>(kind: RecvKind, signal: AbortSignal | undefined, start: (cancelId: number) => R | Promise<R>, map: (received: R) => T): Promise<T> {
    this.#requireReceivable();
    if (signal?.aborted) throw abortedError(signal);
    // UCX matches receives of one kind in the order they are posted, so a receive of the same
    // kind as the previous one only has to be posted after it. A receive of the other kind
    // (posted tag receive vs. probe) must wait until the previous ones have completed, or a
    // message could land in the later receive.
    const sameKind = this.#recvKind === kind;
    this.#recvKind = kind;
    if (this.#unposted === 0 && (sameKind || this.#pendingRecvs.size === 0)) {
      const promise = this.#beginRecv(signal, start, map);
      this.#lastRecv = promise;
      return promise;
    }
    const after = sameKind ? this.#postedTail : this.#pendingRecvs.size === 0 && this.#unposted === 0 ? RESOLVED : this.#lastRecv.catch(() => {});
    let posted!: () => void;
    this.#postedTail = new Promise<void>((resolve) => {
      posted = resolve;
    });
    this.#unposted++;
    const run = (): Promise<T> => {
      this.#unposted--;
      try {
        return this.#beginRecv(signal, start, map);
      } finally {
        posted();
      }
    };
    const promise = after.then(run, run);
    this.#lastRecv = promise;
    return promise;
  }

  #beginRecv<R, T>(signal: AbortSignal | undefined, start: (cancelId: number) => R | Promise<R>, map: (received: R) => T): Promise<T> {
    try {
      this.#requireReceivable();
      if (signal?.aborted) throw abortedError(signal);
      const worker = this.#endpoint.worker;
      const cancelId = worker[kNextCancelId]();
      const result = start(cancelId);
      if (!(result instanceof Promise)) return Promise.resolve(map(result));
      this.#pendingRecvs.add(cancelId);
      return withAbort(result, signal, () => worker[kNative].cancel(cancelId)).then(
        (value) => {
          this.#pendingRecvs.delete(cancelId);
          return map(value);
        },
        (error: unknown) => {
          this.#pendingRecvs.delete(cancelId);
          if (isCanceled(error)) throw this.#endpoint.error ?? closedError('Endpoint');
          throw error;
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
