// DArray (Dask's dask.array.Array): an n-dimensional array cut into blocks (typed-array chunks,
// row-major) along every axis. Each method adds one layer to the graph, one task per output block;
// nothing runs until compute(), which resolves with an NDArray. docs/collections.md, "Array".
import fs from 'node:fs';
import nodePath from 'node:path';
import { isModuleRef, toCode, type ModuleRef } from '../../scheduler/code.js';
import { ref, type Graph, type KeyRef } from '../../scheduler/graph.js';
import { invalidArgType, invalidArgValue, outOfRange, validateBoolean, validateInteger, validateOptionalObject, validateString } from '../../util/validate.js';
import { Collection, SingleValue, collectionName, withLayer, type ComputeOptions, type Layers } from '../core/collection.js';
import { splitEveryOption } from '../core/reduction.js';
import {
  arrayError,
  blockIndices,
  blockKey,
  blockShape,
  formatChunks,
  formatShape,
  normalizeChunks,
  numBlocks,
  offsets,
  sameChunks,
  sizeOf,
  unifyChunks,
  validateShape,
  type Chunks,
  type ChunksSpec,
} from './chunks.js';
import { allocate, floatOf, isDType, isFloat, itemSize, promote, promoteScalar, type DType } from './dtype.js';
import { arrayKernels, BLOCK_ARG, copyBox, type ReduceKind } from './kernels.js';
import { NDArray } from './ndarray.js';
import { npyHeader } from './npy.js';

/** What an elementwise operation takes besides the array: a number, or a DArray whose shape broadcasts with the array's (NumPy's rule). */
export type Operand = number | DArray;

/** Options of the reductions (sum, mean, min, max, var, std, argmax, argmin). */
export interface ReduceOptions {
  /** The axes reduced: one, several, or (default) all. Negative counts from the end. */
  axis?: number | readonly number[];
  /** Keep the reduced axes, with length 1 (NumPy's keepdims). Default false. */
  keepdims?: boolean;
  /** How many partial results one combining task takes (Dask's split_every). Default 16. */
  splitEvery?: number;
}

/** One axis of a slice: an index (the axis goes), [start, stop, step] (Python's, any may be null), or null (all of it). */
export type SliceEntry = number | null | undefined | readonly [(number | null)?, (number | null)?, (number | null)?];

/** A user function: self-contained (shipped as source; pass values as extra arguments) or a moduleFunction() reference. */
export type BlockFunction = ((block: NDArray, ...args: never[]) => unknown) | ModuleRef;

/** Options of mapBlocks: what the new blocks are, where they differ from the array's. */
export interface MapBlocksOptions {
  /** The result's dtype. Default: the array's. */
  dtype?: DType;
  /** The result's block sizes, per axis (the same number of blocks as the array's). Default: the array's. */
  chunks?: readonly (readonly number[])[];
}

const SPLIT_EVERY = 16;

function label(op: string, fn: unknown): string {
  const raw = typeof fn === 'function' ? fn.name : isModuleRef(fn) ? fn.export : '';
  const name = raw.replace(/[^\w$]/g, '_').slice(0, 30);
  return name === '' ? op : `${op}-${name}`;
}

function normalizeAxis(axis: number, ndim: number, name: string): number {
  validateInteger(axis, name, -Math.max(ndim, 1), Math.max(ndim - 1, 0));
  if (ndim === 0) throw outOfRange(name, 'no axis (the array is 0-d)', axis);
  return axis < 0 ? axis + ndim : axis;
}

/**
 * A lazy, chunked n-dimensional array (Dask's dask.array.Array): elementwise arithmetic, reductions,
 * matmul, slicing, rechunk, ...; compute() gives an NDArray.
 */
export class DArray extends Collection<NDArray> {
  /** The length of each axis. */
  readonly shape: readonly number[];
  /** The block sizes of each axis (Dask's chunks): they add up to the axis's length. */
  readonly chunks: Chunks;
  /** The element type. */
  readonly dtype: DType;

  /** @internal Made by fromArray, zeros, readNpy, ... and the methods. */
  constructor(layers: Layers, name: string, shape: readonly number[], chunks: Chunks, dtype: DType) {
    super(layers, name);
    this.shape = Object.freeze(shape.slice());
    this.chunks = Object.freeze(chunks.map((c) => Object.freeze(c.slice())));
    this.dtype = dtype;
  }

  /** How many axes it has. */
  get ndim(): number {
    return this.shape.length;
  }
  /** How many elements it has (the product of the shape). */
  get size(): number {
    return sizeOf(this.shape);
  }
  /** The bytes of its elements, all blocks together. */
  get nbytes(): number {
    return this.size * itemSize(this.dtype);
  }
  /** Blocks per axis (Dask's numblocks). */
  get numblocks(): number[] {
    return numBlocks(this.chunks);
  }

  /** The keys of the blocks, row-major (Dask's __dask_keys__, flattened). */
  get keys(): readonly string[] {
    return blockIndices(this.numblocks).map((idx) => blockKey(this.name, idx));
  }

  /** The key of the block at `idx` (one index per axis). */
  blockKey(idx: readonly number[]): string {
    return blockKey(this.name, idx);
  }

