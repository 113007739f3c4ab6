// MemoryHandle (a registered region: ucp_mem_map) and RemoteKey (a peer's
// region unpacked on one endpoint: ucp_ep_rkey_unpack).
//
// packRkey() wraps UCX's packed key in an envelope that also carries the
// region's base address and length, so put/get/atomics can refuse an access
// outside the region before UCX touches the peer's memory, and so garbage
// bytes are rejected before UCX parses them:
//
//   offset  size  field
//   0       4     magic 'NUKR' (0x524b554e, little-endian)
//   4       2     envelope version (1)
//   6       2     memory type (ucs_memory_type_t)
//   8       8     region base address (u64 LE)
//   16      8     region length in bytes (u64 LE)
//   24      4     length of UCX's packed rkey (u32 LE)
//   28      4     FNV-1a 32-bit checksum of UCX's packed rkey
//   32      n     UCX's packed rkey (ucp_rkey_pack)
import { inspect, type InspectOptionsStylized } from 'node:util';
import { summary } from '../util/inspect.js';
import { closedError, UCXError, Status } from '../util/errors.js';
import { validateInteger, validateView, invalidArgType, invalidArgValue, outOfRange } from '../util/validate.js';
import { MEMORY_TYPES, MEMORY_TYPE_HOST, checkHostMemory, toNativeData, type DeviceMemory } from '../util/data.js';
import { native, type NativeHandle, type NativeMemoryHandle, type NativeRemoteKey } from '../native.js';
import type { Context } from './context.js';
import type { Endpoint } from './endpoint.js';
import { kNative, kAttach, kDetach, kFast, kBounds } from './internal.js';
import { checkRemoteKey, rememberOwnKey, forgetOwnKey } from './ucx-rkey.js';

/**
 * `{ length }` allocates: host memory from a Node Buffer (`allocator: 'node'`, the default: `buffer` is a
 * view of it), or from UCX (`allocator: 'ucx'`: on one host a shared-memory segment that a peer maps and
 * copies to directly, much faster for same-host put/get; no view, read() and write() copy), or device
 * memory (`memoryType`).
 */
export type MemMapTarget = ArrayBufferView | ArrayBuffer | DeviceMemory | MemAllocation;

/** Memory for {@link Context.memMap} to allocate (see {@link MemMapTarget}). */
export interface MemAllocation {
  /** How many bytes. */
  length: number;
  /** 'host' (default), or a device memory type this context has ('cuda', ...). */
  memoryType?: string;
  /** Who allocates host memory: 'node' (a Buffer, the default) or 'ucx' (shared memory a same-host peer maps). */
  allocator?: 'node' | 'ucx';
}

const RKEY_MAGIC = 0x524b554e;
const RKEY_VERSION = 1;
const RKEY_HEADER = 32;

function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * Memory registered with UCX for RMA and atomics (`ucp_mem_h`), made by {@link Context.memMap}.
 * Send packRkey() to a peer: it unpacks it on its endpoint and can then put/get/atomically update this region.
 */
export class MemoryHandle {
  /** The context the memory is registered with. */
  readonly context: Context;
  /** Where the region starts: the remoteAddress a peer's put/get/atomics use. */
  readonly address: bigint;
  /** The region's length in bytes. */
  readonly length: number;
  /** 'host', or the device memory type ('cuda', 'cuda-managed', 'rocm'). */
  readonly memoryType: string;
  /** A host view of the region (null for device memory). It stays valid after unmap(). */
  readonly buffer: Buffer | null;
  /** @internal */
  readonly [kNative]!: NativeMemoryHandle;
  #unmapped = false;

