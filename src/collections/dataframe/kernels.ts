// The dataframe's per-partition kernels: exported so that every executor (this thread, a thread or
// process of a local pool, a cluster's worker) imports this module by reference
// (moduleFunction(import.meta.url, name)); only user functions (mapPartitions) travel as source.
// A partition is a Part (part.ts): typed arrays that cross threads and processes as they are.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { moduleFunction } from '../../scheduler/code.js';
import { callable } from '../../scheduler/local/index.js';
import { arrow, partToTable, tableToPart } from './arrow.js';
import { readCsvBlock } from './csv.js';
import { evaluate, evaluateMask, type Expr } from './expr.js';
import { argsort, bucketsOf, factorize, jointKeys } from './hash.js';
import {
  asFloat64,
  column,
  concatParts,
  emptyPart,
  fieldsOf,
  filterRows,
  partError,
  sliceRows,
  stringAt,
  takeColumn,
  takeRows,
  type Column,
  type DType,
  type Field,
  type Part,
} from './part.js';

export { readCsvBlock };

// ---- element-wise ----

/** The partition's columns `outputs` ([name, expr] pairs: a plain column, or computed). */
export function projectPart(part: Part, outputs: [string, Expr][]): Part {
  return { numRows: part.numRows, columns: outputs.map(([name, expr]) => evaluate(expr, part, name)), origin: part.origin };
}

/** The rows where `expr` is true. */
export function filterPart(part: Part, expr: Expr): Part {
  return filterRows(part, evaluateMask(expr, part));
}

/** Each partition's own origin (where it came from) named: 'partition 3 of <collection>'. */
function withOrigin(part: Part, origin: string): Part {
  return part.origin === origin ? part : { ...part, origin };
}

// ---- readers ----

let parquet: typeof import('parquet-wasm/node') | undefined;

/** A Parquet file (its row groups `rowGroups`, or all) as one partition of `fields`. */
export async function readParquetFile(path: string, fields: Field[], origin: string): Promise<Part> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw Object.assign(partError('ERR_UCX_DATAFRAME_READ', origin, `cannot read ${path}: ${e.message}`), { cause: error, path, errno: e.code });
  }
  let table: arrow.Table;
  try {
    table = parquetToTable(
      bytes,
      fields.map((f) => f.name),
    );
  } catch (error) {
    throw Object.assign(
      partError('ERR_UCX_DATAFRAME_PARQUET', origin, `${path} is no Parquet file this reader can read: ${(error as Error).message ?? String(error)}`),
      { cause: error, path },
    );
  }
  return tableToPart(table, origin, fields);
}

/** Parquet bytes as an Arrow table (only `columns`, when given). */
export function parquetToTable(bytes: Uint8Array, columns?: string[], limit?: number): arrow.Table {
  parquet ??= createRequire(import.meta.url)('parquet-wasm/node') as typeof import('parquet-wasm/node');
  const options: { columns?: string[]; limit?: number } = {};
  if (columns !== undefined) options.columns = columns;
  if (limit !== undefined) options.limit = limit;
  const wasmTable = parquet.readParquet(bytes, options);
  return arrow.tableFromIPC(wasmTable.intoIPCStream());
}

/** A table as Parquet bytes (snappy). */
export function tableToParquet(table: arrow.Table): Uint8Array {
  parquet ??= createRequire(import.meta.url)('parquet-wasm/node') as typeof import('parquet-wasm/node');
  const wasmTable = parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const props = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.SNAPPY).build();
  return parquet.writeParquet(wasmTable, props);
}

// ---- reductions over groups ----

/** What a groupby aggregation computes per group. */
export type AggHow = 'sum' | 'count' | 'mean' | 'min' | 'max' | 'size' | 'var' | 'std' | 'first' | 'last';
/** A partial aggregate column: `op` of the column `source` ('' for size). */
export interface PartialSpec {
  name: string;
  source: string;
  op: 'sum' | 'count' | 'min' | 'max' | 'sumsq' | 'first' | 'last';
}
/** A final output column: how it is made from the partial columns. */
export interface OutputSpec {
  name: string;
  how: AggHow;
  source: string;
  type: DType;
  partials: string[];
  ddof?: number;
}

