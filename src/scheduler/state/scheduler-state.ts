// SchedulerState: the scheduler's bookkeeping as a pure state machine, after
// Dask's scheduler.py: events in (a client's graph, a worker's result, a death),
// instructions out (messages to workers and clients). No I/O, no clock of its
// own (time comes with the events), so every transition is a plain function call
// that unit tests drive directly (test/unit/scheduler-state.test.ts).
//
// Task states:   released -> waiting -> (queued | no-worker) -> processing -> memory
//                                                               \-> erred
//                released tasks whose dependents and clients are all gone are forgotten.
// A task in memory keeps the workers that hold it (whoHas); results never pass
// through here. A result whose last holder dies is recomputed from its lineage
// (released tasks keep their payload while anything may still need them).
import { Heap } from './heap.js';
import type { ComputeTask, TaskError, TaskSpec, WorkerMetrics, WorkerSpec } from '../protocol.js';

export type TaskStatus = 'released' | 'waiting' | 'queued' | 'no-worker' | 'processing' | 'memory' | 'erred' | 'forgotten';

/** The scheduler's tuning (SchedulerOptions.config, any subset): queuing, placement, failures, stealing. */
export interface SchedulerConfig {
  /** Root tasks are queued here unless a worker has fewer than saturation x nthreads processing. */
  workerSaturation: number;
  /**
   * ... plus as many more as fit in this much expected work (ms) per thread: tasks shorter than a round
   * trip to the worker would leave it idle between them (Dask's queuing costs it throughput there).
   */
  pipelineMs: number;
  /** Assign a task whose one dependency is running on a worker to that worker at once, so a chain never waits for a round trip. */
  chainAssignment: boolean;
  /** A task whose workers die this many times errs with KilledWorker on the next death. */
  allowedFailures: number;
  /** A worker silent for this long is removed (ms). */
  workerTimeoutMs: number;
  /** How long a task of a prefix never seen is expected to take (ms), for placement. */
  unknownDurationMs: number;
  /** Bytes a second a dependency moves at, for placement (ms to fetch = bytes / this). */
  bandwidth: number;
  /** Work stealing: move tasks that have not started from busy workers to idle ones. */
  stealing: boolean;
}

/** The values a SchedulerOptions.config leaves out take (Dask's defaults where Dask has them). */
export const defaultSchedulerConfig: Readonly<SchedulerConfig> = Object.freeze({
  workerSaturation: 2,
  pipelineMs: 1,
  chainAssignment: true,
  allowedFailures: 3,
  workerTimeoutMs: 10_000,
  unknownDurationMs: 1,
  bandwidth: 1e9,
  stealing: true,
});

export class Task {
  readonly key: string;
  readonly prefix: string;
  status: TaskStatus = 'released';
  deps: Task[] = [];
  readonly dependents = new Set<Task>();
  /** Dependencies not in memory yet (waiting tasks). */
  waitingOn = 0;
  readonly whoHas = new Set<WorkerState>();
  processingOn: WorkerState | null = null;
  /** What the worker runs; null for scattered data (which cannot be recomputed). */
  payload: Buffer[] | null;
  /** [-user priority, submission order]: smaller runs first. */
  priority: [number, number];
  retries: number;
  /** Deaths of workers while this task ran on them. */
  suspicious = 0;
  nbytes = 0;
  type = '';
  exception: TaskError | null = null;
  /** The task whose failure made this one err, when not its own. */
  erredBecause: Task | null = null;
  readonly wantedBy = new Set<string>();
  restrictions: Set<string> | null;
  resources: Record<string, number> | null;
  /** A steal in progress: the worker it goes to once the victim confirms. */
  stealingTo: WorkerState | null = null;

  constructor(
    key: string,
    payload: Buffer[] | null,
    priority: [number, number],
    retries: number,
    restrictions: Set<string> | null,
    resources: Record<string, number> | null,
  ) {
    this.key = key;
    this.prefix = keyPrefix(key);
    this.payload = payload;
    this.priority = priority;
    this.retries = retries;
    this.restrictions = restrictions;
    this.resources = resources;
  }
}

export type WorkerStatus = 'running' | 'paused' | 'retiring' | 'closed';

export class WorkerState {
  readonly address: string;
  readonly name: string;
  readonly nthreads: number;
  readonly memoryLimit: number;
  readonly resources: Record<string, number>;
  readonly usedResources: Record<string, number> = {};
  readonly processing = new Set<Task>();
  readonly hasWhat = new Set<Task>();
  status: WorkerStatus = 'running';
  /** Bytes of results held. */
  nbytes = 0;
  /** Expected ms of work assigned and not finished. */
  occupancy = 0;
  lastSeen: number;
  metrics: WorkerMetrics | null = null;
  /** Pending retire-workers requests this worker is part of. */
  retiring: number[] = [];
  /**
   * free-keys sent to it that it has not acknowledged yet ('freed'), by key. What it reports of those keys
   * meanwhile (task-finished, task-erred, added-keys) it sent before it let them go: stale, and ignored
   * (counted, it would name a holder that holds nothing).
   */
  readonly freeing = new Map<string, number>();

  constructor(spec: WorkerSpec, now: number) {
    this.address = spec.address;
    this.name = spec.name;
    this.nthreads = Math.max(1, spec.nthreads);
    this.memoryLimit = spec.memoryLimit;
    this.resources = { ...spec.resources };
    this.lastSeen = now;
  }
}

