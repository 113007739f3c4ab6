// Bag and Item (Dask's dask.bag): a bag is a list of partitions (arrays) of any values, transformed
// element-wise, reduced in trees, grouped by key; an Item is one lazy value (a reduction's result).
// Each method adds one layer to the graph; nothing runs until compute(). docs/collections.md.
import { isModuleRef, toCode, type ModuleRef } from '../../scheduler/code.js';
import { ref, type Graph, type KeyRef } from '../../scheduler/graph.js';
import { kernels } from '../../scheduler/local/index.js';
import { invalidArgType, invalidArgValue, validateBoolean, validateInteger, validateOptionalObject } from '../../util/validate.js';
import { Collection, SingleValue, collectionName, partitionKey, withLayer, type ComputeOptions, type Layers } from '../core/collection.js';
import { splitEveryOption, treeReduction } from '../core/reduction.js';
import { textFilePaths, writeTextLayer, type ToTextFilesOptions } from './io.js';
import { bagKernels } from './kernels.js';
import { reduceKernels } from './reduce-kernels.js';

/**
 * A user function: a self-contained function (shipped as source: it sees its arguments and globals,
 * never the variables around it; pass values as extra arguments), or a moduleFunction() reference.
 *
 * @typeParam F - The function's signature (what a module reference's export must be too).
 */
export type UserFunction<F extends (...args: never[]) => unknown> = F | ModuleRef;

/** What a key argument may be: a function of the element, or the name or index of one of its fields. */
export type KeySelector<T> = UserFunction<(item: T) => unknown> | string | number;

/** An extra argument: a value, or an Item (its value); for map and starmap also a Bag (its element, zipped). */
export type ExtraArg<A> = A | Item<A>;
/** An extra argument of map and starmap: a value, an Item (its value), or a Bag partitioned alike (its elements, zipped). */
export type ZipArg<A> = A | Item<A> | Bag<A>;

/** Options of the tree reductions (fold, reduction, count, sum, ...). */
export interface ReductionOptions {
  /** How many partial results one aggregate task combines (Dask's split_every). Default 8. */
  splitEvery?: number;
}

const SPLIT_EVERY = 8;

/** Checks a user function where the graph is built: a native or bound one cannot travel. */
function checkFunction(fn: unknown, name: string): void {
  if (isModuleRef(fn)) return;
  if (typeof fn !== 'function') throw invalidArgType(name, 'a function or a moduleFunction() reference', fn);
  toCode(fn, name);
}

function checkKey(key: unknown, name: string, optional = false): void {
  if (optional && (key === undefined || key === null)) return;
  if (typeof key === 'string' || typeof key === 'number') return;
  checkFunction(key, name);
}

/** A readable prefix for a layer: the operation and its function's name ('map-parse'). */
function label(op: string, fn: unknown): string {
  const raw = typeof fn === 'function' ? fn.name : isModuleRef(fn) ? fn.export : '';
  const name = raw.replace(/[^\w$]/g, '_').slice(0, 30);
  return name === '' ? op : `${op}-${name}`;
}

function splitEveryOf(opts: ReductionOptions | undefined): number {
  return splitEveryOption(opts, SPLIT_EVERY);
}

/** [] or [value]: an optional value as it travels to fold kernels. */
function optional<O extends object>(opts: O | undefined, field: keyof O): [] | [unknown] {
  return opts !== undefined && Object.hasOwn(opts, field) ? [opts[field]] : [];
}

/** One lazy value, such as a reduction's result: compute() it, apply() a function to it, or pass it to a Bag method as an argument. */
export class Item<T = unknown> extends SingleValue<T> {
  /** `fn(value, ...args)`, lazily (Dask's Item.apply). */
  apply<U, A extends unknown[] = []>(fn: UserFunction<(value: T, ...args: A) => U>, ...args: { [K in keyof A]: ExtraArg<A[K]> }): Item<Awaited<U>> {
    checkFunction(fn, 'fn');
    const extra = extraArgs(args, null, 'apply');
    const name = collectionName(label('apply', fn), this, fn, args);
    const layer: Graph = { [partitionKey(name, 0)]: [bagKernels.apply, fn, ref(this.key), extra.values(0)] };
    return new Item(withLayer([this, ...extra.parents], name, layer), name);
  }
}

