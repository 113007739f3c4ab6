// Symbols the SDK classes use to reach each other's internals without making
// them public API.
export const kNative = Symbol('node-ucx.native');
export const kAttach = Symbol('node-ucx.attach');
export const kDetach = Symbol('node-ucx.detach');
export const kOnError = Symbol('node-ucx.onError');
export const kOnHandshake = Symbol('node-ucx.onHandshake');
export const kOnConnRequest = Symbol('node-ucx.onConnRequest');
export const kNextCancelId = Symbol('node-ucx.nextCancelId');
export const kWrapEndpoint = Symbol('node-ucx.wrapEndpoint');
export const kExpire = Symbol('node-ucx.expire');
export const kRequireOpen = Symbol('node-ucx.requireOpen');
export const kTrack = Symbol('node-ucx.track');
/** Endpoint: its native fast operations (made on first use); Worker: its fast receives and scratch. */
export const kFast = Symbol('node-ucx.fast');
/** Endpoint: the checks of an RMA or atomic before UCX sees it; returns the key's fast handle. */
export const kCheckAccess = Symbol('node-ucx.checkAccess');
/** Endpoint: a batch now holds an operation of this endpoint (a graceful close waits for it). */
export const kBatched = Symbol('node-ucx.batched');
/** Session: an endpoint-scoped send without a promise of its own (Batch.send). */
export const kSendNow = Symbol('node-ucx.sendNow');

/** A resolved promise shared by every operation that completed inline (the fast path). */
export const RESOLVED: Promise<void> = Promise.resolve();
/** RemoteKey: its region's end (base + length) and the base's low bits, computed once (no BigInt arithmetic per operation). */
export const kBounds = Symbol('node-ucx.bounds');