export type SchedulerEvent =
  | { type: 'client-gone'; client: string }
  | { type: 'update-graph'; client: string; tasks: TaskSpec[]; wanted: string[] }
  | { type: 'release-keys'; client: string; keys: string[] }
  | { type: 'cancel-keys'; client: string; keys: string[] }
  | { type: 'scattered'; client: string; worker: string; keys: [string, number][] }
  | { type: 'worker-added'; spec: WorkerSpec; now: number }
  | { type: 'worker-removed'; worker: string; reason: string }
  | { type: 'task-finished'; worker: string; key: string; nbytes: number; typeName: string; duration: number }
  | { type: 'task-erred'; worker: string; key: string; error: TaskError; duration: number }
  | { type: 'missing-data'; worker: string; key: string; holder: string }
  | { type: 'added-keys'; worker: string; keys: [string, number][] }
  | { type: 'steal-response'; worker: string; key: string; stolen: boolean }
  | { type: 'keys-freed'; worker: string; keys: string[] }
  | { type: 'worker-status'; worker: string; paused: boolean }
  | { type: 'heartbeat'; worker: string; now: number; metrics: WorkerMetrics }
  | { type: 'retire-workers'; request: number; workers: string[] }
  | { type: 'tick'; now: number };

export type SchedulerInstruction =
  | { kind: 'worker'; worker: string; op: string; body: unknown }
  | { kind: 'client'; client: string; op: string; body: unknown }
  | { kind: 'close-worker'; worker: string; reason: string; removed?: boolean }
  | { kind: 'retired'; request: number; workers: string[] };

/**
 * The prefix of a key, which groups tasks for durations and the dashboard: 'inc' of 'inc-3fa2...', and
 * of hand-written graph keys such as 'chunk_12' or 'l0' ('chunk', 'l'), so that a graph's tasks of one
 * kind share their measured duration as Dask's tuple keys do.
 */
export function keyPrefix(key: string): string {
  const dash = key.indexOf('-');
  if (dash > 0) return key.slice(0, dash);
  let end = key.length;
  while (end > 0 && isDigitOrSeparator(key.charCodeAt(end - 1))) end--;
  return end > 0 ? key.slice(0, end) : key;
}

function isDigitOrSeparator(code: number): boolean {
  return (code >= 48 && code <= 57) || code === 95 /* _ */ || code === 46; /* . */
}

function before(a: Task, b: Task): boolean {
  return a.priority[0] < b.priority[0] || (a.priority[0] === b.priority[0] && a.priority[1] < b.priority[1]);
}

export class SchedulerState {
  readonly config: SchedulerConfig;
  readonly tasks = new Map<string, Task>();
  readonly workers = new Map<string, WorkerState>();
  /** Root tasks held back until a worker has room (Dask's queued state). */
  readonly queued = new Heap<Task>(before);
  /** Tasks no worker can run now (restrictions, resources, or no workers at all). */
  readonly unrunnable = new Set<Task>();
  /** Average duration by key prefix (ms, an exponential moving average). */
  readonly durations = new Map<string, number>();
  /** Tasks by status (the dashboard's and schedulerInfo's counts). */
  readonly counts: Record<TaskStatus, number> = {
    released: 0,
    waiting: 0,
    queued: 0,
    'no-worker': 0,
    processing: 0,
    memory: 0,
    erred: 0,
    forgotten: 0,
  };
  #order = 0;
  #out: SchedulerInstruction[] = [];
  readonly #retirements = new Map<number, { pending: Set<string>; all: string[] }>();

  constructor(config: Partial<SchedulerConfig> = {}) {
    this.config = { ...defaultSchedulerConfig, ...config };
  }

