// Batch: small operations without a promise each. Every operation returns at once: done (UCX
// completed it inline, its buffer may be reused) or pending (UCX holds the buffer, pinned, until it
// completes). The pending ones are counted together, natively (csrc/batch.cc), and one promise,
// wait(), settles once all of them have: with the first failure, if any. A pending operation
// settles on close, abort and peer death as a single one does: its endpoint's close or failure
// fails it (and so the batch's wait()), and so does the worker's close.
import { closedError } from '../util/errors.js';
import { abortedError } from '../util/abort.js';
import {
  invalidArgType,
  invalidArgValue,
  validateAbortSignal,
  validateInteger,
  validateObject,
  validateOptionalObject,
  validateUint64,
} from '../util/validate.js';
import { checkHostMemory, toNativeData, MEMORY_TYPE_HOST, type Data } from '../util/data.js';
import type { NativeBatch } from '../native.js';
import { Endpoint, ATOMIC_OPS, ATOMIC_CSWAP, amSendFlags, atomicOperand, atomicSize, type AtomicOp } from './endpoint.js';
import type { RemoteKey } from './memory.js';
import type { Worker } from './worker.js';
import { FULL_MASK, RESERVED_TAG_BIT, validateRawTag } from './tags.js';
import { requireFeature } from './features.js';
import { kNative, kFast, kBatched, kCheckAccess, kRequireOpen, kSendNow, RESOLVED } from './internal.js';

/** Batch.amSend()'s options, as ep.amSend()'s. */
export interface BatchAmSendOptions {
  /** Give the receiver's handler a reply endpoint back to this worker (UCP_AM_SEND_FLAG_REPLY). */
  reply?: boolean;
  /** Always use the rendezvous protocol, whatever the size (not with eager). */
  rendezvous?: boolean;
  /** Always send eagerly, whatever the size (not with rendezvous). */
  eager?: boolean;
}

/**
 * Small operations (tag, stream and AM sends, put, get, atomics) without a promise each: each returns
 * done or pending, and one wait() settles for all the pending ones. For message-rate-bound loops.
 */
export class Batch {
  /** The worker whose endpoints its operations use. */
  readonly worker: Worker;
  readonly #native: NativeBatch;
  /** Kept up to date by the addon: [0] operations pending, [1] failures since the last wait. */
  readonly #counters = new Int32Array(2);
  /** Operations that went the promise way (endpoint messages before the handshake). */
  readonly #held = new Set<Promise<unknown>>();
  #heldError: unknown;
  #waiting: Promise<void> | undefined;
  // The last endpoint, tag and host view that passed their checks: a loop that sends the same ones
  // again skips the checks that cannot change (an endpoint's worker, a tag's range, a buffer's
  // resizability). Whether the endpoint is open is checked every time, and detached buffers natively.
  #lastEp: Endpoint | undefined;
  #lastTag: bigint | undefined;
  #lastMask: bigint | undefined;
  #lastUcxMask = FULL_MASK;
  #lastView: ArrayBufferView | undefined;
  readonly #rmaEnabled: boolean;
  readonly #amoEnabled: boolean;

  /** A batch on `worker`: its operations may use any endpoint of that worker. */
  constructor(worker: Worker) {
    if (typeof worker !== 'object' || worker === null || !(kNative in worker)) {
      throw invalidArgType('worker', 'an instance of Worker', worker);
    }
    if (worker.closed) throw closedError('Worker');
    this.worker = worker;
    this.#native = worker[kNative].createBatch(this.#counters);
    this.#rmaEnabled = worker.context.features.includes('rma');
    this.#amoEnabled = worker.context.features.includes('amo');
  }

  /** Operations that UCX has not completed yet (their buffers are still in use). */
  get pending(): number {
    return this.#counters[0]! + this.#held.size;
  }

