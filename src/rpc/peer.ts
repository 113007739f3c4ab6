// RpcPeer: one authenticated, long-lived connection to another process, with
// one-way messages and request/response calls by op name. What a peer sends in
// one turn of the event loop goes out as one transport message (a batch), sent
// at the end of that turn (setImmediate), never on a timer: a burst of a
// thousand small messages costs one send, and a lone message waits for nothing.
//
//   batch = [entry, ...] in the object codec's framed form (typed arrays as frames)
//   entry = [0, op, body]          one-way
//         | [1, op, id, body]      request
//         | [2, id, body]          response
//         | [3, id, error]         error response (a WireError)
import { EventEmitter } from 'node:events';
import { encodeFrames, decodeFrames } from '../util/object-codec.js';
import type { Connection, TransportError } from '../transport/types.js';
import { RpcError, fromWireError, toWireError } from './errors.js';
import type { Joined } from './handshake.js';

/** A handler: its result (or the promise of one) answers a request; for a one-way message it is ignored. */
export type Handler = (body: unknown, peer: RpcPeer) => unknown;

const ONE_WAY = 0;
const REQUEST = 1;
const RESPONSE = 2;
const ERROR = 3;

/** Handlers by op, shared by the peers of one process's role (a scheduler's clients, say). */
export class Router {
  readonly #handlers = new Map<string, Handler>();
  readonly #onError: (error: unknown, op: string, peer: RpcPeer) => void;

  /** `onError`: a one-way handler threw or rejected (a request's error goes back to the caller instead). */
  constructor(onError: (error: unknown, op: string, peer: RpcPeer) => void) {
    this.#onError = onError;
  }

  on(op: string, handler: Handler): this {
    this.#handlers.set(op, handler);
    return this;
  }

  /** @internal */
  handler(op: string): Handler | undefined {
    return this.#handlers.get(op);
  }

  /** @internal */
  failed(error: unknown, op: string, peer: RpcPeer): void {
    this.#onError(error, op, peer);
  }
}

interface PendingCall {
  op: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface CallOptions {
  /** Reject with ERR_RPC_TIMEOUT after this long (default: wait as long as the connection lives). */
  timeoutMs?: number;
}

/**
 * Events: 'close' (error: RpcError | null) once the connection is gone (null when closed here); every
 * pending call has rejected by then.
 */
export class RpcPeer extends EventEmitter {
  /** The peer's name and role, as it authenticated them. */
  readonly name: string;
  readonly role: string;
  readonly connection: Connection;
  readonly #router: Router;
  #outbox: unknown[] = [];
  #flushing = false;
  readonly #calls = new Map<number, PendingCall>();
  #nextId = 1;
  #ended: RpcError | undefined;
  #closedHere = false;

  constructor(connection: Connection, joined: Joined, router: Router) {
    super();
    this.connection = connection;
    this.name = joined.name;
    this.role = joined.role;
    this.#router = router;
    void this.#receive();
  }

  get closed(): boolean {
    return this.#ended !== undefined || this.#closedHere;
  }

  /** A one-way message (batched with the turn's others). Dropped, returning false, once the peer is closed. */
  send(op: string, body: unknown): boolean {
    if (this.closed) return false;
    this.#queue([ONE_WAY, op, body]);
    return true;
  }

