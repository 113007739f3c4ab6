// The defaults that matter, in one place. Change them here (or per call) rather
// than hunting for constants. Read once when an object is created. Each one is
// checked when it is assigned (util/settings.ts).
import { defineSettings, integerIn, oneOf, stringRecord, MAX_TIMEOUT_MS } from '../util/settings.js';

/** How a worker makes progress (see {@link WorkerOptions.progress}). */
export type ProgressMode = 'event' | 'poll' | 'adaptive';
/** 'peer': a dead peer fails pending operations (default). 'none': faster (shared memory on UCX 1.13), no failure detection. */
export type ErrorHandling = 'peer' | 'none';

/**
 * The defaults node-ucx uses, in one place; assign to change them for objects made afterwards
 * (each value is checked when assigned). docs/operations.md explains each.
 */
export const defaults = defineSettings(
  'defaults',
  {
    /** Progress mode of new workers: 'event' sleeps on the worker's fd (idle CPU ~0). */
    progressMode: 'event' as ProgressMode,
    /**
     * Endpoint error handling. 'peer' (UCP_ERR_HANDLING_MODE_PEER): a dead peer fails pending operations with a
     * coded error. On UCX 1.13 PEER mode excludes the shared-memory transports, which cannot detect a dead peer,
     * so local traffic runs over TCP. 'none' gets shared memory (~10x lower latency), but only listener-made
     * endpoints still learn of a dead peer (from the connection manager); on endpoints made from a worker address
     * pending operations then stay pending. See docs/operations.md.
     */
    errorHandling: 'peer' as ErrorHandling,
    /** poll mode: the longest stretch one spin runs before libuv gets the thread back (µs). */
    pollSliceUs: 200,
    /** adaptive mode: how long to keep spinning after the last activity before arming and sleeping (µs). */
    adaptiveSpinUs: 100,
    /**
     * event mode: the same, briefly (µs; 0 = arm and sleep at once). A reply that comes within it is
     * picked up without a wake-up, which costs 10-40 µs on a VM (an inter-processor interrupt each way);
     * an idle worker still sleeps after at most this long.
     */
    eventSpinUs: 50,
    /**
     * A spinning worker (poll, and event and adaptive within their spin) that finds nothing yields the CPU
     * (sched_yield) after this long idle, and again each time as long (µs; 0: after every idle round, as Open
     * MPI's ranks do when oversubscribed). With more processes than cores the peer waited for may need the CPU.
     */
    yieldUs: 8,
    /** event mode: progress timer that runs only while operations are outstanding, against a missed wake-up (ms). */
    fallbackMs: 5,
    /** Endpoint.close(): the longest a graceful close waits for the peer before the endpoint is let go (ms). */
    closeTimeoutMs: 5000,
    /** connect(): the longest to wait for the connection to be established (ms). */
    connectTimeoutMs: 10000,
    /** The first endpoint-scoped send waits this long for the peer's handshake reply (ms). */
    handshakeTimeoutMs: 10000,
    /**
     * Endpoint heartbeat (ms); 0 = off. When on, an endpoint that has done the node-ucx handshake pings its
     * peer this often and fails with UCS_ERR_ENDPOINT_TIMEOUT after 3 intervals without hearing from it.
     * UCX 1.13 notices a dead process at once, but a silently cut link only after TCP gives up (minutes).
     * Off by default: a peer whose event loop is blocked for 3 intervals would be declared dead too.
     */
    heartbeatMs: 0,
    /**
     * The most endpoints a worker that accepts address connections (WorkerOptions.acceptAddressConnections)
     * opens back to peers at once; HELLOs beyond it are refused, so a flood cannot make it open endpoints without end.
     */
    maxAddressPeers: 1024,
    /**
     * UCX options node-ucx sets unless the environment (UCX_*, under any of the names in ucxConfigAliases) or
     * ContextOptions.config says otherwise (docs/operations.md, "Shared memory with failure detection"):
     * - KEEPALIVE_INTERVAL: UCX 1.13 checks peers every 20 s; endpoints made from a worker address learn of a
     *   dead peer only through keepalive, and R1 wants pending operations rejected within 5 s.
     * - MM_ERROR_HANDLING: the shared-memory transports (posix, sysv) take part in 'peer' error handling (their
     *   keepalive notices a dead process). UCX 1.13 leaves them out by default (openucx/ucx#8477), so two
     *   processes on one host talked over TCP: 8 B 5.4 µs instead of 1.5 µs.
     * - PUT_ENABLE (TCP's): no zero-copy put over TCP, so that UCX does not send every large message by
     *   rendezvous over TCP when shared memory is there (it picked tcp/lo for those: 1 MiB at 4.7 GB/s
     *   instead of 15 GB/s); between hosts TCP then sends large messages in fragments, at the same speed.
     */
    ucxConfig: { KEEPALIVE_INTERVAL: '1s', MM_ERROR_HANDLING: 'y', PUT_ENABLE: 'n' } as Record<string, string>,
  },
  {
    progressMode: oneOf('event', 'poll', 'adaptive'),
    errorHandling: oneOf('peer', 'none'),
    // A poll slice is how long the event loop is held: at most 100 ms.
    pollSliceUs: integerIn(1, 100_000),
    // Spin budgets run in slices (the loop keeps turning); a minute is already far beyond any use.
    adaptiveSpinUs: integerIn(0, 60_000_000),
    eventSpinUs: integerIn(0, 60_000_000),
    yieldUs: integerIn(0, 60_000_000),
    fallbackMs: integerIn(1, 60_000),
    closeTimeoutMs: integerIn(0, MAX_TIMEOUT_MS),
    connectTimeoutMs: integerIn(1, MAX_TIMEOUT_MS),
    handshakeTimeoutMs: integerIn(1, MAX_TIMEOUT_MS),
    heartbeatMs: integerIn(0, MAX_TIMEOUT_MS),
    maxAddressPeers: integerIn(0, 1 << 20),
    ucxConfig: stringRecord,
  },
);

/**
 * The environment variables that set each of defaults.ucxConfig under another name (a transport's own
 * prefix): when one of them is set, node-ucx leaves that option to it.
 */
export const ucxConfigAliases: Readonly<Record<string, readonly string[]>> = Object.freeze({
  MM_ERROR_HANDLING: ['UCX_MM_ERROR_HANDLING', 'UCX_POSIX_ERROR_HANDLING', 'UCX_SYSV_ERROR_HANDLING'],
  PUT_ENABLE: ['UCX_PUT_ENABLE', 'UCX_TCP_PUT_ENABLE'],
});
