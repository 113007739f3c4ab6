// The array's chunk kernels (Dask's dask.array chunk functions): exported so that every executor
// imports this module by reference (moduleFunction(import.meta.url, name)); nothing here is shipped
// as source. A chunk is a bare typed array, row-major; its shape and dtype are known where the graph
// is built and travel as arguments, so chunks move between threads and workers as typed arrays
// (structured clone, or the object codec's frames: zero copy over UCX).
import fs from 'node:fs';
import { moduleFunction } from '../../scheduler/code.js';
import { callable } from '../../scheduler/local/index.js';
import { allocate, CONSTRUCTORS, dtypeOfView, type DType, type TypedArray } from './dtype.js';
import { NDArray } from './ndarray.js';

function coded(error: Error, code: string): Error {
  return Object.assign(error, { code });
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    out[axis] = s;
    s *= shape[axis]!;
  }
  return out;
}

/** `values` as a typed array of `dtype` (bool: nonzero is 1, as NumPy casts). */
export function castTo(values: TypedArray, dtype: DType): TypedArray {
  if (dtype === 'bool') {
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 ? 1 : 0;
    return out;
  }
  const Ctor = CONSTRUCTORS[dtype];
  return values instanceof Ctor && dtypeOfView(values) === dtypeOfView(new Ctor(0)) ? values : new Ctor(values as ArrayLike<number>);
}

// ---- creation ----

export function fillChunk(length: number, dtype: DType, value: number): TypedArray {
  const out = allocate(dtype, length);
  if (value !== 0) out.fill(dtype === 'bool' ? (value ? 1 : 0) : value);
  return out;
}

export function arangeChunk(start: number, step: number, length: number, dtype: DType): TypedArray {
  const out = allocate(dtype, length);
  for (let i = 0; i < length; i++) out[i] = start + i * step;
  return out;
}

/** splitmix32: a seed's bits spread, so that neighbouring blocks get unrelated streams. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Uniform numbers in [0, 1) for block `block` of a random array (sfc32, seeded from the array's
 * seed and the block's index): the same seed and chunks give the same numbers on every scheduler.
 */
export function randomChunk(length: number, seed: number, block: number, dtype: DType): TypedArray {
  let a = mix32(seed),
    b = mix32(a ^ block),
    c = mix32(b ^ 0x5bd1e995),
    d = 1;
  let t = 0;
  // sfc32, its state in locals (a closure per draw costs as much as the draw).
  for (let i = 0; i < 12; i++) {
    t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
  }
  const out = allocate(dtype, length);
  for (let i = 0; i < length; i++) {
    t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    const hi = (t >>> 0) >>> 5;
    t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    // 53 random bits: 27 from one draw, 26 from the next.
    out[i] = (hi * 67108864 + ((t >>> 0) >>> 6)) / 9007199254740992;
  }
  return out;
}

// ---- elementwise ----

const BINARY: Readonly<Record<string, string>> = Object.freeze({
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  pow: 'x ** y',
  mod: '((x % y) + y) % y',
  maximum: '(x > y || x !== x) ? x : y',
  minimum: '(x < y || x !== x) ? x : y',
  lt: 'x < y ? 1 : 0',
  le: 'x <= y ? 1 : 0',
  gt: 'x > y ? 1 : 0',
  ge: 'x >= y ? 1 : 0',
  eq: 'x === y ? 1 : 0',
  ne: 'x !== y ? 1 : 0',
});
export const COMPARISONS: ReadonlySet<string> = new Set(['lt', 'le', 'gt', 'ge', 'eq', 'ne']);
const UNARY: Readonly<Record<string, string>> = Object.freeze({
  neg: '-x',
  abs: 'Math.abs(x)',
  sqrt: 'Math.sqrt(x)',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  cast: 'x',
  bool: 'x !== 0 ? 1 : 0',
});
export const BINARY_OPS: readonly string[] = Object.keys(BINARY);
export const UNARY_OPS: readonly string[] = Object.keys(UNARY);

type Loop = (out: TypedArray, a: unknown, b: unknown, n: number) => void;
const loops = new Map<string, Loop>();

