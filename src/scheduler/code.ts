// Code that travels to workers. Two kinds (docs/scheduler.md, "Code"):
//   - a module reference, { module, export }: the worker imports the module and takes the export;
//     the primary way, for real code (`moduleFunction(import.meta.url, 'name')`);
//   - a self-contained function: its source, compiled once per worker (cached by hash). It sees
//     only its arguments and globals: a free variable fails the task with the ReferenceError,
//     never the worker.
// Both run code on the workers by design, for whoever holds the cluster secret.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { invalidArgType, invalidArgValue } from '../util/validate.js';

/** A function named by module and export (moduleFunction()): how real code reaches workers, which import it. */
export interface ModuleRef {
  /** The module's URL or bare specifier, as the workers import it. */
  module: string;
  /** The export's name ('default' for the default export). */
  export: string;
}
export interface SourceCode {
  source: string;
  hash: string;
  name: string;
}
/** What a task names to run: a module's export, or a function's source. */
export type Code = { kind: 'module'; module: string; export: string } | { kind: 'source'; source: string; hash: string; name: string };

/**
 * A reference to `name`, exported by the module at `moduleUrl` (usually `import.meta.url`): workers
 * import that module. A path is turned into a file URL; a bare specifier ('node-ucx/...') is imported as is.
 */
export function moduleFunction(moduleUrl: string, name = 'default'): ModuleRef {
  if (typeof moduleUrl !== 'string' || moduleUrl === '') throw invalidArgType('moduleUrl', 'a module URL, path or specifier', moduleUrl);
  if (typeof name !== 'string' || name === '') throw invalidArgType('name', 'an export name', name);
  const module = path.isAbsolute(moduleUrl) ? pathToFileURL(moduleUrl).href : moduleUrl;
  return Object.freeze({ module, export: name });
}

export function isModuleRef(value: unknown): value is ModuleRef {
  return typeof value === 'object' && value !== null && typeof (value as ModuleRef).module === 'string' && typeof (value as ModuleRef).export === 'string';
}

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

/** The wire form of a task's function. Throws ERR_INVALID_ARG_VALUE for what cannot travel (native or bound functions). */
export function toCode(fn: unknown, name = 'fn'): Code {
  if (isModuleRef(fn)) return { kind: 'module', module: fn.module, export: fn.export };
  if (typeof fn !== 'function') throw invalidArgType(name, 'a function or a moduleFunction() reference', fn);
  const source = Function.prototype.toString.call(fn);
  if (NATIVE.test(source)) {
    throw invalidArgValue(
      name,
      fn,
      'is a native or bound function, which has no source to send: wrap it ' + '((x) => Math.sqrt(x)) or export it from a module (moduleFunction)',
    );
  }
  // Methods (`{ f(x) { ... } }.f`) print without the `function` keyword: make them an expression.
  const expression = /^(async\s+)?(function\b|\(|[\w$]+\s*=>|class\b)/.test(source) ? source : `function ${source.replace(/^async\s+/, '')}`;
  const asyncPrefix = /^async\s+/.test(source) && !/^async\s+(function\b|\(|[\w$]+\s*=>)/.test(source) ? 'async ' : '';
  const code = asyncPrefix + expression;
  return { kind: 'source', source: code, hash: createHash('sha256').update(code).digest('hex').slice(0, 32), name: fn.name || 'anonymous' };
}

/** A short name of a task's function, for keys: 'inc' for function inc, 'process' for a module's export. */
export function codeName(code: Code): string {
  const raw = code.kind === 'module' ? code.export : code.name;
  return raw.replace(/[^\w$]/g, '_').slice(0, 40) || 'task';
}

const compiled = new Map<string, Promise<(...args: unknown[]) => unknown>>();

/** The function `code` names, imported or compiled once per thread. */
export function loadCode(code: Code): Promise<(...args: unknown[]) => unknown> {
  const cacheKey = code.kind === 'module' ? `m:${code.module}#${code.export}` : `s:${code.hash}`;
  let loading = compiled.get(cacheKey);
  if (loading === undefined) {
    loading = code.kind === 'module' ? importExport(code.module, code.export) : Promise.resolve(compile(code.source, code.name));
    compiled.set(cacheKey, loading);
    // A failed import may succeed later (a module installed meanwhile): do not cache failures.
    loading.catch(() => compiled.delete(cacheKey));
  }
  return loading;
}

async function importExport(module: string, name: string): Promise<(...args: unknown[]) => unknown> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(module)) as Record<string, unknown>;
  } catch (error) {
    throw Object.assign(new Error(`cannot import '${module}' on this worker: ${(error as Error).message}`, { cause: error }), { code: 'ERR_SCHEDULER_IMPORT' });
  }
  const fn = namespace[name];
  if (typeof fn !== 'function') {
    throw Object.assign(new TypeError(`'${module}' has no exported function '${name}' (exports: ${Object.keys(namespace).join(', ') || 'none'})`), {
      code: 'ERR_SCHEDULER_IMPORT',
    });
  }
  return fn as (...args: unknown[]) => unknown;
}

function compile(source: string, name: string): (...args: unknown[]) => unknown {
  let fn: unknown;
  try {
    // Evaluated in this thread's global scope only: no closure of the submitter's comes along.
    fn = new Function(`"use strict"; return (${source}\n);`)();
  } catch (error) {
    throw Object.assign(new SyntaxError(`the source of '${name}' does not compile on the worker: ${(error as Error).message}`), {
      code: 'ERR_SCHEDULER_COMPILE',
    });
  }
  if (typeof fn !== 'function') throw Object.assign(new TypeError(`the source of '${name}' is not a function`), { code: 'ERR_SCHEDULER_COMPILE' });
  return fn as (...args: unknown[]) => unknown;
}
