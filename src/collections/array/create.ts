// Where arrays come from: typed arrays in memory, constants, ranges, seeded random numbers, and .npy
// files. Files are listed and their headers read where the graph is built (a missing file fails at
// once, naming it); the elements are read by the tasks, each block its own range of rows.
import fs from 'node:fs';
import { randomInt } from 'node:crypto';
import type { Graph } from '../../scheduler/graph.js';
import { invalidArgType, invalidArgValue, validateInteger, validateOptionalObject } from '../../util/validate.js';
import { collectionName, withLayer } from '../core/collection.js';
import { expandPaths } from '../core/glob.js';
import { DArray } from './array.js';
import {
  arrayError,
  blockIndices,
  blockKey,
  blockShape,
  formatShape,
  normalizeChunks,
  numBlocks,
  offsets,
  sizeOf,
  unifyChunks,
  validateShape,
  type ChunksSpec,
} from './chunks.js';
import { CONSTRUCTORS, dtypeOfView, isDType, type DType, type TypedArray } from './dtype.js';
import { arrayKernels, copyBox } from './kernels.js';
import { NDArray } from './ndarray.js';
import { readNpyHeader } from './npy.js';

/** Options of the functions that make arrays (fromArray, zeros, ones, full, arange, random). */
export interface ArrayOptions {
  /** Block sizes: 'auto' (about 128 MiB a block, the default), one size for every axis, or per axis a size, -1 (whole) or the sizes. */
  chunks?: ChunksSpec;
  /** The element type. Default: float64 (fromArray: the typed array's). */
  dtype?: DType;
}

function dtypeOption(dtype: unknown, fallback: DType): DType {
  if (dtype === undefined) return fallback;
  if (!isDType(dtype))
    throw invalidArgValue('options.dtype', dtype, "must be one of 'float64', 'float32', 'int32', 'int16', 'int8', 'uint32', 'uint16', 'uint8', 'bool'");
  return dtype;
}

/**
 * An array over `data` (Dask's from_array): a typed array (row-major, `shape` default its length), an
 * NDArray, or an array of numbers (dtype default float64). Each block is copied out of `data` into the
 * graph (a single block is `data` itself: do not change it while the array is in use).
 */
export function fromArray(data: TypedArray | NDArray | readonly number[], opts: ArrayOptions & { shape?: readonly number[] } = {}): DArray {
  validateOptionalObject(opts, 'options');
  let values: TypedArray;
  let dtype: DType;
  let shape: number[];
  if (data instanceof NDArray) {
    values = data.data;
    dtype = dtypeOption(opts.dtype, data.dtype);
    shape = opts.shape === undefined ? [...data.shape] : validateShape(opts.shape, 'options.shape');
  } else if (ArrayBuffer.isView(data) && dtypeOfView(data) !== null) {
    values = data as TypedArray;
    dtype = dtypeOption(opts.dtype, dtypeOfView(data)!);
    shape = opts.shape === undefined ? [values.length] : validateShape(opts.shape, 'options.shape');
  } else if (Array.isArray(data)) {
    dtype = dtypeOption(opts.dtype, 'float64');
    if (data.some((x) => typeof x !== 'number'))
      throw invalidArgType(
        'data',
        'an array of numbers',
        data.find((x) => typeof x !== 'number'),
      );
    values = new CONSTRUCTORS[dtype](data as number[]);
    shape = opts.shape === undefined ? [values.length] : validateShape(opts.shape, 'options.shape');
  } else {
    throw invalidArgType('data', 'a typed array, an NDArray or an array of numbers', data);
  }
  if (!(values instanceof CONSTRUCTORS[dtype])) values = new CONSTRUCTORS[dtype](values as ArrayLike<number>);
  if (dtype === 'bool') values = Uint8Array.from(values, (x) => (x !== 0 ? 1 : 0));
  if (sizeOf(shape) !== values.length) {
    throw arrayError(`fromArray: data has ${values.length} elements and shape ${formatShape(shape)} needs ${sizeOf(shape)}`, 'ERR_UCX_ARRAY_SHAPE');
  }
  const chunks = normalizeChunks(opts.chunks, shape, dtype);
  const name = collectionName('array', values, shape, chunks, dtype);
  const layer: Graph = {};
  const idxs = blockIndices(numBlocks(chunks));
  const starts = chunks.map(offsets);
  for (const idx of idxs) {
    if (idxs.length === 1) {
      layer[blockKey(name, idx)] = values;
      break;
    }
    const bshape = blockShape(chunks, idx);
    const block = new CONSTRUCTORS[dtype](sizeOf(bshape));
    copyBox(
      values,
      shape,
      idx.map((b, axis) => starts[axis]![b]!),
      block,
      bshape,
      bshape.map(() => 0),
      bshape,
    );
    layer[blockKey(name, idx)] = block;
  }
  return new DArray(withLayer([], name, layer), name, shape, chunks, dtype);
}

