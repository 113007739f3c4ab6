// TaskWorker: the I/O shell around WorkerState. It joins the scheduler, runs tasks in
// a thread pool (so the event loop stays free to heartbeat and to serve data), keeps
// results in a DataStore (spilling past its target), fetches dependencies from peers
// and serves its own results to them, and watches its memory.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import { connectRpc, listenRpc, Router, RpcError, RpcPool, type RpcPeer } from '../rpc/index.js';
import type { TransportListener } from '../transport/index.js';
import { parseAddress, formatAddress } from '../transport/index.js';
import { decodeFrames } from '../util/object-codec.js';
import { WorkerState, type WorkerInstruction, type WorkerEvent } from './state/worker-state.js';
import { ThreadPool } from './executor.js';
import { DataStore, sizeOf } from './data-store.js';
import { loadCode, type Code } from './code.js';
import { resolveRefs } from './graph.js';
import { taskErrorOf } from './errors.js';
import type { ComputeTask, WorkerMetrics } from './protocol.js';
import { invalidArgType } from '../util/validate.js';

/** How TaskWorker.start() joins a scheduler, and its threads, memory and resources. */
export interface TaskWorkerOptions {
  /** The scheduler's address ('ucx://host:port', 'tcp://...', 'inproc://...'). */
  scheduler: string;
  /** The cluster secret (the scheduler's). */
  secret: Buffer;
  /** Threads that run tasks (default 1). */
  nthreads?: number;
  /**
   * Bytes the worker may hold beyond its idle footprint (its resident memory once started, threads
   * warmed: baseRss); 0: no limit, the default. Results spill to disk past `targetFraction` of it
   * (counting their own sizes), and past `pauseFraction` (counting resident memory above baseRss) all
   * are spilled and, if some cannot be, tasks pause.
   */
  memoryLimit?: number;
  /** Of memoryLimit: results spill to disk past it (default 0.6). */
  targetFraction?: number;
  /** Of memoryLimit: past it everything is spilled and, if that is not enough, tasks pause (default 0.8). */
  pauseFraction?: number;
  /** Where this worker listens for peers; default the scheduler's scheme, on this host, any port. */
  listen?: string;
  /** A name for the dashboard and for TaskOptions.workers (default: its address). */
  name?: string;
  /** Abstract resources it offers ({ GPU: 2 }); tasks that ask for them run only where there are enough. */
  resources?: Record<string, number>;
  /** Spill directory (default: a fresh one under the OS's temp directory). */
  localDirectory?: string;
  /** How often it sends the scheduler its metrics (ms, default 500); one silent past the scheduler's workerTimeoutMs is removed. */
  heartbeatMs?: number;
  /**
   * Short tasks (under 1 ms on average for their key prefix) queued in each thread behind the running
   * one, so that a thread goes from one to the next without a round trip through the event loop
   * (default 3; 0 turns it off). They count as executing and are not stolen.
   */
  pipelineDepth?: number;
}

/** Small results travel with the task-finished message to the client that waits for them. */
const INLINE_RESULT_BYTES = 64 * 1024;

/** Events: 'close' (reason). */
export class TaskWorker extends EventEmitter {
  /** Where it listens for peers (its identity in the cluster). */
  readonly address: string;
  /** opts.name, or its address. */
  readonly name: string;
  /** Threads that run tasks. */
  readonly nthreads: number;
  /** Bytes it may hold beyond baseRss (0: no limit). */
  readonly memoryLimit: number;
  /** Resident bytes once started (threads warmed): what the memory limit does not count. */
  readonly baseRss: number;
  /** The worker's state machine (tasks, dependencies, fetches), to inspect in tests and tools; not a stable API. */
  readonly state: WorkerState;
  /** The results it holds, in memory or spilled to disk; not a stable API. */
  readonly store: DataStore;
  readonly #pool: ThreadPool;
  readonly #peers: RpcPool;
  readonly #listener: TransportListener;
  readonly #scheduler: RpcPeer;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #pauseBytes: number;
  /** Tasks whose result a client waits for (the scheduler says so with compute-task). */
  readonly #wanted = new Set<string>();
  #closing: Promise<void> | undefined;
  #removed = false;
  #bytesIn = 0;
  #bytesOut = 0;
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();

