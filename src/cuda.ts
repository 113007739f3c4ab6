// node-ucx/cuda: just enough CUDA to allocate, fill, read back and free device
// memory for tests, examples and `ucx-bench --mem cuda`, with no build-time CUDA
// dependency. libcudart is loaded at run time (dlopen) by the addon's cuda*
// functions when it has them; another loader (an FFI package, a mock) can be
// plugged in with setBackend(). Where neither exists, available() says why and
// every other call throws a UCXError with code 'ERR_UCX_CUDA_UNAVAILABLE'.
//
// Whether UCX itself can move CUDA memory is a separate question:
// `context.memoryTypes.includes('cuda')` (Debian's UCX is built without CUDA).
import { UCXError, Status } from './util/errors.js';
import { invalidArgType, invalidArgValue, outOfRange, validateInteger, validateObject, validateView } from './util/validate.js';
import type { DeviceMemory } from './util/data.js';
import { native, type NativeCuda } from './native.js';

export type { DeviceMemory };

/** What available() reports. */
export interface CudaAvailability {
  /** Whether CUDA memory can be allocated and copied here. */
  ok: boolean;
  /** Why CUDA cannot be used ('' when ok), e.g. that libcudart was not found, or there is no GPU. */
  reason: string;
  /** The library that was loaded, when one was. */
  library?: string;
  /** Number of CUDA devices (cudaGetDeviceCount), when the library loaded. */
  devices?: number;
  /** cudaRuntimeGetVersion(), e.g. 12040 for 12.4, when the library loaded. */
  runtimeVersion?: number;
}

/** cudaMemcpyKind values. */
export const MemcpyKind = Object.freeze({
  /** Host to host. */
  HostToHost: 0,
  /** Host to device. */
  HostToDevice: 1,
  /** Device to host. */
  DeviceToHost: 2,
  /** Device to device. */
  DeviceToDevice: 3,
  /** Inferred from the pointers (unified virtual addressing). */
  Default: 4,
} as const);
export type MemcpyKind = (typeof MemcpyKind)[keyof typeof MemcpyKind];

/**
 * The four calls node-ucx/cuda needs. The addon provides them as native.cudaLoad/cudaMalloc/cudaFree/cudaMemcpy
 * (see docs/rma.md, "Device memory"); setBackend() takes any other implementation.
 * Errors thrown by malloc/free/memcpy should carry `code` = the cudaError_t name (e.g. 'cudaErrorMemoryAllocation').
 */
export interface CudaBackend {
  /** Loads the first library in `candidates` that dlopen()s and looks its symbols up. Idempotent. */
  load(candidates: readonly string[]): CudaAvailability;
  /** cudaMalloc (or cudaMallocManaged with cudaMemAttachGlobal when `managed`): the device pointer. */
  malloc(bytes: number, managed: boolean): bigint;
  /** cudaFree */
  free(ptr: bigint): void;
  /** cudaMemcpy: synchronous for pageable host memory. A bigint is a device (or host) pointer, a view is host memory. */
  memcpy(dst: bigint | ArrayBufferView, src: bigint | ArrayBufferView, bytes: number, kind: MemcpyKind): void;
}

/**
 * Where libcudart is looked for, in order: NODE_UCX_CUDART (a path or a soname) first when set, then the
 * unversioned name (a CUDA toolkit or the LD_LIBRARY_PATH of a CUDA module), then the runtimes that ship
 * with the driver-side packages of CUDA 13, 12 and 11.
 */
export function libraryCandidates(): string[] {
  const list = ['libcudart.so', 'libcudart.so.13', 'libcudart.so.12', 'libcudart.so.11.0'];
  const override = process.env.NODE_UCX_CUDART;
  return override ? [override, ...list] : list;
}

const UNAVAILABLE = 'ERR_UCX_CUDA_UNAVAILABLE';

function nativeBackend(): CudaBackend | null {
  const { cudaLoad, cudaMalloc, cudaFree, cudaMemcpy } = native;
  if (cudaLoad === undefined || cudaMalloc === undefined || cudaFree === undefined || cudaMemcpy === undefined) return null;
  const addon: NativeCuda = { cudaLoad, cudaMalloc, cudaFree, cudaMemcpy };
  return {
    load: (candidates) => addon.cudaLoad([...candidates]),
    malloc: (bytes, managed) => addon.cudaMalloc(bytes, managed),
    free: (ptr) => addon.cudaFree(ptr),
    memcpy: (dst, src, bytes, kind) => addon.cudaMemcpy(dst, src, bytes, kind),
  };
}

let backend: CudaBackend | null | undefined; // undefined: not looked up yet
let availability: CudaAvailability | undefined;
/** Live allocations made through malloc(): pointer -> length. */
const allocations = new Map<bigint, number>();

function currentBackend(): CudaBackend | null {
  if (backend === undefined) backend = nativeBackend();
  return backend;
}

/**
 * Replaces the CUDA loader (null: back to the addon's). For environments whose addon lacks the
 * native loader but that have an FFI package, and for tests. Forgets what available() found.
 */
export function setBackend(next: CudaBackend | null): void {
  if (next !== null) {
    validateObject(next, 'backend');
    for (const name of ['load', 'malloc', 'free', 'memcpy'] as const) {
      if (typeof next[name] !== 'function') throw invalidArgType(`backend.${name}`, 'of type function', next[name]);
    }
  }
  backend = next ?? undefined;
  availability = undefined;
  allocations.clear();
}