/** A bag's extra arguments: Items become refs to their value, Bags (where allowed) refs to their partition i. */
function extraArgs(
  args: readonly unknown[],
  npartitions: number | null,
  op: string,
): { parents: Collection<unknown>[]; values(i: number): unknown[]; zip: number[] } {
  const parents: Collection<unknown>[] = [];
  const zip: number[] = [];
  args.forEach((arg, at) => {
    if (arg instanceof Bag) {
      if (npartitions === null) throw invalidArgValue(`args[${at}]`, arg, `is a Bag, which ${op} cannot take (only an Item or a value)`);
      if (arg.npartitions !== npartitions) {
        throw invalidArgValue(`args[${at}]`, arg, `has ${arg.npartitions} partitions and the bag ${npartitions}: zipped bags must be partitioned alike`);
      }
      zip.push(at);
      parents.push(arg);
    } else if (arg instanceof Item) {
      parents.push(arg);
    } else if (arg instanceof Collection) {
      throw invalidArgValue(`args[${at}]`, arg, `is a ${arg.constructor.name}, which ${op} cannot take (only an Item, a Bag or a value)`);
    }
  });
  return {
    parents,
    zip,
    values: (i) => args.map((arg) => (arg instanceof Bag ? ref(partitionKey(arg.name, i)) : arg instanceof Item ? ref(arg.key) : arg)),
  };
}

/** A lazy, partitioned list of any values (Dask's Bag): map, filter, fold, groupby, ...; compute() gives the list, in order. */
export class Bag<T = unknown> extends Collection<T[]> {
  /** How many partitions (arrays of elements) it has: the unit of parallel work. */
  readonly npartitions: number;

  /** @internal Made by fromSequence, readText, ... and the methods. */
  constructor(layers: Layers, name: string, npartitions: number) {
    super(layers, name);
    this.npartitions = npartitions;
  }

  get keys(): readonly string[] {
    return Array.from({ length: this.npartitions }, (_, i) => partitionKey(this.name, i));
  }

  /** The partitions, one after the other. */
  finalize(results: unknown[]): T[] {
    return (results as T[][]).flat(1) as T[];
  }

  rebuild(layers: Layers): this {
    return new Bag<T>(layers, this.name, this.npartitions) as this;
  }

