// The errors of the rpc layer. A handler's error travels back to the caller as
// ERR_RPC_REMOTE, with the remote name, message, code and stack (and its own
// `cause` chain flattened into the message).

export type RpcErrorCode =
  | 'ERR_RPC_HANDSHAKE' // the peer did not complete the join handshake (timeout, bad bytes)
  | 'ERR_RPC_AUTH' // wrong or no cluster secret
  | 'ERR_RPC_CLOSED' // the connection closed (here or by the peer) before the call was answered
  | 'ERR_RPC_UNKNOWN_OP' // the peer has no handler for the op
  | 'ERR_RPC_REMOTE' // the peer's handler threw
  | 'ERR_RPC_TIMEOUT' // no answer within the call's timeout
  | 'ERR_RPC_PROTOCOL'; // bytes that are not this protocol

export class RpcError extends Error {
  readonly code: RpcErrorCode;
  /** For ERR_RPC_REMOTE: the remote error's name, code and stack as the peer reported them. */
  readonly remote: { name: string; code?: string; stack?: string } | undefined;

  constructor(code: RpcErrorCode, message: string, options?: { cause?: unknown; remote?: RpcError['remote'] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RpcError';
    this.code = code;
    this.remote = options?.remote;
  }
}

/** What goes on the wire for a handler's error. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  [field: string]: unknown;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const wire: WireError = { name: error.name, message: error.message };
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') wire.code = code;
    if (typeof error.stack === 'string') wire.stack = error.stack;
    return wire;
  }
  return { name: 'Error', message: String(error) };
}

export function fromWireError(wire: unknown, op: string): RpcError {
  const w = (typeof wire === 'object' && wire !== null ? wire : {}) as Partial<WireError>;
  const name = typeof w.name === 'string' ? w.name : 'Error';
  const message = typeof w.message === 'string' ? w.message : String(wire);
  const remote = { name, ...(typeof w.code === 'string' ? { code: w.code } : {}), ...(typeof w.stack === 'string' ? { stack: w.stack } : {}) };
  if (w.code === 'ERR_RPC_UNKNOWN_OP') return new RpcError('ERR_RPC_UNKNOWN_OP', `${op}: ${message}`, { remote });
  return new RpcError('ERR_RPC_REMOTE', `${op}: ${name}: ${message}`, { remote });
}
