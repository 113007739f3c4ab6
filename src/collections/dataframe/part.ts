// A dataframe partition as it lives and travels: Arrow's memory layout (a values buffer per column,
// offsets and UTF-8 bytes for strings) as plain data, so that it crosses threads (structured clone)
// and processes (the object codec: each buffer of 4 KiB or more is a frame of its own, sent without a
// copy on UCX) as its column buffers, with no IPC serialization into one big copy. Kernels read and
// make these; arrow.ts turns them into Arrow tables and back without copying the numeric buffers.
// Partitions are never mutated: a kernel that keeps a column passes the same buffers on.

/** Column types. Integers are int32 (wider ones are float64, exact to 2^53); timestamps are float64 milliseconds since the epoch (NaN: missing). */
export type DType = 'float64' | 'int32' | 'bool' | 'utf8' | 'timestamp';

export interface Column {
  name: string;
  type: DType;
  /** float64, timestamp: Float64Array; int32: Int32Array; bool: Uint8Array (0/1); utf8: the UTF-8 bytes. */
  values: Float64Array | Int32Array | Uint8Array;
  /** utf8 only: numRows + 1 offsets into `values`. */
  offsets?: Int32Array;
}

export interface Part {
  numRows: number;
  columns: Column[];
  /** Where the rows came from, for errors: 'partition 3 of read-csv-… (/data/2015-01-04.csv)'. */
  origin: string;
}

/** A column's name and type: what a collection knows of its partitions before they exist. */
export interface Field {
  /** The column's name. */
  name: string;
  /** The column's type. */
  type: DType;
}

export const DTYPES: readonly DType[] = ['float64', 'int32', 'bool', 'utf8', 'timestamp'];

export function isNumeric(type: DType): boolean {
  return type === 'float64' || type === 'int32' || type === 'bool' || type === 'timestamp';
}

/** A coded error about a partition: its message names the partition (and its file). */
export function partError(
  code: string,
  part: Pick<Part, 'origin'> | string,
  message: string,
  Kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor = Error,
): Error {
  const origin = typeof part === 'string' ? part : part.origin;
  return Object.assign(new Kind(`${message} (${origin})`), { code, origin });
}

export function column(part: Part, name: string): Column {
  const found = part.columns.find((c) => c.name === name);
  if (found === undefined) {
    throw partError('ERR_UCX_DATAFRAME_COLUMN', part, `no column '${name}' (columns: ${part.columns.map((c) => c.name).join(', ') || 'none'})`, RangeError);
  }
  return found;
}

export function emptyColumn(field: Field): Column {
  switch (field.type) {
    case 'int32':
      return { name: field.name, type: 'int32', values: new Int32Array(0) };
    case 'bool':
      return { name: field.name, type: 'bool', values: new Uint8Array(0) };
    case 'utf8':
      return { name: field.name, type: 'utf8', values: new Uint8Array(0), offsets: new Int32Array(1) };
    default:
      return { name: field.name, type: field.type, values: new Float64Array(0) };
  }
}

export function emptyPart(fields: readonly Field[], origin: string): Part {
  return { numRows: 0, columns: fields.map(emptyColumn), origin };
}

export function fieldsOf(part: Part): Field[] {
  return part.columns.map((c) => ({ name: c.name, type: c.type }));
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The string at row `i` of a utf8 column. */
export function stringAt(col: Column, i: number): string {
  const offsets = col.offsets!;
  const start = offsets[i]!;
  const end = offsets[i + 1]!;
  if (end - start < 24) {
    // Short ASCII strings: by hand (TextDecoder's call costs more than the bytes).
    const bytes = col.values as Uint8Array;
    let s = '';
    for (let k = start; k < end; k++) {
      const b = bytes[k]!;
      if (b >= 0x80) return decoder.decode(bytes.subarray(start, end));
      s += String.fromCharCode(b);
    }
    return s;
  }
  return decoder.decode((col.values as Uint8Array).subarray(start, end));
}

/** A utf8 column from strings. */
export function stringColumn(name: string, strings: readonly string[]): Column {
  const encoded = strings.map((s) => encoder.encode(s));
  const offsets = new Int32Array(strings.length + 1);
  let total = 0;
  encoded.forEach((bytes, i) => {
    total += bytes.length;
    offsets[i + 1] = total;
  });
  const values = new Uint8Array(total);
  encoded.forEach((bytes, i) => values.set(bytes, offsets[i]!));
  return { name, type: 'utf8', values, offsets };
}

/** The value at row i as JS sees it (numbers, booleans, strings; timestamps as milliseconds). */
export function valueAt(col: Column, i: number): number | string | boolean {
  if (col.type === 'utf8') return stringAt(col, i);
  if (col.type === 'bool') return col.values[i] === 1;
  return col.values[i]!;
}

/** The column's rows at `indices` (a gather). -1 picks a missing value (NaN, '' for strings, false). */
export function takeColumn(col: Column, indices: Int32Array | Uint32Array, name = col.name): Column {
  const n = indices.length;
  if (col.type === 'utf8') {
    const src = col.values as Uint8Array;
    const so = col.offsets!;
    const offsets = new Int32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = indices[i]!;
      if (r >= 0) total += so[r + 1]! - so[r]!;
      offsets[i + 1] = total;
    }
    const values = new Uint8Array(total);
    for (let i = 0; i < n; i++) {
      const r = indices[i]!;
      if (r < 0) continue;
      const start = so[r]!;
      const len = so[r + 1]! - start;
      if (len > 16) values.set(src.subarray(start, start + len), offsets[i]!);
      else for (let k = 0, at = offsets[i]!; k < len; k++) values[at + k] = src[start + k]!;
    }
    return { name, type: 'utf8', values, offsets };
  }
  const src = col.values;
  const Ctor = src.constructor as Float64ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;
  const out = new Ctor(n);
  const missing = col.type === 'float64' || col.type === 'timestamp' ? NaN : 0;
  for (let i = 0; i < n; i++) {
    const r = indices[i]!;
    out[i] = r >= 0 ? src[r]! : missing;
  }
  return { name, type: col.type, values: out };
}