  /** A bag made of one task per partition of this one, `task(partitionRef, i)`. */
  #perPartition<U>(name: string, task: (input: KeyRef, i: number) => unknown[], parents: readonly Collection<unknown>[] = []): Bag<U> {
    const layer: Graph = {};
    for (let i = 0; i < this.npartitions; i++) layer[partitionKey(name, i)] = task(ref(partitionKey(this.name, i)), i);
    return new Bag<U>(withLayer([this, ...parents], name, layer), name, this.npartitions);
  }

  /**
   * `fn(element, ...args)` for each element. An extra argument may be a value, an Item (its value)
   * or a Bag partitioned alike (its element at the same place: zipped).
   */
  map<U, A extends unknown[] = []>(fn: UserFunction<(item: T, ...args: A) => U>, ...args: { [K in keyof A]: ZipArg<A[K]> }): Bag<Awaited<U>> {
    checkFunction(fn, 'fn');
    const extra = extraArgs(args, this.npartitions, 'map');
    const name = collectionName(label('map', fn), this, fn, args);
    return this.#perPartition(name, (input, i) => [bagKernels.map, fn, input, extra.values(i), extra.zip], extra.parents);
  }

  /** `fn(...element, ...args)` for each element, an array (Dask's starmap). */
  starmap<U, A extends unknown[] = []>(fn: UserFunction<(...items: never[]) => U>, ...args: { [K in keyof A]: ZipArg<A[K]> }): Bag<Awaited<U>> {
    checkFunction(fn, 'fn');
    const extra = extraArgs(args, this.npartitions, 'starmap');
    const name = collectionName(label('starmap', fn), this, fn, args);
    return this.#perPartition(name, (input, i) => [bagKernels.starmap, fn, input, extra.values(i), extra.zip], extra.parents);
  }

  /** The elements for which `predicate(element, ...args)` is truthy. */
  filter<A extends unknown[] = []>(predicate: UserFunction<(item: T, ...args: A) => unknown>, ...args: { [K in keyof A]: ExtraArg<A[K]> }): Bag<T> {
    return this.#filter('filter', predicate, args, true);
  }

  /** The elements for which `predicate(element, ...args)` is falsy (Dask's remove). */
  remove<A extends unknown[] = []>(predicate: UserFunction<(item: T, ...args: A) => unknown>, ...args: { [K in keyof A]: ExtraArg<A[K]> }): Bag<T> {
    return this.#filter('remove', predicate, args, false);
  }

  #filter(op: string, predicate: unknown, args: readonly unknown[], keep: boolean): Bag<T> {
    checkFunction(predicate, 'predicate');
    const extra = extraArgs(args, null, op);
    const name = collectionName(label(op, predicate), this, predicate, args);
    return this.#perPartition(name, (input) => [bagKernels.filter, predicate, input, extra.values(0), keep], extra.parents);
  }

  /** The items of each `fn(element, ...args)`, an array or iterable (Dask's map(fn).flatten()). */
  flatMap<U, A extends unknown[] = []>(
    fn: UserFunction<(item: T, ...args: A) => Iterable<U> | Promise<Iterable<U>>>,
    ...args: { [K in keyof A]: ExtraArg<A[K]> }
  ): Bag<U> {
    checkFunction(fn, 'fn');
    const extra = extraArgs(args, null, 'flatMap');
    const name = collectionName(label('flat-map', fn), this, fn, args);
    return this.#perPartition(name, (input) => [bagKernels.flatMap, fn, input, extra.values(0)], extra.parents);
  }

  /** The items of each element, an array or iterable (Dask's flatten). */
  flatten(): Bag<T extends Iterable<infer U> ? U : unknown> {
    const name = collectionName('flatten', this);
    return this.#perPartition(name, (input) => [bagKernels.flatten, input]);
  }

  /** `fn(partition, ...args)` for each partition (an array), giving the new partition (an array or iterable). */
  mapPartitions<U, A extends unknown[] = []>(
    fn: UserFunction<(partition: T[], ...args: A) => Iterable<U> | Promise<Iterable<U>>>,
    ...args: { [K in keyof A]: ExtraArg<A[K]> }
  ): Bag<U> {
    checkFunction(fn, 'fn');
    const extra = extraArgs(args, null, 'mapPartitions');
    const name = collectionName(label('map-partitions', fn), this, fn, args);
    return this.#perPartition(name, (input) => [bagKernels.mapPartitions, fn, input, extra.values(0)], extra.parents);
  }

  /**
   * `element[key]` for each element; an array of keys gives an array of values each. An element
   * without the key fails the computation, unless a fallback value is given (Dask's pluck default).
   */
  pluck<K extends keyof T & (string | number)>(key: K, ...fallback: [] | [unknown]): Bag<T[K]>;
  pluck(key: string | number | (string | number)[], ...fallback: [] | [unknown]): Bag<unknown>;
  pluck(key: string | number | (string | number)[], ...fallback: [] | [unknown]): Bag<T[keyof T]> | Bag<unknown> {
    const keys = Array.isArray(key) ? key : [key];
    if (keys.length === 0 || keys.some((k) => typeof k !== 'string' && typeof k !== 'number')) {
      throw invalidArgType('key', 'a property name or index, or an array of them', key);
    }
    const name = collectionName('pluck', this, key, fallback);
    return this.#perPartition(name, (input) => [bagKernels.pluck, input, key, fallback]);
  }

  // ---- reductions: Items ----

  /** A tree reduction with kernels of this module (perPartition, aggregate: task heads and their trailing arguments). */
  #reduce<R>(
    prefix: string,
    tokenInputs: unknown[],
    perPartition: (input: KeyRef) => unknown[],
    aggregate: (partials: KeyRef[], final: boolean) => unknown[],
    splitEvery: number,
  ): Item<R> {
    const name = collectionName(prefix, this, splitEvery, ...tokenInputs);
    const { layer } = treeReduction({ name, inputs: this.keys, perPartition, aggregate, splitEvery });
    return new Item<R>(withLayer([this], name, layer), name);
  }

  /** The same, as a one-partition Bag (frequencies, topk, distinct, foldby give bags). */
  #reduceToBag<U>(
    prefix: string,
    tokenInputs: unknown[],
    perPartition: (input: KeyRef) => unknown[],
    aggregate: (partials: KeyRef[], final: boolean) => unknown[],
    splitEvery: number,
  ): Bag<U> {
    const item = this.#reduce<U[]>(prefix, tokenInputs, perPartition, aggregate, splitEvery);
    return new Bag<U>(item.layers, item.name, 1);
  }

  /**
   * A general reduction (Dask's Bag.reduction): `perPartition(partition)` for each partition, then
   * `aggregate(partials)` on groups of partial results until one is left.
   */
  reduction<P, R>(
    perPartition: UserFunction<(partition: T[]) => P>,
    aggregate: UserFunction<(partials: Awaited<P>[]) => R>,
    opts?: ReductionOptions,
  ): Item<Awaited<R>> {
    checkFunction(perPartition, 'perPartition');
    checkFunction(aggregate, 'aggregate');
    return this.#reduce(
      label('reduction', perPartition),
      [perPartition, aggregate],
      (input) => [reduceKernels.reduceWith, perPartition, input],
      (partials, final) => [reduceKernels.aggregateWith, aggregate, partials, final],
      splitEveryOf(opts),
    );
  }

  /**
   * Folds each partition with `binop(acc, element)` (from `initial` when given, in every partition),
   * then combines the partitions' results with `combine(a, b)` (default binop) (Dask's fold). An empty
   * bag with no initial value fails with ERR_COLLECTIONS_EMPTY.
   */
  fold<A = T>(binop: UserFunction<(acc: A, item: T) => A>, opts?: ReductionOptions & { combine?: UserFunction<(a: A, b: A) => A>; initial?: A }): Item<A> {
    checkFunction(binop, 'binop');
    if (opts?.combine !== undefined) checkFunction(opts.combine, 'options.combine');
    const combine = opts?.combine ?? binop;
    const initial = optional(opts, 'initial');
    return this.#reduce(
      label('fold', binop),
      [binop, combine, initial],
      (input) => [reduceKernels.fold, binop, input, initial],
      (partials, final) => [reduceKernels.foldAggregate, combine, partials, final, [], 'fold', []],
      splitEveryOf(opts),
    );
  }

  /**
   * As Array.prototype.reduce: `binop` (associative: it runs on pieces in parallel) over the elements,
   * starting once from `initial` if given. An empty bag with no initial value fails with ERR_COLLECTIONS_EMPTY.
   */
  reduce(binop: UserFunction<(a: T, b: T) => T>, ...initial: [] | [T]): Item<T> {
    checkFunction(binop, 'binop');
    return this.#reduce(
      label('reduce', binop),
      [binop, initial],
      (input) => [reduceKernels.fold, binop, input, []],
      (partials, final) => [reduceKernels.foldAggregate, binop, partials, final, [], 'reduce', final ? initial : []],
      SPLIT_EVERY,
    );
  }

  /** The number of elements, as a tree reduction over the partitions. */
  count(opts?: ReductionOptions): Item<number> {
    return this.#reduce(
      'count',
      [],
      (input) => [reduceKernels.count, input],
      (partials) => [reduceKernels.sumOfCounts, partials],
      splitEveryOf(opts),
    );
  }

  /** The sum (with `+`: numbers, bigints); 0 for an empty bag. */
  sum(opts?: ReductionOptions): Item<T> {
    return this.#builtinFold('sum', reduceKernels.add, [0], opts);
  }

  /** The smallest element (by `<`); an empty bag fails with ERR_COLLECTIONS_EMPTY. */
  min(opts?: ReductionOptions): Item<T> {
    return this.#builtinFold('min', reduceKernels.smaller, [], opts);
  }

  /** The largest element (by `>`); an empty bag fails with ERR_COLLECTIONS_EMPTY. */
  max(opts?: ReductionOptions): Item<T> {
    return this.#builtinFold('max', reduceKernels.larger, [], opts);
  }

  #builtinFold(what: string, binop: ModuleRef, ifEmpty: [] | [unknown], opts: ReductionOptions | undefined): Item<T> {
    return this.#reduce(
      what,
      [],
      (input) => [reduceKernels.fold, binop, input, []],
      (partials, final) => [reduceKernels.foldAggregate, binop, partials, final, ifEmpty, what, []],
      splitEveryOf(opts),
    );
  }

  /** The mean of the elements (as numbers); an empty bag fails with ERR_COLLECTIONS_EMPTY. */
  mean(opts?: ReductionOptions): Item<number> {
    return this.#moments('mean', 0, opts);
  }

  /** The variance (Dask's ddof default 0: the population variance). */
  var(opts?: ReductionOptions & { ddof?: number }): Item<number> {
    return this.#moments('var', opts?.ddof ?? 0, opts);
  }

  /** The standard deviation (ddof default 0). */
  std(opts?: ReductionOptions & { ddof?: number }): Item<number> {
    return this.#moments('std', opts?.ddof ?? 0, opts);
  }

  #moments(result: 'mean' | 'var' | 'std', ddof: number, opts: ReductionOptions | undefined): Item<number> {
    validateInteger(ddof, 'options.ddof', 0, Number.MAX_SAFE_INTEGER);
    return this.#reduce(
      result,
      [ddof],
      (input) => [reduceKernels.moments, input],
      (partials, final) => [reduceKernels.momentsAggregate, partials, final, result, ddof],
      splitEveryOf(opts),
    );
  }

  /** Whether every element is truthy (true for an empty bag). */
  all(opts?: ReductionOptions): Item<boolean> {
    return this.#truth('all', opts);
  }

  /** Whether some element is truthy (false for an empty bag). */
  any(opts?: ReductionOptions): Item<boolean> {
    return this.#truth('any', opts);
  }

  #truth(mode: 'all' | 'any', opts: ReductionOptions | undefined): Item<boolean> {
    return this.#reduce(
      mode,
      [],
      (input) => [reduceKernels.truth, input, mode],
      (partials, final) => [reduceKernels.truthAggregate, partials, final, mode],
      splitEveryOf(opts),
    );
  }

  // ---- by key: one-partition bags (as Dask's) ----

  /** [element, count] pairs, elements compared by content; `sort`: highest count first (Dask's frequencies). */
  frequencies(opts?: ReductionOptions & { sort?: boolean }): Bag<[T, number]> {
    const sort = opts?.sort ?? false;
    validateBoolean(sort, 'options.sort');
    return this.#reduceToBag(
      'frequencies',
      [sort],
      (input) => [reduceKernels.frequencies, input],
      (partials, final) => [reduceKernels.frequenciesAggregate, partials, final, sort],
      splitEveryOf(opts),
    );
  }

  /** The `k` largest elements (by `key` if given), largest first (Dask's topk). */
  topk(k: number, opts?: ReductionOptions & { key?: KeySelector<T> }): Bag<T> {
    validateInteger(k, 'k', 0, Number.MAX_SAFE_INTEGER);
    const key = opts?.key ?? null;
    checkKey(key, 'options.key', true);
    return this.#reduceToBag(
      'topk',
      [k, key],
      (input) => [reduceKernels.topk, input, k, key],
      (partials, final) => [reduceKernels.topkAggregate, partials, final, k, key],
      splitEveryOf(opts),
    );
  }

  /** The distinct elements (by `key` if given), compared by content, first seen first (Dask's distinct). */
  distinct(opts?: ReductionOptions & { key?: KeySelector<T> }): Bag<T> {
    const key = opts?.key ?? null;
    checkKey(key, 'options.key', true);
    return this.#reduceToBag(
      'distinct',
      [key],
      (input) => [reduceKernels.distinct, input, key],
      (partials, final) => [reduceKernels.distinctAggregate, partials, final, key],
      splitEveryOf(opts),
    );
  }

  /**
   * [key, value] pairs: each key's elements folded with `binop(acc, element)` (from `initial`, or the
   * first element), partitions' accumulators combined with `combine` (default binop, from
   * `combineInitial` if given) (Dask's foldby: a reduction, no shuffle).
   */
  foldby<K, A = T>(
    key: KeySelector<T>,
    binop: UserFunction<(acc: A, item: T) => A>,
    opts?: ReductionOptions & { initial?: A; combine?: UserFunction<(a: A, b: A) => A>; combineInitial?: A },
  ): Bag<[K, A]> {
    checkKey(key, 'key');
    checkFunction(binop, 'binop');
    if (opts?.combine !== undefined) checkFunction(opts.combine, 'options.combine');
    const combine = opts?.combine ?? binop;
    const initial = optional(opts, 'initial');
    const combineInitial = optional(opts, 'combineInitial');
    return this.#reduceToBag(
      label('foldby', binop),
      [key, binop, combine, initial, combineInitial],
      (input) => [reduceKernels.foldby, key, binop, input, initial],
      (partials, final) => [reduceKernels.foldbyAggregate, combine, partials, final, combineInitial],
      splitEveryOf(opts),
    );
  }

  /**
   * [key, elements] pairs, keys compared by content, in `npartitions` partitions (default: as many
   * as this bag's) by the key's hash: an all-to-all shuffle of tasks (Dask's groupby, method 'tasks').
   * Prefer foldby when the groups are reduced afterwards: it moves accumulators, not elements.
   */
  groupby<K = unknown>(key: KeySelector<T>, opts?: { npartitions?: number }): Bag<[K, T[]]> {
    checkKey(key, 'key');
    validateOptionalObject(opts as unknown, 'options');
    const n = opts?.npartitions ?? this.npartitions;
    validateInteger(n, 'options.npartitions', 1, 1 << 16);
    const name = collectionName('groupby', this, key, n);
    const layer: Graph = {};
    for (let i = 0; i < this.npartitions; i++) {
      const split = `${name}-split-${i}`;
      layer[split] = [reduceKernels.groupbySplit, key, ref(partitionKey(this.name, i)), n];
      // Each bucket picked out where the split result is (the local schedulers run getItem in their own thread).
      for (let j = 0; j < n; j++) layer[`${name}-pick-${i}-${j}`] = [kernels.getItem, ref(split), j];
    }
    for (let j = 0; j < n; j++) {
      layer[partitionKey(name, j)] = [reduceKernels.groupbyCollect, Array.from({ length: this.npartitions }, (_, i) => ref(`${name}-pick-${i}-${j}`))];
    }
    return new Bag<[K, T[]]>(withLayer([this], name, layer), name, n);
  }

  // ---- results ----

  /** The first `k` elements, from the first `npartitions` partitions (-1: all) (Dask's take). Computes. */
  async take(k: number, opts: ComputeOptions & { npartitions?: number } = {}): Promise<T[]> {
    validateInteger(k, 'k', 0, Number.MAX_SAFE_INTEGER);
    validateOptionalObject(opts, 'options');
    const { npartitions = 1, ...computeOptions } = opts;
    validateInteger(npartitions, 'options.npartitions', -1, this.npartitions);
    if (npartitions === 0) throw invalidArgValue('options.npartitions', npartitions, 'must be -1 (all) or at least 1');
    const from = npartitions === -1 ? this.npartitions : npartitions;
    const name = collectionName('take', this, k, from);
    const layer: Graph = {};
    const parts = this.keys.slice(0, from).map((key, i) => {
      const partKey = `${name}-part-${i}`;
      layer[partKey] = [bagKernels.take, ref(key), k];
      return ref(partKey);
    });
    layer[partitionKey(name, 0)] = [bagKernels.takeFrom, parts, k];
    return new Item<T[]>(withLayer([this], name, layer), name).compute(computeOptions);
  }

  /**
   * Writes each partition to a text file, one element (a string) a line, and resolves with the paths
   * (Dask's to_textfiles). `path`: a path with a '*' (replaced by each partition's name), a
   * directory (files `<name>.part`), or one path per partition. Compression by extension (.gz).
   */
  async toTextFiles(path: string | readonly string[], opts: ToTextFilesOptions & ComputeOptions = {}): Promise<string[]> {
    validateOptionalObject(opts, 'options');
    const { nameFunction, compression, encoding, lastEndline, ...computeOptions } = opts;
    if (nameFunction !== undefined && typeof nameFunction !== 'function') throw invalidArgType('options.nameFunction', 'a function', nameFunction);
    const paths = textFilePaths(path, this.npartitions, nameFunction);
    const writeOptions: ToTextFilesOptions = {};
    if (compression !== undefined) writeOptions.compression = compression;
    if (encoding !== undefined) writeOptions.encoding = encoding;
    if (lastEndline !== undefined) writeOptions.lastEndline = lastEndline;
    const { name, layer } = writeTextLayer(this.name, paths, writeOptions);
    return new Bag<string>(withLayer([this], name, layer), name, this.npartitions).compute(computeOptions);
  }
}
