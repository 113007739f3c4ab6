// MPI datatypes: the named ones (MPI.INT, MPI.DOUBLE, ...) and derived ones (contiguous, vector, indexed,
// subarray, struct, resized), as a flat layout: the type's data as byte segments (offset from the item's
// origin, length), in typemap order, with adjacent segments merged, plus its bounds (lb, ub: the extent)
// and its basic element type (for reductions). Packing and unpacking walk the segments with no
// allocation per element; a type whose items lie back to back is one segment and travels as a view.
// Pure: no I/O; used by point-to-point, collectives, RMA targets and file views (bufspec.ts, fileview.ts).
import { MPIError } from './errors.js';
import type { TypedArray } from './op.js';

/** The basic element kinds that reductions combine (LONG_DOUBLE and PACKED have none). */
export type BasicKind = 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64';

type TypedArrayClass = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  new (length: number): TypedArray;
  BYTES_PER_ELEMENT: number;
};

export const BASIC_ARRAYS: Readonly<Record<BasicKind, TypedArrayClass>> = {
  i8: Int8Array,
  u8: Uint8Array,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  f32: Float32Array,
  f64: Float64Array,
} as unknown as Record<BasicKind, TypedArrayClass>;

const BASIC_BYTES: Readonly<Record<BasicKind, number>> = { i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, i64: 8, u64: 8, f32: 4, f64: 8 };

/** What a type's elements are, for reductions: one basic kind, (value, index) pairs for MAXLOC/MINLOC, or a mix. */
export type Elements =
  | { kind: 'basic'; basic: BasicKind; complex: boolean }
  | { kind: 'pair'; value: BasicKind; index: BasicKind; indexOffset: number; stride: number }
  | { kind: 'mixed' };

/** The most segments one type may flatten to (16 M: 256 MiB of layout). */
export const MAX_SEGMENTS = 1 << 24;

/** createSubarray(): the last dimension varies fastest (C's row-major order). */
export const ORDER_C = 0;
/** createSubarray(): the first dimension varies fastest (Fortran's column-major order). */
export const ORDER_FORTRAN = 1;

const MIXED: Elements = { kind: 'mixed' };

interface Layout {
  offsets: Float64Array;
  lengths: Float64Array;
  size: number;
  lb: number;
  ub: number;
  align: number;
  elements: Elements;
  /** Basic elements per item (for Get_elements). */
  elementCount: number;
}

let nextId = 1;

/** An MPI datatype (mpi4py's Datatype): a named one (MPI.INT, MPI.DOUBLE, ...) or one derived from it, to send, receive, reduce or view strided and structured data. */
export class Datatype {
  /** @internal Lets Status.getCount tell a Datatype from a typed array class. */
  readonly isDatatype = true as const;
  /** A number unique to this type in this process. */
  readonly id: number;
  #name: string;
  /** Bytes of data in one item. */
  readonly size: number;
  /** The lower and upper bounds: item i of a buffer starts at i × extent, its data from lb. */
  readonly lb: number;
  /** The upper bound: lb + extent. */
  readonly ub: number;
  /** Byte segments of one item, from its origin, in typemap order. */
  readonly offsets: Float64Array;
  /** The byte lengths of those segments. */
  readonly lengths: Float64Array;
  /** What its basic elements are, for reductions. */
  readonly elements: Elements;
  /** Basic elements in one item. */
  readonly elementsPerItem: number;
  /** The alignment a struct pads its extent to. */
  readonly align: number;
  /** How it was made: 'named', 'contiguous', 'vector', 'struct', ... (mpi4py's combiner). */
  readonly combiner: string;
  /** Whether it is a named type (MPI.INT, ...), which cannot be freed. */
  readonly predefined: boolean;
  #committed: boolean;
  #freed = false;

  /** @internal Made by the constructors below. */
  constructor(name: string, layout: Layout, combiner: string, predefined = false) {
    this.id = nextId++;
    this.#name = name;
    this.size = layout.size;
    this.lb = layout.lb;
    this.ub = layout.ub;
    this.offsets = layout.offsets;
    this.lengths = layout.lengths;
    this.elements = layout.elements;
    this.elementsPerItem = layout.elementCount;
    this.align = layout.align;
    this.combiner = combiner;
    this.predefined = predefined;
    this.#committed = predefined;
  }

  /** Its name: MPI's for named types ('MPI_INT'), what setName() set, or the combiner's. */
  get name(): string {
    return this.#name;
  }
  /** The distance between consecutive items of a buffer (ub - lb), in bytes. */
  get extent(): number {
    return this.ub - this.lb;
  }
  /** The bounds of the data itself (without padding or resizing). */
  get trueLb(): number {
    return this.offsets.length === 0 ? 0 : minOf(this.offsets);
  }
  /** The end of the data itself (without padding or resizing). */
  get trueUb(): number {
    let ub = 0;
    for (let i = 0; i < this.offsets.length; i++) ub = Math.max(ub, this.offsets[i]! + this.lengths[i]!);
    return this.offsets.length === 0 ? 0 : ub;
  }
  /** The span of the data itself: trueUb - trueLb. */
  get trueExtent(): number {
    return this.trueUb - this.trueLb;
  }
  /** Whether commit() was called (named types are committed). */
  get committed(): boolean {
    return this.#committed;
  }
  /** True once free() was called. */
  get freed(): boolean {
    return this.#freed;
  }
  /** Whether the items of a buffer are back to back with no gaps: `count` items are one run of bytes. */
  get contiguous(): boolean {
    return this.offsets.length === 1 && this.lengths[0] === this.size && this.size === this.extent;
  }
  /** Whether it is a named (predefined) type. */
  get isNamed(): boolean {
    return this.predefined;
  }

