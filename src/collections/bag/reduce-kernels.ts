// The bag's reduction and grouping kernels: each reduction is a per-partition kernel and an aggregate
// kernel that combines partial results, `final` for the last level (core/reduction.ts). Partial
// results of folds are [] (an empty partition and no initial value: nothing to combine) or [value],
// so that an empty partition never invents a value.
import { moduleFunction } from '../../scheduler/code.js';
import { callable } from '../../scheduler/local/index.js';
import { KeyedMap, stableHash } from './keyed.js';

type Partial = [] | [unknown];
type AnyFunction = (...args: unknown[]) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

async function settle(value: unknown): Promise<unknown> {
  return isThenable(value) ? await value : value;
}

function emptyError(what: string): RangeError {
  return Object.assign(new RangeError(`${what} of an empty bag`), { code: 'ERR_COLLECTIONS_EMPTY' });
}

/**
 * What a key argument names: a function of the element (or a moduleFunction() reference), a property
 * name or index of the element, or (null) the element itself.
 */
async function keyFunction(key: unknown): Promise<AnyFunction> {
  if (key === null || key === undefined) return (item) => item;
  if (typeof key === 'string' || typeof key === 'number') return (item) => (item as Record<string | number, unknown>)[key];
  return callable(key);
}

async function keysOf(partition: unknown[], key: unknown): Promise<unknown[]> {
  const f = await keyFunction(key);
  const keys = new Array<unknown>(partition.length);
  for (let i = 0; i < partition.length; i++) keys[i] = await settle(f(partition[i]));
  return keys;
}

// ---- folds ----

/** The partition folded with `binop(acc, element)` from `initial` (or from its first element). */
export async function foldPartition(binop: unknown, partition: unknown[], initial: Partial): Promise<Partial> {
  const f = await callable(binop);
  if (initial.length === 0 && partition.length === 0) return [];
  let acc = initial.length === 1 ? initial[0] : partition[0];
  for (let i = initial.length === 1 ? 0 : 1; i < partition.length; i++) acc = await settle(f(acc, partition[i]));
  return [acc];
}

/**
 * Partial results combined with `combine(a, b)`. The final level unwraps the value, starting from
 * `start` if given (reduce's initial value, used once); with none (every partition empty, no initial
 * value) it gives `ifEmpty` or fails with ERR_COLLECTIONS_EMPTY.
 */
export async function foldAggregate(combine: unknown, partials: Partial[], final: boolean, ifEmpty: Partial, what: string, start: Partial): Promise<unknown> {
  const f = await callable(combine);
  let acc: Partial = final ? start : [];
  for (const partial of partials) {
    if (partial.length === 0) continue;
    acc = acc.length === 0 ? [partial[0]] : [await settle(f(acc[0], partial[0]))];
  }
  if (!final) return acc;
  if (acc.length === 1) return acc[0];
  if (ifEmpty.length === 1) return ifEmpty[0];
  throw emptyError(what);
}

// Binary operators for the built-in folds (sum, min, max): by reference like every kernel.
export function add(a: unknown, b: unknown): unknown {
  return (a as number) + (b as number);
}
/** The smaller; the first of equal ones (as Python's min). */
export function smaller(a: unknown, b: unknown): unknown {
  return (b as number) < (a as number) ? b : a;
}
/** The larger; the first of equal ones (as Python's max). */
export function larger(a: unknown, b: unknown): unknown {
  return (b as number) > (a as number) ? b : a;
}

// ---- counts and moments ----

export function countPartition(partition: unknown[]): number {
  return partition.length;
}

export function sumOfCounts(partials: number[]): number {
  let total = 0;
  for (const n of partials) total += n;
  return total;
}

/**
 * [count, sum, sum of squared deviations from the mean] of a partition: the sum keeps means exact
 * where the plain sum is; the deviations (Welford's) keep variances stable.
 */
export function momentsPartition(partition: unknown[]): [number, number, number] {
  let n = 0;
  let sum = 0;
  let mean = 0;
  let m2 = 0;
  for (const item of partition) {
    const x = Number(item);
    n++;
    sum += x;
    const delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
  }
  return [n, sum, m2];
}