/**
 * Each group's partial aggregates in one partition: the key columns (each group's first row), then
 * one column per partial spec. Rows whose keys hold a NaN are dropped (pandas' dropna=True).
 */
export function groupbyPartial(part: Part, keys: string[], partials: PartialSpec[]): Part {
  const keyCols = keys.map((k) => column(part, k));
  const n = part.numRows;
  let rows = part;
  // dropna: rows with a missing key leave.
  if (keyCols.some((c) => c.type === 'float64' || c.type === 'timestamp')) {
    let missing = false;
    const mask = new Uint8Array(n).fill(1);
    for (const c of keyCols) {
      if (c.type !== 'float64' && c.type !== 'timestamp') continue;
      const v = c.values;
      for (let i = 0; i < n; i++)
        if (v[i] !== v[i]) {
          mask[i] = 0;
          missing = true;
        }
    }
    if (missing) rows = filterRows(part, mask);
  }
  const cols = keys.map((k) => column(rows, k));
  const { codes, ngroups, first } = factorize(cols, rows.numRows);
  const out: Column[] = cols.map((c) => takeColumn(c, first));
  for (const spec of partials)
    out.push(
      aggregateColumn(
        spec,
        spec.op === 'count' && spec.source === '' ? null : spec.source === '' ? null : column(rows, spec.source),
        codes,
        ngroups,
        rows.numRows,
      ),
    );
  return { numRows: ngroups, columns: out, origin: part.origin };
}

/** One partial column over groups. */
function aggregateColumn(spec: PartialSpec, col: Column | null, codes: Int32Array, ngroups: number, n: number): Column {
  const { name, op } = spec;
  if (col === null) {
    // size: rows per group.
    const out = new Float64Array(ngroups);
    for (let i = 0; i < n; i++) out[codes[i]!]!++;
    return { name, type: 'float64', values: out };
  }
  if (op === 'first' || op === 'last') {
    const at = new Int32Array(ngroups).fill(-1);
    if (op === 'first') {
      for (let i = n - 1; i >= 0; i--) at[codes[i]!] = i;
    } else for (let i = 0; i < n; i++) at[codes[i]!] = i;
    return takeColumn(col, at, name);
  }
  if (col.type === 'utf8') throw Object.assign(new TypeError(`cannot ${op} the strings of column '${col.name}'`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
  const v = col.values;
  if (op === 'count') {
    const out = new Float64Array(ngroups);
    if (col.type === 'float64' || col.type === 'timestamp') {
      for (let i = 0; i < n; i++) if (v[i] === v[i]) out[codes[i]!]!++;
    } else for (let i = 0; i < n; i++) out[codes[i]!]!++;
    return { name, type: 'float64', values: out };
  }
  if (op === 'sum' || op === 'sumsq') {
    const out = new Float64Array(ngroups);
    if (op === 'sum') {
      for (let i = 0; i < n; i++) {
        const x = v[i]!;
        if (x === x) out[codes[i]!]! += x;
      }
    } else
      for (let i = 0; i < n; i++) {
        const x = v[i]!;
        if (x === x) out[codes[i]!]! += x * x;
      }
    return { name, type: 'float64', values: out };
  }
  // min / max: NaN where a group has no value; the column's own type otherwise.
  const out = new Float64Array(ngroups).fill(NaN);
  if (op === 'min') {
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      const g = codes[i]!;
      if (x === x && !(out[g]! <= x)) out[g] = x;
    }
  } else
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      const g = codes[i]!;
      if (x === x && !(out[g]! >= x)) out[g] = x;
    }
  if (col.type === 'int32' || col.type === 'bool') return { name, type: col.type, values: col.type === 'int32' ? Int32Array.from(out) : Uint8Array.from(out) };
  return { name, type: col.type, values: out };
}

