// node-ucx/collections/dataframe: Dask's dask.dataframe for Node, on Apache Arrow
// (docs/collections.md, "DataFrame"). Partitions of typed-array columns; readCsv, readParquet,
// fromArrow; column expressions, filters, groupby aggregations (tree reductions), hash-shuffle
// joins, sorting; computed on a local scheduler or a distributed Client, results as Arrow tables.
export {
  DataFrame,
  Series,
  GroupBy,
  Rolling,
  Scalar,
  frequencyMs,
  type AggSpec,
  type Lineage,
  type MergeOptions,
  type ReductionOptions,
  type SeriesLike,
  type UserFunction,
} from './frame.js';
export { readCsv, readParquet, fromArrow, fromColumns, concat, type ReadCsvOptions, type ReadParquetOptions } from './io.js';
export type { AggHow, JoinHow } from './kernels.js';
export { parquetToTable, tableToParquet } from './kernels.js';
export type { DType, Field } from './part.js';
export type { Literal } from './expr.js';
/**
 * Apache Arrow (the apache-arrow package) itself, for building tables and reading results; its
 * own reference is Arrow's (https://arrow.apache.org/docs/js/).
 * @hidden
 */
export { arrow } from './arrow.js';
export { compute, type ComputeOptions } from '../core/collection.js';
export { moduleFunction, type ModuleRef } from '../../scheduler/code.js';
export { setDefaultClient, getDefaultClient, closeLocalPools, type Scheduler, type LocalScheduler } from '../../scheduler/local/index.js';
export { TaskFailedError, SchedulerError } from '../../scheduler/errors.js';
