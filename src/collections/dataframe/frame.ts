// DataFrame, Series, GroupBy and Scalar (Dask's dask.dataframe): a dataframe is a list of
// partitions (Parts: column buffers) with known columns; each method adds one layer to the graph,
// nothing runs until compute(), which gives an Arrow table. A Series is a column expression over a
// dataframe (expr.ts): arithmetic and comparisons on it add no task; it is evaluated inside the
// task that uses it (assign, filter, a reduction). docs/collections.md, "DataFrame".
import path from 'node:path';
import { isModuleRef, toCode, type ModuleRef } from '../../scheduler/code.js';
import { ref, type Graph, type KeyRef } from '../../scheduler/graph.js';
import { kernels } from '../../scheduler/local/index.js';
import { invalidArgType, invalidArgValue, validateBoolean, validateInteger, validateOptionalObject } from '../../util/validate.js';
import { Collection, SingleValue, collectionName, partitionKey, withLayer, type ComputeOptions, type Layers } from '../core/collection.js';
import { splitEveryOption, treeReduction } from '../core/reduction.js';
import { arrow, partsToTable, partToTable, tableToPart } from './arrow.js';
import { columnsOf, typeOf, type BinaryOp, type Expr, type Literal, type UnaryOp } from './expr.js';
import { dfKernels, type AggHow, type JoinHow, type JoinSpec, type OutputSpec, type PartialSpec } from './kernels.js';
import { DTYPES, emptyPart, fieldsOf, type DType, type Field, type Part } from './part.js';

const SPLIT_EVERY = 8;

function unknownColumn(name: string, fields: readonly Field[], where: string): RangeError {
  return Object.assign(new RangeError(`no column '${name}' in ${where} (columns: ${fields.map((f) => f.name).join(', ') || 'none'})`), {
    code: 'ERR_UCX_DATAFRAME_COLUMN',
    column: name,
  });
}

function fieldOf(fields: readonly Field[], name: string, where: string): Field {
  if (typeof name !== 'string') throw invalidArgType('column', 'a column name (a string)', name);
  const f = fields.find((x) => x.name === name);
  if (f === undefined) throw unknownColumn(name, fields, where);
  return f;
}

function names(value: string | readonly string[], what: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string'))
    throw invalidArgType(what, 'a column name or a non-empty array of them', value);
  return [...list];
}

/**
 * A user function: self-contained (shipped as source) or a moduleFunction() reference.
 * @typeParam F the function's type
 */
export type UserFunction<F extends (...args: never[]) => unknown> = F | ModuleRef;

/** Options of tree reductions. */
export interface ReductionOptions {
  /** How many partial results one aggregate task combines (Dask's split_every). Default 8. */
  splitEvery?: number;
}

function splitEveryOf(opts: ReductionOptions | undefined): number {
  return splitEveryOption(opts, SPLIT_EVERY);
}

/** One value: a reduction's result (Dask's Scalar). */
export class Scalar<T = number> extends SingleValue<T> {}

/** An operand of a Series operator: another Series, or a constant. */
export type SeriesLike = Series | Literal;

/**
 * Which rows and column values a frame holds, for lining up Series without an index: `rows` is its
 * row-set token first, then those of the frames it is a row subset of (a filter keeps its input's
 * row order and values); `columns` gives each column's identity (assign gives a new one).
 */
export interface Lineage {
  /** Its row-set token, then those of the frames it is a row subset of. */
  rows: readonly string[];
  /** Each column's identity. */
  columns: Readonly<Record<string, string>>;
}

function freshLineage(token: string, fields: readonly Field[]): Lineage {
  return { rows: [token], columns: Object.fromEntries(fields.map((f) => [f.name, `${token}:${f.name}`])) };
}

/**
 * Whether `series` can be evaluated on `frame`'s partitions: its frame's rows are `frame`'s or a
 * superset of them (frame is a filter of it), and the columns it reads hold the same values here.
 */
function lineUp(frame: DataFrame, series: Series): boolean {
  if (!frame.lineage.rows.includes(series.frame.rows)) return false;
  for (const c of columnsOf(series.expr)) {
    const id = frame.lineage.columns[c];
    if (id === undefined || id !== series.frame.lineage.columns[c]) return false;
  }
  return true;
}

function misaligned(what: string, series: Series, frame: DataFrame): RangeError {
  return Object.assign(
    new RangeError(
      `${what}: the Series '${series.name}' does not line up with the dataframe ${frame.name}: dataframes have no index, so a Series lines up only with its own frame and frames made from it by assign, select and filter, where the columns it reads were not replaced (use the frame's own col())`,
    ),
    { code: 'ERR_UCX_DATAFRAME_ALIGN' },
  );
}

/**
 * A column, or an expression of columns, of one dataframe (Dask's Series). Arithmetic,
 * comparisons and logic give new Series of the same dataframe, at no task; compute() gives a
 * one-column Arrow table.
 */
export class Series {
  /** The dataframe whose rows it is of. */
  readonly frame: DataFrame;
  /** @internal What it computes, as plain data (expr.ts). */
  readonly expr: Expr;
  /** Its name (the column's, or the first operand's). */
  readonly name: string;
  /** The type of its values. */
  readonly dtype: DType;

  /** @internal Made by df.col() and the operators. */
  constructor(frame: DataFrame, expr: Expr, name: string) {
    this.frame = frame;
    this.expr = expr;
    this.name = name;
    this.dtype = typeOf(expr, frame.fields, `the dataframe ${frame.name}`)!;
  }

