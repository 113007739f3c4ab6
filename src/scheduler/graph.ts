// Task graphs as users and collections write them, after Dask's graph spec:
//   { key: [fn, ...args], other: value }
// A value that is an array whose first element is a function (or a moduleFunction reference) is a
// task; anything else is a literal. An argument `ref(key)` (anywhere inside arrays and plain objects)
// stands for that key's result. The same graph runs on every scheduler: 'sync', 'threads',
// 'processes' (scheduler/local/) and a distributed Client.
import { invalidArgType, invalidArgValue } from '../util/validate.js';
import { isModuleRef } from './code.js';

/** The marker of a key reference inside task arguments (a plain object, so it survives any serialization). */
export const KEY_REF = '\u0000key';
/** What ref(key) makes: a task argument that stands for that key's result (resolved before the task runs). */
export interface KeyRef {
  /** The key whose result it stands for. */
  readonly [KEY_REF]: string;
}

/** An argument that stands for `key`'s result. */
export function ref(key: string): KeyRef {
  if (typeof key !== 'string' || key === '') throw invalidArgType('key', 'a non-empty string', key);
  return Object.freeze({ [KEY_REF]: key });
}

/** Whether a value is a ref(key) (what a task's arguments hold in place of dependencies). */
export function isRef(value: unknown): value is KeyRef {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[KEY_REF] === 'string' && Object.keys(value).length === 1;
}

/** A task graph, Dask's way: each key a task ([fn, ...args], refs among the args) or a literal value. */
export type Graph = Record<string, unknown>;
export interface GraphTask {
  fn: unknown;
  args: unknown[];
}

/** Whether a graph value is a task ([fn, ...args]). */
export function isTask(value: unknown): value is [unknown, ...unknown[]] {
  return Array.isArray(value) && value.length > 0 && (typeof value[0] === 'function' || isModuleRef(value[0]));
}

/** The keys `value` refers to (refs anywhere inside arrays and plain objects; typed arrays are leaves). */
export function refsOf(value: unknown, into: Set<string> = new Set()): Set<string> {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) continue;
    if (isRef(v)) {
      into.add(v[KEY_REF]);
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      for (const item of Object.values(v)) stack.push(item);
    }
  }
  return into;
}

/** `value` with each ref replaced by `lookup(key)` (copies only the arrays and objects that contain refs). */
export function resolveRefs(value: unknown, lookup: (key: string) => unknown): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (isRef(value)) return lookup(value[KEY_REF]);
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const resolved = resolveRefs(value[i], lookup);
      if (resolved !== value[i]) {
        out ??= value.slice();
        out[i] = resolved;
      }
    }
    return out ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(value)) {
    const resolved = resolveRefs(v, lookup);
    if (resolved !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[k] = resolved;
    }
  }
  return out ?? value;
}

/**
 * Checks a graph: every key a string, every ref naming a key of the graph (or one of `external`, keys
 * computed elsewhere), no cycle. Returns each key's dependencies. Throws ERR_INVALID_ARG_VALUE saying
 * which key is wrong.
 */
export function graphDependencies(graph: Graph, external: ReadonlySet<string> = new Set()): Map<string, Set<string>> {
  if (typeof graph !== 'object' || graph === null || Array.isArray(graph)) throw invalidArgType('graph', 'an object of tasks', graph);
  const deps = new Map<string, Set<string>>();
  for (const [key, value] of Object.entries(graph)) {
    const refs = isTask(value) ? refsOf(value.slice(1)) : refsOf(value);
    for (const dep of refs) {
      if (!Object.hasOwn(graph, dep) && !external.has(dep)) {
        throw invalidArgValue(`graph['${key}']`, value, `refers to '${dep}', which is not a key of the graph`);
      }
    }
    deps.set(key, refs);
  }
  const cycle = findCycle(deps);
  if (cycle !== null) throw invalidArgValue('graph', cycle.join(' -> '), 'has a dependency cycle');
  return deps;
}

/** The keys in an order where each comes after its dependencies (external ones ignored). */
export function topologicalKeys(deps: Map<string, Set<string>>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  for (const root of deps.keys()) {
    if (done.has(root)) continue;
    const stack: [string, Iterator<string>][] = [[root, deps.get(root)!.values()]];
    const onStack = new Set([root]);
    while (stack.length > 0) {
      const [key, it] = stack[stack.length - 1]!;
      const next = it.next();
      if (!next.done) {
        const dep = next.value;
        if (deps.has(dep) && !done.has(dep) && !onStack.has(dep)) {
          stack.push([dep, deps.get(dep)!.values()]);
          onStack.add(dep);
        }
        continue;
      }
      stack.pop();
      onStack.delete(key);
      done.add(key);
      order.push(key);
    }
  }
  return order;
}

function findCycle(deps: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 1 | 2>();
  for (const root of deps.keys()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const iters: Iterator<string>[] = [deps.get(root)!.values()];
    state.set(root, 1);
    while (iters.length > 0) {
      const next = iters[iters.length - 1]!.next();
      if (next.done) {
        state.set(path.pop()!, 2);
        iters.pop();
        continue;
      }
      const dep = next.value;
      if (!deps.has(dep)) continue;
      const s = state.get(dep);
      if (s === 1) return [...path.slice(path.indexOf(dep)), dep];
      if (s === undefined) {
        state.set(dep, 1);
        path.push(dep);
        iters.push(deps.get(dep)!.values());
      }
    }
  }
  return null;
}