/** A loop for one expression, compiled once per thread: one closure per element would cost more than the arithmetic. */
function loopFor(expr: string, aScalar: boolean, bScalar: boolean): Loop {
  const id = `${expr}|${aScalar}|${bScalar}`;
  let loop = loops.get(id);
  if (loop === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    loop = new Function(
      'out',
      'a',
      'b',
      'n',
      `for (let i = 0; i < n; i++) { const x = ${aScalar ? 'a' : 'a[i]'}; const y = ${bScalar ? 'b' : 'b[i]'}; out[i] = ${expr}; }`,
    ) as Loop;
    loops.set(id, loop);
  }
  return loop;
}

function scalarOf(value: unknown): number {
  return ArrayBuffer.isView(value) ? (value as TypedArray)[0]! : (value as number);
}

/**
 * `op` elementwise (BINARY's names): each operand a chunk, or (`aScalar`/`bScalar`) a number or a
 * 0-d array's one-element chunk, which every element meets.
 */
export function binaryChunk(
  op: string,
  a: unknown,
  b: unknown,
  aScalar: boolean,
  bScalar: boolean,
  dtype: DType,
  shapes: [number[], number[], number[]] | null = null,
): TypedArray {
  const expr = BINARY[op];
  if (expr === undefined) throw coded(new RangeError(`no elementwise operation '${op}'`), 'ERR_INVALID_ARG_VALUE');
  if (shapes !== null) {
    // Broadcasting (NumPy's rule, shapes already padded to one length): an operand's axes of length 1
    // repeat along the result's, copied out first so that the loop below stays a plain one.
    const [aShape, bShape, outShape] = shapes;
    if (!aScalar) a = broadcastTo(a as TypedArray, aShape, outShape);
    if (!bScalar) b = broadcastTo(b as TypedArray, bShape, outShape);
  }
  const x = aScalar ? scalarOf(a) : a;
  const y = bScalar ? scalarOf(b) : b;
  const n = aScalar ? (bScalar ? 1 : (b as TypedArray).length) : (a as TypedArray).length;
  if (!aScalar && !bScalar && (b as TypedArray).length !== n) {
    throw coded(new RangeError(`${op}: chunks of ${n} and ${(b as TypedArray).length} elements`), 'ERR_UCX_ARRAY_CHUNKS');
  }
  const out = allocate(dtype, n);
  loopFor(expr, aScalar, bScalar)(out, x, y, n);
  return dtype === 'bool' && !COMPARISONS.has(op) ? castTo(out, 'bool') : out;
}

/** A chunk of `shape` repeated along the axes where it has length 1 and `outShape` does not. */
function broadcastTo(x: TypedArray, shape: readonly number[], outShape: readonly number[]): TypedArray {
  if (shape.every((n, axis) => n === outShape[axis])) return x;
  const strides = stridesOf(shape).map((st, axis) => (shape[axis] === 1 && outShape[axis] !== 1 ? 0 : st));
  return gather(x, 0, strides, outShape, dtypeOfView(x) ?? 'float64');
}

export function unaryChunk(op: string, a: TypedArray, dtype: DType): TypedArray {
  const expr = UNARY[op];
  if (expr === undefined) throw coded(new RangeError(`no elementwise function '${op}'`), 'ERR_INVALID_ARG_VALUE');
  const out = allocate(dtype, a.length);
  loopFor(dtype === 'bool' && op !== 'bool' ? `(${expr}) !== 0 ? 1 : 0` : expr, false, true)(out, a, 0, a.length);
  return out;
}

// ---- reductions ----

export type ReduceKind = 'sum' | 'min' | 'max' | 'mean' | 'var' | 'std' | 'argmax' | 'argmin';

/**
 * A chunk's partial result: `n` elements reduced into each slot (the same for every slot), and per
 * slot `v` (sums, minima, maxima or means), `m2` (sums of squared deviations: var, std) or `i`
 * (the index of the extreme value: argmax, argmin). Slots are the chunk's shape with the reduced
 * axes of length 1.
 */
export interface Partial {
  n: number;
  v: Float64Array;
  m2?: Float64Array;
  i?: Float64Array;
}

type Run = (inAt: number, outAt: number, len: number, outStep: number, rAt: number, rStep: number) => void;

