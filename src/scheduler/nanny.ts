// Nanny: starts a worker process and keeps it going: a worker that dies is restarted,
// and one whose memory passes the terminate threshold is killed and restarted (Dask's
// nanny). It lives in the process that owns the cluster (LocalCluster, ucx-worker).
import { EventEmitter } from 'node:events';
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TaskWorkerOptions } from './task-worker.js';
import { WorkerExit, workerShouldRestart } from './worker-exit.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));
const PAGE_SIZE = 4096;

/** The worker a Nanny keeps running: where it joins, its options, when to kill and restart it. */
export interface NannyOptions {
  /** The scheduler's address. */
  scheduler: string;
  /** The cluster secret (passed to the worker process in its environment). */
  secret: Buffer;
  /** The worker's own options (threads, memory limit, resources, ...). */
  worker: Omit<TaskWorkerOptions, 'scheduler' | 'secret'>;
  /** Past this fraction of the memory limit (resident memory above the worker's baseRss) the worker is killed and restarted. */
  terminateFraction?: number;
  /** Restart a worker that died (default true). */
  restart?: boolean;
  /** How long a worker has to start and join (ms). */
  startTimeoutMs?: number;
  /** Extra environment variables for the worker process. */
  env?: Record<string, string>;
}

/** Events: 'ready' (address), 'exit' (code, signal, restarting), 'restart' (reason). */
export class Nanny extends EventEmitter {
  readonly #opts: NannyOptions;
  #child: ChildProcess | null = null;
  #address: string | null = null;
  #closing = false;
  #watch: NodeJS.Timeout | null = null;
  /** The running worker's resident bytes once it started (TaskWorker.baseRss); null until it is ready. */
  #baseRss: number | null = null;
  /** How many times it restarted its worker (after a crash or the memory limit). */
  restarts = 0;

  constructor(opts: NannyOptions) {
    super();
    this.#opts = opts;
  }

  /** The worker's address while it runs. */
  get address(): string | null {
    return this.#address;
  }
  /** The worker process's pid while it runs. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts the worker; resolves with its address once it has joined the scheduler. */
  start(): Promise<string> {
    // With a memory limit the worker collects garbage itself (TaskWorker), and large blocks go back to
    // the system when freed (glibc would otherwise keep them, past a threshold that grows as they are freed).
    const limited = (this.#opts.worker.memoryLimit ?? 0) > 0;
    const child = fork(WORKER_MAIN, [], {
      env: {
        ...(limited ? { MALLOC_MMAP_THRESHOLD_: '131072' } : {}),
        ...process.env,
        ...this.#opts.env,
        NODE_UCX_SCHEDULER: this.#opts.scheduler,
        NODE_UCX_CLUSTER_SECRET: this.#opts.secret.toString('base64'),
        NODE_UCX_WORKER_OPTIONS: JSON.stringify(this.#opts.worker),
      },
      execArgv: limited ? [...process.execArgv, '--expose-gc'] : process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child = child;
    this.#baseRss = null;
    // A message or signal to a process that is dying fails (EPIPE, ESRCH) with an 'error' event; its
    // 'exit' follows and decides what happens next. Unheard, the event would crash the process.
    child.on('error', () => {});
    const started = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the worker did not join within ${this.#opts.startTimeoutMs ?? 30_000} ms`));
      }, this.#opts.startTimeoutMs ?? 30_000);
      child.on('message', (message: { type?: string; address?: string; baseRss?: number }) => {
        if (message?.type !== 'ready' || typeof message.address !== 'string') return;
        clearTimeout(timer);
        this.#address = message.address;
        if (this.#child === child) this.#baseRss = typeof message.baseRss === 'number' ? message.baseRss : 0;
        this.emit('ready', message.address);
        resolve(message.address);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the worker exited before joining (${signal ?? code})`));
      });
    });
    child.once('exit', (code, signal) => {
      this.#address = null;
      if (this.#child === child) this.#child = null;
      // A worker that ended by itself (closed: 0; could not join: 2, 3) stays down; one that died (a signal,
      // an uncaught error) or that the scheduler removed for timing out (4) comes back (worker-exit.ts).
      const died = workerShouldRestart(code, signal);
      const restarting = died && !this.#closing && this.#opts.restart !== false;
      this.emit('exit', code, signal, restarting);
      if (restarting) {
        this.restarts++;
        this.emit('restart', code === WorkerExit.removed ? 'the scheduler removed it (it timed out)' : `exited (${signal ?? code})`);
        this.start().catch((error: unknown) => this.emit('error', error));
      }
    });
    this.#watchMemory();
    return started;
  }

  /** Graceful: the worker closes itself (the scheduler moves on); killed if it takes too long. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.#closing = true;
    if (this.#watch !== null) clearInterval(this.#watch);
    const child = this.#child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // The pipe may break under the send (the worker died an instant ago): then a signal.
    if (child.connected)
      child.send({ type: 'close' }, (error) => {
        if (error !== null && error !== undefined) child.kill('SIGTERM');
      });
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the worker at once (tests, and adapt's scale-down of a worker that will not retire). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#child?.kill(signal);
  }

  #watchMemory(): void {
    const limit = this.#opts.worker.memoryLimit ?? 0;
    if (limit <= 0 || this.#watch !== null) return;
    const terminate = limit * (this.#opts.terminateFraction ?? 0.95);
    this.#watch = setInterval(() => {
      const pid = this.#child?.pid;
      // Not before it is up: its footprint is not known yet (and starting is not holding data).
      if (pid === undefined || this.#baseRss === null) return;
      const held = residentBytes(pid) - this.#baseRss;
      if (held > terminate) {
        this.emit(
          'restart',
          `its memory (${Math.round(held / 1048576)} MiB beyond its footprint when it started) passed ${Math.round(terminate / 1048576)} MiB`,
        );
        this.#child?.kill('SIGKILL');
      }
    }, 200);
    this.#watch.unref();
  }
}

function residentBytes(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(fields[1]) * PAGE_SIZE;
  } catch {
    return 0;
  }
}
