// Making dataframes: readCsv, readParquet (files listed and their schema read where the graph is
// built, as Dask's readers do, so a missing file or an unknown column fails at once), fromArrow
// (a table cut into partitions held in the graph).
import fs from 'node:fs';
import { ref, type Graph } from '../../scheduler/graph.js';
import { invalidArgType, invalidArgValue, validateInteger, validateOptionalObject } from '../../util/validate.js';
import { asLiteral, collectionName, partitionKey, withLayer } from '../core/collection.js';
import { expandPaths } from '../core/glob.js';
import { arrow, tableFields, tableToPart } from './arrow.js';
import { inferCsvSchema, type CsvBlock, type CsvFormat } from './csv.js';
import { DataFrame } from './frame.js';
import { dfKernels, parquetToTable } from './kernels.js';
import { DTYPES, sliceRows, type DType, type Field } from './part.js';

/** Options of readCsv. */
export interface ReadCsvOptions {
  /** Bytes per partition, cut at line starts (Dask's blocksize). Default: one partition per file. */
  blocksize?: number;
  /** Field separator (one character). Default ','. */
  sep?: string;
  /** Columns read as timestamps (pandas' parse_dates). */
  parseDates?: string[];
  /** Column types, overriding the inferred ones (pandas' dtype). */
  dtype?: Record<string, DType>;
  /** Only these columns (pandas' usecols), in this order. */
  usecols?: string[];
}

/**
 * CSV files as a dataframe (Dask's read_csv): one partition per file, or per `blocksize` bytes.
 * Column types come from the first file's first 256 KiB (int32, float64, bool, else utf8).
 */
export function readCsv(paths: string | readonly string[], opts: ReadCsvOptions = {}): DataFrame {
  validateOptionalObject(opts, 'options');
  const { blocksize, sep = ',', parseDates = [], dtype = {}, usecols } = opts;
  if (blocksize !== undefined) validateInteger(blocksize, 'options.blocksize', 1, Number.MAX_SAFE_INTEGER);
  if (typeof sep !== 'string' || sep.length !== 1 || sep.charCodeAt(0) > 127) throw invalidArgValue('options.sep', sep, 'must be one ASCII character');
  if (!Array.isArray(parseDates) || parseDates.some((c) => typeof c !== 'string'))
    throw invalidArgType('options.parseDates', 'an array of column names', parseDates);
  validateOptionalObject(dtype as unknown, 'options.dtype');
  for (const [c, t] of Object.entries(dtype)) if (!DTYPES.includes(t)) throw invalidArgValue(`options.dtype.${c}`, t, `must be one of ${DTYPES.join(', ')}`);
  const files = expandPaths(paths);
  const format: CsvFormat = { sep, parseDates, dtype };
  const fields = inferCsvSchema(files[0]!, format);
  const blocks: CsvBlock[] = [];
  for (const file of files) {
    if (blocksize === undefined) {
      blocks.push({ path: file, start: 0, end: null });
      continue;
    }
    const size = fs.statSync(file).size;
    for (let start = 0; start < Math.max(size, 1); start += blocksize) blocks.push({ path: file, start, end: Math.min(start + blocksize, size) });
  }
  const stats = files.map((file) => {
    const s = fs.statSync(file);
    return [file, s.size, s.mtimeMs];
  });
  const name = collectionName('read-csv', stats, blocksize ?? null, format);
  const layer: Graph = {};
  blocks.forEach((block, i) => {
    layer[partitionKey(name, i)] = [
      dfKernels.readCsv,
      block,
      fields,
      format,
      `partition ${i} of ${name}, ${block.path}${block.end !== null ? ` bytes ${block.start}-${block.end}` : ''}`,
    ];
  });
  const df = new DataFrame(new Map([[name, layer]]), name, blocks.length, fields, name);
  return usecols === undefined ? df : df.select(usecols);
}

/** Options of readParquet. */
export interface ReadParquetOptions {
  /** Only these columns. */
  columns?: string[];
}

