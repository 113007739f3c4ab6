// What the TCP and UCX connections share: the inbox of received messages, the open → closing → closed
// state, who closed it, the error that broke it, and `finished`. Each transport adds its wire.
import { EventEmitter } from 'node:events';
import { Inbox } from './inbox.js';
import { closedError, validateRecvOptions, type RecvOptions, type TransportError } from './types.js';
import { transportDefaults } from './defaults.js';
import type { FrameLimits } from './framing.js';
import { validateInteger } from '../util/validate.js';

export abstract class ConnectionBase extends EventEmitter {
  /** Settles once the connection is closed, whoever closed it. */
  readonly finished: Promise<void>;
  protected readonly inbox = new Inbox();
  protected state: 'open' | 'closing' | 'closed' = 'open';
  /** close() or abort() was called here. */
  protected closedHere = false;
  /** Set once the connection broke (or, over UCX, the peer said goodbye): sends fail with it. */
  protected brokenBy: TransportError | undefined;
  /** What the peer may send (read for every message it sends). */
  protected readonly limits: FrameLimits = { maxMessageBytes: transportDefaults.maxMessageBytes };
  #resolveFinished!: () => void;

  constructor() {
    super();
    this.finished = new Promise<void>((resolve) => { this.#resolveFinished = resolve; });
  }

  get closed(): boolean { return this.state !== 'open' || this.brokenBy !== undefined; }

  /**
   * The most bytes one message from the peer may announce (all frames); more breaks the connection with
   * ERR_TRANSPORT_PROTOCOL before anything is allocated. A server lowers it for a peer it does not yet
   * trust (set it in the connection handler: no message is read before that returns).
   */
  get maxMessageBytes(): number { return this.limits.maxMessageBytes; }
  set maxMessageBytes(value: number) {
    validateInteger(value, 'maxMessageBytes', 0, transportDefaults.maxMessageBytes);
    this.limits.maxMessageBytes = value;
  }

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
