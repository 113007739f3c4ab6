// Tree reductions (Dask's Bag.reduction with split_every): reduce each partition, then combine the
// partial results `splitEvery` at a time, level by level, until one is left. No task takes more than
// splitEvery inputs, so no single task (or thread) receives every partition's partial result at once,
// and the levels run in parallel.
import { ref, type Graph, type KeyRef } from '../../scheduler/graph.js';
import { outOfRange, validateInteger, validateOptionalObject } from '../../util/validate.js';
import { partitionKey } from './collection.js';

/** A reduction's `options.splitEvery` (how many partial results a tree node combines), checked; `fallback` when absent. */
export function splitEveryOption(opts: { splitEvery?: number } | undefined, fallback: number): number {
  validateOptionalObject(opts as unknown, 'options');
  const splitEvery = opts?.splitEvery ?? fallback;
  validateInteger(splitEvery, 'options.splitEvery', 2, 1 << 20);
  return splitEvery;
}

export interface TreeReductionSpec {
  /** The reduction's collection name: the final key is partitionKey(name, 0). */
  name: string;
  /** The keys reduced (a collection's partitions). */
  inputs: readonly string[];
  /** The task that reduces one input. */
  perPartition(input: KeyRef, index: number): unknown[];
  /** The task that combines partial results; `final` for the last one (it may finish the value). */
  aggregate(partials: KeyRef[], final: boolean): unknown[];
  /** How many partial results one aggregate takes (>= 2). */
  splitEvery: number;
}

/** The reduction's tasks and its final key. */
export function treeReduction(spec: TreeReductionSpec): { layer: Graph; key: string } {
  const { name, inputs, splitEvery } = spec;
  if (!Number.isInteger(splitEvery) || splitEvery < 2) throw outOfRange('splitEvery', 'an integer >= 2', splitEvery);
  const layer: Graph = {};
  let level = inputs.map((input, i) => {
    const key = `${name}-part-${i}`;
    layer[key] = spec.perPartition(ref(input), i);
    return key;
  });
  for (let depth = 0; level.length > splitEvery; depth++) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += splitEvery) {
      const key = `${name}-agg${depth}-${next.length}`;
      layer[key] = spec.aggregate(
        level.slice(i, i + splitEvery).map((k) => ref(k)),
        false,
      );
      next.push(key);
    }
    level = next;
  }
  const key = partitionKey(name, 0);
  layer[key] = spec.aggregate(
    level.map((k) => ref(k)),
    true,
  );
  return { layer, key };
}
