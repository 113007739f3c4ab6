// node-ucx/scheduler: distributed futures and task graphs (Dask distributed's model) on node-ucx's
// transports. See docs/scheduler.md.
export { Client, taskOptions, getDefaultClient, setDefaultClient, type ClientOptions, type ClientTarget, type TaskOptions } from './client.js';
export { Future, type FutureStatus } from './future.js';
export { LocalCluster, type LocalClusterOptions, type Protocol } from './local-cluster.js';
export { Scheduler, type SchedulerOptions, type TaskRecord } from './scheduler.js';
export { TaskWorker, type TaskWorkerOptions } from './task-worker.js';
export { Nanny, type NannyOptions } from './nanny.js';
export { delayed, Delayed } from './delayed.js';
export { moduleFunction, type ModuleRef } from './code.js';
export { ref, isRef, type Graph, type KeyRef } from './graph.js';
export { SchedulerError, TaskFailedError, type SchedulerErrorCode } from './errors.js';
export { defaultSchedulerConfig, type SchedulerConfig } from './state/scheduler-state.js';
export type { SchedulerInfo, WorkerMetrics } from './protocol.js';
export { progress, type ProgressOptions, type ProgressResult } from './progress.js';
export type { DashboardOptions } from './dashboard.js';
export { computeGraph, closeLocalPools, type ComputeGraphOptions, type LocalScheduler } from './local/index.js';
export { initialize, launchRole, parseMemoryLimit, parseResources, type InitializeOptions } from './launch.js';
export {
  writeSchedulerFile,
  readSchedulerFile,
  waitForSchedulerFile,
  LaunchError,
  type LaunchErrorCode,
  type SchedulerFileContents,
} from './scheduler-file.js';
