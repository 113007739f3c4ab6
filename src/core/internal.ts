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

/** A resolved promise shared by every operation that completed inline (the fast path). */
export const RESOLVED: Promise<void> = Promise.resolve();