/** Partial aggregates of several partitions combined into one (sum of sums and counts, min of mins, ...). */
export function groupbyCombine(partials: Part[], keys: string[], specs: PartialSpec[]): Part {
  const origin = partials[0]?.origin ?? 'groupby';
  const all = concatParts(partials, origin);
  if (all.numRows === 0) return all;
  const cols = keys.map((k) => column(all, k));
  const { codes, ngroups, first } = factorize(cols, all.numRows);
  const out: Column[] = cols.map((c) => takeColumn(c, first));
  for (const spec of specs) {
    const combineOp = spec.op === 'count' || spec.op === 'sumsq' ? 'sum' : spec.op;
    out.push(aggregateColumn({ ...spec, op: combineOp }, column(all, spec.name), codes, ngroups, all.numRows));
  }
  return { numRows: ngroups, columns: out, origin };
}

/** The final aggregates from combined partials, sorted by the keys when `sort` (pandas' default). */
export function groupbyFinal(partials: Part[], keys: string[], specs: PartialSpec[], outputs: OutputSpec[], sort: boolean, origin: string): Part {
  const combined = groupbyCombine(partials, keys, specs);
  const n = combined.numRows;
  const cols: Column[] = keys.map((k) => column(combined, k));
  for (const o of outputs) {
    const p = o.partials.map((name) => column(combined, name).values as Float64Array);
    let values: Float64Array | Int32Array | Uint8Array;
    switch (o.how) {
      case 'sum':
      case 'count':
      case 'size':
        values = p[0]!;
        break;
      case 'min':
      case 'max':
      case 'first':
      case 'last':
        cols.push({ ...column(combined, o.partials[0]!), name: o.name });
        continue;
      case 'mean': {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = p[0]![i]! / p[1]![i]!;
        values = out;
        break;
      }
      case 'var':
      case 'std': {
        const out = new Float64Array(n);
        const ddof = o.ddof ?? 1;
        for (let i = 0; i < n; i++) {
          const c = p[1]![i]!;
          const mean = p[0]![i]! / c;
          const v = (p[2]![i]! - c * mean * mean) / (c - ddof);
          out[i] = c - ddof <= 0 ? NaN : o.how === 'std' ? Math.sqrt(Math.max(0, v)) : Math.max(0, v);
        }
        values = out;
        break;
      }
    }
    if (o.type === 'int32') values = Int32Array.from(values);
    cols.push({ name: o.name, type: o.type, values });
  }
  const result: Part = { numRows: n, columns: cols, origin };
  if (!sort || n <= 1) return result;
  return takeRows(
    result,
    argsort(
      keys.map((k) => column(result, k)),
      n,
      keys.map(() => true),
    ),
  );
}

/** The rows sorted by `by` (NaN last), stable. */
export function sortPart(part: Part, by: string[], ascending: boolean[]): Part {
  if (part.numRows <= 1) return part;
  return takeRows(
    part,
    argsort(
      by.map((k) => column(part, k)),
      part.numRows,
      ascending,
    ),
  );
}

/** The partial results, concatenated and sorted (valueCounts: by count, largest first). */
export function concatSorted(parts: Part[], by: string[], ascending: boolean[], origin: string): Part {
  return sortPart(concatParts(parts, origin), by, ascending);
}

// ---- duplicates ----

/** The rows whose `subset` values (all columns when empty) first appear here. */
export function dedupePart(part: Part, subset: string[]): Part {
  const cols = subset.length === 0 ? part.columns : subset.map((k) => column(part, k));
  const { ngroups, first } = factorize(cols, part.numRows);
  if (ngroups === part.numRows) return part;
  return takeRows(part, first);
}

/** Several partitions' rows without duplicates (first seen kept, partitions in order). */
export function dedupeConcat(parts: Part[], subset: string[], origin: string): Part {
  return withOrigin(dedupePart(concatParts(parts, origin), subset), origin);
}

// ---- shuffles ----

