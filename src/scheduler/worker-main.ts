// The entry of a worker process (started by a Nanny, LocalCluster or ucx-worker): its settings come
// in the environment — the cluster secret too, which is removed from process.env once read, so
// nothing this worker runs or spawns inherits it.
import { TaskWorker, type TaskWorkerOptions } from './task-worker.js';
import { WorkerExit } from './worker-exit.js';

const scheduler = process.env.NODE_UCX_SCHEDULER;
const secret = process.env.NODE_UCX_CLUSTER_SECRET;
delete process.env.NODE_UCX_CLUSTER_SECRET;
const options = JSON.parse(process.env.NODE_UCX_WORKER_OPTIONS ?? '{}') as Omit<TaskWorkerOptions, 'scheduler' | 'secret'>;
delete process.env.NODE_UCX_WORKER_OPTIONS;

if (scheduler === undefined || secret === undefined) {
  process.stderr.write('node-ucx worker: NODE_UCX_SCHEDULER and NODE_UCX_CLUSTER_SECRET must be set\n');
  process.exit(WorkerExit.usage);
}

let worker: TaskWorker;
try {
  worker = await TaskWorker.start({ ...options, scheduler, secret: Buffer.from(secret, 'base64') });
} catch (error) {
  process.stderr.write(`node-ucx worker: cannot join ${scheduler}: ${(error as Error).message}\n`);
  process.exit(WorkerExit.cannotJoin);
}
// Removed by the scheduler (timed out): exit so that the nanny starts a fresh worker in its place.
worker.once('close', () => process.exit(worker.removedByScheduler ? WorkerExit.removed : WorkerExit.closed));
process.send?.({ type: 'ready', address: worker.address, pid: process.pid, baseRss: worker.baseRss });
// The nanny asks for a graceful stop over IPC; losing the nanny ends the worker too.
process.on('message', (message: { type?: string }) => {
  if (message?.type === 'close') void worker.close('closed by its nanny');
});
process.on('disconnect', () => void worker.close('its nanny went away'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void worker.close(`${signal}`));
