// Client: submits work to a cluster and hands back Futures (Dask's Client). Tasks
// submitted in one turn of the event loop go to the scheduler as one graph update;
// results stay on the workers and are fetched from them when asked for (small ones
// come along with the scheduler's notice). Keys are content hashes of the function
// and its arguments (pure, as Dask), so the same call twice is one task.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { connectRpc, Router, RpcPool, type RpcPeer } from '../rpc/index.js';
import { encodeFrames } from '../util/object-codec.js';
import { invalidArgType, invalidArgValue } from '../util/validate.js';
import { toCode, codeName, moduleFunction, type Code } from './code.js';
import { getDefaultClient as getDefaultComputer, setDefaultClient as setDefaultComputer } from './local/default-client.js';
import { ref, isRef, isTask, refsOf, graphDependencies, topologicalKeys, KEY_REF, type Graph } from './graph.js';
import { Future, type FutureOwner, type FutureStatus } from './future.js';
import { SchedulerError, TaskFailedError } from './errors.js';
import type { SchedulerInfo, TaskError, TaskSpec } from './protocol.js';

/** Options of one task (the last argument of submit/map, made by taskOptions()). */
export interface TaskOptions {
  /** The task's key (default: a content hash, or a random one when pure is false). */
  key?: string;
  /** Same function and arguments, same key (default true, as Dask); false: a fresh task each call. */
  pure?: boolean;
  /** Higher runs first among tasks ready at once (default 0), as Dask's priority. */
  priority?: number;
  /** How many times to run it again after it fails (default 0), for flaky tasks. */
  retries?: number;
  /** Only these workers (addresses or names). */
  workers?: string[];
  /** Abstract resources it holds while it runs ({ GPU: 1 }): only workers that declared enough run it. */
  resources?: Record<string, number>;
}

const OPTIONS = Symbol('node-ucx.taskOptions');

/** Marks an object as a task's options, so submit() can tell it from an argument. */
export function taskOptions(opts: TaskOptions): TaskOptions {
  if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
  return Object.assign(Object.create(null) as TaskOptions, opts, { [OPTIONS]: true });
}

function isOptions(value: unknown): value is TaskOptions {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[OPTIONS] === true;
}

/** Where a Client finds its scheduler. */
export type ClientTarget =
  | string
  | {
      /** The scheduler's address (a LocalCluster's, or anything else with one). */
      schedulerAddress: string;
      /** The cluster secret that goes with it. */
      secret: Buffer;
    }
  | {
      /** The scheduler's address (ucx://host:port, tcp://host:port or inproc://name). */
      address: string;
      /** The cluster secret (default: NODE_UCX_CLUSTER_SECRET, base64). */
      secret?: Buffer;
    }
  | {
      /** A scheduler file (written by ucx-scheduler --scheduler-file): its address and secret. */
      schedulerFile: string;
    };

/** How a Client connects (its target says where). */
export interface ClientOptions {
  /** The cluster secret (with a URL target; else NODE_UCX_CLUSTER_SECRET, base64). */
  secret?: Buffer;
  /** How long to try to reach the scheduler (ms). */
  timeoutMs?: number;
  /** Make this the client that collections and Delayed.compute() use by default (default true). */
  setAsDefault?: boolean;
}

interface KeyState {
  status: FutureStatus;
  refs: number;
  error: TaskFailedError | SchedulerError | null;
  /** [value] once a small result came along, or it was fetched. */
  value: [unknown] | null;
  workers: string[];
  waiters: { resolve: () => void }[];
}

const IDENTITY: Code = toCode(moduleFunction(new URL('./builtins.js', import.meta.url).href, 'identity'));

/** The client collections and Delayed.compute() use when none is named (the last one made, as Dask). */
export function getDefaultClient(): Client | null {
  const current = getDefaultComputer();
  return current instanceof Client ? current : null;
}

/** Makes `client` the default of this process (collections, delayed); null clears it. */
export function setDefaultClient(client: Client | null): void {
  setDefaultComputer(client);
}

