// The typed loader for the addon: the only module that touches it. Everything
// here mirrors csrc/ one to one; argument checks happen before these calls.
// Once loaded, the addon gets the UCXError class (util/errors.ts) to make its errors with.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { UCXError } from './util/errors.js';
import { debug } from './util/debug.js';
import type { Data } from './util/data.js';

export interface NativeRecvResult {
  length: number;
  tag: bigint;
}
export interface NativeMessageResult {
  data: Buffer;
  tag: bigint;
}
/** A data argument as the addon takes it: a view, or a device pointer with its length. */
export type NativeData = ArrayBufferView | bigint;

export interface NativeContext {
  memoryTypes(): string[];
  config(): string;
  close(): void;
}

/** A batch's native state (an External; csrc/batch.h). */
export interface NativeBatch {
  readonly __nativeBatch: unique symbol;
}
/** How fast-path calls name another native object (an External; csrc/fastpath.h). */
export interface NativeHandle {
  readonly __nativeHandle: unique symbol;
}

/**
 * The worker's fast receives (csrc/fastpath.cc), bound functions: no promise unless UCX could not
 * complete the receive inline. What does not fit the return value goes to the scratch given to
 * fastOps(): [0, 8) the sender's tag (u64), then count, head length, header length (f64).
 */
export interface NativeWorkerFast {
  /** null: nothing matched; a number: received inline (its length); a Promise: matched, arriving. */
  tryTagRecv(data: NativeData, length: number, memoryType: number, tag: bigint, mask: bigint, spins: number): number | null | Promise<number>;
  /** Queued matching messages into slots of `ring`; the count (a Promise when the last one is still arriving). */
  tagRecvBatch(
    ring: Uint8Array,
    slotSize: number,
    maxCount: number,
    tag: bigint,
    mask: bigint,
    lengths: Uint32Array,
    tags: BigUint64Array | null,
    spins: number,
  ): number | Promise<number>;
  /** A posted receive counted on `batch`: its length when it completed inline, else -1 (lengths[index] gets it later). */
  tagRecv(
    data: NativeData,
    length: number,
    memoryType: number,
    tag: bigint,
    mask: bigint,
    lengths: Uint32Array | null,
    index: number,
    batch: NativeBatch,
  ): number;
  /** The next message of a queued AM id: its payload's length (header into `header`), null, or a Promise (rendezvous). */
  amTryRecv(id: number, data: NativeData, length: number, memoryType: number, header: ArrayBufferView | null, spins: number): number | null | Promise<number>;
}

/** The endpoint's fast operations (csrc/endpoint.cc): true when UCX completed them inline, else counted on `batch`. */
export interface NativeEndpointFast {
  tagSend(data: NativeData, length: number, memoryType: number, tag: bigint, batch: NativeBatch): boolean;
  /** `size`-byte slices of data, one message each; returns how many went pending. */
  tagSendMany(data: NativeData, length: number, memoryType: number, size: number, tag: bigint, batch: NativeBatch): number;
  streamSend(data: NativeData, length: number, memoryType: number, batch: NativeBatch): boolean;
  amSend(id: number, header: ArrayBufferView | null, data: NativeData | null, length: number, memoryType: number, flags: number, batch: NativeBatch): boolean;
  put(data: NativeData, length: number, memoryType: number, remoteAddress: bigint, rkey: NativeHandle, batch: NativeBatch): boolean;
  get(data: NativeData, length: number, memoryType: number, remoteAddress: bigint, rkey: NativeHandle, batch: NativeBatch): boolean;
  /** Fetching ops: the old value, or a Promise of it; others: whether UCX completed it inline. */
  atomic(
    opcode: number,
    remoteAddress: bigint,
    rkey: NativeHandle,
    value: bigint,
    size: number,
    fetch: boolean,
    swap: bigint | undefined,
    batch: NativeBatch,
  ): bigint | Promise<bigint> | boolean;
}