  /** Raw tag send (ucp_tag_send_nbx). true: completed inline; false: pending (counted here). */
  tagSend(ep: Endpoint, data: Data, tag: bigint): boolean {
    const fast = this.#fast(ep);
    if (tag !== this.#lastTag) {
      validateRawTag(tag);
      this.#lastTag = tag;
    }
    let done: boolean;
    if (ArrayBuffer.isView(data)) {
      if (data !== this.#lastView) {
        checkHostMemory(data, 'data');
        this.#lastView = data;
      }
      done = fast.tagSend(data, data.byteLength, MEMORY_TYPE_HOST, tag, this.#native);
    } else {
      const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
      done = fast.tagSend(args.target, args.length, args.memoryType, tag, this.#native);
    }
    if (!done) ep[kBatched](this);
    return done;
  }

  /**
   * Sends `data` as consecutive messages of `size` bytes (the last may be shorter), each a raw tag
   * send, in one call. Returns how many are still pending (0: every one completed inline, the buffer
   * is free). A failure throws; the messages before it were sent.
   */
  tagSendMany(ep: Endpoint, data: Data, size: number, tag: bigint): number {
    const fast = this.#fast(ep);
    validateInteger(size, 'size', 1, 0xffffffff);
    validateRawTag(tag);
    const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
    const pending = fast.tagSendMany(args.target, args.length, args.memoryType, size, tag, this.#native);
    if (pending > 0) ep[kBatched](this);
    return pending;
  }

  /**
   * Posts a raw tag receive (as worker.tagRecv(), from any endpoint of the worker) without a promise: the
   * length when a matching message was already there (received now), or null when the receive is posted
   * and counted here. `result.lengths[result.index]` gets the length either way once the message is in
   * (after wait() for a posted one). A ring of such receives, one per slot of a buffer, is a window of
   * preposted buffers: wait() says when all of them have been filled. cancel() ends those still posted.
   */
  tagRecv(into: Data, tag: bigint, mask: bigint = FULL_MASK, result?: { lengths: Uint32Array; index: number }): number | null {
    if (this.worker.closed) throw closedError('Worker');
    if (tag !== this.#lastTag) {
      validateRawTag(tag);
      this.#lastTag = tag;
    }
    if (mask !== this.#lastMask) {
      validateUint64(mask, 'mask');
      this.#lastMask = mask;
      this.#lastUcxMask = mask === FULL_MASK ? FULL_MASK : mask | RESERVED_TAG_BIT;
    }
    let lengths: Uint32Array | null = null;
    let index = 0;
    if (result !== undefined) {
      validateObject(result, 'result');
      if (!(result.lengths instanceof Uint32Array)) throw invalidArgType('result.lengths', 'an instance of Uint32Array', result.lengths);
      validateInteger(result.index, 'result.index', 0, result.lengths.length - 1);
      lengths = result.lengths;
      index = result.index;
    }
    const fast = this.worker[kFast].ops;
    let length: number;
    if (ArrayBuffer.isView(into)) {
      if (into !== this.#lastView) {
        checkHostMemory(into, 'into');
        this.#lastView = into;
      }
      length = fast.tagRecv(into, into.byteLength, MEMORY_TYPE_HOST, tag, this.#lastUcxMask, lengths, index, this.#native);
    } else {
      const args = toNativeData(into, 'into', this.worker.context.memoryTypes);
      length = fast.tagRecv(args.target, args.length, args.memoryType, tag, this.#lastUcxMask, lengths, index, this.#native);
    }
    return length < 0 ? null : length;
  }

  /** Cancels this batch's posted receives that have not completed: they fail (UCS_ERR_CANCELED), and so wait() rejects. Returns how many. */
  cancel(): number {
    if (this.worker.closed) return 0;
    return this.worker[kNative].cancelBatch(this.#native);
  }

  /** An endpoint-scoped message (as ep.send()). true: completed inline; false: pending (counted here). */
  send(ep: Endpoint, data: Data): boolean {
    this.#fast(ep);
    const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
    const result = ep[kSendNow](args, this.#native);
    if (result === true) return true;
    if (result !== false) this.#hold(result);
    ep[kBatched](this);
    return false;
  }

  /** ucp_stream_send_nbx. true: completed inline; false: pending (counted here). */
  streamSend(ep: Endpoint, data: Data): boolean {
    const fast = this.#fast(ep);
    const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
    if (args.length === 0) return true; // nothing to send on a byte stream (and UCX 1.13 asserts on it)
    const done = fast.streamSend(args.target, args.length, args.memoryType, this.#native);
    if (!done) ep[kBatched](this);
    return done;
  }

  /** ucp_am_send_nbx to the peer's handler for `id` (as ep.amSend()). true: completed inline; false: pending. */
  amSend(ep: Endpoint, id: number, header: ArrayBufferView | null, data: Data | null, opts: BatchAmSendOptions = {}): boolean {
    const fast = this.#fast(ep);
    const flags = amSendFlags(this.worker, id, header, opts);
    let done: boolean;
    if (data === null) {
      done = fast.amSend(id, header, null, 0, MEMORY_TYPE_HOST, flags, this.#native);
    } else if (ArrayBuffer.isView(data)) {
      if (data !== this.#lastView) {
        checkHostMemory(data, 'data');
        this.#lastView = data;
      }
      done = fast.amSend(id, header, data, data.byteLength, MEMORY_TYPE_HOST, flags, this.#native);
    } else {
      const args = toNativeData(data, 'data', this.worker.context.memoryTypes);
      done = fast.amSend(id, header, args.target, args.length, args.memoryType, flags, this.#native);
    }
    if (!done) ep[kBatched](this);
    return done;
  }

  /** Writes `from` to the peer's memory (ucp_put_nbx). true: completed inline (locally; ep.flush() for remote completion). */
  put(ep: Endpoint, from: Data, remoteAddress: bigint, rkey: RemoteKey): boolean {
    return this.#rma(ep, 'put', from, remoteAddress, rkey);
  }

  /** Reads the peer's memory into `into` (ucp_get_nbx). true: completed inline, the data is in `into`. */
  get(ep: Endpoint, into: Data, remoteAddress: bigint, rkey: RemoteKey): boolean {
    return this.#rma(ep, 'get', into, remoteAddress, rkey);
  }

  /**
   * A remote atomic (as ep.atomic()). Fetching ops return the old value when UCX completed the op
   * inline, or a Promise of it; the others return 0n. Pending ones are counted here too.
   */
  atomic(ep: Endpoint, op: AtomicOp, remoteAddress: bigint, rkey: RemoteKey, value: bigint, opts: { size?: 4 | 8 } = {}): bigint | Promise<bigint> {
    const fast = this.#fast(ep);
    const spec = Object.hasOwn(ATOMIC_OPS, op) ? ATOMIC_OPS[op] : undefined;
    if (spec === undefined) throw invalidArgValue('op', op, `must be one of ${Object.keys(ATOMIC_OPS).join(', ')}`);
    validateOptionalObject(opts, 'opts');
    const size = atomicSize(opts.size);
    const operand = atomicOperand(value, size, 'value');
    if (!this.#amoEnabled) requireFeature(this.worker.context, 'atomic', 'amo');
    const key = ep[kCheckAccess](`atomic '${op}'`, rkey, remoteAddress, size, size);
    const [opcode, fetch] = spec;
    const result = fast.atomic(opcode, remoteAddress, key, operand, size, fetch, undefined, this.#native);
    if (typeof result === 'bigint') return result;
    if (result === true) return 0n;
    ep[kBatched](this);
    return result === false ? 0n : result;
  }

  /** Atomically: if the word equals `compare`, store `swap` (as ep.compareSwap()). The old value, or a Promise of it. */
  compareSwap(ep: Endpoint, remoteAddress: bigint, rkey: RemoteKey, compare: bigint, swap: bigint, opts: { size?: 4 | 8 } = {}): bigint | Promise<bigint> {
    const fast = this.#fast(ep);
    validateOptionalObject(opts, 'opts');
    const size = atomicSize(opts.size);
    const compareOperand = atomicOperand(compare, size, 'compare');
    const swapOperand = atomicOperand(swap, size, 'swap');
    if (!this.#amoEnabled) requireFeature(this.worker.context, 'compareSwap', 'amo');
    const key = ep[kCheckAccess]('compareSwap', rkey, remoteAddress, size, size);
    const result = fast.atomic(ATOMIC_CSWAP, remoteAddress, key, compareOperand, size, true, swapOperand, this.#native);
    if (typeof result === 'bigint') return result;
    ep[kBatched](this);
    return result as Promise<bigint>;
  }

  /**
   * Settles once every operation of this batch so far has completed: rejects with the first failure
   * since the last wait() (a UCXError: the endpoint's error when it failed or closed, ERR_UCX_CLOSED
   * when the worker closed). An aborted signal rejects the wait with an AbortError; the operations
   * go on.
   */
  wait(opts: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    if (this.#waiting === undefined) {
      if (this.pending === 0 && this.#counters[1] === 0 && this.#heldError === undefined) return RESOLVED;
      this.#waiting = this.#wait().finally(() => {
        this.#waiting = undefined;
      });
    }
    if (signal === undefined) return this.#waiting;
    const waiting = this.#waiting;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortedError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      waiting.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async #wait(): Promise<void> {
    const native = this.worker[kNative];
    let failure: unknown;
    for (;;) {
      if (this.#counters[0]! > 0) {
        try {
          await native.waitBatch(this.#native);
        } catch (error) {
          failure ??= error;
        }
      } else if (this.#held.size > 0) {
        await Promise.allSettled([...this.#held]);
      } else {
        break;
      }
    }
    if (this.#counters[1]! > 0) failure ??= native.takeBatchError(this.#native) ?? undefined;
    if (this.#heldError !== undefined) {
      failure ??= this.#heldError;
      this.#heldError = undefined;
    }
    if (failure !== undefined) throw failure;
  }

  /** The endpoint's fast operations, once `ep` is checked: an open endpoint of this batch's worker. */
  #fast(ep: Endpoint) {
    if (ep !== this.#lastEp) {
      if (!(ep instanceof Endpoint)) throw invalidArgType('ep', 'an instance of Endpoint', ep);
      if (ep.worker !== this.worker) throw invalidArgValue('ep', ep, "belongs to another worker than the batch's");
      this.#lastEp = ep;
    }
    ep[kRequireOpen]();
    return ep[kFast];
  }

  #rma(ep: Endpoint, op: 'put' | 'get', data: Data, remoteAddress: bigint, rkey: RemoteKey): boolean {
    const fast = this.#fast(ep);
    const args = toNativeData(data, op === 'put' ? 'from' : 'into', this.worker.context.memoryTypes);
    if (!this.#rmaEnabled) requireFeature(this.worker.context, op, 'rma');
    const key = ep[kCheckAccess](op, rkey, remoteAddress, args.length, 1, args.memoryType);
    const done = fast[op](args.target, args.length, args.memoryType, remoteAddress, key, this.#native);
    if (!done) ep[kBatched](this);
    return done;
  }

  #hold(promise: Promise<unknown>): void {
    this.#held.add(promise);
    promise.then(
      () => {
        this.#held.delete(promise);
      },
      (error: unknown) => {
        this.#held.delete(promise);
        this.#heldError ??= error;
      },
    );
  }
}