/** A connection to a cluster's scheduler: submit tasks and graphs, get Futures, gather results (Dask's Client). */
export class Client implements FutureOwner {
  /** This client's id, as the scheduler knows it. */
  readonly id = `client-${randomUUID()}`;
  /** Resolves once connected (every method waits for it). */
  readonly ready: Promise<this>;
  #scheduler: RpcPeer | undefined;
  #workers: RpcPool | undefined;
  readonly #keys = new Map<string, KeyState>();
  #batch: TaskSpec[] = [];
  #batchWanted: string[] = [];
  #flushing = false;
  #releases: string[] = [];
  #closed: SchedulerError | undefined;
  #schedulerAddress = '';

  constructor(target: ClientTarget | { ready: Promise<{ schedulerAddress: string; secret: Buffer }> }, opts: ClientOptions = {}) {
    // A LocalCluster may still be starting: its address comes once it is ready.
    const cluster =
      typeof target === 'object' && target !== null && (target as { ready?: unknown }).ready instanceof Promise
        ? (target as { ready: Promise<{ schedulerAddress: string; secret: Buffer }> }).ready
        : null;
    const resolved = cluster === null ? resolveTarget(target, opts) : null;
    if (resolved !== null) this.#schedulerAddress = resolved.address;
    const router = new Router(() => {});
    router
      .on('key-in-memory', (body) => this.#onFinished(body as { key: string; workers?: string[]; inline?: unknown[] }))
      .on('task-erred', (body) => this.#onErred(body as { key: string; error: TaskError }))
      .on('cancelled', (body) => this.#onCancelled((body as { key: string }).key));
    this.ready = (async () => {
      const { address, secret } = resolved !== null ? resolved : await cluster!.then((c) => ({ address: c.schedulerAddress, secret: c.secret }));
      this.#schedulerAddress = address;
      const self = { name: this.id, role: 'client' };
      const scheduler = await connectRpc(address, { secret, self, router, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
      this.#scheduler = scheduler;
      this.#workers = new RpcPool({ secret, self, router });
      scheduler.once('close', (error: Error | null) => this.#lost(error));
      return this;
    })();
    // Unable to connect (refused, wrong secret, no scheduler there): every future, pending or to come,
    // rejects with ERR_SCHEDULER_GONE, and every method throws it (else they would wait for ever).
    this.ready.catch((error: unknown) => {
      this.#fail(
        new SchedulerError('ERR_SCHEDULER_GONE', `cannot reach the scheduler at ${this.#schedulerAddress}: ${(error as Error).message}`, { cause: error }),
      );
    });
    if (opts.setAsDefault !== false) setDefaultClient(this);
  }

  /** Whether close() was called, or the scheduler went away or could not be reached (methods then throw). */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** The scheduler's address. */
  get scheduler(): string {
    return this.#schedulerAddress;
  }

  // ---- submitting ----

  /** Runs fn(...args) on the cluster. Futures among the arguments (nested too) are dependencies. A last argument made by taskOptions() is the options. */
  submit<T = unknown>(fn: unknown, ...args: unknown[]): Future<T> {
    this.#requireOpen();
    const opts = args.length > 0 && isOptions(args[args.length - 1]) ? (args.pop() as TaskOptions) : {};
    return this.#task<T>(fn, args, opts);
  }

  /** fn over the elements of the iterables (zipped); one future each. */
  map<T = unknown>(fn: unknown, ...iterables: unknown[]): Future<T>[] {
    this.#requireOpen();
    const opts = iterables.length > 0 && isOptions(iterables[iterables.length - 1]) ? (iterables.pop() as TaskOptions) : {};
    if (iterables.length === 0) throw invalidArgValue('iterables', iterables, 'must name at least one iterable');
    const lists = iterables.map((it, i) => {
      if (it === null || typeof (it as Iterable<unknown>)[Symbol.iterator] !== 'function') throw invalidArgType(`iterables[${i}]`, 'an iterable', it);
      return [...(it as Iterable<unknown>)];
    });
    const length = Math.min(...lists.map((list) => list.length));
    const futures: Future<T>[] = [];
    for (let i = 0; i < length; i++)
      futures.push(
        this.#task<T>(
          fn,
          lists.map((list) => list[i]),
          opts.key !== undefined ? { ...opts, key: `${opts.key}-${i}` } : opts,
        ),
      );
    return futures;
  }

  #task<T>(fn: unknown, args: unknown[], opts: TaskOptions): Future<T> {
    const code = toCode(fn, 'fn');
    const deps = new Set<string>();
    const wireArgs = this.#withRefs(args, deps);
    const payload = encodeFrames([code, wireArgs]);
    const key = opts.key ?? `${codeName(code)}-${opts.pure === false ? randomUUID() : hashFrames(payload)}`;
    if (typeof key !== 'string' || key === '') throw invalidArgType('opts.key', 'a non-empty string', key);
    const future = this.#handle<T>(key);
    if (!this.#submittedKeys.has(key)) {
      this.#submittedKeys.add(key);
      this.#queueTask({ key, deps: [...deps], payload, ...specOptions(opts) });
    }
    this.#queueWanted(key);
    return future;
  }

  /** Keys this client has sent to the scheduler (a pure key submitted again is not sent twice). */
  readonly #submittedKeys = new Set<string>();

  /** `args` with each Future (anywhere in arrays and plain objects) replaced by a ref to its key. */
  #withRefs(value: unknown, deps: Set<string>): unknown {
    if (value instanceof Future) {
      deps.add(value.key);
      return ref(value.key);
    }
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
    if (isRef(value)) {
      deps.add(value[KEY_REF]);
      return value;
    }
    if (Array.isArray(value)) return value.map((v) => this.#withRefs(v, deps));
    if (Object.getPrototypeOf(value) !== Object.prototype) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.#withRefs(v, deps);
    return out;
  }

  /**
   * Runs a graph ({ key: [fn, ...args] | value }) and resolves with the results of `keys` (an array), or
   * with every key's result (an object) when none are named.
   */
  async compute(graph: Graph, keys?: string[]): Promise<unknown> {
    const futures = this.submitGraph(graph, keys);
    try {
      if (keys !== undefined) return await Promise.all(futures.map((f) => f.result()));
      const values = await Promise.all(futures.map((f) => f.result()));
      return Object.fromEntries(futures.map((f, i) => [f.key, values[i]]));
    } finally {
      for (const future of futures) future.release();
    }
  }

  /** The graph's tasks submitted; futures for `keys` (default: all of the graph's keys). */
  submitGraph(graph: Graph, keys?: string[]): Future[] {
    this.#requireOpen();
    const external = new Set<string>();
    for (const value of Object.values(graph)) for (const key of refsOf(value)) if (!Object.hasOwn(graph, key)) external.add(key);
    const deps = graphDependencies(graph, external);
    const wanted = keys ?? Object.keys(graph);
    for (const key of wanted) if (!Object.hasOwn(graph, key)) throw invalidArgValue('keys', key, 'names a key that is not in the graph');
    const futures = wanted.map((key) => this.#handle(key));
    for (const key of topologicalKeys(deps)) {
      // Skipped only while this client holds a future of it: a key that was only a dependency of an
      // earlier graph may have been released since (the scheduler ignores a pure key it still has).
      if (this.#submittedKeys.has(key) && this.#keys.has(key)) continue;
      this.#submittedKeys.add(key);
      const value = graph[key];
      const refs = new Set<string>();
      let payload: Buffer[];
      if (isTask(value)) {
        const code = toCode(value[0], `graph['${key}'][0]`);
        payload = encodeFrames([code, this.#withRefs(value.slice(1), refs)]);
      } else {
        payload = encodeFrames([IDENTITY, [this.#withRefs(value, refs)]]);
      }
      this.#queueTask({ key, deps: [...refs], payload });
    }
    for (const key of wanted) this.#queueWanted(key);
    return futures;
  }

  /**
   * Puts data on workers: an array of futures for an array, an object of them for an object, and [future]
   * for any other value (a Future is awaitable, so no promise can resolve to one: it would resolve to its result).
   */
  async scatter(data: unknown, opts: { broadcast?: boolean; workers?: string[] } = {}): Promise<Future[] | Record<string, Future>> {
    const scheduler = await this.#connected();
    const entries: [string, unknown][] = Array.isArray(data) ? data.map((v, i) => [String(i), v]) : isPlainObject(data) ? Object.entries(data) : [['', data]];
    const targets = opts.workers ?? (await scheduler.call<string[]>('scatter-targets', { broadcast: opts.broadcast === true }));
    if (targets.length === 0) throw new SchedulerError('ERR_SCHEDULER_NO_WORKERS', 'scatter: the cluster has no workers');
    const keyed = entries.map(([name, value]) => [name, `scatter-${randomUUID()}`, value] as const);
    const perWorker = new Map<string, Record<string, unknown>>();
    keyed.forEach(([, key, value], i) => {
      const chosen = opts.broadcast === true ? targets : [targets[i % targets.length]!];
      for (const worker of chosen) {
        const bucket = perWorker.get(worker) ?? {};
        bucket[key] = value;
        perWorker.set(worker, bucket);
      }
    });
    const futures = keyed.map(([, key]) => this.#handle(key));
    await Promise.all(
      [...perWorker].map(async ([worker, bucket]) => {
        const peer = await this.#workers!.get(worker);
        const { keys } = await peer.call<{ keys: [string, number][] }>('put-data', { data: bucket });
        // Known to the scheduler before anything that depends on them can be submitted.
        scheduler.send('scattered', { worker, keys });
      }),
    );
    for (const [, key, value] of keyed) {
      this.#submittedKeys.add(key);
      const state = this.#keys.get(key)!;
      state.status = 'finished';
      state.value = [value];
      state.workers = targets;
      this.#wake(state);
    }
    if (Array.isArray(data)) return futures;
    if (isPlainObject(data)) return Object.fromEntries(keyed.map(([name], i) => [name, futures[i]!]));
    return futures;
  }

  /** The results of futures, in the same structure (arrays and plain objects of futures are walked). */
  async gather(futures: unknown): Promise<unknown> {
    if (futures instanceof Future) return futures.result();
    if (Array.isArray(futures)) return Promise.all(futures.map((f) => this.gather(f)));
    if (isPlainObject(futures)) {
      const entries = await Promise.all(Object.entries(futures).map(async ([k, v]) => [k, await this.gather(v)] as const));
      return Object.fromEntries(entries);
    }
    return futures;
  }

  /**
   * Futures as they finish (with or without an error), in completion order. (A plain async iterator,
   * not an async generator: a generator would await each Future it yields and hand out its result.)
   */
  asCompleted(futures: Iterable<Future>): AsyncIterableIterator<Future> {
    const remaining = new Set(futures);
    const queue: Future[] = [];
    let wake: (() => void) | null = null;
    for (const future of remaining) {
      void this.settledOf(future.key).then(() => {
        queue.push(future);
        wake?.();
      });
    }
    const iterator: AsyncIterableIterator<Future> = {
      next: async () => {
        if (remaining.size === 0) return { value: undefined, done: true };
        while (queue.length === 0)
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        wake = null;
        const future = queue.shift()!;
        remaining.delete(future);
        return { value: future, done: false };
      },
      return: async () => {
        remaining.clear();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Waits until all (or the first, or the first failure of the) futures settle, or the timeout passes. */
  async wait(
    futures: Future[],
    opts: { returnWhen?: 'ALL_COMPLETED' | 'FIRST_COMPLETED' | 'FIRST_EXCEPTION'; timeoutMs?: number } = {},
  ): Promise<{
    /** The futures that settled. */
    done: Set<Future>;
    /** The rest: still pending when it returned (the timeout, or the first completion or failure). */
    notDone: Set<Future>;
  }> {
    const when = opts.returnWhen ?? 'ALL_COMPLETED';
    if (!['ALL_COMPLETED', 'FIRST_COMPLETED', 'FIRST_EXCEPTION'].includes(when))
      throw invalidArgValue('opts.returnWhen', when, "must be 'ALL_COMPLETED', 'FIRST_COMPLETED' or 'FIRST_EXCEPTION'");
    const done = new Set<Future>();
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (opts.timeoutMs !== undefined) timer = setTimeout(finish, opts.timeoutMs);
      if (futures.length === 0) finish();
      for (const future of futures) {
        void this.settledOf(future.key).then(() => {
          done.add(future);
          if (when === 'FIRST_COMPLETED' || done.size === futures.length || (when === 'FIRST_EXCEPTION' && future.status !== 'finished')) finish();
        });
      }
    });
    return { done, notDone: new Set(futures.filter((f) => !done.has(f))) };
  }

  /** Cancels futures (and what depends on them). */
  async cancel(futures: Future[] | string[]): Promise<void> {
    const keys = futures.map((f) => (f instanceof Future ? f.key : f));
    const scheduler = await this.#connected();
    scheduler.send('cancel-keys', { keys });
    for (const key of keys) this.#onCancelled(key);
  }

  /** fn(...args) on every worker (in the worker's own thread); resolves with each worker's result by address. */
  async run<T = unknown>(fn: unknown, ...args: unknown[]): Promise<Record<string, T>> {
    const scheduler = await this.#connected();
    const results = await scheduler.call<Record<string, { ok: boolean; value?: T; error?: TaskError }>>('run', { payload: encodeFrames([toCode(fn), args]) });
    const out: Record<string, T> = {};
    for (const [worker, result] of Object.entries(results)) {
      if (!result.ok) throw new TaskFailedError(`run on ${worker}`, result.error ?? { name: 'Error', message: 'failed' });
      out[worker] = result.value as T;
    }
    return out;
  }

  /** The scheduler's view: workers (threads, memory, tasks) and task counts by state. */
  async schedulerInfo(): Promise<SchedulerInfo> {
    return (await this.#connected()).call<SchedulerInfo>('info', {});
  }

  /** Retires workers gracefully: their unique results move to others first. Resolves with the addresses retired. */
  async retireWorkers(workers: string[]): Promise<string[]> {
    return (await this.#connected()).call<string[]>('retire-workers', { workers });
  }

  /** Closes the connections; pending futures reject with ERR_SCHEDULER_CLOSED, and the cluster forgets this client's keys. */
  async close(): Promise<void> {
    if (this.#closed !== undefined) return;
    this.#fail(new SchedulerError('ERR_SCHEDULER_CLOSED', 'the client was closed'));
    if (getDefaultComputer() === this) setDefaultComputer(null);
    await this.ready.catch(() => {});
    await this.#workers?.close();
    await this.#scheduler?.close().catch(() => {});
  }

  /** `await using client = new Client(...)`: closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- FutureOwner ----

  statusOf(key: string): FutureStatus {
    return this.#keys.get(key)?.status ?? 'cancelled';
  }

  /** The key's error once it erred or was cancelled; null while pending or once finished. */
  errorOf(key: string): TaskFailedError | SchedulerError | null {
    return this.#keys.get(key)?.error ?? null;
  }

  async settledOf(key: string): Promise<void> {
    const state = this.#keys.get(key);
    if (state === undefined || state.status !== 'pending') return;
    await new Promise<void>((resolve) => state.waiters.push({ resolve }));
  }

  async resultOf(key: string, timeoutMs?: number): Promise<unknown> {
    const settled = this.settledOf(key);
    if (timeoutMs !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        settled,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(Object.assign(new Error(`the result of '${key}' did not come within ${timeoutMs} ms`), { code: 'ERR_SCHEDULER_TIMEOUT' })),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    } else {
      await settled;
    }
    const state = this.#keys.get(key);
    if (state === undefined) throw Object.assign(new Error(`the future of '${key}' was released`), { code: 'ERR_SCHEDULER_RELEASED' });
    if (state.status !== 'finished') throw state.error ?? new SchedulerError('ERR_SCHEDULER_CANCELLED', `${key} was cancelled`);
    if (state.value !== null) return state.value[0];
    return this.#fetch(key, state);
  }

  unref(key: string): void {
    const state = this.#keys.get(key);
    if (state === undefined || --state.refs > 0) return;
    this.#keys.delete(key);
    this.#submittedKeys.delete(key);
    // Anything still waiting on it ends (result() then rejects with ERR_SCHEDULER_RELEASED), never hangs.
    this.#wake(state);
    if (this.#closed !== undefined) return;
    this.#releases.push(key);
    this.#scheduleFlush();
  }

  // ---- internals ----

  #handle<T>(key: string): Future<T> {
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = { status: 'pending', refs: 0, error: null, value: null, workers: [], waiters: [] };
      this.#keys.set(key, state);
    }
    state.refs++;
    return new Future<T>(key, this);
  }

  #queueTask(spec: TaskSpec): void {
    this.#batch.push(spec);
    this.#scheduleFlush();
  }

  #queueWanted(key: string): void {
    this.#batchWanted.push(key);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      this.#flushing = false;
      void this.#flush();
    });
  }

  /** What this turn submitted and released goes to the scheduler as one message each. */
  async #flush(): Promise<void> {
    const tasks = this.#batch;
    const wanted = this.#batchWanted;
    const releases = this.#releases;
    this.#batch = [];
    this.#batchWanted = [];
    this.#releases = [];
    let scheduler: RpcPeer;
    try {
      scheduler = await this.#connected();
    } catch {
      return; // the futures have rejected with the reason
    }
    if (tasks.length > 0 || wanted.length > 0) scheduler.send('update-graph', { tasks, wanted: wanted.filter((key) => this.#keys.has(key)) });
    if (releases.length > 0) scheduler.send('release-keys', { keys: releases.filter((key) => !this.#keys.has(key)) });
  }

  async #connected(): Promise<RpcPeer> {
    if (this.#closed !== undefined) throw this.#closed;
    await this.ready.catch((error: unknown) => {
      throw new SchedulerError('ERR_SCHEDULER_GONE', `cannot reach the scheduler at ${this.#schedulerAddress}: ${(error as Error).message}`, { cause: error });
    });
    if (this.#closed !== undefined) throw this.#closed;
    return this.#scheduler!;
  }

  #requireOpen(): void {
    if (this.#closed !== undefined) throw this.#closed;
  }

  /** Fetches a finished key's result from a worker that holds it (asking the scheduler again if those are gone). */
  async #fetch(key: string, state: KeyState): Promise<unknown> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let holders = state.workers;
      if (holders.length === 0 || attempt > 0) {
        const scheduler = await this.#connected();
        holders = (await scheduler.call<Record<string, string[]>>('who-has', { keys: [key] }))[key] ?? [];
      }
      for (const worker of holders) {
        try {
          const peer = await this.#workers!.get(worker);
          const { data } = await peer.call<{ data: Record<string, unknown> }>('get-data', { keys: [key] });
          if (Object.hasOwn(data, key)) return data[key];
        } catch {
          // That holder is gone: the next, or ask again.
        }
      }
      // Lost with its worker and being recomputed: wait for it to finish again.
      if (holders.length === 0) {
        state.status = 'pending';
        await this.settledOf(key);
        if ((state.status as FutureStatus) !== 'finished') throw state.error ?? new SchedulerError('ERR_SCHEDULER_CANCELLED', `${key} was cancelled`);
        if (state.value !== null) return state.value[0];
      }
    }
    throw new SchedulerError('ERR_SCHEDULER_LOST', `the result of '${key}' could not be fetched from any worker`);
  }

  #onFinished(body: { key: string; workers?: string[]; inline?: unknown[] }): void {
    const state = this.#keys.get(body.key);
    if (state === undefined) return;
    state.status = 'finished';
    state.error = null;
    state.workers = Array.isArray(body.workers) ? body.workers : [];
    if (Array.isArray(body.inline) && body.inline.length === 1) state.value = [body.inline[0]];
    this.#wake(state);
  }

  #onErred(body: { key: string; error: TaskError }): void {
    const state = this.#keys.get(body.key);
    if (state === undefined) return;
    state.status = 'error';
    const error = body.error;
    state.error =
      error.code !== undefined &&
      error.code.startsWith('ERR_SCHEDULER_') &&
      error.code !== 'ERR_SCHEDULER_IMPORT' &&
      error.code !== 'ERR_SCHEDULER_COMPILE' &&
      error.code !== 'ERR_SCHEDULER_UNSERIALIZABLE' &&
      error.name !== 'KilledWorker'
        ? new SchedulerError(error.code as SchedulerError['code'], `${body.key}: ${error.message}`)
        : new TaskFailedError(body.key, error);
    this.#wake(state);
  }

  /** Cancelled, whatever it was: a finished one too (its result is being let go of; fetching it would wait for ever). */
  #onCancelled(key: string): void {
    const state = this.#keys.get(key);
    if (state === undefined || state.status === 'cancelled') return;
    state.status = 'cancelled';
    state.value = null;
    state.error = new SchedulerError('ERR_SCHEDULER_CANCELLED', `${key} was cancelled`);
    this.#wake(state);
  }

  #wake(state: KeyState): void {
    for (const waiter of state.waiters.splice(0)) waiter.resolve();
  }

  #lost(error: Error | null): void {
    if (this.#closed !== undefined) return;
    this.#fail(
      new SchedulerError('ERR_SCHEDULER_GONE', `the scheduler at ${this.#schedulerAddress} went away${error ? `: ${error.message}` : ''}`, { cause: error }),
    );
  }

  /** Every pending future rejects with `error`; later calls throw it. */
  #fail(error: SchedulerError): void {
    this.#closed = error;
    for (const state of this.#keys.values()) {
      if (state.status !== 'pending') continue;
      state.status = 'error';
      state.error = error;
      this.#wake(state);
    }
  }
}

function specOptions(opts: TaskOptions): Partial<TaskSpec> {
  const out: Partial<TaskSpec> = {};
  if (opts.priority !== undefined) out.priority = opts.priority;
  if (opts.retries !== undefined) out.retries = opts.retries;
  if (opts.workers !== undefined) out.workers = opts.workers;
  if (opts.resources !== undefined) out.resources = opts.resources;
  return out;
}

function hashFrames(frames: Buffer[]): string {
  const hash = createHash('sha256');
  for (const frame of frames) hash.update(frame);
  return hash.digest('hex').slice(0, 32);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function resolveTarget(target: unknown, opts: ClientOptions): { address: string; secret: Buffer } {
  if (typeof target === 'string') return { address: target, secret: secretFrom(opts.secret) };
  if (typeof target !== 'object' || target === null) throw invalidArgType('target', 'a LocalCluster, a scheduler URL or { schedulerFile }', target);
  const t = target as Record<string, unknown>;
  if (typeof t.schedulerFile === 'string') {
    let file: { address?: unknown; secret?: unknown };
    try {
      file = JSON.parse(fs.readFileSync(t.schedulerFile, 'utf8')) as typeof file;
    } catch (error) {
      throw Object.assign(new Error(`cannot read the scheduler file ${t.schedulerFile}: ${(error as Error).message}`), { code: 'ERR_SCHEDULER_FILE' });
    }
    if (typeof file.address !== 'string' || typeof file.secret !== 'string') {
      throw Object.assign(new Error(`${t.schedulerFile} is not a scheduler file (no address and secret)`), { code: 'ERR_SCHEDULER_FILE' });
    }
    return { address: file.address, secret: Buffer.from(file.secret, 'base64') };
  }
  const address = typeof t.schedulerAddress === 'string' ? t.schedulerAddress : t.address;
  if (typeof address !== 'string') throw invalidArgType('target', 'a LocalCluster, a scheduler URL or { schedulerFile }', target);
  return { address, secret: secretFrom(Buffer.isBuffer(t.secret) ? t.secret : opts.secret) };
}

function secretFrom(secret: Buffer | undefined): Buffer {
  if (secret !== undefined) return secret;
  const fromEnv = process.env.NODE_UCX_CLUSTER_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') return Buffer.from(fromEnv, 'base64');
  throw Object.assign(new TypeError('no cluster secret: pass { secret }, a LocalCluster, a scheduler file, or set NODE_UCX_CLUSTER_SECRET'), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
}
