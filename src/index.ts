// node-ucx: UCX for Node.js. The public surface (see docs/api.md).
import { native } from './native.js';
import { Context } from './core/context.js';
import type { Worker, ListenOptions } from './core/worker.js';
import type { Endpoint } from './core/endpoint.js';
import type { Listener } from './core/listener.js';

export { Context, type ContextOptions, type Feature } from './core/context.js';
export { DEFAULT_FEATURES } from './core/features.js';
export {
  Worker,
  type WorkerOptions,
  type ListenOptions,
  type ActiveMessage,
  type ActiveMessageHandler,
  type ActiveMessageOptions,
  type WorkerStats,
  type TagRecvResult,
  type TagMessage,
} from './core/worker.js';
export { RESERVED_TAG_BIT, MAX_TAG, FULL_MASK, MAX_AM_ID } from './core/tags.js';
export { Listener, type ConnectionRequest, type AcceptHook } from './core/listener.js';
export { Endpoint, type EndpointRole, type AtomicOp, type RecvMessageOptions, type EndpointInfo } from './core/endpoint.js';
export { MemoryHandle, RemoteKey, type MemMapTarget, type MemAllocation } from './core/memory.js';
export { Batch, type BatchAmSendOptions } from './core/batch.js';
export { TagReceiver, TagBatch, ActiveMessageQueue, type TagReceiverOptions } from './core/receiver.js';
export { UCXError, AbortError } from './util/errors.js';
export { defaults, ucxConfigAliases, type ProgressMode, type ErrorHandling } from './core/defaults.js';
export type { Data, DeviceMemory } from './util/data.js';

const packageVersion = '0.1.0';

/** The UCX library version this addon runs on, and node-ucx's own. */
export const version: {
  /** The UCX library's version, e.g. '1.13.1'. */
  ucx: string;
  /** node-ucx's version. */
  binding: string;
} = Object.freeze({ ucx: native.version(), binding: packageVersion });

let defaultContext: Context | undefined;
let sharedWorker: Worker | undefined;

/** A lazily created Worker (event mode) on a lazily created default Context. */
export function defaultWorker(): Worker {
  if (sharedWorker === undefined || sharedWorker.closed) {
    if (defaultContext === undefined || defaultContext.closed) defaultContext = new Context();
    sharedWorker = defaultContext.createWorker();
  }
  return sharedWorker;
}

/** Listens on the default worker ({@link defaultWorker}); see {@link Worker.listen}. */
export function listen(opts?: ListenOptions, onConnection?: (ep: Endpoint) => void): Promise<Listener> {
  return defaultWorker().listen(opts, onConnection);
}

/** Connects from the default worker ({@link defaultWorker}) to a listener or a worker address; see {@link Worker.connect}. */
export function connect(to: { host: string; port: number } | { address: Uint8Array }, opts?: { signal?: AbortSignal }): Promise<Endpoint> {
  return defaultWorker().connect(to, opts);
}
