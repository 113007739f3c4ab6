// WorkerState: a task worker's bookkeeping as a pure state machine, after Dask's
// worker_state_machine.py: events in (the scheduler's orders, an execution's end,
// a fetch's end), instructions out (execute, fetch from a peer, tell the
// scheduler, drop data). The shell (TaskWorker) owns the data, the threads and
// the connections; this decides.
//
// Task states here:
//   compute tasks   waiting (dependencies not here) -> ready -> executing -> memory | error
//   dependencies    fetch -> flight -> memory, or missing (no holder has it)
//   cancelled       the scheduler let go of a task that is executing or in flight: its result is dropped
//   resumed         ... and then asked for it again before it ended: its result counts after all
// The two last states are the races that deadlocked Dask (#6689, #6159, ...): the
// scheduler changes its mind while work is under way, and the work is never stopped
// halfway, only its outcome decided when it ends.
import { Heap } from './heap.js';
import { keyPrefix } from './scheduler-state.js';
import type { ComputeTask, TaskError } from '../protocol.js';

export type WTaskStatus = 'released' | 'waiting' | 'ready' | 'executing' | 'memory' | 'error' | 'fetch' | 'flight' | 'missing' | 'cancelled' | 'resumed';

export class WTask {
  readonly key: string;
  status: WTaskStatus = 'released';
  /** The scheduler asked this worker to compute it (else it is only a dependency to hold). */
  compute = false;
  payload: Buffer[] | null = null;
  priority: [number, number] = [0, 0];
  resources: Record<string, number> | null = null;
  readonly deps = new Set<WTask>();
  readonly dependents = new Set<WTask>();
  /** Dependencies not in memory here yet. */
  readonly waitingFor = new Set<WTask>();
  /** Peers that hold it (dependencies). */
  readonly whoHas = new Set<string>();
  /** The peer it is being fetched from (flight). */
  flightFrom: string | null = null;
  /** cancelled / resumed: what it was doing (the work still under way). */
  previous: 'executing' | 'flight' | null = null;
  nbytes = 0;
  /**
   * Held for the scheduler, which counts this worker among its holders (a replica it asked for, a
   * dependency fetched and reported with added-keys, data a client put here): kept until free-keys.
   */
  replica = false;
  /** cancelled / resumed by a compute-task: that task, to compute it from if its fetch fails. */
  resumeWith: ComputeTask | null = null;

  constructor(key: string) {
    this.key = key;
  }
}

export interface WorkerStateConfig {
  nthreads: number;
  resources: Record<string, number>;
  /** Fetches in flight at once, all peers together. */
  maxGathers: number;
  /** What one fetch from one peer asks for at most (bytes, as the scheduler estimated them). */
  gatherBytes: number;
  /**
   * Short tasks handed to the executor per thread beyond the one running (its queue: ThreadPool
   * depth - 1), so that a thread never idles between them. Only tasks of a key prefix measured here
   * below shortTaskMs, without resources; default 0 (none).
   */
  pipelineDepth: number;
  /** What counts as short for pipelineDepth (ms, this worker's moving average per key prefix). */
  shortTaskMs: number;
}

export type WorkerEvent =
  | { type: 'compute-task'; task: ComputeTask }
  | { type: 'free-keys'; keys: string[] }
  | { type: 'acquire-replicas'; keys: Record<string, string[]> }
  | { type: 'steal-request'; key: string }
  | { type: 'execute-success'; key: string; nbytes: number; typeName: string; duration: number }
  | { type: 'execute-failure'; key: string; error: TaskError; duration: number }
  | { type: 'gather-done'; worker: string; received: Record<string, number>; missing: string[]; failed: boolean }
  | { type: 'put-data'; key: string; nbytes: number }
  | { type: 'pause'; paused: boolean }
  /** The scheduler removed that worker (dead, frozen, retired): it holds nothing any more. */
  | { type: 'peer-removed'; worker: string };

