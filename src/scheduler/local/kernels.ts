// Kernels of the schedulers themselves: functions that tasks name by moduleFunction() reference, so
// that every executor (this thread, a pool thread, a child process, a distributed worker) imports the
// same code. Keep this module's imports small: each executor loads it.
import { isModuleRef, loadCode, moduleFunction, toCode, type Code, type ModuleRef } from '../code.js';

/** The marker that stands for a function inside task arguments on their way to another thread (travel.ts). */
export const CODE_MARK = '\u0000code';

/** A path into nested arrays and plain objects: indices and property names. */
export type ValuePath = readonly (string | number)[];

/**
 * The function `fn` names: itself, or a moduleFunction() reference's export (imported once per thread).
 * Kernels call this on the user functions they take as arguments.
 */
export async function callable(fn: unknown): Promise<(...args: unknown[]) => unknown> {
  if (typeof fn === 'function') return fn as (...args: unknown[]) => unknown;
  if (isModuleRef(fn)) return loadCode(toCode(fn));
  throw Object.assign(new TypeError(`not a function or moduleFunction() reference: ${typeof fn}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

/**
 * Runs a task whose arguments held functions: `packed` is [fn, ...args] with each function at one of
 * `paths` replaced by { [CODE_MARK]: Code } (travel.ts). The functions are compiled (once per thread)
 * and put back, then fn is called.
 */
export async function callWithFunctions(packed: unknown[], paths: readonly ValuePath[]): Promise<unknown> {
  for (const at of paths) {
    const marker = valueAt(packed, at) as Record<string, Code>;
    const fn = await loadCode(marker[CODE_MARK]!);
    setValueAt(packed, at, fn);
  }
  const fn = await callable(packed[0]);
  return fn(...packed.slice(1));
}

/** `container[index]`: a selection, cheap enough to run where the data is (see MAIN_THREAD_KERNELS). */
export function getItem(container: unknown, index: string | number): unknown {
  if (container === null || container === undefined) {
    throw Object.assign(new TypeError(`cannot read item ${String(index)} of ${String(container)}`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  return (container as Record<string | number, unknown>)[index];
}

/** Its argument: how a graph holds a literal that would otherwise read as a task. */
export function identity(value: unknown): unknown {
  return value;
}

export const kernels = Object.freeze({
  callWithFunctions: moduleFunction(import.meta.url, 'callWithFunctions'),
  getItem: moduleFunction(import.meta.url, 'getItem'),
  identity: moduleFunction(import.meta.url, 'identity'),
});

/**
 * Kernels the local schedulers run in their own thread instead of shipping: they select or pass on a
 * value, so sending their input to a pool thread would cost far more than running them (data moves
 * between threads by copy). A distributed worker runs them like any task, where the data already is.
 */
export function isMainThreadKernel(fn: unknown): fn is ModuleRef {
  return isModuleRef(fn) && fn.module === kernels.getItem.module && (fn.export === 'getItem' || fn.export === 'identity');
}

function valueAt(root: unknown, at: ValuePath): unknown {
  let value = root;
  for (const step of at) value = (value as Record<string | number, unknown>)[step];
  return value;
}

function setValueAt(root: unknown, at: ValuePath, replacement: unknown): void {
  const parent = valueAt(root, at.slice(0, -1)) as Record<string | number, unknown>;
  parent[at[at.length - 1]!] = replacement;
}
