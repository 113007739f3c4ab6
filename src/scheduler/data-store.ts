// DataStore: a task worker's results, in memory up to a target and on disk past it
// (Dask's spill): least recently used results are spilled first, each as the
// object codec's frames in a file of its own, and read back when a task or a peer
// needs them. Sizes are estimates (sizeOf): typed arrays exactly, other values roughly.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { encodeFrames, decodeFrames } from '../util/object-codec.js';

interface Entry {
  value: unknown;
  nbytes: number;
  spilled: string | null;
}

export interface DataStoreOptions {
  /** Bytes the results may take in memory before the oldest are spilled (0: never spill). */
  target: number;
  /** Where spilled results go (a fresh directory under os.tmpdir() by default); removed on close(). */
  directory?: string;
  /**
   * After spilling, collect garbage (needs --expose-gc): a spilled result's memory is free only once
   * V8 collects it, which it may put off past the memory limit.
   */
  collectGarbage?: boolean;
}

export class DataStore {
  readonly #entries = new Map<string, Entry>();
  /** In-memory keys, least recently used first (a Map keeps insertion order: touching re-inserts). */
  readonly #lru = new Map<string, true>();
  readonly #target: number;
  readonly #directory: string;
  readonly #gc: (() => void) | undefined;
  #made = false;
  #seq = 0;
  memoryBytes = 0;
  spilledBytes = 0;
  /** Spills and reads back, for the dashboard and the tests. */
  spills = 0;
  unspills = 0;