/**
 * Calls `run` for each row (the last axis) of a chunk of `shape`: where it starts in the chunk and
 * in the slots (outStr: the slots' strides, 0 on reduced axes), and its first element's reduced
 * index (rStr: strides over the reduced axes of the whole array, `offset` the chunk's start).
 */
function eachRun(shape: readonly number[], outStr: readonly number[], rStr: readonly number[], offset: readonly number[], run: Run): void {
  const nd = shape.length;
  if (nd === 0) return run(0, 0, 1, 0, 0, 0);
  const total = sizeOf(shape);
  if (total === 0) return;
  const last = nd - 1;
  const len = shape[last]!;
  const loc = new Array<number>(last).fill(0);
  for (let inAt = 0; inAt < total; inAt += len) {
    let o = 0;
    let r = offset[last]! * rStr[last]!;
    for (let d = 0; d < last; d++) {
      o += loc[d]! * outStr[d]!;
      r += (offset[d]! + loc[d]!) * rStr[d]!;
    }
    run(inAt, o, len, outStr[last]!, r, rStr[last]!);
    for (let d = last - 1; d >= 0; d--) {
      if (++loc[d]! < shape[d]!) break;
      loc[d] = 0;
    }
  }
}

/**
 * Reduces a chunk of `shape` over `axes` (sorted): its partial result. `offset` (the chunk's start)
 * and `fullShape` (the array's) give argmax/argmin their indices in the whole array: along the axis,
 * or flat over all axes.
 */
export function reduceChunk(kind: ReduceKind, x: TypedArray, shape: number[], axes: number[], offset: number[], fullShape: number[]): Partial {
  const reduced = shape.map((_, axis) => axes.includes(axis));
  const slotShape = shape.map((n, axis) => (reduced[axis] ? 1 : n));
  const slotStr = stridesOf(slotShape).map((s, axis) => (reduced[axis] ? 0 : s));
  const slots = sizeOf(slotShape);
  const n = axes.reduce((acc, axis) => acc * shape[axis]!, 1);
  const rShape = fullShape.map((len, axis) => (reduced[axis] ? len : 1));
  const rStr = stridesOf(rShape).map((s, axis) => (reduced[axis] ? s : 0));
  const all = axes.length === shape.length;
  const v = new Float64Array(slots);
  const runs = (run: Run): void => (all && kind !== 'argmax' && kind !== 'argmin' ? run(0, 0, x.length, 0, 0, 0) : eachRun(shape, slotStr, rStr, offset, run));
  switch (kind) {
    case 'sum':
    case 'mean':
    case 'var':
    case 'std': {
      runs((inAt, outAt, len, step) => {
        if (step === 0) {
          let s = 0;
          for (let k = 0; k < len; k++) s += x[inAt + k]!;
          v[outAt] += s;
        } else {
          for (let k = 0; k < len; k++) v[outAt + k] += x[inAt + k]!;
        }
      });
      if (kind === 'sum') return { n, v };
      if (n > 0) for (let s = 0; s < slots; s++) v[s] /= n;
      if (kind === 'mean') return { n, v };
      const m2 = new Float64Array(slots);
      runs((inAt, outAt, len, step) => {
        if (step === 0) {
          const mean = v[outAt]!;
          let s = 0;
          for (let k = 0; k < len; k++) {
            const d = x[inAt + k]! - mean;
            s += d * d;
          }
          m2[outAt] += s;
        } else {
          for (let k = 0; k < len; k++) {
            const d = x[inAt + k]! - v[outAt + k]!;
            m2[outAt + k] += d * d;
          }
        }
      });
      return { n, v, m2 };
    }
    case 'min':
    case 'max': {
      const max = kind === 'max';
      v.fill(max ? -Infinity : Infinity);
      runs((inAt, outAt, len, step) => {
        for (let k = 0; k < len; k++) {
          const value = x[inAt + k]!;
          const at = outAt + k * step;
          const best = v[at]!;
          if (max ? !(value <= best) : !(value >= best)) v[at] = best !== best ? best : value; // NaN wins, as in NumPy
        }
      });
      return { n, v };
    }
    case 'argmax':
    case 'argmin': {
      const max = kind === 'argmax';
      v.fill(NaN);
      const idx = new Float64Array(slots).fill(-1);
      runs((inAt, outAt, len, step, rAt, rStep) => {
        for (let k = 0; k < len; k++) {
          const value = x[inAt + k]!;
          const at = outAt + k * step;
          const best = v[at]!;
          if (idx[at] === -1 || (best === best && (value !== value || (max ? value > best : value < best)))) {
            v[at] = value;
            idx[at] = rAt + k * rStep;
          }
        }
      });
      return { n, v, i: idx };
    }
    default:
      throw coded(new RangeError(`no reduction '${kind as string}'`), 'ERR_INVALID_ARG_VALUE');
  }
}

