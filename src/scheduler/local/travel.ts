// Graphs on their way out of this thread. A task's own function travels as code (toCode: a module
// reference, or the function's source); a function inside its arguments (the user function a bag's
// map kernel applies, say) cannot be cloned, so it is replaced by a { [CODE_MARK]: Code } marker and
// the task becomes [callWithFunctions, [fn, ...args], paths]: the executor compiles the marked
// functions and puts them back before calling fn. Done once per graph, on the task specs (small: refs,
// not yet the data they stand for), so that no executor walks the data itself.
import { toCode } from '../code.js';
import { isTask, type Graph } from '../graph.js';
import { CODE_MARK, kernels, type ValuePath } from './kernels.js';

/**
 * `graph` with every function in task arguments packed for travel (the tasks without any are kept as
 * they are); `only`: the keys to look at (default all, the others are kept as they are). Throws ERR_INVALID_ARG_VALUE, naming the key, for a function that cannot travel (native
 * or bound), before anything runs.
 */
export function prepareForTravel(graph: Graph, only: Iterable<string> = Object.keys(graph)): Graph {
  let out: Graph | null = null;
  for (const key of only) {
    const value = graph[key];
    if (!isTask(value)) continue;
    checkTravels(value[0], `graph['${key}'][0]`);
    const paths: ValuePath[] = [];
    const args = value.slice(1);
    const packedArgs = packFunctions(args, [], paths, key) as unknown[];
    if (paths.length === 0) continue;
    // [fn, ...args] for callWithFunctions: the paths shift by one, and fn is packed too when it is a function.
    const shifted: ValuePath[] = paths.map(([first, ...rest]) => [(first as number) + 1, ...rest]);
    const fn = value[0];
    if (typeof fn === 'function') shifted.unshift([0]);
    out ??= { ...graph };
    out[key] = [kernels.callWithFunctions, [typeof fn === 'function' ? { [CODE_MARK]: toCode(fn) } : fn, ...packedArgs], shifted];
  }
  return out ?? graph;
}

/** Throws what toCode throws for a function that cannot travel, naming where it is. */
function checkTravels(fn: unknown, where: string): void {
  if (typeof fn === 'function') toCode(fn, where);
}

/**
 * `value` with each function inside it (in arrays and plain objects) replaced by its code marker;
 * `paths` collects where. Only the arrays and objects on the way to a function are copied.
 */
function packFunctions(value: unknown, at: (string | number)[], paths: ValuePath[], key: string): unknown {
  if (typeof value === 'function') {
    const code = toCode(value, `graph['${key}'] at [${at.join('][')}]`);
    paths.push([...at]);
    return { [CODE_MARK]: code };
  }
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      at.push(i);
      const packed = packFunctions(value[i], at, paths, key);
      at.pop();
      if (packed !== value[i]) {
        out ??= value.slice();
        out[i] = packed;
      }
    }
    return out ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(value)) {
    at.push(k);
    const packed = packFunctions(v, at, paths, key);
    at.pop();
    if (packed !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[k] = packed;
    }
  }
  return out ?? value;
}
