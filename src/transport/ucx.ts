// The UCX transport: a Connection is one node-ucx Endpoint (client-server,
// through a UCX listener) carrying endpoint-scoped messages. Framing (framing.ts)
// and the close handshake are in docs/transport.md: a header message, then one
// endpoint message per non-empty frame (or the frames inside the header, when
// small); GOODBYE / GOODBYE_ACK close gracefully.
//
// A receive loop (the pump) keeps a receive posted at all times and moves
// arrived messages into the inbox, so that what the peer sent before it closed
// is never left in UCX's unexpected queue when the endpoint goes away.
import { defaultWorker, UCXError, type Worker, type Endpoint, type Listener } from '../index.js';
import { invalidArgType, outOfRange } from '../util/validate.js';
import { ConnectionBase } from './connection.js';
import {
  TransportError,
  TransportAbortError,
  closedError,
  resetError,
  validateFrames,
  validateRecvOptions,
  frameLength,
  parseAddress,
  formatAddress,
  type Connection,
  type ConnectOptions,
  type ConnectionHandler,
  type Frame,
  type Transport,
  type TransportListener,
} from './types.js';
import { transportDefaults } from './defaults.js';
import { UCX_HEADER_MAX, UCX_MAX_FRAMES, UcxMessageType, decodeUcxHeader, encodeUcxControl, encodeUcxHeader, fitsInline } from './framing.js';

const EMPTY = Buffer.alloc(0);

const GOODBYE = encodeUcxControl(UcxMessageType.Goodbye);
const GOODBYE_ACK = encodeUcxControl(UcxMessageType.GoodbyeAck);
/** Frames one message may have (so that its header fits in one header message). */
export const MAX_FRAMES = UCX_MAX_FRAMES;

export class UcxConnection extends ConnectionBase implements Connection {
  readonly scheme = 'ucx';
  readonly localAddress: string;
  readonly peerAddress: string;
  /** The node-ucx endpoint underneath (for info(), RMA, or raw operations next to the messages). */
  readonly endpoint: Endpoint;
  #ackReceived: (() => void) | undefined;
  #peerSaidGoodbye = false;

