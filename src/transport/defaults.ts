// Transport defaults, in one place (read when an operation starts; checked when assigned).
import { constants } from 'node:buffer';
import { defineSettings, integerIn, MAX_TIMEOUT_MS } from '../util/settings.js';

const MAX_BUFFER_BYTES = constants.MAX_LENGTH;

/** The transports' defaults (timeouts, message bounds); assign to change them for operations started afterwards. */
export const transportDefaults = defineSettings(
  'transportDefaults',
  {
    /** connect(): the longest to wait for a connection when ConnectOptions.timeoutMs is not given (ms). */
    connectTimeoutMs: 10_000,
    /** close(): the longest a graceful close waits for the peer before the connection is dropped (ms). */
    closeTimeoutMs: 5_000,
    /** UCX: messages whose frames add up to at most this many bytes travel inside the header message (one UCX send). */
    ucxInlineBytes: 8192,
    /**
     * The most bytes one received message may announce (all its frames together): a peer announcing more
     * breaks the connection with ERR_TRANSPORT_PROTOCOL before anything is allocated for it. Default: the
     * largest Buffer Node makes.
     */
    maxMessageBytes: MAX_BUFFER_BYTES,
  },
  {
    connectTimeoutMs: integerIn(1, MAX_TIMEOUT_MS),
    closeTimeoutMs: integerIn(0, MAX_TIMEOUT_MS),
    ucxInlineBytes: integerIn(0, 65_536 - 1_024),
    maxMessageBytes: integerIn(0, MAX_BUFFER_BYTES),
  },
);
