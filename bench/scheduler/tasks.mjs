// The benchmark's task functions, as workers import them (moduleFunction references: the primary way
// node-ucx/scheduler ships code). dask_bench.py has the same functions in Python.

export function noop(x) {
  return x;
}

export function inc(x) {
  return x + 1;
}

/** The sum of its arguments (a tree node of S5/S6). */
export function sum(...xs) {
  let total = 0;
  for (const x of xs) total += x;
  return total;
}

/** A Float64Array of `n` copies of `i` (a leaf of S4: 1 MiB for n = 131072). */
export function fill(i, n) {
  return new Float64Array(n).fill(i);
}

/** Elementwise a + b, in a new array (numpy's a + b). */
export function add(a, b) {
  const out = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) out[k] = a[k] + b[k];
  return out;
}

export function first(a) {
  return a[0];
}

const parked = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps `ms` (blocking its thread, as time.sleep does in Dask's) and returns i (S7). */
export function sleep(ms, i) {
  Atomics.wait(parked, 0, 0, ms);
  return i;
}