/** The partition cut into `n` by the hash of `keys`: what each output partition gets (picked out with getItem). */
export function hashSplit(part: Part, keys: string[], n: number): Part[] {
  const buckets = bucketsOf(
    keys.map((k) => column(part, k)),
    part.numRows,
    n,
  );
  const counts = new Int32Array(n);
  for (let i = 0; i < buckets.length; i++) counts[buckets[i]!]!++;
  const indices = Array.from({ length: n }, (_, j) => new Int32Array(counts[j]!));
  const at = new Int32Array(n);
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]!;
    indices[b]![at[b]!++] = i;
  }
  return indices.map((idx) => takeRows(part, idx));
}

/** Partitions one after another. */
export function concatKernel(parts: Part[], origin: string): Part {
  return withOrigin(concatParts(parts, origin), origin);
}

/** Which rows a join keeps: matched ones (inner), and the left's, the right's or both sides' unmatched ones. */
export type JoinHow = 'inner' | 'left' | 'right' | 'outer';
export interface JoinSpec {
  how: JoinHow;
  leftOn: string[];
  rightOn: string[];
  /** The output columns: [name, side, source column] ('key': the joined key, either side's). */
  output: [string, 'left' | 'right' | 'key', string][];
}

/**
 * A hash join of two partitions holding the same keys' rows (after a shuffle, or one side whole):
 * rows in the left's order, each left row's matches in the right's order (pandas' order for
 * inner and left joins); right rows without a match come after, for right and outer joins.
 */
export function joinParts(left: Part, right: Part, spec: JoinSpec, origin: string): Part {
  const lk = spec.leftOn.map((k) => column(left, k));
  const rk = spec.rightOn.map((k) => column(right, k));
  const nl = left.numRows;
  const nr = right.numRows;
  const { codes, ngroups } = factorize(jointKeys(lk, rk), nl + nr);
  // Missing keys (NaN) match nothing, as in pandas... except pandas matches NaN with NaN; we do too (factorize groups NaN).
  // Right rows by group: a counting sort.
  const start = new Int32Array(ngroups + 1);
  for (let i = 0; i < nr; i++) start[codes[nl + i]! + 1]!++;
  for (let g = 0; g < ngroups; g++) start[g + 1]! += start[g]!;
  const rightRows = new Int32Array(nr);
  const fill = start.slice(0, ngroups);
  for (let i = 0; i < nr; i++) rightRows[fill[codes[nl + i]!]!++] = i;
  let total = 0;
  const keepLeft = spec.how === 'left' || spec.how === 'outer';
  const keepRight = spec.how === 'right' || spec.how === 'outer';
  for (let i = 0; i < nl; i++) {
    const g = codes[i]!;
    const m = start[g + 1]! - start[g]!;
    total += m > 0 ? m : keepLeft ? 1 : 0;
  }
  let matched: Uint8Array | null = null;
  if (keepRight) {
    matched = new Uint8Array(ngroups);
    for (let i = 0; i < nl; i++) matched[codes[i]!] = 1;
    for (let i = 0; i < nr; i++) if (matched[codes[nl + i]!] === 0) total++;
  }
  const li = new Int32Array(total);
  const ri = new Int32Array(total);
  let k = 0;
  for (let i = 0; i < nl; i++) {
    const g = codes[i]!;
    const s = start[g]!;
    const e = start[g + 1]!;
    if (s === e) {
      if (keepLeft) {
        li[k] = i;
        ri[k++] = -1;
      }
      continue;
    }
    for (let j = s; j < e; j++) {
      li[k] = i;
      ri[k++] = rightRows[j]!;
    }
  }
  if (matched !== null)
    for (let i = 0; i < nr; i++)
      if (matched[codes[nl + i]!] === 0) {
        li[k] = -1;
        ri[k++] = i;
      }
  const columns = spec.output.map(([name, side, source]) => {
    if (side === 'left') return takeMaybe(column(left, source), li, name, keepRight);
    if (side === 'right') return takeMaybe(column(right, source), ri, name, keepLeft);
    // A key: the left's value, or the right's where the left has none.
    const at = spec.leftOn.indexOf(source);
    const lc = lk[at]!;
    const rc = rk[at]!;
    const fromLeft = takeColumn(lc, li, name);
    if (!keepRight) return fromLeft;
    const fromRight = takeColumn(rc, ri, name);
    const type = lc.type === rc.type ? lc.type : 'float64';
    const picked = new Int32Array(total);
    for (let r = 0; r < total; r++) picked[r] = li[r]! >= 0 ? r : total + r;
    const both = concatParts(
      [
        { numRows: total, columns: [asType(fromLeft, type)], origin },
        { numRows: total, columns: [asType(fromRight, type)], origin },
      ],
      origin,
      [{ name, type }],
    );
    return takeColumn(both.columns[0]!, picked, name);
  });
  return { numRows: total, columns, origin };
}