  #operand(other: SeriesLike, op: string): { frame: DataFrame; expr: Expr } {
    if (other instanceof Series) {
      // The frame both line up in: this one's, or the other's when this one's rows are a superset of its.
      if (lineUp(this.frame, other)) return { frame: this.frame, expr: other.expr };
      if (lineUp(other.frame, this)) return { frame: other.frame, expr: other.expr };
      throw misaligned(op, other, this.frame);
    }
    if (typeof other === 'number' || typeof other === 'string' || typeof other === 'boolean') return { frame: this.frame, expr: { op: 'lit', value: other } };
    throw invalidArgType('other', 'a Series, a number, a string or a boolean', other);
  }

  #bin(fn: BinaryOp, other: SeriesLike): Series {
    const { frame, expr } = this.#operand(other, fn);
    return new Series(frame, { op: 'bin', fn, a: this.expr, b: expr }, this.name);
  }

  #un(fn: UnaryOp): Series {
    return new Series(this.frame, { op: 'un', fn, a: this.expr }, this.name);
  }

  /** `this + other`, element-wise (float64). */
  add(other: SeriesLike): Series {
    return this.#bin('add', other);
  }
  /** `this - other`. */
  sub(other: SeriesLike): Series {
    return this.#bin('sub', other);
  }
  /** `this * other`. */
  mul(other: SeriesLike): Series {
    return this.#bin('mul', other);
  }
  /** `this / other`. */
  div(other: SeriesLike): Series {
    return this.#bin('div', other);
  }
  /** Python's modulo (the divisor's sign), as pandas. */
  mod(other: SeriesLike): Series {
    return this.#bin('mod', other);
  }
  /** `this ** other`. */
  pow(other: SeriesLike): Series {
    return this.#bin('pow', other);
  }
  /** `this < other` (bool; strings compare by code unit). */
  lt(other: SeriesLike): Series {
    return this.#bin('lt', other);
  }
  /** `this <= other`. */
  le(other: SeriesLike): Series {
    return this.#bin('le', other);
  }
  /** `this > other`. */
  gt(other: SeriesLike): Series {
    return this.#bin('gt', other);
  }
  /** `this >= other`. */
  ge(other: SeriesLike): Series {
    return this.#bin('ge', other);
  }
  /** `this == other`. */
  eq(other: SeriesLike): Series {
    return this.#bin('eq', other);
  }
  /** `this != other`. */
  ne(other: SeriesLike): Series {
    return this.#bin('ne', other);
  }
  /** Logical and (pandas' `&`; NaN is false). */
  and(other: SeriesLike): Series {
    return this.#bin('and', other);
  }
  /** Logical or (pandas' `|`). */
  or(other: SeriesLike): Series {
    return this.#bin('or', other);
  }
  /** `-this`. */
  neg(): Series {
    return this.#un('neg');
  }
  /** Logical not (pandas' `~`). */
  not(): Series {
    return this.#un('not');
  }
  /** `Math.abs` of each value. */
  abs(): Series {
    return this.#un('abs');
  }
  /** Whether each value is missing (NaN). */
  isna(): Series {
    return this.#un('isna');
  }
  /** Whether each value is present. */
  notna(): Series {
    return this.#un('notna');
  }
  /** Whether each value is one of `values` (pandas' isin). */
  isin(values: readonly Literal[]): Series {
    if (!Array.isArray(values)) throw invalidArgType('values', 'an array of numbers, strings or booleans', values);
    return new Series(this.frame, { op: 'isin', a: this.expr, values: [...values] }, this.name);
  }
  /** The values as another type (strings parsed, numbers printed). */
  astype(type: DType): Series {
    if (!DTYPES.includes(type)) throw invalidArgValue('type', type, `must be one of ${DTYPES.join(', ')}`);
    return new Series(this.frame, { op: 'astype', a: this.expr, to: type }, this.name);
  }
  /** The same values under another name. */
  rename(name: string): Series {
    if (typeof name !== 'string' || name === '') throw invalidArgType('name', 'a non-empty string', name);
    return new Series(this.frame, this.expr, name);
  }

  /** A one-column dataframe of the values. */
  toFrame(): DataFrame {
    return this.frame.assign({ [this.name]: this }).select([this.name]);
  }

  #reduce(how: string, ddof = 1, opts?: ReductionOptions): Scalar<number> {
    if (this.dtype === 'utf8') throw Object.assign(new TypeError(`cannot ${how} the strings of '${this.name}'`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
    const splitEvery = splitEveryOf(opts);
    const name = collectionName(`series-${how}`, this.frame, this.expr, ddof, splitEvery);
    const { layer } = treeReduction({
      name,
      inputs: this.frame.keys,
      splitEvery,
      perPartition: (input) => [dfKernels.moments, input, this.expr],
      aggregate: (partials, final) => [dfKernels.momentsAggregate, partials, final, how, ddof],
    });
    return new Scalar<number>(withLayer([this.frame], name, layer), name);
  }

  /** The sum of the present values. */
  sum(opts?: ReductionOptions): Scalar<number> {
    return this.#reduce('sum', 1, opts);
  }
  /** Values that are not missing (NaN). */
  count(opts?: ReductionOptions): Scalar<number> {
    return this.#reduce('count', 1, opts);
  }
  /** The mean of the present values. */
  mean(opts?: ReductionOptions): Scalar<number> {
    return this.#reduce('mean', 1, opts);
  }
  /** The smallest value (NaN when none). */
  min(opts?: ReductionOptions): Scalar<number> {
    return this.#reduce('min', 1, opts);
  }
  /** The largest value (NaN when none). */
  max(opts?: ReductionOptions): Scalar<number> {
    return this.#reduce('max', 1, opts);
  }
  /** The variance (`ddof` default 1, as pandas). */
  var(opts?: ReductionOptions & { ddof?: number }): Scalar<number> {
    return this.#reduce('var', opts?.ddof ?? 1, opts);
  }
  /** The standard deviation (`ddof` default 1). */
  std(opts?: ReductionOptions & { ddof?: number }): Scalar<number> {
    return this.#reduce('std', opts?.ddof ?? 1, opts);
  }

  /** [value, count] rows, the most frequent first (pandas' value_counts; the count column is 'count'). */
  valueCounts(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    const frame = this.expr.op === 'col' && this.expr.name === this.name ? this.frame : this.toFrame();
    const counts = frame.groupby(this.name).size({ ...opts, sort: false, name: 'count' });
    return opts?.sort === false ? counts : counts.sortedSmall(['count', this.name], [false, true]);
  }

  /** The distinct values, as a one-column dataframe (first seen first). */
  unique(opts?: ReductionOptions): DataFrame {
    return this.toFrame().dropDuplicates(undefined, opts);
  }

  /** The values where the (boolean) Series `mask`, of the same rows, is true. */
  filter(mask: Series): Series {
    return new Series(this.frame.filter(mask), this.expr, this.name);
  }

  /** A rolling window of `window` rows (pandas' rolling). */
  rolling(window: number, opts?: { minPeriods?: number }): Rolling {
    return this.toFrame().rolling(window, opts);
  }

  /** The first `n` values (computes, from the first partition: Dask's head). */
  async head(n = 5, opts?: ComputeOptions & { npartitions?: number }): Promise<arrow.Table> {
    return this.toFrame().head(n, opts);
  }

  /** Computes the values: a one-column Arrow table. */
  compute(opts?: ComputeOptions): Promise<arrow.Table> {
    return this.toFrame().compute(opts);
  }
}

/** `{ column: how }` or `{ column: [how, ...] }` for GroupBy.agg. */
export type AggSpec = Record<string, AggHow | AggHow[]>;

/** Rows grouped by key columns (Dask's DataFrameGroupBy): aggregations are tree reductions of partial aggregates. */
export class GroupBy {
  /** The dataframe grouped. */
  readonly frame: DataFrame;
  /** The key columns. */
  readonly by: string[];
  /** The column selected with col() (SeriesGroupBy), or null. */
  readonly selected: string[] | null;