export interface NativeWorker {
  address(): Buffer;
  progress(): number;
  flush(): Promise<void> | undefined;
  fence(): void;
  tagRecv(data: NativeData, length: number, memoryType: number, tag: bigint, mask: bigint, cancelId: number): NativeRecvResult | Promise<NativeRecvResult>;
  /** The same, resolving to the length alone: for receives whose tag the caller knows (no result object). */
  tagRecv(data: NativeData, length: number, memoryType: number, tag: bigint, mask: bigint, cancelId: number, lengthOnly: true): number | Promise<number>;
  /** A message longer than `maxLength` is dropped and the promise rejects with UCS_ERR_MESSAGE_TRUNCATED. */
  tagRecvMessage(tag: bigint, mask: bigint, cancelId: number, dataOnly?: false, maxLength?: number): Promise<NativeMessageResult>;
  /** The same, resolving to the data alone. */
  tagRecvMessage(tag: bigint, mask: bigint, cancelId: number, dataOnly: true, maxLength?: number): Promise<Buffer>;
  tagProbe(tag: bigint, mask: bigint): NativeRecvResult | null;
  cancel(cancelId: number): boolean;
  /** `allocator`: for rendezvous payloads, (length, header) => [target, memoryType, value] (or null: drop it). */
  setAmHandler(
    id: number,
    enabled: boolean,
    spins: boolean,
    allocator?: (length: number, header: Buffer) => [bigint | ArrayBufferView, number, Data] | null,
    queued?: boolean,
  ): void;
  connect(ip: string, port: number, peerErrors: boolean): NativeEndpoint;
  connectAddress(address: Uint8Array, peerErrors: boolean): NativeEndpoint;
  listen(ip: string, port: number): NativeListener;
  /** [pendingRequests, probeWaiters, endpoints, listeners, keepsLoopAlive, abandonedRequests] */
  stats(): [number, number, number, number, boolean, number];
  /** The largest active-message header this worker's transports carry (ucp_worker_query). */
  maxAmHeader(): number;
  close(): Promise<void>;
  /** A batch whose counters ([0] pending, [1] failures since the last wait) the addon keeps up to date. */
  createBatch(counters: Int32Array): NativeBatch;
  /** Settles once every counted operation has completed; undefined when none is pending. */
  waitBatch(batch: NativeBatch): Promise<void> | undefined;
  /** The first failure since the last wait (and resets it). */
  takeBatchError(batch: NativeBatch): Error | null;
  /** Cancels the batch's posted receives (they fail with UCS_ERR_CANCELED); returns how many. */
  cancelBatch(batch: NativeBatch): number;
  fastOps(scratch: Uint8Array): NativeWorkerFast;
  /** Resolves once a matching message is queued (it stays queued); cancel() rejects it with UCS_ERR_CANCELED. */
  tagWait(tag: bigint, mask: bigint, cancelId: number): Promise<void>;
  /** Resolves once the queued AM id has a message (undefined: it has one now). */
  amWait(id: number, cancelId: number): Promise<void> | undefined;
  /** Drops the queued AM id's messages; returns how many. */
  amQueueClear(id: number): number;
}

export interface NativeListener {
  address(): [string, number];
  accept(request: unknown, peerErrors: boolean): NativeEndpoint;
  reject(request: unknown): void;
  close(): void;
}

export interface NativeEndpoint {
  tagSend(data: NativeData, length: number, memoryType: number, tag: bigint, sync: boolean): Promise<void> | undefined;
  streamSend(data: NativeData, length: number, memoryType: number): Promise<void> | undefined;
  streamRecv(data: NativeData, length: number, memoryType: number, waitAll: boolean, cancelId: number): number | Promise<number>;
  amSend(id: number, header: ArrayBufferView | null, data: NativeData | null, length: number, memoryType: number, flags: number): Promise<void> | undefined;
  put(data: NativeData, length: number, memoryType: number, remoteAddress: bigint, rkey: NativeRemoteKey): Promise<void> | undefined;
  get(data: NativeData, length: number, memoryType: number, remoteAddress: bigint, rkey: NativeRemoteKey): Promise<void> | undefined;
  atomic(
    opcode: number,
    remoteAddress: bigint,
    rkey: NativeRemoteKey,
    value: bigint,
    size: number,
    fetch: boolean,
    swap?: bigint,
  ): bigint | undefined | Promise<bigint | undefined>;
  unpackRkey(packed: Uint8Array): NativeRemoteKey;
  flush(): Promise<void> | undefined;
  /** Rejects what the endpoint started and UCX has not completed with `error` (or ERR_UCX_CLOSED) first. */
  close(force: boolean, error?: Error): Promise<void> | undefined;
  /** A close that outlived its bound: its promise resolves now, and it keeps nothing alive. */
  abandonClose(): void;
  info(): string;
  fastOps(): NativeEndpointFast;
}

export interface NativeMemoryHandle {
  address(): bigint;
  length(): number;
  packRkey(): Buffer;
  unmap(): void;
  /** Host memory UCX allocated: a copy of [offset, offset + length). */
  read(offset: number, length: number): Buffer;
  /** Host memory UCX allocated: copies `data` in at `offset`. */
  write(data: ArrayBufferView, offset: number): void;
}

export interface NativeRemoteKey {
  destroy(): void;
  fastHandle(): NativeHandle;
}

/** Kinds of the events the worker hands to its handler (csrc/events.h EventKind). */
export const enum NativeEvent {
  EndpointError = 1,
  ConnRequest = 2,
  ActiveMessage = 3,
}

/** The run-time CUDA loader (csrc/cuda.cc): libcudart is dlopen'd, so the addon needs no CUDA to build. */
export interface NativeCuda {
  cudaLoad(candidates: string[]): { ok: boolean; reason: string; library?: string; devices?: number; runtimeVersion?: number };
  cudaMalloc(bytes: number, managed: boolean): bigint;
  cudaFree(ptr: bigint): void;
  cudaMemcpy(dst: bigint | ArrayBufferView, src: bigint | ArrayBufferView, bytes: number, kind: number): void;
}

