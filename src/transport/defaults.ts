// Transport defaults, in one place (read when an operation starts).
export const transportDefaults = {
  /** connect(): the longest to wait for a connection when ConnectOptions.timeoutMs is not given (ms). */
  connectTimeoutMs: 10_000,
  /** close(): the longest a graceful close waits for the peer before the connection is dropped (ms). */
  closeTimeoutMs: 5_000,
  /** UCX: messages whose frames add up to at most this many bytes travel inside the header message (one UCX send). */
  ucxInlineBytes: 8192,
};