/** Parquet files as a dataframe (Dask's read_parquet): one partition per file; the schema from the first file. */
export function readParquet(paths: string | readonly string[], opts: ReadParquetOptions = {}): DataFrame {
  validateOptionalObject(opts, 'options');
  const files = expandPaths(paths);
  // The schema: the first file's first rows (an int column with nulls there is float64, as in pandas).
  let fields: Field[];
  try {
    fields = tableFields(parquetToTable(fs.readFileSync(files[0]!), undefined, 65_536), files[0]!);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_UCX_DATAFRAME_UNSUPPORTED_TYPE') throw error;
    throw Object.assign(new Error(`${files[0]} is no Parquet file this reader can read: ${(error as Error).message ?? String(error)}`, { cause: error }), {
      code: 'ERR_UCX_DATAFRAME_PARQUET',
      path: files[0],
    });
  }
  if (opts.columns !== undefined) {
    const all = fields;
    fields = opts.columns.map((c) => {
      const f = all.find((x) => x.name === c);
      if (f === undefined)
        throw Object.assign(new RangeError(`no column '${c}' in ${files[0]} (columns: ${all.map((x) => x.name).join(', ')})`), {
          code: 'ERR_UCX_DATAFRAME_COLUMN',
          path: files[0],
        });
      return f;
    });
  }
  const stats = files.map((file) => {
    const s = fs.statSync(file);
    return [file, s.size, s.mtimeMs];
  });
  const name = collectionName('read-parquet', stats, fields);
  const layer: Graph = {};
  files.forEach((file, i) => {
    layer[partitionKey(name, i)] = [dfKernels.readParquet, file, fields, `partition ${i} of ${name}, ${file}`];
  });
  return new DataFrame(new Map([[name, layer]]), name, files.length, fields, name);
}

/** An Arrow table as a dataframe of `npartitions` row ranges (sizes within one), held in the graph (Dask's from_pandas). */
export function fromArrow(table: arrow.Table, opts: { npartitions?: number } = {}): DataFrame {
  if (!(table instanceof arrow.Table)) throw invalidArgType('table', 'an Arrow Table', table);
  validateOptionalObject(opts, 'options');
  const npartitions = opts.npartitions ?? 1;
  validateInteger(npartitions, 'options.npartitions', 1, 1 << 16);
  const name = collectionName('from-arrow', table, npartitions);
  const fields = tableFields(table, name);
  const whole = tableToPart(table, name, fields);
  const n = whole.numRows;
  const layer: Graph = {};
  for (let i = 0; i < npartitions; i++) {
    const start = Math.floor((i * n) / npartitions);
    const end = Math.floor(((i + 1) * n) / npartitions);
    layer[partitionKey(name, i)] = asLiteral(sliceRows(whole, start, end, `partition ${i} of ${name}`));
  }
  return new DataFrame(new Map([[name, layer]]), name, npartitions, fields, name);
}

/** Columns of values (typed arrays, or arrays of numbers, strings or booleans) as a dataframe. */
export function fromColumns(
  columns: Record<string, ArrayLike<number> | readonly (string | boolean | number)[]>,
  opts: { npartitions?: number } = {},
): DataFrame {
  validateOptionalObject(columns as unknown, 'columns');
  const vectors: Record<string, arrow.Vector> = {};
  for (const [c, values] of Object.entries(columns)) {
    if (ArrayBuffer.isView(values)) vectors[c] = arrow.makeVector(values as Float64Array);
    else if (Array.isArray(values) && values.every((v) => typeof v === 'string')) vectors[c] = arrow.vectorFromArray(values, new arrow.Utf8());
    else if (Array.isArray(values) && values.every((v) => typeof v === 'boolean')) vectors[c] = arrow.vectorFromArray(values, new arrow.Bool());
    else if (Array.isArray(values) && values.every((v) => typeof v === 'number')) vectors[c] = arrow.makeVector(Float64Array.from(values as number[]));
    else throw invalidArgType(`columns.${c}`, 'a typed array, or an array of numbers, strings or booleans', values);
  }
  return fromArrow(new arrow.Table(vectors), opts);
}

/**
 * The frames' partitions, one frame after the other (Dask's concat): no task, the partitions are
 * reused. The frames must have the same columns and types, in the same order (cast with assign and
 * order with select first).
 */
export function concat(frames: readonly DataFrame[]): DataFrame {
  if (!Array.isArray(frames) || frames.length === 0 || frames.some((f) => !(f instanceof DataFrame)))
    throw invalidArgType('frames', 'a non-empty array of DataFrames', frames);
  const fields = frames[0]!.fields;
  const signature = (f: DataFrame): string => f.fields.map((x) => `${x.name}:${x.type}`).join(',');
  for (const f of frames) {
    if (signature(f) !== signature(frames[0]!)) {
      throw Object.assign(
        new TypeError(`concat: the frames' columns differ (${signature(frames[0]!)} and ${signature(f)}): select and cast them alike first`),
        { code: 'ERR_UCX_DATAFRAME_TYPE' },
      );
    }
  }
  const name = collectionName('concat', ...frames);
  const layer: Graph = {};
  let i = 0;
  for (const f of frames) for (const key of f.keys) layer[partitionKey(name, i++)] = ref(key);
  return new DataFrame(withLayer(frames, name, layer), name, i, fields, name);
}
