// TagReceiver: raw tagged messages delivered in batches. Each receive takes every matching message
// UCX has queued (up to `slots`) into one reusable ring of slots, in one call into the addon
// (csrc/fastpath.cc tagRecvBatch): no promise, result object or buffer per message. An empty
// receive waits for the next arrival (one promise per batch, not per message). A message longer
// than a slot arrives alone, in a Buffer of its own.
import { closedError, isCanceled } from '../util/errors.js';
import { abortedError } from '../util/abort.js';
import { validateAbortSignal, validateInteger, validateOptionalObject, validateUint64, validateView } from '../util/validate.js';
import { checkHostMemory, toNativeData, MEMORY_TYPE_HOST, type Data } from '../util/data.js';
import type { NativeMessageResult, NativeWorker, NativeWorkerFast } from '../native.js';
import type { Worker } from './worker.js';
import { FULL_MASK, RESERVED_TAG_BIT, validateRawTag } from './tags.js';
import { kNative, kNextCancelId } from './internal.js';

/** A TagReceiver's ring of slots (worker.tagReceiver()'s options). */
export interface TagReceiverOptions {
  /** Messages one batch can hold (default 64). */
  slots?: number;
  /** Bytes per slot (default 8192): a longer message arrives alone in a Buffer of its own. */
  slotSize?: number;
  /** The longest message to take at all (default: no limit); a longer one is dropped and the receive rejects (UCS_ERR_MESSAGE_TRUNCATED). */
  maxLength?: number;
}

/** What the worker's fast receives share: the bound functions and the scratch they write. */
export interface WorkerFast {
  ops: NativeWorkerFast;
  /** [0]: the sender's tag of the last tryTagRecv. */
  tag: BigUint64Array;
  /** [0]: messages a tagRecvBatch took, [1]: the length of a queued message too long for a slot (or -1), [2]: an AM header's length. */
  nums: Float64Array;
}

export function workerFast(nativeWorker: NativeWorker): WorkerFast {
  const scratch = new Uint8Array(32);
  return {
    ops: nativeWorker.fastOps(scratch),
    tag: new BigUint64Array(scratch.buffer, 0, 1),
    nums: new Float64Array(scratch.buffer, 8, 3),
  };
}

/**
 * One batch of messages. Valid until the receiver's next receive, which reuses the slots: copy what
 * must outlive it.
 */
export class TagBatch {
  /** How many messages this batch holds. */
  count = 0;
  readonly #ring: Buffer;
  readonly #slotSize: number;
  readonly #lengths: Uint32Array;
  readonly #tags: BigUint64Array;
  /** A message too long for a slot, which arrives alone. */
  #alone: Buffer | null = null;

  /** @internal */
  constructor(ring: Buffer, slotSize: number, lengths: Uint32Array, tags: BigUint64Array) {
    this.#ring = ring;
    this.#slotSize = slotSize;
    this.#lengths = lengths;
    this.#tags = tags;
  }

  /** The length of message `i`. */
  length(i: number): number {
    return this.#alone !== null ? this.#alone.length : this.#lengths[i]!;
  }
  /** The sender's tag of message `i`. */
  tag(i: number): bigint {
    return this.#tags[i]!;
  }
  /** Message `i`'s bytes: a view of its slot (or its own Buffer), valid until the next receive. */
  data(i: number): Buffer {
    if (this.#alone !== null) return this.#alone;
    const offset = i * this.#slotSize;
    return this.#ring.subarray(offset, offset + this.#lengths[i]!);
  }
  /** Where message `i` starts in `ring` (-1 for a message that arrived alone: see data()). */
  offset(i: number): number {
    return this.#alone !== null ? -1 : i * this.#slotSize;
  }
  /** The slots' memory (message i at offset(i), length(i) bytes). */
  get ring(): Buffer {
    return this.#ring;
  }

  /** Each message as { data, length, tag } (data as data(i): valid until the next receive). */
  *[Symbol.iterator](): IterableIterator<{
    /** The message's bytes (a view of its slot). */
    data: Buffer;
    /** Its length in bytes. */
    length: number;
    /** The sender's tag. */
    tag: bigint;
  }> {
    for (let i = 0; i < this.count; i++) yield { data: this.data(i), length: this.length(i), tag: this.tag(i) };
  }

  /** @internal */
  set(count: number, alone: Buffer | null, tag?: bigint): this {
    this.count = count;
    this.#alone = alone;
    if (tag !== undefined) this.#tags[0] = tag;
    return this;
  }
}

/**
 * Raw tagged messages matching `tag` under `mask`, taken in batches into a reusable ring (worker.tagReceiver()):
 * no promise or Buffer per message, for message-rate-bound receivers. `for await` yields the batches.
 */
export class TagReceiver implements AsyncIterable<TagBatch> {
  /** The worker it receives on. */
  readonly worker: Worker;
  /** The tag it matches (the bits `mask` selects). */
  readonly tag: bigint;
  /** Which bits of `tag` must match. */
  readonly mask: bigint;
  /** Messages one batch can hold. */
  readonly slots: number;
  /** Bytes per slot (a longer message arrives alone). */
  readonly slotSize: number;
  readonly #maxLength: number;
  readonly #fast: WorkerFast;
  readonly #ring: Buffer;
  readonly #lengths: Uint32Array;
  readonly #tags: BigUint64Array;
  readonly #batch: TagBatch;
  /** The mask handed to UCX: the reserved bit always matches, so a wildcard never takes endpoint messages. */
  readonly #ucxMask: bigint;
  #waiting = 0; // the cancel id of the pending wait, 0 when none
  #busy = false;
  #closed = false;

