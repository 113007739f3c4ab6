// Data arguments: a host view (ArrayBufferView) or device memory ({ ptr, length, memoryType }),
// checked and turned into the form the addon takes.
import { UCXError, Status } from './errors.js';
import { invalidArgType, invalidArgValue, validateInteger, validateUint64 } from './validate.js';

export type MemoryTypeName = 'host' | 'cuda' | 'cuda-managed' | 'rocm' | 'rocm-managed';
/** ucs_memory_type_t values, in ucs_memory_type_names order. */
export const MEMORY_TYPES: readonly MemoryTypeName[] = ['host', 'cuda', 'cuda-managed', 'rocm', 'rocm-managed'];
export const MEMORY_TYPE_HOST = 0;

/** Memory on a device (a GPU), which JavaScript cannot view: its address, its length and what kind it is. */
export interface DeviceMemory {
  /** The device address (e.g. from cudaMalloc; node-ucx/cuda's `DeviceBuffer.ptr`). */
  ptr: bigint;
  /** Its length in bytes. */
  length: number;
  /** The kind of device memory; the Context must list it in memoryTypes. */
  memoryType: 'cuda' | 'cuda-managed' | 'rocm';
}
/** What operations send from and receive into: host memory (any ArrayBufferView) or {@link DeviceMemory}. */
export type Data = ArrayBufferView | DeviceMemory;

/** Resizable and growable buffers are refused, like detached ones (Node 20 has no `.detached`). */
interface MaybeResizable {
  resizable?: boolean;
  growable?: boolean;
}

/**
 * Host memory UCX may hold while an operation is pending. A resizable ArrayBuffer (or growable
 * SharedArrayBuffer) can shrink under it — the pages go, and UCX writes into nothing (SIGSEGV) —
 * so it is refused, and so is a view of a detached buffer (it would send nothing, silently). The
 * addon pins the memory itself (its backing store), which a transfer cannot take away.
 */
export function checkHostMemory(view: ArrayBufferView, name: string): void {
  const buffer = view.buffer as ArrayBufferLike & MaybeResizable;
  if (buffer.resizable === true || buffer.growable === true) {
    throw invalidArgValue(name, view, 'must not be a view of a resizable ArrayBuffer or growable SharedArrayBuffer ' + '(it could shrink while UCX uses it)');
  }
  if (view.byteLength === 0 && isDetached(buffer)) {
    throw invalidArgValue(name, view, 'must not be a view of a detached (transferred) ArrayBuffer');
  }
}

function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0 || !(buffer instanceof ArrayBuffer)) return false;
  try {
    new Uint8Array(buffer); // throws on a detached buffer, and only then
    return false;
  } catch {
    return true;
  }
}

/** The addon's form of a data argument: the view itself, or a device pointer, its length and memory type. */
export interface NativeDataArgs {
  target: ArrayBufferView | bigint;
  length: number;
  memoryType: number;
}

/**
 * Checks a data argument and names its memory type. `supported` is the
 * context's memoryTypes: device memory of a type this UCX build lacks is a
 * coded UCS_ERR_UNSUPPORTED, before UCX ever sees the pointer.
 */
export function toNativeData(value: unknown, name: string, supported: readonly string[]): NativeDataArgs {
  if (ArrayBuffer.isView(value)) {
    checkHostMemory(value, name);
    return { target: value, length: value.byteLength, memoryType: MEMORY_TYPE_HOST };
  }
  if (typeof value !== 'object' || value === null) {
    throw invalidArgType(name, 'an instance of Buffer, TypedArray, DataView, or a DeviceMemory object', value);
  }
  const device = value as Partial<DeviceMemory>;
  if (typeof device.ptr !== 'bigint' || typeof device.length !== 'number' || typeof device.memoryType !== 'string') {
    throw invalidArgType(name, 'an instance of Buffer, TypedArray, DataView, or a DeviceMemory object', value);
  }
  validateUint64(device.ptr, `${name}.ptr`);
  validateInteger(device.length, `${name}.length`, 0, Number.MAX_SAFE_INTEGER);
  const memoryType = MEMORY_TYPES.indexOf(device.memoryType as MemoryTypeName);
  if (memoryType <= MEMORY_TYPE_HOST) {
    throw invalidArgValue(`${name}.memoryType`, device.memoryType, "must be one of 'cuda', 'cuda-managed', 'rocm'");
  }
  if (device.ptr === 0n && device.length > 0) throw invalidArgValue(`${name}.ptr`, device.ptr, 'must not be a null pointer');
  if (!supported.includes(device.memoryType)) {
    throw new UCXError(
      `memory type '${device.memoryType}' is not supported by this UCX build (it supports: ${supported.join(', ')})`,
      'UCS_ERR_UNSUPPORTED',
      Status.ERR_UNSUPPORTED,
    );
  }
  return { target: device.ptr, length: device.length, memoryType };
}