function copyPartial(p: Partial): Partial {
  const out: Partial = { n: p.n, v: p.v.slice() };
  if (p.m2 !== undefined) out.m2 = p.m2.slice();
  if (p.i !== undefined) out.i = p.i.slice();
  return out;
}

function combine(kind: ReduceKind, partials: Partial[]): Partial {
  let acc: Partial | null = null;
  for (const p of partials) {
    if (acc === null || (acc.n === 0 && p.n > 0)) {
      acc = copyPartial(p);
      continue;
    }
    if (p.n === 0) continue;
    const { v } = acc;
    switch (kind) {
      case 'sum':
        for (let s = 0; s < v.length; s++) v[s] += p.v[s]!;
        break;
      case 'mean': {
        const n = acc.n + p.n;
        for (let s = 0; s < v.length; s++) v[s] = (v[s]! * acc.n + p.v[s]! * p.n) / n;
        break;
      }
      case 'var':
      case 'std': {
        // Chan et al.'s pairwise update of means and sums of squared deviations.
        const n = acc.n + p.n;
        const m2 = acc.m2!;
        for (let s = 0; s < v.length; s++) {
          const delta = p.v[s]! - v[s]!;
          v[s] = v[s]! + (delta * p.n) / n;
          m2[s] = m2[s]! + p.m2![s]! + (delta * delta * acc.n * p.n) / n;
        }
        break;
      }
      case 'min':
      case 'max': {
        const max = kind === 'max';
        for (let s = 0; s < v.length; s++) {
          const best = v[s]!;
          const value = p.v[s]!;
          if (best === best && (value !== value || (max ? value > best : value < best))) v[s] = value;
        }
        break;
      }
      case 'argmax':
      case 'argmin': {
        // On a tie the lower index wins (NumPy's first occurrence); a NaN wins over any number.
        const max = kind === 'argmax';
        const idx = acc.i!;
        for (let s = 0; s < v.length; s++) {
          const best = v[s]!;
          const value = p.v[s]!;
          const better = value !== value || (max ? value > best : value < best) || (value === best && p.i![s]! < idx[s]!);
          if (best === best && better) {
            v[s] = value;
            idx[s] = p.i![s]!;
          }
        }
        break;
      }
    }
    acc.n += p.n;
  }
  return acc ?? { n: 0, v: new Float64Array(0) };
}

/**
 * Partial results combined (they cover the same slots, in block order); `final`: the result chunk
 * of `dtype` (means divided, variances from their sums of squares with `ddof`). Empty min, max,
 * argmax, argmin fail with ERR_UCX_ARRAY_EMPTY, as NumPy's do.
 */
export function aggregateChunk(kind: ReduceKind, partials: Partial[], final: boolean, dtype: DType, ddof: number): Partial | TypedArray {
  const p = combine(kind, partials);
  if (!final) return p;
  if (p.n === 0 && (kind === 'min' || kind === 'max' || kind === 'argmax' || kind === 'argmin')) {
    throw coded(new RangeError(`${kind}: zero-size array to a reduction with no identity`), 'ERR_UCX_ARRAY_EMPTY');
  }
  switch (kind) {
    case 'sum':
    case 'min':
    case 'max':
      return castTo(p.v, dtype);
    case 'mean':
      return castTo(p.n === 0 ? p.v.fill(NaN) : p.v, dtype);
    case 'var':
    case 'std': {
      const out = new Float64Array(p.v.length);
      const m2 = p.m2 ?? new Float64Array(p.v.length);
      for (let s = 0; s < out.length; s++) {
        const variance = p.n - ddof > 0 ? m2[s]! / (p.n - ddof) : NaN;
        out[s] = kind === 'std' ? Math.sqrt(variance) : variance;
      }
      return castTo(out, dtype);
    }
    case 'argmax':
    case 'argmin':
      return castTo(p.i!, dtype);
  }
}

