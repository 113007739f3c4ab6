// Buffer arguments of the uppercase (buffer) operations, as mpi4py takes them: a typed array (its element
// type is the datatype), or [buf, datatype], [buf, count, datatype], [buf, [count, displ], datatype],
// [buf, count]; for the v-collectives [buf, counts], [buf, counts, displs], [buf, counts, datatype],
// [buf, [counts, displs], datatype], [buf, counts, displs, datatype]. A Payload is the data a spec names,
// as bytes: a view of the buffer when its items lie back to back (no copy), else packed through the
// datatype. Pure: no I/O.
import { MPIError } from './errors.js';
import { Blocks, prefix } from './vspec.js';
import {
  Datatype,
  BYTE,
  asDatatype,
  basicArray,
  basicBytes,
  checkSpan,
  isDatatypeLike,
  packInto,
  typeOfView,
  unpackFrom,
  viewBytes,
  type Elements,
} from './datatype.js';
import type { TypedArray } from './op.js';
import type { Data } from '../index.js';
import { isDevice } from './buffers.js';

/** A buffer spec of a point-to-point or equal-block operation. */
export type BufSpec =
  | ArrayBufferView
  | readonly [buf: ArrayBufferView | null, datatype: Datatype | string]
  | readonly [buf: ArrayBufferView | null, count: number | readonly [count: number, displ: number]]
  | readonly [buf: ArrayBufferView | null, count: number | readonly [count: number, displ: number], datatype: Datatype | string];

/** A buffer spec of a v-collective (counts and displacements in items of the datatype). */
export type VBufSpec =
  | readonly [buf: ArrayBufferView, counts: readonly number[] | number]
  | readonly [buf: ArrayBufferView, counts: readonly number[] | number, displs: readonly number[] | number]
  | readonly [buf: ArrayBufferView, counts: readonly number[] | number, datatype: Datatype | string]
  | readonly [buf: ArrayBufferView, countsAndDispls: readonly [readonly number[] | number, readonly number[] | number], datatype: Datatype | string]
  | readonly [buf: ArrayBufferView, counts: readonly number[] | number, displs: readonly number[] | number, datatype: Datatype | string];

const EMPTY = new Uint8Array(0);

/** `count` items of `type` in a buffer, item 0's origin at byte `origin` of `bytes`. */
export class Payload {
  /** The buffer as given (a typed array when the caller passed one). */
  readonly buf: ArrayBufferView | null;
  readonly bytes: Uint8Array;
  readonly origin: number;
  readonly count: number;
  readonly type: Datatype;
  /** Bytes of data: count × type.size. */
  readonly byteLength: number;
  /** Where the data lies as one run of `byteLength` bytes in `bytes`, or -1 when it must be packed. */
  readonly #run: number;

  constructor(buf: ArrayBufferView | null, bytes: Uint8Array, origin: number, count: number, type: Datatype) {
    this.buf = buf;
    this.bytes = bytes;
    this.origin = origin;
    this.count = count;
    this.type = type;
    this.byteLength = count * type.size;
    const run = type.run(count);
    this.#run = run === null ? -1 : origin + run;
  }

  /** Whether the data is one run of bytes of the buffer (it then travels as a view, never copied). */
  get contiguous(): boolean {
    return this.#run >= 0;
  }

