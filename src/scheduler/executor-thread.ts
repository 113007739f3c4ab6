// One executor thread (executor.ts): runs tasks one at a time, in the order they came, so that a
// CPU-bound task never stalls the process's event loop (its heartbeats, its serving of data to
// peers). Tasks may be queued here behind the running one (ThreadPool depth).
import { parentPort } from 'node:worker_threads';
import { loadCode, type Code } from './code.js';
import { taskErrorOf } from './errors.js';

interface Job { id: number; code: Code; args: unknown[] }

const port = parentPort!;
const waiting: Job[] = [];
let running = false;

port.on('message', (job: Job) => {
  waiting.push(job);
  if (!running) void drain();
});

async function drain(): Promise<void> {
  running = true;
  for (let job = waiting.shift(); job !== undefined; job = waiting.shift()) await run(job);
  running = false;
}

async function run(job: Job): Promise<void> {
  const started = performance.now();
  let value: unknown;
  try {
    const fn = await loadCode(job.code);
    value = await fn(...job.args);
  } catch (error) {
    port.postMessage({ id: job.id, ok: false, error: taskErrorOf(error), duration: performance.now() - started });
    return;
  }
  const duration = performance.now() - started;
  try {
    port.postMessage({ id: job.id, ok: true, value, duration });
  } catch (error) {
    // Functions, symbols, class instances with private state... cannot leave the thread.
    port.postMessage({
      id: job.id, ok: false, duration,
      error: { name: 'TypeError', code: 'ERR_SCHEDULER_UNSERIALIZABLE', message: `the task's result cannot be sent back: ${(error as Error).message}` },
    });
  }
}