export type WorkerInstruction =
  | { op: 'execute'; key: string; payload: Buffer[]; deps: string[] }
  | { op: 'gather'; worker: string; keys: string[] }
  | { op: 'release'; key: string }
  | { op: 'scheduler'; message: string; body: unknown }
  /** Abort the connection to that peer: a fetch from it under way fails (gather-done, failed) instead of waiting for ever. */
  | { op: 'drop-peer'; worker: string };

function before(a: WTask, b: WTask): boolean {
  return a.priority[0] < b.priority[0] || (a.priority[0] === b.priority[0] && a.priority[1] < b.priority[1]);
}

export class WorkerState {
  readonly config: WorkerStateConfig;
  readonly tasks = new Map<string, WTask>();
  readonly ready = new Heap<WTask>(before);
  /** Ready tasks whose resources are taken: they wait for them. */
  readonly constrained = new Heap<WTask>(before);
  readonly fetching = new Heap<WTask>(before);
  readonly executing = new Set<WTask>();
  readonly usedResources: Record<string, number> = {};
  /** Peers a fetch is in flight from (one at a time each). */
  readonly inFlightFrom = new Set<string>();
  paused = false;
  #out: WorkerInstruction[] = [];
  /** Average execution time by key prefix (ms), for pipelineDepth. */
  readonly #durations = new Map<string, number>();

  constructor(config: Partial<WorkerStateConfig> & { nthreads: number }) {
    this.config = { resources: {}, maxGathers: 32, gatherBytes: 64 << 20, pipelineDepth: 0, shortTaskMs: 1, ...config };
  }

  handle(event: WorkerEvent): WorkerInstruction[] {
    this.#out = [];
    switch (event.type) {
      case 'compute-task':
        this.#computeTask(event.task);
        break;
      case 'free-keys':
        for (const key of event.keys) this.#free(key);
        // Acknowledged: what this worker says of these keys from now on, the scheduler can believe.
        this.#tell('freed', { keys: event.keys });
        break;
      case 'acquire-replicas':
        this.#acquire(event.keys);
        break;
      case 'steal-request':
        this.#stealRequest(event.key);
        break;
      case 'execute-success':
        this.#executeEnded(event.key, null, event.nbytes, event.typeName, event.duration);
        break;
      case 'execute-failure':
        this.#executeEnded(event.key, event.error, 0, '', event.duration);
        break;
      case 'gather-done':
        this.#gatherDone(event.worker, event.received, event.missing, event.failed);
        break;
      case 'put-data':
        this.#putData(event.key, event.nbytes);
        break;
      case 'pause':
        this.paused = event.paused;
        break;
      case 'peer-removed':
        this.#peerRemoved(event.worker);
        break;
    }
    this.#startExecutions();
    this.#startGathers();
    return this.#out;
  }