/** Moments combined (Chan et al.); the final level gives `result`: 'mean', 'var' or 'std' (with `ddof`). */
export function momentsAggregate(partials: [number, number, number][], final: boolean, result: 'mean' | 'var' | 'std', ddof: number): unknown {
  let [n, sum, m2] = [0, 0, 0];
  for (const [nb, sumb, m2b] of partials) {
    if (nb === 0) continue;
    if (n > 0) {
      const delta = sumb / nb - sum / n;
      m2 += m2b + delta * delta * ((n * nb) / (n + nb));
    } else {
      m2 = m2b;
    }
    n += nb;
    sum += sumb;
  }
  if (!final) return [n, sum, m2];
  if (n === 0) throw emptyError(result);
  if (result === 'mean') return sum / n;
  if (n - ddof <= 0) throw Object.assign(new RangeError(`${result} with ddof ${ddof} of ${n} elements`), { code: 'ERR_COLLECTIONS_EMPTY' });
  const variance = m2 / (n - ddof);
  return result === 'var' ? variance : Math.sqrt(variance);
}

/** Whether every element is truthy ('all') or some is ('any'). */
export function truthPartition(partition: unknown[], mode: 'all' | 'any'): boolean {
  return mode === 'all' ? partition.every(Boolean) : partition.some(Boolean);
}

export function truthAggregate(partials: boolean[], _final: boolean, mode: 'all' | 'any'): boolean {
  return mode === 'all' ? partials.every(Boolean) : partials.some(Boolean);
}

// ---- by key ----

/** [value, count] pairs of the partition (Bag.frequencies). */
export function frequenciesPartition(partition: unknown[]): [unknown, number][] {
  const counts = new KeyedMap<number>();
  for (const item of partition) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts.entries();
}

/** Pairs merged; the final level sorted by count, highest first, when `sort`. */
export function frequenciesAggregate(partials: [unknown, number][][], final: boolean, sort: boolean): [unknown, number][] {
  const counts = new KeyedMap<number>();
  for (const pairs of partials) for (const [value, n] of pairs) counts.set(value, (counts.get(value) ?? 0) + n);
  const out = counts.entries();
  return final && sort ? out.sort((a, b) => b[1] - a[1]) : out;
}

/** The `k` elements of largest key, largest first, earlier first among equals (Bag.topk). */
export async function topkPartition(partition: unknown[], k: number, key: unknown): Promise<unknown[]> {
  const keys = await keysOf(partition, key);
  const order = partition.map((_, i) => i).sort((a, b) => compareDescending(keys[a], keys[b]));
  return order.slice(0, k).map((i) => partition[i]);
}

export async function topkAggregate(partials: unknown[][], _final: boolean, k: number, key: unknown): Promise<unknown[]> {
  return topkPartition(partials.flat(1), k, key);
}

function compareDescending(a: unknown, b: unknown): number {
  return (b as number) > (a as number) ? 1 : (b as number) < (a as number) ? -1 : 0;
}

/** The distinct elements (by key, compared by content), first seen first (Bag.distinct). */
export async function distinctPartition(partition: unknown[], key: unknown): Promise<unknown[]> {
  const keys = await keysOf(partition, key);
  const seen = new KeyedMap<true>();
  const out: unknown[] = [];
  partition.forEach((item, i) => {
    if (seen.has(keys[i])) return;
    seen.set(keys[i], true);
    out.push(item);
  });
  return out;
}

export async function distinctAggregate(partials: unknown[][], _final: boolean, key: unknown): Promise<unknown[]> {
  return distinctPartition(partials.flat(1), key);
}

/**
 * [key, accumulator] pairs: each key's elements folded with `binop(acc, element)` from `initial` (or,
 * with none, from the key's first element), as toolz's reduceby (Bag.foldby's first step).
 */
