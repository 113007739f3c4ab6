// node-ucx/collections/bag: Dask's dask.bag for Node (docs/collections.md). Parallel lists of any
// values: map, filter, fold, groupby, ... over partitions, computed on a local scheduler ('sync',
// 'threads', 'processes') or a distributed Client.
export { Bag, Item, type UserFunction, type KeySelector, type ExtraArg, type ZipArg, type ReductionOptions } from './bag.js';
export { fromSequence, range, concat, readText, readJsonLines, type FromSequenceOptions } from './create.js';
export type { ReadTextOptions, ToTextFilesOptions } from './io.js';
export { compute, type ComputeOptions } from '../core/collection.js';
export { moduleFunction, type ModuleRef } from '../../scheduler/code.js';
export { setDefaultClient, getDefaultClient, closeLocalPools, type Scheduler, type LocalScheduler, type GraphComputer } from '../../scheduler/local/index.js';
export { TaskFailedError, SchedulerError } from '../../scheduler/errors.js';