  /** The blocks put together: the whole array (one block is handed over as it is). */
  finalize(results: unknown[]): NDArray {
    if (results.length === 1) return new NDArray(results[0] as ReturnType<typeof allocate>, this.shape, this.dtype);
    const out = allocate(this.dtype, this.size);
    const starts = this.chunks.map(offsets);
    blockIndices(this.numblocks).forEach((idx, i) => {
      const shape = blockShape(this.chunks, idx);
      copyBox(
        results[i] as ReturnType<typeof allocate>,
        shape,
        shape.map(() => 0),
        out,
        this.shape,
        idx.map((b, axis) => starts[axis]![b]!),
        shape,
      );
    });
    return new NDArray(out, this.shape, this.dtype);
  }

  rebuild(layers: Layers): this {
    return new DArray(layers, this.name, this.shape, this.chunks, this.dtype) as this;
  }

  /** An array of one task per block of `chunks`: `task(idx)` (a task, or a ref for a block passed on as it is). */
  #blockwise(
    name: string,
    shape: readonly number[],
    chunks: Chunks,
    dtype: DType,
    parents: readonly Collection<unknown>[],
    task: (idx: number[]) => unknown,
  ): DArray {
    const layer: Graph = {};
    for (const idx of blockIndices(numBlocks(chunks))) layer[blockKey(name, idx)] = task(idx);
    return new DArray(withLayer([this, ...parents], name, layer), name, shape, chunks, dtype);
  }

  // ---- elementwise ----

  /** `this + other`, elementwise. */
  add(other: Operand): DArray {
    return this.#binary('add', other);
  }
  /** `this - other`, elementwise. */
  sub(other: Operand): DArray {
    return this.#binary('sub', other);
  }
  /** `this * other`, elementwise. */
  mul(other: Operand): DArray {
    return this.#binary('mul', other);
  }
  /** True division: integers give float64 (NumPy's `/`). */
  div(other: Operand): DArray {
    return this.#binary('div', other);
  }
  /** `this ** other`, elementwise (integers stay integers: a result out of range wraps, a fraction truncates). */
  pow(other: Operand): DArray {
    return this.#binary('pow', other);
  }
  /** The remainder with the divisor's sign (NumPy's `%`, Python's). */
  mod(other: Operand): DArray {
    return this.#binary('mod', other);
  }
  /** The larger of the two, elementwise (NumPy's maximum: a NaN wins). */
  maximum(other: Operand): DArray {
    return this.#binary('maximum', other);
  }
  /** The smaller of the two, elementwise (NumPy's minimum: a NaN wins). */
  minimum(other: Operand): DArray {
    return this.#binary('minimum', other);
  }
  /** `this < other`, elementwise: a bool array. */
  lt(other: Operand): DArray {
    return this.#binary('lt', other);
  }
  /** `this <= other`, elementwise: a bool array. */
  le(other: Operand): DArray {
    return this.#binary('le', other);
  }
  /** `this > other`, elementwise: a bool array. */
  gt(other: Operand): DArray {
    return this.#binary('gt', other);
  }
  /** `this >= other`, elementwise: a bool array. */
  ge(other: Operand): DArray {
    return this.#binary('ge', other);
  }
  /** `this == other`, elementwise: a bool array (NaN equals nothing). */
  eq(other: Operand): DArray {
    return this.#binary('eq', other);
  }
  /** `this != other`, elementwise: a bool array (NaN differs from everything, itself too). */
  ne(other: Operand): DArray {
    return this.#binary('ne', other);
  }

  /** `-this`, elementwise, in the same dtype (unsigned integers wrap, as in NumPy). */
  neg(): DArray {
    return this.#unary('neg', this.dtype);
  }
  /** The absolute values, in the same dtype (NumPy's abs: an int8's -128 stays -128). */
  abs(): DArray {
    return this.#unary('abs', this.dtype);
  }
  /** The square roots (float32 stays float32, other dtypes give float64; negatives give NaN). */
  sqrt(): DArray {
    return this.#unary('sqrt', floatOf(this.dtype));
  }
  /** e to the elements (float32 stays float32, other dtypes give float64). */
  exp(): DArray {
    return this.#unary('exp', floatOf(this.dtype));
  }
  /** The natural logarithms (float32 stays float32, other dtypes give float64; 0 gives -Infinity). */
  log(): DArray {
    return this.#unary('log', floatOf(this.dtype));
  }

  /** The elements as another dtype (NumPy's astype: floats to integers truncate and wrap; bool is nonzero). */
  astype(dtype: DType): DArray {
    if (!isDType(dtype))
      throw invalidArgValue('dtype', dtype, "must be one of 'float64', 'float32', 'int32', 'int16', 'int8', 'uint32', 'uint16', 'uint8', 'bool'");
    if (dtype === this.dtype) return this;
    return this.#unary(dtype === 'bool' ? 'bool' : 'cast', dtype);
  }

  #unary(op: string, dtype: DType): DArray {
    const name = collectionName(op === 'cast' ? `astype-${dtype}` : op, this, dtype);
    return this.#blockwise(name, this.shape, this.chunks, dtype, [], (idx) => [arrayKernels.unary, op, ref(this.blockKey(idx)), dtype]);
  }

  #binary(op: string, other: Operand): DArray {
    const comparison = ['lt', 'le', 'gt', 'ge', 'eq', 'ne'].includes(op);
    const result = (d: DType): DType => (comparison ? 'bool' : op === 'div' ? floatOf(d) : d);
    if (typeof other === 'number') {
      const dtype = result(promoteScalar(this.dtype, other));
      const name = collectionName(op, this, other);
      return this.#blockwise(name, this.shape, this.chunks, dtype, [], (idx) => [arrayKernels.binary, op, ref(this.blockKey(idx)), other, false, true, dtype]);
    }
    if (!(other instanceof DArray)) throw invalidArgType('other', 'a number or a DArray', other);
    const dtype = result(promote(this.dtype, other.dtype));
    const name = collectionName(op, this, other);
    if (other.ndim === 0 && this.ndim !== 0) {
      const scalar = ref(other.blockKey([]));
      return this.#blockwise(name, this.shape, this.chunks, dtype, [other], (idx) => [
        arrayKernels.binary,
        op,
        ref(this.blockKey(idx)),
        scalar,
        false,
        true,
        dtype,
      ]);
    }
    if (this.ndim === 0 && other.ndim !== 0) {
      const scalar = ref(this.blockKey([]));
      const layer: Graph = {};
      for (const idx of blockIndices(other.numblocks))
        layer[blockKey(name, idx)] = [arrayKernels.binary, op, scalar, ref(other.blockKey(idx)), true, false, dtype];
      return new DArray(withLayer([this, other], name, layer), name, other.shape, other.chunks, dtype);
    }
    // Broadcasting (NumPy's rule): shapes aligned at their last axes; an axis of length 1 (or a
    // missing leading one) repeats along the other operand's. Such an axis must be one block.
    const ndim = Math.max(this.ndim, other.ndim);
    const pad = (a: DArray): { shape: number[]; chunks: (readonly number[])[] } => ({
      shape: [...Array<number>(ndim - a.ndim).fill(1), ...a.shape],
      chunks: [...Array.from({ length: ndim - a.ndim }, () => [1]), ...a.chunks],
    });
    const [pa, pb] = [pad(this), pad(other)];
    const outShape: number[] = [];
    const broadcastA: boolean[] = [];
    const broadcastB: boolean[] = [];
    for (let axis = 0; axis < ndim; axis++) {
      const [n, m] = [pa.shape[axis]!, pb.shape[axis]!];
      if (n !== m && n !== 1 && m !== 1) {
        throw arrayError(
          `${op}: the shapes ${formatShape(this.shape)} and ${formatShape(other.shape)} do not broadcast (axis ${axis}: ${n} and ${m}; chunks ${formatChunks(this.chunks)} and ${formatChunks(other.chunks)})`,
          'ERR_UCX_ARRAY_SHAPE',
        );
      }
      broadcastA.push(n === 1 && m !== 1);
      broadcastB.push(m === 1 && n !== 1);
      outShape.push(n === 1 ? m : n);
    }
    // Blocks that do not line up are cut at the boundaries of both (Dask's unify_chunks); a broadcast
    // axis takes the other operand's blocks.
    const outChunks: number[][] = outShape.map((_, axis) => {
      if (broadcastA[axis]) return [...pb.chunks[axis]!];
      if (broadcastB[axis]) return [...pa.chunks[axis]!];
      return [...unifyChunks([pa.chunks[axis]!], [pb.chunks[axis]!])[0]!];
    });
    const own = (padded: { chunks: (readonly number[])[] }, arr: DArray, broadcast: boolean[]): DArray => {
      const target = outChunks.map((c, axis) => (broadcast[axis] ? padded.chunks[axis]! : c)).slice(ndim - arr.ndim);
      return arr.rechunk(target);
    };
    const a = own(pa, this, broadcastA);
    const b = own(pb, other, broadcastB);
    const same = a.ndim === ndim && b.ndim === ndim && !broadcastA.some(Boolean) && !broadcastB.some(Boolean);
    const blockOf = (arr: DArray, broadcast: boolean[], idx: number[]): number[] => idx.map((i, axis) => (broadcast[axis] ? 0 : i)).slice(ndim - arr.ndim);
    const layer: Graph = {};
    for (const idx of blockIndices(numBlocks(outChunks))) {
      const ai = blockOf(a, broadcastA, idx);
      const bi = blockOf(b, broadcastB, idx);
      const task: unknown[] = [arrayKernels.binary, op, ref(a.blockKey(ai)), ref(b.blockKey(bi)), false, false, dtype];
      if (!same) {
        const outBlock = blockShape(outChunks, idx);
        const padShape = (arr: DArray, at: number[]): number[] => [...Array<number>(ndim - arr.ndim).fill(1), ...blockShape(arr.chunks, at)];
        task.push([padShape(a, ai), padShape(b, bi), outBlock]);
      }
      layer[blockKey(name, idx)] = task;
    }
    return new DArray(withLayer([a, b], name, layer), name, outShape, outChunks, dtype);
  }

  // ---- reductions ----

  /** The sum (integers and bools give float64: there is no int64). */
  sum(opts?: ReduceOptions): DArray {
    return this.#reduce('sum', isFloat(this.dtype) ? this.dtype : 'float64', opts);
  }
  /** The mean (float32 stays float32, other dtypes give float64; no elements give NaN). */
  mean(opts?: ReduceOptions): DArray {
    return this.#reduce('mean', floatOf(this.dtype), opts);
  }
  /** The smallest element, in the array's dtype (a NaN wins, as in NumPy's min). */
  min(opts?: ReduceOptions): DArray {
    return this.#reduce('min', this.dtype, opts);
  }
  /** The largest element, in the array's dtype (a NaN wins, as in NumPy's max). */
  max(opts?: ReduceOptions): DArray {
    return this.#reduce('max', this.dtype, opts);
  }
  /** The variance, `ddof` (default 0, NumPy's) subtracted from the count. */
  var(opts?: ReduceOptions & { ddof?: number }): DArray {
    return this.#reduce('var', floatOf(this.dtype), opts, opts?.ddof);
  }
  /** The standard deviation: the square root of var (the same `ddof`). */
  std(opts?: ReduceOptions & { ddof?: number }): DArray {
    return this.#reduce('std', floatOf(this.dtype), opts, opts?.ddof);
  }
  /** The index of the largest element: along `axis`, or (no axis) in the flattened array. The first of equal ones. */
  argmax(opts?: Omit<ReduceOptions, 'axis'> & { axis?: number }): DArray {
    return this.#reduce('argmax', this.size < 2 ** 31 ? 'int32' : 'float64', opts);
  }
  /** The index of the smallest element: along `axis`, or (no axis) in the flattened array. The first of equal ones. */
  argmin(opts?: Omit<ReduceOptions, 'axis'> & { axis?: number }): DArray {
    return this.#reduce('argmin', this.size < 2 ** 31 ? 'int32' : 'float64', opts);
  }

  #reduce(kind: ReduceKind, dtype: DType, opts: ReduceOptions | undefined, ddof = 0): DArray {
    const splitEvery = splitEveryOption(opts, SPLIT_EVERY);
    const { axis, keepdims = false } = opts ?? {};
    validateBoolean(keepdims, 'options.keepdims');
    validateInteger(ddof, 'options.ddof', 0, Number.MAX_SAFE_INTEGER);
    let axes: number[];
    if (axis === undefined || axis === null) axes = this.shape.map((_, i) => i);
    else if (typeof axis === 'number') axes = [normalizeAxis(axis, this.ndim, 'options.axis')];
    else if (Array.isArray(axis) && kind !== 'argmax' && kind !== 'argmin')
      axes = axis.map((a, i) => normalizeAxis(a as number, this.ndim, `options.axis[${i}]`));
    else throw invalidArgType('options.axis', kind.startsWith('arg') ? 'an integer' : 'an integer or an array of integers', axis);
    if (new Set(axes).size !== axes.length) throw invalidArgValue('options.axis', axis, 'names an axis twice');
    axes.sort((x, y) => x - y);
    const reduced = this.shape.map((_, i) => axes.includes(i));
    const outShape = this.shape.flatMap((n, i) => (reduced[i] ? (keepdims ? [1] : []) : [n]));
    const outChunks = this.chunks.flatMap((c, i) => (reduced[i] ? (keepdims ? [[1]] : []) : [c]));
    const name = collectionName(kind, this, axes, keepdims, splitEvery, ddof, dtype);
    const starts = this.chunks.map(offsets);
    const layer: Graph = {};
    // One tree per output block: the input blocks that differ only on the reduced axes.
    const groupCounts = this.numblocks.map((n, i) => (reduced[i] ? 1 : n));
    const inner = this.numblocks.map((n, i) => (reduced[i] ? n : 1));
    for (const group of blockIndices(groupCounts)) {
      const outIdx = group.flatMap((b, i) => (reduced[i] ? (keepdims ? [0] : []) : [b]));
      const outKey = blockKey(name, outIdx);
      const tag = outIdx.length === 0 ? '0' : outIdx.join('.');
      let level: KeyRef[] = blockIndices(inner).map((offset, j) => {
        const idx = group.map((b, i) => (reduced[i] ? offset[i]! : b));
        const key = `${name}-part-${tag}-${j}`;
        layer[key] = [
          arrayKernels.reduce,
          kind,
          ref(this.blockKey(idx)),
          blockShape(this.chunks, idx),
          axes,
          idx.map((b, i) => starts[i]![b]!),
          [...this.shape],
        ];
        return ref(key);
      });
      for (let depth = 0; level.length > splitEvery; depth++) {
        const next: KeyRef[] = [];
        for (let j = 0; j < level.length; j += splitEvery) {
          const key = `${name}-agg${depth}-${tag}-${next.length}`;
          layer[key] = [arrayKernels.aggregate, kind, level.slice(j, j + splitEvery), false, dtype, ddof];
          next.push(ref(key));
        }
        level = next;
      }
      layer[outKey] = [arrayKernels.aggregate, kind, level, true, dtype, ddof];
    }
    return new DArray(withLayer([this], name, layer), name, outShape, outChunks, dtype);
  }

  // ---- linear algebra ----

  /**
   * The matrix product of two 2-D arrays, block by block: output block (i, j) adds the products of
   * row i's and column j's blocks in a tree. The contraction axis must be chunked alike in both
   * (ERR_UCX_ARRAY_CHUNKS otherwise: rechunk one to the other's).
   */
  matmul(other: DArray, opts: { splitEvery?: number } = {}): DArray {
    if (!(other instanceof DArray)) throw invalidArgType('other', 'a DArray', other);
    const splitEvery = splitEveryOption(opts, SPLIT_EVERY);
    if (this.ndim !== 2 || other.ndim !== 2) {
      throw arrayError(`matmul: needs two 2-D arrays, not shapes ${formatShape(this.shape)} and ${formatShape(other.shape)}`, 'ERR_UCX_ARRAY_SHAPE');
    }
    const [m, k] = this.shape as [number, number];
    const [k2, n] = other.shape as [number, number];
    if (k !== k2)
      throw arrayError(`matmul: shapes ${formatShape(this.shape)} and ${formatShape(other.shape)} do not align (${k} != ${k2})`, 'ERR_UCX_ARRAY_SHAPE');
    const [ka, kb] = [this.chunks[1]!, other.chunks[0]!];
    if (ka.length !== kb.length || ka.some((c, i) => c !== kb[i])) {
      throw arrayError(
        `matmul: the contraction axis is chunked (${ka.join(', ')}) on the left (chunks ${formatChunks(this.chunks)}) and (${kb.join(', ')}) on the right (chunks ${formatChunks(other.chunks)}); rechunk one to the other's, e.g. right.rechunk([left.chunks[1], -1])`,
        'ERR_UCX_ARRAY_CHUNKS',
      );
    }
    const dtype = promote(this.dtype, other.dtype);
    const name = collectionName('matmul', this, other, splitEvery);
    const layer: Graph = {};
    const [rows, cols] = [this.chunks[0]!, other.chunks[1]!];
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < cols.length; j++) {
        const outKey = blockKey(name, [i, j]);
        const product = (l: number, cast: DType | null): unknown[] => [
          arrayKernels.matmul,
          ref(this.blockKey([i, l])),
          ref(other.blockKey([l, j])),
          rows[i]!,
          ka[l]!,
          cols[j]!,
          cast,
        ];
        if (ka.length === 1) {
          layer[outKey] = product(0, dtype);
          continue;
        }
        let level: KeyRef[] = ka.map((_, l) => {
          const key = `${name}-part-${i}.${j}-${l}`;
          layer[key] = product(l, null);
          return ref(key);
        });
        for (let depth = 0; level.length > splitEvery; depth++) {
          const next: KeyRef[] = [];
          for (let s = 0; s < level.length; s += splitEvery) {
            const key = `${name}-agg${depth}-${i}.${j}-${next.length}`;
            layer[key] = [arrayKernels.sum, level.slice(s, s + splitEvery), null];
            next.push(ref(key));
          }
          level = next;
        }
        layer[outKey] = [arrayKernels.sum, level, dtype];
      }
    }
    return new DArray(withLayer([this, other], name, layer), name, [m, n], [rows, cols], dtype);
  }

  /** matmul, for 2-D arrays (NumPy's dot). */
  dot(other: DArray, opts?: { splitEvery?: number }): DArray {
    return this.matmul(other, opts);
  }

  // ---- moving elements ----

  /** The axes permuted (default: reversed), block by block. */
  transpose(axes?: readonly number[]): DArray {
    const order = axes === undefined ? this.shape.map((_, i) => this.ndim - 1 - i) : axes;
    if (!Array.isArray(order) || order.length !== this.ndim) throw invalidArgType('axes', `a permutation of the ${this.ndim} axes`, axes);
    const perm = order.map((a, i) => normalizeAxis(a as number, this.ndim, `axes[${i}]`));
    if (new Set(perm).size !== perm.length) throw invalidArgValue('axes', axes, 'names an axis twice');
    if (perm.every((a, i) => a === i)) return this;
    const name = collectionName('transpose', this, perm);
    return this.#blockwise(
      name,
      perm.map((a) => this.shape[a]!),
      perm.map((a) => this.chunks[a]!),
      this.dtype,
      [],
      (outIdx) => {
        const idx = new Array<number>(this.ndim);
        perm.forEach((a, d) => {
          idx[a] = outIdx[d]!;
        });
        return [arrayKernels.transpose, ref(this.blockKey(idx)), blockShape(this.chunks, idx), perm, this.dtype];
      },
    );
  }

  /** transpose() (NumPy's .T). */
  get T(): DArray {
    return this.transpose();
  }

  /**
   * A selection (NumPy's basic indexing): per axis an index (the axis goes), [start, stop, step]
   * (Python's slice, negative counting from the end; any may be null) or null (the whole axis);
   * axes not named are whole. Only the blocks holding selected elements are read.
   */
  slice(spec: readonly SliceEntry[]): DArray {
    if (!Array.isArray(spec)) throw invalidArgType('spec', 'an array with an index, [start, stop, step] or null per axis', spec);
    if (spec.length > this.ndim) throw outOfRange('spec.length', `at most ${this.ndim} (the array's dimensions)`, spec.length);
    interface Segment {
      block: number;
      start: number;
      step: number;
      count: number;
    }
    const perAxis: { segments: Segment[]; drop: boolean }[] = this.shape.map((n, axis) => {
      const entry: SliceEntry = spec[axis];
      const sizes = this.chunks[axis]!;
      const starts = offsets(sizes);
      if (typeof entry === 'number') {
        if (!Number.isInteger(entry) || entry < -n || entry >= n) throw outOfRange(`spec[${axis}]`, `an integer >= ${-n} and < ${n}`, entry);
        const at = entry < 0 ? entry + n : entry;
        let block = 0;
        while (starts[block + 1] !== undefined && starts[block + 1]! <= at) block++;
        return { segments: [{ block, start: at - starts[block]!, step: 1, count: 1 }], drop: true };
      }
      let range: readonly unknown[];
      if (entry === null || entry === undefined) range = [];
      else if (Array.isArray(entry) && entry.length <= 3) range = entry;
      else throw invalidArgType(`spec[${axis}]`, 'an integer, [start, stop, step] or null', entry);
      range.forEach((v, i) => {
        if (v !== null && v !== undefined && (typeof v !== 'number' || !Number.isInteger(v)))
          throw invalidArgType(`spec[${axis}][${i}]`, 'an integer or null', v);
      });
      const step = (range[2] ?? 1) as number;
      if (step === 0) throw outOfRange(`spec[${axis}][2]`, 'a non-zero integer (the step)', step);
      // Python's slice.indices(n).
      const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
      const norm = (v: unknown, fallback: number, lo: number, hi: number): number => {
        if (v === null || v === undefined) return fallback;
        const x = v as number;
        return clamp(x < 0 ? x + n : x, lo, hi);
      };
      const start = step > 0 ? norm(range[0], 0, 0, n) : norm(range[0], n - 1, -1, n - 1);
      const stop = step > 0 ? norm(range[1], n, 0, n) : norm(range[1], -1, -1, n - 1);
      const count = Math.max(0, Math.ceil((stop - start) / step));
      const segments: Segment[] = [];
      const blocks = sizes.map((_, b) => b);
      if (step < 0) blocks.reverse();
      for (const b of blocks) {
        const lo = starts[b]!;
        const hi = lo + sizes[b]!;
        let t0: number, t1: number;
        if (step > 0) {
          t0 = Math.max(0, Math.ceil((lo - start) / step));
          t1 = Math.min(count, Math.ceil((hi - start) / step));
        } else {
          const s = -step;
          t0 = Math.max(0, Math.ceil((start - hi + 1) / s));
          t1 = Math.min(count, Math.floor((start - lo) / s) + 1);
        }
        if (t1 > t0) segments.push({ block: b, start: start + t0 * step - lo, step, count: t1 - t0 });
      }
      if (segments.length === 0) segments.push({ block: 0, start: 0, step: 1, count: 0 });
      return { segments, drop: false };
    });
    const outShape = perAxis.flatMap(({ segments, drop }) => (drop ? [] : [segments.reduce((a, s) => a + s.count, 0)]));
    const outChunks = perAxis.flatMap(({ segments, drop }) => (drop ? [] : [segments.map((s) => s.count)]));
    const name = collectionName('getitem', this, spec);
    return this.#blockwise(name, outShape, outChunks, this.dtype, [], (outIdx) => {
      let d = 0;
      const segs = perAxis.map(({ segments, drop }) => (drop ? segments[0]! : segments[outIdx[d++]!]!));
      const idx = segs.map((s) => s.block);
      const shape = blockShape(this.chunks, idx);
      const whole = segs.every((s, axis) => s.start === 0 && s.step === 1 && s.count === shape[axis]);
      if (whole) return ref(this.blockKey(idx)); // an alias: the block as it is
      return [arrayKernels.slice, ref(this.blockKey(idx)), shape, segs.map((s) => s.start), segs.map((s) => s.step), segs.map((s) => s.count), this.dtype];
    });
  }

  /**
   * The same elements in other blocks (Dask's rechunk): each new block assembled from the pieces of
   * the old blocks it overlaps, or the old block itself where they coincide.
   */
  rechunk(chunks: ChunksSpec | Chunks): DArray {
    const target = normalizeChunks(chunks, this.shape, this.dtype, 'chunks');
    if (sameChunks(target, this.chunks)) return this;
    const name = collectionName('rechunk', this, target);
    const oldStarts = this.chunks.map(offsets);
    const newStarts = target.map(offsets);
    return this.#blockwise(name, this.shape, target, this.dtype, [], (idx) => {
      const outShape = blockShape(target, idx);
      // Per axis: the old blocks overlapping the new one, with where the overlap starts in each and its length.
      const overlaps = idx.map((b, axis) => {
        const lo = newStarts[axis]![b]!;
        const hi = lo + outShape[axis]!;
        const list: { block: number; from: number; to: number; length: number }[] = [];
        this.chunks[axis]!.forEach((size, ob) => {
          const olo = oldStarts[axis]![ob]!;
          const start = Math.max(lo, olo);
          const end = Math.min(hi, olo + size);
          if (end > start || (size === 0 && hi === lo)) list.push({ block: ob, from: start - olo, to: start - lo, length: end - start });
        });
        return list;
      });
      const combos = blockIndices(overlaps.map((l) => l.length));
      if (combos.length === 1) {
        const parts = combos[0]!.map((c, axis) => overlaps[axis]![c]!);
        const oldIdx = parts.map((p) => p.block);
        const oldShape = blockShape(this.chunks, oldIdx);
        if (parts.every((p, axis) => p.from === 0 && p.length === oldShape[axis])) return ref(this.blockKey(oldIdx));
      }
      const pieces = combos.map((combo) => {
        const parts = combo.map((c, axis) => overlaps[axis]![c]!);
        const oldIdx = parts.map((p) => p.block);
        return [ref(this.blockKey(oldIdx)), blockShape(this.chunks, oldIdx), parts.map((p) => p.from), parts.map((p) => p.to), parts.map((p) => p.length)];
      });
      return [arrayKernels.assemble, outShape, this.dtype, pieces];
    });
  }

  /**
   * The same elements in another shape, row-major (NumPy's reshape; one entry may be -1: inferred).
   * Blocks are first made whole on every axis but the first, in row blocks whose elements fill whole
   * rows of the new shape: each is then a block of the result as it is (no copy). Arrays whose later
   * axes are large get large blocks this way (Dask's reshape cuts finer).
   */
  reshape(shape: readonly number[]): DArray {
    if (!Array.isArray(shape)) throw invalidArgType('shape', 'an array of integers', shape);
    const unknown = shape.filter((n) => n === -1).length;
    if (unknown > 1) throw invalidArgValue('shape', shape, 'may infer one axis (-1) at most');
    const known = shape.reduce((a: number, n: number) => (n === -1 ? a : a * n), 1);
    if (unknown === 1 && (known === 0 || this.size % known !== 0)) {
      throw arrayError(
        `reshape: an array of shape ${formatShape(this.shape)} (${this.size} elements) cannot take shape (${shape.join(', ')})`,
        'ERR_UCX_ARRAY_SHAPE',
      );
    }
    const target = validateShape(
      shape.map((n) => (n === -1 ? this.size / known : n)),
      'shape',
    );
    if (sizeOf(target) !== this.size) {
      throw arrayError(
        `reshape: an array of shape ${formatShape(this.shape)} (${this.size} elements) cannot take shape (${shape.join(', ')})`,
        'ERR_UCX_ARRAY_SHAPE',
      );
    }
    if (target.length === this.ndim && target.every((n, d) => n === this.shape[d])) return this;
    const name = collectionName('reshape', this, target);
    // One block when either side has no rows to cut (0-d, or a first axis of 0 or 1 element).
    if (this.ndim === 0 || target.length === 0 || this.size === 0) {
      const whole = this.rechunk(this.shape.map(() => -1) as never);
      const layer: Graph = {
        [blockKey(
          name,
          target.map(() => 0),
        )]: ref(whole.blockKey(whole.shape.map(() => 0))),
      };
      return new DArray(
        withLayer([whole], name, layer),
        name,
        target,
        target.map((n) => [n]),
        this.dtype,
      );
    }
    const rowIn = sizeOf(this.shape.slice(1));
    const rowOut = sizeOf(target.slice(1));
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    const step = rowOut / gcd(rowIn, rowOut); // rows of this array that fill whole rows of the result
    const rows = this.shape[0]!;
    const want = Math.max(step, Math.round(Math.max(...this.chunks[0]!) / step) * step);
    const cuts: number[] = [];
    for (let at = 0; at < rows; at += want) cuts.push(Math.min(want, rows - at));
    const blocks = this.rechunk([cuts, ...this.shape.slice(1).map(() => -1)] as never);
    const outChunks = [cuts.map((r) => (r * rowIn) / rowOut), ...target.slice(1).map((n) => [n])];
    const layer: Graph = {};
    cuts.forEach((_, i) => {
      layer[blockKey(name, [i, ...target.slice(1).map(() => 0)])] = ref(blocks.blockKey([i, ...this.shape.slice(1).map(() => 0)]));
    });
    return new DArray(withLayer([blocks], name, layer), name, target, outChunks, this.dtype);
  }

  /** reshape([-1]) (NumPy's ravel). */
  ravel(): DArray {
    return this.reshape([-1]);
  }

  // ---- user functions ----

  /**
   * `fn(block, ...args)` for each block (Dask's map_blocks): `block` an NDArray; an extra argument
   * that is a DArray with as many blocks gives its block at the same place (an NDArray), any other
   * value is passed as it is. `fn` returns the new block: an NDArray, a typed array or numbers.
   */
  mapBlocks(fn: BlockFunction, opts: MapBlocksOptions = {}, ...args: unknown[]): DArray {
    if (!isModuleRef(fn)) {
      if (typeof fn !== 'function') throw invalidArgType('fn', 'a function or a moduleFunction() reference', fn);
      toCode(fn, 'fn');
    }
    validateOptionalObject(opts, 'options');
    const dtype = opts.dtype ?? this.dtype;
    if (!isDType(dtype)) throw invalidArgValue('options.dtype', dtype, 'is not a dtype');
    let chunks: Chunks = this.chunks;
    if (opts.chunks !== undefined) {
      if (
        !Array.isArray(opts.chunks) ||
        opts.chunks.length !== this.ndim ||
        opts.chunks.some((c, axis) => !Array.isArray(c) || c.length !== this.chunks[axis]!.length || c.some((n) => !Number.isInteger(n) || n < 0))
      ) {
        throw arrayError(
          `mapBlocks: options.chunks must give, for each of the ${this.ndim} axes, as many block sizes as the array has blocks there (chunks ${formatChunks(this.chunks)})`,
          'ERR_UCX_ARRAY_CHUNKS',
        );
      }
      chunks = opts.chunks.map((c) => c.slice());
    }
    const parents: DArray[] = [];
    args.forEach((arg, at) => {
      if (!(arg instanceof DArray)) return;
      if (arg.ndim !== this.ndim || arg.numblocks.some((n, axis) => n !== this.numblocks[axis])) {
        throw arrayError(
          `mapBlocks: args[${at}] has blocks ${formatChunks(arg.chunks)} and the array ${formatChunks(this.chunks)}: block arguments need as many blocks on each axis`,
          'ERR_UCX_ARRAY_CHUNKS',
        );
      }
      parents.push(arg);
    });
    const block = (a: DArray, idx: number[]): unknown => ({ [BLOCK_ARG]: ref(a.blockKey(idx)), shape: blockShape(a.chunks, idx), dtype: a.dtype });
    const name = collectionName(label('map-blocks', fn), this, fn, args, chunks, dtype);
    const shape = chunks.map((c) => c.reduce((a, b) => a + b, 0));
    return this.#blockwise(name, shape, chunks, dtype, parents, (idx) => [
      arrayKernels.mapBlocks,
      fn,
      block(this, idx),
      args.map((arg) => (arg instanceof DArray ? block(arg, idx) : arg)),
      blockShape(chunks, idx),
      dtype,
      idx.join('.') || '0',
    ]);
  }

  // ---- files ----

  /**
   * Writes the array to one .npy file (NumPy's format, version 1.0, C order) and resolves with its
   * path. The header is written here, first; each block of rows is written by its task, at its
   * place. The file must be reachable where the tasks run (a Client's workers: a shared disk).
   */
  async toNpy(path: string, opts: ComputeOptions = {}): Promise<string> {
    validateString(path, 'path');
    if (path === '') throw invalidArgValue('path', path, 'must not be empty');
    const file = nodePath.resolve(path);
    // Blocks of whole rows: each is one contiguous range of the file.
    const rows = this.ndim === 0 ? this : this.rechunk([this.chunks[0]!, ...this.shape.slice(1).map((n) => [n])]);
    const header = npyHeader(this.dtype, this.shape);
    fs.writeFileSync(file, header);
    fs.truncateSync(file, header.length + this.nbytes);
    const name = collectionName('to-npy', rows, file, Symbol('write'));
    const rowBytes = sizeOf(this.shape.slice(1)) * itemSize(this.dtype);
    const starts = this.ndim === 0 ? [0] : offsets(rows.chunks[0]!);
    const layer: Graph = {};
    const writes = rows.keys.map((key, i) => {
      const writeKey = `${name}-write-${i}`;
      layer[writeKey] = [arrayKernels.writeNpy, ref(key), file, header.length + starts[i]! * rowBytes];
      return ref(writeKey);
    });
    layer[`${name}-0`] = [arrayKernels.npyWritten, writes, file];
    return new Written(withLayer([rows], name, layer), name).compute(opts);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DArray<${this.name}, shape ${formatShape(this.shape)}, ${this.dtype}, chunks ${formatChunks(this.chunks)}>`;
  }
}

/** What toNpy computes: the written file's path. */
class Written extends SingleValue<string> {}

/**
 * The arrays joined along `axis` (NumPy's concatenate): no task, the blocks are reused (the other
 * axes are cut to common blocks first where their chunks differ). Shapes must agree except on
 * `axis`; dtypes are promoted to a common one.
 */
export function concatenate(list: readonly DArray[], opts: { axis?: number } = {}): DArray {
  if (!Array.isArray(list) || list.length === 0 || list.some((a) => !(a instanceof DArray)))
    throw invalidArgType('arrays', 'a non-empty array of DArrays', list);
  const arrays: readonly DArray[] = list;
  validateOptionalObject(opts, 'options');
  const first = arrays[0]!;
  if (first.ndim === 0) throw arrayError('concatenate: 0-d arrays cannot be joined', 'ERR_UCX_ARRAY_SHAPE');
  const axis = normalizeAxis(opts.axis ?? 0, first.ndim, 'options.axis');
  for (const a of arrays) {
    if (a.ndim !== first.ndim || a.shape.some((n, d) => d !== axis && n !== first.shape[d])) {
      throw arrayError(`concatenate: shapes ${formatShape(first.shape)} and ${formatShape(a.shape)} differ off axis ${axis}`, 'ERR_UCX_ARRAY_SHAPE');
    }
  }
  const dtype = arrays.map((a) => a.dtype).reduce(promote);
  let common: Chunks = first.chunks;
  for (const a of arrays.slice(1))
    common = unifyChunks(
      common,
      a.chunks.map((c, d) => (d === axis ? common[d]! : c)),
    );
  const parts = arrays.map((a) => a.astype(dtype).rechunk(a.chunks.map((c, d) => (d === axis ? c : common[d]!))));
  const chunks = common.map((c, d) => (d === axis ? parts.flatMap((p) => p.chunks[axis]!) : c));
  const name = collectionName('concatenate', parts, axis);
  const owner: [DArray, number][] = parts.flatMap((p) => p.chunks[axis]!.map((_, b) => [p, b] as [DArray, number]));
  const layer: Graph = {};
  for (const idx of blockIndices(numBlocks(chunks))) {
    const [part, b] = owner[idx[axis]!]!;
    layer[blockKey(name, idx)] = ref(part.blockKey(idx.map((i, d) => (d === axis ? b : i))));
  }
  const shape = first.shape.map((n, d) => (d === axis ? parts.reduce((s, p) => s + p.shape[axis]!, 0) : n));
  return new DArray(withLayer(parts, name, layer), name, shape, chunks, dtype);
}
