// What the TCP and UCX connections share: the inbox of received messages, the open → closing → closed
// state, who closed it, the error that broke it, and `finished`. Each transport adds its wire.
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptionsStylized } from 'node:util';
import { summary } from '../util/inspect.js';
import { debug } from '../util/debug.js';
import { Inbox } from './inbox.js';
import { closedError, validateRecvOptions, type RecvOptions, type TransportError, type Frame } from './types.js';
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
    this.finished = new Promise<void>((resolve) => {
      this.#resolveFinished = resolve;
    });
  }

  get closed(): boolean {
    return this.state !== 'open' || this.brokenBy !== undefined;
  }

  /**
   * The most bytes one message from the peer may announce (all frames); more breaks the connection with
   * ERR_TRANSPORT_PROTOCOL before anything is allocated. A server lowers it for a peer it does not yet
   * trust (set it in the connection handler: no message is read before that returns).
   */
  get maxMessageBytes(): number {
    return this.limits.maxMessageBytes;
  }
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

  abstract readonly scheme: string;
  abstract readonly localAddress: string;
  abstract readonly peerAddress: string;
  abstract send(frames: readonly Frame[]): Promise<void>;
  abstract close(): Promise<void>;

  /**
   * `for await (const frames of connection)`: each message (one Buffer per frame) until the connection
   * is closed here or by the peer; then the loop ends (`finished` has resolved; the 'close' event says
   * why). Leaving the loop early leaves the connection open.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer[], void, undefined> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.recv();
      } catch (error) {
        const code = (error as TransportError).code;
        if (code === 'ERR_TRANSPORT_CLOSED' || code === 'ERR_TRANSPORT_RESET') return;
        throw error;
      }
      yield frames;
    }
  }

  /** `await using conn = await connect(url)`: closes it (gracefully) at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** util.inspect: `UcxConnection { state, scheme, local, peer }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    const state = this.state === 'open' && this.brokenBy !== undefined ? 'broken' : this.state;
    return summary(
      this.constructor.name,
      {
        state,
        local: this.localAddress,
        peer: this.peerAddress,
        error: this.brokenBy?.code,
      },
      depth,
      options,
      inspectFn,
    );
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
    debug('%s connection %s <-> %s closed%s', this.scheme, this.localAddress, this.peerAddress, here ? ' here' : error ? `: ${error.message}` : '');
    this.#resolveFinished();
    this.emit('close', here ? null : (error ?? null));
  }
}
