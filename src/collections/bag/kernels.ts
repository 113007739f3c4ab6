// The bag's per-partition kernels (Dask's dask.bag.core partition functions): exported so that every
// executor imports this module by reference (moduleFunction(import.meta.url, name)), never shipped as
// source. A partition is an array. User functions arrive as functions (the scheduler compiles the ones
// that travelled) or as moduleFunction() references; async ones are awaited, sync ones are not (an
// await per element would cost a microtask each).
import { moduleFunction } from '../../scheduler/code.js';
import { callable } from '../../scheduler/local/index.js';

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function codedError<E extends Error>(error: E, code: string): E & { code: string } {
  return Object.assign(error, { code });
}

/**
 * The extra arguments for element `i`: zipped ones (other bags' partitions, `zip` lists their
 * positions) give their element `i`, the others (constants, Items' values) are passed whole.
 */
function argsFor(args: unknown[], zip: readonly number[], i: number): unknown[] {
  if (zip.length === 0) return args;
  const out = args.slice();
  for (const at of zip) out[at] = (args[at] as unknown[])[i];
  return out;
}

function checkZipped(partition: unknown[], args: unknown[], zip: readonly number[], op: string): void {
  for (const at of zip) {
    const other = args[at] as unknown[];
    if (other.length !== partition.length) {
      throw codedError(
        new RangeError(
          `${op}: a partition has ${partition.length} elements and the same partition of the bag in argument ${at + 1} has ${other.length}: zipped bags must be partitioned alike`,
        ),
        'ERR_COLLECTIONS_PARTITIONS',
      );
    }
  }
}

/** Each element through `fn(element, ...args)` (Bag.map). */
export async function mapPartition(fn: unknown, partition: unknown[], args: unknown[], zip: number[]): Promise<unknown[]> {
  const f = await callable(fn);
  checkZipped(partition, args, zip, 'map');
  const out = new Array<unknown>(partition.length);
  for (let i = 0; i < partition.length; i++) {
    const value = f(partition[i], ...argsFor(args, zip, i));
    out[i] = isThenable(value) ? await value : value;
  }
  return out;
}

/** Each element, an array, spread into `fn(...element, ...args)` (Bag.starmap). */
export async function starmapPartition(fn: unknown, partition: unknown[], args: unknown[], zip: number[]): Promise<unknown[]> {
  const f = await callable(fn);
  checkZipped(partition, args, zip, 'starmap');
  const out = new Array<unknown>(partition.length);
  for (let i = 0; i < partition.length; i++) {
    const item = partition[i];
    if (!Array.isArray(item)) throw codedError(new TypeError(`starmap: element ${i} is not an array (its items are fn's arguments)`), 'ERR_INVALID_ARG_TYPE');
    const value = f(...item, ...argsFor(args, zip, i));
    out[i] = isThenable(value) ? await value : value;
  }
  return out;
}

/** The elements for which `predicate(element, ...args)` is truthy (or falsy, `keep` false: Bag.remove). */
export async function filterPartition(predicate: unknown, partition: unknown[], args: unknown[], keep: boolean): Promise<unknown[]> {
  const f = await callable(predicate);
  const out: unknown[] = [];
  for (const item of partition) {
    let verdict = f(item, ...args);
    if (isThenable(verdict)) verdict = await verdict;
    if (Boolean(verdict) === keep) out.push(item);
  }
  return out;
}

/** The items of each `fn(element, ...args)`, an iterable (Bag.flatMap: Dask's map(...).flatten()). */
export async function flatMapPartition(fn: unknown, partition: unknown[], args: unknown[]): Promise<unknown[]> {
  const f = await callable(fn);
  const out: unknown[] = [];
  for (const item of partition) {
    let value = f(item, ...args);
    if (isThenable(value)) value = await value;
    pushAll(out, value, 'flatMap: fn');
  }
  return out;
}

/** The items of each element, an iterable (Bag.flatten). */
export function flattenPartition(partition: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const item of partition) pushAll(out, item, 'flatten: an element');
  return out;
}

function pushAll(out: unknown[], value: unknown, what: string): void {
  if (Array.isArray(value)) {
    for (const item of value) out.push(item);
    return;
  }
  if (value === null || value === undefined || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw codedError(new TypeError(`${what} gave ${value === null ? 'null' : typeof value}, not an array or iterable`), 'ERR_INVALID_ARG_TYPE');
  }
  for (const item of value as Iterable<unknown>) out.push(item);
}

/** `fn(partition, ...args)`, an array or iterable (Bag.mapPartitions). */
export async function applyToPartition(fn: unknown, partition: unknown[], args: unknown[]): Promise<unknown[]> {
  const f = await callable(fn);
  let value = f(partition, ...args);
  if (isThenable(value)) value = await value;
  if (Array.isArray(value)) return value;
  const out: unknown[] = [];
  pushAll(out, value, 'mapPartitions: fn');
  return out;
}

/** `item[key]` for each element (an array of keys: an array of values), `fallback` for a missing one if given (Bag.pluck). */
export function pluckPartition(partition: unknown[], key: string | number | (string | number)[], fallback: [] | [unknown]): unknown[] {
  const pick = (item: unknown, k: string | number): unknown => {
    if (item !== null && item !== undefined && k in Object(item)) return (item as Record<string | number, unknown>)[k];
    if (fallback.length === 1) return fallback[0];
    throw codedError(
      new RangeError(`pluck: an element has no ${typeof k === 'number' ? 'index' : 'property'} ${JSON.stringify(k)} (pass a default to use for such elements)`),
      'ERR_COLLECTIONS_MISSING_KEY',
    );
  };
  return Array.isArray(key) ? partition.map((item) => key.map((k) => pick(item, k))) : partition.map((item) => pick(item, key));
}

/** The first `k` elements. */
export function takePartition(partition: unknown[], k: number): unknown[] {
  return partition.length <= k ? partition : partition.slice(0, k);
}

/** The first `k` elements of the partitions together (Bag.take over several partitions). */
export function takeFromPartitions(partitions: unknown[][], k: number): unknown[] {
  const out: unknown[] = [];
  for (const partition of partitions) {
    for (const item of partition) {
      if (out.length >= k) return out;
      out.push(item);
    }
  }
  return out;
}

/** The integers in [start, stop) (range()). */
export function rangePartition(start: number, stop: number): number[] {
  const out = new Array<number>(Math.max(0, stop - start));
  for (let i = 0; i < out.length; i++) out[i] = start + i;
  return out;
}

/** The partitions, one after the other (a bag of few partitions from many). */
export function concatPartitions(partitions: unknown[][]): unknown[] {
  return partitions.flat(1);
}

/** `fn(value, ...args)` (Item.apply). */
export async function applyToValue(fn: unknown, value: unknown, args: unknown[]): Promise<unknown> {
  return (await callable(fn))(value, ...args);
}

const here = import.meta.url;
export const bagKernels = Object.freeze({
  map: moduleFunction(here, 'mapPartition'),
  starmap: moduleFunction(here, 'starmapPartition'),
  filter: moduleFunction(here, 'filterPartition'),
  flatMap: moduleFunction(here, 'flatMapPartition'),
  flatten: moduleFunction(here, 'flattenPartition'),
  mapPartitions: moduleFunction(here, 'applyToPartition'),
  pluck: moduleFunction(here, 'pluckPartition'),
  take: moduleFunction(here, 'takePartition'),
  takeFrom: moduleFunction(here, 'takeFromPartitions'),
  range: moduleFunction(here, 'rangePartition'),
  concat: moduleFunction(here, 'concatPartitions'),
  apply: moduleFunction(here, 'applyToValue'),
});
