// node-ucx/collections/array: Dask's dask.array for Node (docs/collections.md, "Array"). N-dimensional
// arrays in typed-array blocks: elementwise arithmetic, tree reductions, blocked matmul, slicing,
// rechunking, .npy files, computed on a local scheduler ('sync', 'threads', 'processes') or a
// distributed Client.
export { DArray, concatenate, type Operand, type ReduceOptions, type SliceEntry, type BlockFunction, type MapBlocksOptions } from './array.js';
export { fromArray, zeros, ones, full, arange, random, readNpy, type ArrayOptions } from './create.js';
export { NDArray } from './ndarray.js';
export { DTYPES, promote, type DType, type TypedArray } from './dtype.js';
export { AUTO_CHUNK_BYTES, type Chunks, type ChunksSpec } from './chunks.js';
export { compute, type ComputeOptions } from '../core/collection.js';
export { moduleFunction, type ModuleRef } from '../../scheduler/code.js';
export { setDefaultClient, getDefaultClient, closeLocalPools, type Scheduler, type LocalScheduler, type GraphComputer } from '../../scheduler/local/index.js';
export { TaskFailedError, SchedulerError } from '../../scheduler/errors.js';