  /** @internal Made by worker.tagReceiver(). */
  constructor(worker: Worker, fast: WorkerFast, tag: bigint, mask: bigint, opts: TagReceiverOptions) {
    validateRawTag(tag);
    validateUint64(mask, 'mask');
    validateOptionalObject(opts, 'opts');
    const slots = opts.slots ?? 64;
    const slotSize = opts.slotSize ?? 8192;
    const maxLength = opts.maxLength ?? Number.MAX_SAFE_INTEGER;
    validateInteger(slots, 'opts.slots', 1, 1 << 20);
    validateInteger(slotSize, 'opts.slotSize', 1, 0xffffffff);
    validateInteger(maxLength, 'opts.maxLength', 0, Number.MAX_SAFE_INTEGER);
    if (slots * slotSize > 1 << 30) throw new RangeError('opts.slots * opts.slotSize must be at most 1 GiB');
    this.worker = worker;
    this.tag = tag;
    this.mask = mask;
    this.slots = slots;
    this.slotSize = slotSize;
    this.#maxLength = maxLength;
    this.#fast = fast;
    this.#ucxMask = mask === FULL_MASK ? FULL_MASK : mask | RESERVED_TAG_BIT;
    this.#ring = Buffer.alloc(slots * slotSize);
    this.#lengths = new Uint32Array(slots);
    this.#tags = new BigUint64Array(slots);
    this.#batch = new TagBatch(this.#ring, slotSize, this.#lengths, this.#tags);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The messages that have arrived, at once: a batch (reused: valid until the next receive), or null
   * when none has, after up to `spins` rounds of progress (default 1). A Promise when the batch's last
   * message is still arriving (a rendezvous) or one too long for a slot is being received alone.
   */
  tryRecv(spins = 1): TagBatch | null | Promise<TagBatch> {
    validateInteger(spins, 'spins', 0, 0x7fffffff);
    this.#requireUsable();
    return this.#take(spins);
  }

  /** The next batch: at once if messages have arrived, else when the next one does. One at a time. */
  recv(opts: { signal?: AbortSignal } = {}): Promise<TagBatch> {
    try {
      validateOptionalObject(opts, 'opts');
      validateAbortSignal(opts.signal, 'opts.signal');
      this.#requireUsable();
      if (opts.signal?.aborted) throw abortedError(opts.signal);
      const now = this.#take(1);
      if (now !== null) return Promise.resolve(now);
      this.#busy = true;
      return this.#wait(opts.signal).finally(() => {
        this.#busy = false;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Stops receiving: a pending recv() rejects with ERR_UCX_CLOSED; iteration ends. Messages stay queued in UCX. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#waiting !== 0 && !this.worker.closed) this.worker[kNative].cancel(this.#waiting);
  }

  /** The batches as they arrive (each valid until the next), until close(). */
  async *[Symbol.asyncIterator](): AsyncGenerator<TagBatch, void, undefined> {
    while (!this.#closed) {
      let batch: TagBatch;
      try {
        batch = await this.recv();
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
      yield batch;
    }
  }

  #requireUsable(): void {
    if (this.#closed) throw closedError('TagReceiver');
    if (this.worker.closed) throw closedError('Worker');
    if (this.#busy) throw Object.assign(new Error('a recv() is already pending on this TagReceiver'), { code: 'ERR_INVALID_STATE' });
  }

  #take(spins: number): TagBatch | null | Promise<TagBatch> {
    const result = this.#fast.ops.tagRecvBatch(this.#ring, this.slotSize, this.slots, this.tag, this.#ucxMask, this.#lengths, this.#tags, spins);
    if (typeof result === 'number') {
      if (result > 0) return this.#batch.set(result, null);
      if (this.#fast.nums[1]! >= 0) return this.#takeAlone();
      return null;
    }
    const count = this.#fast.nums[0]!;
    return result.then(() => this.#batch.set(count, null));
  }

  /** The queued message is longer than a slot: it is received alone, into a Buffer of its length. */
  #takeAlone(): Promise<TagBatch> {
    const native = this.worker[kNative];
    const received: Promise<NativeMessageResult> = native.tagRecvMessage(this.tag, this.#ucxMask, this.worker[kNextCancelId](), false, this.#maxLength);
    return received.then((message) => this.#batch.set(1, message.data, message.tag));
  }

  async #wait(signal: AbortSignal | undefined): Promise<TagBatch> {
    const native = this.worker[kNative];
    for (;;) {
      const cancelId = this.worker[kNextCancelId]();
      this.#waiting = cancelId;
      const onAbort = (): void => {
        native.cancel(cancelId);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await native.tagWait(this.tag, this.#ucxMask, cancelId);
      } catch (error) {
        if (signal?.aborted && isCanceled(error)) throw abortedError(signal);
        if (this.#closed && isCanceled(error)) throw closedError('TagReceiver');
        throw error;
      } finally {
        this.#waiting = 0;
        signal?.removeEventListener('abort', onAbort);
      }
      if (this.#closed) throw closedError('TagReceiver');
      const got = this.#take(0);
      if (got !== null) return got;
    }
  }
}

/**
 * ActiveMessageQueue: the active messages of one id wait in the worker (natively) instead of going to a
 * handler, and are taken synchronously: tryRecv() copies the next one's payload into the caller's buffer
 * (and its header into another), with no promise, event or Buffer per message. recv() waits for one.
 */
export class ActiveMessageQueue {
  /** The worker whose messages it takes. */
  readonly worker: Worker;
  /** The active message id it takes the messages of. */
  readonly id: number;
  readonly #fast: WorkerFast;
  readonly #onClose: () => void;
  #waiting = 0;
  #closed = false;

  /** @internal Made by worker.activeMessageQueue(). */
  constructor(worker: Worker, fast: WorkerFast, id: number, onClose: () => void) {
    this.worker = worker;
    this.id = id;
    this.#fast = fast;
    this.#onClose = onClose;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The header length of the message the last tryRecv()/recv() took (its bytes went to `header`, as many as fit). */
  get headerLength(): number {
    return this.#fast.nums[2]!;
  }

  /**
   * The next message's payload into `into`, at once: its length, or null when none has arrived after up to
   * `spins` rounds of progress (default 1). A Promise for a rendezvous payload still arriving. `header`, when
   * given, gets the message's header. A payload longer than `into` throws UCS_ERR_MESSAGE_TRUNCATED (dropped).
   */
  tryRecv(into: Data, header: Buffer | null = null, spins = 1): number | null | Promise<number> {
    validateInteger(spins, 'spins', 0, 0x7fffffff);
    if (header !== null) validateView(header, 'header');
    this.#requireOpen();
    if (ArrayBuffer.isView(into)) {
      checkHostMemory(into, 'into');
      return this.#fast.ops.amTryRecv(this.id, into, into.byteLength, MEMORY_TYPE_HOST, header, spins);
    }
    const data = toNativeData(into, 'into', this.worker.context.memoryTypes);
    return this.#fast.ops.amTryRecv(this.id, data.target, data.length, data.memoryType, header, spins);
  }

  /** The next message (waits for one): resolves to its payload's length. One at a time. */
  async recv(into: Data, header: Buffer | null = null, opts: { signal?: AbortSignal } = {}): Promise<number> {
    validateOptionalObject(opts, 'opts');
    validateAbortSignal(opts.signal, 'opts.signal');
    const signal = opts.signal;
    for (;;) {
      if (signal?.aborted) throw abortedError(signal);
      const got = this.tryRecv(into, header, 1);
      if (got !== null) return got;
      if (this.#waiting !== 0) throw Object.assign(new Error('a recv() is already pending on this ActiveMessageQueue'), { code: 'ERR_INVALID_STATE' });
      const native = this.worker[kNative];
      const cancelId = this.worker[kNextCancelId]();
      const onAbort = (): void => {
        native.cancel(cancelId);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting = cancelId;
      try {
        await native.amWait(this.id, cancelId);
      } catch (error) {
        if (signal?.aborted && isCanceled(error)) throw abortedError(signal);
        if (this.#closed) throw closedError('ActiveMessageQueue');
        throw error;
      } finally {
        this.#waiting = 0;
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Stops queueing: the messages still queued are dropped, a pending recv() rejects with ERR_UCX_CLOSED. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
  }

  #requireOpen(): void {
    if (this.#closed) throw closedError('ActiveMessageQueue');
    if (this.worker.closed) throw closedError('Worker');
  }
}
