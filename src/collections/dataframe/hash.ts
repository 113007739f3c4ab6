// Hashing rows by key columns: factorize (each row's group number, first occurrence first) for
// groupby, valueCounts, dropDuplicates and joins; bucketOf (where a hash shuffle sends a row), the
// same in every thread and process for equal keys, also across int32 and float64 columns (a join of
// an int32 key with a float64 one). Open addressing over typed arrays: no JS object per row or group.
import { concatColumns, stringAt, type Column, type Field } from './part.js';

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** A 32-bit hash of a number, equal for equal values (0 and -0, and every NaN, alike). */
export function hashNumber(x: number): number {
  if ((x | 0) === x) return Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  if (x !== x) return 0x7ff80000; // NaN
  f64[0] = x;
  let h = Math.imul(u32[0]! ^ 0x9e3779b9, 0x85ebca6b) ^ u32[1]!;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over a string's UTF-8 bytes (row i of a utf8 column). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let k = start; k < end; k++) h = Math.imul(h ^ bytes[k]!, 0x01000193);
  return h >>> 0;
}

/** Each row's hash over the key columns. */
export function rowHashes(cols: readonly Column[], n: number): Uint32Array {
  const out = new Uint32Array(n);
  cols.forEach((col, c) => {
    if (col.type === 'utf8') {
      const bytes = col.values as Uint8Array;
      const o = col.offsets!;
      for (let i = 0; i < n; i++) {
        const h = hashBytes(bytes, o[i]!, o[i + 1]!);
        out[i] = c === 0 ? h : (Math.imul(out[i]!, 31) + h) >>> 0;
      }
    } else {
      const v = col.values;
      for (let i = 0; i < n; i++) {
        const h = hashNumber(v[i]!);
        out[i] = c === 0 ? h : (Math.imul(out[i]!, 31) + h) >>> 0;
      }
    }
  });
  return out;
}

/** Which of `nbuckets` each row goes to (a hash shuffle). */
export function bucketsOf(cols: readonly Column[], n: number, nbuckets: number): Int32Array {
  const hashes = rowHashes(cols, n);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    // Mixed once more: the low bits of hashNumber of small ints would otherwise follow the ints.
    const h = Math.imul(hashes[i]! ^ (hashes[i]! >>> 15), 0x2c1b3c6d) >>> 0;
    out[i] = h % nbuckets;
  }
  return out;
}

export interface Factorized {
  /** The group of each row, 0-based, numbered by first occurrence. */
  codes: Int32Array;
  ngroups: number;
  /** The first row of each group. */
  first: Int32Array;
}

/** Groups the rows by the values of `cols` (equal values: one group; NaN equals NaN, as pandas groups). */
export function factorize(cols: readonly Column[], n: number): Factorized {
  if (cols.length === 0) return { codes: new Int32Array(n), ngroups: n > 0 ? 1 : 0, first: new Int32Array(n > 0 ? 1 : 0) };
  let result = factorizeOne(cols[0]!, n);
  for (let c = 1; c < cols.length; c++) {
    const next = factorizeOne(cols[c]!, n);
    // The pair (group so far, group in this column) as one number, factorized again.
    const combined = new Float64Array(n);
    const width = next.ngroups;
    for (let i = 0; i < n; i++) combined[i] = result.codes[i]! * width + next.codes[i]!;
    result = factorizeNumbers(combined, n);
  }
  return result;
}

function factorizeOne(col: Column, n: number): Factorized {
  if (col.type === 'utf8') return factorizeStrings(col, n);
  if (col.values instanceof Int32Array) return factorizeInts(col.values, n);
  return factorizeNumbers(col.values, n);
}

function tableSize(n: number): number {
  let size = 1024;
  while (size < n * 2 && size < 1 << 30) size <<= 1;
  return size;
}

/** int32 keys: slots hold group + 1 (0: empty). Sized for the rows seen, grown when half full. */
function factorizeInts(v: Int32Array, n: number): Factorized {
  let size = Math.min(tableSize(n), 1 << 16);
  let mask = size - 1;
  let slots = new Int32Array(size);
  let keys = new Int32Array(1024);
  let first = new Int32Array(1024);
  let ngroups = 0;
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = v[i]!;
    let s = (Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0) & mask;
    let g: number;
    for (;;) {
      const at = slots[s]!;
      if (at === 0) {
        g = ngroups++;
        if (g === keys.length) {
          keys = grow(keys);
          first = grow(first);
        }
        keys[g] = x;
        first[g] = i;
        slots[s] = g + 1;
        break;
      }
      if (keys[at - 1] === x) {
        g = at - 1;
        break;
      }
      s = (s + 1) & mask;
    }
    codes[i] = g;
    if (ngroups * 2 > size) {
      size <<= 1;
      mask = size - 1;
      slots = new Int32Array(size);
      for (let k = 0; k < ngroups; k++) {
        const y = keys[k]!;
        let t = (Math.imul(y ^ (y >>> 16), 0x45d9f3b) >>> 0) & mask;
        while (slots[t] !== 0) t = (t + 1) & mask;
        slots[t] = k + 1;
      }
    }
  }
  return { codes, ngroups, first: first.slice(0, ngroups) };
}