export async function foldbyPartition(key: unknown, binop: unknown, partition: unknown[], initial: Partial): Promise<[unknown, unknown][]> {
  const keys = await keysOf(partition, key);
  const f = await callable(binop);
  const accs = new KeyedMap<unknown>();
  for (let i = 0; i < partition.length; i++) {
    const k = keys[i];
    if (accs.has(k)) accs.set(k, await settle(f(accs.get(k), partition[i])));
    else accs.set(k, initial.length === 1 ? await settle(f(initial[0], partition[i])) : partition[i]);
  }
  return accs.entries();
}

/** Pairs of several partitions merged with `combine(acc, partial)`, from `combineInitial` if given. */
export async function foldbyAggregate(
  combine: unknown,
  partials: [unknown, unknown][][],
  _final: boolean,
  combineInitial: Partial,
): Promise<[unknown, unknown][]> {
  const f = await callable(combine);
  const accs = new KeyedMap<unknown>();
  for (const pairs of partials) {
    for (const [k, value] of pairs) {
      if (accs.has(k)) accs.set(k, await settle(f(accs.get(k), value)));
      else accs.set(k, combineInitial.length === 1 ? await settle(f(combineInitial[0], value)) : value);
    }
  }
  return accs.entries();
}

/** A partition split into `n` buckets of [key, element] by the key's hash (groupby's shuffle, first half). */
export async function groupbySplit(key: unknown, partition: unknown[], n: number): Promise<[unknown, unknown][][]> {
  const keys = await keysOf(partition, key);
  const buckets: [unknown, unknown][][] = Array.from({ length: n }, () => []);
  partition.forEach((item, i) => buckets[stableHash(keys[i]) % n]!.push([keys[i], item]));
  return buckets;
}

/** One bucket of every input partition, grouped: [key, elements] pairs (groupby's second half). */
export function groupbyCollect(buckets: [unknown, unknown][][]): [unknown, unknown[]][] {
  const groups = new KeyedMap<unknown[]>();
  for (const bucket of buckets) {
    for (const [k, item] of bucket) {
      const group = groups.get(k);
      if (group === undefined) groups.set(k, [item]);
      else group.push(item);
    }
  }
  return groups.entries();
}

// ---- user reductions (Bag.reduction) ----

export async function reducePartitionWith(perPartition: unknown, partition: unknown[]): Promise<unknown> {
  return (await callable(perPartition))(partition);
}

export async function aggregateWith(aggregate: unknown, partials: unknown[], _final: boolean): Promise<unknown> {
  return (await callable(aggregate))(partials);
}

const here = import.meta.url;
export const reduceKernels = Object.freeze({
  fold: moduleFunction(here, 'foldPartition'),
  foldAggregate: moduleFunction(here, 'foldAggregate'),
  add: moduleFunction(here, 'add'),
  smaller: moduleFunction(here, 'smaller'),
  larger: moduleFunction(here, 'larger'),
  count: moduleFunction(here, 'countPartition'),
  sumOfCounts: moduleFunction(here, 'sumOfCounts'),
  moments: moduleFunction(here, 'momentsPartition'),
  momentsAggregate: moduleFunction(here, 'momentsAggregate'),
  truth: moduleFunction(here, 'truthPartition'),
  truthAggregate: moduleFunction(here, 'truthAggregate'),
  frequencies: moduleFunction(here, 'frequenciesPartition'),
  frequenciesAggregate: moduleFunction(here, 'frequenciesAggregate'),
  topk: moduleFunction(here, 'topkPartition'),
  topkAggregate: moduleFunction(here, 'topkAggregate'),
  distinct: moduleFunction(here, 'distinctPartition'),
  distinctAggregate: moduleFunction(here, 'distinctAggregate'),
  foldby: moduleFunction(here, 'foldbyPartition'),
  foldbyAggregate: moduleFunction(here, 'foldbyAggregate'),
  groupbySplit: moduleFunction(here, 'groupbySplit'),
  groupbyCollect: moduleFunction(here, 'groupbyCollect'),
  reduceWith: moduleFunction(here, 'reducePartitionWith'),
  aggregateWith: moduleFunction(here, 'aggregateWith'),
});
