// LocalCluster: a scheduler in this process and workers on this machine, each in a
// process of its own under a Nanny (or, with `processes: false` or the inproc
// protocol, in this process) — the embedded default, `new LocalCluster({ workers: 2 })`.
// scale(n) and adapt({ minimum, maximum }) change the number of workers as Dask's do:
// more when work queues up, idle ones retired (their unique results moved first).
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { TaskWorker, type TaskWorkerOptions } from './task-worker.js';
import { Nanny } from './nanny.js';
import type { DashboardOptions } from './dashboard.js';
import { invalidArgValue, validateInteger } from '../util/validate.js';

/** The transport a LocalCluster's scheduler and workers talk over. */
export type Protocol = 'ucx' | 'tcp' | 'inproc';

/** A LocalCluster's size, transport and tuning. */
export interface LocalClusterOptions {
  /** Worker processes to start (default: the number of CPUs, at most 4). */
  workers?: number;
  /** Threads per worker (default 1). */
  threads?: number;
  /** Bytes per worker (0: no limit); results spill past 60 %, tasks pause past 80 %, the nanny restarts it past 95 %. */
  memoryLimit?: number;
  /** 'ucx' (default), 'tcp' or 'inproc' (one process, no network: for tests and small jobs). */
  protocol?: Protocol;
  /** Workers in processes of their own (default true; false runs them in this process). */
  processes?: boolean;
  /** The host to listen on (default 127.0.0.1). */
  host?: string;
  /** Passed to the scheduler (tuning). */
  scheduler?: Omit<SchedulerOptions, 'address' | 'secret'>;
  /** Passed to each worker. */
  worker?: Omit<TaskWorkerOptions, 'scheduler' | 'secret' | 'nthreads' | 'memoryLimit'>;
  /** The scheduler's read-only web dashboard and /metrics (true: on 127.0.0.1:8787); see dashboardLink. */
  dashboard?: boolean | DashboardOptions;
}

interface WorkerHandle {
  nanny: Nanny | null;
  inProcess: TaskWorker | null;
  address: string | null;
}

