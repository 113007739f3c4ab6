// Scheduler: the I/O shell around SchedulerState. It listens (rpc/), lets in clients
// and workers that know the cluster secret, turns their messages into events and the
// state's instructions into messages, and ticks the clock for timeouts and stealing.
// It holds no results, only who has them.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { listenRpc, Router, RpcError, type RpcPeer } from '../rpc/index.js';
import type { TransportListener } from '../transport/index.js';
import { SchedulerState, type SchedulerConfig, type SchedulerEvent, type SchedulerInstruction } from './state/scheduler-state.js';
import type { SchedulerInfo, TaskError, TaskSpec, WorkerMetrics, WorkerSpec } from './protocol.js';
import { invalidArgType } from '../util/validate.js';
import { Dashboard, type DashboardOptions } from './dashboard.js';

/** How Scheduler.start() listens and tunes the scheduling (LocalCluster passes opts.scheduler here). */
export interface SchedulerOptions {
  /** Where to listen: 'ucx://0.0.0.0:0' (the default), 'tcp://host:port', 'inproc://name:0'. */
  address?: string;
  /** The cluster secret (default: 32 fresh random bytes). */
  secret?: Buffer;
  /** Tuning of the state machine (saturation, allowed failures, worker timeout, stealing). */
  config?: Partial<SchedulerConfig>;
  /** How often the scheduler checks timeouts and balances work (ms). */
  tickMs?: number;
  /** A read-only web dashboard and /metrics (true: on 127.0.0.1:8787); see dashboardAddress. */
  dashboard?: boolean | DashboardOptions;
}

/** What the scheduler tells observers (the dashboard, metrics), as it happens. */
export interface TaskRecord {
  /** The task's key. */
  key: string;
  /** The address of the worker that ran it. */
  worker: string;
  /** 'memory': it finished and its result is held; 'erred': it threw. */
  status: 'memory' | 'erred';
  /** How long it ran on the worker (ms). */
  duration: number;
  /** The size of its result (0 when it erred). */
  nbytes: number;
  /** When the scheduler heard of it (Date.now()). */
  at: number;
}

/**
 * Events: 'task' (TaskRecord) for each finished or failed task, 'worker-added' (address),
 * 'worker-removed' (address, reason), 'client-added' (id), 'client-removed' (id), 'close'.
 */
export class Scheduler extends EventEmitter {
  /** The address it listens on, with the port bound (what workers and clients connect to). */
  readonly address: string;
  /** The cluster secret clients and workers must prove they know. */
  readonly secret: Buffer;
  /** The scheduling state machine (tasks, workers, counts), to inspect in tests and tools; not a stable API. */
  readonly state: SchedulerState;
  readonly #listener: TransportListener;
  readonly #clients = new Map<string, RpcPeer>();
  readonly #workers = new Map<string, RpcPeer>();
  readonly #retireWaiters = new Map<number, (workers: string[]) => void>();
  readonly #tick: NodeJS.Timeout;
  #retireSeq = 0;
  #closing: Promise<void> | undefined;
  /** Bytes of task results the workers reported moving between them (dashboard). */
  bytesMoved = 0;
  #dashboard: Dashboard | undefined;

  private constructor(listener: TransportListener, secret: Buffer, state: SchedulerState, tickMs: number) {
    super();
    this.#listener = listener;
    this.address = listener.address;
    this.secret = secret;
    this.state = state;
    this.#tick = setInterval(() => this.#apply({ type: 'tick', now: Date.now() }), tickMs);
    this.#tick.unref();
  }

