// Datatypes (src/mpi/datatype.ts): the layouts of named and derived types, checked against the sizes,
// extents and bounds Open MPI gives for the same constructors (as printed by mpi4py 3.1 on Open MPI 4.1),
// and packing through them.
import { describe, it, expect } from 'vitest';
import {
  Datatype,
  BYTE,
  CHAR,
  DOUBLE,
  FLOAT,
  INT,
  SHORT_INT,
  DOUBLE_INT,
  LONG_INT,
  FLOAT_INT,
  TWOINT,
  LONG_DOUBLE,
  C_DOUBLE_COMPLEX,
  ORDER_FORTRAN,
  typeOfView,
  asDatatype,
  packInto,
  unpackFrom,
  checkSpan,
} from '../../src/mpi/datatype.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

const layout = (t: Datatype): [number[], number[]] => [[...t.offsets], [...t.lengths]];

describe('named types', () => {
  it('have the sizes and extents of Open MPI on x86-64 (pair types padded as C structs)', () => {
    const expected: [Datatype, number, number][] = [
      [CHAR, 1, 1],
      [INT, 4, 4],
      [DOUBLE, 8, 8],
      [LONG_DOUBLE, 16, 16],
      [C_DOUBLE_COMPLEX, 16, 16],
      [FLOAT_INT, 8, 8],
      [DOUBLE_INT, 12, 16],
      [LONG_INT, 12, 16],
      [TWOINT, 8, 8],
      [SHORT_INT, 6, 8],
    ];
    for (const [type, size, extent] of expected) expect([type.name, type.size, type.extent]).toEqual([type.name, size, extent]);
    expect(layout(SHORT_INT)).toEqual([
      [0, 4],
      [2, 4],
    ]);
    expect(layout(DOUBLE_INT)).toEqual([[0], [12]]);
  });

  it('typed arrays name their element type; type characters name types', () => {
    expect(typeOfView(new Float64Array(1))).toBe(DOUBLE);
    expect(typeOfView(new Int32Array(1))).toBe(INT);
    expect(typeOfView(Buffer.alloc(1))).toBe(BYTE);
    expect(typeOfView(new DataView(new ArrayBuffer(1)))).toBe(BYTE);
    expect(asDatatype('d', 'x')).toBe(DOUBLE);
    expect(asDatatype('i', 'x')).toBe(INT);
    expect(codeOf(() => asDatatype('z', 'x'))).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => asDatatype(8, 'x'))).toBe('ERR_MPI_TYPE');
  });

  it('cannot be freed; derived types must be committed before use', () => {
    expect(codeOf(() => INT.free())).toBe('ERR_MPI_TYPE');
    const t = INT.createContiguous(2);
    expect(codeOf(() => asDatatype(t, 'x'))).toBe('ERR_MPI_TYPE');
    expect(asDatatype(t.commit(), 'x')).toBe(t);
    t.free();
    expect(codeOf(() => asDatatype(t, 'x'))).toBe('ERR_MPI_TYPE');
  });
});