/** A gather where -1 (no match) may occur: int32 and bool columns become float64 with NaN there (pandas' NaN). */
function takeMaybe(col: Column, indices: Int32Array, name: string, mayMiss: boolean): Column {
  if (!mayMiss || (col.type !== 'int32' && col.type !== 'bool')) return takeColumn(col, indices, name);
  const v = col.values;
  const out = new Float64Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    out[i] = r >= 0 ? v[r]! : NaN;
  }
  return { name, type: 'float64', values: out };
}

function asType(col: Column, type: DType): Column {
  if (col.type === type) return col;
  return { name: col.name, type, values: asFloat64(col) };
}

// ---- sorting across partitions ----

/** Up to `k` evenly spaced values of the column (numbers, or strings), for the sort's boundaries. */
export function sampleColumn(part: Part, name: string, k: number): (number | string)[] {
  const col = column(part, name);
  const n = part.numRows;
  const out: (number | string)[] = [];
  if (n === 0) return out;
  const step = Math.max(1, n / k);
  for (let x = 0; x < n && out.length < k; x += step) {
    const i = Math.floor(x);
    out.push(col.type === 'utf8' ? stringAt(col, i) : col.values[i]!);
  }
  return out;
}

/** `n - 1` boundaries from the samples: the quantiles of their sorted union. */
export function sortBoundaries(samples: (number | string)[][], n: number): (number | string)[] {
  const all = samples.flat().filter((v) => v === v);
  all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: (number | string)[] = [];
  for (let j = 1; j < n; j++) if (all.length > 0) out.push(all[Math.min(all.length - 1, Math.floor((j * all.length) / n))]!);
  return out;
}

/**
 * The partition cut by the boundaries of its column `name` (ascending: part j holds values in
 * (b[j-1], b[j]]; descending: the reverse); NaN goes to the last part.
 */
export function rangeSplit(part: Part, name: string, boundaries: (number | string)[], ascending: boolean, nout: number): Part[] {
  // Fewer boundaries than nout - 1 (too few samples: few rows, or none): the last parts stay empty.
  const col = column(part, name);
  const n = part.numRows;
  const bucket = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = col.type === 'utf8' ? stringAt(col, i) : col.values[i]!;
    let b: number;
    if (v !== v) b = nout - 1;
    else {
      let lo = 0;
      let hi = boundaries.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (boundaries[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      b = ascending ? lo : nout - 1 - lo;
    }
    bucket[i] = b;
  }
  const counts = new Int32Array(nout);
  for (let i = 0; i < n; i++) counts[bucket[i]!]!++;
  const idx = Array.from({ length: nout }, (_, j) => new Int32Array(counts[j]!));
  const at = new Int32Array(nout);
  for (let i = 0; i < n; i++) {
    const b = bucket[i]!;
    idx[b]![at[b]!++] = i;
  }
  return idx.map((ix) => takeRows(part, ix));
}

// ---- head ----

export function headPart(part: Part, n: number): Part {
  return sliceRows(part, 0, n);
}

export function headConcat(parts: Part[], n: number, origin: string): Part {
  const out: Part[] = [];
  let left = n;
  for (const p of parts) {
    if (left <= 0) break;
    const piece = sliceRows(p, 0, left);
    out.push(piece);
    left -= piece.numRows;
  }
  return withOrigin(concatParts(out, origin, parts[0] !== undefined ? fieldsOf(parts[0]) : []), origin);
}

// ---- scalar reductions of a column ----

/** [count, sum, sumsq, min, max] of the column's non-missing values. */
export function momentsPartial(part: Part, expr: Expr): number[] {
  const col = evaluate(expr, part, '__x');
  if (col.type === 'utf8') throw partError('ERR_UCX_DATAFRAME_TYPE', part, 'cannot reduce strings', TypeError);
  const v = col.values;
  let count = 0;
  let sum = 0;
  let sumsq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x !== x) continue;
    count++;
    sum += x;
    sumsq += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return [count, sum, sumsq, min, max];
}