function generated(
  prefix: string,
  shape: readonly number[],
  opts: ArrayOptions,
  fallback: DType,
  task: (length: number, flat: number, dtype: DType) => unknown[],
  ...token: unknown[]
): DArray {
  validateOptionalObject(opts, 'options');
  const dims = validateShape(shape);
  const dtype = dtypeOption(opts.dtype, fallback);
  const chunks = normalizeChunks(opts.chunks, dims, dtype);
  const name = collectionName(prefix, dims, chunks, dtype, ...token);
  const layer: Graph = {};
  blockIndices(numBlocks(chunks)).forEach((idx, flat) => {
    layer[blockKey(name, idx)] = task(sizeOf(blockShape(chunks, idx)), flat, dtype);
  });
  return new DArray(withLayer([], name, layer), name, dims, chunks, dtype);
}

/** An array of `value` (Dask's full); each block made by its task. */
export function full(shape: readonly number[], value: number, opts: ArrayOptions = {}): DArray {
  if (typeof value !== 'number') throw invalidArgType('value', 'of type number', value);
  return generated('full', shape, opts, 'float64', (n, _flat, dtype) => [arrayKernels.fill, n, dtype, value], value);
}

/** An array of 0s (Dask's zeros); each block made by its task. */
export function zeros(shape: readonly number[], opts: ArrayOptions = {}): DArray {
  return generated('zeros', shape, opts, 'float64', (n, _flat, dtype) => [arrayKernels.fill, n, dtype, 0]);
}

/** An array of 1s (Dask's ones); each block made by its task. */
export function ones(shape: readonly number[], opts: ArrayOptions = {}): DArray {
  return generated('ones', shape, opts, 'float64', (n, _flat, dtype) => [arrayKernels.fill, n, dtype, 1]);
}

/**
 * Uniform random numbers in [0, 1) (Dask's random.random): each block from its own stream, seeded
 * by `seed` and the block's place, so the same seed and chunks give the same array anywhere. No
 * seed: a random one.
 */
export function random(shape: readonly number[], opts: ArrayOptions & { seed?: number } = {}): DArray {
  validateOptionalObject(opts, 'options');
  const seed = opts.seed ?? randomInt(2 ** 31);
  validateInteger(seed, 'options.seed', 0, 2 ** 32 - 1);
  const dtype = dtypeOption(opts.dtype, 'float64');
  if (dtype !== 'float64' && dtype !== 'float32') throw invalidArgValue('options.dtype', dtype, "must be 'float64' or 'float32' for random numbers");
  return generated('random', shape, opts, 'float64', (n, flat, d) => [arrayKernels.random, n, seed, flat, d], seed);
}

/**
 * Evenly spaced numbers in [start, stop) (NumPy's arange): arange(stop), arange(start, stop) or
 * arange(start, stop, step). dtype default: int32 when every argument is an integer (and the values
 * fit), else float64.
 */
