// The local schedulers' loop (Dask's dask.local.get_async): run every task whose dependencies are
// done, up to the runner's concurrency, lowest priority number first; keep each result only while a
// task still needs it (or it was requested); stop at the first failure. The runner decides where a
// task runs: this thread ('sync'), a pool of threads or of child processes.
import { AbortError } from '../../util/errors.js';
import { TaskFailedError } from '../errors.js';
import { isTask, resolveRefs, type Graph } from '../graph.js';
import type { TaskError } from '../protocol.js';
import { Heap } from '../state/heap.js';
import type { Plan } from './plan.js';

export type RunOutcome = { ok: true; value: unknown } | { ok: false; error: TaskError; cause?: unknown };

/** Where tasks run. */
export interface TaskRunner {
  /** How many tasks may run at once. */
  readonly concurrency: number;
  /** Runs `fn` (a function or a moduleFunction reference) on `args` (refs resolved); never rejects. */
  run(key: string, fn: unknown, args: unknown[]): Promise<RunOutcome>;
}

/** What a local computation reports as it goes (Dask's local callbacks): for diagnostics, progress bars, tests. */
export interface LocalCallbacks {
  /** A task was handed to its runner (literals are not tasks). */
  onTaskStart?(key: string): void;
  /** A task finished (ok false: it failed). */
  onTaskEnd?(key: string, ok: boolean): void;
  /** A result was dropped: no remaining task needs it and it was not requested. */
  onRelease?(key: string): void;
}

export interface RunOptions {
  signal?: AbortSignal;
  callbacks?: LocalCallbacks;
  /** Tasks this runner handles in this thread, whatever the main runner is (cheap selections). */
  inline?: { accepts(fn: unknown): boolean; runner: TaskRunner };
}

/** Every requested key's result, in the order of `keys`. Rejects with the first failure (TaskFailedError). */
export function runPlan(graph: Graph, plan: Plan, keys: readonly string[], runner: TaskRunner, opts: RunOptions = {}): Promise<unknown[]> {
  const { signal, callbacks = {} } = opts;
  if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
  const results = new Map<string, unknown>();
  const waitingOn = new Map<string, number>();
  const neededBy = new Map<string, number>();
  const ready = new Heap<string>((a, b) => plan.priority.get(a)! < plan.priority.get(b)!);
  for (const key of plan.order) {
    const deps = plan.dependencies.get(key)!.length;
    waitingOn.set(key, deps);
    neededBy.set(key, plan.dependents.get(key)!.length);
    if (deps === 0) ready.push(key);
  }
  let running = 0;
  let finished = 0;
  let settled = false;

  return new Promise<unknown[]>((resolve, reject) => {
    // Pool threads and processes are unref'd while idle; this keeps the process up while the graph
    // is in progress, also between tasks and while only this thread has work.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const onAbort = (): void => settle(new AbortError(undefined, { cause: signal!.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });

    function settle(error?: unknown): void {
      if (settled) return;
      settled = true;
      clearInterval(keepAlive);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) {
        reject(error);
      } else {
        resolve(keys.map((key) => results.get(key)));
      }
      results.clear();
    }

    function complete(key: string, value: unknown): void {
      results.set(key, value);
      finished++;
      for (const dep of plan.dependencies.get(key)!) {
        const left = neededBy.get(dep)! - 1;
        neededBy.set(dep, left);
        // Freed as soon as no remaining task needs it (the graph's own literals stay with the graph).
        if (left === 0 && !plan.requested.has(dep)) {
          results.delete(dep);
          callbacks.onRelease?.(dep);
        }
      }
      for (const dependent of plan.dependents.get(key)!) {
        const left = waitingOn.get(dependent)! - 1;
        waitingOn.set(dependent, left);
        if (left === 0) ready.push(dependent);
      }
    }

    const lookup = (key: string): unknown => results.get(key);

    function pump(): void {
      while (!settled && ready.size > 0) {
        const key = ready.peek()!;
        const spec = graph[key];
        if (!isTask(spec)) {
          // A literal (refs in it resolved here): nothing to run.
          ready.pop();
          complete(key, resolveRefs(spec, lookup));
          continue;
        }
        const fn = spec[0];
        const where = opts.inline?.accepts(fn) ? opts.inline.runner : runner;
        if (where === runner && running >= runner.concurrency) break;
        ready.pop();
        const args = resolveRefs(spec.slice(1), lookup) as unknown[];
        if (where === runner) running++;
        callbacks.onTaskStart?.(key);
        where.run(key, fn, args).then((outcome) => {
          if (where === runner) running--;
          if (settled) return;
          callbacks.onTaskEnd?.(key, outcome.ok);
          if (outcome.ok) {
            complete(key, outcome.value);
            pump();
          } else {
            const error = new TaskFailedError(key, outcome.error);
            if (outcome.cause !== undefined) Object.defineProperty(error, 'cause', { value: outcome.cause, configurable: true, writable: true });
            settle(error);
          }
        }, settle);
      }
      if (!settled && finished === plan.order.length) settle();
    }

    pump();
  });
}