/** Whether CUDA device memory can be allocated here, and if not, why. Loads libcudart on first call. */
export function available(): CudaAvailability {
  if (availability !== undefined) return { ...availability };
  const loader = currentBackend();
  if (loader === null) {
    availability = {
      ok: false,
      reason:
        'this node-ucx addon has no run-time CUDA loader (native cudaLoad/cudaMalloc/cudaFree/cudaMemcpy are ' +
        'missing); rebuild node-ucx with a version that has them, or plug one in with cuda.setBackend()',
    };
    return { ...availability };
  }
  let found: CudaAvailability;
  try {
    found = loader.load(libraryCandidates());
  } catch (error) {
    found = { ok: false, reason: `loading libcudart failed: ${(error as Error)?.message ?? String(error)}` };
  }
  if (typeof found !== 'object' || found === null || typeof found.ok !== 'boolean') {
    found = { ok: false, reason: 'the CUDA loader returned no answer' };
  }
  if (found.ok && found.devices === 0) found = { ...found, ok: false, reason: found.reason || 'no CUDA device (cudaGetDeviceCount = 0)' };
  if (!found.ok && !found.reason) found = { ...found, reason: 'CUDA is not available (no reason given)' };
  availability = { ...found, reason: found.ok ? '' : found.reason };
  return { ...availability };
}

function loaded(): CudaBackend {
  const state = available();
  if (!state.ok) throw new UCXError(`CUDA is not available: ${state.reason}`, UNAVAILABLE, Status.ERR_UNSUPPORTED);
  return currentBackend()!;
}

/** A CUDA error from the backend as a UCXError: code = the cudaError_t name. */
function cudaError(error: unknown, what: string): UCXError {
  if (error instanceof UCXError && !/^cuda/.test(error.code)) return error;
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'cudaErrorUnknown';
  const message = (error as Error)?.message ?? String(error);
  const status = code === 'cudaErrorMemoryAllocation' ? -4 /* UCS_ERR_NO_MEMORY */ : -3; /* UCS_ERR_IO_ERROR */
  return new UCXError(`${what}: ${message}`, code, status);
}

function validateDeviceMemory(mem: unknown, name: string): asserts mem is DeviceMemory {
  validateObject(mem, name);
  const device = mem as Partial<DeviceMemory>;
  if (typeof device.ptr !== 'bigint') throw invalidArgType(`${name}.ptr`, 'of type bigint', device.ptr);
  validateInteger(device.length, `${name}.length`, 0, Number.MAX_SAFE_INTEGER);
  if (device.memoryType !== 'cuda' && device.memoryType !== 'cuda-managed') {
    throw invalidArgValue(`${name}.memoryType`, device.memoryType, "must be 'cuda' or 'cuda-managed'");
  }
}

function validateOffset(opts: unknown, bytes: number, mem: DeviceMemory): number {
  if (opts === undefined) opts = {};
  validateObject(opts, 'opts');
  const offset = (opts as { offset?: unknown }).offset ?? 0;
  validateInteger(offset, 'opts.offset', 0, Number.MAX_SAFE_INTEGER);
  if (offset + bytes > mem.length) {
    throw outOfRange('opts.offset', `such that ${bytes} bytes fit in the ${mem.length}-byte device buffer`, offset);
  }
  return offset;
}

/**
 * Allocates `bytes` of device memory (cudaMalloc; with { managed: true }, cudaMallocManaged). The result is a
 * DeviceMemory that every data-taking node-ucx operation and context.memMap() accept. Free it with free().
 */
export function malloc(bytes: number, opts: { managed?: boolean } = {}): DeviceMemory {
  validateInteger(bytes, 'bytes', 1, Number.MAX_SAFE_INTEGER);
  validateObject(opts, 'opts');
  const managed = opts.managed === true;
  const loader = loaded();
  let ptr: bigint;
  try {
    ptr = loader.malloc(bytes, managed);
  } catch (error) {
    throw cudaError(error, `cudaMalloc(${bytes})`);
  }
  allocations.set(ptr, bytes);
  return Object.freeze({ ptr, length: bytes, memoryType: managed ? 'cuda-managed' : 'cuda' } as const);
}

/** Frees memory from malloc(). Freeing anything else, or twice, is an ERR_INVALID_ARG_VALUE TypeError. */
export function free(mem: DeviceMemory): void {
  validateDeviceMemory(mem, 'mem');
  const loader = loaded();
  if (allocations.get(mem.ptr) !== mem.length) {
    throw invalidArgValue('mem', mem, 'was not allocated by cuda.malloc() (or is already freed)');
  }
  try {
    loader.free(mem.ptr);
  } catch (error) {
    throw cudaError(error, 'cudaFree');
  }
  allocations.delete(mem.ptr);
}

/** Copies host bytes `src` into device memory at `opts.offset` (default 0). Synchronous. */
export function copyToDevice(mem: DeviceMemory, src: ArrayBufferView, opts?: { offset?: number }): void {
  validateDeviceMemory(mem, 'mem');
  validateView(src, 'src');
  const offset = validateOffset(opts, src.byteLength, mem);
  const loader = loaded();
  if (src.byteLength === 0) return;
  try {
    loader.memcpy(mem.ptr + BigInt(offset), src, src.byteLength, MemcpyKind.HostToDevice);
  } catch (error) {
    throw cudaError(error, 'cudaMemcpy (host to device)');
  }
}

/** Copies device memory at `opts.offset` (default 0) into host `dst`, dst.byteLength bytes. Synchronous. */
export function copyToHost(dst: ArrayBufferView, mem: DeviceMemory, opts?: { offset?: number }): void {
  validateView(dst, 'dst');
  validateDeviceMemory(mem, 'mem');
  const offset = validateOffset(opts, dst.byteLength, mem);
  const loader = loaded();
  if (dst.byteLength === 0) return;
  try {
    loader.memcpy(dst, mem.ptr + BigInt(offset), dst.byteLength, MemcpyKind.DeviceToHost);
  } catch (error) {
    throw cudaError(error, 'cudaMemcpy (device to host)');
  }
}