/** Partial moments combined; the final one gives the reduction `how`. */
export function momentsAggregate(partials: number[][], final: boolean, how: string, ddof: number): number | number[] {
  const out = [0, 0, 0, Infinity, -Infinity];
  for (const p of partials) {
    out[0]! += p[0]!;
    out[1]! += p[1]!;
    out[2]! += p[2]!;
    if (p[3]! < out[3]!) out[3] = p[3]!;
    if (p[4]! > out[4]!) out[4] = p[4]!;
  }
  if (!final) return out;
  const [count, sum, sumsq, min, max] = out as [number, number, number, number, number];
  switch (how) {
    case 'count':
      return count;
    case 'sum':
      return sum;
    case 'mean':
      return count === 0 ? NaN : sum / count;
    case 'min':
      return count === 0 ? NaN : min;
    case 'max':
      return count === 0 ? NaN : max;
    case 'var':
    case 'std': {
      if (count - ddof <= 0) return NaN;
      const mean = sum / count;
      const v = Math.max(0, (sumsq - count * mean * mean) / (count - ddof));
      return how === 'std' ? Math.sqrt(v) : v;
    }
    default:
      throw new RangeError(`unknown reduction '${how}'`);
  }
}

/** The number of rows. */
export function countRows(part: Part): number {
  return part.numRows;
}

export function sumNumbers(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Pairwise sums for correlations: for each pair (a, b), over rows where both are present, [n, sa, sb, saa, sbb, sab]. */
export function corrPartial(part: Part, names: string[]): number[][] {
  const cols = names.map((name) => asFloat64(column(part, name)));
  const out: number[][] = [];
  for (let a = 0; a < cols.length; a++) {
    for (let b = a; b < cols.length; b++) {
      const x = cols[a]!;
      const y = cols[b]!;
      let n = 0,
        sa = 0,
        sb = 0,
        saa = 0,
        sbb = 0,
        sab = 0;
      for (let i = 0; i < x.length; i++) {
        const u = x[i]!;
        const w = y[i]!;
        if (u !== u || w !== w) continue;
        n++;
        sa += u;
        sb += w;
        saa += u * u;
        sbb += w * w;
        sab += u * w;
      }
      out.push([n, sa, sb, saa, sbb, sab]);
    }
  }
  return out;
}

/** Pairwise sums added; the final one gives the correlation matrix (a partition: 'column', then one column per name). */
export function corrAggregate(partials: number[][][], final: boolean, names: string[], origin: string): number[][] | Part {
  const sum = partials[0]!.map((row, i) => row.map((_, k) => partials.reduce((s, p) => s + p[i]![k]!, 0)));
  if (!final) return sum;
  const k = names.length;
  const matrix = Array.from({ length: k }, () => new Float64Array(k));
  let at = 0;
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      const [n, sa, sb, saa, sbb, sab] = sum[at++] as [number, number, number, number, number, number];
      const cov = sab - (sa * sb) / n;
      const va = saa - (sa * sa) / n;
      const vb = sbb - (sb * sb) / n;
      const r = a === b ? (n > 1 && va > 0 ? 1 : NaN) : cov / Math.sqrt(va * vb);
      matrix[a]![b] = r;
      matrix[b]![a] = r;
    }
  }
  const labels = new TextEncoder().encode(names.join(''));
  const offsets = new Int32Array(k + 1);
  names.forEach((name, i) => {
    offsets[i + 1] = offsets[i]! + new TextEncoder().encode(name).length;
  });
  return {
    numRows: k,
    columns: [
      { name: 'column', type: 'utf8', values: labels, offsets },
      ...names.map((name, j) => ({ name, type: 'float64' as DType, values: Float64Array.from(matrix, (row) => row[j]!) })),
    ],
    origin,
  };
}

