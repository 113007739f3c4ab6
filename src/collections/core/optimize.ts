// Graph optimizations the collections run before computing (Dask's dask.optimization):
//   cull           keep only the keys the requested ones need;
//   inlineAliases  refer past keys whose value is just another key's ref (concat's partitions);
//   fuseLinear     fuse each linear chain of tasks into one task (Dask's fuse, in its linear form).
// Fusion matters more here than in Dask: every task boundary is a copy between threads or
// processes, and a fused chain's intermediate results never cross one.
import { isRef, isTask, KEY_REF, ref, type Graph } from '../../scheduler/graph.js';
import { dependenciesOf, isMainThreadKernel } from '../../scheduler/local/index.js';
import { fusedKernel, isFusedTask, stepRef, STEP_MARK, type FusedSpec } from './fused.js';

/** The keys `keys` need, and theirs (refs to keys the graph lacks are left for the scheduler to report). */
export function cull(graph: Graph, keys: readonly string[]): Graph {
  const out: Graph = {};
  const todo = keys.filter((key) => Object.hasOwn(graph, key));
  while (todo.length > 0) {
    const key = todo.pop()!;
    if (Object.hasOwn(out, key)) continue;
    out[key] = graph[key];
    for (const dep of dependenciesOf(graph, key)) if (Object.hasOwn(graph, dep) && !Object.hasOwn(out, dep)) todo.push(dep);
  }
  return out;
}

/**
 * Fuses linear chains: a task `a` joins its dependent `b` when
 *   - `b` is `a`'s only dependent (so nothing else waits for `a`'s result), and
 *   - `a` is `b`'s only dependency (fusing into a task with other inputs would make `a` wait for them
 *     and run after them, in series, instead of in parallel; Dask's linear fuse has the same rule), and
 *   - `a` is not one of `keys` (a requested result keeps its key), and
 *   - `a` is no cheap selection (getItem, identity: those run where the data is and ship only what
 *     they select; fused, their whole input would travel to the thread of `b`).
 * A chain becomes one task under its last key, so nothing outside it needs renaming.
 */
export function fuseLinear(graph: Graph, keys: readonly string[]): Graph {
  const keep = new Set(keys);
  const dependencies = new Map<string, string[]>();
  const dependents = new Map<string, number>();
  for (const key of Object.keys(graph)) {
    const deps = dependenciesOf(graph, key).filter((dep) => Object.hasOwn(graph, dep));
    dependencies.set(key, deps);
    for (const dep of deps) dependents.set(dep, (dependents.get(dep) ?? 0) + 1);
  }
  const parentOf = new Map<string, string>();
  const hasChild = new Set<string>();
  for (const [b, deps] of dependencies) {
    if (!isTask(graph[b]) || deps.length !== 1) continue;
    const a = deps[0]!;
    const spec = graph[a];
    if (!isTask(spec) || dependents.get(a) !== 1 || keep.has(a) || isMainThreadKernel(spec[0])) continue;
    parentOf.set(b, a);
    hasChild.add(a);
  }
  if (parentOf.size === 0) return graph;
  const out: Graph = { ...graph };
  for (const end of parentOf.keys()) {
    if (hasChild.has(end)) continue; // not the end of its chain
    const chain = [end];
    for (let key = parentOf.get(end); key !== undefined; key = parentOf.get(key)) chain.unshift(key);
    const spec: FusedSpec = { keys: [], steps: [] };
    let previous: string | null = null;
    for (const key of chain) {
      appendSteps(spec, graph[key] as unknown[], key, previous);
      if (previous !== null) delete out[previous];
      previous = key;
    }
    out[end] = [fusedKernel, spec];
  }
  return out;
}

/**
 * Refs to aliases (keys whose whole value is a ref to another key) replaced by refs to what they
 * name, and the aliases dropped, unless requested: a chain through an alias then fuses as if the
 * alias were not there (Dask's cull + inline of aliases does the same).
 */
export function inlineAliases(graph: Graph, keys: readonly string[]): Graph {
  const keep = new Set(keys);
  const target = new Map<string, string>();
  for (const [key, value] of Object.entries(graph)) if (isRef(value)) target.set(key, value[KEY_REF]);
  if (target.size === 0) return graph;
  const resolve = (key: string): string => {
    const seen = new Set<string>();
    while (target.has(key) && !seen.has(key)) {
      seen.add(key);
      key = target.get(key)!;
    }
    return key;
  };
  const out: Graph = {};
  for (const [key, value] of Object.entries(graph)) {
    if (target.has(key) && !keep.has(key)) continue;
    const deps = dependenciesOf(graph, key);
    out[key] = deps.some((dep) => target.has(dep)) ? mapLeaves(value, (v) => (isRef(v) && target.has(v[KEY_REF]) ? ref(resolve(v[KEY_REF])) : v)) : value;
  }
  return out;
}

/** cull, inlineAliases, then fuseLinear: what a collection's compute() runs unless told `optimize: false`. */
export function optimizeGraph(graph: Graph, keys: readonly string[]): Graph {
  return fuseLinear(inlineAliases(cull(graph, keys), keys), keys);
}

/**
 * Adds the task of `key` to a fused spec: its refs to `previous` (the chain's key before it) become
 * step refs. A task that is itself fused (a graph optimized twice) adds its steps, so specs stay flat.
 */
function appendSteps(spec: FusedSpec, task: unknown[], key: string, previous: string | null): void {
  const offset = spec.steps.length;
  const inner: FusedSpec = isFusedTask(task) ? task[1] : { keys: [key], steps: [task] };
  inner.steps.forEach((step, i) => {
    const [fn, ...args] = step;
    // The first step takes the chain's previous key; the others their own previous step, shifted.
    const rewritten = i === 0 ? (previous === null ? args : replaceRefs(args, previous, stepRef(offset - 1))) : shiftStepRefs(args, offset);
    spec.steps.push([fn, ...(rewritten as unknown[])]);
  });
  spec.keys.push(...inner.keys);
}

function replaceRefs(value: unknown, key: string, replacement: unknown): unknown {
  return mapLeaves(value, (v) => (isRef(v) && v[KEY_REF] === key ? replacement : v));
}

function shiftStepRefs(value: unknown, offset: number): unknown {
  return mapLeaves(value, (v) => {
    const index = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[STEP_MARK] : undefined;
    return typeof index === 'number' && Object.keys(v as object).length === 1 ? stepRef(index + offset) : v;
  });
}

/**
 * `value` with `replace` applied to every ref-like object (refs and step refs are the only objects it
 * changes); arrays and plain objects are walked, and copied only where something changed.
 */
function mapLeaves(value: unknown, replace: (v: unknown) => unknown): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  const replaced = replace(value);
  if (replaced !== value) return replaced;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v = mapLeaves(value[i], replace);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(value)) {
    const mapped = mapLeaves(v, replace);
    if (mapped !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = mapped;
  }
  return out ?? value;
}
