// What a local scheduler works out before anything runs: the keys the requested ones need (the rest
// of the graph is ignored, as Dask's get culls), each one's dependencies in argument order, who
// depends on whom, and a priority order. Bad graphs fail here, with coded errors, before any task runs.
import { SchedulerError } from '../errors.js';
import { isRef, isTask, KEY_REF, type Graph } from '../graph.js';
import { invalidArgType } from '../../util/validate.js';

export interface Plan {
  /**
   * The needed keys, each after its dependencies, in the order a depth-first walk from the requested
   * keys finishes them: a task's inputs are computed just before it, so a reduction consumes its
   * inputs (and their memory is freed) as soon as they exist (Dask's dask.order aims at the same).
   * A key's position is its priority: lower runs first.
   */
  readonly order: readonly string[];
  readonly priority: ReadonlyMap<string, number>;
  /** Each needed key's distinct dependencies, in the order its arguments name them. */
  readonly dependencies: ReadonlyMap<string, readonly string[]>;
  /** Each needed key's dependents among the needed keys. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
  /** The requested keys (results kept until the end). */
  readonly requested: ReadonlySet<string>;
}

/**
 * Plans computing `keys` of `graph`. Throws ERR_SCHEDULER_MISSING_KEY (a requested key or a ref that
 * is not in the graph) or ERR_SCHEDULER_CYCLE (with the cycle), and ERR_INVALID_ARG_TYPE for
 * arguments of the wrong shape.
 */
export function planGraph(graph: Graph, keys: readonly string[]): Plan {
  if (typeof graph !== 'object' || graph === null || Array.isArray(graph)) throw invalidArgType('graph', 'an object of tasks', graph);
  if (!Array.isArray(keys)) throw invalidArgType('keys', 'an array of strings', keys);
  for (const key of keys) {
    if (typeof key !== 'string') throw invalidArgType('keys', 'an array of strings', key);
    if (!Object.hasOwn(graph, key)) throw new SchedulerError('ERR_SCHEDULER_MISSING_KEY', `'${key}' was requested but is not a key of the graph`);
  }
  const dependencies = new Map<string, string[]>();
  const order: string[] = [];
  const done = new Set<string>();
  // Iterative depth-first walk (graphs can be far deeper than the call stack): [key, next dependency index].
  for (const root of keys) {
    if (done.has(root)) continue;
    const stack: [string, number][] = [[root, 0]];
    const onStack = new Set([root]);
    dependencies.set(root, dependenciesOf(graph, root));
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [key, next] = top;
      const deps = dependencies.get(key)!;
      if (next < deps.length) {
        top[1]++;
        const dep = deps[next]!;
        if (done.has(dep)) continue;
        if (onStack.has(dep)) {
          const path = stack.map(([k]) => k);
          throw new SchedulerError('ERR_SCHEDULER_CYCLE', `the graph has a dependency cycle: ${[...path.slice(path.indexOf(dep)), dep].join(' -> ')}`);
        }
        if (!Object.hasOwn(graph, dep)) {
          throw new SchedulerError('ERR_SCHEDULER_MISSING_KEY', `graph['${key}'] refers to '${dep}', which is not a key of the graph`);
        }
        if (!dependencies.has(dep)) dependencies.set(dep, dependenciesOf(graph, dep));
        stack.push([dep, 0]);
        onStack.add(dep);
        continue;
      }
      stack.pop();
      onStack.delete(key);
      done.add(key);
      order.push(key);
    }
  }
  const priority = new Map(order.map((key, i) => [key, i]));
  const dependents = new Map<string, string[]>(order.map((key) => [key, []]));
  for (const key of order) for (const dep of dependencies.get(key)!) dependents.get(dep)!.push(key);
  return { order, priority, dependencies, dependents, requested: new Set(keys) };
}

/** The distinct keys `graph[key]` refers to, in the order its arguments name them. */
export function dependenciesOf(graph: Graph, key: string): string[] {
  const value = graph[key];
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return;
    if (isRef(v)) {
      found.add(v[KEY_REF]);
    } else if (Array.isArray(v)) {
      for (const item of v) walk(item);
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      for (const item of Object.values(v)) walk(item);
    }
  };
  if (isTask(value)) for (let i = 1; i < value.length; i++) walk(value[i]);
  else walk(value);
  return [...found];
}
