// The TCP transport: node:net with length-prefixed framing (framing.ts). It runs
// anywhere (no UCX needed, no native code loaded) and is the baseline the UCX
// transport is measured against.
//
// Host memory only: a DeviceMemory frame is refused with ERR_TRANSPORT_UNSUPPORTED.
import net from 'node:net';
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
import { transportDefaults } from './defaults.js';
import { TcpFrameDecoder, encodeTcpHeader } from './framing.js';

export class TcpConnection extends ConnectionBase implements Connection {
  readonly scheme = 'tcp';
  readonly localAddress: string;
  readonly peerAddress: string;
  readonly #socket: net.Socket;
  readonly #decoder = new TcpFrameDecoder(this.limits);

  /** @internal Made by tcpTransport().connect() and its listener. */
  constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
    socket.setNoDelay(true);
    this.localAddress = formatAddress('tcp', socket.localAddress ?? '0.0.0.0', socket.localPort ?? 0);
    this.peerAddress = formatAddress('tcp', socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#broken(resetError('the peer closed the connection')));
    socket.on('error', (error) => this.#broken(resetError(error.message, error)));
    socket.on('close', () => {
      this.#broken(resetError('the connection closed'));
      this.markClosed(this.brokenBy);
    });
  }

  send(frames: readonly Frame[]): Promise<void> {
    try {
      validateFrames(frames, false);
      if (this.closedHere) throw closedError();
      if (this.brokenBy !== undefined) throw this.brokenBy;
    } catch (error) {
      return Promise.reject(error);
    }
    const header = encodeTcpHeader(frames as readonly ArrayBufferView[]);
    return new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => {
        if (!error) resolve();
        else reject(this.closedHere ? closedError() : (this.brokenBy ?? resetError(error.message, error)));
      };
      const socket = this.#socket;
      socket.cork();
      const last = frames.length - 1;
      // The frames go to the kernel as they are (writev), no copy; the promise resolves once they are written.
      let lastWrite = -1;
      for (let i = last; i >= 0; i--)
        if ((frames[i] as ArrayBufferView).byteLength > 0) {
          lastWrite = i;
          break;
        }
      socket.write(header, lastWrite < 0 ? done : undefined);
      for (let i = 0; i <= lastWrite; i++) {
        const view = frames[i] as ArrayBufferView;
        if (view.byteLength > 0) socket.write(asBuffer(view), i === lastWrite ? done : undefined);
      }
      socket.uncork();
    });
  }

  close(): Promise<void> {
    if (this.state === 'open') {
      this.beginClosing();
      if (this.#socket.destroyed) {
        this.markClosed(this.brokenBy);
      } else {
        // FIN after what was written; the peer reads it all, then sees the end.
        this.#socket.end();
        const timer = setTimeout(() => this.#socket.destroy(), transportDefaults.closeTimeoutMs);
        timer.unref();
        void this.finished.then(() => clearTimeout(timer));
      }
    }
    return this.finished;
  }

  abort(): void {
    if (this.state === 'closed') return;
    this.beginClosing();
    // RST: the peer's pending receives fail at once; nothing more is delivered. Once a FIN went either way
    // there is no connection left to reset, and Node (20.x) then never finishes closing a reset socket's
    // handle: the process spins forever at exit. A plain destroy() does.
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (socket.readableEnded || socket.writableEnded) socket.destroy();
    else socket.resetAndDestroy();
  }

  /** Lets the process exit while only this connection is open (like socket.unref()). */
  unref(): this {
    this.#socket.unref();
    return this;
  }

  /** Undoes unref(): the connection keeps the process alive again. */
  ref(): this {
    this.#socket.ref();
    return this;
  }

  #broken(error: TransportError): void {
    if (this.brokenBy !== undefined) return;
    this.brokenBy = error;
    this.inbox.end(this.state === 'open' ? error : closedError(), this.state === 'open');
  }

  #protocolError(error: TransportError): void {
    this.brokenBy ??= error;
    this.inbox.end(error, true);
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    let messages: Buffer[][];
    try {
      messages = this.#decoder.push(chunk);
    } catch (error) {
      this.#protocolError(error as TransportError);
      return;
    }
    for (const frames of messages) this.#deliver(frames);
  }

  #deliver(frames: Buffer[]): void {
    this.inbox.push(frames);
    if (this.inbox.full && !this.#socket.isPaused()) {
      this.#socket.pause();
      void this.inbox.waitDrain().then(() => {
        if (!this.#socket.destroyed) this.#socket.resume();
      });
    }
  }
}

/** A TCP listener (node:net server) of the tcp:// transport. */
export class TcpListener implements TransportListener {
  readonly scheme = 'tcp';
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly #server: net.Server;
  #closed = false;

  /** @internal */
  constructor(server: net.Server, host: string) {
    this.#server = server;
    const bound = server.address() as net.AddressInfo;
    this.host = host;
    this.port = bound.port;
    this.address = formatAddress('tcp', host, bound.port);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Stops accepting at once; accepted connections stay open (server.close's callback would wait for them).
      this.#server.close();
    }
    return Promise.resolve();
  }

  /** Lets the process exit while only this listener is open. */
  unref(): this {
    this.#server.unref();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The tcp:// transport: node:net sockets with length-prefixed frames. Host memory only; no native code. */
export class TcpTransport implements Transport {
  readonly scheme = 'tcp';

  /** Connects to tcp://host:port. */
  connect(url: string | URL, opts: ConnectOptions = {}): Promise<TcpConnection> {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddress(url, 'tcp', true));
      validateRecvOptions(opts);
    } catch (error) {
      return Promise.reject(error);
    }
    const timeoutMs = opts.timeoutMs ?? transportDefaults.connectTimeoutMs;
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new TransportAbortError({ cause: signal.reason }));
    return new Promise<TcpConnection>((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const fail = (error: Error): void => {
        cleanup();
        socket.destroy();
        reject(error);
      };
      const onError = (error: Error): void =>
        fail(new TransportError('ERR_TRANSPORT_CONNECT', `cannot connect to tcp://${host}:${port}: ${error.message}`, { cause: error }));
      const onAbort = (): void => fail(new TransportAbortError({ cause: signal?.reason }));
      const timer = setTimeout(
        () => fail(new TransportError('ERR_TRANSPORT_CONNECT', `connect to tcp://${host}:${port} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        cleanup();
        resolve(new TcpConnection(socket));
      });
    });
  }

  listen(url: string | URL, onConnection: ConnectionHandler): Promise<TcpListener> {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddress(url, 'tcp'));
      if (typeof onConnection !== 'function')
        throw Object.assign(new TypeError('The "onConnection" argument must be of type function'), { code: 'ERR_INVALID_ARG_TYPE' });
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<TcpListener>((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (socket) => {
        const connection = new TcpConnection(socket);
        onConnection(connection);
      });
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        // An accept that fails later (EMFILE...) must not crash the process.
        server.on('error', () => {});
        resolve(new TcpListener(server, host));
      });
    });
  }
}

/** The TCP transport (scheme 'tcp'). */
export function tcpTransport(): TcpTransport {
  return new TcpTransport();
}
