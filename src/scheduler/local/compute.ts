// computeGraph(graph, keys, { scheduler }): one entry for Dask's four kinds of scheduler.
//   'sync'       this thread, one task at a time, functions called as they are (debugging, profiling)
//   'threads'    a shared pool of worker threads (default without a Client)
//   'processes'  a shared pool of child processes (fault isolation: a task may exit or crash)
//   a Client     the distributed scheduler (the default while one is set, see default-client.ts)
import { validateAbortSignal, validateInteger, validateOptionalObject, invalidArgValue } from '../../util/validate.js';
import type { Graph } from '../graph.js';
import { getDefaultClient, isGraphComputer, type GraphComputer } from './default-client.js';
import { runPlan, type LocalCallbacks, type RunOptions, type TaskRunner } from './engine.js';
import { isMainThreadKernel } from './kernels.js';
import { planGraph } from './plan.js';
import { defaultPoolSize, poolRunner, sharedPool, thisThread } from './runners.js';
import { prepareForTravel } from './travel.js';

/** The schedulers of this process: 'sync' (one task at a time, for debugging), 'threads' (a pool of worker threads), 'processes' (a pool of child processes). */
export type LocalScheduler = 'sync' | 'threads' | 'processes';
/** A local scheduler's name, 'distributed' (the default Client, which must be set), or a Client itself. */
export type Scheduler = LocalScheduler | 'distributed' | GraphComputer;

/** Where computeGraph() runs a graph and how: the scheduler, pool size, cancellation, progress callbacks. */
export interface ComputeGraphOptions {
  /** Where the graph runs. Default: the default Client when one is set, else `defaultScheduler`. */
  scheduler?: Scheduler;
  /** What runs when no scheduler is named and no Client is set (collections pass their own). Default 'threads'. */
  defaultScheduler?: LocalScheduler;
  /** Threads or processes of the pool ('threads', 'processes'). Default: one per CPU. */
  numWorkers?: number;
  /** Aborting rejects with an AbortError and runs no further task (running ones finish, their results dropped). */
  signal?: AbortSignal;
  /** Reports of a local computation's progress (not called by a Client). */
  callbacks?: LocalCallbacks;
}

const LOCAL: readonly string[] = ['sync', 'threads', 'processes'];

/** The scheduler `opts` choose: a local one's name, or a GraphComputer (Client). */
export function resolveScheduler(opts: ComputeGraphOptions = {}): LocalScheduler | GraphComputer {
  const { scheduler, defaultScheduler = 'threads' } = opts;
  if (!LOCAL.includes(defaultScheduler)) throw invalidArgValue('options.defaultScheduler', defaultScheduler, "must be 'sync', 'threads' or 'processes'");
  if (scheduler === undefined) return getDefaultClient() ?? defaultScheduler;
  if (scheduler === 'distributed') {
    const client = getDefaultClient();
    if (client === null)
      throw invalidArgValue('options.scheduler', scheduler, 'names the default Client, and none is set (create a Client, or setDefaultClient())');
    return client;
  }
  if (typeof scheduler === 'string' && LOCAL.includes(scheduler)) return scheduler as LocalScheduler;
  if (isGraphComputer(scheduler)) return scheduler;
  throw invalidArgValue('options.scheduler', scheduler, "must be 'sync', 'threads', 'processes', 'distributed' or a Client");
}

/**
 * Computes `keys` of `graph` (the graph spec of graph.ts) and resolves with their results, in order.
 * Only what the keys need runs. Rejects before anything runs for a bad graph (ERR_SCHEDULER_MISSING_KEY,
 * ERR_SCHEDULER_CYCLE, ERR_INVALID_ARG_VALUE for a function that cannot travel), and with a
 * TaskFailedError naming the key for a task that throws.
 */
export async function computeGraph(graph: Graph, keys: readonly string[], opts: ComputeGraphOptions = {}): Promise<unknown[]> {
  validateOptionalObject(opts, 'options');
  validateAbortSignal(opts.signal, 'options.signal');
  if (opts.numWorkers !== undefined) validateInteger(opts.numWorkers, 'options.numWorkers', 1, 1024);
  const scheduler = resolveScheduler(opts);
  if (typeof scheduler !== 'string') return computeOn(scheduler, graph, keys);
  const plan = planGraph(graph, keys);
  const runOptions: RunOptions = {};
  if (opts.signal !== undefined) runOptions.signal = opts.signal;
  if (opts.callbacks !== undefined) runOptions.callbacks = opts.callbacks;
  if (scheduler === 'sync') return runPlan(graph, plan, keys, thisThread, runOptions);
  // Checked and packed for travel before anything runs: a function that cannot be shipped fails here.
  const travelling = prepareForTravel(graph, plan.order);
  const runner: TaskRunner = poolRunner(sharedPool(scheduler, opts.numWorkers ?? defaultPoolSize()));
  return runPlan(travelling, plan, keys, runner, { ...runOptions, inline: { accepts: isMainThreadKernel, runner: thisThread } });
}

/** The distributed path: the same graph, prepared for travel, handed to the Client. */
export async function computeOn(computer: GraphComputer, graph: Graph, keys: readonly string[]): Promise<unknown[]> {
  const results = await computer.compute(prepareForTravel(graph), [...keys]);
  if (!Array.isArray(results) || results.length !== keys.length) {
    throw invalidArgValue(
      'options.scheduler',
      computer,
      `resolved compute(graph, keys) with ${Array.isArray(results) ? `${results.length} results for ${keys.length} keys` : 'no array'}`,
    );
  }
  return results;
}

/**
 * Computes `keys` and returns, per key, what stands for its result in later graphs: the result itself
 * with a local scheduler (held here), or the Client's handle (a Future: the result stays on its worker).
 */
export async function persistGraph(graph: Graph, keys: readonly string[], opts: ComputeGraphOptions = {}): Promise<unknown[]> {
  const scheduler = resolveScheduler(opts);
  if (typeof scheduler !== 'string' && scheduler.submitGraph !== undefined) return scheduler.submitGraph(prepareForTravel(graph), [...keys]);
  return computeGraph(graph, keys, opts);
}
