// Partitions to Apache Arrow tables and back. Float64, Int32 and Utf8 columns are shared, not copied
// (the Arrow vectors are views of the partition's buffers, and the partition's columns views of the
// Arrow buffers); booleans (a byte per value here, a bit in Arrow) and timestamps (float64
// milliseconds here, int64 in Arrow) are converted. Arrow nulls become NaN in float columns (an int
// column with nulls becomes float64, as pandas does), '' in strings and false in booleans.
import * as arrow from 'apache-arrow';
import { concatParts, emptyPart, fieldsOf, partError, type Column, type DType, type Field, type Part } from './part.js';

/** The Arrow type of a column type. */
export function arrowType(type: DType): arrow.DataType {
  switch (type) {
    case 'float64':
      return new arrow.Float64();
    case 'int32':
      return new arrow.Int32();
    case 'bool':
      return new arrow.Bool();
    case 'utf8':
      return new arrow.Utf8();
    case 'timestamp':
      return new arrow.TimestampMillisecond();
  }
}

function columnData(col: Column): arrow.Data {
  const length = col.type === 'utf8' ? col.offsets!.length - 1 : col.values.length;
  switch (col.type) {
    case 'float64':
      return arrow.makeData({ type: new arrow.Float64(), length, data: col.values as Float64Array });
    case 'int32':
      return arrow.makeData({ type: new arrow.Int32(), length, data: col.values as Int32Array });
    case 'utf8':
      return arrow.makeData({ type: new arrow.Utf8(), length, data: col.values as Uint8Array, valueOffsets: col.offsets! });
    case 'bool': {
      const bits = new Uint8Array((length + 7) >> 3);
      const v = col.values;
      for (let i = 0; i < length; i++) if (v[i] !== 0) bits[i >> 3]! |= 1 << (i & 7);
      return arrow.makeData({ type: new arrow.Bool(), length, data: bits });
    }
    case 'timestamp': {
      const v = col.values as Float64Array;
      const data = new BigInt64Array(length);
      let nulls: Uint8Array | undefined;
      for (let i = 0; i < length; i++) {
        const ms = v[i]!;
        if (Number.isNaN(ms)) {
          nulls ??= new Uint8Array((length + 7) >> 3).fill(0xff);
          nulls[i >> 3]! &= ~(1 << (i & 7));
        } else {
          data[i] = BigInt(Math.trunc(ms));
        }
      }
      return arrow.makeData({ type: new arrow.TimestampMillisecond(), length, data, ...(nulls ? { nullBitmap: nulls } : {}) });
    }
  }
}

export function schemaOf(fields: readonly Field[]): arrow.Schema {
  return new arrow.Schema(fields.map((f) => new arrow.Field(f.name, arrowType(f.type), f.type === 'timestamp')));
}

/** A partition as an Arrow record batch (numeric and string buffers shared). */
export function partToRecordBatch(part: Part, fields: readonly Field[] = fieldsOf(part)): arrow.RecordBatch {
  const schema = schemaOf(fields);
  const children = fields.map((f) => columnData(part.columns.find((c) => c.name === f.name)!));
  const data = arrow.makeData({ type: new arrow.Struct(schema.fields), length: part.numRows, children, nullCount: 0 });
  return new arrow.RecordBatch(schema, data);
}

/** Partitions as one Arrow table, a record batch per non-empty partition (nothing copied but booleans and timestamps). */
export function partsToTable(parts: readonly Part[], fields?: readonly Field[]): arrow.Table {
  const schemaFields = fields ?? (parts[0] !== undefined ? fieldsOf(parts[0]) : []);
  const batches = parts.filter((p) => p.numRows > 0).map((p) => partToRecordBatch(p, schemaFields));
  // An empty table keeps one empty batch: Arrow's Table.slice and friends need a chunk.
  if (batches.length === 0) return new arrow.Table([partToRecordBatch(emptyPart(schemaFields, 'empty'), schemaFields)]);
  return new arrow.Table(batches);
}

/** A partition as a table (what a mapPartitions function is given). */
export function partToTable(part: Part): arrow.Table {
  return partsToTable([part]);
}

/** The column type an Arrow type maps to (or why not). */
export function dtypeOf(type: arrow.DataType, name: string, origin: string): DType {
  if (arrow.DataType.isFloat(type)) return 'float64';
  if (arrow.DataType.isInt(type)) return type.bitWidth <= 16 || (type.bitWidth === 32 && type.isSigned) ? 'int32' : 'float64';
  if (arrow.DataType.isBool(type)) return 'bool';
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type)) return 'utf8';
  if (arrow.DataType.isDictionary(type) && (arrow.DataType.isUtf8(type.dictionary) || arrow.DataType.isLargeUtf8(type.dictionary))) return 'utf8';
  if (arrow.DataType.isTimestamp(type) || arrow.DataType.isDate(type)) return 'timestamp';
  throw partError(
    'ERR_UCX_DATAFRAME_UNSUPPORTED_TYPE',
    origin,
    `column '${name}' is of the Arrow type ${String(type)}, which dataframes do not take (float, int, bool, utf8, timestamp, date)`,
    TypeError,
  );
}

