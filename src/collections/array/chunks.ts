// Chunkings (Dask's `chunks`): for each axis, the sizes of its blocks, which add up to the axis's
// length. Blocks are named by their index on each axis, row-major; a block's key is
// `<name>-<i>.<j>...` ('<name>-0' for a 0-d array).
import { invalidArgType, outOfRange } from '../../util/validate.js';
import { itemSize, type DType } from './dtype.js';

/** A chunking: for each axis, the sizes of its blocks, in order (Dask's normalized chunks: ((2, 2), (3,))). */
export type Chunks = readonly (readonly number[])[];
/**
 * How chunks are asked for: 'auto' (blocks of about 128 MiB), one size for every axis, or per axis a
 * size, -1 (the whole axis), 'auto', or the block sizes themselves.
 */
export type ChunksSpec = 'auto' | number | readonly (number | 'auto' | readonly number[])[];

/** Dask's array.chunk-size: the bytes of an 'auto' block. */
export const AUTO_CHUNK_BYTES = 128 * 1024 * 1024;

export function arrayError(message: string, code: string, Kind: typeof Error = RangeError): Error & { code: string } {
  return Object.assign(new Kind(message), { code });
}

/** '((2, 2), (3,))': a chunking as Dask prints it, for messages. */
export function formatChunks(chunks: Chunks): string {
  return `(${chunks.map((c) => `(${c.join(', ')}${c.length === 1 ? ',' : ''})`).join(', ')}${chunks.length === 1 ? ',' : ''})`;
}

export function formatShape(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

export function validateShape(shape: unknown, name = 'shape'): number[] {
  const list = typeof shape === 'number' ? [shape] : shape;
  if (!Array.isArray(list)) throw invalidArgType(name, 'an array of non-negative integers', shape);
  list.forEach((n, i) => {
    if (typeof n !== 'number') throw invalidArgType(`${name}[${i}]`, 'of type number', n);
    if (!Number.isInteger(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) throw outOfRange(`${name}[${i}]`, 'an integer >= 0', n);
  });
  return list.slice() as number[];
}

/** Blocks of `size` covering `length` (the last may be smaller); [0] for an empty axis. */
function regular(length: number, size: number): number[] {
  if (length === 0) return [0];
  const out: number[] = [];
  for (let at = 0; at < length; at += size) out.push(Math.min(size, length - at));
  return out;
}

/** The chunking `spec` asks for on an array of `shape` and `dtype`. Throws coded errors for a bad one. */
export function normalizeChunks(spec: unknown, shape: readonly number[], dtype: DType, name = 'options.chunks'): Chunks {
  if (spec === undefined || spec === 'auto')
    return autoChunks(
      shape,
      dtype,
      shape.map(() => true),
    );
  if (typeof spec === 'number') spec = shape.map(() => spec);
  if (!Array.isArray(spec)) throw invalidArgType(name, "'auto', a block size, or an array with one entry per axis", spec);
  if (spec.length !== shape.length) {
    throw arrayError(
      `${name} has ${spec.length} entries for an array of ${shape.length} dimension${shape.length === 1 ? '' : 's'} (shape ${formatShape(shape)})`,
      'ERR_UCX_ARRAY_CHUNKS',
    );
  }
  const auto = spec.map((s) => s === 'auto');
  const out: number[][] = [];
  spec.forEach((entry: unknown, axis) => {
    const length = shape[axis]!;
    if (entry === 'auto') return void out.push([]);
    if (typeof entry === 'number') {
      if (entry === -1) return void out.push([length]);
      if (!Number.isInteger(entry) || entry < 1) throw outOfRange(`${name}[${axis}]`, 'an integer >= 1, or -1 for the whole axis', entry);
      return void out.push(regular(length, entry));
    }
    if (!Array.isArray(entry) || entry.length === 0 || entry.some((n) => typeof n !== 'number' || !Number.isInteger(n) || n < 0)) {
      throw invalidArgType(`${name}[${axis}]`, "a block size, -1, 'auto', or a non-empty array of block sizes", entry);
    }
    const total = (entry as number[]).reduce((a, b) => a + b, 0);
    if (total !== length) {
      throw arrayError(
        `${name}[${axis}] (${(entry as number[]).join(', ')}) adds up to ${total}, not to the axis's length ${length} (shape ${formatShape(shape)})`,
        'ERR_UCX_ARRAY_CHUNKS',
      );
    }
    out.push((entry as number[]).slice());
  });
  if (auto.some(Boolean)) {
    const fixed = autoChunks(shape, dtype, auto, out);
    return fixed;
  }
  return out;
}

/**
 * Blocks of about AUTO_CHUNK_BYTES: the axes marked `free` start whole and the largest of them is
 * halved until a block fits (the others keep `given`'s largest block).
 */
function autoChunks(shape: readonly number[], dtype: DType, free: readonly boolean[], given: readonly number[][] = []): Chunks {
  const size = shape.map((n, axis) => (free[axis] ? Math.max(1, n) : Math.max(1, ...given[axis]!)));
  const bytes = (): number => size.reduce((a, b) => a * b, itemSize(dtype));
  while (bytes() > AUTO_CHUNK_BYTES) {
    let widest = -1;
    for (let axis = 0; axis < shape.length; axis++) if (free[axis] && size[axis]! > 1 && (widest < 0 || size[axis]! > size[widest]!)) widest = axis;
    if (widest < 0) break;
    size[widest] = Math.ceil(size[widest]! / 2);
  }
  return shape.map((n, axis) => (free[axis] ? regular(n, size[axis]!) : given[axis]!));
}

export function numBlocks(chunks: Chunks): number[] {
  return chunks.map((c) => c.length);
}

/** The start of each block on an axis. */
export function offsets(sizes: readonly number[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(at);
    at += n;
  }
  return out;
}

/** Every block index, row-major. */
export function blockIndices(counts: readonly number[]): number[][] {
  const out: number[][] = [];
  const total = counts.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    const idx = new Array<number>(counts.length);
    let rest = flat;
    for (let axis = counts.length - 1; axis >= 0; axis--) {
      idx[axis] = rest % counts[axis]!;
      rest = Math.floor(rest / counts[axis]!);
    }
    out.push(idx);
  }
  return out;
}

export function blockKey(name: string, idx: readonly number[]): string {
  return `${name}-${idx.length === 0 ? '0' : idx.join('.')}`;
}

export function blockShape(chunks: Chunks, idx: readonly number[]): number[] {
  return idx.map((i, axis) => chunks[axis]![i]!);
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function sameChunks(a: Chunks, b: Chunks): boolean {
  return a.length === b.length && a.every((c, axis) => c.length === b[axis]!.length && c.every((n, i) => n === b[axis]![i]));
}

/** The common refinement of two chunkings of one shape: every block boundary of either (Dask's unify_chunks). */
export function unifyChunks(a: Chunks, b: Chunks): Chunks {
  return a.map((sizes, axis) => {
    const cuts = new Set([...offsets(sizes), ...offsets(b[axis]!)]);
    const total = sizes.reduce((x, y) => x + y, 0);
    if (total === 0) return [0];
    const sorted = [...cuts].filter((c) => c < total).sort((x, y) => x - y);
    return sorted.map((start, i) => (sorted[i + 1] ?? total) - start);
  });
}