/** The part's rows at `indices`. */
export function takeRows(part: Part, indices: Int32Array | Uint32Array, origin = part.origin): Part {
  return { numRows: indices.length, columns: part.columns.map((c) => takeColumn(c, indices)), origin };
}

/** Rows [start, end) of a column, as a compact copy (a view would drag its whole buffer along when cloned). */
export function sliceColumn(col: Column, start: number, end: number): Column {
  if (col.type === 'utf8') {
    const so = col.offsets!;
    const from = so[start]!;
    const offsets = new Int32Array(end - start + 1);
    for (let i = start; i <= end; i++) offsets[i - start] = so[i]! - from;
    return { name: col.name, type: 'utf8', values: (col.values as Uint8Array).slice(from, so[end]!), offsets };
  }
  return { name: col.name, type: col.type, values: col.values.slice(start, end) };
}

export function sliceRows(part: Part, start: number, end: number, origin = part.origin): Part {
  const s = Math.max(0, Math.min(start, part.numRows));
  const e = Math.max(s, Math.min(end, part.numRows));
  if (s === 0 && e === part.numRows) return origin === part.origin ? part : { ...part, origin };
  return { numRows: e - s, columns: part.columns.map((c) => sliceColumn(c, s, e)), origin };
}

/** The rows where `mask` is 1. */
export function filterRows(part: Part, mask: Uint8Array): Part {
  let count = 0;
  for (let i = 0; i < mask.length; i++) count += mask[i]!;
  if (count === part.numRows) return part;
  const indices = new Int32Array(count);
  for (let i = 0, k = 0; i < mask.length; i++) if (mask[i] === 1) indices[k++] = i;
  return takeRows(part, indices);
}

/** Parts of one schema one after another (their columns matched by name, in the first part's order). */
export function concatParts(parts: readonly Part[], origin: string, fields?: readonly Field[]): Part {
  const nonEmpty = parts.filter((p) => p.numRows > 0);
  const schema = fields ?? (parts[0] !== undefined ? fieldsOf(parts[0]) : []);
  if (nonEmpty.length === 0) return emptyPart(schema, origin);
  if (nonEmpty.length === 1) return { ...nonEmpty[0]!, origin };
  const numRows = nonEmpty.reduce((n, p) => n + p.numRows, 0);
  const columns = schema.map((field) =>
    concatColumns(
      nonEmpty.map((p) => column(p, field.name)),
      field,
    ),
  );
  return { numRows, columns, origin };
}

export function concatColumns(cols: readonly Column[], field: Field): Column {
  if (field.type === 'utf8') {
    let rows = 0;
    let bytes = 0;
    for (const c of cols) {
      rows += c.offsets!.length - 1;
      bytes += c.values.length;
    }
    const values = new Uint8Array(bytes);
    const offsets = new Int32Array(rows + 1);
    let r = 0;
    let b = 0;
    for (const c of cols) {
      values.set(c.values as Uint8Array, b);
      const co = c.offsets!;
      const n = co.length - 1;
      for (let i = 1; i <= n; i++) offsets[r + i] = b + co[i]!;
      r += n;
      b += c.values.length;
    }
    return { name: field.name, type: 'utf8', values, offsets };
  }
  let rows = 0;
  for (const c of cols) rows += c.values.length;
  const Ctor = field.type === 'int32' ? Int32Array : field.type === 'bool' ? Uint8Array : Float64Array;
  const values = new Ctor(rows);
  let at = 0;
  for (const c of cols) {
    if (c.values.constructor === Ctor) values.set(c.values as never, at);
    else for (let i = 0; i < c.values.length; i++) values[at + i] = c.values[i]!; // int32 into float64
    at += c.values.length;
  }
  return { name: field.name, type: field.type, values };
}

/** A numeric column as float64 values (int32 and bool converted; float64 and timestamp as they are). */
export function asFloat64(col: Column): Float64Array {
  if (col.values instanceof Float64Array) return col.values;
  if (col.type === 'utf8') throw Object.assign(new TypeError(`column '${col.name}' holds strings, not numbers`), { code: 'ERR_UCX_DATAFRAME_TYPE' });
  return Float64Array.from(col.values);
}

export function bytesOf(part: Part): number {
  let n = 0;
  for (const c of part.columns) n += c.values.byteLength + (c.offsets?.byteLength ?? 0);
  return n;
}