  /** @internal Made by ucxTransport().connect() and its listener. */
  constructor(endpoint: Endpoint, localAddress: string, peerAddress: string) {
    super();
    this.endpoint = endpoint;
    this.localAddress = localAddress;
    this.peerAddress = peerAddress;
    // The endpoint reports a broken connection on 'error'; the pump sees it as a rejected receive.
    endpoint.on('error', () => {});
    endpoint.once('close', () => this.#finish());
    void this.#pump();
  }

  send(frames: readonly Frame[]): Promise<void> {
    try {
      validateFrames(frames, true);
      if (this.closedHere) throw closedError();
      if (this.brokenBy !== undefined) throw this.brokenBy;
    } catch (error) {
      return Promise.reject(error);
    }
    const count = frames.length;
    let total = 0;
    let host = true;
    for (const frame of frames) {
      total += frameLength(frame);
      if (!ArrayBuffer.isView(frame)) host = false;
    }
    if (count > MAX_FRAMES) return Promise.reject(outOfRange('frames.length', `<= ${MAX_FRAMES}`, count));
    const inline = host && fitsInline(count, total, transportDefaults.ucxInlineBytes);
    const header = encodeUcxHeader(frames, inline);
    // Every send is issued now, synchronously: concurrent send() calls cannot interleave their frames.
    const sends: Promise<void>[] = [this.endpoint.send(header)];
    if (!inline) for (const frame of frames) if (frameLength(frame) > 0) sends.push(this.endpoint.send(frame));
    const all = sends.length === 1 ? sends[0]! : Promise.all(sends);
    return all.then(
      () => undefined,
      (error: unknown) => {
        throw this.#mapError(error);
      },
    );
  }

  close(): Promise<void> {
    if (this.state !== 'open') return this.finished;
    this.beginClosing();
    void this.#closeGracefully();
    return this.finished;
  }

  abort(): void {
    if (this.state === 'closed') return;
    this.beginClosing();
    void this.endpoint.close({ force: true });
  }

  async #closeGracefully(): Promise<void> {
    // One bound for the whole close: the GOODBYE exchange and the endpoint's own close share it.
    const until = Date.now() + transportDefaults.closeTimeoutMs;
    // The peer's GOODBYE already came (it closes too): straight to the endpoint's graceful close.
    let answered = this.brokenBy === undefined || this.#peerSaidGoodbye;
    if (this.brokenBy === undefined) {
      // GOODBYE goes after everything sent before; the peer's pump answers once it has received all of it.
      const acked = new Promise<boolean>((resolve) => {
        this.#ackReceived = () => resolve(true);
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), transportDefaults.closeTimeoutMs);
      });
      answered = await Promise.race([
        this.endpoint.send(GOODBYE).then(
          () => acked,
          () => false,
        ),
        this.finished.then(() => false),
        timeout,
      ]);
      clearTimeout(timer);
    }
    // A peer that did not answer in time (frozen, gone) gets no second wait: force-close, which
    // rejects what UCX still holds for this endpoint (the pending sends) before close() resolves.
    await this.endpoint.close({ force: !answered, timeoutMs: Math.max(0, until - Date.now()) });
  }

  async #pump(): Promise<void> {
    const ep = this.endpoint;
    // One header buffer per connection, reused: a longer header fails the receive as truncated.
    const header = Buffer.allocUnsafe(UCX_HEADER_MAX);
    try {
      for (;;) {
        if (this.inbox.full) await this.inbox.waitDrain();
        const message = decodeUcxHeader(header, await ep.recv(header), this.limits);
        if (message.type === UcxMessageType.Goodbye) {
          // The peer closes: everything it sent is in the inbox. Say so, and refuse further sends.
          this.brokenBy ??= resetError('the peer closed the connection');
          this.#peerSaidGoodbye = true;
          this.inbox.end(this.brokenBy, true);
          ep.send(GOODBYE_ACK).catch(() => {});
          // Closing at the same time: the peer takes nothing more into its inbox, so our GOODBYE needs no ACK.
          this.#ackReceived?.();
          continue;
        }
        if (message.type === UcxMessageType.GoodbyeAck) {
          this.#ackReceived?.();
          continue;
        }
        let frames: Buffer[];
        if (message.type === UcxMessageType.Inline) {
          frames = message.frames;
        } else {
          // Each frame lands in a buffer of the size the header announced (a larger one fails as truncated).
          frames = message.sizes.map((size) => (size === 0 ? EMPTY : Buffer.allocUnsafe(size)));
          await Promise.all(frames.map((frame) => (frame.length === 0 ? 0 : ep.recv(frame))));
        }
        if (this.state === 'open') this.inbox.push(frames);
      }
    } catch (error) {
      if (error instanceof TransportError && error.code === 'ERR_TRANSPORT_PROTOCOL') {
        this.brokenBy ??= error;
        this.inbox.end(error, true);
        void ep.close({ force: true });
        return;
      }
      // The endpoint broke (peer died, reset) or was closed here, or the peer sent a frame longer than it said.
      const mapped = this.brokenBy ?? (error instanceof TransportError ? error : resetError((error as Error).message, error));
      if (this.state === 'open') this.brokenBy ??= mapped;
      this.inbox.end(this.state === 'open' ? mapped : closedError(), true);
      if (!ep.closed) void ep.close({ force: ep.error !== undefined });
    }
  }

  #mapError(error: unknown): Error {
    if (error instanceof TransportError) return error;
    if (this.closedHere) return closedError();
    if (this.brokenBy !== undefined) return this.brokenBy;
    if (error instanceof UCXError) {
      if (error.code === 'ERR_UCX_CLOSED') return resetError('the connection closed', error);
      if (error.code === 'UCS_ERR_MESSAGE_TRUNCATED' || error.code === 'UCS_ERR_UNSUPPORTED' || error.code.startsWith('ERR_')) {
        return error;
      }
      return resetError(error.message, error);
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  #finish(): void {
    if (this.state === 'closed') return;
    this.brokenBy ??= resetError('the connection closed');
    this.inbox.end(this.state === 'closing' ? closedError() : this.brokenBy, this.state !== 'closing');
    this.markClosed(this.brokenBy);
  }
}

