// The collection protocol (Dask's __dask_graph__ / __dask_keys__ / __dask_postcompute__ /
// __dask_postpersist__): a collection is a graph of layers, one per operation, and the keys of its
// partitions; compute() optimizes the graph, runs it on a scheduler and assembles the result.
import type { Graph } from '../../scheduler/graph.js';
import { isTask } from '../../scheduler/graph.js';
import { computeGraph, kernels, persistGraph, type LocalScheduler, type Scheduler } from '../../scheduler/local/index.js';
import { validateAbortSignal, validateBoolean, validateOptionalObject, invalidArgType } from '../../util/validate.js';
import { optimizeGraph } from './optimize.js';
import { TOKEN, tokenize, type Tokenizable } from './tokenize.js';

/** A collection's graph, by layer: each operation adds one layer (named as the collection it makes). */
export type Layers = ReadonlyMap<string, Readonly<Graph>>;

/** Where and how compute() and persist() run a collection's graph. */
export interface ComputeOptions {
  /**
   * Where the graph runs: 'sync', 'threads', 'processes', 'distributed' or a Client. Default: the
   * default Client when one is set (setDefaultClient, or the last Client made), else the collection's
   * own default (docs/collections.md, "Schedulers").
   */
  scheduler?: Scheduler;
  /** Threads or processes of a local pool. Default: one per CPU. */
  numWorkers?: number;
  /** Cull and fuse the graph first (optimize.ts). Default true; false runs the graph as built. */
  optimize?: boolean;
  /** Aborting rejects with an AbortError and starts no further task. */
  signal?: AbortSignal;
}

/** The key of partition `index` of the collection named `name`. */
export function partitionKey(name: string, index: number): string {
  return `${name}-${index}`;
}

/** A collection name: `prefix-token`, the token deterministic in `inputs` (tokenize.ts). */
export function collectionName(prefix: string, ...inputs: unknown[]): string {
  return `${prefix}-${tokenize(prefix, ...inputs)}`;
}

export abstract class Collection<Result> implements Tokenizable {
  /** The name of the collection's own layer; its keys are partitionKey(name, i). */
  readonly name: string;
  /** Its graph, one layer per operation (its own and its inputs'): what compute() merges, optimizes and runs. */
  readonly layers: Layers;

  protected constructor(layers: Layers, name: string) {
    this.layers = layers;
    this.name = name;
  }

  /** The keys of the partitions (Dask's __dask_keys__). */
  abstract get keys(): readonly string[];

  /** What compute() resolves with, given the results of `keys` in order (Dask's __dask_postcompute__). */
  abstract finalize(results: unknown[]): Result;

  /** The same collection over other layers, e.g. persisted partitions (Dask's __dask_postpersist__). */
  abstract rebuild(layers: Layers): this;

  /** The scheduler used when none is named and no Client is set (Dask's __dask_scheduler__). */
  get defaultScheduler(): LocalScheduler {
    return 'threads';
  }

  /** The whole graph (Dask's __dask_graph__): every layer merged. */
  graph(): Graph {
    const graph: Graph = {};
    for (const layer of this.layers.values()) Object.assign(graph, layer);
    return graph;
  }

  /** The graph that runs for `keys` (Dask's __dask_optimize__): culled, linear chains fused. */
  optimize(graph: Graph, keys: readonly string[]): Graph {
    return optimizeGraph(graph, keys);
  }

  /** Runs the graph and resolves with the collection's value. */
  async compute(opts: ComputeOptions = {}): Promise<Result> {
    const [result] = await compute([this], opts);
    return result as Result;
  }

  /**
   * Computes the partitions and returns the same collection over their results: with a local
   * scheduler the results are held here (literals in the graph); with a Client they stay on its
   * workers (Futures in the graph) and later computations start from them.
   */
  async persist(opts: ComputeOptions = {}): Promise<this> {
    validateComputeOptions(opts);
    const keys = this.keys;
    const graph = opts.optimize === false ? this.graph() : this.optimize(this.graph(), keys);
    const values = await persistGraph(graph, keys, { ...schedulerOptions(opts), defaultScheduler: this.defaultScheduler });
    const layer: Graph = {};
    keys.forEach((key, i) => {
      layer[key] = asLiteral(values[i]);
    });
    return this.rebuild(new Map([[this.name, layer]]));
  }

