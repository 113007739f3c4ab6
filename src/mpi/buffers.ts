// Buffer arguments: what kinds each operation takes (checks that throw ERR_MPI_TYPE), and the views
// of them that the collectives send and receive (no copies).
import type { Data, DeviceMemory } from '../index.js';
import { MPIError } from './errors.js';
import { isTypedArray, type TypedArray } from './op.js';

export function isDevice(data: unknown): data is DeviceMemory {
  return typeof data === 'object' && data !== null && !ArrayBuffer.isView(data) && typeof (data as DeviceMemory).ptr === 'bigint';
}

export function byteLength(data: Data): number {
  return ArrayBuffer.isView(data) ? data.byteLength : data.length;
}

/** Bytes [offset, offset + length) of a host view or device region, without copying. */
export function slice(data: Data, offset: number, length: number): Data {
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset + offset, length);
  return { ptr: data.ptr + BigInt(offset), length, memoryType: data.memoryType };
}

/** The bytes of a view, without copying. */
export function bytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A new zeroed typed array of `like`'s type. */
export function typedLike(like: TypedArray, length: number): TypedArray {
  return new (like.constructor as new (length: number) => TypedArray)(length);
}

/** Scratch arrays kept for reuse, per typed-array type (at most SCRATCH_KEPT each, none over SCRATCH_MAX_BYTES). */
const scratchPool = new Map<unknown, TypedArray[]>();
const SCRATCH_KEPT = 4;
const SCRATCH_MAX_BYTES = 16 * 1024 * 1024;

/**
 * A scratch array like `like` of at least `length` elements, for a collective's incoming blocks: reused
 * between calls, since a fresh large one costs its allocation, zeroing and page faults each time (and GC
 * after). Taken out of the pool while in use, so concurrent calls never share one; giveScratch() returns it.
 */
export function takeScratch(like: TypedArray, length: number): TypedArray {
  const pool = scratchPool.get(like.constructor);
  const kept = pool?.pop();
  if (kept !== undefined && kept.length >= length) return kept;
  return typedLike(like, length);
}

/** Returns a scratch array once nothing (no pending receive) can write into it any more. */
export function giveScratch(scratch: TypedArray): void {
  if (scratch.byteLength > SCRATCH_MAX_BYTES) return;
  let pool = scratchPool.get(scratch.constructor);
  if (pool === undefined) scratchPool.set(scratch.constructor, (pool = []));
  if (pool.length < SCRATCH_KEPT) pool.push(scratch);
}

export function validateData(data: unknown, name: string): asserts data is Data {
  if (!ArrayBuffer.isView(data) && !isDevice(data)) {
    throw new MPIError('ERR_MPI_TYPE', `${name} must be a TypedArray, Buffer, DataView or DeviceMemory`);
  }
}

export function validateHost(data: unknown, name: string): asserts data is ArrayBufferView {
  if (!ArrayBuffer.isView(data)) throw new MPIError('ERR_MPI_TYPE', `${name} must be a TypedArray, Buffer or DataView`);
}

export function validateTyped(data: unknown, name: string): asserts data is TypedArray {
  if (!isTypedArray(data)) throw new MPIError('ERR_MPI_TYPE', `${name} must be a TypedArray (the reduction works element-wise)`);
}

/** A reduction's receive buffer must be its send buffer's twin: same type, same length (ERR_MPI_COUNT). */
export function checkMatching(what: string, recvbuf: TypedArray, sendbuf: TypedArray): void {
  if (recvbuf.length !== sendbuf.length || recvbuf.constructor !== sendbuf.constructor) {
    throw new MPIError(
      'ERR_MPI_COUNT',
      `${what}: recvbuf ${recvbuf.constructor.name}(${recvbuf.length}) does not match sendbuf ${sendbuf.constructor.name}(${sendbuf.length})`,
    );
  }
}
