// The Transport interface: a small, message-oriented contract in the spirit of
// Dask's Comm / Listener / Backend, so that a higher layer (the MPI shim, a task
// scheduler) can pick a transport by URL and never see which one it got.
//
// This module loads no native code (it imports only util/): the TCP transport
// and the launcher use it without the addon.
import type { EventEmitter } from 'node:events';
import { invalidArgType, outOfRange, validateAbortSignal, validateObject } from '../util/validate.js';
import type { DeviceMemory } from '../util/data.js';

/** Device memory, as node-ucx describes it (the core API's DeviceMemory). */
export type DeviceFrame = DeviceMemory;
/** One frame of a message: host memory (any ArrayBufferView) or device memory. */
export type Frame = ArrayBufferView | DeviceFrame;

/** Options of {@link Transport.connect} and the module's connect(). */
export interface ConnectOptions {
  /** Cancels the attempt: the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** The longest to wait for the connection (ms); default: defaults.connectTimeoutMs of the transport. */
  timeoutMs?: number;
}

/** Options of {@link Connection.recv}. */
export interface RecvOptions {
  /** Stops waiting: the promise rejects with an AbortError and the next message stays queued. */
  signal?: AbortSignal;
}

/**
 * One bidirectional, message-oriented connection. A message is a list of
 * frames; it arrives whole, in order, as a list of Buffers of the same sizes.
 *
 * Every promise settles: close() and abort() reject what is pending with
 * ERR_TRANSPORT_CLOSED; the peer closing, aborting or dying rejects it with
 * ERR_TRANSPORT_RESET (after the messages that arrived before are delivered).
 */
