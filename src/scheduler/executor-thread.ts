// One executor thread (executor.ts): runs tasks one at a time, in the order they came, so that a
// CPU-bound task never stalls the process's event loop (its heartbeats, its serving of data to
// peers). Tasks may be queued here behind the running one (ThreadPool depth).
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';
import { loadCode, type Code } from './code.js';
import { taskErrorOf } from './errors.js';

interface Job {
  id: number;
  code: Code;
  args: unknown[];
}

const port = parentPort!;
/** Past this many bytes of array buffers left in this thread after a task, its garbage is collected (0: never). */
const collectAboveBytes = (workerData as { collectAboveBytes?: number } | null)?.collectAboveBytes ?? 0;
const gc = (globalThis as { gc?: () => void }).gc;
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
    port.postMessage({ id: job.id, ok: true, value, duration }, movableBuffers(value));
    // What was not moved went out as a copy: with a memory limit, the original must not wait here for a
    // GC that an idle thread may not run for a long time.
    value = undefined;
    if (collectAboveBytes > 0 && gc !== undefined && v8.getHeapStatistics().external_memory > collectAboveBytes) gc();
  } catch (error) {
    // Functions, symbols, class instances with private state... cannot leave the thread.
    port.postMessage({
      id: job.id,
      ok: false,
      duration,
      error: { name: 'TypeError', code: 'ERR_SCHEDULER_UNSERIALIZABLE', message: `the task's result cannot be sent back: ${(error as Error).message}` },
    });
  }
}

/** Buffers smaller than this are copied: Node's Buffer pool slabs (4 KiB pieces of 8 KiB slabs) are never moved. */
const MOVE_AT_BYTES = 64 * 1024;

/**
 * The ArrayBuffers of a result's large typed arrays (the result itself, or the items or values of an array
 * or plain object it is), each wholly one view's: these move to the main thread instead of being copied,
 * which halves the memory a large result needs on its way out, and its copying time. The task has
 * returned them; a view of one kept in this thread (a module-level cache, say) finds it detached.
 */
function movableBuffers(value: unknown): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const consider = (item: unknown): void => {
    if (!ArrayBuffer.isView(item)) return;
    const buffer = item.buffer;
    if (!(buffer instanceof ArrayBuffer) || (buffer as { resizable?: boolean }).resizable === true) return;
    if (item.byteOffset !== 0 || item.byteLength !== buffer.byteLength || buffer.byteLength < MOVE_AT_BYTES) return;
    found.add(buffer);
  };
  consider(value);
  if (Array.isArray(value)) {
    for (const item of value) consider(item);
  } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) consider(item);
  }
  // A buffer that two views share wholly is one entry; one shared in part is not moved (see consider).
  return [...found];
}
