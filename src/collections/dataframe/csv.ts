// CSV to partitions: the schema is inferred where the graph is built, from the start of the first
// file (as Dask's read_csv samples its first block), and each task parses its block straight from
// bytes into typed arrays (numbers parsed by hand, strings' UTF-8 bytes copied as they are): no JS
// string or object per row. A row that does not fit the schema (a field too many or too few, a
// value that is no number in a numeric column) fails the task with ERR_UCX_DATAFRAME_CSV,
// naming the file, the line and the partition.
import fs from 'node:fs';
import { partError, type Column, type DType, type Field, type Part } from './part.js';

export interface CsvFormat {
  /** Field separator, one byte (default ','). */
  sep: string;
  /** Columns to read as timestamps (Date.parse; pandas' parse_dates). */
  parseDates: string[];
  /** Column types that override the inferred ones. */
  dtype: Record<string, DType>;
}

const NAIVE = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?$/;

/** Milliseconds since the epoch; dates and times without a zone are UTC (pandas' naive timestamps, as UTC). */
export function parseDate(value: string): number {
  const m = NAIVE.exec(value);
  if (m !== null) return Date.parse(`${m[1]}T${m[2] ?? '00:00'}Z`);
  return Date.parse(value);
}

/** A piece of a file: [start, end) in bytes, moved to line starts when read; the file's first block skips its header. */
export interface CsvBlock {
  path: string;
  start: number;
  end: number | null;
}

const SAMPLE_BYTES = 256 * 1024;
const NL = 10;
const CR = 13;
const QUOTE = 34;

/** The header and the column types of a CSV file, from its first SAMPLE_BYTES. */
export function inferCsvSchema(file: string, format: CsvFormat): Field[] {
  const fd = fs.openSync(file, 'r');
  let bytes: Buffer;
  try {
    const buf = Buffer.allocUnsafe(SAMPLE_BYTES);
    const n = fs.readSync(fd, buf, 0, SAMPLE_BYTES, 0);
    bytes = buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
  const sep = format.sep.charCodeAt(0);
  // Whole lines only (the sample may end inside one), unless the file is that short.
  const lastNl = bytes.lastIndexOf(NL);
  const text = bytes.length === SAMPLE_BYTES && lastNl > 0 ? bytes.subarray(0, lastNl + 1) : bytes;
  const rows = splitRecords(text, sep);
  const header = rows.shift();
  if (header === undefined || (header.length === 1 && header[0] === '')) {
    throw Object.assign(new Error(`malformed CSV: ${file} has no header line`), { code: 'ERR_UCX_DATAFRAME_CSV', path: file });
  }
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name))
      throw Object.assign(new Error(`malformed CSV: ${file} names the column '${name}' twice`), { code: 'ERR_UCX_DATAFRAME_CSV', path: file });
    seen.add(name);
  }
  for (const name of [...format.parseDates, ...Object.keys(format.dtype)]) {
    if (!seen.has(name)) {
      throw Object.assign(new RangeError(`no column '${name}' in ${file} (columns: ${header.join(', ')})`), { code: 'ERR_UCX_DATAFRAME_COLUMN', path: file });
    }
  }
  return header.map((name, c) => {
    const forced = format.dtype[name];
    if (forced !== undefined) return { name, type: forced };
    if (format.parseDates.includes(name)) return { name, type: 'timestamp' };
    return { name, type: inferType(rows.filter((r) => r.length === header.length).map((r) => r[c]!)) };
  });
}

const INT = /^[-+]?\d+$/;
const BOOL = /^(true|false|True|False|TRUE|FALSE)$/;

function inferType(values: string[]): DType {
  let ints = true;
  let floats = true;
  let bools = true;
  let any = false;
  for (const v of values) {
    if (v === '') {
      ints = false;
      bools = false;
      continue;
    } // missing: NaN, so float
    any = true;
    if (ints && !(INT.test(v) && Math.abs(Number(v)) <= 0x7fffffff)) ints = false;
    if (floats && !isNumberText(v)) floats = false;
    if (bools && !BOOL.test(v)) bools = false;
    if (!ints && !floats && !bools) return 'utf8';
  }
  if (!any) return 'float64';
  if (ints) return 'int32';
  if (floats) return 'float64';
  if (bools) return 'bool';
  return 'utf8';
}

function isNumberText(v: string): boolean {
  return v === 'NaN' || v === 'nan' || v === 'inf' || v === '-inf' || (v.trim() !== '' && !Number.isNaN(Number(v)));
}