  /** The data as bytes: a view of the buffer when contiguous, else a packed copy. */
  data(): Uint8Array {
    if (this.#run >= 0) return this.bytes.subarray(this.#run, this.#run + this.byteLength);
    const out = new Uint8Array(this.byteLength);
    packInto(this.type, this.bytes, this.origin, this.count, out, 0);
    return out;
  }

  /**
   * Where received bytes go: the buffer itself when contiguous, else a scratch buffer that `finish(n)`
   * unpacks (the first n bytes) into the items.
   */
  receiver(): { into: Uint8Array; finish(received: number): void } {
    if (this.#run >= 0) return { into: this.bytes.subarray(this.#run, this.#run + this.byteLength), finish: () => {} };
    const into = new Uint8Array(this.byteLength);
    return { into, finish: (received) => unpackFrom(this.type, into, 0, received, this.bytes, this.origin) };
  }

  /** Writes packed `data` (this message's length or less) into the items. */
  store(data: Uint8Array): void {
    if (this.#run >= 0) {
      if (data.buffer !== this.bytes.buffer || data.byteOffset !== this.bytes.byteOffset + this.#run) this.bytes.set(data, this.#run);
      return;
    }
    unpackFrom(this.type, data, 0, data.byteLength, this.bytes, this.origin);
  }

  /** The same buffer and type, `count` items from item `first` (a block of a collective's buffer). */
  slice(first: number, count: number): Payload {
    return new Payload(this.buf, this.bytes, this.origin + first * this.type.extent, count, this.type);
  }
}

/** Parses a point-to-point or equal-block buffer spec (`blocks` > 1: an inferred count is per block). */
export function parsePayload(spec: unknown, name: string, what: string, blocks = 1): Payload {
  let buf: unknown;
  let count: unknown;
  let displ: unknown;
  let type: unknown;
  if (ArrayBuffer.isView(spec)) {
    buf = spec;
  } else if (Array.isArray(spec)) {
    if (spec.length === 2) {
      [buf, count] = spec;
      if (isDatatypeLike(count)) [count, type] = [undefined, count];
    } else if (spec.length === 3) {
      [buf, count, type] = spec;
    } else if (spec.length === 4) {
      [buf, count, displ, type] = spec;
    } else {
      throw new MPIError(
        'ERR_MPI_ARG',
        `${what}: ${name} must be a buffer or [buf, datatype], [buf, count, datatype], [buf, [count, displ], datatype] (${spec.length} items given)`,
      );
    }
    if (Array.isArray(count)) {
      if (count.length !== 2) throw new MPIError('ERR_MPI_ARG', `${what}: ${name}: [count, displ] must have 2 items`);
      [count, displ] = count;
    }
  } else {
    throw new MPIError('ERR_MPI_TYPE', `${what}: ${name} must be a TypedArray, Buffer or DataView, or a [buf, count, datatype] spec`);
  }
  if (buf !== null && buf !== undefined && !ArrayBuffer.isView(buf)) {
    throw new MPIError('ERR_MPI_TYPE', `${what}: ${name}: the buffer must be a TypedArray, Buffer or DataView, or null`);
  }
  const view = (buf ?? null) as ArrayBufferView | null;
  const datatype = type === undefined || type === null ? (view === null ? BYTE : typeOfView(view)) : asDatatype(type, `${what}: ${name}`);
  const bytes = view === null ? EMPTY : viewBytes(view);
  let offset = 0;
  if (displ !== undefined && displ !== null) {
    if (!Number.isSafeInteger(displ) || (displ as number) < 0)
      throw new MPIError('ERR_MPI_ARG', `${what}: ${name}: the displacement must be a non-negative integer, not ${String(displ)}`);
    offset = (displ as number) * datatype.extent;
    if (offset > bytes.byteLength) throw new MPIError('ERR_MPI_COUNT', `${what}: ${name}: displacement ${String(displ)} is past the buffer`);
  }
  let n: number;
  if (count !== undefined && count !== null) {
    if (!Number.isSafeInteger(count) || (count as number) < 0)
      throw new MPIError('ERR_MPI_COUNT', `${what}: ${name}: count must be a non-negative integer, not ${String(count)}`);
    n = count as number;
    if (n > 0 && view === null) throw new MPIError('ERR_MPI_BUFFER', `${what}: ${name}: the buffer is null but count is ${n}`);
  } else {
    n = inferCount(bytes.byteLength - offset, datatype, blocks, `${what}: ${name}`);
  }
  checkSpan(datatype, n * blocks, bytes.byteLength, offset, `${what}: ${name}`);
  return new Payload(view, bytes, offset, n, datatype);
}

function inferCount(length: number, type: Datatype, blocks: number, what: string): number {
  if (length === 0) return 0;
  const extent = type.extent;
  if (extent <= 0) throw new MPIError('ERR_MPI_COUNT', `${what}: cannot infer the count of a type of extent ${extent}; give it`);
  if (length % extent !== 0)
    throw new MPIError('ERR_MPI_COUNT', `${what}: the buffer's ${length} bytes are not a whole number of ${type.name} (extent ${extent}); give the count`);
  const items = length / extent;
  if (items % blocks !== 0) throw new MPIError('ERR_MPI_COUNT', `${what}: ${items} items of ${type.name} do not split into ${blocks} blocks`);
  return items / blocks;
}

/** A v-collective's buffer: per-rank counts and displacements in items of `type`. */
export interface VPayload {
  buf: ArrayBufferView;
  bytes: Uint8Array;
  type: Datatype;
  counts: readonly number[];
  displs: readonly number[];
  /** Block i as a Payload. */
  block(i: number): Payload;
}

/** Parses a v-collective spec for `size` ranks. */
export function parseVPayload(spec: unknown, size: number, name: string, what: string): VPayload {
  if (!Array.isArray(spec) || spec.length < 2 || spec.length > 4) {
    throw new MPIError(
      'ERR_MPI_ARG',
      `${what}: ${name} must be [buf, counts], [buf, counts, displs], [buf, counts, datatype], [buf, [counts, displs], datatype] or [buf, counts, displs, datatype]`,
    );
  }
  let [buf, counts, displs, type] = spec as unknown[];
  if (spec.length === 2 && isDatatypeLike(counts)) [counts, type] = [undefined, counts];
  if (spec.length === 3 && isDatatypeLike(displs)) [displs, type] = [undefined, displs];
  if (spec.length <= 3 && Array.isArray(counts) && counts.length === 2 && (Array.isArray(counts[0]) || Array.isArray(counts[1]))) {
    [counts, displs] = counts as unknown[];
  }
  if (!ArrayBuffer.isView(buf)) throw new MPIError('ERR_MPI_TYPE', `${what}: ${name}[0] must be a TypedArray, Buffer or DataView`);
  const datatype = type === undefined || type === null ? typeOfView(buf) : asDatatype(type, `${what}: ${name}`);
  const bytes = viewBytes(buf);
  const list = (value: unknown, label: string, fill: (i: number, v: number) => number): number[] => {
    if (Number.isSafeInteger(value) && (value as number) >= 0) return Array.from({ length: size }, (_, i) => fill(i, value as number));
    if (!Array.isArray(value) || value.length !== size || !value.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new MPIError('ERR_MPI_COUNT', `${what}: ${label} must be ${size} non-negative integers (one per rank)`);
    }
    return value as number[];
  };
  let elementCounts: number[];
  if (counts === undefined || counts === null) {
    const items = inferCount(bytes.byteLength, datatype, 1, `${what}: ${name}`);
    elementCounts = Array.from({ length: size }, (_, i) => Math.floor(items / size) + (i < items % size ? 1 : 0));
  } else {
    elementCounts = list(counts, `${name} counts`, (_, v) => v);
  }
  const starts = displs === undefined || displs === null ? prefix(elementCounts) : list(displs, `${name} displs`, (i, v) => v * i);
  for (let r = 0; r < size; r++) {
    const origin = starts[r]! * datatype.extent;
    const [lo, hi] = datatype.span(elementCounts[r]!);
    if (lo !== hi && (origin + lo < 0 || origin + hi > bytes.byteLength)) {
      throw new MPIError(
        'ERR_MPI_COUNT',
        `${what}: block ${r} (items ${starts[r]}…${starts[r]! + elementCounts[r]!} of ${datatype.name}) ends past ${name}[0] (${bytes.byteLength} bytes)`,
      );
    }
  }
  return {
    buf,
    bytes,
    type: datatype,
    counts: elementCounts,
    displs: starts,
    block: (i) => new Payload(buf as ArrayBufferView, bytes, starts[i]! * datatype.extent, elementCounts[i]!, datatype),
  };
}

/**
 * A VPayload as byte blocks for the algorithms: the buffer's own bytes when every block is contiguous (no
 * copy), else a packed staging buffer; `finish()` unpacks the blocks it received (`received`: which).
 */
export function byteBlocks(v: VPayload): { blocks: Blocks<Uint8Array>; finish(): void } {
  const size = v.counts.length;
  const messages = Array.from({ length: size }, (_, i) => v.block(i));
  if (messages.every((m) => m.contiguous)) {
    const offsets = messages.map((m) => (m.byteLength === 0 ? 0 : m.data().byteOffset - v.bytes.byteOffset));
    return {
      blocks: new Blocks(
        v.bytes,
        messages.map((m) => m.byteLength),
        offsets,
      ),
      finish: () => {},
    };
  }
  // Staged: every block packed (what is sent, and what IN_PLACE keeps), and every block unpacked afterwards.
  const lengths = messages.map((m) => m.byteLength);
  const staging = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  const blocks = new Blocks(staging, lengths);
  messages.forEach((m, i) => {
    if (m.byteLength > 0) blocks.block(i).set(m.data());
  });
  return { blocks, finish: () => messages.forEach((m, i) => m.store(blocks.block(i))) };
}

/**
 * An equal-block collective's buffer argument as bytes: a view's own bytes, or a spec's data (`blocks` blocks
 * of its count each: a view when contiguous, else packed); `finish()` unpacks what was received into a spec.
 */
export function blockArg(buf: unknown, name: string, what: string, blocks: number): { bytes: Uint8Array; finish(): void } {
  if (ArrayBuffer.isView(buf)) return { bytes: viewBytes(buf), finish: () => {} };
  if (!Array.isArray(buf)) throw new MPIError('ERR_MPI_TYPE', `${what}: ${name} must be a TypedArray, Buffer or DataView, or a [buf, count, datatype] spec`);
  const m = parsePayload(buf, name, what, blocks);
  const whole = blocks === 1 ? m : m.slice(0, m.count * blocks);
  const data = whole.data();
  return {
    bytes: data,
    finish: () => {
      if (!whole.contiguous) whole.store(data);
    },
  };
}

/** A reduction's buffer argument: a typed array as it is, or a spec's elements (typedPayload). */
export function typedArg(buf: unknown, name: string, what: string): TypedPayload {
  if (ArrayBuffer.isView(buf) && !(buf instanceof DataView)) return { array: buf as TypedArray, complex: false, perItem: 1, commit: () => {} };
  if (!Array.isArray(buf))
    throw new MPIError('ERR_MPI_TYPE', `${what}: ${name} must be a TypedArray (the reduction works element-wise) or a [buf, count, datatype] spec`);
  return typedPayload(parsePayload(buf, name, what), `${what}: ${name}`);
}

// ---- reductions ----

/** How a reduction sees a message: a typed array of its basic elements, and how to write a result back. */
export interface TypedPayload {
  /** The elements: a view of the buffer when possible, else a copy. */
  array: TypedArray;
  /** Complex numbers as (re, im) pairs: only SUM, REPLACE and NO_OP apply. */
  complex: boolean;
  /** Elements of `array` per item of the spec's datatype (counts in items × this = elements). */
  perItem: number;
  /** Writes `array` (or `result`) back into the buffer when it is a copy. */
  commit(result?: TypedArray): void;
}

/**
 * The elements of a message as a typed array of its basic kind (MPI.INT → Int32Array): a view when the data is
 * contiguous and aligned, else unpacked into a copy. (value, index) pair types (DOUBLE_INT, ...) become
 * Float64Array pairs. Mixed structs cannot be reduced (ERR_MPI_TYPE).
 */
export function typedPayload(m: Payload, what: string): TypedPayload {
  const elements = m.type.elements;
  if (m.buf !== null && isTypedView(m.buf) && m.type === typeOfView(m.buf) && m.origin === 0 && m.count === (m.buf as TypedArray).length) {
    return {
      array: m.buf as TypedArray,
      complex: false,
      perItem: 1,
      commit: (result) => {
        if (result !== undefined && result !== m.buf) (m.buf as TypedArray).set(result as never);
      },
    };
  }
  if (elements.kind === 'mixed') throw new MPIError('ERR_MPI_TYPE', `${what}: ${m.type.name} mixes element types: it cannot be reduced`);
  if (elements.kind === 'pair') return pairPayload(m, elements);
  const Array = basicArray(elements.basic);
  const unit = basicBytes(elements.basic);
  const length = m.byteLength / unit;
  const perItem = m.type.size / unit;
  const complex = elements.complex;
  if (m.contiguous) {
    const data = m.data();
    if (data.byteOffset % unit === 0) {
      const array = new Array(data.buffer, data.byteOffset, length);
      return {
        array,
        complex,
        perItem,
        commit: (result) => {
          if (result !== undefined && result !== array) array.set(result as never);
        },
      };
    }
  }
  const packed = m.data();
  const array = new Array(length);
  viewBytes(array).set(packed);
  return { array, complex, perItem, commit: (result) => m.store(viewBytes(result ?? array)) };
}

function pairPayload(m: Payload, pair: Extract<Elements, { kind: 'pair' }>): TypedPayload {
  const items = (m.byteLength / m.type.size) * (m.type.elementsPerItem / 2);
  const array = new Float64Array(2 * items);
  const packed = m.data();
  const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const valueBytes = basicBytes(pair.value);
  const itemBytes = valueBytes + 4;
  for (let i = 0; i < items; i++) {
    array[2 * i] = readBasic(dv, i * itemBytes, pair.value);
    array[2 * i + 1] = dv.getInt32(i * itemBytes + valueBytes, true);
  }
  return {
    array,
    complex: false,
    perItem: m.type.elementsPerItem,
    commit: (result) => {
      const values = (result ?? array) as Float64Array;
      const out = new Uint8Array(packed.byteLength);
      const ov = new DataView(out.buffer);
      for (let i = 0; i < items; i++) {
        writeBasic(ov, i * itemBytes, pair.value, values[2 * i]!);
        ov.setInt32(i * itemBytes + valueBytes, values[2 * i + 1]!, true);
      }
      m.store(out);
    },
  };
}

function readBasic(dv: DataView, at: number, kind: string): number {
  switch (kind) {
    case 'f32':
      return dv.getFloat32(at, true);
    case 'f64':
      return dv.getFloat64(at, true);
    case 'i16':
      return dv.getInt16(at, true);
    case 'i32':
      return dv.getInt32(at, true);
    case 'i64':
      return Number(dv.getBigInt64(at, true));
    default:
      return dv.getUint8(at);
  }
}

function writeBasic(dv: DataView, at: number, kind: string, value: number): void {
  switch (kind) {
    case 'f32':
      dv.setFloat32(at, value, true);
      break;
    case 'f64':
      dv.setFloat64(at, value, true);
      break;
    case 'i16':
      dv.setInt16(at, value, true);
      break;
    case 'i32':
      dv.setInt32(at, value, true);
      break;
    case 'i64':
      dv.setBigInt64(at, BigInt(Math.trunc(value)), true);
      break;
    default:
      dv.setUint8(at, value);
  }
}

function isTypedView(view: ArrayBufferView): boolean {
  return !(view instanceof DataView);
}

/** Whether a value is a buffer spec list rather than a plain buffer. */
export function isSpecList(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

// ---- point-to-point payloads ----

/** A send buffer as what goes on the wire: DeviceMemory as it is; a view or spec as its bytes (packed if strided). */
export function outgoing(buf: unknown, name: string, what: string): Data {
  if (isDevice(buf)) return buf;
  return parsePayload(buf, name, what).data();
}

/** A receive buffer: where the bytes go, and `finish(n)` once n bytes arrived (unpacks a strided spec). */
export function incoming(buf: unknown, name: string, what: string): { into: Data; finish(received: number): void } {
  if (isDevice(buf)) return { into: buf, finish: () => {} };
  return parsePayload(buf, name, what).receiver();
}