  /** A request; resolves with the handler's result, rejects with its error (ERR_RPC_REMOTE) or ERR_RPC_CLOSED. */
  call<T = unknown>(op: string, body: unknown, opts: CallOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(this.#closedError(op));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const pending: PendingCall = { op, resolve: resolve as (value: unknown) => void, reject, timer: undefined };
      if (opts.timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.#calls.delete(id);
          reject(new RpcError('ERR_RPC_TIMEOUT', `${op} to ${this.name}: no answer within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.#calls.set(id, pending);
      this.#queue([REQUEST, op, id, body]);
    });
  }

  /** Sends what is queued now, without waiting for the end of the turn. */
  flush(): void {
    if (this.#outbox.length === 0 || this.#ended !== undefined) return;
    const batch = this.#outbox;
    this.#outbox = [];
    let frames: Buffer[];
    try {
      frames = encodeFrames(batch);
    } catch (error) {
      // A body that cannot be serialized fails its own call; the rest of the batch goes on.
      void error; // the entry that failed says why, below
      this.#sendOneByOne(batch);
      return;
    }
    this.connection.send(frames).catch(() => {
      // The connection broke: #receive sees it and ends everything.
    });
  }

  /** Graceful: what is queued goes out, then the connection closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closedHere) return this.connection.finished;
    this.flush();
    this.#closedHere = true;
    await this.connection.close();
  }

  /** At once: queued messages are dropped, pending calls reject. */
  abort(): void {
    this.#closedHere = true;
    this.#outbox = [];
    this.connection.abort();
  }

  #queue(entry: unknown[]): void {
    this.#outbox.push(entry);
    if (!this.#flushing) {
      this.#flushing = true;
      setImmediate(() => {
        this.#flushing = false;
        this.flush();
      });
    }
  }

  /** One entry failed to encode: the others go alone, and a request among the bad ones rejects. */
  #sendOneByOne(batch: unknown[]): void {
    for (const entry of batch) {
      let frames: Buffer[];
      try {
        frames = encodeFrames([entry]);
      } catch (error) {
        const [kind, , id] = entry as [number, string, number];
        if (kind === REQUEST)
          this.#settle(id, undefined, new RpcError('ERR_RPC_PROTOCOL', `cannot serialize the request: ${(error as Error).message}`, { cause: error }));
        if (kind === RESPONSE) {
          // The handler's result cannot travel: the caller gets an error instead.
          const [, responseId] = entry as [number, number];
          this.#outbox.push([ERROR, responseId, toWireError(new TypeError(`the result cannot be serialized: ${(error as Error).message}`))]);
        }
        continue;
      }
      this.connection.send(frames).catch(() => {});
    }
    if (this.#outbox.length > 0) this.flush();
  }

  async #receive(): Promise<void> {
    const connection = this.connection;
    try {
      for (;;) {
        const frames = await connection.recv();
        let batch: unknown;
        try {
          batch = decodeFrames(frames);
        } catch (error) {
          throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent a malformed batch`, { cause: error });
        }
        if (!Array.isArray(batch)) throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent a batch that is not a list`);
        for (const entry of batch) this.#dispatch(entry);
      }
    } catch (error) {
      const ended =
        error instanceof RpcError
          ? error
          : this.#closedHere
            ? null
            : new RpcError('ERR_RPC_CLOSED', `the connection to ${this.name} closed: ${(error as TransportError).message}`, { cause: error });
      if (ended?.code === 'ERR_RPC_PROTOCOL') connection.abort();
      this.#end(ended);
    }
  }

  #dispatch(entry: unknown): void {
    if (!Array.isArray(entry) || typeof entry[0] !== 'number') throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent an entry that is not one`);
    const kind = entry[0];
    if (kind === ONE_WAY || kind === REQUEST) {
      const op = entry[1];
      if (typeof op !== 'string') throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent a message without an op`);
      const id = kind === REQUEST ? entry[2] : 0;
      if (kind === REQUEST && !(Number.isSafeInteger(id) && id > 0)) throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent a request without an id`);
      this.#run(op, id as number, kind === REQUEST ? entry[3] : entry[2]);
    } else if (kind === RESPONSE || kind === ERROR) {
      const id = entry[1];
      if (!Number.isSafeInteger(id)) throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent a response without an id`);
      if (kind === RESPONSE) this.#settle(id as number, entry[2], undefined);
      else this.#settle(id as number, undefined, fromWireError(entry[2], this.#calls.get(id as number)?.op ?? 'call'));
    } else {
      throw new RpcError('ERR_RPC_PROTOCOL', `${this.name} sent an entry of unknown kind ${kind}`);
    }
  }

  /** Runs a handler; `id` > 0: a request, answered with its result or its error. */
  #run(op: string, id: number, body: unknown): void {
    const handler = this.#router.handler(op);
    if (handler === undefined) {
      if (id > 0) this.#queue([ERROR, id, { name: 'RpcError', code: 'ERR_RPC_UNKNOWN_OP', message: `no handler for '${op}'` }]);
      else this.#router.failed(new RpcError('ERR_RPC_UNKNOWN_OP', `${this.name} sent '${op}', which has no handler`), op, this);
      return;
    }
    let result: unknown;
    try {
      result = handler(body, this);
    } catch (error) {
      this.#answerError(op, id, error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => {
          if (id > 0) this.#answer(id, value);
        },
        (error: unknown) => this.#answerError(op, id, error),
      );
    } else if (id > 0) {
      this.#answer(id, result);
    }
  }

  #answer(id: number, value: unknown): void {
    if (!this.closed) this.#queue([RESPONSE, id, value]);
  }

  #answerError(op: string, id: number, error: unknown): void {
    if (id > 0) {
      if (!this.closed) this.#queue([ERROR, id, toWireError(error)]);
    } else {
      this.#router.failed(error, op, this);
    }
  }

  #settle(id: number, value: unknown, error: RpcError | undefined): void {
    const pending = this.#calls.get(id);
    if (pending === undefined) return; // timed out meanwhile
    this.#calls.delete(id);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(value);
  }

  #closedError(op: string): RpcError {
    return new RpcError('ERR_RPC_CLOSED', `${op} to ${this.name}: the connection is closed`, { cause: this.#ended });
  }

  #end(error: RpcError | null): void {
    if (this.#ended !== undefined) return;
    this.#ended = error ?? new RpcError('ERR_RPC_CLOSED', `the connection to ${this.name} was closed here`);
    this.#outbox = [];
    for (const [id, pending] of this.#calls) {
      this.#calls.delete(id);
      clearTimeout(pending.timer);
      pending.reject(this.#closedError(pending.op));
    }
    this.emit('close', error);
  }
}
