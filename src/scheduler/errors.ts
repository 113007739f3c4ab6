// The scheduler's errors. A task's own error comes back to its Future as a TaskFailedError carrying
// the remote name, message, code and stack; the scheduler's verdicts (KilledWorker, a missing key, a
// cycle, a lost scattered result) and the client's own failures are SchedulerErrors with a code.
import type { TaskError } from './protocol.js';

/** SchedulerError.code: what went wrong, the scheduler's verdict or the client's own failure. */
export type SchedulerErrorCode =
  | 'ERR_SCHEDULER_KILLED_WORKER' // the task's workers died allowedFailures + 1 times
  | 'ERR_SCHEDULER_MISSING_KEY' // a dependency the scheduler does not know
  | 'ERR_SCHEDULER_CYCLE' // the graph has a dependency cycle
  | 'ERR_SCHEDULER_LOST' // scattered data whose only copy was lost
  | 'ERR_SCHEDULER_CANCELLED' // the future was cancelled
  | 'ERR_SCHEDULER_RELEASED' // the future was released
  | 'ERR_SCHEDULER_CLOSED' // the client closed
  | 'ERR_SCHEDULER_GONE' // the scheduler went away (died, closed, unreachable)
  | 'ERR_SCHEDULER_NO_WORKERS' // nothing can run (a timeout while no worker was there)
  | 'ERR_SCHEDULER_IMPORT' // a worker could not import the task's module or export
  | 'ERR_SCHEDULER_COMPILE' // a worker could not compile the task's function source
  | 'ERR_SCHEDULER_UNSERIALIZABLE'; // an argument or result that cannot travel

/** A failure of the cluster rather than of a task's code (a killed worker, a cycle, a lost scheduler, a cancelled future); tell them apart by code. */
export class SchedulerError extends Error {
  /** Which failure it is. */
  readonly code: SchedulerErrorCode;
  constructor(code: SchedulerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SchedulerError';
    this.code = code;
  }
}

/** The error of a task that failed where it ran: the remote error's name, code and stack. */
export class TaskFailedError extends Error {
  /** The remote error's code, or 'ERR_SCHEDULER_TASK_FAILED' when it had none. */
  readonly code: string;
  /** The key of the task that failed (the one whose function threw). */
  readonly key: string;
  /** The error as it came from the worker: name, message, code, stack. */
  readonly remote: TaskError;
  constructor(key: string, remote: TaskError) {
    super(`${key}: ${remote.name}: ${remote.message}`);
    this.name = remote.name === 'KilledWorker' ? 'KilledWorker' : 'TaskFailedError';
    this.key = key;
    this.remote = remote;
    this.code = remote.code ?? 'ERR_SCHEDULER_TASK_FAILED';
    // The worker's stack is the one worth reading: it points at the task's code.
    if (remote.stack !== undefined) this.stack = `${this.name}: ${this.message}\n    --- on the worker ---\n${remote.stack}`;
  }
}

/** What a thrown value becomes on the wire. */
export function taskErrorOf(error: unknown): TaskError {
  if (error instanceof Error) {
    const out: TaskError = { name: error.name, message: error.message };
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    if (typeof error.stack === 'string') out.stack = error.stack;
    return out;
  }
  return { name: 'Error', message: `a non-Error was thrown: ${String(error)}` };
}