export function arange(start: number, stop?: number | ArrayOptions, step?: number | ArrayOptions, opts?: ArrayOptions): DArray {
  const args: unknown[] = [start, stop, step, opts];
  const numbers: number[] = [];
  let options: ArrayOptions = {};
  for (const arg of args) {
    if (typeof arg === 'number') numbers.push(arg);
    else if (arg !== undefined) {
      options = arg as ArrayOptions;
      break;
    }
  }
  numbers.forEach((n, i) => {
    if (!Number.isFinite(n)) throw invalidArgType(['start', 'stop', 'step'][i]!, 'a finite number', n);
  });
  const [from, to, by] = numbers.length === 1 ? [0, numbers[0]!, 1] : [numbers[0]!, numbers[1]!, numbers[2] ?? 1];
  if (by === 0) throw invalidArgValue('step', by, 'must not be 0');
  const length = Math.max(0, Math.ceil((to - from) / by));
  const ints = [from, to, by].every(Number.isInteger) && Math.abs(from) < 2 ** 31 && Math.abs(from + length * by) < 2 ** 31;
  const dtype = dtypeOption((options as ArrayOptions | undefined)?.dtype, ints ? 'int32' : 'float64');
  const chunks = normalizeChunks(options.chunks, [length], dtype);
  const name = collectionName('arange', from, to, by, chunks, dtype);
  const layer: Graph = {};
  offsets(chunks[0]!).forEach((at, b) => {
    layer[blockKey(name, [b])] = [arrayKernels.arange, from + at * by, by, chunks[0]![b]!, dtype];
  });
  return new DArray(withLayer([], name, layer), name, [length], chunks, dtype);
}

/**
 * An array read from .npy files (NumPy's np.load, Dask's from_npy_stack): a path, a glob or an
 * array of them; several files are stacked along the first axis (their other axes and dtypes must
 * agree). Blocks never straddle two files. A missing file, or a glob that matches none, throws
 * ENOENT here, naming it; a file that is not a readable .npy throws ERR_UCX_ARRAY_NPY.
 */
export function readNpy(paths: string | readonly string[], opts: { chunks?: ChunksSpec } = {}): DArray {
  validateOptionalObject(opts, 'options');
  const files = expandPaths(paths, 'path');
  const headers = files.map((file) => ({ file, ...readNpyHeader(file) }));
  const first = headers[0]!;
  for (const h of headers.slice(1)) {
    if (
      first.shape.length === 0 ||
      h.dtype !== first.dtype ||
      h.shape.length !== first.shape.length ||
      h.shape.some((n, axis) => axis > 0 && n !== first.shape[axis])
    ) {
      throw arrayError(
        `readNpy: '${h.file}' holds ${h.dtype} ${formatShape(h.shape)} and '${first.file}' ${first.dtype} ${formatShape(first.shape)}: stacked files need one dtype and the same shape after the first axis`,
        'ERR_UCX_ARRAY_SHAPE',
      );
    }
  }
  const shape = first.shape.length === 0 ? [] : [headers.reduce((a, h) => a + h.shape[0]!, 0), ...first.shape.slice(1)];
  let chunks = normalizeChunks(opts.chunks, shape, first.dtype);
  if (shape.length > 0) chunks = [unifyChunks([chunks[0]!], [headers.map((h) => h.shape[0]!).filter((n, i) => n > 0 || i === 0)])[0]!, ...chunks.slice(1)];
  const stats = files.map((file) => {
    const s = fs.statSync(file);
    return [file, s.size, s.mtimeMs];
  });
  const name = collectionName('read-npy', stats, chunks);
  const fileStarts = offsets(headers.map((h) => h.shape[0] ?? 1));
  const starts = chunks.map(offsets);
  const layer: Graph = {};
  for (const idx of blockIndices(numBlocks(chunks))) {
    const bshape = blockShape(chunks, idx);
    if (shape.length === 0) {
      layer[blockKey(name, idx)] = [arrayKernels.readNpy, first.file, first.dataOffset, [], first.dtype, 0, 1, [], []];
      continue;
    }
    const row = starts[0]![idx[0]!]!;
    // The file whose rows hold the block's first row (blocks never straddle files: their boundaries are cuts).
    let f = headers.findIndex((h, i) => fileStarts[i]! <= row && row < fileStarts[i]! + h.shape[0]!);
    if (f < 0) f = 0;
    const h = headers[f]!;
    const local = row - fileStarts[f]!;
    layer[blockKey(name, idx)] = [
      arrayKernels.readNpy,
      h.file,
      h.dataOffset,
      h.shape,
      h.dtype,
      local,
      local + bshape[0]!,
      idx.slice(1).map((b, i) => starts[i + 1]![b]!),
      bshape.slice(1),
    ];
  }
  return new DArray(withLayer([], name, layer), name, shape, chunks, first.dtype);
}