  #task(key: string): WTask {
    let ts = this.tasks.get(key);
    if (ts === undefined) {
      ts = new WTask(key);
      this.tasks.set(key, ts);
    }
    return ts;
  }

  #tell(message: string, body: unknown): void {
    this.#out.push({ op: 'scheduler', message, body });
  }

  // ---- the scheduler's orders ----

  #computeTask(task: ComputeTask): void {
    const ts = this.#task(task.key);
    ts.priority = task.priority;
    switch (ts.status) {
      case 'memory':
        // Here already (a dependency fetched earlier, or computed before): done.
        ts.compute = true;
        this.#tell('task-finished', { key: ts.key, nbytes: ts.nbytes, type: '', duration: 0 });
        return;
      case 'waiting':
      case 'ready':
      case 'executing':
        return; // asked twice
      case 'cancelled':
      case 'resumed':
        // Still executing (or in flight) from before, perhaps only as a dependency: its outcome counts now,
        // as this task's.
        ts.status = 'resumed';
        ts.compute = true;
        ts.payload = task.payload;
        ts.resumeWith = task;
        return;
      case 'flight':
        // Being fetched as a dependency: fetching it is as good as computing it.
        ts.status = 'resumed';
        ts.previous = 'flight';
        ts.compute = true;
        ts.payload = task.payload;
        ts.resumeWith = task;
        return;
      case 'fetch':
        this.fetching.remove(ts);
        break;
      default:
        break; // released, missing, error: computed afresh
    }
    ts.compute = true;
    ts.payload = task.payload;
    ts.resources = task.resources ?? null;
    ts.waitingFor.clear();
    for (const [depKey, holders] of Object.entries(task.deps)) {
      const dep = this.#task(depKey);
      ts.deps.add(dep);
      dep.dependents.add(ts);
      for (const holder of holders) dep.whoHas.add(holder);
      if (dep.status === 'memory') continue;
      ts.waitingFor.add(dep);
      this.#need(dep, holders.length === 0);
    }
    if (ts.waitingFor.size === 0) this.#toReady(ts);
    else ts.status = 'waiting';
  }

  /** A dependency is needed here: fetch it (or say it is missing). `here`: the scheduler thinks we hold it. */
  #need(dep: WTask, here: boolean): void {
    if (
      dep.status === 'fetch' ||
      dep.status === 'flight' ||
      dep.status === 'waiting' ||
      dep.status === 'ready' ||
      dep.status === 'executing' ||
      dep.status === 'resumed'
    )
      return;
    if (dep.status === 'cancelled') {
      // A fetch (or execution) under way that was let go of: it counts again.
      dep.status = 'resumed';
      return;
    }
    if (dep.whoHas.size === 0) {
      dep.status = 'missing';
      // Told it holds the key itself ('': this worker), and it does not. (A fetch that found no holder
      // has said so already, naming the holder.)
      if (here) this.#tell('missing-data', { key: dep.key, holder: '' });
      return;
    }
    dep.status = 'fetch';
    dep.priority = [...dependentPriority(dep)];
    this.fetching.push(dep);
  }

  #free(key: string): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    ts.compute = false;
    ts.replica = false;
    switch (ts.status) {
      case 'executing':
        ts.status = 'cancelled';
        ts.previous = 'executing';
        return;
      case 'flight':
        ts.status = 'cancelled';
        ts.previous = 'flight';
        return;
      case 'resumed':
        ts.status = 'cancelled';
        ts.resumeWith = null;
        return;
      case 'cancelled':
        return;
      default:
        break;
    }
    // A result local tasks still wait for stays until they have it.
    if (ts.status === 'memory' && [...ts.dependents].some((d) => d.status === 'waiting' || d.status === 'ready')) return;
    this.#forget(ts);
  }

  /** Drops a task: its data (if any), its place in the queues, and the dependencies only it needed. */
  #forget(ts: WTask): void {
    if (ts.status === 'memory') this.#out.push({ op: 'release', key: ts.key });
    this.ready.remove(ts);
    this.constrained.remove(ts);
    this.fetching.remove(ts);
    ts.status = 'released';
    this.tasks.delete(ts.key);
    for (const dep of ts.deps) {
      dep.dependents.delete(ts);
      // Not needed here any more (a replica that could not be fetched is nothing to hold).
      if (!dep.compute && (!dep.replica || dep.status === 'missing') && dep.dependents.size === 0) {
        if (dep.status === 'flight') {
          dep.status = 'cancelled';
          dep.previous = 'flight';
        } else if (dep.status === 'resumed') {
          dep.status = 'cancelled'; // still executing or in flight, as `previous` says
        } else if (dep.status !== 'cancelled') {
          this.#forget(dep);
        }
      }
    }
    ts.deps.clear();
    ts.waitingFor.clear();
    ts.payload = null;
    for (const dependent of ts.dependents) dependent.deps.delete(ts);
  }

  #acquire(keys: Record<string, string[]>): void {
    for (const [key, holders] of Object.entries(keys)) {
      const ts = this.#task(key);
      for (const holder of holders) ts.whoHas.add(holder);
      ts.replica = true;
      if (ts.status === 'memory') this.#tell('added-keys', { keys: [[key, ts.nbytes]] });
      // Fetched (a fetch let go of comes back), unless it is on its way already.
      else this.#need(ts, false);
    }
  }

  #stealRequest(key: string): void {
    const ts = this.tasks.get(key);
    // Not started, and no task here waits for it (one that does would wait for a key that is gone).
    if (ts !== undefined && ts.compute && (ts.status === 'waiting' || ts.status === 'ready') && ts.dependents.size === 0) {
      // Not started: it goes. Its dependencies stay if other tasks need them.
      this.#forget(ts);
      this.#tell('steal-response', { key, stolen: true });
      return;
    }
    this.#tell('steal-response', { key, stolen: false });
  }

  /** A client put data here (scatter): held until the scheduler frees it. The client tells the scheduler. */
  #putData(key: string, nbytes: number): void {
    const ts = this.#task(key);
    this.fetching.remove(ts);
    // A fetch of it under way ends unheeded.
    ts.flightFrom = null;
    ts.nbytes = nbytes;
    ts.replica = true;
    ts.status = 'memory';
    ts.previous = null;
    this.#satisfy(ts);
  }

  /**
   * A peer is gone for the scheduler. A fetch from it may never end by itself (a frozen process keeps its
   * sockets open): its connection is aborted, so the fetch fails and goes elsewhere. Queued fetches that
   * had only it to go to say so, as a failed fetch would.
   */
  #peerRemoved(address: string): void {
    this.#out.push({ op: 'drop-peer', worker: address });
    for (const ts of [...this.tasks.values()]) {
      if (!ts.whoHas.delete(address) || ts.status !== 'fetch' || ts.whoHas.size > 0) continue;
      this.fetching.remove(ts);
      this.#noHolderLeft(ts, address);
    }
  }

  // ---- executions ----

  #toReady(ts: WTask): void {
    ts.status = 'ready';
    this.ready.push(ts);
  }

  #startExecutions(): void {
    if (this.paused) return;
    const { nthreads, pipelineDepth } = this.config;
    for (;;) {
      let ts: WTask | undefined;
      if (this.executing.size < nthreads) {
        ts = this.#nextRunnable();
      } else if (this.executing.size < nthreads * (1 + pipelineDepth)) {
        // Threads busy: queue one more behind them, if it is known to be short.
        const next = this.ready.peek();
        if (next !== undefined && next.resources === null && this.#isShort(next)) ts = this.ready.pop();
      }
      if (ts === undefined) return;
      ts.status = 'executing';
      this.executing.add(ts);
      if (ts.resources !== null) for (const [r, n] of Object.entries(ts.resources)) this.usedResources[r] = (this.usedResources[r] ?? 0) + n;
      this.#out.push({ op: 'execute', key: ts.key, payload: ts.payload!, deps: [...ts.deps].map((d) => d.key) });
    }
  }

  #nextRunnable(): WTask | undefined {
    // Tasks waiting for resources go first once the resources are free.
    for (const ts of this.constrained) {
      if (this.#resourcesFree(ts)) {
        this.constrained.remove(ts);
        return ts;
      }
    }
    for (;;) {
      const ts = this.ready.pop();
      if (ts === undefined) return undefined;
      if (this.#resourcesFree(ts)) return ts;
      this.constrained.push(ts);
    }
  }

  #resourcesFree(ts: WTask): boolean {
    if (ts.resources === null) return true;
    for (const [r, n] of Object.entries(ts.resources)) {
      if ((this.config.resources[r] ?? 0) - (this.usedResources[r] ?? 0) < n) return false;
    }
    return true;
  }

  #isShort(ts: WTask): boolean {
    const average = this.#durations.get(keyPrefix(ts.key));
    return average !== undefined && average < this.config.shortTaskMs;
  }

  #executeEnded(key: string, error: TaskError | null, nbytes: number, typeName: string, duration: number): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    if (!this.executing.delete(ts)) return;
    if (this.config.pipelineDepth > 0) {
      const prefix = keyPrefix(key);
      const old = this.#durations.get(prefix);
      this.#durations.set(prefix, old === undefined ? duration : old * 0.8 + duration * 0.2);
    }
    if (ts.resources !== null) for (const [r, n] of Object.entries(ts.resources)) this.usedResources[r] = (this.usedResources[r] ?? 0) - n;
    if (ts.status === 'cancelled') {
      // Let go of while it ran: its outcome goes nowhere.
      if (error === null) this.#out.push({ op: 'release', key });
      ts.status = 'released';
      ts.previous = null;
      this.#forgetIfUnneeded(ts);
      return;
    }
    ts.previous = null;
    ts.resumeWith = null;
    if (error !== null) {
      const asked = ts.compute;
      ts.compute = false;
      if (asked) {
        this.#tell('task-erred', { key, error, duration });
        ts.payload = null; // a retry comes as a new compute-task
      }
      if (ts.replica || (ts.dependents.size > 0 && (!asked || ts.whoHas.size > 0))) {
        // Wanted here as data (a replica the scheduler asked for, or a dependency of tasks here, which
        // the scheduler says others hold): fetched from its holders instead.
        ts.status = 'released';
        this.#need(ts, ts.whoHas.size === 0);
        if ((ts.status as WTaskStatus) === 'missing' && ts.dependents.size === 0) this.#forget(ts);
        return;
      }
      // Nothing is kept of it: forgotten now, or with the last task here that waits for it (which the
      // scheduler stops, its input having failed).
      ts.status = 'error';
      if (ts.dependents.size === 0) this.#forget(ts);
      return;
    }
    ts.nbytes = nbytes;
    ts.status = 'memory';
    // Reported, so held until the scheduler frees it (even when it ran here only as a dependency).
    if (!ts.compute) ts.replica = true;
    this.#tell('task-finished', { key, nbytes, type: typeName, duration });
    this.#satisfy(ts);
  }

  /** A result is here: the tasks waiting for it move on. */
  #satisfy(ts: WTask): void {
    for (const dependent of ts.dependents) {
      if (dependent.waitingFor.delete(ts) && dependent.waitingFor.size === 0 && dependent.status === 'waiting') this.#toReady(dependent);
    }
  }

  #forgetIfUnneeded(ts: WTask): void {
    if (!ts.compute && !ts.replica && [...ts.dependents].every((d) => d.status === 'released')) this.#forget(ts);
  }

  // ---- fetching dependencies from peers ----

  #startGathers(): void {
    if (this.paused) return;
    while (this.inFlightFrom.size < this.config.maxGathers && this.fetching.size > 0) {
      // The most urgent dependency, from one of its holders that is not busy serving us already.
      const skipped: WTask[] = [];
      let chosen: { worker: string; keys: WTask[] } | null = null;
      while (this.fetching.size > 0 && chosen === null) {
        const ts = this.fetching.pop()!;
        const holder = [...ts.whoHas].find((w) => !this.inFlightFrom.has(w));
        if (holder === undefined) {
          skipped.push(ts);
          continue;
        }
        chosen = { worker: holder, keys: [ts] };
      }
      for (const ts of skipped) this.fetching.push(ts);
      if (chosen === null) return;
      // The same peer's other pending keys come along, up to gatherBytes.
      let bytes = chosen.keys[0]!.nbytes;
      for (const ts of [...this.fetching]) {
        if (bytes >= this.config.gatherBytes) break;
        if (!ts.whoHas.has(chosen.worker)) continue;
        this.fetching.remove(ts);
        chosen.keys.push(ts);
        bytes += ts.nbytes;
      }
      this.inFlightFrom.add(chosen.worker);
      for (const ts of chosen.keys) {
        ts.status = 'flight';
        ts.flightFrom = chosen.worker;
      }
      this.#out.push({ op: 'gather', worker: chosen.worker, keys: chosen.keys.map((ts) => ts.key) });
    }
  }

  #gatherDone(worker: string, received: Record<string, number>, missing: string[], failed: boolean): void {
    this.inFlightFrom.delete(worker);
    const missingSet = new Set(missing);
    for (const ts of this.tasks.values()) {
      if (ts.flightFrom !== worker) continue;
      const inFlight = ts.status === 'flight' || ((ts.status === 'cancelled' || ts.status === 'resumed') && ts.previous === 'flight');
      if (!inFlight) continue;
      ts.flightFrom = null;
      const nbytes = received[ts.key];
      if (nbytes !== undefined) {
        ts.nbytes = nbytes;
        if (ts.status === 'cancelled') {
          this.#out.push({ op: 'release', key: ts.key });
          ts.status = 'released';
          ts.previous = null;
          this.#forgetIfUnneeded(ts);
          continue;
        }
        this.#arrived(ts);
        continue;
      }
      // Not received: that peer does not have it (missing) or could not be reached (failed).
      if (failed || missingSet.has(ts.key)) ts.whoHas.delete(worker);
      if (ts.status === 'cancelled') {
        ts.status = 'released';
        ts.previous = null;
        this.#forgetIfUnneeded(ts);
        continue;
      }
      ts.previous = null;
      ts.status = 'released';
      if (ts.whoHas.size === 0) this.#noHolderLeft(ts, worker);
      else this.#need(ts, false);
    }
  }

  /** A key to fetch has no holder left (`holder`, the last, failed or is gone). */
  #noHolderLeft(ts: WTask, holder: string): void {
    // Asked to compute it while it was being fetched (kept through fetches from one holder after another):
    // computed here after all, with its own dependencies as the scheduler named them.
    const resumeWith = ts.compute ? ts.resumeWith : null;
    if (resumeWith !== null) {
      ts.resumeWith = null;
      ts.status = 'released';
      this.#computeTask(resumeWith);
      return;
    }
    ts.status = 'missing';
    this.#tell('missing-data', { key: ts.key, holder });
    // A replica nobody here needs and nobody has: nothing to wait for.
    if (!ts.compute && ts.dependents.size === 0) this.#forget(ts);
  }

  /**
   * Fetched data is here. Asked to compute it meanwhile: that is done. Else the scheduler learns of a new
   * replica, which this worker then holds until the scheduler frees it (it may place tasks here for it).
   */
  #arrived(ts: WTask): void {
    ts.status = 'memory';
    ts.previous = null;
    ts.resumeWith = null;
    if (ts.compute) {
      this.#tell('task-finished', { key: ts.key, nbytes: ts.nbytes, type: '', duration: 0 });
    } else {
      ts.replica = true;
      this.#tell('added-keys', { keys: [[ts.key, ts.nbytes]] });
    }
    this.#satisfy(ts);
  }

  /** What the worker has, for heartbeats and the dashboard. */
  counts(): { executing: number; ready: number; inFlight: number; memory: number } {
    let memory = 0;
    let inFlight = 0;
    for (const ts of this.tasks.values()) {
      if (ts.status === 'memory') memory++;
      else if (ts.status === 'flight') inFlight++;
    }
    return { executing: this.executing.size, ready: this.ready.size + this.constrained.size, inFlight, memory };
  }
}

/** A dependency is fetched as urgently as the most urgent task that needs it. */
function dependentPriority(dep: WTask): [number, number] {
  let best: [number, number] | null = null;
  for (const d of dep.dependents) if (best === null || d.priority[0] < best[0] || (d.priority[0] === best[0] && d.priority[1] < best[1])) best = d.priority;
  return best ?? dep.priority;
}
