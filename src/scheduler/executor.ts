// ThreadPool: worker_threads that run tasks (executor-thread.ts), one task per thread at a time.
// Arguments and results are structured clones (copied into and out of the thread). A thread that
// dies (an uncaught error in a task's callback, a crash) fails its task and is replaced.
import { Worker as Thread } from 'node:worker_threads';
import type { Code } from './code.js';
import type { TaskError } from './protocol.js';
import { taskErrorOf } from './errors.js';

export type TaskOutcome = { ok: true; value: unknown; duration: number } | { ok: false; error: TaskError; duration: number };

interface Job { id: number; code: Code; args: unknown[]; settle: (outcome: TaskOutcome) => void; started: number }

interface Slot { thread: Thread; job: Job | null }

const THREAD_SCRIPT = new URL('./executor-thread.js', import.meta.url);

export interface ThreadPoolOptions {
  /** V8 heap limit per thread (MiB), if any. */
  maxHeapMb?: number;
  /**
   * Collect a thread's garbage after a task that left more than this many bytes of array buffers in it
   * (the result, cloned out, stays behind until the thread's next GC). Needs --expose-gc; 0: never.
   */
  collectAboveBytes?: number;
}

export class ThreadPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  readonly #opts: ThreadPoolOptions;
  #nextId = 1;
  #closed = false;

  constructor(size: number, opts: ThreadPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(size));
    this.#opts = opts;
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  /** Runs `code` on `args` in a thread; never rejects (a failure is an outcome). */
  run(code: Code, args: unknown[]): Promise<TaskOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, error: { name: 'Error', code: 'ERR_SCHEDULER_CLOSED', message: 'the executor is closed' }, duration: 0 });
    return new Promise<TaskOutcome>((settle) => {
      this.#queue.push({ id: this.#nextId++, code, args, settle, started: 0 });
      this.#dispatch();
    });
  }

  /** Tasks running now. */
  get busy(): number {
    return this.#slots.filter((slot) => slot.job !== null).length;
  }

  /** Resolves once every thread has started and run a task (what a thread costs is then paid: see TaskWorker's memory baseline). */
  async warm(): Promise<void> {
    const code: Code = { kind: 'source', source: '() => 0', hash: 'node-ucx-warm', name: 'warm' };
    await Promise.all(this.#slots.map(() => this.run(code, [])));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.settle({ ok: false, error: { name: 'Error', code: 'ERR_SCHEDULER_CLOSED', message: 'the executor closed' }, duration: 0 });
    await Promise.all(this.#slots.map((slot) => slot.thread.terminate()));
  }

  #spawn(): Slot {
    const resourceLimits = this.#opts.maxHeapMb !== undefined ? { maxOldGenerationSizeMb: this.#opts.maxHeapMb } : undefined;
    const thread = new Thread(THREAD_SCRIPT, {
      ...(resourceLimits ? { resourceLimits } : {}), workerData: { collectAboveBytes: this.#opts.collectAboveBytes ?? 0 },
    });
    // Idle threads never keep the process alive.
    thread.unref();
    const slot: Slot = { thread, job: null };
    thread.on('message', (message: { id: number; ok: boolean; value?: unknown; error?: TaskError; duration: number }) => {
      const job = slot.job;
      if (job === null || job.id !== message.id) return;
      slot.job = null;
      job.settle(message.ok ? { ok: true, value: message.value, duration: message.duration } : { ok: false, error: message.error!, duration: message.duration });
      this.#dispatch();
    });
    const replace = (error: unknown): void => {
      const job = slot.job;
      slot.job = null;
      if (job !== null) {
        job.settle({ ok: false, error: { ...taskErrorOf(error), message: `the task's thread died: ${taskErrorOf(error).message}` }, duration: performance.now() - job.started });
      }
      if (this.#closed) return;
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots[index] = this.#spawn();
      this.#dispatch();
    };
    thread.on('error', replace);
    thread.on('exit', (code) => { if (slot.job !== null || !this.#closed) replace(new Error(`exit code ${code}`)); });
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job !== null) continue;
      const job = this.#queue.shift();
      if (job === undefined) return;
      slot.job = job;
      job.started = performance.now();
      try {
        slot.thread.postMessage({ id: job.id, code: job.code, args: job.args });
      } catch (error) {
        // An argument that cannot be cloned (a function in the data, say): the task fails, the thread stays.
        slot.job = null;
        job.settle({ ok: false, error: { name: 'TypeError', code: 'ERR_SCHEDULER_UNSERIALIZABLE', message: `the task's arguments cannot be sent to a thread: ${(error as Error).message}` }, duration: 0 });
      }
    }
  }
}