// ---- linear algebra ----

/** The (m x n) product of an (m x k) and a (k x n) chunk, as float64 partial sums (`dtype` null) or cast to `dtype`. */
export function matmulChunk(a: TypedArray, b: TypedArray, m: number, k: number, n: number, dtype: DType | null): TypedArray {
  const out = new Float64Array(m * n);
  // Row i of the result gains a[i, p] * row p of b, four rows of b at a time (a quarter of the
  // loads and stores of the result's row); b's rows are read in order.
  const x = a instanceof Float64Array ? a : Float64Array.from(a);
  const y = b instanceof Float64Array ? b : Float64Array.from(b);
  const k4 = k - (k % 4);
  let i = 0;
  // Two rows of the result at a time: each element of b read serves both.
  for (; i + 1 < m; i += 2) {
    const r0 = i * n,
      r1 = r0 + n;
    const a0r = i * k,
      a1r = a0r + k;
    let p = 0;
    for (; p < k4; p += 4) {
      const a00 = x[a0r + p]!,
        a01 = x[a0r + p + 1]!,
        a02 = x[a0r + p + 2]!,
        a03 = x[a0r + p + 3]!;
      const a10 = x[a1r + p]!,
        a11 = x[a1r + p + 1]!,
        a12 = x[a1r + p + 2]!,
        a13 = x[a1r + p + 3]!;
      const b0 = p * n,
        b1 = b0 + n,
        b2 = b1 + n,
        b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        const y0 = y[b0 + j]!,
          y1 = y[b1 + j]!,
          y2 = y[b2 + j]!,
          y3 = y[b3 + j]!;
        out[r0 + j] += a00 * y0 + a01 * y1 + a02 * y2 + a03 * y3;
        out[r1 + j] += a10 * y0 + a11 * y1 + a12 * y2 + a13 * y3;
      }
    }
    for (; p < k; p++) {
      const a0p = x[a0r + p]!,
        a1p = x[a1r + p]!;
      const brow = p * n;
      for (let j = 0; j < n; j++) {
        const yv = y[brow + j]!;
        out[r0 + j] += a0p * yv;
        out[r1 + j] += a1p * yv;
      }
    }
  }
  for (; i < m; i++) {
    const row = i * n;
    const arow = i * k;
    let p = 0;
    for (; p < k4; p += 4) {
      const a0 = x[arow + p]!,
        a1 = x[arow + p + 1]!,
        a2 = x[arow + p + 2]!,
        a3 = x[arow + p + 3]!;
      const b0 = p * n,
        b1 = b0 + n,
        b2 = b1 + n,
        b3 = b2 + n;
      for (let j = 0; j < n; j++) out[row + j] += a0 * y[b0 + j]! + a1 * y[b1 + j]! + a2 * y[b2 + j]! + a3 * y[b3 + j]!;
    }
    for (; p < k; p++) {
      const aip = x[arow + p]!;
      const brow = p * n;
      for (let j = 0; j < n; j++) out[row + j] += aip * y[brow + j]!;
    }
  }
  return dtype === null ? out : castTo(out, dtype);
}

/** Chunks of one shape added elementwise; `dtype` null keeps float64 partial sums. */
export function sumChunks(parts: TypedArray[], dtype: DType | null): TypedArray {
  const out = new Float64Array(parts[0]!.length);
  for (const part of parts) for (let i = 0; i < out.length; i++) out[i] += part[i]!;
  return dtype === null ? out : castTo(out, dtype);
}

// ---- moving elements ----

/**
 * A new chunk of `outShape` whose element at (t0, t1, ...) is x[base + Σ t_d * steps_d]: a strided
 * view copied out (transpose: permuted strides; slicing: starts and steps).
 */