export interface Connection extends EventEmitter, AsyncIterable<Buffer[]>, AsyncDisposable {
  /** 'ucx', 'tcp', ... */
  readonly scheme: string;
  /** This side, as a URL ('tcp://127.0.0.1:41234'); the port is 0 where the transport does not know it. */
  readonly localAddress: string;
  /** The other side, as a URL. */
  readonly peerAddress: string;
  /** True once close() or abort() was called, or the connection broke. */
  readonly closed: boolean;
  /**
   * The most bytes one message from the peer may announce; more breaks the connection with
   * ERR_TRANSPORT_PROTOCOL before anything is allocated (default transportDefaults.maxMessageBytes).
   */
  maxMessageBytes: number;
  /** Sends one message. Resolves when the frames may be reused; messages keep the order of the send() calls. */
  send(frames: readonly Frame[]): Promise<void>;
  /** The next message, as one Buffer per frame (zero-length frames included). */
  recv(opts?: RecvOptions): Promise<Buffer[]>;
  /** Graceful: messages already sent reach the peer, then the connection closes. Idempotent. */
  close(): Promise<void>;
  /** At once: pending and unsent messages are dropped, the peer sees a reset. Idempotent. */
  abort(): void;
  /** Resolves once the connection is closed for whatever reason; never rejects. */
  readonly finished: Promise<void>;
  /** `for await (const frames of connection)`: each message until the connection closes (here or by the peer). */
  [Symbol.asyncIterator](): AsyncIterator<Buffer[]>;
  /** `await using connection = await connect(url)`: close() at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
  // events: 'close' (error: TransportError | null): null after a local close()/abort()
}

/** A listening transport: accepted connections go to the handler given to listen(). */
export interface TransportListener {
  /** The URL scheme ('ucx', 'tcp', 'inproc'). */
  readonly scheme: string;
  /** The URL peers connect to, with the real port (also when port 0 was asked for). */
  readonly address: string;
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on (the real one when 0 was asked for). */
  readonly port: number;
  /** True once close() was called. */
  readonly closed: boolean;
  /** Stops accepting; connections already accepted stay open. Idempotent. */
  close(): Promise<void>;
  /** `await using listener = await listen(url, handler)`: closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Receives each connection a listener accepts. */
export type ConnectionHandler = (connection: Connection) => void;

/** A way of making connections, for one URL scheme: ucxTransport(), tcpTransport(), inprocTransport(), or one of your own (registerTransport). */
export interface Transport {
  /** The URL scheme this transport serves, without the colon: 'ucx', 'tcp'. */
  readonly scheme: string;
  /** Connects to `scheme://host:port`; rejects with ERR_TRANSPORT_CONNECT when nobody listens there. */
  connect(url: string | URL, opts?: ConnectOptions): Promise<Connection>;
  /** Listens on `scheme://host:port` (port 0: any free port) and hands each accepted connection to `onConnection`. */
  listen(url: string | URL, onConnection: ConnectionHandler): Promise<TransportListener>;
}

/** What went wrong with a connection, the same codes on every transport. */
export type TransportErrorCode =
  | 'ERR_TRANSPORT_CLOSED' // this side closed or aborted the connection
  | 'ERR_TRANSPORT_RESET' // the peer closed, aborted or died, or the link broke
  | 'ERR_TRANSPORT_CONNECT' // connect() failed (refused, unreachable, timed out)
  | 'ERR_TRANSPORT_PROTOCOL' // the bytes on the wire are not this transport's framing
  | 'ERR_TRANSPORT_UNSUPPORTED'; // e.g. device memory on a transport that moves only host memory

/** What transports reject and emit with; `code` says what happened, the same on every transport. */
export class TransportError extends Error {
  /** What happened (see {@link TransportErrorCode}). */
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

export function closedError(what = 'connection'): TransportError {
  return new TransportError('ERR_TRANSPORT_CLOSED', `the ${what} is closed`);
}

export function resetError(reason: string, cause?: unknown): TransportError {
  return new TransportError('ERR_TRANSPORT_RESET', `the peer went away: ${reason}`, cause === undefined ? undefined : { cause });
}

/** Like Node's AbortError: name 'AbortError', code 'ABORT_ERR'. */
export class TransportAbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(options?: { cause?: unknown }) {
    super('The operation was aborted', options);
    this.name = 'AbortError';
  }
}

// ---- argument checks (util/validate.ts: the same errors as the core API) ----

function isDeviceFrame(value: unknown): value is DeviceFrame {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Partial<DeviceFrame>;
  return typeof d.ptr === 'bigint' && typeof d.length === 'number' && typeof d.memoryType === 'string';
}

/** Checks send()'s argument: an array of ArrayBufferViews and DeviceFrames. */
export function validateFrames(frames: unknown, allowDevice: boolean): asserts frames is readonly Frame[] {
  if (!Array.isArray(frames)) throw invalidArgType('frames', 'an array of ArrayBufferView or DeviceMemory', frames);
  for (let i = 0; i < frames.length; i++) {
    const frame: unknown = frames[i];
    if (ArrayBuffer.isView(frame)) continue;
    if (isDeviceFrame(frame)) {
      if (!allowDevice) {
        throw new TransportError('ERR_TRANSPORT_UNSUPPORTED', `frames[${i}] is ${frame.memoryType} device memory; this transport moves host memory only`);
      }
      continue;
    }
    throw invalidArgType(`frames[${i}]`, 'an ArrayBufferView or DeviceMemory', frame);
  }
}

export function frameLength(frame: Frame): number {
  return ArrayBuffer.isView(frame) ? frame.byteLength : frame.length;
}

/** A Buffer over the same bytes as a host frame (no copy). */
export function asBuffer(view: ArrayBufferView): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

export function validateRecvOptions(opts: unknown): asserts opts is RecvOptions {
  validateObject(opts, 'opts');
  validateAbortSignal(opts.signal, 'opts.signal');
}

// ---- URLs -------------------------------------------------------------------

/** A transport URL taken apart by {@link parseAddress}. */
export interface ParsedAddress {
  /** The scheme, without the colon. */
  scheme: string;
  /** The host (IPv6 without brackets). */
  host: string;
  /** The port (0 when the URL has none). */
  port: number;
}

/** Parses 'scheme://host:port' (IPv6 hosts in brackets). A missing port is 0 for listen() and an error for connect(). */
export function parseAddress(url: string | URL, expectScheme?: string, portRequired = false): ParsedAddress {
  let parsed: URL;
  if (url instanceof URL) parsed = url;
  else if (typeof url === 'string') {
    try {
      parsed = new URL(url);
    } catch {
      throw Object.assign(new TypeError(`Invalid transport address: '${url}' (expected scheme://host:port)`), { code: 'ERR_INVALID_URL' });
    }
  } else {
    throw invalidArgType('url', 'of type string or an instance of URL', url);
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (expectScheme !== undefined && scheme !== expectScheme) {
    throw Object.assign(new TypeError(`The ${expectScheme} transport cannot use '${parsed.href}' (scheme ${scheme}:)`), { code: 'ERR_INVALID_URL_SCHEME' });
  }
  let host = parsed.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw Object.assign(new TypeError(`Invalid transport address: '${parsed.href}' has no host`), { code: 'ERR_INVALID_URL' });
  const port = parsed.port === '' ? 0 : Number(parsed.port);
  if (portRequired && port === 0) throw outOfRange('port of the address', '>= 1 and <= 65535', `${parsed.href}`);
  return { scheme, host, port };
}

/** The URL of `host:port` for `scheme`, with IPv6 hosts bracketed: formatAddress('tcp', '::1', 80) is 'tcp://[::1]:80'. */
export function formatAddress(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