  /** Its token (tokenize()): the name, which is already deterministic in its inputs. */
  [TOKEN](): string {
    return this.name;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `${this.constructor.name}<${this.name}, ${this.keys.length} partition${this.keys.length === 1 ? '' : 's'}>`;
  }
}

/** The layers of `parents` (the inputs of a new collection) with `layer` added under `name`. */
export function withLayer(parents: readonly Collection<unknown>[], name: string, layer: Graph): Layers {
  const layers = new Map<string, Readonly<Graph>>();
  for (const parent of parents) for (const [layerName, parentLayer] of parent.layers) layers.set(layerName, parentLayer);
  layers.set(name, layer);
  return layers;
}

/**
 * `value` as a graph literal. A value that would read as a task (an array starting with a function
 * or a module reference) is wrapped in identity, whose argument is never read as one.
 */
export function asLiteral(value: unknown): unknown {
  return isTask(value) ? [kernels.identity, value] : value;
}

/** The result type of a collection. */
/**
 * A collection of one value in one task: a reduction's result (Dask's Item, Scalar), a written file's path.
 * Subclasses add what their value can do; rebuild() keeps the subclass.
 */
export class SingleValue<T> extends Collection<T> {
  /** @internal Made by reductions and writers. */
  constructor(layers: Layers, name: string) {
    super(layers, name);
  }

  /** The key of its one task (the value's key in the graph). */
  get key(): string {
    return partitionKey(this.name, 0);
  }

  get keys(): readonly string[] {
    return [this.key];
  }

  finalize(results: unknown[]): T {
    return results[0] as T;
  }

  rebuild(layers: Layers): this {
    return new (this.constructor as new (layers: Layers, name: string) => this)(layers, this.name);
  }
}

export type ResultOf<C> = C extends Collection<infer R> ? R : never;

/**
 * Computes several collections in one graph (Dask's dask.compute): shared inputs run once. Resolves
 * with their values in order.
 */
export async function compute<const C extends readonly Collection<unknown>[]>(
  collections: C,
  opts: ComputeOptions = {},
): Promise<{ -readonly [K in keyof C]: ResultOf<C[K]> }> {
  if (!Array.isArray(collections) || collections.some((c) => !(c instanceof Collection))) {
    throw invalidArgType('collections', 'an array of collections', collections);
  }
  validateComputeOptions(opts);
  const graph: Graph = {};
  const keys: string[] = [];
  for (const collection of collections) {
    Object.assign(graph, collection.graph());
    keys.push(...collection.keys);
  }
  const run = opts.optimize === false ? graph : optimizeGraph(graph, keys);
  const defaultScheduler = collections[0]?.defaultScheduler ?? 'threads';
  const results = await computeGraph(run, keys, { ...schedulerOptions(opts), defaultScheduler });
  let at = 0;
  return collections.map((collection) => {
    const n = collection.keys.length;
    const mine = results.slice(at, (at += n));
    return collection.finalize(mine);
  }) as { -readonly [K in keyof C]: ResultOf<C[K]> };
}

function validateComputeOptions(opts: ComputeOptions): void {
  validateOptionalObject(opts, 'options');
  if (opts.optimize !== undefined) validateBoolean(opts.optimize, 'options.optimize');
  validateAbortSignal(opts.signal, 'options.signal');
}

function schedulerOptions(opts: ComputeOptions): { scheduler?: Scheduler; numWorkers?: number; signal?: AbortSignal } {
  const out: { scheduler?: Scheduler; numWorkers?: number; signal?: AbortSignal } = {};
  if (opts.scheduler !== undefined) out.scheduler = opts.scheduler;
  if (opts.numWorkers !== undefined) out.numWorkers = opts.numWorkers;
  if (opts.signal !== undefined) out.signal = opts.signal;
  return out;
}
