// The in-process transport (scheme 'inproc'): connections between parts of one
// process — a one-process cluster, tests — with the Transport contract and no
// network. `inproc://name:0` listens on the next free port of that name; a
// connection is a pair of inboxes. send() copies the frames (the sender may
// change them once send() resolves, as on every transport), and a message is in
// the peer's inbox before send() returns.
import { ConnectionBase } from './connection.js';
import {
  TransportError,
  TransportAbortError,
  closedError,
  resetError,
  validateFrames,
  validateRecvOptions,
  asBuffer,
  parseAddress,
  formatAddress,
  type Connection,
  type ConnectOptions,
  type ConnectionHandler,
  type Frame,
  type Transport,
  type TransportListener,
} from './types.js';
import { invalidArgType } from '../util/validate.js';

const EMPTY = Buffer.alloc(0);
/** Listeners of this process by 'host:port'. */
const listeners = new Map<string, InprocListener>();
let nextPort = 1;

export class InprocConnection extends ConnectionBase implements Connection {
  readonly scheme = 'inproc';
  readonly localAddress: string;
  readonly peerAddress: string;
  #peer: InprocConnection | undefined;

  /** @internal Made in pairs by InprocTransport.connect(). */
  constructor(localAddress: string, peerAddress: string) {
    super();
    this.localAddress = localAddress;
    this.peerAddress = peerAddress;
  }

  /** @internal */
  static pair(clientAddress: string, serverAddress: string): [InprocConnection, InprocConnection] {
    const client = new InprocConnection(clientAddress, serverAddress);
    const server = new InprocConnection(serverAddress, clientAddress);
    client.#peer = server;
    server.#peer = client;
    return [client, server];
  }

  send(frames: readonly Frame[]): Promise<void> {
    try {
      validateFrames(frames, false);
      if (this.closedHere) throw closedError();
      if (this.brokenBy !== undefined) throw this.brokenBy;
      const peer = this.#peer!;
      let total = 0;
      for (const frame of frames) total += (frame as ArrayBufferView).byteLength;
      if (total > peer.limits.maxMessageBytes) {
        // As on a network transport, the receiver drops a connection that breaks its limit.
        const error = new TransportError(
          'ERR_TRANSPORT_PROTOCOL',
          `not node-ucx transport framing: a message of more than ${peer.limits.maxMessageBytes} bytes`,
        );
        peer.#peerGone(error.message, true);
        this.#peerGone('the peer dropped the connection: it sent too large a message', false);
        throw error;
      }
      // One copy, into buffers the receiver owns.
      const copies = frames.map((frame) => {
        const view = frame as ArrayBufferView;
        return view.byteLength === 0 ? EMPTY : Buffer.from(asBuffer(view));
      });
      peer.#deliver(copies);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    if (this.state !== 'open') return this.finished;
    this.beginClosing();
    // Everything sent before is in the peer's inbox already: the peer sees the end after it.
    if (this.#peer !== undefined) this.#peer.#peerGone('the peer closed the connection', true);
    this.markClosed(undefined);
    return this.finished;
  }

  abort(): void {
    if (this.state === 'closed') return;
    this.beginClosing();
    if (this.#peer !== undefined) this.#peer.#peerGone('the peer aborted the connection', false);
    this.markClosed(undefined);
  }

  #deliver(message: Buffer[]): void {
    if (this.state === 'open') this.inbox.push(message);
  }

  #peerGone(reason: string, keepQueued: boolean): void {
    if (this.state === 'closed') return;
    const error = resetError(reason);
    this.brokenBy ??= error;
    this.inbox.end(this.state === 'open' ? error : closedError(), keepQueued);
    this.markClosed(error);
  }
}

/** A listener of the inproc:// transport (inside this process). */
export class InprocListener implements TransportListener {
  readonly scheme = 'inproc';
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly #onConnection: ConnectionHandler;
  #closed = false;

  /** @internal Made by InprocTransport.listen(). */
  constructor(host: string, port: number, onConnection: ConnectionHandler) {
    this.host = host;
    this.port = port;
    this.address = formatAddress('inproc', host, port);
    this.#onConnection = onConnection;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  accept(connection: InprocConnection): void {
    this.#onConnection(connection);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      listeners.delete(`${this.host}:${this.port}`);
    }
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The inproc:// transport: connections between two sides inside one process (for one-process clusters and tests). */
export class InprocTransport implements Transport {
  readonly scheme = 'inproc';

  /** Connects to an inproc:// listener of this process. */
  connect(url: string | URL, opts: ConnectOptions = {}): Promise<InprocConnection> {
    try {
      const { host, port } = parseAddress(url, 'inproc', true);
      validateRecvOptions(opts);
      if (opts.signal?.aborted) throw new TransportAbortError({ cause: opts.signal.reason });
      const listener = listeners.get(`${host}:${port}`);
      if (listener === undefined) {
        throw new TransportError('ERR_TRANSPORT_CONNECT', `cannot connect to inproc://${host}:${port}: nobody listens there in this process`);
      }
      const [client, server] = InprocConnection.pair(formatAddress('inproc', host, 0), listener.address);
      // The listener hears of it after connect() resolves, as with a network transport.
      queueMicrotask(() => {
        if (!listener.closed) listener.accept(server);
        else server.abort();
      });
      return Promise.resolve(client);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  listen(url: string | URL, onConnection: ConnectionHandler): Promise<InprocListener> {
    try {
      const parsed = parseAddress(url, 'inproc');
      if (typeof onConnection !== 'function') throw invalidArgType('onConnection', 'of type function', onConnection);
      const port = parsed.port === 0 ? nextPort++ : parsed.port;
      const key = `${parsed.host}:${port}`;
      if (listeners.has(key)) throw new TransportError('ERR_TRANSPORT_CONNECT', `inproc://${key} is taken`);
      const listener = new InprocListener(parsed.host, port, onConnection);
      listeners.set(key, listener);
      return Promise.resolve(listener);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** The in-process transport (scheme 'inproc'). */
export function inprocTransport(): InprocTransport {
  return new InprocTransport();
}