// ---- windows ----

/** The last `n` rows (what the next partition's rolling window reaches back to). */
export function tailPart(part: Part, n: number): Part {
  return sliceRows(part, Math.max(0, part.numRows - n), part.numRows);
}

/**
 * A rolling window of `window` rows over the columns `names` (the others kept as they are), with
 * `before` (the previous partitions' last rows) in front: `how` of each window with at least
 * `minPeriods` values, NaN otherwise (pandas' rolling(window, min_periods)).
 */
export function rollingPart(
  before: Part[],
  part: Part,
  names: string[],
  window: number,
  minPeriods: number,
  how: 'sum' | 'mean' | 'min' | 'max' | 'count',
): Part {
  const head = concatParts(before, part.origin, fieldsOf(part));
  const pre = Math.min(head.numRows, window - 1);
  const ctx = concatParts([sliceRows(head, head.numRows - pre, head.numRows), part], part.origin, fieldsOf(part));
  const columns = part.columns.map((c) => {
    if (!names.includes(c.name)) return c;
    const v = asFloat64(column(ctx, c.name));
    const out = new Float64Array(part.numRows);
    for (let i = 0; i < part.numRows; i++) {
      const end = pre + i + 1;
      const from = Math.max(0, end - window);
      let count = 0,
        sum = 0,
        min = Infinity,
        max = -Infinity;
      for (let j = from; j < end; j++) {
        const x = v[j]!;
        if (x !== x) continue;
        count++;
        sum += x;
        if (x < min) min = x;
        if (x > max) max = x;
      }
      out[i] = how === 'count' ? count : count < minPeriods ? NaN : how === 'sum' ? sum : how === 'mean' ? sum / count : how === 'min' ? min : max;
    }
    return { name: c.name, type: 'float64' as DType, values: out };
  });
  return { numRows: part.numRows, columns, origin: part.origin };
}

// ---- user functions ----

/**
 * `fn(table, ...args)` for a partition (an Arrow table), giving an Arrow table (or record batch);
 * its columns must be those of `fields` (the meta: what fn gave for an empty table, or the user's).
 */
export async function mapPartitionKernel(fn: unknown, part: Part, args: unknown[], fields: Field[]): Promise<Part> {
  const f = await callable(fn);
  const result = await f(partToTable(part), ...args);
  if (!(result instanceof arrow.Table) && !(result instanceof arrow.RecordBatch)) {
    throw partError(
      'ERR_UCX_DATAFRAME_TYPE',
      part,
      `mapPartitions: fn gave ${result === null ? 'null' : typeof result === 'object' ? (result as object).constructor?.name : typeof result}, not an Arrow Table`,
      TypeError,
    );
  }
  return tableToPart(result, part.origin, fields);
}

/** The fields of what `fn` gives for an empty partition of `fields` (mapPartitions' meta; runs where the graph is built). */
export async function metaOf(fn: unknown, fields: Field[], args: unknown[]): Promise<Field[]> {
  const f = await callable(fn);
  const result = await f(partToTable(emptyPart(fields, 'meta')), ...args);
  if (!(result instanceof arrow.Table) && !(result instanceof arrow.RecordBatch))
    throw Object.assign(new TypeError('mapPartitions: fn must return an Arrow Table'), { code: 'ERR_UCX_DATAFRAME_TYPE' });
  return fieldsOf(tableToPart(result, 'meta'));
}

