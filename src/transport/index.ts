// node-ucx/transport: the Transport interface, the UCX and TCP transports, and
// the registry that picks one by URL scheme. See docs/transport.md.
import { registerTransport, transportFor } from './registry.js';
import { ucxTransport } from './ucx.js';
import { tcpTransport } from './tcp.js';
import { inprocTransport } from './inproc.js';
import type { Connection, ConnectOptions, ConnectionHandler, TransportListener } from './types.js';

export {
  TransportError,
  type TransportErrorCode,
  type Transport,
  type Connection,
  type TransportListener,
  type Frame,
  type DeviceFrame,
  type ConnectOptions,
  type RecvOptions,
  type ConnectionHandler,
  type ParsedAddress,
  parseAddress,
  formatAddress,
} from './types.js';
export { registerTransport, transportFor, registeredSchemes } from './registry.js';
export { ucxTransport, UcxTransport, UcxConnection, UcxListener, type UcxTransportOptions } from './ucx.js';
export { tcpTransport, TcpTransport, TcpConnection, TcpListener } from './tcp.js';
export { inprocTransport, InprocTransport, InprocConnection, InprocListener } from './inproc.js';
export { transportDefaults } from './defaults.js';

registerTransport('ucx', () => ucxTransport());
registerTransport('tcp', () => tcpTransport());
registerTransport('inproc', () => inprocTransport());

/** Connects with the transport registered for the URL's scheme. */
export function connect(url: string | URL, opts?: ConnectOptions): Promise<Connection> {
  try {
    return transportFor(url).connect(url, opts);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Listens with the transport registered for the URL's scheme. */
export function listen(url: string | URL, onConnection: ConnectionHandler): Promise<TransportListener> {
  try {
    return transportFor(url).listen(url, onConnection);
  } catch (error) {
    return Promise.reject(error);
  }
}