  /** The byte offset (from the first item's origin) where `count` items lie as one run, or null when they do not. */
  run(count: number): number | null {
    if (count === 0 || this.size === 0) return 0;
    if (this.offsets.length !== 1) return null;
    if (count === 1 || (this.lengths[0] === this.size && this.extent === this.size)) return this.offsets[0]!;
    return null;
  }

  /** [first, end) of the bytes `count` items touch, from the first item's origin. */
  span(count: number): [number, number] {
    if (count === 0 || this.size === 0) return [0, 0];
    const last = (count - 1) * this.extent;
    const lo = this.trueLb;
    const hi = this.trueUb;
    return last >= 0 ? [lo, last + hi] : [last + lo, hi];
  }

  /** Basic elements in `bytes` bytes of packed data (Status.getElements). */
  elementCount(bytes: number): number {
    if (this.size === 0) return 0;
    const items = Math.floor(bytes / this.size);
    let count = items * this.elementsPerItem;
    let rest = bytes - items * this.size;
    if (rest > 0) {
      const unit = this.elements.kind === 'basic' ? BASIC_BYTES[this.elements.basic] : 1;
      count += Math.floor(rest / unit);
      rest = 0;
    }
    return count;
  }

  // ---- constructors (mpi4py's names, as methods of the old type) ----

  /** `count` items back to back. */
  createContiguous(count: number): Datatype {
    checkCount(count, 'count');
    return derive('contiguous', [{ type: this, disp: 0, count }], 'contiguous');
  }

  /** `count` blocks of `blocklength` items, block starts `stride` items apart. */
  createVector(count: number, blocklength: number, stride: number): Datatype {
    checkCount(count, 'count');
    checkCount(blocklength, 'blocklength');
    checkInt(stride, 'stride');
    return this.createHvector(count, blocklength, stride * this.extent, 'vector');
  }

  /** As createVector, with the stride in bytes. */
  createHvector(count: number, blocklength: number, stride: number, combiner = 'hvector'): Datatype {
    checkCount(count, 'count');
    checkCount(blocklength, 'blocklength');
    checkInt(stride, 'stride');
    const blocks = Array.from({ length: count }, (_, j) => ({ type: this, disp: j * stride, count: blocklength }));
    return derive(combiner, blocks, combiner);
  }

  /** Block j: `blocklengths[j]` items at `displacements[j]` items from the origin. */
  createIndexed(blocklengths: readonly number[], displacements: readonly number[]): Datatype {
    checkLists(blocklengths, displacements);
    return this.createHindexed(
      blocklengths,
      displacements.map((d) => d * this.extent),
      'indexed',
    );
  }

  /** As createIndexed, with the displacements in bytes. */
  createHindexed(blocklengths: readonly number[], displacements: readonly number[], combiner = 'hindexed'): Datatype {
    checkLists(blocklengths, displacements);
    return derive(
      combiner,
      blocklengths.map((count, j) => ({ type: this, disp: displacements[j]!, count })),
      combiner,
    );
  }

  /** Blocks of `blocklength` items at `displacements` (in items). */
  createIndexedBlock(blocklength: number, displacements: readonly number[]): Datatype {
    checkCount(blocklength, 'blocklength');
    return this.createHindexed(
      displacements.map(() => blocklength),
      [...displacements].map((d) => d * this.extent),
      'indexed_block',
    );
  }

  /** As createIndexedBlock, with the displacements in bytes. */
  createHindexedBlock(blocklength: number, displacements: readonly number[]): Datatype {
    checkCount(blocklength, 'blocklength');
    return this.createHindexed(
      displacements.map(() => blocklength),
      displacements,
      'hindexed_block',
    );
  }