// ---- writers ----

function csvField(col: Column, i: number, sep: string): string {
  switch (col.type) {
    case 'utf8': {
      const v = stringAt(col, i);
      return v.includes(sep) || v.includes('"') || v.includes('\n') || v.includes('\r') ? `"${v.replace(/"/g, '""')}"` : v;
    }
    case 'bool':
      return col.values[i] === 1 ? 'True' : 'False';
    case 'timestamp': {
      const ms = col.values[i]!;
      return Number.isNaN(ms)
        ? ''
        : new Date(ms)
            .toISOString()
            .replace('T', ' ')
            .replace(/\.000Z$|Z$/, '');
    }
    default: {
      const x = col.values[i]!;
      return Number.isNaN(x) ? '' : String(x);
    }
  }
}

/** Writes the partition as a CSV file (a header, then a line a row; missing values empty); gives the path. */
export async function writeCsvPart(part: Part, file: string, sep: string): Promise<string> {
  const lines = [part.columns.map((c) => c.name).join(sep)];
  for (let i = 0; i < part.numRows; i++) lines.push(part.columns.map((c) => csvField(c, i, sep)).join(sep));
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await fs.promises.writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** Writes the partition as a Parquet file (snappy); gives the path. */
export async function writeParquetPart(part: Part, file: string): Promise<string> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await fs.promises.writeFile(file, tableToParquet(partToTable(part)));
  return file;
}

/** The paths written, one partition's each. */
export function collectPaths(paths: string[]): string[] {
  return paths;
}

/** A literal partition, named for errors. */
export function namedPart(part: Part, origin: string): Part {
  return withOrigin(part, origin);
}

const here = import.meta.url;
export const dfKernels = Object.freeze({
  readCsv: moduleFunction(here, 'readCsvBlock'),
  readParquet: moduleFunction(here, 'readParquetFile'),
  project: moduleFunction(here, 'projectPart'),
  filter: moduleFunction(here, 'filterPart'),
  groupbyPartial: moduleFunction(here, 'groupbyPartial'),
  groupbyCombine: moduleFunction(here, 'groupbyCombine'),
  groupbyFinal: moduleFunction(here, 'groupbyFinal'),
  sort: moduleFunction(here, 'sortPart'),
  concatSorted: moduleFunction(here, 'concatSorted'),
  dedupe: moduleFunction(here, 'dedupePart'),
  dedupeConcat: moduleFunction(here, 'dedupeConcat'),
  hashSplit: moduleFunction(here, 'hashSplit'),
  concat: moduleFunction(here, 'concatKernel'),
  join: moduleFunction(here, 'joinParts'),
  sample: moduleFunction(here, 'sampleColumn'),
  boundaries: moduleFunction(here, 'sortBoundaries'),
  rangeSplit: moduleFunction(here, 'rangeSplit'),
  head: moduleFunction(here, 'headPart'),
  headConcat: moduleFunction(here, 'headConcat'),
  moments: moduleFunction(here, 'momentsPartial'),
  momentsAggregate: moduleFunction(here, 'momentsAggregate'),
  countRows: moduleFunction(here, 'countRows'),
  sumNumbers: moduleFunction(here, 'sumNumbers'),
  corr: moduleFunction(here, 'corrPartial'),
  corrAggregate: moduleFunction(here, 'corrAggregate'),
  tail: moduleFunction(here, 'tailPart'),
  rolling: moduleFunction(here, 'rollingPart'),
  mapPartitions: moduleFunction(here, 'mapPartitionKernel'),
  named: moduleFunction(here, 'namedPart'),
  writeCsv: moduleFunction(here, 'writeCsvPart'),
  writeParquet: moduleFunction(here, 'writeParquetPart'),
  collectPaths: moduleFunction(here, 'collectPaths'),
});
