// One child process of a ProcessPool (process-pool.ts): runs the tasks its parent sends, one at a
// time, and exits when the parent goes (the IPC channel closes), so no child outlives its parent.
import { loadCode, type Code } from '../code.js';
import { taskErrorOf } from '../errors.js';

interface Job {
  id: number;
  code: Code;
  args: unknown[];
}

if (typeof process.send !== 'function') {
  process.stderr.write('process-runner.js is started by ProcessPool (node-ucx/scheduler), with an IPC channel\n');
  process.exit(2);
}

process.on('message', (job: Job) => {
  void run(job);
});
process.on('disconnect', () => process.exit(0));

async function run(job: Job): Promise<void> {
  const started = performance.now();
  let value: unknown;
  try {
    const fn = await loadCode(job.code);
    value = await fn(...job.args);
  } catch (error) {
    reply({ id: job.id, ok: false, error: taskErrorOf(error), duration: performance.now() - started });
    return;
  }
  const duration = performance.now() - started;
  try {
    reply({ id: job.id, ok: true, value, duration });
  } catch (error) {
    // Functions, symbols, class instances with private state... cannot leave the process.
    reply({
      id: job.id,
      ok: false,
      duration,
      error: { name: 'TypeError', code: 'ERR_SCHEDULER_UNSERIALIZABLE', message: `the task's result cannot be sent back: ${(error as Error).message}` },
    });
  }
}

function reply(message: object): void {
  process.send!(message);
}