  /** @internal */
  constructor(frame: DataFrame, by: string[], selected: string[] | null) {
    this.frame = frame;
    this.by = by;
    this.selected = selected;
  }

  /** The groups of one column (Dask's df.groupby(k)['col']). */
  col(name: string): GroupBy {
    fieldOf(this.frame.fields, name, `the dataframe ${this.frame.name}`);
    return new GroupBy(this.frame, this.by, [name]);
  }

  /** The groups of some columns (Dask's df.groupby(k)[['a', 'b']]). */
  select(columns: readonly string[]): GroupBy {
    const list = names(columns, 'columns');
    for (const name of list) fieldOf(this.frame.fields, name, `the dataframe ${this.frame.name}`);
    return new GroupBy(this.frame, this.by, list);
  }

  #values(): string[] {
    return this.selected ?? this.frame.fields.map((f) => f.name).filter((n) => !this.by.includes(n));
  }

  /**
   * Aggregates per group: `{ column: how }` (how: 'sum', 'count', 'mean', 'min', 'max', 'var', 'std',
   * 'first', 'last', or an array of them: columns named `<column>_<how>`). One row per group, sorted
   * by the keys unless `sort: false`; groups whose key is missing (NaN) are dropped, as pandas' dropna.
   */
  agg(spec: AggSpec | AggHow, opts?: ReductionOptions & { sort?: boolean; ddof?: number }): DataFrame {
    const entries: [string, AggHow[], boolean][] =
      typeof spec === 'string'
        ? this.#values().map((c) => [c, [spec], false])
        : (() => {
            validateOptionalObject(spec as unknown, 'spec');
            return Object.entries(spec).map(([c, how]) => [c, Array.isArray(how) ? how : [how], Array.isArray(how)] as [string, AggHow[], boolean]);
          })();
    if (entries.length === 0) throw invalidArgValue('spec', spec, 'names no column to aggregate');
    const outputs: { name: string; how: AggHow; source: string }[] = [];
    for (const [source, hows, many] of entries) for (const how of hows) outputs.push({ name: many ? `${source}_${how}` : source, how, source });
    return this.#aggregate(outputs, opts);
  }

  /** Output names: a key's own aggregate is `<key>_<how>` (the key column keeps the key's name); no two alike. */
  #named(outputs: { name: string; how: AggHow; source: string }[]): { name: string; how: AggHow; source: string }[] {
    const named = outputs.map((o) => (this.by.includes(o.name) ? { ...o, name: `${o.source}_${o.how}` } : o));
    const seen = new Set(this.by);
    for (const o of named) {
      if (seen.has(o.name)) throw invalidArgValue('spec', o.name, `gives two output columns named '${o.name}'`);
      seen.add(o.name);
    }
    return named;
  }

  #aggregate(given: { name: string; how: AggHow; source: string }[], opts: (ReductionOptions & { sort?: boolean; ddof?: number }) | undefined): DataFrame {
    const outputs = this.#named(given);
    const splitEvery = splitEveryOf(opts);
    const sort = opts?.sort ?? true;
    validateBoolean(sort, 'options.sort');
    const ddof = opts?.ddof ?? 1;
    const where = `the dataframe ${this.frame.name}`;
    const partials: PartialSpec[] = [];
    const partialOf = (source: string, op: PartialSpec['op']): string => {
      let p = partials.find((x) => x.source === source && x.op === op);
      if (p === undefined) partials.push((p = { name: `__${op}_${partials.length}`, source, op }));
      return p.name;
    };
    const keyFields = this.by.map((k) => fieldOf(this.frame.fields, k, where));
    const specs: OutputSpec[] = outputs.map(({ name, how, source }) => {
      if (!['sum', 'count', 'mean', 'min', 'max', 'size', 'var', 'std', 'first', 'last'].includes(how)) {
        throw invalidArgValue('how', how, "must be 'sum', 'count', 'mean', 'min', 'max', 'var', 'std', 'first' or 'last'");
      }
      const field = how === 'size' ? { name: '', type: 'int32' as DType } : fieldOf(this.frame.fields, source, where);
      if (field.type === 'utf8' && !['count', 'first', 'last', 'size'].includes(how)) {
        throw Object.assign(new TypeError(`cannot ${how} the strings of column '${source}'`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
      }
      switch (how) {
        case 'sum':
          return { name, how, source, type: 'float64', partials: [partialOf(source, 'sum')] };
        case 'count':
          return { name, how, source, type: 'int32', partials: [partialOf(source, 'count')] };
        case 'size':
          return { name, how, source, type: 'int32', partials: [partialOf('', 'count')] };
        case 'mean':
          return { name, how, source, type: 'float64', partials: [partialOf(source, 'sum'), partialOf(source, 'count')] };
        case 'var':
        case 'std':
          return { name, how, source, type: 'float64', ddof, partials: [partialOf(source, 'sum'), partialOf(source, 'count'), partialOf(source, 'sumsq')] };
        default:
          return { name, how, source, type: field.type, partials: [partialOf(source, how)] };
      }
    });
    const fields: Field[] = [...keyFields, ...specs.map((s) => ({ name: s.name, type: s.type }))];
    const name = collectionName('groupby-agg', this.frame, this.by, specs, sort, splitEvery);
    const keys = this.by;
    const { layer } = treeReduction({
      name,
      inputs: this.frame.keys,
      splitEvery,
      perPartition: (input) => [dfKernels.groupbyPartial, input, keys, partials],
      aggregate: (parts, final) =>
        final ? [dfKernels.groupbyFinal, parts, keys, partials, specs, sort, `${name}`] : [dfKernels.groupbyCombine, parts, keys, partials],
    });
    return new DataFrame(withLayer([this.frame], name, layer), name, 1, fields, name);
  }

  #each(how: AggHow, opts?: ReductionOptions & { sort?: boolean; ddof?: number }): DataFrame {
    return this.#aggregate(
      this.#values().map((c) => ({ name: c, how, source: c })),
      opts,
    );
  }

  /** Each group's sum per column. */
  sum(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('sum', opts);
  }
  /** Each group's mean per column. */
  mean(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('mean', opts);
  }
  /** Non-missing values per group. */
  count(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('count', opts);
  }
  /** Each group's smallest value per column. */
  min(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('min', opts);
  }
  /** Each group's largest value per column. */
  max(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('max', opts);
  }
  /** Each group's variance per column (`ddof` default 1). */
  var(opts?: ReductionOptions & { sort?: boolean; ddof?: number }): DataFrame {
    return this.#each('var', opts);
  }
  /** Each group's standard deviation per column. */
  std(opts?: ReductionOptions & { sort?: boolean; ddof?: number }): DataFrame {
    return this.#each('std', opts);
  }
  /** Each group's first row's values. */
  first(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('first', opts);
  }
  /** Each group's last row's values. */
  last(opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    return this.#each('last', opts);
  }
  /** Rows per group, in a column named `name` (default 'size'). */
  size(opts?: ReductionOptions & { sort?: boolean; name?: string }): DataFrame {
    return this.#aggregate([{ name: opts?.name ?? 'size', how: 'size', source: '' }], opts);
  }
}

