// What the TCP and UCX connections share: the inbox of received messages, the open → closing → closed
// state, who closed it, the error that broke it, and `finished`. Each transport adds its wire.
import { EventEmitter } from 'node:events';
import { Inbox } from './inbox.js';
import { closedError, validateRecvOptions, type RecvOptions, type TransportError } from './types.js';

export abstract class ConnectionBase extends EventEmitter {
  /** Settles once the connection is closed, whoever closed it. */
  readonly finished: Promise<void>;
  protected readonly inbox = new Inbox();
  protected state: 'open' | 'closing' | 'closed' = 'open';
  /** close() or abort() was called here. */
  protected closedHere = false;
  /** Set once the connection broke (or, over UCX, the peer said goodbye): sends fail with it. */
  protected brokenBy: TransportError | undefined;
  #resolveFinished!: () => void;

  constructor() {
    super();
    this.finished = new Promise<void>((resolve) => { this.#resolveFinished = resolve; });
  }

  get closed(): boolean { return this.state !== 'open' || this.brokenBy !== undefined; }

  recv(opts: RecvOptions = {}): Promise<Buffer[]> {
    try {
      validateRecvOptions(opts);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.inbox.take(opts.signal);
  }

  /** close() and abort() here: no receive waits any longer. */
  protected beginClosing(): void {
    this.state = 'closing';
    this.closedHere = true;
    this.inbox.end(closedError(), false);
  }

  /** The connection is gone: resolves `finished` and emits 'close' (with the error, unless closed here). Once. */
  protected markClosed(error: TransportError | undefined): void {
    if (this.state === 'closed') return;
    const here = this.state === 'closing';
    this.state = 'closed';
    this.#resolveFinished();
    this.emit('close', here ? null : error ?? null);
  }
}
