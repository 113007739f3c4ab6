// A tiny NumPy for the array tests: each operation done directly on one typed array, element by
// element, with none of the collection's code (no chunks, no kernels), to compare results against.
import { expect } from 'vitest';
import type { NDArray } from 'node-ucx/collections/array';

export interface Plain {
  data: ArrayLike<number>;
  shape: number[];
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Every index tuple of `shape`, row-major. */
export function indices(shape: readonly number[]): number[][] {
  const out: number[][] = [[]];
  for (const n of shape) {
    const next: number[][] = [];
    for (const prefix of out) for (let i = 0; i < n; i++) next.push([...prefix, i]);
    out.splice(0, out.length, ...next);
  }
  return out;
}

export function flatIndex(shape: readonly number[], idx: readonly number[]): number {
  return idx.reduce((acc, i, axis) => acc * shape[axis]! + i, 0);
}

export function map(a: Plain, f: (x: number) => number): Plain {
  return { data: Array.from(a.data, f), shape: a.shape };
}

export function zip(a: Plain, b: Plain, f: (x: number, y: number) => number): Plain {
  return { data: Array.from(a.data, (x, i) => f(x, b.data[i]!)), shape: a.shape };
}

/** A reduction over `axes` (all when undefined): each output element from its group of input elements, in flat order. */
export function reduce(a: Plain, axes: number[] | undefined, f: (group: number[]) => number, keepdims = false): Plain {
  const all = axes ?? a.shape.map((_, i) => i);
  const outShape = a.shape.flatMap((n, axis) => (all.includes(axis) ? (keepdims ? [1] : []) : [n]));
  const groups = new Map<number, number[]>();
  for (const idx of indices(a.shape)) {
    const outIdx = idx.flatMap((i, axis) => (all.includes(axis) ? (keepdims ? [0] : []) : [i]));
    const key = flatIndex(outShape, outIdx);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(a.data[flatIndex(a.shape, idx)]!);
  }
  return { data: Array.from({ length: sizeOf(outShape) }, (_, k) => f(groups.get(k) ?? [])), shape: outShape };
}

export const sum = (g: number[]): number => g.reduce((s, x) => s + x, 0);
export const mean = (g: number[]): number => sum(g) / g.length;
export const variance =
  (ddof: number) =>
  (g: number[]): number => {
    const m = mean(g);
    return g.reduce((s, x) => s + (x - m) ** 2, 0) / (g.length - ddof);
  };
export const argmax = (g: number[]): number => g.indexOf(Math.max(...g));
export const argmin = (g: number[]): number => g.indexOf(Math.min(...g));

export function matmul(a: Plain, b: Plain): Plain {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[i * n + j] += a.data[i * k + p]! * b.data[p * n + j]!;
  return { data: out, shape: [m, n] };
}

export function transpose(a: Plain, axes = a.shape.map((_, i) => a.shape.length - 1 - i)): Plain {
  const shape = axes.map((x) => a.shape[x]!);
  const data = indices(shape).map((outIdx) => {
    const idx = new Array<number>(a.shape.length);
    axes.forEach((x, d) => {
      idx[x] = outIdx[d]!;
    });
    return a.data[flatIndex(a.shape, idx)]!;
  });
  return { data, shape };
}

/** Python's range(*slice(start, stop, step).indices(n)) as a list. */
export function sliceIndices(n: number, start: number | null, stop: number | null, step: number | null): number[] {
  const s = step ?? 1;
  const out: number[] = [];
  const norm = (v: number): number => (v < 0 ? v + n : v);
  if (s > 0) {
    const from = Math.min(Math.max(start === null ? 0 : norm(start), 0), n);
    const to = Math.min(Math.max(stop === null ? n : norm(stop), 0), n);
    for (let i = from; i < to; i += s) out.push(i);
  } else {
    const from = Math.min(Math.max(start === null ? n - 1 : norm(start), -1), n - 1);
    const to = Math.min(Math.max(stop === null ? -1 : norm(stop), -1), n - 1);
    for (let i = from; i > to; i += s) out.push(i);
  }
  return out;
}

/** Basic indexing: per axis an index (dropped) or a list of indices. */
export function select(a: Plain, perAxis: (number | number[])[]): Plain {
  const lists = a.shape.map((n, axis) => perAxis[axis] ?? Array.from({ length: n }, (_, i) => i));
  const shape = lists.flatMap((l) => (typeof l === 'number' ? [] : [l.length]));
  const data: number[] = [];
  const walk = (axis: number, idx: number[]): void => {
    if (axis === a.shape.length) return void data.push(a.data[flatIndex(a.shape, idx)]!);
    const l = lists[axis]!;
    for (const i of typeof l === 'number' ? [l] : l) walk(axis + 1, [...idx, i]);
  };
  walk(0, []);
  return { data, shape };
}

/** `actual` equals `expected`: shape, dtype when given, and every element (to `digits` places for floats, NaN equal to NaN). */
export function expectArray(actual: NDArray, expected: Plain, dtype?: string, digits?: number): void {
  expect([...actual.shape]).toEqual(expected.shape);
  if (dtype !== undefined) expect(actual.dtype).toBe(dtype);
  expect(actual.data.length).toBe(expected.data.length);
  const got = Array.from(actual.data);
  const want = Array.from(expected.data);
  if (digits === undefined) {
    expect(got).toEqual(want);
    return;
  }
  got.forEach((x, i) => {
    const y = want[i]!;
    if (Number.isNaN(y)) expect(x, `element ${i}`).toBeNaN();
    else expect(Math.abs(x - y), `element ${i}: ${x} vs ${y}`).toBeLessThanOrEqual(10 ** -digits * Math.max(1, Math.abs(y)));
  });
}

/** `f` elementwise under NumPy's broadcasting (shapes aligned at the end, axes of length 1 repeated). */
export function broadcast(a: Plain, b: Plain, f: (x: number, y: number) => number): Plain {
  const nd = Math.max(a.shape.length, b.shape.length);
  const pa = [...new Array<number>(nd - a.shape.length).fill(1), ...a.shape];
  const pb = [...new Array<number>(nd - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((n, d) => (n === 1 ? pb[d]! : n));
  const data = indices(shape).map((idx) => {
    const ai = idx.map((i, d) => (pa[d] === 1 ? 0 : i));
    const bi = idx.map((i, d) => (pb[d] === 1 ? 0 : i));
    return f(a.data[flatIndex(pa, ai)]!, b.data[flatIndex(pb, bi)]!);
  });
  return { data, shape };
}

/** The arrays joined along `axis`. */
export function concat(arrays: Plain[], axis: number): Plain {
  const shape = arrays[0]!.shape.map((n, d) => (d === axis ? arrays.reduce((s, a) => s + a.shape[axis]!, 0) : n));
  const data = indices(shape).map((idx) => {
    let at = idx[axis]!;
    for (const a of arrays) {
      if (at < a.shape[axis]!)
        return a.data[
          flatIndex(
            a.shape,
            idx.map((i, d) => (d === axis ? at : i)),
          )
        ]!;
      at -= a.shape[axis]!;
    }
    throw new RangeError('out of the arrays');
  });
  return { data, shape };
}
