// node-ucx's rpc layer (internal to the scheduler; see docs/scheduler.md): one
// authenticated connection per pair of processes, handlers by op, batches per
// event-loop turn, request/response, a pool.
export { RpcPeer, Router, type Handler, type CallOptions } from './peer.js';
export { listenRpc, connectRpc, type RpcServerOptions, type ConnectRpcOptions, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './server.js';
export { RpcPool } from './pool.js';
export { RpcError, type RpcErrorCode, type WireError, toWireError, fromWireError } from './errors.js';
export { HANDSHAKE_MAX_BYTES, type Identity, type Joined } from './handshake.js';