function gather(x: TypedArray, base: number, steps: readonly number[], outShape: readonly number[], dtype: DType): TypedArray {
  const total = sizeOf(outShape);
  const out = allocate(dtype, total);
  const nd = outShape.length;
  if (total === 0) return out;
  if (nd === 0) {
    out[0] = x[base]!;
    return out;
  }
  const idx = new Array<number>(nd).fill(0);
  const last = nd - 1;
  const lastLen = outShape[last]!;
  const lastStep = steps[last]!;
  let src = base;
  for (let o = 0; o < total; o += lastLen) {
    if (lastStep === 1) out.set(x.subarray(src, src + lastLen), o);
    else for (let k = 0, s = src; k < lastLen; k++, s += lastStep) out[o + k] = x[s]!;
    for (let d = last - 1; d >= 0; d--) {
      idx[d]!++;
      src += steps[d]!;
      if (idx[d]! < outShape[d]!) break;
      src -= steps[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

export function transposeChunk(x: TypedArray, shape: number[], axes: number[], dtype: DType): TypedArray {
  const strides = stridesOf(shape);
  return gather(
    x,
    0,
    axes.map((a) => strides[a]!),
    axes.map((a) => shape[a]!),
    dtype,
  );
}

/** Elements starts[d] + t * steps[d] (t < counts[d]) on each axis of a chunk of `shape`. */
export function sliceChunk(x: TypedArray, shape: number[], starts: number[], steps: number[], counts: number[], dtype: DType): TypedArray {
  const strides = stridesOf(shape);
  const base = starts.reduce((acc, s, d) => acc + s * strides[d]!, 0);
  return gather(
    x,
    base,
    steps.map((s, d) => s * strides[d]!),
    counts,
    dtype,
  );
}

/** A box of `extent` copied from `src` (at srcStart) into `dst` (at dstStart). */
export function copyBox(
  src: TypedArray,
  srcShape: readonly number[],
  srcStart: readonly number[],
  dst: TypedArray,
  dstShape: readonly number[],
  dstStart: readonly number[],
  extent: readonly number[],
): void {
  const nd = extent.length;
  if (sizeOf(extent) === 0) return;
  if (nd === 0) {
    dst[0] = src[0]!;
    return;
  }
  const ss = stridesOf(srcShape);
  const ds = stridesOf(dstShape);
  const last = nd - 1;
  const len = extent[last]!;
  const idx = new Array<number>(last).fill(0);
  const rows = sizeOf(extent) / len;
  for (let r = 0; r < rows; r++) {
    let s = srcStart[last]!;
    let d = dstStart[last]!;
    for (let a = 0; a < last; a++) {
      s += (srcStart[a]! + idx[a]!) * ss[a]!;
      d += (dstStart[a]! + idx[a]!) * ds[a]!;
    }
    dst.set(src.subarray(s, s + len), d);
    for (let a = last - 1; a >= 0; a--) {
      if (++idx[a]! < extent[a]!) break;
      idx[a] = 0;
    }
  }
}

/** One piece of an assembled chunk: a chunk, its shape, where the piece starts in it and in the result, and its extent. */
export type Piece = [TypedArray, number[], number[], number[], number[]];

/** A chunk of `shape` assembled from pieces of others (rechunk, and compute()'s result). */
export function assembleChunk(shape: number[], dtype: DType, pieces: Piece[]): TypedArray {
  const out = allocate(dtype, sizeOf(shape));
  for (const [x, xShape, xStart, outStart, extent] of pieces) copyBox(x, xShape, xStart, out, shape, outStart, extent);
  return out;
}

// ---- user functions ----

/** The marker of a block argument of mapBlocks: { [BLOCK_ARG]: ref(key), shape, dtype } becomes an NDArray. */
export const BLOCK_ARG = '\u0000block';

function asNDArray(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, BLOCK_ARG)) return value;
  const { [BLOCK_ARG]: data, shape, dtype } = value as { [BLOCK_ARG]: TypedArray; shape: number[]; dtype: DType };
  return new NDArray(data, shape, dtype);
}

/**
 * `fn(block, ...args)` for one block (mapBlocks): the block and the block arguments as NDArrays.
 * The result (an NDArray, a typed array, or an array of numbers) must have `outShape`'s size.
 */
export async function mapBlocksChunk(fn: unknown, block: unknown, args: unknown[], outShape: number[], dtype: DType, where: string): Promise<TypedArray> {
  const f = await callable(fn);
  let result = f(asNDArray(block), ...args.map(asNDArray));
  if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') result = await result;
  const data =
    result instanceof NDArray ? result.data : ArrayBuffer.isView(result) ? result : Array.isArray(result) ? Float64Array.from(result as number[]) : null;
  if (data === null || dtypeOfView(data) === null) {
    throw coded(
      new TypeError(`mapBlocks: fn gave ${result === null ? 'null' : typeof result} for block ${where}, not an NDArray, a typed array or an array of numbers`),
      'ERR_INVALID_ARG_TYPE',
    );
  }
  const expected = sizeOf(outShape);
  if (data.length !== expected) {
    throw coded(
      new RangeError(
        `mapBlocks: fn gave ${data.length} elements for block ${where}, whose chunk shape is (${outShape.join(', ')}) (${expected} elements): pass options.chunks when blocks change shape`,
      ),
      'ERR_UCX_ARRAY_CHUNKS',
    );
  }
  return castTo(data as TypedArray, dtype);
}

// ---- .npy files ----

/**
 * Rows [rowStart, rowStop) of a .npy file (data at `dataOffset`, C order), and of those the box
 * `starts`/`extents` on the other axes.
 */
export function readNpyChunk(
  file: string,
  dataOffset: number,
  fileShape: number[],
  dtype: DType,
  rowStart: number,
  rowStop: number,
  starts: number[],
  extents: number[],
): TypedArray {
  const itemsize = CONSTRUCTORS[dtype].BYTES_PER_ELEMENT;
  const rowElems = sizeOf(fileShape.slice(1));
  const rows = fileShape.length === 0 ? 1 : rowStop - rowStart;
  const bytes = rows * rowElems * itemsize;
  const buffer = new ArrayBuffer(bytes);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    const position = dataOffset + rowStart * rowElems * itemsize;
    while (done < bytes) {
      const n = fs.readSync(fd, new Uint8Array(buffer, done), 0, bytes - done, position + done);
      if (n === 0) throw coded(new RangeError(`'${file}' ends before its data does (${position + done} bytes): the file is truncated`), 'ERR_UCX_ARRAY_NPY');
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const rowsArray = new CONSTRUCTORS[dtype](buffer);
  const inner = fileShape.slice(1);
  if (fileShape.length === 0 || extents.every((e, axis) => starts[axis] === 0 && e === inner[axis])) return rowsArray;
  const out = allocate(dtype, rows * sizeOf(extents));
  copyBox(rowsArray, [rows, ...inner], [0, ...starts], out, [rows, ...extents], [0, ...extents.map(() => 0)], [rows, ...extents]);
  return out;
}

/** Writes a chunk's bytes at `position` of a .npy file made beforehand (toNpy); resolves with the byte count. */
export function writeNpyChunk(x: TypedArray, file: string, position: number): number {
  const fd = fs.openSync(file, 'r+');
  try {
    const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
  } finally {
    fs.closeSync(fd);
  }
  return x.byteLength;
}

/** The file, once every chunk's write is done. */
export function npyWritten(_counts: number[], file: string): string {
  return file;
}

const here = import.meta.url;
export const arrayKernels = Object.freeze({
  fill: moduleFunction(here, 'fillChunk'),
  arange: moduleFunction(here, 'arangeChunk'),
  random: moduleFunction(here, 'randomChunk'),
  binary: moduleFunction(here, 'binaryChunk'),
  unary: moduleFunction(here, 'unaryChunk'),
  reduce: moduleFunction(here, 'reduceChunk'),
  aggregate: moduleFunction(here, 'aggregateChunk'),
  matmul: moduleFunction(here, 'matmulChunk'),
  sum: moduleFunction(here, 'sumChunks'),
  transpose: moduleFunction(here, 'transposeChunk'),
  slice: moduleFunction(here, 'sliceChunk'),
  assemble: moduleFunction(here, 'assembleChunk'),
  mapBlocks: moduleFunction(here, 'mapBlocksChunk'),
  readNpy: moduleFunction(here, 'readNpyChunk'),
  writeNpy: moduleFunction(here, 'writeNpyChunk'),
  npyWritten: moduleFunction(here, 'npyWritten'),
});
