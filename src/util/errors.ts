// The errors node-ucx raises. UCX failures are UCXError with the UCS status
// name as `code`; bad arguments are Node-style TypeError / RangeError.
// No side effects and no addon: src/native.ts hands UCXError to the addon once it has loaded it.

/**
 * A failure UCX reported (its UCS status name as `code`, e.g. 'UCS_ERR_CONNECTION_RESET'), or one of
 * node-ucx's own ('ERR_UCX_CLOSED', ...). Bad arguments are TypeError/RangeError with Node-style codes instead.
 */
export class UCXError extends Error {
  /** The UCS status name (e.g. 'UCS_ERR_CONNECTION_RESET'), or an ERR_UCX_* code of node-ucx's own. */
  readonly code: string;
  /** The numeric ucs_status_t (negative); for ERR_UCX_* codes, the closest UCS status. */
  readonly status: number;

  constructor(message: string, code: string, status: number) {
    super(message);
    this.name = 'UCXError';
    this.code = code;
    this.status = status;
  }
}

/** UCS status numbers node-ucx itself refers to. */
export const Status = {
  OK: 0,
  ERR_INVALID_PARAM: -5,
  ERR_INVALID_ADDR: -7,
  ERR_MESSAGE_TRUNCATED: -9,
  ERR_CANCELED: -16,
  ERR_TIMED_OUT: -20,
  ERR_UNSUPPORTED: -22,
  ERR_REJECTED: -23,
  ERR_NOT_CONNECTED: -24,
  ERR_CONNECTION_RESET: -25,
  ERR_ENDPOINT_TIMEOUT: -80,
} as const;

/** Using a closed Context / Worker / Listener / Endpoint. */
export function closedError(what: string): UCXError {
  return new UCXError(`the ${what} is closed`, 'ERR_UCX_CLOSED', Status.ERR_CANCELED);
}

export function timeoutError(what: string, ms: number): UCXError {
  return new UCXError(`${what} timed out after ${ms} ms`, 'UCS_ERR_TIMED_OUT', Status.ERR_TIMED_OUT);
}

/** Like Node's own AbortError (fs, timers, events): name 'AbortError', code 'ABORT_ERR'. */
export class AbortError extends Error {
  /** Always 'ABORT_ERR', as Node's own. */
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

export function isCanceled(error: unknown): boolean {
  return error instanceof UCXError && error.code === 'UCS_ERR_CANCELED';
}