  /**
   * A `subsizes` block of an array of `sizes` items, starting at `starts`; ORDER_C: the last dimension varies
   * fastest (ORDER_FORTRAN: the first). Its extent is the whole array's, from lb 0.
   */
  createSubarray(sizes: readonly number[], subsizes: readonly number[], starts: readonly number[], order = ORDER_C): Datatype {
    const ndims = Array.isArray(sizes) ? sizes.length : -1;
    if (ndims < 1 || !Array.isArray(subsizes) || !Array.isArray(starts) || subsizes.length !== ndims || starts.length !== ndims) {
      throw new MPIError('ERR_MPI_ARG', 'createSubarray: sizes, subsizes and starts must be arrays of the same length (at least 1)');
    }
    if (order !== ORDER_C && order !== ORDER_FORTRAN) throw new MPIError('ERR_MPI_ARG', 'createSubarray: order must be ORDER_C or ORDER_FORTRAN');
    for (let d = 0; d < ndims; d++) {
      checkInt(sizes[d], `sizes[${d}]`);
      checkInt(subsizes[d], `subsizes[${d}]`);
      checkInt(starts[d], `starts[${d}]`);
      if (sizes[d]! < 1 || subsizes[d]! < 0 || starts[d]! < 0 || starts[d]! + subsizes[d]! > sizes[d]!) {
        throw new MPIError('ERR_MPI_ARG', `createSubarray: dimension ${d}: ${subsizes[d]} items from ${starts[d]} do not fit ${sizes[d]}`);
      }
    }
    // Dimensions from the slowest to the fastest.
    const dims = order === ORDER_C ? [...Array(ndims).keys()] : [...Array(ndims).keys()].reverse();
    const strides = new Array<number>(ndims);
    let stride = this.extent;
    for (let i = ndims - 1; i >= 0; i--) {
      strides[dims[i]!] = stride;
      stride *= sizes[dims[i]!]!;
    }
    const total = stride;
    const fastest = dims[ndims - 1]!;
    const rows: { type: Datatype; disp: number; count: number }[] = [];
    const index = new Array<number>(ndims).fill(0);
    const empty = subsizes.some((s) => s === 0);
    if (!empty) {
      for (;;) {
        let disp = 0;
        for (let d = 0; d < ndims; d++) disp += (starts[d]! + (d === fastest ? 0 : index[d]!)) * strides[d]!;
        rows.push({ type: this, disp, count: subsizes[fastest]! });
        // The next row: count up the other dimensions, fastest first.
        let i = ndims - 2;
        for (; i >= 0; i--) {
          const d = dims[i]!;
          if (++index[d]! < subsizes[d]!) break;
          index[d] = 0;
        }
        if (i < 0) break;
      }
    }
    const inner = derive('subarray', rows, 'subarray');
    return resized(inner, 0, total, 'subarray');
  }

  /** The same data with new bounds: lb and extent (in bytes). */
  createResized(lb: number, extent: number): Datatype {
    checkInt(lb, 'lb');
    checkInt(extent, 'extent');
    return resized(this, lb, extent, 'resized');
  }

