// Buffer specs (src/mpi/bufspec.ts): mpi4py's [buf, count, datatype] forms become payloads that travel as
// views when contiguous (no copy) and packed when strided; reductions see basic elements.
import { describe, it, expect } from 'vitest';
import { parsePayload, parseVPayload, byteBlocks, blockArg, typedArg, outgoing, incoming } from '../../src/mpi/bufspec.js';
import { DOUBLE, INT, BYTE, DOUBLE_INT, FLOAT, Datatype } from '../../src/mpi/datatype.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('parsePayload', () => {
  it('a typed array is its own datatype and count, sent as a view of itself', () => {
    const a = new Float64Array(5);
    const p = parsePayload(a, 'buf', 'Send');
    expect([p.type, p.count, p.byteLength, p.contiguous]).toEqual([DOUBLE, 5, 40, true]);
    expect(p.data().buffer).toBe(a.buffer);
    expect(parsePayload(Buffer.alloc(3), 'buf', 'Send').type).toBe(BYTE);
  });

  it('[buf, datatype], [buf, count, datatype], [buf, [count, displ], datatype], [buf, count], type characters', () => {
    const bytes = new Uint8Array(64);
    expect(parsePayload([bytes, INT], 'b', 'x').count).toBe(16);
    expect(parsePayload([bytes, 3, DOUBLE], 'b', 'x').byteLength).toBe(24);
    const shifted = parsePayload([bytes, [2, 3], DOUBLE], 'b', 'x');
    expect(shifted.data().byteOffset).toBe(24);
    expect(parsePayload([new Int32Array(8), 5], 'b', 'x').byteLength).toBe(20);
    expect(parsePayload([bytes, 'd'], 'b', 'x').count).toBe(8);
    expect(parsePayload([null, 'B'], 'b', 'x').byteLength).toBe(0);
  });

  it('infers counts per block for collectives, and refuses what does not fit', () => {
    expect(parsePayload([new Int32Array(12), INT], 'recvbuf', 'Gather', 4).count).toBe(3);
    expect(codeOf(() => parsePayload([new Int32Array(10), INT], 'recvbuf', 'Gather', 4))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parsePayload([new Uint8Array(12), DOUBLE], 'b', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parsePayload([new Uint8Array(16), 3, DOUBLE], 'b', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parsePayload([new Uint8Array(16), -1, DOUBLE], 'b', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parsePayload([null, 2, DOUBLE], 'b', 'x'))).toBe('ERR_MPI_BUFFER');
    expect(codeOf(() => parsePayload('text', 'b', 'x'))).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => parsePayload(null, 'b', 'x'))).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => parsePayload([1, 2, 3, 4, 5], 'b', 'x'))).toBe('ERR_MPI_ARG');
  });

  it('strided data is packed to send and unpacked on receipt, partial receipts too', () => {
    const column = DOUBLE.createVector(3, 1, 3).commit();
    const m = new Float64Array(9).map((_, i) => i);
    const p = parsePayload([m, 1, column], 'b', 'x');
    expect(p.contiguous).toBe(false);
    expect([...new Float64Array(p.data().buffer)]).toEqual([0, 3, 6]);
    const into = new Float64Array(9);
    const r = incoming([into, 1, column], 'b', 'x');
    (r.into as Uint8Array).set(new Uint8Array(Float64Array.of(7, 8, 9).buffer));
    r.finish(16);
    expect([...into]).toEqual([7, 0, 0, 8, 0, 0, 0, 0, 0]);
    const out = outgoing(m, 'b', 'x') as Uint8Array;
    expect([out.buffer === m.buffer, out.byteLength]).toEqual([true, 72]);
  });
});

describe('collective forms', () => {
  it('v-specs take counts and displacements in items of the datatype, integers for equal or strided blocks', () => {
    const buf = new Float64Array(12);
    const v = parseVPayload([buf, [2, 1, 3], [0, 4, 8], DOUBLE], 3, 'recvspec', 'Gatherv');
    expect(v.displs).toEqual([0, 4, 8]);
    const same = parseVPayload(
      [
        buf,
        [
          [2, 1, 3],
          [0, 4, 8],
        ],
        DOUBLE,
      ],
      3,
      'r',
      'x',
    );
    expect(same.counts).toEqual([2, 1, 3]);
    expect(parseVPayload([buf, 2, 4, DOUBLE], 3, 'r', 'x').displs).toEqual([0, 4, 8]);
    expect(parseVPayload([buf, 4], 3, 'r', 'x').counts).toEqual([4, 4, 4]);
    expect(parseVPayload([buf, DOUBLE], 3, 'r', 'x').counts).toEqual([4, 4, 4]);
    expect(byteBlocks(v).blocks.displs).toEqual([0, 32, 64]);
  });

  it('a strided v-spec is staged: packed before, unpacked after', () => {
    const pairType = INT.createVector(2, 1, 2).commit(); // every other int, two of them
    const buf = new Int32Array(8).map((_, i) => i);
    const staged = byteBlocks(parseVPayload([buf, [1, 1], [0, 1], pairType], 2, 'r', 'x'));
    expect([...new Int32Array(staged.blocks.buf.buffer)]).toEqual([0, 2, 3, 5]);
    staged.blocks.block(1).set(new Uint8Array(Int32Array.of(-1, -2).buffer));
    staged.finish();
    expect([...buf]).toEqual([0, 1, 2, -1, 4, -2, 6, 7]);
  });

  it('blockArg gives a view for typed arrays and for contiguous specs', () => {
    const a = new Int32Array(8);
    expect(blockArg(a, 'sendbuf', 'Gather', 1).bytes.buffer).toBe(a.buffer);
    expect(blockArg([a, 2, INT], 'recvbuf', 'Gather', 4).bytes.byteLength).toBe(32);
    expect(codeOf(() => blockArg('x', 'recvbuf', 'Gather', 1))).toBe('ERR_MPI_TYPE');
  });

  it('typedArg: typed arrays as they are, specs as basic elements (views when aligned), pairs as float pairs', () => {
    const f = new Float64Array(4);
    expect(typedArg(f, 'b', 'x').array).toBe(f);
    const bytes = new Uint8Array(16);
    const ints = typedArg([bytes, 4, INT], 'b', 'x');
    expect(ints.array).toBeInstanceOf(Int32Array);
    expect(ints.array.buffer).toBe(bytes.buffer);
    const three = DOUBLE.createContiguous(3).commit();
    expect(typedArg([new Float64Array(6), 2, three], 'b', 'x').perItem).toBe(3);
    const raw = new Uint8Array(32);
    const dv = new DataView(raw.buffer);
    dv.setFloat64(0, 2.5, true);
    dv.setInt32(8, 7, true);
    dv.setFloat64(16, -1, true);
    dv.setInt32(24, 9, true);
    const pairs = typedArg([raw, 2, DOUBLE_INT], 'b', 'x');
    expect([...pairs.array]).toEqual([2.5, 7, -1, 9]);
    (pairs.array as Float64Array)[0] = 4;
    pairs.commit();
    expect(dv.getFloat64(0, true)).toBe(4);
    const mixed = Datatype.createStruct([1, 1], [0, 8], [DOUBLE, FLOAT]).commit();
    expect(codeOf(() => typedArg([new Uint8Array(16), 1, mixed], 'b', 'x'))).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => typedArg(new DataView(new ArrayBuffer(4)), 'b', 'x'))).toBe('ERR_MPI_TYPE');
  });
});