export function fieldsOfSchema(schema: arrow.Schema, origin: string): Field[] {
  return schema.fields.map((f) => ({ name: f.name, type: dtypeOf(f.type, f.name, origin) }));
}

const MS_PER: Record<number, number> = {
  [arrow.TimeUnit.SECOND]: 1000,
  [arrow.TimeUnit.MILLISECOND]: 1,
  [arrow.TimeUnit.MICROSECOND]: 1e-3,
  [arrow.TimeUnit.NANOSECOND]: 1e-6,
};

/** One Arrow Data (a chunk of a column) as a column; shared where the layouts agree. */
function columnOfData(data: arrow.Data, name: string, origin: string, dtype = dtypeOf(data.type, name, origin)): Column {
  const type = data.type as arrow.DataType;
  const n = data.length;
  const valid = data.nullCount > 0 ? (i: number): boolean => data.getValid(i) : null;
  if (dtype === 'utf8') {
    if (arrow.DataType.isUtf8(type) && valid === null) {
      const offsets = data.valueOffsets as Int32Array;
      const base = offsets[0]!;
      if (base === 0) return { name, type: 'utf8', values: (data.values as Uint8Array).subarray(0, offsets[n]!), offsets: offsets.subarray(0, n + 1) };
    }
    // Dictionaries, large strings, nulls, sliced offsets: through strings.
    const vector = arrow.makeVector(data);
    const strings: string[] = new Array(n);
    for (let i = 0; i < n; i++) strings[i] = (vector.get(i) as string | null) ?? '';
    const encoder = new TextEncoder();
    const encoded = strings.map((s) => encoder.encode(s));
    const offsets = new Int32Array(n + 1);
    let total = 0;
    encoded.forEach((b, i) => {
      total += b.length;
      offsets[i + 1] = total;
    });
    const values = new Uint8Array(total);
    encoded.forEach((b, i) => values.set(b, offsets[i]!));
    return { name, type: 'utf8', values, offsets };
  }
  if (dtype === 'bool') {
    const out = new Uint8Array(n);
    const bits = data.values as Uint8Array;
    const off = data.offset;
    for (let i = 0; i < n; i++) out[i] = (valid === null || valid(i)) && ((bits[(off + i) >> 3]! >> ((off + i) & 7)) & 1) === 1 ? 1 : 0;
    return { name, type: 'bool', values: out };
  }
  if (dtype === 'timestamp') {
    const out = new Float64Array(n);
    const values = data.values as BigInt64Array | Int32Array;
    const scale = arrow.DataType.isTimestamp(type) ? MS_PER[type.unit]! : arrow.DataType.isDate(type) && type.unit === arrow.DateUnit.DAY ? 86_400_000 : 1;
    for (let i = 0; i < n; i++) out[i] = valid !== null && !valid(i) ? NaN : Number(values[i]!) * scale;
    return { name, type: 'timestamp', values: out };
  }
  const values = data.values as ArrayLike<number | bigint> & { constructor: unknown };
  if (dtype === 'int32' && valid !== null) {
    throw partError(
      'ERR_UCX_DATAFRAME_TYPE',
      origin,
      `column '${name}' has missing values here and none where its type was read (int32): read it as float64`,
      TypeError,
    );
  }
  if (dtype === 'int32') {
    if (values instanceof Int32Array) return { name, type: 'int32', values };
    return { name, type: 'int32', values: Int32Array.from(values as ArrayLike<number>) };
  }
  if (values instanceof Float64Array && valid === null) return { name, type: 'float64', values };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = valid !== null && !valid(i) ? NaN : Number(values[i]!);
  return { name, type: 'float64', values: out };
}

/** The fields a table's partitions get: an int column with nulls is float64 (as in pandas). */
function partFields(table: arrow.Table, origin: string): Field[] {
  return table.schema.fields.map((f, i) => {
    const type = dtypeOf(f.type, f.name, origin);
    const nulls = table.getChildAt(i)!.nullCount > 0;
    return { name: f.name, type: type === 'int32' && nulls ? 'float64' : type };
  });
}

/** An Arrow table (or record batch) as one partition: shared when it has one chunk, else concatenated. */
export function tableToPart(table: arrow.Table | arrow.RecordBatch, origin: string, fields?: readonly Field[]): Part {
  const t = table instanceof arrow.RecordBatch ? new arrow.Table([table]) : table;
  const wanted = fields ?? partFields(t, origin);
  const parts = t.batches.map((batch) => ({
    numRows: batch.numRows,
    origin,
    columns: wanted.map((f) => {
      const child = batch.getChild(f.name);
      if (child === null) throw partError('ERR_UCX_DATAFRAME_COLUMN', origin, `no column '${f.name}' in the table`, RangeError);
      return columnOfData(child.data[0]!, f.name, origin, f.type);
    }),
  }));
  return concatParts(parts, origin, wanted);
}

/** The fields of a table's partitions (tableToPart's). */
export function tableFields(table: arrow.Table, origin: string): Field[] {
  return partFields(table, origin);
}

export { arrow };