describe('derived types (same numbers as Open MPI)', () => {
  it('struct { double; char } has size 9 and extent 16; a struct of it size 20, extent 32', () => {
    const t = Datatype.createStruct([1, 1], [0, 8], [DOUBLE, CHAR]);
    expect([t.size, t.extent, t.lb]).toEqual([9, 16, 0]);
    expect(layout(t)).toEqual([[0], [9]]);
    const u = Datatype.createStruct([2, 1, 3], [0, 16, 26], [FLOAT, t, CHAR]);
    expect([u.size, u.extent, u.lb]).toEqual([20, 32, 0]);
    expect(u.elements.kind).toBe('mixed');
  });

  it('a vector with a negative stride has lb -32, extent 40 and keeps typemap order', () => {
    const v = DOUBLE.createVector(3, 1, -2);
    expect([v.size, v.extent, v.lb]).toEqual([24, 40, -32]);
    expect(v.getTrueExtent()).toEqual([-32, 40]);
    expect(layout(v)).toEqual([
      [0, -16, -32],
      [8, 8, 8],
    ]);
  });

  it('contiguous, vector, hvector, indexed, hindexed, indexed_block merge adjacent pieces', () => {
    expect(layout(INT.createContiguous(5))).toEqual([[0], [20]]);
    expect(INT.createContiguous(5).contiguous).toBe(true);
    const v = INT.createVector(3, 2, 4);
    expect(layout(v)).toEqual([
      [0, 16, 32],
      [8, 8, 8],
    ]);
    expect([v.size, v.extent]).toEqual([24, 40]);
    expect(layout(INT.createVector(3, 2, 2))).toEqual([[0], [24]]);
    expect(layout(INT.createHvector(2, 1, 12))).toEqual([
      [0, 12],
      [4, 4],
    ]);
    expect(layout(INT.createIndexed([2, 1], [3, 0]))).toEqual([
      [12, 0],
      [8, 4],
    ]);
    expect(layout(INT.createHindexed([1, 1], [4, 0]))).toEqual([
      [4, 0],
      [4, 4],
    ]);
    expect(layout(INT.createIndexedBlock(1, [0, 2, 4]))).toEqual([
      [0, 8, 16],
      [4, 4, 4],
    ]);
    expect(INT.createIndexed([2, 1], [3, 0]).extent).toBe(20);
  });

  it('a subarray covers the whole array (lb 0), its data from the start corner; C and Fortran order', () => {
    const c = DOUBLE.createSubarray([4, 5], [2, 3], [1, 1]);
    expect([c.size, c.extent, c.lb]).toEqual([48, 160, 0]);
    expect(c.getTrueExtent()).toEqual([48, 64]);
    expect(layout(c)).toEqual([
      [48, 88],
      [24, 24],
    ]);
    const f = DOUBLE.createSubarray([4, 5], [2, 3], [1, 1], ORDER_FORTRAN);
    expect(layout(f)).toEqual([
      [40, 72, 104],
      [16, 16, 16],
    ]);
    const cube = INT.createSubarray([3, 3, 3], [1, 2, 2], [2, 1, 0]);
    expect(layout(cube)).toEqual([
      [(18 + 3) * 4, (18 + 6) * 4],
      [8, 8],
    ]);
    expect(codeOf(() => INT.createSubarray([4], [3], [2]))).toBe('ERR_MPI_ARG');
  });

  it('resized sets lb and extent; the transposing hvector of rows of 100 doubles spans 80000 bytes', () => {
    const r = INT.createResized(-4, 16);
    expect([r.size, r.lb, r.extent, r.ub]).toEqual([4, -4, 16, 12]);
    const row = DOUBLE.createVector(100, 1, 100);
    const xpose = row.createHvector(100, 1, 8);
    expect([xpose.size, xpose.extent]).toEqual([80000, 80000]);
  });

  it('refuses bad arguments with MPI error codes', () => {
    expect(codeOf(() => INT.createContiguous(-1))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => INT.createVector(2, 1.5, 1))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => INT.createIndexed([1, 2], [0]))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => Datatype.createStruct([1], [0], [4 as never]))).toBe('ERR_MPI_TYPE');
  });
});

describe('packing', () => {
  it('packs an upper triangle and unpacks it in place, leaving the rest', () => {
    const N = 4;
    const up = DOUBLE.createIndexed([4, 3, 2, 1], [0, 5, 10, 15]).commit();
    const a = new Float64Array(N * N).map((_, i) => i);
    const packed = new Uint8Array(up.size);
    expect(up.pack(a, packed, 0)).toBe(up.size);
    expect([...new Float64Array(packed.buffer)]).toEqual([0, 1, 2, 3, 5, 6, 7, 10, 11, 15]);
    const b = new Float64Array(N * N).fill(-1);
    up.unpack(packed, 0, b);
    expect([...b]).toEqual([0, 1, 2, 3, -1, 5, 6, 7, -1, -1, 10, 11, -1, -1, -1, 15]);
  });

  it('packs several items at extent steps, through word and byte copies, and unpacks partial data', () => {
    const t = Datatype.createStruct([1, 1], [0, 8], [DOUBLE, CHAR]);
    const src = new Uint8Array(3 * 16).map((_, i) => i);
    const out = new Uint8Array(27);
    packInto(t, src, 0, 3, out, 0);
    expect([...out.subarray(9, 18)]).toEqual([...src.subarray(16, 25)]);
    const back = new Uint8Array(48);
    unpackFrom(t, out, 0, 20, back, 0); // two items and 2 bytes of the third
    expect([...back.subarray(32, 34)]).toEqual([32, 33]);
    expect(back[34]).toBe(0);
    const v = INT.createVector(4, 1, 3);
    const ints = new Int32Array(12).map((_, i) => i * 11);
    const packed = new Uint8Array(16);
    packInto(v, new Uint8Array(ints.buffer), 0, 1, packed, 0);
    expect([...new Int32Array(packed.buffer)]).toEqual([0, 33, 66, 99]);
  });

  it('checkSpan refuses data past either end of the buffer (negative lower bounds too)', () => {
    const v = DOUBLE.createVector(3, 1, -2);
    expect(codeOf(() => checkSpan(v, 1, 40, 0, 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => checkSpan(v, 1, 40, 32, 'x'))).toBeUndefined();
    expect(codeOf(() => checkSpan(INT, 3, 11, 0, 'x'))).toBe('ERR_MPI_COUNT');
  });

  it('counts basic elements for getElements', () => {
    const t = Datatype.createStruct([1, 1], [0, 8], [DOUBLE, CHAR]);
    expect(t.elementCount(9 * 3)).toBe(6);
    expect(DOUBLE.createContiguous(3).elementCount(48)).toBe(6);
  });
});