/** Records of a (small) text as arrays of strings: the sample, for inference. */
function splitRecords(bytes: Uint8Array, sep: number): string[][] {
  const rows: string[][] = [];
  const decoder = new TextDecoder();
  let row: string[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    let value: string;
    if (bytes[i] === QUOTE) {
      const [text, next] = quoted(bytes, i, decoder);
      value = text;
      i = next;
    } else {
      let j = i;
      while (j < n && bytes[j] !== sep && bytes[j] !== NL) j++;
      let end = j;
      if (end > i && bytes[end - 1] === CR && (j === n || bytes[j] === NL)) end--;
      value = decoder.decode(bytes.subarray(i, end));
      i = j;
    }
    row.push(value);
    if (i >= n || bytes[i] === NL) {
      if (!(row.length === 1 && row[0] === '')) rows.push(row);
      row = [];
    }
    i++;
  }
  return rows;
}

/** A quoted field starting at `at` (its opening quote): its text ("" unescaped) and the index after its closing quote. */
function quoted(bytes: Uint8Array, at: number, decoder: InstanceType<typeof TextDecoder>): [string, number] {
  const pieces: Uint8Array[] = [];
  let from = at + 1;
  let i = from;
  for (;;) {
    if (i >= bytes.length) {
      pieces.push(bytes.subarray(from, i));
      break;
    }
    if (bytes[i] === QUOTE) {
      if (bytes[i + 1] === QUOTE) {
        pieces.push(bytes.subarray(from, i + 1));
        i += 2;
        from = i;
        continue;
      }
      pieces.push(bytes.subarray(from, i));
      i++;
      break;
    }
    i++;
  }
  // Anything between the closing quote and the separator is kept (as pandas does).
  let j = i;
  while (j < bytes.length && bytes[j] !== NL && bytes[j] !== 44 && bytes[j] !== 9 && bytes[j] !== 59) j++;
  if (j > i) pieces.push(bytes.subarray(i, bytes[j - 1] === CR ? j - 1 : j));
  const total = pieces.reduce((s, p) => s + p.length, 0);
  const joined = new Uint8Array(total);
  let k = 0;
  for (const p of pieces) {
    joined.set(p, k);
    k += p.length;
  }
  return [decoder.decode(joined), j];
}