  /** Starts a scheduler listening on `opts.address`. */
  static async start(opts: SchedulerOptions = {}): Promise<Scheduler> {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
    const secret = opts.secret ?? randomBytes(32);
    if (!Buffer.isBuffer(secret) || secret.length < 16) throw invalidArgType('opts.secret', 'a Buffer of 16 bytes or more', secret);
    const state = new SchedulerState(opts.config);
    const router = new Router((error, op, peer) => {
      // A one-way message that failed: the peer sent something this scheduler cannot use.
      self?.emit('warning', new RpcError('ERR_RPC_REMOTE', `${op} from ${peer.name} failed: ${(error as Error).message}`, { cause: error }));
    });
    let self: Scheduler | undefined;
    const pending: RpcPeer[] = [];
    const listener = await listenRpc(opts.address ?? 'ucx://0.0.0.0:0', {
      secret,
      role: 'scheduler',
      router,
      onPeer: (peer) => (self ? self.#adopt(peer) : pending.push(peer)),
    });
    self = new Scheduler(listener, secret, state, opts.tickMs ?? 100);
    self.#routes(router);
    for (const peer of pending) self.#adopt(peer);
    if (opts.dashboard !== undefined && opts.dashboard !== false) {
      try {
        self.#dashboard = await Dashboard.start(self, opts.dashboard === true ? {} : opts.dashboard);
      } catch (error) {
        await self.close();
        throw error;
      }
    }
    return self;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The dashboard's URL ('http://127.0.0.1:8787/'), or null without one. */
  get dashboardAddress(): string | null {
    return this.#dashboard?.address ?? null;
  }

  /** Workers by address, and what the state knows of them. */
  info(): SchedulerInfo {
    const workers: SchedulerInfo['workers'] = {};
    for (const ws of this.state.workers.values()) {
      workers[ws.address] = {
        name: ws.name,
        nthreads: ws.nthreads,
        memoryLimit: ws.memoryLimit,
        resources: ws.resources,
        processing: ws.processing.size,
        stored: ws.hasWhat.size,
        nbytes: ws.nbytes,
        status: ws.status,
        metrics: ws.metrics,
      };
    }
    const tasks: Record<string, number> = {};
    for (const [status, count] of Object.entries(this.state.counts)) if (count > 0) tasks[status] = count;
    return { address: this.address, workers, tasks, bytesMoved: this.bytesMoved };
  }

  /** Moves the workers' unique results elsewhere, then closes them; resolves with their addresses. */
  retireWorkers(addresses: string[]): Promise<string[]> {
    const request = ++this.#retireSeq;
    return new Promise<string[]>((resolve) => {
      this.#retireWaiters.set(request, resolve);
      this.#apply({ type: 'retire-workers', request, workers: addresses });
    });
  }

  /** Stops listening, closes every connection (workers then exit; clients' futures reject). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#tick);
      await this.#dashboard?.close();
      await this.#listener.close();
      for (const peer of this.#workers.values()) peer.send('close', { reason: 'the scheduler closed' });
      await Promise.all([...this.#workers.values(), ...this.#clients.values()].map((peer) => peer.close().catch(() => {})));
      for (const resolve of this.#retireWaiters.values()) resolve([]);
      this.#retireWaiters.clear();
      this.emit('close');
    })();
    return this.#closing;
  }

  // ---- peers ----

  #adopt(peer: RpcPeer): void {
    if (this.closed) {
      peer.abort();
      return;
    }
    if (peer.role === 'client') {
      this.#clients.set(peer.name, peer);
      this.emit('client-added', peer.name);
      peer.once('close', () => {
        if (this.#clients.get(peer.name) !== peer) return;
        this.#clients.delete(peer.name);
        this.#apply({ type: 'client-gone', client: peer.name });
        this.emit('client-removed', peer.name);
      });
    } else if (peer.role === 'worker') {
      // Registered by its 'register' call; until then it is only connected.
      peer.once('close', () => {
        if (this.#workers.get(peer.name) !== peer) return;
        this.#workers.delete(peer.name);
        this.#apply({ type: 'worker-removed', worker: peer.name, reason: 'its connection closed' });
        this.emit('worker-removed', peer.name, 'connection closed');
      });
    } else {
      peer.abort();
    }
  }

  /** Handlers, each for one role: a client cannot report task results, a worker cannot submit graphs. */
  #routes(router: Router): void {
    const client =
      (handler: (body: Record<string, unknown>, peer: RpcPeer) => unknown) =>
      (body: unknown, peer: RpcPeer): unknown => {
        if (peer.role !== 'client') throw new RpcError('ERR_RPC_AUTH', `a ${peer.role} may not do that`);
        return handler(asRecord(body), peer);
      };
    const worker =
      (handler: (body: Record<string, unknown>, peer: RpcPeer) => unknown) =>
      (body: unknown, peer: RpcPeer): unknown => {
        if (peer.role !== 'worker') throw new RpcError('ERR_RPC_AUTH', `a ${peer.role} may not do that`);
        return handler(asRecord(body), peer);
      };
    router
      .on(
        'update-graph',
        client((body, peer) => this.#apply({ type: 'update-graph', client: peer.name, tasks: taskSpecs(body.tasks), wanted: strings(body.wanted) })),
      )
      .on(
        'release-keys',
        client((body, peer) => this.#apply({ type: 'release-keys', client: peer.name, keys: strings(body.keys) })),
      )
      .on(
        'cancel-keys',
        client((body, peer) => this.#apply({ type: 'cancel-keys', client: peer.name, keys: strings(body.keys) })),
      )
      .on(
        'who-has',
        client((body) => {
          const out: Record<string, string[]> = {};
          for (const key of strings(body.keys)) {
            const ts = this.state.tasks.get(key);
            out[key] = ts === undefined ? [] : [...ts.whoHas].map((ws) => ws.address);
          }
          return out;
        }),
      )
      .on(
        'scatter-targets',
        client((body) => {
          const running = [...this.state.workers.values()].filter((ws) => ws.status === 'running');
          if (body.broadcast === true) return running.map((ws) => ws.address);
          running.sort((a, b) => a.nbytes - b.nbytes);
          return running.map((ws) => ws.address);
        }),
      )
      .on(
        'scattered',
        client((body, peer) =>
          this.#apply({
            type: 'scattered',
            client: peer.name,
            worker: String(body.worker),
            keys: pairs(body.keys),
          }),
        ),
      )
      .on(
        'run',
        client((body) => this.#runEverywhere(body.payload)),
      )
      .on(
        'info',
        client(() => this.info()),
      )
      .on(
        'retire-workers',
        client((body) => this.retireWorkers(strings(body.workers))),
      )
      .on(
        'register',
        worker((body, peer) => {
          const spec = workerSpec(body, peer.name);
          this.#workers.set(peer.name, peer);
          this.#apply({ type: 'worker-added', spec, now: Date.now() });
          this.emit('worker-added', peer.name);
          return { ok: true };
        }),
      )
      .on(
        'task-finished',
        worker((body, peer) => {
          const key = String(body.key);
          const duration = Number(body.duration) || 0;
          const nbytes = Number(body.nbytes) || 0;
          this.#apply(
            { type: 'task-finished', worker: peer.name, key, nbytes, typeName: String(body.type ?? ''), duration },
            Array.isArray(body.inline) ? body.inline : undefined,
          );
          this.emit('task', { key, worker: peer.name, status: 'memory', duration, nbytes, at: Date.now() } satisfies TaskRecord);
        }),
      )
      .on(
        'task-erred',
        worker((body, peer) => {
          const key = String(body.key);
          const duration = Number(body.duration) || 0;
          this.#apply({ type: 'task-erred', worker: peer.name, key, error: taskError(body.error), duration });
          this.emit('task', { key, worker: peer.name, status: 'erred', duration, nbytes: 0, at: Date.now() } satisfies TaskRecord);
        }),
      )
      .on(
        'missing-data',
        worker((body, peer) => this.#apply({ type: 'missing-data', worker: peer.name, key: String(body.key), holder: String(body.holder ?? '') })),
      )
      .on(
        'added-keys',
        worker((body, peer) => {
          const keys = pairs(body.keys);
          for (const [, nbytes] of keys) this.bytesMoved += nbytes;
          this.#apply({ type: 'added-keys', worker: peer.name, keys });
        }),
      )
      .on(
        'steal-response',
        worker((body, peer) => this.#apply({ type: 'steal-response', worker: peer.name, key: String(body.key), stolen: body.stolen === true })),
      )
      .on(
        'freed',
        worker((body, peer) => this.#apply({ type: 'keys-freed', worker: peer.name, keys: strings(body.keys) })),
      )
      .on(
        'status',
        worker((body, peer) => this.#apply({ type: 'worker-status', worker: peer.name, paused: body.paused === true })),
      )
      .on(
        'heartbeat',
        worker((body, peer) => this.#apply({ type: 'heartbeat', worker: peer.name, now: Date.now(), metrics: body as unknown as WorkerMetrics })),
      );
  }

  /** One event through the state, its instructions out. `inline`: [a small result] a worker sent along, for the clients that want it. */
  #apply(event: SchedulerEvent, inline?: unknown[]): void {
    let instructions: SchedulerInstruction[];
    try {
      instructions = this.state.handle(event);
    } catch (error) {
      // A bug in a transition must not take the scheduler down with it; it is reported.
      this.emit('warning', error);
      return;
    }
    for (const instruction of instructions) {
      switch (instruction.kind) {
        case 'worker': {
          const peer = this.#workers.get(instruction.worker);
          if (peer === undefined) break; // gone: its removal is being handled
          let body = instruction.body;
          if (instruction.op === 'compute-task') {
            // Whether a client waits for it: then a small result comes back with task-finished.
            const ts = this.state.tasks.get((body as { key: string }).key);
            body = { ...(body as object), wanted: ts !== undefined && ts.wantedBy.size > 0 };
          }
          peer.send(instruction.op, body);
          break;
        }
        case 'client': {
          const body = instruction.op === 'key-in-memory' ? this.#withHolders(instruction.body as { key: string }, inline) : instruction.body;
          this.#clients.get(instruction.client)?.send(instruction.op, body);
          break;
        }
        case 'close-worker': {
          const peer = this.#workers.get(instruction.worker);
          if (peer !== undefined) {
            // removed: it timed out, and exits so that its nanny restarts it (worker-exit.ts).
            peer.send('close', { reason: instruction.reason, removed: instruction.removed === true });
            this.#workers.delete(instruction.worker);
            void peer.close().catch(() => {});
            this.emit('worker-removed', instruction.worker, instruction.reason);
          }
          break;
        }
        case 'retired': {
          const resolve = this.#retireWaiters.get(instruction.request);
          this.#retireWaiters.delete(instruction.request);
          resolve?.(instruction.workers);
          break;
        }
      }
    }
  }

  /** A key-in-memory message names the holders (the client fetches from them), and carries the value if it is small and came along. */
  #withHolders(body: { key: string }, inline: unknown[] | undefined): unknown {
    const ts = this.state.tasks.get(body.key);
    const workers = ts === undefined ? [] : [...ts.whoHas].map((ws) => ws.address);
    return inline === undefined ? { ...body, workers } : { ...body, workers, inline };
  }

  async #runEverywhere(payload: unknown): Promise<Record<string, unknown>> {
    const results: Record<string, unknown> = {};
    await Promise.all(
      [...this.#workers.entries()].map(async ([address, peer]) => {
        try {
          results[address] = { ok: true, value: await peer.call('run', { payload }) };
        } catch (error) {
          const remote = (error as RpcError).remote;
          results[address] = { ok: false, error: { name: remote?.name ?? 'Error', message: (error as Error).message, stack: remote?.stack } };
        }
      }),
    );
    return results;
  }
}

// ---- checking what peers send (they are authenticated, but a bug or a version skew must not corrupt the state) ----

function asRecord(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new TypeError('the message body is not an object');
  return body as Record<string, unknown>;
}

function strings(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new TypeError('expected a list of keys');
  return value as string[];
}

function pairs(value: unknown): [string, number][] {
  if (!Array.isArray(value)) throw new TypeError('expected a list of [key, nbytes]');
  return value.map((pair) => {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string') throw new TypeError('expected [key, nbytes]');
    return [pair[0], Number(pair[1]) || 0] as [string, number];
  });
}

function taskSpecs(value: unknown): TaskSpec[] {
  if (!Array.isArray(value)) throw new TypeError('expected a list of tasks');
  return value.map((raw) => {
    const t = asRecord(raw);
    if (typeof t.key !== 'string' || t.key.length === 0) throw new TypeError('a task without a key');
    if (!Array.isArray(t.payload) || !t.payload.every((f) => f instanceof Uint8Array)) throw new TypeError(`task ${t.key}: a payload that is not frames`);
    const spec: TaskSpec = {
      key: t.key,
      deps: strings(t.deps ?? []),
      payload: (t.payload as Uint8Array[]).map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)),
    };
    if (typeof t.priority === 'number') spec.priority = t.priority;
    if (typeof t.retries === 'number') spec.retries = t.retries;
    if (Array.isArray(t.workers)) spec.workers = strings(t.workers);
    if (typeof t.resources === 'object' && t.resources !== null) spec.resources = t.resources as Record<string, number>;
    return spec;
  });
}

function workerSpec(body: Record<string, unknown>, address: string): WorkerSpec {
  return {
    address,
    name: typeof body.name === 'string' && body.name !== '' ? body.name : address,
    nthreads: Math.max(1, Math.floor(Number(body.nthreads) || 1)),
    memoryLimit: Math.max(0, Number(body.memoryLimit) || 0),
    resources: typeof body.resources === 'object' && body.resources !== null ? (body.resources as Record<string, number>) : {},
    pid: Number(body.pid) || 0,
  };
}

function taskError(value: unknown): TaskError {
  const e = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const out: TaskError = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(value) };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.stack === 'string') out.stack = e.stack;
  return out;
}