/** A rolling window over rows (pandas' rolling(window)): partitions see the previous ones' last rows. */
export class Rolling {
  /** The dataframe windowed. */
  readonly frame: DataFrame;
  /** Rows per window. */
  readonly window: number;
  /** Values a window needs for a result (else NaN). */
  readonly minPeriods: number;
  /** @internal */
  constructor(frame: DataFrame, window: number, minPeriods: number) {
    this.frame = frame;
    this.window = window;
    this.minPeriods = minPeriods;
  }
  #apply(how: 'sum' | 'mean' | 'min' | 'max' | 'count'): DataFrame {
    const f = this.frame;
    const cols = f.fields.filter((x) => x.type === 'float64' || x.type === 'int32').map((x) => x.name);
    const name = collectionName(`rolling-${how}`, f, this.window, this.minPeriods);
    const layer: Graph = {};
    const tails = f.keys.map((key, i) => {
      const k = `${name}-tail-${i}`;
      layer[k] = [dfKernels.tail, ref(key), this.window - 1];
      return k;
    });
    f.keys.forEach((key, i) => {
      // Up to window - 1 earlier partitions, nearest last (a small partition may not reach back far enough alone).
      const before: KeyRef[] = [];
      for (let j = i - 1; j >= 0 && before.length < this.window - 1; j--) before.unshift(ref(tails[j]!));
      layer[partitionKey(name, i)] = [dfKernels.rolling, before, ref(key), cols, this.window, this.minPeriods, how];
    });
    const fields = f.fields.map((x) => (cols.includes(x.name) ? { name: x.name, type: 'float64' as DType } : x));
    return new DataFrame(withLayer([f], name, layer), name, f.npartitions, fields, name);
  }
  /** The sum of each window. */
  sum(): DataFrame {
    return this.#apply('sum');
  }
  /** The mean of each window. */
  mean(): DataFrame {
    return this.#apply('mean');
  }
  /** The smallest value of each window. */
  min(): DataFrame {
    return this.#apply('min');
  }
  /** The largest value of each window. */
  max(): DataFrame {
    return this.#apply('max');
  }
  /** The present values of each window. */
  count(): DataFrame {
    return this.#apply('count');
  }
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  S: 1000,
  min: 60_000,
  T: 60_000,
  h: 3_600_000,
  H: 3_600_000,
  d: 86_400_000,
  D: 86_400_000,
  W: 7 * 86_400_000,
};

/** A frequency ('1h', '15min', '30s', 'D') in milliseconds. */
export function frequencyMs(freq: string): number {
  const m = typeof freq === 'string' ? /^(\d*)\s*([a-zA-Z]+)$/.exec(freq) : null;
  const unit = m !== null ? UNITS[m[2]!] : undefined;
  if (m === null || unit === undefined) throw invalidArgValue('freq', freq, "must be a count and a unit: ms, s, min, h, D, W ('15min', '1h', 'D')");
  return (m[1] === '' ? 1 : Number(m[1])) * unit;
}

/** Options of DataFrame.merge. */
export interface MergeOptions {
  /** Key columns of both sides (default: the columns they share). */
  on?: string | string[];
  /** Key columns of the left side (with rightOn: keys named differently). */
  leftOn?: string | string[];
  /** Key columns of the right side. */
  rightOn?: string | string[];
  /** Default 'inner'. */
  how?: JoinHow;
  /** Added to the names both sides have, other than the keys (default ['_x', '_y'], as pandas). */
  suffixes?: [string, string];
  /** Output partitions of the shuffle (default: the larger side's). */
  npartitions?: number;
  /** 'hash' (default): both sides shuffled by key; 'broadcast': the right side (one partition, or gathered) sent whole to each left partition. */
  shuffle?: 'hash' | 'broadcast';
}

/** A dataframe (Dask's dask.dataframe.DataFrame): partitions of typed-array columns, lazily; compute() gives an Arrow table. */
export class DataFrame extends Collection<arrow.Table> {
  /** How many partitions (tasks per operation). */
  readonly npartitions: number;
  /** The columns' names and types. */
  readonly fields: readonly Field[];
  /** How its rows and columns relate to the frames it was made from (lining up Series). */
  readonly lineage: Lineage;

  /** @internal Made by readCsv, fromArrow, ... and the methods; `lineage` a token for a frame of new rows. */
  constructor(layers: Layers, name: string, npartitions: number, fields: readonly Field[], lineage: Lineage | string) {
    super(layers, name);
    this.npartitions = npartitions;
    this.fields = Object.freeze(fields.map((f) => Object.freeze({ ...f })));
    this.lineage = typeof lineage === 'string' ? freshLineage(lineage, fields) : lineage;
  }

  /** The token of its rows' identity and order (frames made by assign and select keep their input's). */
  get rows(): string {
    return this.lineage.rows[0]!;
  }

  get keys(): readonly string[] {
    return Array.from({ length: this.npartitions }, (_, i) => partitionKey(this.name, i));
  }

  /** The column names. */
  get columns(): string[] {
    return this.fields.map((f) => f.name);
  }

  /** Column name → type. */
  get dtypes(): Record<string, DType> {
    return Object.fromEntries(this.fields.map((f) => [f.name, f.type]));
  }

  /** The partitions as one Arrow table (a record batch per non-empty partition). */
  finalize(results: unknown[]): arrow.Table {
    return partsToTable(results as Part[], this.fields);
  }

  rebuild(layers: Layers): this {
    return new DataFrame(layers, this.name, this.npartitions, this.fields, this.lineage) as this;
  }

