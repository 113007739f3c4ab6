// Where the local schedulers run tasks: this thread ('sync', and the cheap selections of every
// scheduler), or a pool of threads or child processes shared by the computations of this process.
import os from 'node:os';
import { isModuleRef, toCode, type Code } from '../code.js';
import { taskErrorOf } from '../errors.js';
import { ThreadPool } from '../executor.js';
import type { TaskOutcome } from '../executor.js';
import type { RunOutcome, TaskRunner } from './engine.js';
import { callable } from './kernels.js';
import { ProcessPool } from './process-pool.js';

/** Runs tasks in this thread, one at a time: functions are called as they are, so stacks and breakpoints point at them. */
export const thisThread: TaskRunner = {
  concurrency: 1,
  async run(_key: string, fn: unknown, args: unknown[]): Promise<RunOutcome> {
    try {
      const f = await callable(fn);
      return { ok: true, value: await f(...args) };
    } catch (error) {
      return { ok: false, error: taskErrorOf(error), cause: error };
    }
  },
};

/** What runs code in other threads or processes: ThreadPool and ProcessPool. */
export interface CodePool {
  readonly size: number;
  run(code: Code, args: unknown[]): Promise<TaskOutcome>;
  close(): Promise<void>;
}

/** A runner over a pool: each task's function as code (toCode, cached per function), its arguments cloned. */
export function poolRunner(pool: CodePool): TaskRunner {
  return {
    concurrency: pool.size,
    async run(_key: string, fn: unknown, args: unknown[]): Promise<RunOutcome> {
      const outcome = await pool.run(codeOf(fn), args);
      return outcome.ok ? { ok: true, value: outcome.value } : { ok: false, error: outcome.error };
    },
  };
}

const functionCode = new WeakMap<object, Code>();
const moduleCode = new Map<string, Code>();

/** toCode(fn), computed once per function (hashing a source costs more than sending a small task). */
function codeOf(fn: unknown): Code {
  if (typeof fn === 'function') {
    let code = functionCode.get(fn);
    if (code === undefined) functionCode.set(fn, (code = toCode(fn)));
    return code;
  }
  if (isModuleRef(fn)) {
    const id = `${fn.module}#${fn.export}`;
    let code = moduleCode.get(id);
    if (code === undefined) moduleCode.set(id, (code = toCode(fn)));
    return code;
  }
  return toCode(fn);
}

export type PoolKind = 'threads' | 'processes';

const pools = new Map<string, CodePool>();

/** The number of workers a pool gets unless told: one per CPU, as Dask's. */
export function defaultPoolSize(): number {
  return os.availableParallelism();
}

/**
 * The pool of `kind` and `size` this process shares between computations, started on first use.
 * Pools are kept (starting a thread costs ~30 ms, a process more) and never keep the process alive
 * while idle; closeLocalPools() ends them.
 */
export function sharedPool(kind: PoolKind, size: number): CodePool {
  const id = `${kind}:${size}`;
  let pool = pools.get(id);
  if (pool === undefined) {
    pool = kind === 'threads' ? new ThreadPool(size) : new ProcessPool(size);
    pools.set(id, pool);
  }
  return pool;
}

/** Ends every shared pool (their threads and child processes); the next computation starts new ones. */
export async function closeLocalPools(): Promise<void> {
  const closing = [...pools.values()];
  pools.clear();
  await Promise.all(closing.map((pool) => pool.close()));
}