/** A node-ucx Listener as a transport listener (ucx:// transport). */
export class UcxListener implements TransportListener {
  readonly scheme = 'ucx';
  readonly host: string;
  readonly port: number;
  readonly address: string;
  /** The node-ucx listener underneath. */
  readonly listener: Listener;

  /** @internal */
  constructor(listener: Listener, host: string) {
    this.listener = listener;
    this.host = host;
    this.port = listener.port;
    this.address = formatAddress('ucx', host, listener.port);
  }

  get closed(): boolean {
    return this.listener.closed;
  }

  close(): Promise<void> {
    return this.listener.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Options of {@link ucxTransport}. */
export interface UcxTransportOptions {
  /** The worker connections are made on and accepted by; default: node-ucx's defaultWorker(). */
  worker?: Worker;
}

/** The ucx:// transport: connections are node-ucx endpoints (client-server, through a UCX listener), frames travel as endpoint-scoped messages. */
export class UcxTransport implements Transport {
  readonly scheme = 'ucx';
  readonly #worker: Worker | undefined;

  constructor(opts: UcxTransportOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
    this.#worker = opts.worker;
  }

  /** The worker in use (the default worker is created on first use). */
  get worker(): Worker {
    return this.#worker ?? defaultWorker();
  }

  /** Connects to ucx://host:port. */
  async connect(url: string | URL, opts: ConnectOptions = {}): Promise<UcxConnection> {
    const { host, port } = parseAddress(url, 'ucx', true);
    validateRecvOptions(opts);
    const timeoutMs = opts.timeoutMs ?? transportDefaults.connectTimeoutMs;
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (opts.signal !== undefined) signals.push(opts.signal);
    const signal = AbortSignal.any(signals);
    let endpoint: Endpoint;
    try {
      endpoint = await this.worker.connect({ host, port }, { signal });
    } catch (error) {
      if (opts.signal?.aborted) throw new TransportAbortError({ cause: opts.signal.reason });
      // The core's message already names host:port ('cannot connect to H:P: nobody listens there ...').
      const reason = signal.aborted ? `timed out after ${timeoutMs} ms` : (error as Error).message.replace(/^cannot connect to [^:]+:\d+: /, '');
      throw new TransportError('ERR_TRANSPORT_CONNECT', `cannot connect to ucx://${host}:${port}: ${reason}`, { cause: error });
    }
    return new UcxConnection(endpoint, formatAddress('ucx', '0.0.0.0', 0), formatAddress('ucx', host, port));
  }

  async listen(url: string | URL, onConnection: ConnectionHandler): Promise<UcxListener> {
    const { host, port } = parseAddress(url, 'ucx');
    if (typeof onConnection !== 'function') throw invalidArgType('onConnection', 'of type function', onConnection);
    let local = '';
    const listener = await this.worker.listen({ host, port }, (endpoint) => {
      onConnection(new UcxConnection(endpoint, local, formatAddress('ucx', endpoint.peer, 0)));
    });
    const result = new UcxListener(listener, host);
    local = result.address;
    return result;
  }
}

/** The UCX transport (scheme 'ucx') on `opts.worker` or node-ucx's default worker. */
export function ucxTransport(opts: UcxTransportOptions = {}): UcxTransport {
  return new UcxTransport(opts);
}