function sameNumber(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

function factorizeNumbers(v: Float64Array | Uint8Array | Int32Array, n: number): Factorized {
  let size = Math.min(tableSize(n), 1 << 16);
  let mask = size - 1;
  let slots = new Int32Array(size);
  let keys = new Float64Array(1024);
  let first = new Int32Array(1024);
  let ngroups = 0;
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = v[i]!;
    let s = hashNumber(x) & mask;
    let g: number;
    for (;;) {
      const at = slots[s]!;
      if (at === 0) {
        g = ngroups++;
        if (g === keys.length) {
          keys = grow(keys);
          first = grow(first);
        }
        keys[g] = x;
        first[g] = i;
        slots[s] = g + 1;
        break;
      }
      if (sameNumber(keys[at - 1]!, x)) {
        g = at - 1;
        break;
      }
      s = (s + 1) & mask;
    }
    codes[i] = g;
    if (ngroups * 2 > size) {
      size <<= 1;
      mask = size - 1;
      slots = new Int32Array(size);
      for (let k = 0; k < ngroups; k++) {
        let t = hashNumber(keys[k]!) & mask;
        while (slots[t] !== 0) t = (t + 1) & mask;
        slots[t] = k + 1;
      }
    }
  }
  return { codes, ngroups, first: first.slice(0, ngroups) };
}

function factorizeStrings(col: Column, n: number): Factorized {
  const bytes = col.values as Uint8Array;
  const o = col.offsets!;
  let size = Math.min(tableSize(n), 1 << 16);
  let mask = size - 1;
  let slots = new Int32Array(size);
  let hashes = new Uint32Array(1024);
  let first = new Int32Array(1024);
  let ngroups = 0;
  const codes = new Int32Array(n);
  const equal = (a: number, b: number): boolean => {
    const sa = o[a]!;
    const sb = o[b]!;
    const len = o[a + 1]! - sa;
    if (o[b + 1]! - sb !== len) return false;
    for (let k = 0; k < len; k++) if (bytes[sa + k] !== bytes[sb + k]) return false;
    return true;
  };
  for (let i = 0; i < n; i++) {
    const h = hashBytes(bytes, o[i]!, o[i + 1]!);
    let s = h & mask;
    let g: number;
    for (;;) {
      const at = slots[s]!;
      if (at === 0) {
        g = ngroups++;
        if (g === first.length) {
          first = grow(first);
          hashes = grow(hashes);
        }
        first[g] = i;
        hashes[g] = h;
        slots[s] = g + 1;
        break;
      }
      if (hashes[at - 1] === h && equal(first[at - 1]!, i)) {
        g = at - 1;
        break;
      }
      s = (s + 1) & mask;
    }
    codes[i] = g;
    if (ngroups * 2 > size) {
      size <<= 1;
      mask = size - 1;
      slots = new Int32Array(size);
      for (let k = 0; k < ngroups; k++) {
        let t = hashes[k]! & mask;
        while (slots[t] !== 0) t = (t + 1) & mask;
        slots[t] = k + 1;
      }
    }
  }
  return { codes, ngroups, first: first.slice(0, ngroups) };
}

function grow<T extends Int32Array | Float64Array | Uint32Array>(a: T): T {
  const out = new (a.constructor as new (n: number) => T)(a.length * 2);
  out.set(a as never);
  return out;
}

/**
 * Key columns of two tables as one (left rows first), for factorizing both sides of a join together;
 * an int32 key meets a float64 one as float64.
 */
export function jointKeys(left: readonly Column[], right: readonly Column[]): Column[] {
  return left.map((l, i) => {
    const r = right[i]!;
    const type = l.type === r.type ? l.type : 'float64';
    const field: Field = { name: l.name, type };
    return concatColumns([l, r], field);
  });
}

/** Compare rows a and b of the columns (for sorting): numbers (NaN last), strings by code unit. */
export function compareRows(cols: readonly Column[], ascending: readonly boolean[], a: number, b: number): number {
  for (let c = 0; c < cols.length; c++) {
    const col = cols[c]!;
    let d: number;
    if (col.type === 'utf8') {
      const x = stringAt(col, a);
      const y = stringAt(col, b);
      d = x < y ? -1 : x > y ? 1 : 0;
    } else {
      const x = col.values[a]!;
      const y = col.values[b]!;
      // NaN sorts last whatever the order (pandas' na_position='last').
      if (x !== x || y !== y) {
        if (x !== x && y !== y) continue;
        return x !== x ? 1 : -1;
      }
      d = x < y ? -1 : x > y ? 1 : 0;
    }
    if (d !== 0) return ascending[c] === false ? -d : d;
  }
  return 0;
}

/** The row order that sorts the columns (stable). */
export function argsort(cols: readonly Column[], n: number, ascending: readonly boolean[]): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (cols.length === 1 && cols[0]!.type !== 'utf8') {
    const v = cols[0]!.values;
    const asc = ascending[0] !== false;
    // A numeric key: sort (value, row) pairs through a typed array of values first.
    return order.sort((a, b) => {
      const x = v[a]!;
      const y = v[b]!;
      if (x !== x || y !== y) return x !== x ? (y !== y ? a - b : 1) : -1;
      return (asc ? x - y : y - x) || a - b;
    });
  }
  if (cols.length === 1) {
    // Strings: decoded once.
    const col = cols[0]!;
    const strings = new Array<string>(n);
    for (let i = 0; i < n; i++) strings[i] = stringAt(col, i);
    const sign = ascending[0] === false ? -1 : 1;
    return order.sort((a, b) => (strings[a]! < strings[b]! ? -sign : strings[a]! > strings[b]! ? sign : a - b));
  }
  return order.sort((a, b) => compareRows(cols, ascending, a, b) || a - b);
}
