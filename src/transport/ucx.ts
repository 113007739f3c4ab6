// The UCX transport: a Connection is one node-ucx Endpoint (client-server,
// through a UCX listener) carrying endpoint-scoped messages. Framing and the
// close handshake are in docs/transport.md:
//
//   header message: u32 magic 'NUTU' · u8 version 1 · u8 type · u16 0 · u32 frame count n · n × u64 sizes
//                   [type INLINE: followed by the frames' bytes]
//   type DATA:      then one endpoint message per non-empty frame, in order
//   type GOODBYE:   the sender closes; answered with GOODBYE_ACK once everything before it was received
//
// A receive loop (the pump) keeps a receive posted at all times and moves
// arrived messages into the inbox, so that what the peer sent before it closed
// is never left in UCX's unexpected queue when the endpoint goes away.
import { defaultWorker, UCXError, type Worker, type Endpoint, type Listener } from '../index.js';
import { invalidArgType, outOfRange } from '../util/validate.js';
import { ConnectionBase } from './connection.js';
import {
  TransportError, TransportAbortError, closedError, resetError, validateFrames, validateRecvOptions, frameLength,
  asBuffer, parseAddress, formatAddress,
  type Connection, type ConnectOptions, type ConnectionHandler, type Frame, type Transport,
  type TransportListener,
} from './types.js';
import { transportDefaults } from './defaults.js';

const MAGIC = 0x5554554e; // 'NUTU'
const VERSION = 1;
const HEADER = 12;
/** The largest header: 12 bytes, 8 per frame, and inline frames (at most transportDefaults.ucxInlineBytes). */
const HEADER_MAX = 65536;
/** Frames one message may have (so that its header fits HEADER_MAX). */
export const MAX_FRAMES = Math.floor((HEADER_MAX - HEADER) / 8) - 1;
const TYPE_DATA = 1;
const TYPE_INLINE = 2;
const TYPE_GOODBYE = 3;
const TYPE_GOODBYE_ACK = 4;
const EMPTY = Buffer.alloc(0);

function controlMessage(type: number): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt8(VERSION, 4);
  header.writeUInt8(type, 5);
  return header;
}
const GOODBYE = controlMessage(TYPE_GOODBYE);
const GOODBYE_ACK = controlMessage(TYPE_GOODBYE_ACK);

export class UcxConnection extends ConnectionBase implements Connection {
  readonly scheme = 'ucx';
  readonly localAddress: string;
  readonly peerAddress: string;
  /** The node-ucx endpoint underneath (for info(), RMA, or raw operations next to the messages). */
  readonly endpoint: Endpoint;
  #ackReceived: (() => void) | undefined;

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
    const inline = host && total <= Math.min(transportDefaults.ucxInlineBytes, HEADER_MAX - HEADER - 8 * count);
    const header = Buffer.allocUnsafe(HEADER + 8 * count + (inline ? total : 0));
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt8(VERSION, 4);
    header.writeUInt8(inline ? TYPE_INLINE : TYPE_DATA, 5);
    header.writeUInt16LE(0, 6);
    header.writeUInt32LE(count, 8);
    let offset = HEADER + 8 * count;
    for (let i = 0; i < count; i++) {
      const frame = frames[i]!;
      header.writeBigUInt64LE(BigInt(frameLength(frame)), HEADER + 8 * i);
      if (inline) offset += asBuffer(frame as ArrayBufferView).copy(header, offset);
    }
    // Every send is issued now, synchronously: concurrent send() calls cannot interleave their frames.
    const sends: Promise<void>[] = [this.endpoint.send(header)];
    if (!inline) for (const frame of frames) if (frameLength(frame) > 0) sends.push(this.endpoint.send(frame));
    const all = sends.length === 1 ? sends[0]! : Promise.all(sends);
    return all.then(() => undefined, (error: unknown) => { throw this.#mapError(error); });
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
    if (this.brokenBy === undefined) {
      // GOODBYE goes after everything sent before; the peer's pump answers once it has received all of it.
      const acked = new Promise<void>((resolve) => { this.#ackReceived = resolve; });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, transportDefaults.closeTimeoutMs); });
      await Promise.race([
        this.endpoint.send(GOODBYE).then(() => acked, () => undefined),
        this.finished,
        timeout,
      ]);
      clearTimeout(timer);
    }
    await this.endpoint.close();
  }

  async #pump(): Promise<void> {
    const ep = this.endpoint;
    // One header buffer per connection, reused: a header never exceeds HEADER_MAX by construction.
    const header = Buffer.allocUnsafe(HEADER_MAX);
    try {
      for (;;) {
        if (this.inbox.full) await this.inbox.waitDrain();
        // The header describes its own length (count, sizes, inline flag).
        await ep.recv(header);
        if (header.readUInt32LE(0) !== MAGIC || header.readUInt8(4) !== VERSION) {
          throw new TransportError('ERR_TRANSPORT_PROTOCOL', 'not node-ucx transport framing (bad header)');
        }
        const type = header.readUInt8(5);
        if (type === TYPE_GOODBYE) {
          // The peer closes: everything it sent is in the inbox. Say so, and refuse further sends.
          this.brokenBy ??= resetError('the peer closed the connection');
          this.inbox.end(this.brokenBy, true);
          ep.send(GOODBYE_ACK).catch(() => {});
          continue;
        }
        if (type === TYPE_GOODBYE_ACK) {
          this.#ackReceived?.();
          continue;
        }
        if (type !== TYPE_DATA && type !== TYPE_INLINE) throw new TransportError('ERR_TRANSPORT_PROTOCOL', `unknown message type ${type}`);
        const count = header.readUInt32LE(8);
        if (HEADER + 8 * count > HEADER_MAX) throw new TransportError('ERR_TRANSPORT_PROTOCOL', `${count} frames`);
        const sizes: number[] = [];
        let total = 0;
        for (let i = 0; i < count; i++) {
          const size = Number(header.readBigUInt64LE(HEADER + 8 * i));
          sizes.push(size);
          total += size;
        }
        let frames: Buffer[];
        if (type === TYPE_INLINE) {
          const start = HEADER + 8 * count;
          if (start + total > HEADER_MAX) throw new TransportError('ERR_TRANSPORT_PROTOCOL', 'inline frames overflow the header');
          // One copy out of the reused header buffer; the frames are views of it.
          const bytes = Buffer.from(header.subarray(start, start + total));
          frames = [];
          let offset = 0;
          for (const size of sizes) {
            frames.push(size === 0 ? EMPTY : bytes.subarray(offset, offset + size));
            offset += size;
          }
        } else {
          // Each frame lands in a buffer of the size the header announced (a larger one would fail as truncated).
          frames = sizes.map((size) => (size === 0 ? EMPTY : Buffer.allocUnsafe(size)));
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
      // The endpoint broke (peer died, reset) or was closed here.
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

  get closed(): boolean { return this.listener.closed; }

  close(): Promise<void> { return this.listener.close(); }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export interface UcxTransportOptions {
  /** The worker connections are made on and accepted by; default: node-ucx's defaultWorker(). */
  worker?: Worker;
}

export class UcxTransport implements Transport {
  readonly scheme = 'ucx';
  readonly #worker: Worker | undefined;

  constructor(opts: UcxTransportOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
    this.#worker = opts.worker;
  }

  /** The worker in use (the default worker is created on first use). */
  get worker(): Worker { return this.#worker ?? defaultWorker(); }

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
      const reason = signal.aborted ? `timed out after ${timeoutMs} ms` : (error as Error).message;
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