  /** A frame of one task per partition of this one. */
  #perPartition(
    name: string,
    task: (input: KeyRef, i: number) => unknown[],
    fields: readonly Field[],
    rows: Lineage | string = name,
    parents: readonly Collection<unknown>[] = [],
  ): DataFrame {
    const layer: Graph = {};
    for (let i = 0; i < this.npartitions; i++) layer[partitionKey(name, i)] = task(ref(partitionKey(this.name, i)), i);
    return new DataFrame(withLayer([this, ...parents], name, layer), name, this.npartitions, fields, rows);
  }

  #where(): string {
    return `the dataframe ${this.name}`;
  }

  /** A column (Dask's df['a']). Unknown: ERR_UCX_DATAFRAME_COLUMN. */
  col(name: string): Series {
    fieldOf(this.fields, name, this.#where());
    return new Series(this, { op: 'col', name }, name);
  }

  /** Some columns, in this order (Dask's df[['a', 'b']]). */
  select(columns: readonly string[]): DataFrame {
    const list = names(columns, 'columns');
    const fields = list.map((c) => fieldOf(this.fields, c, this.#where()));
    const outputs: [string, Expr][] = list.map((c) => [c, { op: 'col', name: c }]);
    const name = collectionName('select', this, list);
    const lineage: Lineage = { rows: this.lineage.rows, columns: Object.fromEntries(list.map((c) => [c, this.lineage.columns[c]!])) };
    return this.#perPartition(name, (input) => [dfKernels.project, input, outputs], fields, lineage);
  }

  /** Without some columns (pandas' drop(columns=)). */
  drop(columns: string | readonly string[]): DataFrame {
    const list = names(columns, 'columns');
    for (const c of list) fieldOf(this.fields, c, this.#where());
    return this.select(this.columns.filter((c) => !list.includes(c)));
  }

  /** Columns renamed (`{ old: 'new' }`). */
  rename(mapping: Record<string, string>): DataFrame {
    validateOptionalObject(mapping as unknown, 'mapping');
    for (const old of Object.keys(mapping)) fieldOf(this.fields, old, this.#where());
    const outputs: [string, Expr][] = this.fields.map((f) => [mapping[f.name] ?? f.name, { op: 'col', name: f.name }]);
    const fields = this.fields.map((f) => ({ name: mapping[f.name] ?? f.name, type: f.type }));
    const name = collectionName('rename', this, outputs);
    const lineage: Lineage = {
      rows: this.lineage.rows,
      columns: Object.fromEntries(this.fields.map((f) => [mapping[f.name] ?? f.name, this.lineage.columns[f.name]!])),
    };
    return this.#perPartition(name, (input) => [dfKernels.project, input, outputs], fields, lineage);
  }

  #exprOf(value: Series | Literal, what: string): Expr {
    if (value instanceof Series) {
      if (!lineUp(this, value)) {
        // An unknown column says so (a select dropped it); anything else is misaligned.
        for (const c of columnsOf(value.expr)) fieldOf(this.fields, c, this.#where());
        throw misaligned(what, value, this);
      }
      return value.expr;
    }
    if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return { op: 'lit', value };
    throw invalidArgType(what, 'a Series, a number, a string or a boolean', value);
  }

  /** New or replaced columns: `{ c: df.col('a').add(df.col('b')), k: 1 }` (Dask's assign). */
  assign(columns: Record<string, Series | Literal>): DataFrame {
    validateOptionalObject(columns as unknown, 'columns');
    const added = Object.entries(columns).map(([c, v]) => [c, this.#exprOf(v, `columns.${c}`)] as [string, Expr]);
    if (added.length === 0) return this;
    const outputs: [string, Expr][] = this.fields.map((f) => [f.name, added.find(([c]) => c === f.name)?.[1] ?? { op: 'col', name: f.name }]);
    for (const [c, e] of added) if (!this.fields.some((f) => f.name === c)) outputs.push([c, e]);
    const fields = outputs.map(([c, e]) => ({ name: c, type: typeOf(e, this.fields, this.#where())! }));
    const name = collectionName('assign', this, outputs);
    const ids: Record<string, string> = { ...this.lineage.columns };
    for (const [c] of added) ids[c] = `${name}:${c}`;
    return this.#perPartition(name, (input) => [dfKernels.project, input, outputs], fields, { rows: this.lineage.rows, columns: ids });
  }

  /** The rows where the boolean Series is true (Dask's df[mask]). */
  filter(mask: Series): DataFrame {
    if (!(mask instanceof Series)) throw invalidArgType('mask', "a boolean Series (df.col('a').gt(0))", mask);
    const expr = this.#exprOf(mask, 'mask');
    const type = typeOf(expr, this.fields, this.#where());
    if (type !== 'bool')
      throw Object.assign(new TypeError(`a filter must be a boolean Series, not ${type} ('${mask.name}')`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
    const name = collectionName('filter', this, expr);
    // Fewer rows, in order, with the same values: Series of this frame still line up with it.
    return this.#perPartition(name, (input) => [dfKernels.filter, input, expr], this.fields, {
      rows: [name, ...this.lineage.rows],
      columns: this.lineage.columns,
    });
  }

  /** Rows by a boolean Series, and optionally some columns (pandas' df.loc[mask, columns]). */
  loc(mask: Series, columns?: readonly string[]): DataFrame {
    const rows = this.filter(mask);
    return columns === undefined ? rows : rows.select(columns);
  }

  /** The rows whose `column` is one of `values` (df[df.col(c).isin(values)]). */
  isin(column: string, values: readonly Literal[]): DataFrame {
    return this.filter(this.col(column).isin(values));
  }

  /** Rows grouped by key columns (Dask's groupby). */
  groupby(by: string | readonly string[]): GroupBy {
    const list = names(by, 'by');
    for (const k of list) fieldOf(this.fields, k, this.#where());
    return new GroupBy(this, list, null);
  }

  /**
   * Rows grouped by time bins of the timestamp column `on` (`freq`: '1h', '15min', 'D'): the bins
   * are the groups, labelled by their start (pandas' resample(freq, on=)). Empty bins are left out.
   */
  resample(on: string, freq: string): GroupBy {
    const f = fieldOf(this.fields, on, this.#where());
    if (f.type !== 'timestamp' && f.type !== 'float64' && f.type !== 'int32')
      throw Object.assign(new TypeError(`resample: '${on}' is ${f.type}, not a timestamp`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
    const step = frequencyMs(freq);
    return this.assign({ [on]: new Series(this, { op: 'floor', a: { op: 'col', name: on }, step }, on) }).groupby(on);
  }

  /** A rolling window of `window` rows over the numeric columns (pandas' rolling(window, min_periods)). */
  rolling(window: number, opts?: { minPeriods?: number }): Rolling {
    validateInteger(window, 'window', 1, 1 << 20);
    const minPeriods = opts?.minPeriods ?? window;
    validateInteger(minPeriods, 'options.minPeriods', 0, window);
    return new Rolling(this, window, minPeriods);
  }

  /** Rows per distinct value of the columns, most frequent first (pandas' value_counts; column 'count'). */
  valueCounts(subset?: string | readonly string[], opts?: ReductionOptions & { sort?: boolean }): DataFrame {
    const by = subset === undefined ? this.columns : names(subset, 'subset');
    const counts = this.groupby(by).size({ ...opts, sort: false, name: 'count' });
    return opts?.sort === false ? counts : counts.sortedSmall(['count', ...by], [false, ...by.map(() => true)]);
  }

  /** @internal Sorted in one task (a small frame: reductions' results). */
  sortedSmall(by: string[], ascending: boolean[]): DataFrame {
    const name = collectionName('sort-small', this, by, ascending);
    const layer: Graph = { [partitionKey(name, 0)]: [dfKernels.concatSorted, this.keys.map((k) => ref(k)), by, ascending, name] };
    return new DataFrame(withLayer([this], name, layer), name, 1, this.fields, name);
  }

  /** Without repeated rows (by `subset`, default all columns), first kept (Dask's drop_duplicates: a tree reduction to one partition). */
  dropDuplicates(subset?: string | readonly string[], opts?: ReductionOptions): DataFrame {
    const cols = subset === undefined ? [] : names(subset, 'subset');
    for (const c of cols) fieldOf(this.fields, c, this.#where());
    const splitEvery = splitEveryOf(opts);
    const name = collectionName('drop-duplicates', this, cols, splitEvery);
    const { layer } = treeReduction({
      name,
      inputs: this.keys,
      splitEvery,
      perPartition: (input) => [dfKernels.dedupe, input, cols],
      aggregate: (parts) => [dfKernels.dedupeConcat, parts, cols, name],
    });
    return new DataFrame(withLayer([this], name, layer), name, 1, this.fields, name);
  }

  /**
   * The rows moved to `npartitions` partitions by the hash of `on` (Dask's shuffle, method 'tasks'):
   * each input partition is cut in one task, and each output partition gathers its pieces, picked
   * out where they were cut (so only the rows that move travel, worker to worker).
   */
  shuffle(on: string | readonly string[], opts?: { npartitions?: number }): DataFrame {
    const keys = names(on, 'on');
    for (const k of keys) fieldOf(this.fields, k, this.#where());
    const n = opts?.npartitions ?? this.npartitions;
    validateInteger(n, 'options.npartitions', 1, 1 << 16);
    const name = collectionName('shuffle', this, keys, n);
    const layer: Graph = {};
    for (let i = 0; i < this.npartitions; i++) {
      const split = `${name}-split-${i}`;
      layer[split] = [dfKernels.hashSplit, ref(partitionKey(this.name, i)), keys, n];
      for (let j = 0; j < n; j++) layer[`${name}-pick-${i}-${j}`] = [kernels.getItem, ref(split), j];
    }
    for (let j = 0; j < n; j++) {
      layer[partitionKey(name, j)] = [
        dfKernels.concat,
        Array.from({ length: this.npartitions }, (_, i) => ref(`${name}-pick-${i}-${j}`)),
        `partition ${j} of ${name}`,
      ];
    }
    return new DataFrame(withLayer([this], name, layer), name, n, this.fields, name);
  }

  /**
   * A database-style join (pandas' merge): both sides shuffled by key into the same partitions,
   * then joined partition by partition (or, `shuffle: 'broadcast'`, the right side whole in each
   * left partition). Output columns: the left's, then the right's other than its keys when the key
   * names agree; names both have get `suffixes`.
   */
  merge(right: DataFrame, opts: MergeOptions = {}): DataFrame {
    if (!(right instanceof DataFrame)) throw invalidArgType('right', 'a DataFrame', right);
    validateOptionalObject(opts, 'options');
    const how = opts.how ?? 'inner';
    if (!['inner', 'left', 'right', 'outer'].includes(how)) throw invalidArgValue('options.how', how, "must be 'inner', 'left', 'right' or 'outer'");
    let leftOn: string[];
    let rightOn: string[];
    if (opts.on !== undefined) leftOn = rightOn = names(opts.on, 'options.on');
    else if (opts.leftOn !== undefined || opts.rightOn !== undefined) {
      leftOn = names(opts.leftOn ?? [], 'options.leftOn');
      rightOn = names(opts.rightOn ?? [], 'options.rightOn');
      if (leftOn.length !== rightOn.length)
        throw invalidArgValue('options.rightOn', opts.rightOn, `names ${rightOn.length} columns and leftOn ${leftOn.length}`);
    } else {
      leftOn = rightOn = this.columns.filter((c) => right.columns.includes(c));
      if (leftOn.length === 0)
        throw Object.assign(new RangeError('merge: the dataframes share no column to join on (pass on, or leftOn and rightOn)'), {
          code: 'ERR_UCX_DATAFRAME_COLUMN',
        });
    }
    const lf = leftOn.map((k) => fieldOf(this.fields, k, this.#where()));
    const rf = rightOn.map((k) => fieldOf(right.fields, k, `the dataframe ${right.name}`));
    lf.forEach((f, i) => {
      if ((f.type === 'utf8') !== (rf[i]!.type === 'utf8'))
        throw Object.assign(new TypeError(`merge: the key '${f.name}' is ${f.type} on the left and '${rf[i]!.name}' ${rf[i]!.type} on the right`), {
          code: 'ERR_UCX_DATAFRAME_TYPE',
        });
    });
    const [sx, sy] = opts.suffixes ?? ['_x', '_y'];
    const sharedKeys = leftOn.filter((k, i) => rightOn[i] === k);
    const output: JoinSpec['output'] = [];
    const fields: Field[] = [];
    const rightNames = right.columns.filter((c) => !sharedKeys.includes(c));
    for (const f of this.fields) {
      const isKey = sharedKeys.includes(f.name);
      const clash = !isKey && rightNames.includes(f.name);
      const out = clash ? `${f.name}${sx}` : f.name;
      if (isKey) {
        const rt = rf[leftOn.indexOf(f.name)]!.type;
        output.push([out, how === 'inner' || how === 'left' ? 'left' : 'key', f.name]);
        fields.push({ name: out, type: how === 'inner' || how === 'left' || rt === f.type ? f.type : 'float64' });
      } else {
        output.push([out, 'left', f.name]);
        fields.push({ name: out, type: missingType(f.type, how === 'right' || how === 'outer') });
      }
    }
    for (const f of right.fields) {
      if (sharedKeys.includes(f.name)) continue;
      const out = this.columns.includes(f.name) && !sharedKeys.includes(f.name) ? `${f.name}${sy}` : f.name;
      output.push([out, 'right', f.name]);
      fields.push({ name: out, type: missingType(f.type, how === 'left' || how === 'outer') });
    }
    const spec: JoinSpec = { how, leftOn, rightOn, output };
    const mode = opts.shuffle ?? 'hash';
    if (mode !== 'hash' && mode !== 'broadcast') throw invalidArgValue('options.shuffle', mode, "must be 'hash' or 'broadcast'");
    if (mode === 'broadcast') {
      if (how === 'right' || how === 'outer')
        throw invalidArgValue('options.shuffle', mode, `cannot make a ${how} join (each left partition sees the whole right side)`);
      const whole = right.npartitions === 1 ? right : right.#gathered();
      const name = collectionName('merge', this, whole, spec, 'broadcast');
      return this.#perPartition(name, (input, i) => [dfKernels.join, input, ref(whole.keys[0]!), spec, `partition ${i} of ${name}`], fields, name, [whole]);
    }
    const n = opts.npartitions ?? Math.max(this.npartitions, right.npartitions);
    const l = this.shuffle(leftOn, { npartitions: n });
    const r = right.shuffle(rightOn, { npartitions: n });
    const name = collectionName('merge', l, r, spec);
    const layer: Graph = {};
    for (let j = 0; j < n; j++) layer[partitionKey(name, j)] = [dfKernels.join, ref(l.keys[j]!), ref(r.keys[j]!), spec, `partition ${j} of ${name}`];
    return new DataFrame(withLayer([l, r], name, layer), name, n, fields, name);
  }

  /** pandas' join: a merge on the columns `on` (Dask joins on the index; these frames have none). */
  join(right: DataFrame, opts: Omit<MergeOptions, 'leftOn' | 'rightOn'> & { lsuffix?: string; rsuffix?: string } = {}): DataFrame {
    const { lsuffix = '', rsuffix = '', ...rest } = opts;
    return this.merge(right, { how: 'left', suffixes: [lsuffix || '_x', rsuffix || '_y'], ...rest });
  }

  /** All partitions as one (a task that concatenates them). */
  #gathered(): DataFrame {
    const name = collectionName('gather', this);
    const layer: Graph = { [partitionKey(name, 0)]: [dfKernels.concat, this.keys.map((k) => ref(k)), name] };
    return new DataFrame(withLayer([this], name, layer), name, 1, this.fields, name);
  }

  /** One partition (Dask's repartition(npartitions=1)); more: by row ranges is not implemented. */
  repartition(opts: { npartitions: number }): DataFrame {
    validateInteger(opts?.npartitions, 'options.npartitions', 1, 1 << 16);
    if (opts.npartitions === 1) return this.#gathered();
    if (opts.npartitions === this.npartitions) return this;
    throw invalidArgValue(
      'options.npartitions',
      opts.npartitions,
      'must be 1 or the current number of partitions (use shuffle(on, { npartitions }) to change it)',
    );
  }

  /**
   * Sorted by `by` (NaN last): the first column's values are sampled, `npartitions - 1` boundaries
   * chosen from the samples, each partition cut at them, and each output partition sorted (Dask's
   * sort_values). The partitions are in order: compute() gives the whole table sorted.
   */
  sortValues(by: string | readonly string[], opts: { ascending?: boolean | boolean[]; npartitions?: number } = {}): DataFrame {
    const list = names(by, 'by');
    for (const k of list) fieldOf(this.fields, k, this.#where());
    const asc = opts.ascending ?? true;
    const ascending = Array.isArray(asc) ? asc : list.map(() => asc);
    if (ascending.length !== list.length || ascending.some((a) => typeof a !== 'boolean'))
      throw invalidArgValue('options.ascending', asc, `must be a boolean or ${list.length} of them`);
    const n = opts.npartitions ?? this.npartitions;
    validateInteger(n, 'options.npartitions', 1, 1 << 16);
    const name = collectionName('sort-values', this, list, ascending, n);
    const layer: Graph = {};
    if (n === 1) {
      layer[partitionKey(name, 0)] = [dfKernels.concatSorted, this.keys.map((k) => ref(k)), list, ascending, name];
      return new DataFrame(withLayer([this], name, layer), name, 1, this.fields, name);
    }
    const samples = this.keys.map((key, i) => {
      const k = `${name}-sample-${i}`;
      layer[k] = [dfKernels.sample, ref(key), list[0], 64];
      return ref(k);
    });
    const bounds = `${name}-boundaries`;
    layer[bounds] = [dfKernels.boundaries, samples, n];
    for (let i = 0; i < this.npartitions; i++) {
      const split = `${name}-split-${i}`;
      layer[split] = [dfKernels.rangeSplit, ref(this.keys[i]!), list[0], ref(bounds), ascending[0], n];
      for (let j = 0; j < n; j++) layer[`${name}-pick-${i}-${j}`] = [kernels.getItem, ref(split), j];
    }
    for (let j = 0; j < n; j++) {
      layer[partitionKey(name, j)] = [
        dfKernels.concatSorted,
        Array.from({ length: this.npartitions }, (_, i) => ref(`${name}-pick-${i}-${j}`)),
        list,
        ascending,
        `partition ${j} of ${name}`,
      ];
    }
    return new DataFrame(withLayer([this], name, layer), name, n, this.fields, name);
  }

  /** The `n` rows with the largest (or smallest) values of `column`. */
  nlargest(n: number, column: string): DataFrame {
    return this.#top(n, column, false);
  }
  /** The `n` rows with the smallest values of `column`. */
  nsmallest(n: number, column: string): DataFrame {
    return this.#top(n, column, true);
  }
  #top(n: number, column: string, ascending: boolean): DataFrame {
    validateInteger(n, 'n', 0, Number.MAX_SAFE_INTEGER);
    fieldOf(this.fields, column, this.#where());
    const name = collectionName(ascending ? 'nsmallest' : 'nlargest', this, n, column);
    const layer: Graph = {};
    const parts = this.keys.map((key, i) => {
      const k = `${name}-part-${i}`;
      layer[`${k}-sorted`] = [dfKernels.sort, ref(key), [column], [ascending]];
      layer[k] = [dfKernels.head, ref(`${k}-sorted`), n];
      return ref(k);
    });
    layer[`${name}-all`] = [dfKernels.concatSorted, parts, [column], [ascending], name];
    layer[partitionKey(name, 0)] = [dfKernels.head, ref(`${name}-all`), n];
    return new DataFrame(withLayer([this], name, layer), name, 1, this.fields, name);
  }

  /** The first `n` rows, from the first `npartitions` partitions (-1: all) (Dask's head). Computes. */
  async head(n = 5, opts: ComputeOptions & { npartitions?: number } = {}): Promise<arrow.Table> {
    validateInteger(n, 'n', 0, Number.MAX_SAFE_INTEGER);
    validateOptionalObject(opts, 'options');
    const { npartitions = 1, ...computeOptions } = opts;
    validateInteger(npartitions, 'options.npartitions', -1, this.npartitions);
    if (npartitions === 0) throw invalidArgValue('options.npartitions', npartitions, 'must be -1 (all) or at least 1');
    const from = npartitions === -1 ? this.npartitions : npartitions;
    const name = collectionName('head', this, n, from);
    const layer: Graph = {};
    const parts = this.keys.slice(0, from).map((key, i) => {
      const k = `${name}-part-${i}`;
      layer[k] = [dfKernels.head, ref(key), n];
      return ref(k);
    });
    layer[partitionKey(name, 0)] = [dfKernels.headConcat, parts, n, name];
    return new DataFrame(withLayer([this], name, layer), name, 1, this.fields, name).compute(computeOptions);
  }

  /** The number of rows (Dask's len(df), lazily). */
  len(opts?: ReductionOptions): Scalar<number> {
    const splitEvery = splitEveryOf(opts);
    const name = collectionName('len', this, splitEvery);
    const { layer } = treeReduction({
      name,
      inputs: this.keys,
      splitEvery,
      perPartition: (input) => [dfKernels.countRows, input],
      aggregate: (partials) => [dfKernels.sumNumbers, partials],
    });
    return new Scalar<number>(withLayer([this], name, layer), name);
  }

  /** Pearson correlations of the numeric columns (or `columns`), pairwise complete: a table with a 'column' column and one per column (pandas' corr). */
  corr(columns?: readonly string[], opts?: ReductionOptions): DataFrame {
    const list = columns === undefined ? this.fields.filter((f) => f.type !== 'utf8').map((f) => f.name) : names(columns, 'columns');
    for (const c of list)
      if (fieldOf(this.fields, c, this.#where()).type === 'utf8')
        throw Object.assign(new TypeError(`corr: '${c}' holds strings`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
    const splitEvery = splitEveryOf(opts);
    const name = collectionName('corr', this, list, splitEvery);
    const { layer } = treeReduction({
      name,
      inputs: this.keys,
      splitEvery,
      perPartition: (input) => [dfKernels.corr, input, list],
      aggregate: (partials, final) => [dfKernels.corrAggregate, partials, final, list, name],
    });
    const fields: Field[] = [{ name: 'column', type: 'utf8' }, ...list.map((c) => ({ name: c, type: 'float64' as DType }))];
    return new DataFrame(withLayer([this], name, layer), name, 1, fields, name);
  }

  /**
   * `fn(table, ...args)` for each partition (an Arrow table), giving an Arrow table (Dask's
   * map_partitions). Its columns: `meta` if given, else what fn gives for an empty table (called
   * here, once, as Dask does; so fn must be synchronous then).
   */
  mapPartitions(
    fn: UserFunction<(table: arrow.Table, ...args: never[]) => arrow.Table | Promise<arrow.Table>>,
    opts: { meta?: Field[] | arrow.Schema; args?: unknown[] } = {},
  ): DataFrame {
    if (!isModuleRef(fn)) toCode(fn, 'fn');
    validateOptionalObject(opts, 'options');
    const args = opts.args ?? [];
    let meta: Field[];
    if (opts.meta instanceof arrow.Schema) meta = fieldsOf(tableToPart(new arrow.Table(opts.meta), 'meta'));
    else if (opts.meta !== undefined) meta = opts.meta.map((f) => ({ name: f.name, type: f.type }));
    else {
      if (typeof fn !== 'function') throw invalidArgValue('options.meta', undefined, 'is needed for a moduleFunction() (its columns cannot be found here)');
      const result = (fn as (t: arrow.Table, ...a: unknown[]) => unknown)(partToTable(emptyPart(this.fields, 'meta')), ...args);
      if (!(result instanceof arrow.Table))
        throw Object.assign(new TypeError('mapPartitions: fn must return an Arrow Table synchronously for an empty table (or pass options.meta)'), {
          code: 'ERR_UCX_DATAFRAME_TYPE',
        });
      meta = fieldsOf(tableToPart(result, 'meta'));
    }
    const name = collectionName('map-partitions', this, fn, args, meta);
    return this.#perPartition(name, (input) => [dfKernels.mapPartitions, fn, input, args, meta], meta);
  }

  /**
   * Writes each partition to a CSV file and resolves with the paths (Dask's to_csv): `target` a path
   * with a '*' (replaced by the partition's number, zero-padded), or a directory (files `part.<i>.csv`).
   */
  async toCsv(target: string, opts: ComputeOptions & { sep?: string } = {}): Promise<string[]> {
    const { sep = ',', ...computeOptions } = opts;
    if (typeof sep !== 'string' || sep.length !== 1) throw invalidArgValue('options.sep', sep, 'must be one character');
    return this.#write('to-csv', target, 'csv', (input, file) => [dfKernels.writeCsv, input, file, sep], computeOptions);
  }

  /** Writes each partition to a Parquet file (snappy) and resolves with the paths (Dask's to_parquet; `target` as toCsv's, files `part.<i>.parquet`). */
  async toParquet(target: string, opts: ComputeOptions = {}): Promise<string[]> {
    return this.#write('to-parquet', target, 'parquet', (input, file) => [dfKernels.writeParquet, input, file], opts);
  }

  async #write(op: string, target: string, ext: string, task: (input: KeyRef, file: string) => unknown[], opts: ComputeOptions): Promise<string[]> {
    if (typeof target !== 'string' || target === '') throw invalidArgType('target', "a path with a '*', or a directory", target);
    // Numbers padded to one width, so that a glob's sorted matches come back in partition order.
    const width = String(this.npartitions - 1).length;
    const files = this.keys.map((_, i) => {
      const n = String(i).padStart(width, '0');
      return path.resolve(target.includes('*') ? target.replace('*', n) : path.join(target, `part.${n}.${ext}`));
    });
    // Writing is a side effect: a fresh name each time, so that a second call writes again.
    const name = collectionName(op, this, files, Symbol('write'));
    const layer: Graph = {};
    const written = this.keys.map((key, i) => {
      const k = `${name}-part-${i}`;
      layer[k] = task(ref(key), files[i]!);
      return ref(k);
    });
    layer[partitionKey(name, 0)] = [dfKernels.collectPaths, written];
    return new Scalar<string[]>(withLayer([this], name, layer), name).compute(opts);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DataFrame<${this.name}, ${this.npartitions} partition${this.npartitions === 1 ? '' : 's'}, ${this.fields.map((f) => `${f.name}: ${f.type}`).join(', ')}>`;
  }
}

/** The type a column gets when a join may leave rows without a value (int32 and bool become float64, as pandas' NaN does). */
function missingType(type: DType, mayMiss: boolean): DType {
  return mayMiss && (type === 'int32' || type === 'bool') ? 'float64' : type;
}