  constructor(opts: DataStoreOptions) {
    this.#target = opts.target;
    this.#gc = opts.collectGarbage === true ? (globalThis as { gc?: () => void }).gc : undefined;
    this.#directory = opts.directory ?? path.join(os.tmpdir(), `node-ucx-worker-${process.pid}-${Date.now().toString(36)}`);
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  nbytesOf(key: string): number {
    return this.#entries.get(key)?.nbytes ?? 0;
  }

  set(key: string, value: unknown, nbytes: number): void {
    this.delete(key);
    this.#entries.set(key, { value, nbytes, spilled: null });
    this.#lru.set(key, true);
    this.memoryBytes += nbytes;
    this.#spillPastTarget(key);
  }

  /** The value, read back from disk if it was spilled (then it is in memory again, most recently used). */
  async get(key: string): Promise<unknown> {
    const entry = this.#entries.get(key);
    if (entry === undefined) throw Object.assign(new Error(`no result '${key}' on this worker`), { code: 'ERR_SCHEDULER_MISSING_KEY' });
    if (entry.spilled === null) {
      this.#lru.delete(key);
      this.#lru.set(key, true);
      return entry.value;
    }
    const file = entry.spilled;
    const value = decodeFrames(readFrames(await fsp.readFile(file)));
    // Deleted or read twice meanwhile?
    if (this.#entries.get(key) !== entry || entry.spilled === null) return this.#entries.get(key)?.value ?? value;
    entry.value = value;
    entry.spilled = null;
    this.spilledBytes -= entry.nbytes;
    this.memoryBytes += entry.nbytes;
    this.unspills++;
    this.#lru.set(key, true);
    void fsp.rm(file, { force: true });
    this.#spillPastTarget(key);
    return value;
  }

  /** Whether the value is in memory now (no disk read needed). */
  inMemory(key: string): boolean {
    return this.#entries.get(key)?.spilled === null;
  }

  /** The value if it is in memory (see inMemory), without touching its place in the LRU order. */
  peek(key: string): unknown {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.spilled === null ? entry.value : undefined;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    if (entry.spilled === null) {
      this.#lru.delete(key);
      this.memoryBytes -= entry.nbytes;
    } else {
      this.spilledBytes -= entry.nbytes;
      fs.rm(entry.spilled, { force: true }, () => {});
    }
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#lru.clear();
    this.memoryBytes = 0;
    this.spilledBytes = 0;
    if (this.#made) await fsp.rm(this.#directory, { recursive: true, force: true });
  }

  /** Spills every result held in memory (memory is short: the worker pauses). */
  spillAll(): void {
    let spilled = false;
    for (const key of [...this.#lru.keys()]) spilled = this.#spill(key) || spilled;
    if (spilled) this.#gc?.();
  }

  /** Spills least recently used results (never `keep`, the one just touched) until memory is under the target. */
  #spillPastTarget(keep: string): void {
    if (this.#target <= 0) return;
    let spilled = false;
    for (const key of this.#lru.keys()) {
      if (this.memoryBytes <= this.#target) break;
      if (key === keep) continue;
      spilled = this.#spill(key) || spilled;
    }
    if (spilled) this.#gc?.();
  }

  #spill(key: string): boolean {
    const entry = this.#entries.get(key)!;
    let frames: Buffer[];
    try {
      frames = encodeFrames(entry.value);
    } catch {
      return false; // cannot be written (a value that does not serialize): it stays in memory
    }
    if (!this.#made) {
      fs.mkdirSync(this.#directory, { recursive: true, mode: 0o700 });
      this.#made = true;
    }
    const file = path.join(this.#directory, `${(this.#seq++).toString(36)}.spill`);
    // Synchronous: spilling is how memory is kept in check, and must be done before more comes in. The
    // frames are written as they are (no copy of the value into one buffer).
    const fd = fs.openSync(file, 'w', 0o600);
    try {
      writeFrames(fd, frames);
    } finally {
      fs.closeSync(fd);
    }
    entry.value = undefined;
    entry.spilled = file;
    this.#lru.delete(key);
    this.memoryBytes -= entry.nbytes;
    this.spilledBytes += entry.nbytes;
    this.spills++;
    return true;
  }
}

/** u32 count, count x u64 lengths, then the frames. */
function writeFrames(fd: number, frames: Buffer[]): void {
  const header = Buffer.alloc(4 + 8 * frames.length);
  header.writeUInt32LE(frames.length, 0);
  frames.forEach((frame, i) => header.writeBigUInt64LE(BigInt(frame.length), 4 + 8 * i));
  let pending = [header, ...frames].filter((b) => b.length > 0);
  while (pending.length > 0) {
    let written = fs.writevSync(fd, pending);
    // A short write: the rest goes again.
    while (pending.length > 0 && written >= pending[0]!.length) written -= pending.shift()!.length;
    if (written > 0) pending[0] = pending[0]!.subarray(written);
  }
}

function readFrames(bytes: Buffer): Buffer[] {
  const count = bytes.readUInt32LE(0);
  const frames: Buffer[] = [];
  let offset = 4 + 8 * count;
  for (let i = 0; i < count; i++) {
    const length = Number(bytes.readBigUInt64LE(4 + 8 * i));
    frames.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return frames;
}

/** Estimated bytes of a value in memory: typed arrays exactly; strings, numbers and containers roughly (large ones sampled). */
export function sizeOf(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'undefined':
      return 8;
    case 'bigint':
      return 16 + Math.ceil(value.toString(16).length / 2);
    case 'string':
      return 16 + value.length * 2;
    case 'function':
    case 'symbol':
      return 64;
    default:
      break;
  }
  if (value === null) return 8;
  if (ArrayBuffer.isView(value)) return value.byteLength + 64;
  if (value instanceof ArrayBuffer) return value.byteLength + 64;
  if (depth > 8) return 64;
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return 32;
    const sample = Math.min(n, 64);
    let sum = 0;
    for (let i = 0; i < sample; i++) sum += sizeOf(value[Math.floor((i * n) / sample)], depth + 1);
    return 32 + 8 * n + Math.round((sum / sample) * n);
  }
  if (value instanceof Map || value instanceof Set) {
    let sum = 64;
    let i = 0;
    for (const item of value as Iterable<unknown>) {
      if (i++ > 64) break;
      sum += sizeOf(item, depth + 1) + 16;
    }
    return Math.round(sum * Math.max(1, value.size / 64));
  }
  let sum = 56;
  let count = 0;
  for (const key in value as Record<string, unknown>) {
    if (count++ > 64) break;
    sum += 40 + key.length * 2 + sizeOf((value as Record<string, unknown>)[key], depth + 1);
  }
  return sum;
}