  /** Prefer {@link Context.memMap}, which also checks the context's features. */
  constructor(context: Context, target: MemMapTarget) {
    if (typeof target !== 'object' || target === null) {
      throw invalidArgType('target', 'an ArrayBufferView, ArrayBuffer, DeviceMemory or { length }', target);
    }
    this.context = context;
    let view: ArrayBufferView | null = null;
    if (target instanceof ArrayBuffer) view = Buffer.from(target);
    else if (ArrayBuffer.isView(target)) view = target;
    else if (!('ptr' in target)) {
      const { length, memoryType = 'host', allocator = 'node' } = target as { length: unknown; memoryType?: unknown; allocator?: unknown };
      validateInteger(length, 'target.length', 1, Number.MAX_SAFE_INTEGER);
      if (allocator !== 'node' && allocator !== 'ucx') throw invalidArgValue('target.allocator', allocator, "must be 'node' or 'ucx'");
      if (allocator === 'ucx' && memoryType !== 'host')
        throw invalidArgValue('target.allocator', allocator, "'ucx' is for host memory (device memory is always UCX's)");
      if (memoryType === 'host' && allocator === 'node') {
        // Host memory comes from a Node Buffer, so the view can never dangle, even after unmap().
        view = Buffer.alloc(length);
      } else if (memoryType === 'host') {
        // UCX's memory is freed by ucp_mem_unmap, so no JS view of it is handed out (read/write copy).
        this[kNative] = new native.MemoryHandle(context[kNative], null, length, MEMORY_TYPE_HOST, true);
      } else {
        const type = MEMORY_TYPES.indexOf(memoryType as (typeof MEMORY_TYPES)[number]);
        if (type < 0) throw invalidArgValue('target.memoryType', memoryType, `must be one of ${MEMORY_TYPES.join(', ')}`);
        if (!context.memoryTypes.includes(memoryType as string)) {
          throw new UCXError(`memory type '${String(memoryType)}' is not supported by this UCX build`, 'UCS_ERR_UNSUPPORTED', -22);
        }
        this[kNative] = new native.MemoryHandle(context[kNative], null, length, type, true);
      }
    }
    if (view !== null) {
      checkHostMemory(view, 'target');
      if (view.byteLength === 0) throw invalidArgValue('target', view, 'must not be empty');
      this[kNative] = new native.MemoryHandle(context[kNative], view, view.byteLength, MEMORY_TYPE_HOST, false);
      this.buffer = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
      this.memoryType = 'host';
    } else if ('ptr' in target) {
      const device = toNativeData(target, 'target', context.memoryTypes);
      this[kNative] = new native.MemoryHandle(context[kNative], device.target, device.length, device.memoryType, false);
      this.buffer = null;
      this.memoryType = MEMORY_TYPES[device.memoryType]!;
    } else {
      this.buffer = null;
      this.memoryType = (target as { memoryType?: string }).memoryType ?? 'host';
    }
    this.address = this[kNative].address();
    this.length = this[kNative].length();
    context[kAttach](this);
  }

  /** True once unmap() was called (or the context closed). */
  get unmapped(): boolean {
    return this.#unmapped;
  }