  /** One event in, what to send out. */
  handle(event: SchedulerEvent): SchedulerInstruction[] {
    this.#out = [];
    switch (event.type) {
      case 'update-graph':
        this.#updateGraph(event.client, event.tasks, event.wanted);
        break;
      case 'release-keys':
        for (const key of event.keys) this.#release(event.client, key);
        break;
      case 'cancel-keys':
        this.#cancel(event.client, event.keys);
        break;
      case 'client-gone':
        this.#clientGone(event.client);
        break;
      case 'scattered':
        this.#scattered(event.client, event.worker, event.keys);
        break;
      case 'worker-added':
        this.#workerAdded(event.spec, event.now);
        break;
      case 'worker-removed':
        this.#workerRemoved(event.worker, event.reason);
        break;
      case 'task-finished':
        this.#taskFinished(event.worker, event.key, event.nbytes, event.typeName, event.duration);
        break;
      case 'task-erred':
        this.#taskErred(event.worker, event.key, event.error, event.duration);
        break;
      case 'missing-data':
        this.#missingData(event.worker, event.key, event.holder);
        break;
      case 'added-keys':
        this.#addedKeys(event.worker, event.keys);
        break;
      case 'steal-response':
        this.#stealResponse(event.worker, event.key, event.stolen);
        break;
      case 'keys-freed':
        this.#keysFreed(event.worker, event.keys);
        break;
      case 'worker-status':
        this.#workerStatus(event.worker, event.paused);
        break;
      case 'heartbeat':
        this.#heartbeat(event.worker, event.now, event.metrics);
        break;
      case 'retire-workers':
        this.#retireWorkers(event.request, event.workers);
        break;
      case 'tick':
        this.#tick(event.now);
        break;
    }
    // Any event may be the one a retirement waited for (a replica arrived, a key was released, a worker left).
    if (this.#retirements.size > 0) this.#checkRetirements();
    return this.#out;
  }

  /** Total threads of running workers. */
  get totalThreads(): number {
    let threads = 0;
    for (const ws of this.workers.values()) if (ws.status === 'running') threads += ws.nthreads;
    return threads;
  }

  // ---- graphs from clients ----

  #updateGraph(client: string, specs: TaskSpec[], wanted: string[]): void {
    const fresh: Task[] = [];
    const bad = new Map<Task, TaskError>();
    for (const spec of specs) {
      if (this.tasks.has(spec.key)) continue; // a pure key already known: the same computation
      const restrictions = spec.workers !== undefined && spec.workers.length > 0 ? new Set(spec.workers) : null;
      const resources = spec.resources !== undefined && Object.keys(spec.resources).length > 0 ? { ...spec.resources } : null;
      const ts = new Task(spec.key, spec.payload, [-(spec.priority ?? 0), 0], spec.retries ?? 0, restrictions, resources);
      this.tasks.set(spec.key, ts);
      this.counts.released++;
      fresh.push(ts);
    }
    const specByKey = new Map(specs.map((spec) => [spec.key, spec]));
    for (const ts of fresh) {
      for (const depKey of specByKey.get(ts.key)!.deps) {
        const dep = this.tasks.get(depKey);
        if (dep === undefined || dep.status === 'forgotten') {
          bad.set(ts, {
            name: 'KeyError',
            code: 'ERR_SCHEDULER_MISSING_KEY',
            message: `${ts.key} depends on '${depKey}', which the scheduler does not know (never submitted, or released)`,
          });
          continue;
        }
        if (!ts.deps.includes(dep)) ts.deps.push(dep);
        dep.dependents.add(ts);
      }
    }
    for (const key of wanted) this.tasks.get(key)?.wantedBy.add(client);
    const cyclic = findCycle(fresh);
    for (const ts of cyclic) {
      bad.set(ts, { name: 'ValueError', code: 'ERR_SCHEDULER_CYCLE', message: `${ts.key} is part of a dependency cycle` });
    }
    // Priorities follow submission order, dependencies first (a depth-first order of the new tasks).
    for (const ts of topologicalOrder(fresh)) ts.priority[1] = this.#order++;
    for (const [ts, error] of bad) this.#err(ts, error, null);
    // Erred, a cycle's tasks let go of their dependencies: else they would keep each other from being forgotten.
    for (const ts of cyclic) {
      for (const dep of ts.deps) dep.dependents.delete(ts);
      ts.deps = [];
    }
    // New tasks that nothing wants or depends on (a client let go of them in the turn it made them) are
    // forgotten, not run for nobody; dependents first, so their own dependencies follow.
    const order = topologicalOrder(fresh);
    for (let i = order.length - 1; i >= 0; i--) this.#maybeForget(order[i]!);
    for (const ts of order) {
      if (ts.status === 'released') this.#toWaiting(ts);
    }
    // Known keys the client now wants: tell it of those already done (the new ones that erred have been told).
    const isFresh = new Set(fresh);
    for (const key of wanted) {
      const ts = this.tasks.get(key);
      if (ts !== undefined && isFresh.has(ts)) continue;
      if (ts === undefined) {
        this.#out.push({
          kind: 'client',
          client,
          op: 'task-erred',
          body: { key, error: { name: 'KeyError', code: 'ERR_SCHEDULER_MISSING_KEY', message: `no task '${key}'` } },
        });
      } else if (ts.status === 'memory') {
        this.#out.push({ kind: 'client', client, op: 'key-in-memory', body: { key, type: ts.type } });
      } else if (ts.status === 'erred') {
        this.#out.push({ kind: 'client', client, op: 'task-erred', body: { key, error: this.#exceptionOf(ts) } });
      } else if (ts.status === 'released') {
        this.#toWaiting(ts);
      }
    }
  }

  #release(client: string, key: string): void {
    const ts = this.tasks.get(key);
    if (ts === undefined || !ts.wantedBy.delete(client)) return;
    this.#maybeForget(ts);
  }

  #cancel(client: string, keys: string[]): void {
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (ts === undefined) continue;
      // Cancelling a task cancels what depends on it (those clients hear 'cancelled' too).
      const doomed = [ts, ...dependentsOf(ts)].filter((t) => t.status !== 'memory' && t.status !== 'forgotten');
      for (const t of doomed) {
        for (const c of t.wantedBy) this.#out.push({ kind: 'client', client: c, op: 'cancelled', body: { key: t.key } });
        t.wantedBy.clear();
        this.#stopComputing(t);
      }
      ts.wantedBy.delete(client);
      // Nobody wants them now: forgotten (their clients' later releases find nothing to release).
      for (const t of doomed.reverse()) this.#maybeForget(t);
      this.#maybeForget(ts);
    }
  }

  #clientGone(client: string): void {
    for (const ts of [...this.tasks.values()]) {
      if (ts.wantedBy.delete(client)) this.#maybeForget(ts);
    }
  }

  #scattered(client: string, address: string, keys: [string, number][]): void {
    const ws = this.workers.get(address);
    if (ws === undefined) return;
    for (const [key, nbytes] of keys) {
      let ts = this.tasks.get(key);
      if (ts === undefined) {
        ts = new Task(key, null, [0, this.#order++], 0, null, null);
        this.tasks.set(key, ts);
        this.counts.released++;
      }
      ts.wantedBy.add(client);
      if (ts.status !== 'memory') {
        ts.nbytes = nbytes;
        this.#setStatus(ts, 'memory');
      }
      this.#addReplica(ts, ws);
    }
  }

  // ---- transitions ----

  #setStatus(ts: Task, status: TaskStatus): void {
    this.counts[ts.status]--;
    this.counts[status]++;
    ts.status = status;
  }

  /** released -> waiting, and on to running if its dependencies are in memory (recomputing lost ones). */
  #toWaiting(ts: Task): void {
    if (ts.payload === null) {
      this.#err(ts, { name: 'LostData', code: 'ERR_SCHEDULER_LOST', message: `the only copy of scattered data '${ts.key}' was lost with its worker` }, null);
      return;
    }
    this.#setStatus(ts, 'waiting');
    ts.waitingOn = 0;
    for (const dep of ts.deps) {
      if (dep.status === 'memory') continue;
      if (dep.status === 'erred') {
        this.#err(ts, dep.exception, dep.erredBecause ?? dep);
        return;
      }
      ts.waitingOn++;
      if (dep.status === 'released') this.#toWaiting(dep);
    }
    if (ts.status !== 'waiting') return;
    if (ts.waitingOn === 0) {
      this.#ready(ts);
      return;
    }
    // The next link of a chain whose last link runs already: it goes there now (#assignChain).
    const dep = ts.deps[0]!;
    if (
      this.config.chainAssignment &&
      ts.deps.length === 1 &&
      dep.status === 'processing' &&
      dep.processingOn !== null &&
      ts.restrictions === null &&
      ts.resources === null &&
      this.#canRun(dep.processingOn, ts)
    ) {
      this.#assign(ts, dep.processingOn);
    }
  }

  /** All dependencies are in memory: run it somewhere, or queue it. */
  #ready(ts: Task): void {
    if (ts.deps.length === 0 && ts.restrictions === null && ts.resources === null && this.#rootTasksWait()) {
      this.#setStatus(ts, 'queued');
      this.queued.push(ts);
      return;
    }
    const ws = this.#decideWorker(ts);
    if (ws === null) {
      this.#setStatus(ts, 'no-worker');
      this.unrunnable.add(ts);
      return;
    }
    this.#assign(ts, ws);
  }

  /** Whether root tasks should wait in the queue: no running worker has room below its saturation. */
  #rootTasksWait(): boolean {
    for (const ws of this.workers.values()) {
      if (ws.status === 'running' && ws.processing.size < this.#room(ws)) return false;
    }
    return this.workers.size > 0;
  }

  /** How many tasks a worker may hold: saturation x threads, and more when the tasks are short (pipelineMs). */
  #room(ws: WorkerState): number {
    const base = Math.ceil(this.config.workerSaturation * ws.nthreads);
    const queued = this.queued.peek();
    if (queued === undefined) return base;
    const expected = this.#expectedMs(queued);
    // Only for durations measured here: an unknown prefix is not assumed to be short.
    if (!this.durations.has(queued.prefix) || expected <= 0) return base;
    return base + Math.min(64 * ws.nthreads, Math.floor((this.config.pipelineMs / expected) * ws.nthreads));
  }

  #assign(ts: Task, ws: WorkerState): void {
    this.#setStatus(ts, 'processing');
    ts.processingOn = ws;
    ws.processing.add(ts);
    ws.occupancy += this.#expectedMs(ts);
    if (ts.resources !== null) for (const [r, n] of Object.entries(ts.resources)) ws.usedResources[r] = (ws.usedResources[r] ?? 0) + n;
    const deps: Record<string, string[]> = {};
    for (const dep of ts.deps) deps[dep.key] = dep.whoHas.has(ws) ? [] : [...dep.whoHas].map((holder) => holder.address);
    const body: ComputeTask = { key: ts.key, payload: ts.payload!, deps, priority: ts.priority, ...(ts.resources ? { resources: ts.resources } : {}) };
    this.#out.push({ kind: 'worker', worker: ws.address, op: 'compute-task', body });
    if (this.config.chainAssignment) this.#assignChain(ts, ws);
  }

  /**
   * The next links of a chain go where their one dependency runs, before it finishes: the worker starts
   * each as soon as the one before ends, with no round trip to here in between. A link whose
   * dependency moves away (requeued, stolen, its worker lost) moves with it (#requeueChain).
   */
  #assignChain(ts: Task, ws: WorkerState): void {
    for (const dependent of ts.dependents) {
      if (dependent.status !== 'waiting' || dependent.deps.length !== 1 || dependent.waitingOn !== 1) continue;
      if (dependent.restrictions !== null || dependent.resources !== null || !this.#canRun(ws, dependent)) continue;
      this.#assign(dependent, ws);
    }
  }

  /** `ts` leaves `ws` unfinished: the chain links assigned there behind it go back to waiting for it. */
  #requeueChain(ts: Task, ws: WorkerState): void {
    for (const dependent of [...ts.dependents]) {
      if (dependent.status !== 'processing' || dependent.processingOn !== ws) continue;
      this.#unassign(dependent); // and the links behind it, in turn
      this.#freeKeys(ws.address, dependent.key);
      this.#setStatus(dependent, 'waiting');
      dependent.waitingOn = 1;
    }
  }

  /**
   * The task leaves `processingOn` (finished, erred, stolen, cancelled, or its worker died). Unless it
   * finished there (`finishedThere`), the chain links placed behind it there go back to waiting.
   */
  #unassign(ts: Task, finishedThere = false): WorkerState | null {
    const ws = ts.processingOn;
    if (ws === null) return null;
    ts.processingOn = null;
    ts.stealingTo = null;
    ws.processing.delete(ts);
    ws.occupancy = Math.max(0, ws.occupancy - this.#expectedMs(ts));
    if (ws.processing.size === 0) ws.occupancy = 0;
    if (ts.resources !== null) for (const [r, n] of Object.entries(ts.resources)) ws.usedResources[r] = (ws.usedResources[r] ?? 0) - n;
    if (!finishedThere) this.#requeueChain(ts, ws);
    return ws;
  }

  #expectedMs(ts: Task): number {
    return this.durations.get(ts.prefix) ?? this.config.unknownDurationMs;
  }

  /**
   * Where a task starts soonest: work already there per thread, plus the time to fetch the dependencies
   * it lacks. Only running workers that meet its restrictions and have its resources free.
   */
  #decideWorker(ts: Task): WorkerState | null {
    let best: WorkerState | null = null;
    let bestCost = Infinity;
    const consider = (ws: WorkerState): void => {
      if (!this.#canRun(ws, ts)) return;
      let missing = 0;
      for (const dep of ts.deps) if (!dep.whoHas.has(ws)) missing += dep.nbytes;
      const cost = ws.occupancy / ws.nthreads + (missing / this.config.bandwidth) * 1000 + ws.processing.size * 1e-6;
      if (cost < bestCost) {
        bestCost = cost;
        best = ws;
      }
    };
    // Holders of the dependencies first: usually the answer, and far fewer than all workers.
    if (ts.deps.length > 0) {
      const seen = new Set<WorkerState>();
      for (const dep of ts.deps)
        for (const ws of dep.whoHas)
          if (!seen.has(ws)) {
            seen.add(ws);
            consider(ws);
          }
      // Moving the data is worth it only if somewhere else is idle enough to make up for the fetch.
      for (const ws of this.workers.values()) if (!seen.has(ws) && ws.processing.size < ws.nthreads) consider(ws);
      if (best !== null) return best;
    }
    for (const ws of this.workers.values()) consider(ws);
    return best;
  }

  #canRun(ws: WorkerState, ts: Task): boolean {
    if (ws.status !== 'running') return false;
    if (ts.restrictions !== null && !ts.restrictions.has(ws.address) && !ts.restrictions.has(ws.name)) return false;
    if (ts.resources !== null) {
      for (const [r, n] of Object.entries(ts.resources)) {
        if ((ws.resources[r] ?? 0) - (ws.usedResources[r] ?? 0) < n) return false;
      }
    }
    return true;
  }

  /** Freed capacity on `ws`: queued root tasks move in, and so do tasks that had nowhere to run. */
  #fill(ws: WorkerState): void {
    if (ws.status !== 'running') return;
    while (this.queued.size > 0 && ws.processing.size < this.#room(ws)) {
      const ts = this.queued.pop()!;
      this.#assign(ts, ws);
    }
    if (this.unrunnable.size > 0) this.#retryUnrunnable();
  }

  #retryUnrunnable(): void {
    // Most urgent first; root tasks go back to the queue once the workers are saturated (else the first
    // worker to join a cluster that had none would take them all).
    const tasks = [...this.unrunnable].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    for (const ts of tasks) {
      if (ts.deps.length === 0 && ts.restrictions === null && ts.resources === null && this.#rootTasksWait()) {
        this.unrunnable.delete(ts);
        this.#setStatus(ts, 'queued');
        this.queued.push(ts);
        continue;
      }
      const ws = this.#decideWorker(ts);
      if (ws === null) continue;
      this.unrunnable.delete(ts);
      this.#assign(ts, ws);
    }
  }

  /** Tells the worker to let `key` go, and remembers it until the worker says it has. */
  #freeKeys(address: string, key: string): void {
    const ws = this.workers.get(address);
    if (ws !== undefined) ws.freeing.set(key, (ws.freeing.get(key) ?? 0) + 1);
    this.#out.push({ kind: 'worker', worker: address, op: 'free-keys', body: { keys: [key] } });
  }

  #keysFreed(address: string, keys: string[]): void {
    const ws = this.workers.get(address);
    if (ws === undefined) return;
    for (const key of keys) {
      const n = ws.freeing.get(key) ?? 0;
      if (n <= 1) ws.freeing.delete(key);
      else ws.freeing.set(key, n - 1);
    }
  }

  #taskFinished(address: string, key: string, nbytes: number, typeName: string, duration: number): void {
    const ws = this.workers.get(address);
    const ts = this.tasks.get(key);
    if (ws === undefined) return;
    // Sent before it let the key go (a free-keys crossed it): its copy is gone.
    if (ws.freeing.has(key)) return;
    if (
      ts === undefined ||
      ts.status === 'forgotten' ||
      ts.status === 'released' ||
      ts.status === 'erred' ||
      ts.status === 'waiting' ||
      ts.status === 'queued' ||
      ts.status === 'no-worker'
    ) {
      // Nobody needs it (released or cancelled meanwhile): the worker lets it go.
      this.#freeKeys(address, key);
      return;
    }
    if (ts.status === 'memory') {
      // Computed there too (a dependency it ran for tasks of its own): one more holder.
      this.#addReplica(ts, ws);
      return;
    }
    // processing: here (the usual case) or elsewhere (this worker ran it unasked, as a dependency): it
    // counts, and the other stops.
    const on = this.#unassign(ts, ts.processingOn === ws);
    if (on !== null && on !== ws) {
      this.#freeKeys(on.address, key);
      this.#fill(on);
    }
    const old = this.durations.get(ts.prefix);
    this.durations.set(ts.prefix, old === undefined ? duration : old * 0.8 + duration * 0.2);
    ts.nbytes = nbytes;
    ts.type = typeName;
    ts.suspicious = 0;
    this.#setStatus(ts, 'memory');
    this.#addReplica(ts, ws);
    for (const client of ts.wantedBy) this.#out.push({ kind: 'client', client, op: 'key-in-memory', body: { key, type: typeName } });
    for (const dependent of ts.dependents) {
      if (dependent.status === 'waiting' && --dependent.waitingOn === 0) this.#ready(dependent);
    }
    for (const dep of ts.deps) this.#maybeRelease(dep);
    this.#maybeForget(ts);
    this.#fill(ws);
  }

  #taskErred(address: string, key: string, error: TaskError, duration: number): void {
    const ws = this.workers.get(address);
    const ts = this.tasks.get(key);
    if (ws === undefined || ts === undefined || ts.status !== 'processing' || ts.processingOn !== ws) return;
    // From an earlier run it was told to let go of (requeued, then placed on it again): not this run's.
    if (ws.freeing.has(key)) return;
    void duration;
    this.#unassign(ts);
    this.#setStatus(ts, 'released');
    if (ts.retries > 0) {
      ts.retries--;
      this.#toWaiting(ts);
    } else {
      this.#err(ts, error, null);
    }
    this.#fill(ws);
  }

  /** The task errs (with its own error, or because of `cause`), and everything that depends on it. */
  #err(ts: Task, error: TaskError | null, cause: Task | null): void {
    const exception = error ?? { name: 'Error', message: `${ts.key} failed` };
    const stack: Task[] = [ts];
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (t.status === 'erred' || t.status === 'forgotten' || t.status === 'memory') continue;
      this.#stopComputing(t);
      t.exception = exception;
      t.erredBecause = t === ts ? cause : (cause ?? ts);
      this.#setStatus(t, 'erred');
      // Its inputs are needed no more (by it).
      for (const dep of t.deps) this.#maybeRelease(dep);
      for (const client of t.wantedBy) this.#out.push({ kind: 'client', client, op: 'task-erred', body: { key: t.key, error: this.#exceptionOf(t) } });
      for (const dependent of t.dependents) stack.push(dependent);
    }
  }

  #exceptionOf(ts: Task): TaskError {
    const exception = ts.exception ?? { name: 'Error', message: `${ts.key} failed` };
    const origin = ts.erredBecause;
    if (origin === null || origin === ts) return exception;
    return { ...exception, message: `${exception.message} (in its dependency ${origin.key})` };
  }

  /** Whatever this task is doing stops: off its worker, out of the queue. */
  #stopComputing(ts: Task): void {
    if (ts.status === 'processing') {
      const ws = this.#unassign(ts);
      if (ws !== null) {
        this.#freeKeys(ws.address, ts.key);
        this.#fill(ws);
      }
    } else if (ts.status === 'queued') {
      this.queued.remove(ts);
    } else if (ts.status === 'no-worker') {
      this.unrunnable.delete(ts);
    }
    if (ts.status === 'waiting' || ts.status === 'queued' || ts.status === 'no-worker' || ts.status === 'processing') {
      this.#setStatus(ts, 'released');
      for (const dep of ts.deps) this.#maybeRelease(dep);
    }
  }

  #addReplica(ts: Task, ws: WorkerState): void {
    if (ts.whoHas.has(ws)) return;
    ts.whoHas.add(ws);
    ws.hasWhat.add(ts);
    ws.nbytes += ts.nbytes;
  }

  #removeReplica(ts: Task, ws: WorkerState): void {
    if (!ts.whoHas.delete(ws)) return;
    ws.hasWhat.delete(ts);
    ws.nbytes -= ts.nbytes;
  }

  /** Whether anything still needs this task's result: a client, or a dependent not done yet. */
  #needed(ts: Task): boolean {
    if (ts.wantedBy.size > 0) return true;
    for (const dependent of ts.dependents) {
      if (dependent.status === 'waiting' || dependent.status === 'processing' || dependent.status === 'queued' || dependent.status === 'no-worker') return true;
    }
    return false;
  }

  /** A result nothing needs any more is dropped from its holders (the task stays, released, for lineage). */
  #maybeRelease(ts: Task): void {
    if (ts.status !== 'memory' || this.#needed(ts)) return;
    for (const ws of [...ts.whoHas]) {
      this.#removeReplica(ts, ws);
      this.#freeKeys(ws.address, ts.key);
    }
    this.#setStatus(ts, 'released');
    this.#maybeForget(ts);
  }

  /** A task nothing can need again (no client, no dependent that is not forgotten) is forgotten. */
  #maybeForget(ts: Task): void {
    if (ts.wantedBy.size > 0) return;
    for (const dependent of ts.dependents)
      if (dependent.status !== 'forgotten') {
        if (ts.status === 'memory') this.#maybeRelease(ts);
        return;
      }
    if (ts.status === 'memory') {
      this.#maybeRelease(ts);
      if (ts.status === 'memory') return;
    }
    if (ts.status === 'processing' || ts.status === 'waiting' || ts.status === 'queued' || ts.status === 'no-worker') {
      // Running for nobody: stop it.
      this.#stopComputing(ts);
    }
    if (ts.status !== 'released' && ts.status !== 'erred') return;
    this.#setStatus(ts, 'forgotten');
    this.tasks.delete(ts.key);
    this.counts.forgotten--;
    for (const dep of ts.deps) {
      dep.dependents.delete(ts);
      this.#maybeForget(dep);
    }
    ts.deps = [];
    ts.payload = null;
  }

  // ---- workers ----

  #workerAdded(spec: WorkerSpec, now: number): void {
    if (this.workers.has(spec.address)) return;
    const ws = new WorkerState(spec, now);
    this.workers.set(ws.address, ws);
    // Work for it at once: queued root tasks, tasks that had nowhere to run.
    this.#fill(ws);
  }

  #workerRemoved(address: string, reason: string): void {
    const ws = this.workers.get(address);
    if (ws === undefined) return;
    this.workers.delete(address);
    const wasRetiring = ws.status === 'retiring';
    ws.status = 'closed';
    // The others let go of it first (before they hear where its tasks and results went): a fetch from
    // it under way would otherwise never end if it froze (SIGSTOP, a hung host) rather than died.
    for (const other of this.workers.values()) this.#out.push({ kind: 'worker', worker: other.address, op: 'remove-peer', body: { address } });
    for (const [request, retirement] of this.#retirements) {
      if (retirement.pending.delete(address) && retirement.pending.size === 0) this.#finishRetirement(request);
    }
    // First the results it held: those it alone held are lost.
    const lost: Task[] = [];
    for (const ts of [...ws.hasWhat]) {
      this.#removeReplica(ts, ws);
      if (ts.whoHas.size === 0 && ts.status === 'memory') lost.push(ts);
    }
    // All of them released before any dependent is placed again (which must not count a lost one as there).
    for (const ts of lost) this.#setStatus(ts, 'released');
    // Dependents that were waiting for them wait longer; those already elsewhere will not find them.
    for (const ts of lost) for (const dependent of ts.dependents) if (dependent.status === 'waiting') dependent.waitingOn++;
    for (const ts of lost) {
      for (const dependent of [...ts.dependents]) {
        if (dependent.status === 'processing' && dependent.processingOn !== ws) this.#requeue(dependent);
        else if (dependent.status === 'no-worker') this.#requeue(dependent);
      }
    }
    // What it was running goes elsewhere, unless it keeps killing its workers.
    for (const ts of [...ws.processing]) {
      // A chain link behind a task of this loop is waiting again already.
      if (ts.processingOn !== ws) continue;
      this.#unassign(ts);
      ts.suspicious++;
      this.#setStatus(ts, 'released');
      if (ts.suspicious > this.config.allowedFailures) {
        this.#err(
          ts,
          {
            name: 'KilledWorker',
            code: 'ERR_SCHEDULER_KILLED_WORKER',
            message: `${ts.key} was running on ${ts.suspicious} workers that died (the last: ${address}, ${reason})`,
          },
          null,
        );
      } else {
        this.#toWaiting(ts);
      }
    }
    // Lost results are recomputed from their lineage if anything still needs them.
    for (const ts of lost) {
      if (ts.status !== 'released') continue;
      if (this.#needed(ts)) this.#toWaiting(ts);
      else this.#maybeForget(ts);
    }
    // A retiring worker's unique results were perhaps on their way to this one: they go to another.
    if (!wasRetiring && this.#retirements.size > 0) {
      for (const other of this.workers.values()) if (other.status === 'retiring') this.#replicateUnique(other);
    }
    if (this.workers.size === 0) {
      // Nowhere to run: queued tasks wait as unrunnable until a worker joins.
      for (const ts of [...this.queued]) {
        this.queued.remove(ts);
        this.#setStatus(ts, 'no-worker');
        this.unrunnable.add(ts);
      }
    }
  }

  /** A processing (or unrunnable) task goes back to waiting (a dependency it needs was lost, or could not be fetched). */
  #requeue(ts: Task): void {
    this.unrunnable.delete(ts);
    const ws = this.#unassign(ts);
    if (ws !== null) {
      this.#freeKeys(ws.address, ts.key);
    }
    this.#setStatus(ts, 'released');
    this.#toWaiting(ts);
    if (ws !== null) this.#fill(ws);
  }

  /** `address` could not get `key` from `holder` ('' : it was told it holds the key itself, and does not). */
  #missingData(address: string, key: string, holder: string): void {
    const ts = this.tasks.get(key);
    const holderState = this.workers.get(holder === '' ? address : holder);
    if (ts === undefined) return;
    if (holderState !== undefined && ts.whoHas.has(holderState)) this.#removeReplica(ts, holderState);
    if (ts.status === 'memory' && ts.whoHas.size === 0) {
      this.#setStatus(ts, 'released');
      for (const dependent of [...ts.dependents]) {
        if (dependent.status === 'waiting') dependent.waitingOn++;
        else if (dependent.status === 'processing' || dependent.status === 'no-worker') this.#requeue(dependent);
      }
      // A requeued dependent may have asked for it already (then it is on its way).
      if ((ts.status as TaskStatus) === 'released') {
        if (this.#needed(ts)) this.#toWaiting(ts);
        else this.#maybeForget(ts);
      }
    } else {
      // Other holders remain, or it is not computed yet (a chain link that went ahead of it): the dependents
      // that wanted it from `holder` start over, with the holders as they are when it is their turn.
      for (const dependent of ts.dependents) {
        if (dependent.status === 'processing' && dependent.processingOn?.address === address) this.#requeue(dependent);
      }
    }
  }

  #addedKeys(address: string, keys: [string, number][]): void {
    const ws = this.workers.get(address);
    if (ws === undefined) return;
    for (const [key, nbytes] of keys) {
      // Sent before it let the key go: it holds nothing.
      if (ws.freeing.has(key)) continue;
      const ts = this.tasks.get(key);
      // Lost and being recomputed on this very worker: it has it already, and will say so (task-finished);
      // freeing it would cancel the computation the scheduler waits for.
      if (ts !== undefined && ts.status === 'processing' && ts.processingOn === ws) continue;
      if (ts === undefined || ts.status !== 'memory') {
        this.#freeKeys(address, key);
        continue;
      }
      if (ts.nbytes === 0 && nbytes > 0) {
        // Its size learnt only now: the holders' totals follow.
        for (const holder of ts.whoHas) holder.nbytes += nbytes;
        ts.nbytes = nbytes;
      }
      this.#addReplica(ts, ws);
    }
    this.#checkRetirements();
  }

  #workerStatus(address: string, paused: boolean): void {
    const ws = this.workers.get(address);
    if (ws === undefined || ws.status === 'retiring') return;
    ws.status = paused ? 'paused' : 'running';
    if (!paused) this.#fill(ws);
  }

  #heartbeat(address: string, now: number, metrics: WorkerMetrics): void {
    const ws = this.workers.get(address);
    if (ws === undefined) return;
    ws.lastSeen = now;
    ws.metrics = metrics;
  }

  #tick(now: number): void {
    for (const ws of [...this.workers.values()]) {
      if (now - ws.lastSeen > this.config.workerTimeoutMs) {
        this.#out.push({ kind: 'close-worker', worker: ws.address, reason: `no heartbeat for ${now - ws.lastSeen} ms`, removed: true });
        this.#workerRemoved(ws.address, 'timed out');
      }
    }
    if (this.config.stealing) this.#balance();
  }

  // ---- work stealing: two-phase, the victim confirms that the task had not started ----

  #balance(): void {
    const idle: WorkerState[] = [];
    const busy: WorkerState[] = [];
    for (const ws of this.workers.values()) {
      if (ws.status !== 'running') continue;
      if (ws.processing.size < ws.nthreads) idle.push(ws);
      else if (ws.processing.size > ws.nthreads + 1) busy.push(ws);
    }
    if (idle.length === 0 || busy.length === 0) return;
    busy.sort((a, b) => b.occupancy / b.nthreads - a.occupancy / a.nthreads);
    for (const thief of idle) {
      const victim = busy.find((ws) => ws.processing.size > ws.nthreads + 1);
      if (victim === undefined) return;
      // The victim's lowest-priority tasks are the ones it would start last.
      let wanted = thief.nthreads - thief.processing.size;
      // Only tasks whose inputs exist: a chain link waiting for the task before it stays with it.
      const candidates = [...victim.processing]
        .filter((ts) => ts.stealingTo === null && this.#canRun(thief, ts) && ts.deps.every((dep) => dep.status === 'memory'))
        .sort((a, b) => (before(a, b) ? 1 : -1));
      for (const ts of candidates) {
        if (wanted <= 0 || victim.processing.size <= victim.nthreads + 1) break;
        ts.stealingTo = thief;
        wanted--;
        this.#out.push({ kind: 'worker', worker: victim.address, op: 'steal-request', body: { key: ts.key } });
      }
    }
  }

  #stealResponse(address: string, key: string, stolen: boolean): void {
    const ts = this.tasks.get(key);
    if (ts === undefined || ts.processingOn?.address !== address) return;
    const thief = ts.stealingTo;
    ts.stealingTo = null;
    if (!stolen || thief === null) return;
    const victim = this.#unassign(ts)!;
    this.#setStatus(ts, 'released');
    if (this.workers.get(thief.address) === thief && this.#canRun(thief, ts)) {
      this.#setStatus(ts, 'waiting');
      ts.waitingOn = 0;
      this.#assign(ts, thief);
    } else {
      this.#toWaiting(ts);
    }
    this.#fill(victim);
  }

  // ---- retiring workers: their unique results move first ----

  #retireWorkers(request: number, addresses: string[]): void {
    const pending = new Set<string>();
    for (const address of addresses) {
      const ws = this.workers.get(address);
      if (ws === undefined) continue;
      ws.status = 'retiring';
      ws.retiring.push(request);
      pending.add(address);
    }
    this.#retirements.set(request, { pending, all: [...pending] });
    // What they were about to run goes elsewhere (a steal under way too: its answer will be stale); their
    // unique results go to the others.
    for (const address of pending) {
      const ws = this.workers.get(address)!;
      for (const ts of [...ws.processing]) this.#requeue(ts);
      this.#replicateUnique(ws);
    }
    this.#checkRetirements();
  }

  #replicateUnique(ws: WorkerState): void {
    const targets = [...this.workers.values()].filter((w) => w.status === 'running');
    if (targets.length === 0) return;
    const plan = new Map<WorkerState, Record<string, string[]>>();
    for (const ts of ws.hasWhat) {
      if ([...ts.whoHas].some((holder) => holder.status !== 'retiring')) continue;
      targets.sort((a, b) => a.nbytes - b.nbytes);
      const target = targets[0]!;
      target.nbytes += ts.nbytes; // provisional, corrected when it confirms
      const keys = plan.get(target) ?? {};
      keys[ts.key] = [...ts.whoHas].map((holder) => holder.address);
      plan.set(target, keys);
    }
    for (const target of targets) target.nbytes = [...target.hasWhat].reduce((sum, t) => sum + t.nbytes, 0);
    for (const [target, keys] of plan) this.#out.push({ kind: 'worker', worker: target.address, op: 'acquire-replicas', body: { keys } });
  }

  #checkRetirements(): void {
    for (const [request, { pending }] of this.#retirements) {
      for (const address of [...pending]) {
        const ws = this.workers.get(address);
        if (ws === undefined) {
          pending.delete(address);
          continue;
        }
        const unique = [...ws.hasWhat].some((ts) => [...ts.whoHas].every((holder) => holder.status === 'retiring'));
        const otherWorkers = [...this.workers.values()].some((w) => w.status === 'running');
        if (ws.processing.size === 0 && (!unique || !otherWorkers)) {
          pending.delete(address);
          this.#out.push({ kind: 'close-worker', worker: address, reason: 'retired' });
          this.#workerRemoved(address, 'retired');
        }
      }
      if (pending.size === 0) this.#finishRetirement(request);
    }
  }

  #finishRetirement(request: number): void {
    const retirement = this.#retirements.get(request);
    this.#retirements.delete(request);
    this.#out.push({ kind: 'retired', request, workers: retirement?.all ?? [] });
  }

  /** A ComputeTask-free view of one task (tests and the dashboard). */
  describe(key: string): { status: TaskStatus; worker: string | null; whoHas: string[]; waitingOn: number } | undefined {
    const ts = this.tasks.get(key);
    if (ts === undefined) return undefined;
    return { status: ts.status, worker: ts.processingOn?.address ?? null, whoHas: [...ts.whoHas].map((w) => w.address), waitingOn: ts.waitingOn };
  }
}

