// The local schedulers (Dask's 'sync', 'threads', 'processes') and the default-Client registry that
// lets collections compute on a distributed Client by default. docs/collections.md, "Schedulers".
export { computeGraph, persistGraph, resolveScheduler, computeOn, type ComputeGraphOptions, type LocalScheduler, type Scheduler } from './compute.js';
export { getDefaultClient, setDefaultClient, isGraphComputer, type GraphComputer } from './default-client.js';
export { closeLocalPools, defaultPoolSize } from './runners.js';
export { ProcessPool } from './process-pool.js';
export { prepareForTravel } from './travel.js';
export { planGraph, dependenciesOf, type Plan } from './plan.js';
export { runPlan, type LocalCallbacks, type RunOptions, type RunOutcome, type TaskRunner } from './engine.js';
export { callable, kernels, isMainThreadKernel, getItem, identity } from './kernels.js';