  /** A copy (MPI_Type_dup). */
  dup(): Datatype {
    const copy = new Datatype(this.#name, layoutOf(this), 'dup');
    if (this.#committed) copy.commit();
    return copy;
  }

  /** Marks it ready for communication (MPI_Type_commit); returns the type, as mpi4py does. */
  commit(): this {
    this.#check();
    this.#committed = true;
    return this;
  }

  /** MPI_Type_free: named types cannot be freed. */
  free(): void {
    if (this.predefined) throw new MPIError('ERR_MPI_TYPE', `cannot free the named type ${this.#name}`);
    this.#freed = true;
  }

  /** Bytes of data in one item (size). */
  getSize(): number {
    return this.size;
  }
  /** [lb, extent] */
  getExtent(): [number, number] {
    return [this.lb, this.extent];
  }
  /** [trueLb, trueExtent]. */
  getTrueExtent(): [number, number] {
    return [this.trueLb, this.trueExtent];
  }
  /** Its name (name). */
  getName(): string {
    return this.#name;
  }
  /** Names the type (MPI_Type_set_name). */
  setName(name: string): void {
    this.#name = String(name);
  }

  /** Bytes that pack(`count` items) needs (MPI_Pack_size). */
  packSize(count: number): number {
    checkCount(count, 'count');
    return count * this.size;
  }

  /**
   * Packs `count` items of `inbuf` into `outbuf` at byte `position` (MPI_Pack); returns the new position.
   */
  pack(inbuf: ArrayBufferView, outbuf: ArrayBufferView, position: number, count?: number): number {
    const src = viewBytes(inbuf);
    const n = count ?? itemsIn(src.byteLength, this, 'pack');
    const dst = viewBytes(outbuf);
    if (position < 0 || position + n * this.size > dst.byteLength)
      throw new MPIError('ERR_MPI_TRUNCATE', `pack: ${n * this.size} bytes at ${position} do not fit outbuf (${dst.byteLength} bytes)`);
    checkSpan(this, n, src.byteLength, 0, 'pack');
    packInto(this, src, 0, n, dst, position);
    return position + n * this.size;
  }

  /** Unpacks `count` items from `inbuf` at byte `position` into `outbuf` (MPI_Unpack); returns the new position. */
  unpack(inbuf: ArrayBufferView, position: number, outbuf: ArrayBufferView, count?: number): number {
    const src = viewBytes(inbuf);
    const dst = viewBytes(outbuf);
    const n = count ?? itemsIn(dst.byteLength, this, 'unpack');
    if (position < 0 || position + n * this.size > src.byteLength)
      throw new MPIError('ERR_MPI_TRUNCATE', `unpack: ${n * this.size} bytes at ${position} are past inbuf (${src.byteLength} bytes)`);
    checkSpan(this, n, dst.byteLength, 0, 'unpack');
    unpackFrom(this, src, position, n * this.size, dst, 0);
    return position + n * this.size;
  }

  // ---- mpi4py spellings ----
  /** mpi4py's name for createContiguous(). */
  Create_contiguous(count: number): Datatype {
    return this.createContiguous(count);
  }
  /** mpi4py's name for createVector(). */
  Create_vector(count: number, blocklength: number, stride: number): Datatype {
    return this.createVector(count, blocklength, stride);
  }
  /** mpi4py's name for createHvector(). */
  Create_hvector(count: number, blocklength: number, stride: number): Datatype {
    return this.createHvector(count, blocklength, stride);
  }
  /** mpi4py's name for createIndexed(). */
  Create_indexed(blocklengths: readonly number[], displacements: readonly number[]): Datatype {
    return this.createIndexed(blocklengths, displacements);
  }
  /** mpi4py's name for createHindexed(). */
  Create_hindexed(blocklengths: readonly number[], displacements: readonly number[]): Datatype {
    return this.createHindexed(blocklengths, displacements);
  }
  /** mpi4py's name for createIndexedBlock(). */
  Create_indexed_block(blocklength: number, displacements: readonly number[]): Datatype {
    return this.createIndexedBlock(blocklength, displacements);
  }
  /** mpi4py's name for createHindexedBlock(). */
  Create_hindexed_block(blocklength: number, displacements: readonly number[]): Datatype {
    return this.createHindexedBlock(blocklength, displacements);
  }
  /** mpi4py's name for createSubarray(). */
  Create_subarray(sizes: readonly number[], subsizes: readonly number[], starts: readonly number[], order = ORDER_C): Datatype {
    return this.createSubarray(sizes, subsizes, starts, order);
  }
  /** mpi4py's name for createResized(). */
  Create_resized(lb: number, extent: number): Datatype {
    return this.createResized(lb, extent);
  }
  /** mpi4py's name for dup(). */
  Dup(): Datatype {
    return this.dup();
  }
  /** mpi4py's name for commit(). */
  Commit(): this {
    return this.commit();
  }
  /** mpi4py's name for free(). */
  Free(): void {
    this.free();
  }
  /** mpi4py's name for getSize(). */
  Get_size(): number {
    return this.size;
  }
  /** mpi4py's name for getExtent(). */
  Get_extent(): [number, number] {
    return this.getExtent();
  }
  /** mpi4py's name for getTrueExtent(). */
  Get_true_extent(): [number, number] {
    return this.getTrueExtent();
  }
  /** mpi4py's name for getName(). */
  Get_name(): string {
    return this.#name;
  }
  /** mpi4py's name for setName(). */
  Set_name(name: string): void {
    this.setName(name);
  }
  /** mpi4py's Pack(inbuf, outbuf, position): pack() of every item of inbuf. */
  Pack(inbuf: ArrayBufferView, outbuf: ArrayBufferView, position: number): number {
    return this.pack(inbuf, outbuf, position);
  }
  /** mpi4py's Unpack(inbuf, position, outbuf): unpack() into every item of outbuf. */
  Unpack(inbuf: ArrayBufferView, position: number, outbuf: ArrayBufferView): number {
    return this.unpack(inbuf, position, outbuf);
  }
  /** mpi4py's name for packSize(). */
  Pack_size(count: number): number {
    return this.packSize(count);
  }
  /** mpi4py's name for trueLb. */
  get true_lb(): number {
    return this.trueLb;
  }
  /** mpi4py's name for trueUb. */
  get true_ub(): number {
    return this.trueUb;
  }
  /** mpi4py's name for trueExtent. */
  get true_extent(): number {
    return this.trueExtent;
  }
  /** mpi4py's name for isNamed. */
  get is_named(): boolean {
    return this.predefined;
  }
  /** mpi4py's name for predefined. */
  get is_predefined(): boolean {
    return this.predefined;
  }

  /** A struct: block j is `blocklengths[j]` items of `types[j]` at byte `displacements[j]`. */
  static createStruct(blocklengths: readonly number[], displacements: readonly number[], types: readonly Datatype[]): Datatype {
    checkLists(blocklengths, displacements);
    if (!Array.isArray(types) || types.length !== blocklengths.length || !types.every((t) => t instanceof Datatype)) {
      throw new MPIError('ERR_MPI_TYPE', 'createStruct: types must be an array of Datatypes, one per block');
    }
    return derive(
      'struct',
      blocklengths.map((count, j) => ({ type: types[j]!, disp: displacements[j]!, count })),
      'struct',
      true,
    );
  }

  /** mpi4py's name for createStruct(). */
  static Create_struct(blocklengths: readonly number[], displacements: readonly number[], types: readonly Datatype[]): Datatype {
    return Datatype.createStruct(blocklengths, displacements, types);
  }

  /** The named type of a typed array's elements (Buffer, Uint8Array, DataView: BYTE). */
  static of(view: ArrayBufferView): Datatype {
    return typeOfView(view);
  }

  /** Its name. */
  toString(): string {
    return this.#name;
  }

  #check(): void {
    if (this.#freed) throw new MPIError('ERR_MPI_TYPE', `the datatype ${this.#name} was freed`);
  }
}

// ---- building layouts ----

interface Block {
  type: Datatype;
  disp: number;
  count: number;
}

function layoutOf(type: Datatype): Layout {
  return {
    offsets: type.offsets,
    lengths: type.lengths,
    size: type.size,
    lb: type.lb,
    ub: type.ub,
    align: type.align,
    elements: type.elements,
    elementCount: type.elementsPerItem,
  };
}

/** Flattens blocks (each `count` items of a type at a byte displacement) into one layout. */
function derive(name: string, blocks: readonly Block[], combiner: string, padToAlign = false): Datatype {
  let segments = 0;
  for (const b of blocks) {
    if (b.type.freed) throw new MPIError('ERR_MPI_TYPE', `${name}: uses a freed datatype (${b.type.name})`);
    segments += b.count * b.type.offsets.length;
    if (segments > MAX_SEGMENTS) throw new MPIError('ERR_MPI_TYPE', `${name}: the type would have more than ${MAX_SEGMENTS} separate pieces`);
  }
  const offsets = new Float64Array(segments);
  const lengths = new Float64Array(segments);
  let n = 0;
  let size = 0;
  let lb = Infinity;
  let ub = -Infinity;
  let align = 1;
  let elementCount = 0;
  let elements: Elements | null = null;
  for (const { type, disp, count } of blocks) {
    if (count === 0) continue;
    const extent = type.extent;
    for (let i = 0; i < count; i++) {
      const base = disp + i * extent;
      for (let s = 0; s < type.offsets.length; s++) {
        const off = base + type.offsets[s]!;
        const len = type.lengths[s]!;
        if (len === 0) continue;
        if (n > 0 && offsets[n - 1]! + lengths[n - 1]! === off) lengths[n - 1]! += len;
        else {
          offsets[n] = off;
          lengths[n] = len;
          n++;
        }
      }
      lb = Math.min(lb, base + type.lb);
      ub = Math.max(ub, base + type.ub);
    }
    size += count * type.size;
    elementCount += count * type.elementsPerItem;
    align = Math.max(align, type.align);
    elements = elements === null ? type.elements : mergeElements(elements, type.elements);
  }
  if (lb === Infinity) {
    lb = 0;
    ub = 0;
  }
  if (padToAlign && align > 1) {
    const extent = ub - lb;
    const padded = Math.ceil(extent / align) * align;
    ub = lb + padded;
  }
  return new Datatype(
    name,
    {
      offsets: offsets.slice(0, n),
      lengths: lengths.slice(0, n),
      size,
      lb,
      ub,
      align,
      elements: elements ?? MIXED,
      elementCount,
    },
    combiner,
  );
}

function resized(type: Datatype, lb: number, extent: number, combiner: string): Datatype {
  return new Datatype(combiner === 'subarray' ? 'subarray' : type.name, { ...layoutOf(type), lb, ub: lb + extent }, combiner);
}

function mergeElements(a: Elements, b: Elements): Elements {
  if (a.kind === 'basic' && b.kind === 'basic' && a.basic === b.basic && a.complex === b.complex) return a;
  if (a.kind === 'pair' && b.kind === 'pair' && a.value === b.value && a.index === b.index && a.indexOffset === b.indexOffset && a.stride === b.stride)
    return a;
  return MIXED;
}

function minOf(values: Float64Array): number {
  let m = Infinity;
  for (let i = 0; i < values.length; i++) m = Math.min(m, values[i]!);
  return m;
}

function checkInt(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new MPIError('ERR_MPI_ARG', `${name} must be an integer, not ${String(value)}`);
}

function checkCount(value: unknown, name: string): asserts value is number {
  checkInt(value, name);
  if (value < 0) throw new MPIError('ERR_MPI_COUNT', `${name} must not be negative (${value})`);
}

function checkLists(blocklengths: unknown, displacements: unknown): void {
  if (!Array.isArray(blocklengths) || !Array.isArray(displacements) || blocklengths.length !== displacements.length) {
    throw new MPIError('ERR_MPI_ARG', 'blocklengths and displacements must be arrays of the same length');
  }
  blocklengths.forEach((b, i) => checkCount(b, `blocklengths[${i}]`));
  displacements.forEach((d, i) => checkInt(d, `displacements[${i}]`));
}

// ---- named types ----

function basicType(name: string, basic: BasicKind | null, bytes: number, complex = false): Datatype {
  const elements: Elements = basic === null ? MIXED : { kind: 'basic', basic, complex };
  const parts = basic === null ? 1 : bytes / BASIC_BYTES[basic];
  return new Datatype(
    name,
    {
      offsets: Float64Array.of(0),
      lengths: Float64Array.of(bytes),
      size: bytes,
      lb: 0,
      ub: bytes,
      align: basic === null ? Math.min(bytes, 16) : BASIC_BYTES[basic],
      elements,
      elementCount: parts,
    },
    'named',
    true,
  );
}

/** A MAXLOC/MINLOC pair type as C lays out struct { value; int } (the int after the value, padded to align). */
function pairType(name: string, value: BasicKind, index: BasicKind): Datatype {
  const valueBytes = BASIC_BYTES[value];
  const indexBytes = BASIC_BYTES[index];
  const align = Math.max(valueBytes, indexBytes);
  const indexOffset = Math.ceil(valueBytes / indexBytes) * indexBytes;
  const size = valueBytes + indexBytes;
  const extent = Math.ceil((indexOffset + indexBytes) / align) * align;
  const contiguous = indexOffset === valueBytes;
  return new Datatype(
    name,
    {
      offsets: contiguous ? Float64Array.of(0) : Float64Array.of(0, indexOffset),
      lengths: contiguous ? Float64Array.of(size) : Float64Array.of(valueBytes, indexBytes),
      size,
      lb: 0,
      ub: extent,
      align,
      elements: { kind: 'pair', value, index, indexOffset, stride: extent },
      elementCount: 2,
    },
    'named',
    true,
  );
}

/** MPI_CHAR: a C char, 1 byte (signed here, as Int8Array's elements). */
export const CHAR = basicType('MPI_CHAR', 'i8', 1);
/** MPI_SIGNED_CHAR: a 1-byte signed integer (Int8Array's elements). */
export const SIGNED_CHAR = basicType('MPI_SIGNED_CHAR', 'i8', 1);
/** MPI_UNSIGNED_CHAR: a 1-byte unsigned integer (Uint8Array's elements). */
export const UNSIGNED_CHAR = basicType('MPI_UNSIGNED_CHAR', 'u8', 1);
/** MPI_BYTE: an uninterpreted byte (Buffer's, Uint8Array's elements); what buffers without a datatype travel as. */
export const BYTE = basicType('MPI_BYTE', 'u8', 1);
/** MPI_SHORT: a C short, 2 bytes (Int16Array's elements). */
export const SHORT = basicType('MPI_SHORT', 'i16', 2);
/** MPI_UNSIGNED_SHORT: a C unsigned short, 2 bytes (Uint16Array's elements). */
export const UNSIGNED_SHORT = basicType('MPI_UNSIGNED_SHORT', 'u16', 2);
/** MPI_INT: a C int, 4 bytes (Int32Array's elements). */
export const INT = basicType('MPI_INT', 'i32', 4);
/** MPI_UNSIGNED: a C unsigned int, 4 bytes (Uint32Array's elements). */
export const UNSIGNED = basicType('MPI_UNSIGNED', 'u32', 4);
/** MPI_LONG: a C long, 8 bytes (BigInt64Array's elements). */
export const LONG = basicType('MPI_LONG', 'i64', 8);
/** MPI_UNSIGNED_LONG: a C unsigned long, 8 bytes (BigUint64Array's elements). */
export const UNSIGNED_LONG = basicType('MPI_UNSIGNED_LONG', 'u64', 8);
/** MPI_LONG_LONG: a C long long, 8 bytes (BigInt64Array's elements). */
export const LONG_LONG = basicType('MPI_LONG_LONG', 'i64', 8);
/** MPI_UNSIGNED_LONG_LONG: a C unsigned long long, 8 bytes (BigUint64Array's elements). */
export const UNSIGNED_LONG_LONG = basicType('MPI_UNSIGNED_LONG_LONG', 'u64', 8);
/** MPI_FLOAT: a C float, 4 bytes (Float32Array's elements). */
export const FLOAT = basicType('MPI_FLOAT', 'f32', 4);
/** MPI_DOUBLE: a C double, 8 bytes (Float64Array's elements). */
export const DOUBLE = basicType('MPI_DOUBLE', 'f64', 8);
/** 16 opaque bytes (JavaScript has no long double): moved, never reduced. */
export const LONG_DOUBLE = basicType('MPI_LONG_DOUBLE', null, 16);
/** MPI_C_BOOL: a C bool, 1 byte (0 or 1). */
export const C_BOOL = basicType('MPI_C_BOOL', 'u8', 1);
/** MPI_WCHAR: a wchar_t, 4 bytes as on Linux. */
export const WCHAR = basicType('MPI_WCHAR', 'i32', 4);
/** MPI_INT8_T: a 1-byte signed integer (Int8Array's elements). */
export const INT8_T = basicType('MPI_INT8_T', 'i8', 1);
/** MPI_INT16_T: a 2-byte signed integer (Int16Array's elements). */
export const INT16_T = basicType('MPI_INT16_T', 'i16', 2);
/** MPI_INT32_T: a 4-byte signed integer (Int32Array's elements). */
export const INT32_T = basicType('MPI_INT32_T', 'i32', 4);
/** MPI_INT64_T: an 8-byte signed integer (BigInt64Array's elements). */
export const INT64_T = basicType('MPI_INT64_T', 'i64', 8);
/** MPI_UINT8_T: a 1-byte unsigned integer (Uint8Array's elements). */
export const UINT8_T = basicType('MPI_UINT8_T', 'u8', 1);
/** MPI_UINT16_T: a 2-byte unsigned integer (Uint16Array's elements). */
export const UINT16_T = basicType('MPI_UINT16_T', 'u16', 2);
/** MPI_UINT32_T: a 4-byte unsigned integer (Uint32Array's elements). */
export const UINT32_T = basicType('MPI_UINT32_T', 'u32', 4);
/** MPI_UINT64_T: an 8-byte unsigned integer (BigUint64Array's elements). */
export const UINT64_T = basicType('MPI_UINT64_T', 'u64', 8);
/** MPI_AINT: an address-sized signed integer, 8 bytes (BigInt64Array's elements). */
export const AINT = basicType('MPI_AINT', 'i64', 8);
/** MPI_OFFSET: a file offset, an 8-byte signed integer (BigInt64Array's elements). */
export const OFFSET = basicType('MPI_OFFSET', 'i64', 8);
/** MPI_COUNT: a count, an 8-byte signed integer (BigInt64Array's elements). */
export const COUNT = basicType('MPI_COUNT', 'i64', 8);
/** Complex numbers as (real, imaginary) pairs: SUM adds them; other reductions are refused. */
export const C_FLOAT_COMPLEX = basicType('MPI_C_FLOAT_COMPLEX', 'f32', 8, true);
/** MPI_C_DOUBLE_COMPLEX: a complex number as two doubles (real, imaginary), 16 bytes; SUM adds them. */
export const C_DOUBLE_COMPLEX = basicType('MPI_C_DOUBLE_COMPLEX', 'f64', 16, true);
/** MPI_PACKED: bytes made by Datatype.pack(), sent and received as bytes. */
export const PACKED = basicType('MPI_PACKED', 'u8', 1);
/** MPI_FLOAT_INT: a (float value, int index) pair, as C lays out struct { float; int }: for MAXLOC and MINLOC. */
export const FLOAT_INT = pairType('MPI_FLOAT_INT', 'f32', 'i32');
/** MPI_DOUBLE_INT: a (double value, int index) pair, as C lays out struct { double; int }: for MAXLOC and MINLOC. */
export const DOUBLE_INT = pairType('MPI_DOUBLE_INT', 'f64', 'i32');
/** MPI_LONG_INT: a (long value, int index) pair, as C lays out struct { long; int }: for MAXLOC and MINLOC. */
export const LONG_INT = pairType('MPI_LONG_INT', 'i64', 'i32');
/** MPI_SHORT_INT: a (short value, int index) pair, as C lays out struct { short; int }: for MAXLOC and MINLOC. */
export const SHORT_INT = pairType('MPI_SHORT_INT', 'i16', 'i32');
/** MPI_2INT: a pair of ints (value, index): for MAXLOC and MINLOC. */
export const TWOINT = basicType('MPI_2INT', 'i32', 8);
/** mpi4py's name for TWOINT (MPI_2INT). */
export const INT_INT = TWOINT;
/** mpi4py's name for C_BOOL. */
export const BOOL = C_BOOL;
/** MPI_C_COMPLEX: the same type as C_FLOAT_COMPLEX. */
export const C_COMPLEX = C_FLOAT_COMPLEX;
/** mpi4py's MPI.COMPLEX: here the same type as C_FLOAT_COMPLEX. */
export const COMPLEX = C_FLOAT_COMPLEX;
/** mpi4py's MPI.DOUBLE_COMPLEX: here the same type as C_DOUBLE_COMPLEX. */
export const DOUBLE_COMPLEX = C_DOUBLE_COMPLEX;
/** mpi4py's name for FLOAT (a 4-byte float). */
export const FLOAT32_T = FLOAT;
/** mpi4py's name for DOUBLE (an 8-byte double). */
export const FLOAT64_T = DOUBLE;
/** A null datatype (MPI_DATATYPE_NULL): no data. */
export const DATATYPE_NULL = new Datatype(
  'MPI_DATATYPE_NULL',
  {
    offsets: new Float64Array(0),
    lengths: new Float64Array(0),
    size: 0,
    lb: 0,
    ub: 0,
    align: 1,
    elements: MIXED,
    elementCount: 0,
  },
  'named',
  true,
);

const VIEW_TYPES = new Map<unknown, Datatype>([
  [Int8Array, SIGNED_CHAR],
  [Uint8Array, BYTE],
  [Uint8ClampedArray, BYTE],
  [Int16Array, SHORT],
  [Uint16Array, UNSIGNED_SHORT],
  [Int32Array, INT],
  [Uint32Array, UNSIGNED],
  [BigInt64Array, INT64_T],
  [BigUint64Array, UINT64_T],
  [Float32Array, FLOAT],
  [Float64Array, DOUBLE],
  [DataView, BYTE],
]);

/** The named type of a view's elements: Float64Array → DOUBLE, Int32Array → INT, Buffer/Uint8Array/DataView → BYTE. */
export function typeOfView(view: ArrayBufferView): Datatype {
  let proto: unknown = view.constructor;
  while (proto !== null && proto !== undefined) {
    const type = VIEW_TYPES.get(proto);
    if (type !== undefined) return type;
    proto = Object.getPrototypeOf(proto);
  }
  return BYTE;
}

/** mpi4py's (and Python's array/struct) type characters: 'i' INT, 'd' DOUBLE, 'B' UNSIGNED_CHAR, ... */
export const TYPECODES: Readonly<Record<string, Datatype>> = {
  c: CHAR,
  b: SIGNED_CHAR,
  B: UNSIGNED_CHAR,
  h: SHORT,
  H: UNSIGNED_SHORT,
  i: INT,
  I: UNSIGNED,
  l: LONG,
  L: UNSIGNED_LONG,
  q: LONG_LONG,
  Q: UNSIGNED_LONG_LONG,
  f: FLOAT,
  d: DOUBLE,
  g: LONG_DOUBLE,
  '?': C_BOOL,
  F: C_FLOAT_COMPLEX,
  D: C_DOUBLE_COMPLEX,
  i1: INT8_T,
  i2: INT16_T,
  i4: INT32_T,
  i8: INT64_T,
  u1: UINT8_T,
  u2: UINT16_T,
  u4: UINT32_T,
  u8: UINT64_T,
  f4: FLOAT,
  f8: DOUBLE,
};

/** A Datatype, or one named by a type character ('i', 'd', ...). */
export function asDatatype(value: unknown, name: string): Datatype {
  if (value instanceof Datatype) {
    if (value.freed) throw new MPIError('ERR_MPI_TYPE', `${name}: the datatype ${value.name} was freed`);
    if (!value.committed) throw new MPIError('ERR_MPI_TYPE', `${name}: the datatype ${value.name} is not committed (call commit())`);
    return value;
  }
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(TYPECODES, value)) return TYPECODES[value]!;
  throw new MPIError(
    'ERR_MPI_TYPE',
    `${name} must be an MPI.Datatype (MPI.INT, MPI.DOUBLE, ...) or a type character, not ${typeof value === 'string' ? `'${value}'` : String(value)}`,
  );
}

export function isDatatypeLike(value: unknown): boolean {
  return value instanceof Datatype || (typeof value === 'string' && Object.prototype.hasOwnProperty.call(TYPECODES, value));
}

// ---- packing ----

/** The bytes of a view (no copy). */
export function viewBytes(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array && view.constructor === Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function itemsIn(bytes: number, type: Datatype, what: string): number {
  const extent = type.extent;
  if (extent <= 0) throw new MPIError('ERR_MPI_COUNT', `${what}: cannot infer the count of a type of extent ${extent}`);
  return Math.floor(bytes / extent);
}

/** Throws ERR_MPI_COUNT unless `count` items from byte `origin` stay within a buffer of `length` bytes. */
export function checkSpan(type: Datatype, count: number, length: number, origin: number, what: string): void {
  const [lo, hi] = type.span(count);
  if (lo === hi) return;
  if (origin + lo < 0 || origin + hi > length) {
    throw new MPIError('ERR_MPI_COUNT', `${what}: ${count} × ${type.name} (bytes ${origin + lo} … ${origin + hi}) is past the buffer (${length} bytes)`);
  }
}

/**
 * Copies `count` items of `type` from `src` (item 0's origin at byte `origin`) into `dst` from byte `at`, packed.
 * The caller has checked the bounds (checkSpan).
 */
export function packInto(type: Datatype, src: Uint8Array, origin: number, count: number, dst: Uint8Array, at: number): void {
  walk(type, count, origin, at, type.size * count, src, dst, true);
}

/** Copies `bytes` packed bytes from `src` at byte `from` into the items of `type` in `dst` (item 0's origin at `origin`). */
export function unpackFrom(type: Datatype, src: Uint8Array, from: number, bytes: number, dst: Uint8Array, origin: number): void {
  if (type.size === 0) return;
  const count = Math.ceil(bytes / type.size);
  walk(type, count, origin, from, bytes, dst, src, false);
}

/**
 * The one loop of packing and unpacking: item i's segments, at `origin` + i × extent in `typed` (the buffer the
 * type describes), against a packed run from `packedAt` in `packed`; stops after `limit` packed bytes.
 * `toPacked`: typed → packed (pack) or packed → typed (unpack). Short segments are copied in a loop, long ones
 * with one native copy each: no allocation per element.
 */
function walk(type: Datatype, count: number, origin: number, packedAt: number, limit: number, typed: Uint8Array, packed: Uint8Array, toPacked: boolean): void {
  const { offsets, lengths } = type;
  const extent = type.extent;
  const segments = offsets.length;
  let p = packedAt;
  const end = packedAt + limit;
  // A wider unit when every offset, length and the extent allow it (aligned words copy 4 at a time).
  const unit = wordUnit(type, typed, packed, origin, packedAt);
  const t32 = unit === 4 ? new Int32Array(typed.buffer, typed.byteOffset, typed.byteLength >> 2) : null;
  const p32 = unit === 4 ? new Int32Array(packed.buffer, packed.byteOffset, packed.byteLength >> 2) : null;
  for (let i = 0; i < count && p < end; i++) {
    const base = origin + i * extent;
    for (let s = 0; s < segments && p < end; s++) {
      const t = base + offsets[s]!;
      const len = Math.min(lengths[s]!, end - p);
      if (len > 64) {
        if (toPacked) packed.set(typed.subarray(t, t + len), p);
        else typed.set(packed.subarray(p, p + len), t);
      } else if (t32 !== null && (len & 3) === 0) {
        const tw = t >> 2;
        const pw = p >> 2;
        const words = len >> 2;
        if (toPacked) for (let k = 0; k < words; k++) p32![pw + k] = t32[tw + k]!;
        else for (let k = 0; k < words; k++) t32[tw + k] = p32![pw + k]!;
      } else if (toPacked) {
        for (let k = 0; k < len; k++) packed[p + k] = typed[t + k]!;
      } else {
        for (let k = 0; k < len; k++) typed[t + k] = packed[p + k]!;
      }
      p += len;
    }
  }
}

function wordUnit(type: Datatype, typed: Uint8Array, packed: Uint8Array, origin: number, packedAt: number): 1 | 4 {
  if ((typed.byteOffset & 3) !== 0 || (packed.byteOffset & 3) !== 0 || (origin & 3) !== 0 || (packedAt & 3) !== 0 || (type.extent & 3) !== 0) return 1;
  const { offsets, lengths } = type;
  for (let s = 0; s < offsets.length; s++) if ((offsets[s]! & 3) !== 0 || (lengths[s]! & 3) !== 0) return 1;
  return 4;
}

/** The typed array class of a basic kind. */
export function basicArray(kind: BasicKind): TypedArrayClass {
  return BASIC_ARRAYS[kind];
}

export function basicBytes(kind: BasicKind): number {
  return BASIC_BYTES[kind];
}