/** The bytes of a block, from the first line that starts in it to the first line that starts after it. */
async function readBlockBytes(block: CsvBlock): Promise<{ bytes: Buffer; start: number }> {
  if (block.start === 0 && block.end === null) return { bytes: await fs.promises.readFile(block.path), start: 0 };
  const file = await fs.promises.open(block.path, 'r');
  try {
    const size = (await file.stat()).size;
    const start = await lineStart(file, block.start, size);
    const end = await lineStart(file, block.end ?? size, size);
    const bytes = Buffer.allocUnsafe(Math.max(0, end - start));
    let read = 0;
    while (read < bytes.length) {
      const { bytesRead } = await file.read(bytes, read, bytes.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return { bytes: bytes.subarray(0, read), start };
  } finally {
    await file.close();
  }
}

/** The first line start at or after `at` (0, or just past a '\n'). Quoted newlines are not looked for: a blocksize read of a file with them may cut a record. */
async function lineStart(file: fs.promises.FileHandle, at: number, size: number): Promise<number> {
  if (at <= 0) return 0;
  if (at >= size) return size;
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let from = at - 1;
  while (from < size) {
    const { bytesRead } = await file.read(chunk, 0, chunk.length, from);
    if (bytesRead === 0) break;
    const found = chunk.subarray(0, bytesRead).indexOf(NL);
    if (found >= 0) return from + found + 1;
    from += bytesRead;
  }
  return size;
}

async function linesBefore(path: string, start: number): Promise<number> {
  if (start === 0) return 0;
  const file = await fs.promises.open(path, 'r');
  try {
    const prefix = Buffer.allocUnsafe(start);
    await file.read(prefix, 0, start, 0);
    let count = 0;
    for (let at = prefix.indexOf(NL); at >= 0; at = prefix.indexOf(NL, at + 1)) count++;
    return count;
  } finally {
    await file.close();
  }
}

class Builder {
  readonly field: Field;
  values: Float64Array | Int32Array | Uint8Array;
  offsets: Int32Array | null = null;
  bytes = 0;
  constructor(field: Field, rows: number, byteHint: number) {
    this.field = field;
    switch (field.type) {
      case 'int32':
        this.values = new Int32Array(rows);
        break;
      case 'bool':
        this.values = new Uint8Array(rows);
        break;
      case 'utf8':
        this.values = new Uint8Array(Math.max(16, byteHint));
        this.offsets = new Int32Array(rows + 1);
        break;
      default:
        this.values = new Float64Array(rows);
    }
  }
  pushBytes(src: Uint8Array, from: number, to: number, row: number): void {
    const len = to - from;
    if (this.bytes + len > this.values.length) {
      const grown = new Uint8Array(Math.max(this.values.length * 2, this.bytes + len));
      grown.set(this.values as Uint8Array);
      this.values = grown;
    }
    const v = this.values as Uint8Array;
    if (len > 16) v.set(src.subarray(from, to), this.bytes);
    else for (let k = 0; k < len; k++) v[this.bytes + k] = src[from + k]!;
    this.bytes += len;
    this.offsets![row + 1] = this.bytes;
  }
  column(rows: number): Column {
    if (this.field.type === 'utf8')
      return { name: this.field.name, type: 'utf8', values: (this.values as Uint8Array).slice(0, this.bytes), offsets: this.offsets!.slice(0, rows + 1) };
    return { name: this.field.name, type: this.field.type, values: this.values.length === rows ? this.values : this.values.slice(0, rows) };
  }
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * A number from bytes [from, to): digits with an optional sign and fraction by hand (exact: the
 * digits are an integer below 2^53 divided by a power of ten at most 1e22, one rounding, as
 * Number() gives), anything else through Number(). NaN when it is no number ('' is NaN too: missing).
 */
function parseNumber(b: Uint8Array, from: number, to: number): number {
  if (from === to) return NaN;
  let i = from;
  let neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  } else if (b[i] === 43) i++;
  let mant = 0;
  let digits = 0;
  let scale = 0;
  let c = 0;
  for (; i < to; i++) {
    c = b[i]!;
    if (c >= 48 && c <= 57) {
      mant = mant * 10 + (c - 48);
      digits++;
    } else break;
  }
  if (i < to && c === 46) {
    for (i++; i < to; i++) {
      c = b[i]!;
      if (c >= 48 && c <= 57) {
        mant = mant * 10 + (c - 48);
        digits++;
        scale++;
      } else break;
    }
  }
  if (i === to && digits > 0 && digits <= 15) {
    const x = scale === 0 ? mant : mant / POW10[scale]!;
    return neg ? -x : x;
  }
  const text = latin1(b, from, to).trim();
  if (text === '' || text === 'nan' || text === 'NaN' || text === 'NA' || text === 'null') return NaN;
  if (text === 'inf') return Infinity;
  if (text === '-inf') return -Infinity;
  const x = Number(text);
  return Number.isNaN(x) ? BAD : x;
}

/** What parseNumber gives for text that is no number (a NaN of its own would cost a check per value). */
const BAD = Symbol('bad') as unknown as number;

function latin1(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let k = from; k < to; k++) s += String.fromCharCode(b[k]!);
  return s;
}

/**
 * Parses one block into a partition of `fields` (the header, when the block starts its file, must
 * name them: a file whose columns differ fails with ERR_UCX_DATAFRAME_COLUMN).
 */
export async function readCsvBlock(block: CsvBlock, fields: Field[], format: CsvFormat, origin: string): Promise<Part> {
  let bytes: Buffer;
  let start: number;
  try {
    ({ bytes, start } = await readBlockBytes(block));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw Object.assign(partError('ERR_UCX_DATAFRAME_READ', origin, `cannot read ${block.path}: ${e.message}`), {
      cause: error,
      path: block.path,
      errno: e.code,
    });
  }
  const sep = format.sep.charCodeAt(0);
  const n = bytes.length;
  let pos = 0;
  let lineNo = 0; // lines of this block consumed
  const failAt = async (line: number, message: string, code = 'ERR_UCX_DATAFRAME_CSV'): Promise<never> => {
    const number = (await linesBefore(block.path, start)) + line;
    throw Object.assign(
      partError(code, origin, `malformed CSV: line ${number} of ${block.path}: ${message}`, code === 'ERR_UCX_DATAFRAME_COLUMN' ? RangeError : Error),
      { path: block.path, line: number },
    );
  };
  // Column order in this file: its own header when the block starts the file.
  let order = fields.map((_, i) => i);
  if (start === 0) {
    let end = bytes.indexOf(NL);
    if (end < 0) end = n;
    const header = splitRecords(bytes.subarray(0, end), sep)[0] ?? [];
    pos = end + 1;
    lineNo = 1;
    const missing = fields.filter((f) => !header.includes(f.name)).map((f) => f.name);
    if (missing.length > 0 || header.length !== fields.length) {
      await failAt(
        1,
        `the header names ${header.join(', ')}; the dataframe's columns are ${fields.map((f) => f.name).join(', ')}${missing.length > 0 ? ` (no column '${missing[0]}')` : ''}`,
        'ERR_UCX_DATAFRAME_COLUMN',
      );
    }
    order = header.map((name) => fields.findIndex((f) => f.name === name));
  }
  // Rows: at most the newlines left, plus one.
  let rowsMax = 1;
  for (let k = bytes.indexOf(NL, pos); k >= 0; k = bytes.indexOf(NL, k + 1)) rowsMax++;
  const nf = fields.length;
  const builders = fields.map((f) => new Builder(f, rowsMax, Math.ceil((n - pos) / Math.max(1, nf))));
  const ordered = order.map((i) => builders[i]!);
  const types = ordered.map((b) => b.field.type);
  const decoder = new TextDecoder();
  let row = 0;
  while (pos < n) {
    // A blank line (or a final '\r'): skipped.
    if (bytes[pos] === NL || (bytes[pos] === CR && (pos + 1 === n || bytes[pos + 1] === NL))) {
      pos += bytes[pos] === CR ? 2 : 1;
      lineNo++;
      continue;
    }
    lineNo++;
    for (let c = 0; c < nf; c++) {
      let from = pos;
      let to: number;
      let text: string | null = null;
      if (bytes[pos] === QUOTE) {
        const [value, next] = quoted(bytes, pos, decoder);
        text = value;
        pos = next;
        to = next;
      } else {
        while (pos < n && bytes[pos] !== sep && bytes[pos] !== NL) pos++;
        to = pos > from && bytes[pos - 1] === CR && (pos === n || bytes[pos] === NL) ? pos - 1 : pos;
      }
      const atEnd = pos >= n || bytes[pos] === NL;
      if (atEnd !== (c === nf - 1)) {
        // Count the fields of this line for the message.
        let fieldsSeen = c + 1;
        if (!atEnd) {
          let k = pos;
          while (k < n && bytes[k] !== NL) {
            if (bytes[k] === sep) fieldsSeen++;
            k++;
          }
        }
        await failAt(lineNo, `${fieldsSeen} field${fieldsSeen === 1 ? '' : 's'}, the header has ${nf}`);
      }
      const b = ordered[c]!;
      const type = types[c]!;
      if (type === 'utf8') {
        if (text === null) b.pushBytes(bytes, from, to, row);
        else {
          const enc = Buffer.from(text);
          b.pushBytes(enc, 0, enc.length, row);
        }
      } else if (type === 'float64' || type === 'int32') {
        let x: number;
        if (text === null) x = parseNumber(bytes, from, to);
        else {
          const enc = Buffer.from(text);
          from = 0;
          x = parseNumber(enc, 0, enc.length);
        }
        if (x === BAD || (type === 'int32' && x !== (x | 0))) {
          const value = text ?? decoder.decode(bytes.subarray(from, to));
          await failAt(
            lineNo,
            `'${value}' in column '${b.field.name}' is not ${type === 'int32' ? "an int32 (the column was read as int32 from the file's first rows; pass dtype: { " + b.field.name + ": 'float64' } for floats or missing values)" : 'a number'}`,
          );
        }
        b.values[row] = x;
      } else if (type === 'bool') {
        const value = (text ?? latin1(bytes, from, to)).trim();
        if (BOOL.test(value)) b.values[row] = value[0] === 't' || value[0] === 'T' ? 1 : 0;
        else if (value === '') b.values[row] = 0;
        else await failAt(lineNo, `'${value}' in column '${b.field.name}' is not a boolean`);
      } else {
        const value = (text ?? decoder.decode(bytes.subarray(from, to))).trim();
        const ms = value === '' ? NaN : parseDate(value);
        if (Number.isNaN(ms) && value !== '') await failAt(lineNo, `'${value}' in column '${b.field.name}' is not a date`);
        b.values[row] = ms;
      }
      pos++; // past the separator or the newline
    }
    row++;
  }
  return { numRows: row, columns: builders.map((b) => b.column(row)), origin };
}