export interface NativeAddon extends Partial<NativeCuda> {
  Context: new (features: number, config: [string, string][]) => NativeContext;
  Worker: new (
    context: NativeContext,
    mode: number,
    spinUs: number,
    fallbackMs: number,
    handler: (kind: NativeEvent, ...args: unknown[]) => void,
    yieldUs?: number,
  ) => NativeWorker;
  MemoryHandle: new (context: NativeContext, data: NativeData | null, length: number, memoryType: number, allocate: boolean) => NativeMemoryHandle;
  setErrorClass(ctor: new (message: string, code: string, status: number) => Error): void;
  version(): string;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where the addon may be, best first (scripts/addon.mjs names the same files):
 * the prebuilt shipped for this platform and this Node's ABI, then a local build. A local build
 * newer than the prebuilt comes first: the install hook builds only when the prebuilt does not
 * fit, and a checkout whose csrc/ changed after `npm run prebuild` must run its new build.
 */
function candidates(): string[] {
  const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `node_ucx.abi${process.versions.modules}.node`);
  const release = path.join(root, 'build', 'Release', 'node_ucx.node');
  const mtime = (file: string): number => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : -1);
  const found = [prebuilt, release].filter((file) => mtime(file) >= 0);
  if (found.length === 2 && mtime(release) > mtime(prebuilt)) found.reverse();
  return [...found, path.join(root, 'build', 'Debug', 'node_ucx.node')].filter((file) => fs.existsSync(file));
}

const UCX_LIBRARY = /lib(ucp|uct|ucs|ucm)\.so/;

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  // UCX's memory-event hooks (UCM) patch malloc/mmap for the whole process; inside Node they
  // corrupted the heap at exit in about 1% of short runs (18 of 1,700; 0 of 1,200 without). They
  // feed UCX's registration and memory-type caches, which node-ucx does not need (it passes
  // memory types explicitly). UCM reads this when libucs loads, so it must be set before dlopen.
  // An explicit UCX_MEM_EVENTS in the environment wins. See docs/operations.md.
  process.env.UCX_MEM_EVENTS ??= 'no';
  const explicit = process.env.NODE_UCX_ADDON;
  const files = explicit ? [explicit] : candidates();
  const failures: string[] = [];
  let missingUcx: Error | undefined;
  for (const file of files) {
    let addon: NativeAddon & { nodeAbi?: number };
    try {
      addon = require(file) as NativeAddon & { nodeAbi?: number };
    } catch (error) {
      const message = (error as Error).message.split('\n')[0]!;
      debug('addon %s did not load: %s', file, message);
      if (UCX_LIBRARY.test(message)) missingUcx ??= error as Error;
      failures.push(`${path.relative(root, file) || file}: ${message}`);
      continue;
    }
    // request.cc uses V8's C++ API, which has no ABI across Node majors: a binary compiled for
    // another one may load, but is not used (scripts/addon.mjs; docs/operations.md).
    if (addon.nodeAbi !== undefined && String(addon.nodeAbi) !== process.versions.modules && !explicit) {
      debug('addon %s is built for Node ABI %d, this Node has %s: skipped', file, addon.nodeAbi, process.versions.modules);
      failures.push(`${path.relative(root, file)}: built for Node ABI ${addon.nodeAbi}, this Node (${process.version}) has ABI ${process.versions.modules}`);
      continue;
    }
    debug('addon loaded from %s (UCX %s)', file, addon.version());
    loadedFrom = file;
    return addon;
  }
  if (missingUcx !== undefined) {
    throw new Error(
      `node-ucx: the UCX runtime libraries are missing (${missingUcx.message.split('\n')[0]}). ` +
        'Install them (Debian/Ubuntu: `apt-get install libucx0`), or, for a UCX of your own, set UCX_HOME=/path/to/ucx ' +
        'and run `npm rebuild node-ucx` (or put its lib/ on LD_LIBRARY_PATH).',
      { cause: missingUcx },
    );
  }
  const tried = failures.length > 0 ? ` Tried: ${failures.join('; ')}.` : ' No prebuilt binary fits this platform and Node, and none was built.';
  throw new Error(
    `node-ucx: no native addon that this Node (${process.version}, ${process.platform}-${process.arch}) can load.${tried} ` +
      'Run `npm rebuild node-ucx`: it builds the addon, which needs UCX (Debian/Ubuntu: `apt-get install libucx-dev pkg-config`, ' +
      'or UCX_HOME=/path/to/ucx) and a compiler (`apt-get install build-essential python3`). ' +
      'In a clone of node-ucx, `npm run setup` does all of it.',
  );
}

/** The file the addon was loaded from (NODE_DEBUG=ucx prints it too). @internal */
export let loadedFrom = '';

export const native: NativeAddon = load();
native.setErrorClass(UCXError);
