// ThreadPool: worker_threads that run tasks (executor-thread.ts), one task per thread at a time.
// Arguments and results are structured clones (copied into and out of the thread). A thread that
// dies (an uncaught error in a task's callback, a crash) fails the task it was running and is
// replaced; the tasks queued behind it go to the next thread.
//
// `depth` > 1 keeps that many tasks queued in each thread (they still run one after another):
// a thread that finishes a short task starts the next at once instead of waiting for the round
// trip through this thread's event loop (two wake-ups, most of a no-op task's cost).
import { Worker as Thread } from 'node:worker_threads';
import type { Code } from './code.js';
import type { TaskError } from './protocol.js';
import { taskErrorOf } from './errors.js';

export type TaskOutcome = { ok: true; value: unknown; duration: number } | { ok: false; error: TaskError; duration: number };

interface Job {
  id: number;
  code: Code;
  args: unknown[];
  settle: (outcome: TaskOutcome) => void;
  started: number;
}

/** A thread and the jobs handed to it, oldest (running) first. */
interface Slot {
  thread: Thread;
  jobs: Job[];
}

const THREAD_SCRIPT = new URL('./executor-thread.js', import.meta.url);

export interface ThreadPoolOptions {
  /** V8 heap limit per thread (MiB), if any. */
  maxHeapMb?: number;
  /** Tasks handed to one thread at a time (the first runs, the others wait there); default 1. */
  depth?: number;
  /**
   * Collect a thread's garbage after a task that left more than this many bytes of array buffers in it
   * (the result, cloned out, stays behind until the thread's next GC). Needs --expose-gc; 0: never.
   */
  collectAboveBytes?: number;
}

export class ThreadPool {
  readonly size: number;
  readonly depth: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  readonly #opts: ThreadPoolOptions;
  #nextId = 1;
  #closed = false;

  constructor(size: number, opts: ThreadPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(size));
    this.depth = Math.max(1, Math.floor(opts.depth ?? 1));
    this.#opts = opts;
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  /** Runs `code` on `args` in a thread; never rejects (a failure is an outcome). */
  run(code: Code, args: unknown[]): Promise<TaskOutcome> {
    if (this.#closed)
      return Promise.resolve({ ok: false, error: { name: 'Error', code: 'ERR_SCHEDULER_CLOSED', message: 'the executor is closed' }, duration: 0 });
    return new Promise<TaskOutcome>((settle) => {
      this.#queue.push({ id: this.#nextId++, code, args, settle, started: 0 });
      this.#dispatch();
    });
  }

  /** Threads running a task now. */
  get busy(): number {
    return this.#slots.filter((slot) => slot.jobs.length > 0).length;
  }

  /** Resolves once every thread has started and run a task (what a thread costs is then paid: see TaskWorker's memory baseline). */
  async warm(): Promise<void> {
    const code: Code = { kind: 'source', source: '() => 0', hash: 'node-ucx-warm', name: 'warm' };
    await Promise.all(this.#slots.map(() => this.run(code, [])));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0))
      job.settle({ ok: false, error: { name: 'Error', code: 'ERR_SCHEDULER_CLOSED', message: 'the executor closed' }, duration: 0 });
    await Promise.all(this.#slots.map((slot) => slot.thread.terminate()));
  }

  #spawn(): Slot {
    const resourceLimits = this.#opts.maxHeapMb !== undefined ? { maxOldGenerationSizeMb: this.#opts.maxHeapMb } : undefined;
    const thread = new Thread(THREAD_SCRIPT, {
      ...(resourceLimits ? { resourceLimits } : {}),
      workerData: { collectAboveBytes: this.#opts.collectAboveBytes ?? 0 },
    });
    const slot: Slot = { thread, jobs: [] };
    thread.on('message', (message: { id: number; ok: boolean; value?: unknown; error?: TaskError; duration: number }) => {
      // The thread runs its jobs in order: this is the oldest one.
      const job = slot.jobs[0];
      if (job === undefined || job.id !== message.id) return;
      slot.jobs.shift();
      if (slot.jobs.length > 0) slot.jobs[0]!.started = performance.now();
      else thread.unref();
      job.settle(
        message.ok ? { ok: true, value: message.value, duration: message.duration } : { ok: false, error: message.error!, duration: message.duration },
      );
      this.#dispatch();
    });
    const replace = (error: unknown): void => {
      const [running, ...waiting] = slot.jobs.splice(0);
      if (running !== undefined) {
        running.settle({
          ok: false,
          error: { ...taskErrorOf(error), message: `the task's thread died: ${taskErrorOf(error).message}` },
          duration: performance.now() - running.started,
        });
      }
      if (this.#closed) {
        for (const job of waiting)
          job.settle({ ok: false, error: { name: 'Error', code: 'ERR_SCHEDULER_CLOSED', message: 'the executor closed' }, duration: 0 });
        return;
      }
      // The tasks that never started go first to the next free thread.
      this.#queue.unshift(...waiting);
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots[index] = this.#spawn();
      this.#dispatch();
    };
    thread.on('error', replace);
    thread.on('exit', (code) => {
      if (slot.jobs.length > 0 || !this.#closed) replace(new Error(`exit code ${code}`));
    });
    // Idle threads never keep the process alive; busy ones do (ref'd in #dispatch), so that awaiting a
    // task is enough to keep the process up. After the listeners: adding a 'message' listener refs a
    // Worker again (Node 20), so an unref() before it was undone and an idle pool held the process.
    thread.unref();
    return slot;
  }

  /** Hands queued jobs to idle threads first, then (depth > 1) to the least loaded ones. */
  #dispatch(): void {
    for (let load = 0; load < this.depth && this.#queue.length > 0; load++) {
      for (const slot of this.#slots) {
        if (slot.jobs.length !== load) continue;
        const job = this.#queue.shift();
        if (job === undefined) return;
        this.#hand(slot, job);
      }
    }
  }

  #hand(slot: Slot, job: Job): void {
    try {
      slot.thread.postMessage({ id: job.id, code: job.code, args: job.args });
    } catch (error) {
      // An argument that cannot be cloned (a function in the data, say): the task fails, the thread stays.
      job.settle({
        ok: false,
        error: {
          name: 'TypeError',
          code: 'ERR_SCHEDULER_UNSERIALIZABLE',
          message: `the task's arguments cannot be sent to a thread: ${(error as Error).message}`,
        },
        duration: 0,
      });
      return;
    }
    if (slot.jobs.length === 0) {
      job.started = performance.now();
      slot.thread.ref();
    }
    slot.jobs.push(job);
  }
}