/** A scheduler and workers on this machine (Dask's LocalCluster): pass it to a Client to run tasks without any setup. */
export class LocalCluster {
  /** Resolves once the scheduler listens and the first workers joined (a Client made with the cluster waits for it). */
  readonly ready: Promise<this>;
  /** The cluster secret (random per cluster) that clients and workers authenticate with. */
  readonly secret: Buffer = randomBytes(32);
  /** The transport chosen (opts.protocol, default 'ucx'). */
  readonly protocol: Protocol;
  /** Whether workers run in processes of their own (false with 'inproc' or processes: false). */
  readonly processes: boolean;
  #scheduler: Scheduler | undefined;
  readonly #opts: LocalClusterOptions;
  readonly #handles: WorkerHandle[] = [];
  #adapt: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: LocalClusterOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw invalidArgValue('opts', opts, 'must be an object');
    const workers = opts.workers ?? Math.min(4, os.availableParallelism());
    validateInteger(workers, 'opts.workers', 0, 1024);
    validateInteger(opts.threads ?? 1, 'opts.threads', 1, 1024);
    const protocol = opts.protocol ?? 'ucx';
    if (!['ucx', 'tcp', 'inproc'].includes(protocol)) throw invalidArgValue('opts.protocol', protocol, "must be 'ucx', 'tcp' or 'inproc'");
    this.protocol = protocol;
    this.processes = protocol !== 'inproc' && opts.processes !== false;
    this.#opts = opts;
    const secret = this.secret;
    this.ready = (async () => {
      const host = protocol === 'inproc' ? 'cluster' : (opts.host ?? '127.0.0.1');
      const dashboard = opts.dashboard !== undefined ? { dashboard: opts.dashboard } : {};
      this.#scheduler = await Scheduler.start({ ...opts.scheduler, ...dashboard, address: `${protocol}://${host}:0`, secret });
      await this.scale(workers);
      return this;
    })();
    this.ready.catch(() => {});
  }

  /** The scheduler (in this process). */
  get scheduler(): Scheduler {
    if (this.#scheduler === undefined) throw new Error('the cluster is not ready yet (await cluster.ready)');
    return this.#scheduler;
  }

  /** The scheduler's address, for a Client or `ucx-worker` elsewhere on this machine. */
  get schedulerAddress(): string {
    return this.scheduler.address;
  }

  /** The dashboard's URL, or null when the cluster has none. */
  get dashboardLink(): string | null {
    return this.scheduler.dashboardAddress;
  }

  /** The workers' addresses, as they run now. */
  get workers(): string[] {
    return this.#handles.map((h) => h.address).filter((a): a is string => a !== null);
  }

  /** Nannies of the worker processes (to kill one in a test, say). */
  get nannies(): Nanny[] {
    return this.#handles.map((h) => h.nanny).filter((n): n is Nanny => n !== null);
  }

  /** Grows or shrinks to `n` workers; shrinking retires the newest ones gracefully. Resolves when done. */
  async scale(n: number): Promise<void> {
    validateInteger(n, 'n', 0, 1024);
    if (this.#closing) return;
    const starting: Promise<void>[] = [];
    while (this.#handles.length < n) starting.push(this.#startWorker());
    await Promise.all(starting);
    if (this.#handles.length > n) {
      const leaving = this.#handles.splice(n);
      const addresses = leaving.map((h) => h.address).filter((a): a is string => a !== null);
      if (addresses.length > 0) await this.scheduler.retireWorkers(addresses);
      await Promise.all(leaving.map((h) => this.#stopWorker(h)));
    }
  }

  /**
   * Adaptive: every `intervalMs`, as many workers as the queued and running work needs (one per
   * `tasksPerWorker` waiting tasks), within [minimum, maximum]; idle workers beyond the minimum are retired.
   */
  adapt(opts: { minimum?: number; maximum?: number; intervalMs?: number; tasksPerWorker?: number } = {}): void {
    const minimum = opts.minimum ?? 0;
    const maximum = opts.maximum ?? Math.max(minimum, os.availableParallelism());
    validateInteger(minimum, 'opts.minimum', 0, 1024);
    validateInteger(maximum, 'opts.maximum', minimum, 1024);
    if (this.#adapt !== undefined) clearInterval(this.#adapt);
    let busy = false;
    this.#adapt = setInterval(() => {
      if (busy || this.#closing || this.#scheduler === undefined) return;
      const counts = this.#scheduler.state.counts;
      const work = counts.queued + counts.processing + counts['no-worker'] + counts.waiting;
      const threads = this.#opts.threads ?? 1;
      const wanted = Math.min(maximum, Math.max(minimum, Math.ceil(work / ((opts.tasksPerWorker ?? 2) * threads))));
      if (wanted === this.#handles.length) return;
      busy = true;
      this.scale(wanted)
        .catch(() => {})
        .finally(() => {
          busy = false;
        });
    }, opts.intervalMs ?? 200);
    this.#adapt.unref();
  }

  /** Stops the workers and the scheduler. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#adapt !== undefined) clearInterval(this.#adapt);
      await this.ready.catch(() => {});
      await Promise.all(this.#handles.splice(0).map((h) => this.#stopWorker(h)));
      await this.#scheduler?.close();
    })();
    return this.#closing;
  }

  /** `await using cluster = new LocalCluster()`: closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #startWorker(): Promise<void> {
    const handle: WorkerHandle = { nanny: null, inProcess: null, address: null };
    this.#handles.push(handle);
    const workerOptions = {
      ...this.#opts.worker,
      nthreads: this.#opts.threads ?? 1,
      memoryLimit: this.#opts.memoryLimit ?? 0,
    };
    if (!this.processes) {
      const worker = await TaskWorker.start({ ...workerOptions, scheduler: this.schedulerAddress, secret: this.secret });
      handle.inProcess = worker;
      handle.address = worker.address;
      return;
    }
    const nanny = new Nanny({ scheduler: this.schedulerAddress, secret: this.secret, worker: workerOptions });
    handle.nanny = nanny;
    nanny.on('ready', (address: string) => {
      handle.address = address;
    });
    nanny.on('exit', () => {
      handle.address = null;
    });
    nanny.on('error', () => {});
    await nanny.start();
  }

  async #stopWorker(handle: WorkerHandle): Promise<void> {
    if (handle.inProcess !== null) await handle.inProcess.close('the cluster scaled down');
    if (handle.nanny !== null) await handle.nanny.close();
  }
}
