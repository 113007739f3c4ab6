// The TCP transport: node:net with length-prefixed framing. It runs anywhere
// (no UCX needed, no native code loaded) and is the baseline the UCX transport
// is measured against. Framing, per message (little-endian):
//
//   u32 magic 'NUTC' (0x4354554e) · u32 frame count n · n × u64 frame sizes · the frames' bytes
//
// Host memory only: a DeviceMemory frame is refused with ERR_TRANSPORT_UNSUPPORTED.
import net from 'node:net';
import { ConnectionBase } from './connection.js';
import {
  TransportError, TransportAbortError, closedError, resetError, validateFrames, validateRecvOptions, asBuffer,
  parseAddress, formatAddress, type Connection, type ConnectOptions, type ConnectionHandler, type Frame,
  type Transport, type TransportListener,
} from './types.js';
import { transportDefaults } from './defaults.js';

const MAGIC = 0x4354554e;
const PREAMBLE = 8;
/** A sanity bound on frames per message, so that garbage on the wire is caught before it allocates. */
const MAX_FRAMES = 1 << 20;
const MAX_FRAME = 2 ** 32;
const EMPTY = Buffer.alloc(0);

type ParseState =
  | { kind: 'preamble' }
  | { kind: 'sizes'; count: number }
  | { kind: 'frames'; sizes: number[]; frames: Buffer[]; index: number; filled: number };

export class TcpConnection extends ConnectionBase implements Connection {
  readonly scheme = 'tcp';
  readonly localAddress: string;
  readonly peerAddress: string;
  readonly #socket: net.Socket;
  // receive parser
  #chunks: Buffer[] = [];
  #available = 0;
  #parse: ParseState = { kind: 'preamble' };

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
    const header = Buffer.allocUnsafe(PREAMBLE + 8 * frames.length);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt32LE(frames.length, 4);
    for (let i = 0; i < frames.length; i++) header.writeBigUInt64LE(BigInt((frames[i] as ArrayBufferView).byteLength), PREAMBLE + 8 * i);
    return new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => {
        if (!error) resolve();
        else reject(this.closedHere ? closedError() : this.brokenBy ?? resetError(error.message, error));
      };
      const socket = this.#socket;
      socket.cork();
      const last = frames.length - 1;
      // The frames go to the kernel as they are (writev), no copy; the promise resolves once they are written.
      let lastWrite = -1;
      for (let i = last; i >= 0; i--) if ((frames[i] as ArrayBufferView).byteLength > 0) { lastWrite = i; break; }
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

  ref(): this {
    this.#socket.ref();
    return this;
  }

  #broken(error: TransportError): void {
    if (this.brokenBy !== undefined) return;
    this.brokenBy = error;
    this.inbox.end(this.state === 'open' ? error : closedError(), this.state === 'open');
  }

  #protocolError(reason: string): void {
    const error = new TransportError('ERR_TRANSPORT_PROTOCOL', `not node-ucx tcp framing: ${reason}`);
    this.brokenBy ??= error;
    this.inbox.end(error, true);
    this.#socket.destroy();
  }

  // ---- receive parser ----

  #onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    this.#chunks.push(chunk);
    this.#available += chunk.length;
    for (;;) {
      const state = this.#parse;
      if (state.kind === 'preamble') {
        if (this.#available < PREAMBLE) return;
        const preamble = this.#take(PREAMBLE);
        if (preamble.readUInt32LE(0) !== MAGIC) return this.#protocolError('bad magic');
        const count = preamble.readUInt32LE(4);
        if (count > MAX_FRAMES) return this.#protocolError(`${count} frames`);
        if (count === 0) this.#deliver([]);
        else this.#parse = { kind: 'sizes', count };
      } else if (state.kind === 'sizes') {
        if (this.#available < 8 * state.count) return;
        const raw = this.#take(8 * state.count);
        const sizes: number[] = [];
        for (let i = 0; i < state.count; i++) {
          const size = raw.readBigUInt64LE(8 * i);
          if (size > BigInt(MAX_FRAME)) return this.#protocolError(`a frame of ${size} bytes`);
          sizes.push(Number(size));
        }
        this.#parse = { kind: 'frames', sizes, frames: [], index: 0, filled: 0 };
        this.#skipEmpty();
      } else {
        if (state.index >= state.sizes.length) {
          this.#parse = { kind: 'preamble' };
          this.#deliver(state.frames);
          continue;
        }
        if (this.#available === 0) return;
        const size = state.sizes[state.index]!;
        if (state.filled === 0 && this.#available >= size) {
          state.frames.push(this.#take(size));
          state.index++;
        } else {
          // A large frame arrives over many chunks: copy each into its final buffer as it comes.
          if (state.filled === 0) state.frames.push(Buffer.allocUnsafe(size));
          const target = state.frames[state.index]!;
          state.filled += this.#copyInto(target, state.filled);
          if (state.filled < size) return;
          state.filled = 0;
          state.index++;
        }
        this.#skipEmpty();
      }
    }
  }

  #skipEmpty(): void {
    const state = this.#parse;
    if (state.kind !== 'frames') return;
    while (state.index < state.sizes.length && state.sizes[state.index] === 0 && state.filled === 0) {
      state.frames.push(EMPTY);
      state.index++;
    }
  }

  #deliver(frames: Buffer[]): void {
    this.inbox.push(frames);
    if (this.inbox.full && !this.#socket.isPaused()) {
      this.#socket.pause();
      void this.inbox.waitDrain().then(() => { if (!this.#socket.destroyed) this.#socket.resume(); });
    }
  }

  /** Takes exactly n bytes off the front of the received chunks (n <= available); copies only across chunk edges. */
  #take(n: number): Buffer {
    this.#available -= n;
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      // Copy small pieces out of a big chunk, so that a tiny frame does not pin a 64 KiB read buffer.
      return n < 4096 ? Buffer.from(first.subarray(0, n)) : first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const want = n - offset;
      if (chunk.length <= want) {
        chunk.copy(out, offset);
        offset += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(out, offset, 0, want);
        this.#chunks[0] = chunk.subarray(want);
        offset += want;
      }
    }
    return out;
  }

  #copyInto(target: Buffer, at: number): number {
    let copied = 0;
    while (this.#chunks.length > 0 && at + copied < target.length) {
      const chunk = this.#chunks[0]!;
      const want = target.length - at - copied;
      if (chunk.length <= want) {
        chunk.copy(target, at + copied);
        copied += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(target, at + copied, 0, want);
        this.#chunks[0] = chunk.subarray(want);
        copied += want;
      }
    }
    this.#available -= copied;
    return copied;
  }
}

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

  get closed(): boolean { return this.#closed; }

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

export class TcpTransport implements Transport {
  readonly scheme = 'tcp';

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
      const timer = setTimeout(() => fail(new TransportError('ERR_TRANSPORT_CONNECT', `connect to tcp://${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
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
      if (typeof onConnection !== 'function') throw Object.assign(new TypeError('The "onConnection" argument must be of type function'), { code: 'ERR_INVALID_ARG_TYPE' });
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
