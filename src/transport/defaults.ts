// Transport defaults, in one place (read when an operation starts; checked when assigned).
import { defineSettings, integerIn, MAX_TIMEOUT_MS } from '../util/settings.js';

export const transportDefaults = defineSettings('transportDefaults', {
  /** connect(): the longest to wait for a connection when ConnectOptions.timeoutMs is not given (ms). */
  connectTimeoutMs: 10_000,
  /** close(): the longest a graceful close waits for the peer before the connection is dropped (ms). */
  closeTimeoutMs: 5_000,
  /** UCX: messages whose frames add up to at most this many bytes travel inside the header message (one UCX send). */
  ucxInlineBytes: 8192,
}, {
  connectTimeoutMs: integerIn(1, MAX_TIMEOUT_MS),
  closeTimeoutMs: integerIn(0, MAX_TIMEOUT_MS),
  ucxInlineBytes: integerIn(0, 65_536 - 1_024),
});
