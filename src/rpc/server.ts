// Joining: listenRpc() accepts connections that pass the join handshake and hands
// each as an RpcPeer; connectRpc() joins a server. A peer that fails the handshake
// is dropped before any handler runs, having been allowed a handshake's worth of
// bytes (HANDSHAKE_MAX_BYTES) and a few seconds.
import { transportFor } from '../transport/index.js';
import { transportDefaults } from '../transport/defaults.js';
import type { Connection, TransportListener } from '../transport/types.js';
import { acceptJoin, join, HANDSHAKE_MAX_BYTES, type Identity } from './handshake.js';
import { RpcPeer, type Router } from './peer.js';
import { RpcError } from './errors.js';

export interface RpcServerOptions {
  /** The shared cluster secret (32 random bytes, say); peers that do not know it are refused. */
  secret: Buffer;
  /** This process's role, sent to nobody but named in errors. */
  role: string;
  router: Router;
  /** A peer that joined. */
  onPeer: (peer: RpcPeer) => void;
  /** A peer that did not (wrong secret, garbage, timeout): it has been dropped already. */
  onRefused?: (error: RpcError, connection: Connection) => void;
  /** How long a peer has for the handshake (ms). */
  handshakeTimeoutMs?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/** Listens on `url` (ucx://, tcp://, inproc://): the server's name is its listener's address. */
export async function listenRpc(url: string, opts: RpcServerOptions): Promise<TransportListener> {
  const timeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  let self: Identity | undefined;
  const listener = await transportFor(url).listen(url, (connection) => {
    // Until it has joined, the peer may send a handshake's worth of bytes (no more is read or allocated).
    connection.maxMessageBytes = HANDSHAKE_MAX_BYTES;
    const identity = self ?? { name: url, role: opts.role };
    acceptJoin(connection, opts.secret, identity, timeoutMs).then(
      (joined) => {
        connection.maxMessageBytes = transportDefaults.maxMessageBytes;
        opts.onPeer(new RpcPeer(connection, joined, opts.router));
      },
      (error: unknown) => {
        connection.abort();
        const refused = error instanceof RpcError ? error : new RpcError('ERR_RPC_HANDSHAKE', (error as Error).message, { cause: error });
        opts.onRefused?.(refused, connection);
      },
    );
  });
  self = { name: listener.address, role: opts.role };
  return listener;
}

export interface ConnectRpcOptions {
  secret: Buffer;
  /** Who this side is, as the server will know it. */
  self: Identity;
  router: Router;
  timeoutMs?: number;
}

/** Joins the server at `url`; rejects with ERR_RPC_AUTH (wrong secret), ERR_RPC_HANDSHAKE or a transport error. */
export async function connectRpc(url: string, opts: ConnectRpcOptions): Promise<RpcPeer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const connection = await transportFor(url).connect(url, { timeoutMs });
  connection.maxMessageBytes = HANDSHAKE_MAX_BYTES;
  try {
    const joined = await join(connection, opts.secret, opts.self, timeoutMs);
    connection.maxMessageBytes = transportDefaults.maxMessageBytes;
    return new RpcPeer(connection, joined, opts.router);
  } catch (error) {
    connection.abort();
    throw error;
  }
}
