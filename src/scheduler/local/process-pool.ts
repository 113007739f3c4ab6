// ProcessPool: child processes (process-runner.ts) that run tasks, one per child at a time, the
// 'processes' scheduler's executor. The same contract as ThreadPool: run(code, args) never rejects,
// arguments and results are copied (v8's serialization over the IPC channel: typed arrays, Buffers,
// Maps, Sets, Dates travel as they are). A child that dies (a task calling process.exit, a crash, the
// OOM killer) fails its task and is replaced.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Code } from '../code.js';
import type { TaskOutcome } from '../executor.js';
import type { TaskError } from '../protocol.js';

const RUNNER = fileURLToPath(new URL('./process-runner.js', import.meta.url));

interface Job {
  id: number;
  code: Code;
  args: unknown[];
  settle: (outcome: TaskOutcome) => void;
  started: number;
}
interface Slot {
  child: ChildProcess;
  job: Job | null;
  exited: boolean;
}
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: TaskError;
  duration: number;
}

/**
 * This process's flags, less what cannot apply to the runner: debugger flags (a second process cannot
 * take the same inspector port) and --input-type (only for -e or stdin input; the runner is a file).
 */
function childExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(inspect|debug|input-type)/.test(arg));
}

export class ProcessPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(size: number) {
    this.size = Math.max(1, Math.floor(size));
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  /** Runs `code` on `args` in a child process; never rejects (a failure is an outcome). */
  run(code: Code, args: unknown[]): Promise<TaskOutcome> {
    if (this.#closed) return Promise.resolve(closedOutcome('the process pool is closed'));
    return new Promise<TaskOutcome>((settle) => {
      this.#queue.push({ id: this.#nextId++, code, args, settle, started: 0 });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.settle(closedOutcome('the process pool closed'));
    await Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<void>((done) => {
            if (slot.exited) return done();
            slot.child.once('exit', () => done());
            // Ref'd until it is gone: else a process with nothing else to do would exit before the promise settles.
            slot.child.ref();
            slot.child.kill();
          }),
      ),
    );
  }

  #spawn(): Slot {
    const child = fork(RUNNER, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: childExecArgv() });
    const slot: Slot = { child, job: null, exited: false };
    child.on('message', (reply: Reply) => {
      const job = slot.job;
      if (job === null || job.id !== reply.id) return;
      this.#idle(slot);
      job.settle(reply.ok ? { ok: true, value: reply.value, duration: reply.duration } : { ok: false, error: reply.error!, duration: reply.duration });
      this.#dispatch();
    });
    // A failed spawn or send also shows as 'exit' (or was a send whose reply never comes: the exit fails it).
    child.on('error', () => {});
    child.on('exit', (code, signal) => {
      slot.exited = true;
      const job = slot.job;
      slot.job = null;
      if (job !== null) {
        job.settle({
          ok: false,
          duration: performance.now() - job.started,
          error: { name: 'Error', code: 'ERR_SCHEDULER_KILLED_WORKER', message: `the task's process died (${signal ?? `exit code ${code}`})` },
        });
      }
      if (this.#closed) return;
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots[index] = this.#spawn();
      this.#dispatch();
    });
    this.#idle(slot);
    return slot;
  }

  /** Idle children never keep this process alive (busy ones do, while their task runs). */
  #idle(slot: Slot): void {
    slot.job = null;
    slot.child.unref();
    slot.child.channel?.unref();
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job !== null || slot.exited) continue;
      const job = this.#queue.shift();
      if (job === undefined) return;
      slot.job = job;
      job.started = performance.now();
      slot.child.ref();
      slot.child.channel?.ref();
      try {
        slot.child.send({ id: job.id, code: job.code, args: job.args });
      } catch (error) {
        // An argument v8 cannot serialize (a function in the data, say): the task fails, the child stays.
        this.#idle(slot);
        job.settle({
          ok: false,
          duration: 0,
          error: {
            name: 'TypeError',
            code: 'ERR_SCHEDULER_UNSERIALIZABLE',
            message: `the task's arguments cannot be sent to a process: ${(error as Error).message}`,
          },
        });
      }
    }
  }
}

function closedOutcome(message: string): TaskOutcome {
  return { ok: false, error: { name: 'Error', code: 'ERR_SCHEDULER_CLOSED', message }, duration: 0 };
}