/** Every task (transitively) depending on `ts`. */
function dependentsOf(ts: Task): Task[] {
  const seen = new Set<Task>();
  const stack = [...ts.dependents];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const d of t.dependents) stack.push(d);
  }
  return [...seen];
}

/** The new tasks, dependencies before dependents (iterative depth-first). Cycles are broken arbitrarily. */
function topologicalOrder(tasks: Task[]): Task[] {
  const inGraph = new Set(tasks);
  const done = new Set<Task>();
  const order: Task[] = [];
  for (const root of tasks) {
    if (done.has(root)) continue;
    const stack: [Task, number][] = [[root, 0]];
    const onStack = new Set<Task>([root]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [ts, i] = top;
      if (i < ts.deps.length) {
        top[1]++;
        const dep = ts.deps[i]!;
        if (inGraph.has(dep) && !done.has(dep) && !onStack.has(dep)) {
          stack.push([dep, 0]);
          onStack.add(dep);
        }
      } else {
        stack.pop();
        onStack.delete(ts);
        done.add(ts);
        order.push(ts);
      }
    }
  }
  return order;
}

/** The tasks that lie on a dependency cycle among `tasks` (Tarjan's strongly connected components). */
function findCycle(tasks: Task[]): Task[] {
  const inGraph = new Set(tasks);
  const index = new Map<Task, number>();
  const low = new Map<Task, number>();
  const onStack = new Set<Task>();
  const stack: Task[] = [];
  const cyclic: Task[] = [];
  let counter = 0;
  for (const root of tasks) {
    if (index.has(root)) continue;
    const work: [Task, number][] = [[root, 0]];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [v, i] = frame;
      if (i < v.deps.length) {
        frame[1]++;
        const w = v.deps[i]!;
        if (!inGraph.has(w)) continue;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]![0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const component: Task[] = [];
        for (;;) {
          const w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
          if (w === v) break;
        }
        if (component.length > 1 || v.deps.includes(v)) cyclic.push(...component);
      }
    }
  }
  return cyclic;
}