  private constructor(fields: {
    listener: TransportListener;
    scheduler: RpcPeer;
    peers: RpcPool;
    pool: ThreadPool;
    store: DataStore;
    state: WorkerState;
    name: string;
    nthreads: number;
    memoryLimit: number;
    pauseBytes: number;
    heartbeatMs: number;
    baseRss: number;
  }) {
    super();
    this.#listener = fields.listener;
    this.address = fields.listener.address;
    this.#scheduler = fields.scheduler;
    this.#peers = fields.peers;
    this.#pool = fields.pool;
    this.store = fields.store;
    this.state = fields.state;
    this.name = fields.name;
    this.nthreads = fields.nthreads;
    this.memoryLimit = fields.memoryLimit;
    this.baseRss = fields.baseRss;
    this.#pauseBytes = fields.pauseBytes;
    this.#heartbeat = setInterval(() => this.#beat(), fields.heartbeatMs);
    this.#heartbeat.unref();
    // The scheduler gone means the cluster is gone: this worker ends too.
    this.#scheduler.once('close', () => void this.close('the scheduler went away'));
  }

  /** Starts a worker: listens for peers, joins the scheduler, registers. */
  static async start(opts: TaskWorkerOptions): Promise<TaskWorker> {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
    if (typeof opts.scheduler !== 'string') throw invalidArgType('opts.scheduler', 'an address string', opts.scheduler);
    if (!Buffer.isBuffer(opts.secret)) throw invalidArgType('opts.secret', 'a Buffer', opts.secret);
    const nthreads = Math.max(1, Math.floor(opts.nthreads ?? 1));
    const memoryLimit = Math.max(0, opts.memoryLimit ?? 0);
    const pipelineDepth = Math.max(0, Math.floor(opts.pipelineDepth ?? 3));
    const state = new WorkerState({ nthreads, resources: opts.resources ?? {}, pipelineDepth });
    // With a limit, garbage is collected as results leave threads and go to disk (the process runs with
    // --expose-gc: Nanny): V8 would put it off, and a 4 MiB result left behind twice is 8 MiB the limit counts.
    const store = new DataStore({
      target: memoryLimit * (opts.targetFraction ?? 0.6),
      collectGarbage: memoryLimit > 0,
      ...(opts.localDirectory ? { directory: opts.localDirectory } : {}),
    });
    let self: TaskWorker | undefined;
    const early: RpcPeer[] = [];
    const router = new Router((error, op, peer) =>
      self?.emit('warning', new RpcError('ERR_RPC_REMOTE', `${op} from ${peer.name}: ${(error as Error).message}`, { cause: error })),
    );
    const listenAt = opts.listen ?? defaultListenAddress(opts.scheduler);
    const listener = await listenRpc(listenAt, {
      secret: opts.secret,
      role: 'worker',
      router,
      onPeer: (peer) => (self ? self.#adoptPeer(peer) : early.push(peer)),
    });
    const name = opts.name ?? listener.address;
    const identity = { name: listener.address, role: 'worker' };
    const peers = new RpcPool({ secret: opts.secret, self: identity, router });
    let scheduler: RpcPeer;
    try {
      scheduler = await connectRpc(opts.scheduler, { secret: opts.secret, self: identity, router });
    } catch (error) {
      await listener.close();
      throw error;
    }
    const pool = new ThreadPool(nthreads, { depth: 1 + pipelineDepth, ...(memoryLimit > 0 ? { collectAboveBytes: 4 << 20 } : {}) });
    // The footprint the limit does not count is measured once the threads have started and run a task.
    if (memoryLimit > 0) await pool.warm();
    self = new TaskWorker({
      listener,
      scheduler,
      peers,
      pool,
      store,
      state,
      name,
      nthreads,
      memoryLimit,
      pauseBytes: memoryLimit * (opts.pauseFraction ?? 0.8),
      heartbeatMs: opts.heartbeatMs ?? 500,
      baseRss: process.memoryUsage.rss(),
    });
    self.#routes(router);
    for (const peer of early) self.#adoptPeer(peer);
    try {
      await scheduler.call('register', { name, nthreads, memoryLimit, resources: opts.resources ?? {}, pid: process.pid });
    } catch (error) {
      await self.close('registration failed');
      throw error;
    }
    return self;
  }

  /** Whether close() was called (or the scheduler went away). */
  get closed(): boolean {
    return this.#closing !== undefined;
  }
  /** Whether the scheduler removed this worker (it timed out) rather than retiring or closing it. */
  get removedByScheduler(): boolean {
    return this.#removed;
  }

  /** Stops: running tasks are abandoned, threads and connections closed, spilled data removed. Idempotent. */
  close(reason = 'closed'): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat);
      await this.#listener.close();
      await this.#scheduler.close().catch(() => {});
      await this.#peers.close();
      await this.#pool.close();
      await this.store.close();
      this.emit('close', reason);
    })();
    return this.#closing;
  }

  #adoptPeer(peer: RpcPeer): void {
    if (peer.role === 'worker') this.#peers.adopt(peer);
  }

  #routes(router: Router): void {
    const fromScheduler =
      (handler: (body: Record<string, unknown>) => unknown) =>
      (body: unknown, peer: RpcPeer): unknown => {
        if (peer !== this.#scheduler) throw new RpcError('ERR_RPC_AUTH', `only the scheduler may do that (${peer.role} ${peer.name} tried)`);
        return handler(typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {});
      };
    router
      .on(
        'compute-task',
        fromScheduler((body) => {
          const task = body as unknown as ComputeTask & { wanted?: boolean };
          if (task.wanted === true) this.#wanted.add(task.key);
          this.#handle({ type: 'compute-task', task });
        }),
      )
      .on(
        'free-keys',
        fromScheduler((body) => {
          const keys = body.keys as string[];
          for (const key of keys) this.#wanted.delete(key);
          this.#handle({ type: 'free-keys', keys });
        }),
      )
      .on(
        'steal-request',
        fromScheduler((body) => this.#handle({ type: 'steal-request', key: String(body.key) })),
      )
      .on(
        'acquire-replicas',
        fromScheduler((body) => this.#handle({ type: 'acquire-replicas', keys: body.keys as Record<string, string[]> })),
      )
      .on(
        'run',
        fromScheduler((body) => this.#runHere(body.payload)),
      )
      .on(
        'close',
        fromScheduler((body) => {
          if (body.removed === true) this.#removed = true;
          void this.close(String(body.reason ?? 'closed by the scheduler'));
        }),
      )
      .on(
        'remove-peer',
        fromScheduler((body) => this.#handle({ type: 'peer-removed', worker: String(body.address) })),
      )
      // Peers and clients: results out, scattered data in.
      .on('get-data', async (body) => {
        const keys = (body as { keys?: unknown }).keys;
        if (!Array.isArray(keys)) throw new TypeError('get-data wants { keys: [...] }');
        const data: Record<string, unknown> = {};
        for (const key of keys) {
          if (typeof key !== 'string' || !this.store.has(key)) continue;
          data[key] = await this.store.get(key);
          this.#bytesOut += this.store.nbytesOf(key);
        }
        return { data };
      })
      .on('put-data', (body, peer) => {
        if (peer.role !== 'client') throw new RpcError('ERR_RPC_AUTH', 'only clients put data');
        const data = (body as { data?: Record<string, unknown> }).data ?? {};
        const sizes: [string, number][] = [];
        for (const [key, value] of Object.entries(data)) {
          const nbytes = sizeOf(value);
          this.store.set(key, value, nbytes);
          this.#handle({ type: 'put-data', key, nbytes });
          sizes.push([key, nbytes]);
        }
        return { keys: sizes };
      });
  }

  #handle(event: WorkerEvent): void {
    if (this.closed) return;
    for (const instruction of this.state.handle(event)) this.#do(instruction);
  }

  #do(instruction: WorkerInstruction): void {
    switch (instruction.op) {
      case 'execute':
        void this.#execute(instruction.key, instruction.payload, instruction.deps);
        break;
      case 'gather':
        void this.#gather(instruction.worker, instruction.keys);
        break;
      case 'release':
        this.store.delete(instruction.key);
        break;
      case 'drop-peer':
        this.#peers.drop(instruction.worker);
        break;
      case 'scheduler': {
        let body = instruction.body;
        if (instruction.message === 'task-finished') {
          const { key, nbytes } = body as { key: string; nbytes: number };
          if (this.#wanted.delete(key) && nbytes <= INLINE_RESULT_BYTES && this.store.inMemory(key)) {
            body = { ...(body as object), inline: [this.store.peek(key)] };
          }
        }
        this.#scheduler.send(instruction.message, body);
        break;
      }
    }
  }

  async #execute(key: string, payload: Buffer[], deps: string[]): Promise<void> {
    let code: Code;
    let args: unknown[];
    try {
      [code, args] = decodeFrames(payload) as [Code, unknown[]];
      const values = new Map<string, unknown>();
      for (const dep of deps) values.set(dep, await this.store.get(dep));
      args = resolveRefs(args, (k) => values.get(k)) as unknown[];
    } catch (error) {
      this.#handle({ type: 'execute-failure', key, error: taskErrorOf(error), duration: 0 });
      return;
    }
    const outcome = await this.#pool.run(code, args);
    if (this.closed) return;
    if (!outcome.ok) {
      this.#handle({ type: 'execute-failure', key, error: outcome.error, duration: outcome.duration });
      return;
    }
    const nbytes = sizeOf(outcome.value);
    // A task cancelled while it ran: WorkerState drops the result (a 'release' instruction).
    this.store.set(key, outcome.value, nbytes);
    this.#handle({ type: 'execute-success', key, nbytes, typeName: typeNameOf(outcome.value), duration: outcome.duration });
    this.#checkMemory();
  }

  async #gather(worker: string, keys: string[]): Promise<void> {
    let data: Record<string, unknown>;
    try {
      const peer = await this.#peers.get(worker);
      ({ data } = await peer.call<{ data: Record<string, unknown> }>('get-data', { keys }));
    } catch {
      if (!this.closed) this.#handle({ type: 'gather-done', worker, received: {}, missing: [], failed: true });
      return;
    }
    if (this.closed) return;
    const received: Record<string, number> = {};
    const missing: string[] = [];
    for (const key of keys) {
      if (!Object.hasOwn(data, key)) {
        missing.push(key);
        continue;
      }
      const nbytes = sizeOf(data[key]);
      this.store.set(key, data[key], nbytes);
      received[key] = nbytes;
      this.#bytesIn += nbytes;
    }
    this.#handle({ type: 'gather-done', worker, received, missing, failed: false });
    this.#checkMemory();
  }

  /** client.run(fn): in this worker's own thread, with the process at hand (a pid, the environment). */
  async #runHere(payload: unknown): Promise<unknown> {
    const [code, args] = decodeFrames(payload as Buffer[]) as [Code, unknown[]];
    const fn = await loadCode(code);
    return fn(...args);
  }

  /**
   * Past the pause threshold (resident memory above the baseline) every result goes to disk; if some
   * cannot, no task starts and nothing is fetched until memory drops again.
   */
  #checkMemory(): void {
    if (this.#pauseBytes <= 0) return;
    let held = process.memoryUsage.rss() - this.baseRss;
    if (held > this.#pauseBytes && this.store.memoryBytes > 0) {
      this.store.spillAll();
      held = process.memoryUsage.rss() - this.baseRss;
    }
    const paused = held > this.#pauseBytes && this.store.memoryBytes > 0;
    if (paused !== this.state.paused) {
      this.#handle({ type: 'pause', paused });
      this.#scheduler.send('status', { paused });
    }
  }

  #beat(): void {
    this.#checkMemory();
    const counts = this.state.counts();
    const now = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const elapsed = now - this.#cpuAt;
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    const metrics: WorkerMetrics = {
      memory: this.store.memoryBytes,
      spilled: this.store.spilledBytes,
      rss: process.memoryUsage.rss(),
      executing: counts.executing,
      ready: counts.ready,
      inFlight: counts.inFlight,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      cpu: elapsed > 0 ? (cpu.user + cpu.system) / 1000 / elapsed : 0,
      paused: this.state.paused,
    };
    this.#bytesIn = 0;
    this.#bytesOut = 0;
    this.#scheduler.send('heartbeat', metrics);
  }
}

function typeNameOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'Object';
}

/** The scheduler's scheme, on the address this host is reached at from the scheduler's side. */
function defaultListenAddress(scheduler: string): string {
  const { scheme, host } = parseAddress(scheduler);
  if (scheme === 'inproc') return formatAddress('inproc', 'worker', 0);
  if (host === '127.0.0.1' || host === 'localhost' || host === '::1') return formatAddress(scheme, host, 0);
  return formatAddress(scheme, routableHost(), 0);
}

/** This host's first non-internal IPv4 address (loopback if it has none). */
export function routableHost(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '127.0.0.1';
}