  /** The bytes a peer passes to its endpoint's unpackRkey() (envelope above). */
  packRkey(): Buffer {
    if (this.#unmapped) throw closedError('MemoryHandle');
    const ucxKey = this[kNative].packRkey();
    rememberOwnKey(this, ucxKey);
    const packed = Buffer.allocUnsafe(RKEY_HEADER + ucxKey.length);
    packed.writeUInt32LE(RKEY_MAGIC, 0);
    packed.writeUInt16LE(RKEY_VERSION, 4);
    packed.writeUInt16LE(Math.max(0, MEMORY_TYPES.indexOf(this.memoryType as (typeof MEMORY_TYPES)[number])), 6);
    packed.writeBigUInt64LE(this.address, 8);
    packed.writeBigUInt64LE(BigInt(this.length), 16);
    packed.writeUInt32LE(ucxKey.length, 24);
    packed.writeUInt32LE(fnv1a(ucxKey), 28);
    ucxKey.copy(packed, RKEY_HEADER);
    return packed;
  }

  /** A copy of `length` bytes of the region from `offset` (host memory: a `buffer` view's bytes, or UCX-allocated). */
  read(offset = 0, length = this.length - offset): Buffer {
    validateInteger(offset, 'offset', 0, this.length);
    validateInteger(length, 'length', 0, this.length - offset);
    if (this.buffer !== null) return Buffer.from(this.buffer.subarray(offset, offset + length));
    this.#requireHostMemory('read');
    return this[kNative].read(offset, length);
  }

  /** Copies `data` into the region at `offset` (host memory). */
  write(data: ArrayBufferView, offset = 0): void {
    validateView(data, 'data');
    validateInteger(offset, 'offset', 0, this.length);
    if (data.byteLength > this.length - offset) {
      throw outOfRange('data.byteLength', `at most ${this.length - offset} (the region's length past offset ${offset})`, data.byteLength);
    }
    if (this.buffer !== null) {
      this.buffer.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
      return;
    }
    this.#requireHostMemory('write');
    this[kNative].write(data, offset);
  }

  #requireHostMemory(what: string): void {
    if (this.#unmapped) throw closedError('MemoryHandle');
    if (this.memoryType !== 'host') {
      throw new UCXError(
        `${what}() copies host memory; for '${this.memoryType}' memory use node-ucx/cuda's copies`,
        'UCS_ERR_UNSUPPORTED',
        Status.ERR_UNSUPPORTED,
      );
    }
  }

  /** `using handle = context.memMap(...)`: unmaps it at the end of the scope. */
  [Symbol.dispose](): void {
    this.unmap();
  }

  /** util.inspect: `MemoryHandle { state, address, length, memoryType }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return summary(
      'MemoryHandle',
      {
        state: this.#unmapped ? 'unmapped' : 'mapped',
        address: `0x${this.address.toString(16)}`,
        length: this.length,
        memoryType: this.memoryType,
      },
      depth,
      options,
      inspectFn,
    );
  }

  /** Releases the registration. Host memory stays readable through `buffer`. Idempotent. */
  unmap(): void {
    if (this.#unmapped) return;
    this.#unmapped = true;
    forgetOwnKey(this);
    this[kNative].unmap();
    this.context[kDetach](this);
  }
}

/** A peer's memory as this side may reach it (`ucp_rkey_h`): made by {@link Endpoint.unpackRkey} from the peer's {@link MemoryHandle.packRkey}. */
export class RemoteKey {
  /** The endpoint it was unpacked on: put/get/atomics with it go through that endpoint only. */
  readonly endpoint: Endpoint;
  /** The remote region this key grants: [base, base + length). */
  readonly base: bigint;
  /** The remote region's length in bytes. */
  readonly length: number;
  /** The remote region's memory type. */
  readonly memoryType: string;
  /** @internal */
  readonly [kNative]: NativeRemoteKey;
  /** @internal */
  readonly [kBounds]: { end: bigint; baseLow: number };
  #destroyed = false;
  #fast: NativeHandle | undefined;

  /** @internal Made by Endpoint.unpackRkey(). */
  constructor(endpoint: Endpoint, nativeKey: NativeRemoteKey, base: bigint, length: number, memoryType: string) {
    this.endpoint = endpoint;
    this[kNative] = nativeKey;
    this.base = base;
    this.length = length;
    this.memoryType = memoryType;
    this[kBounds] = { end: base + BigInt(length), baseLow: Number(base & 0xffffn) };
  }

  /** True once destroy() was called (or its endpoint closed). */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** @internal How fast-path puts, gets and atomics (Batch) name this key. */
  get [kFast](): NativeHandle {
    this.#fast ??= this[kNative].fastHandle();
    return this.#fast;
  }

  /** Releases the key. Keys also die with their endpoint. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this[kNative].destroy();
    this.endpoint[kDetach](this);
  }
}

function badRkey(reason: string): UCXError {
  return new UCXError(`not a packed node-ucx remote key: ${reason}`, 'UCS_ERR_INVALID_PARAM', -5);
}

/** Checks the envelope, then lets UCX unpack the key on the endpoint. */
export function unpackRemoteKey(endpoint: Endpoint, packed: Uint8Array): RemoteKey {
  const bytes = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  if (bytes.length < RKEY_HEADER) throw badRkey(`${bytes.length} bytes is shorter than the ${RKEY_HEADER}-byte header`);
  if (bytes.readUInt32LE(0) !== RKEY_MAGIC) throw badRkey('bad magic');
  if (bytes.readUInt16LE(4) !== RKEY_VERSION) throw badRkey(`unknown version ${bytes.readUInt16LE(4)}`);
  const memoryType = MEMORY_TYPES[bytes.readUInt16LE(6)];
  if (memoryType === undefined) throw badRkey('unknown memory type');
  const base = bytes.readBigUInt64LE(8);
  const length = bytes.readBigUInt64LE(16);
  const keyLength = bytes.readUInt32LE(24);
  if (RKEY_HEADER + keyLength !== bytes.length) throw badRkey('truncated or padded');
  if (length > BigInt(Number.MAX_SAFE_INTEGER) || base + length > 1n << 64n) throw badRkey('region out of range');
  const ucxKey = bytes.subarray(RKEY_HEADER);
  if (fnv1a(ucxKey) !== bytes.readUInt32LE(28)) throw badRkey('checksum mismatch');
  // UCX's key itself, and the region against what it maps: only the parts the endpoint's lanes use reach UCX.
  const checked = checkRemoteKey(ucxKey, { memoryType: bytes.readUInt16LE(6), base, length, endpointInfo: endpoint[kNative].info() });
  const nativeKey = endpoint[kNative].unpackRkey(checked);
  return new RemoteKey(endpoint, nativeKey, base, Number(length), memoryType);
}
