// Block layouts (src/mpi/vspec.ts, bufspec.ts): [buf, counts, displs] specs become byte ranges of their buffer, or
// the documented error codes; equal splits cover the buffer in multiples of the op's unit.
import { describe, it, expect } from 'vitest';
import { Blocks, copyBlock, equalBlock, equalCounts, prefix } from '../../src/mpi/vspec.js';
import { byteBlocks, parseVPayload } from '../../src/mpi/bufspec.js';
import { IN_PLACE } from '../../src/mpi/constants.js';
import type { MPIErrorCode } from '../../src/mpi/errors.js';

function codeOf(fn: () => unknown): MPIErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: MPIErrorCode }).code;
  }
  return undefined;
}

describe('v-collective specs (bufspec.ts parseVPayload, byteBlocks)', () => {
  const parseVSpec = (spec: unknown, size: number, name: string, what: string): Blocks<Uint8Array> => byteBlocks(parseVPayload(spec, size, name, what)).blocks;

  it('counts and displacements are in elements of the buffer; blocks come out as bytes', () => {
    const buf = new Float64Array(10);
    const blocks = parseVSpec([buf, [2, 0, 3], [5, 0, 7]], 3, 'recvspec', 'Gatherv');
    expect(blocks.counts).toEqual([16, 0, 24]);
    expect(blocks.displs).toEqual([40, 0, 56]);
    blocks.block(2).fill(0xff);
    expect(new Uint8Array(buf.buffer, 56, 24).every((b) => b === 0xff)).toBe(true);
    expect(new Uint8Array(buf.buffer, 0, 56).every((b) => b === 0)).toBe(true);
  });

  it('without displs the blocks are back to back; a DataView or Buffer counts bytes', () => {
    const view = new DataView(new ArrayBuffer(12), 2, 8);
    const blocks = parseVSpec([view, [3, 1, 4]], 3, 'recvspec', 'Allgatherv');
    expect(blocks.displs).toEqual([0, 3, 4]);
    expect(blocks.block(1).byteOffset).toBe(2 + 3);
    expect(parseVSpec([Buffer.alloc(4), [1, 3]], 2, 's', 'x').displs).toEqual([0, 1]);
  });

  it('a block may end exactly at the end of the buffer, not one element past it', () => {
    const buf = new Int32Array(4);
    expect(parseVSpec([buf, [1, 1], [0, 3]], 2, 's', 'x').block(1).byteOffset).toBe(12);
    expect(codeOf(() => parseVSpec([buf, [1, 2], [0, 3]], 2, 's', 'x'))).toBe('ERR_MPI_COUNT');
  });

  it('rejects malformed specs with the documented codes', () => {
    const buf = new Float32Array(4);
    expect(codeOf(() => parseVSpec(null, 2, 's', 'x'))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => parseVSpec([buf], 2, 's', 'x'))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => parseVSpec([buf, [1, 1], [0, 1], 0], 2, 's', 'x'))).toBe('ERR_MPI_TYPE');
    expect(
      codeOf(() =>
        parseVSpec(
          [
            [1, 2],
            [1, 1],
          ],
          2,
          's',
          'x',
        ),
      ),
    ).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => parseVSpec([buf, [1]], 2, 's', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parseVSpec([buf, [1, -1]], 2, 's', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parseVSpec([buf, [1, 0.5]], 2, 's', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parseVSpec([buf, [1, 1], [0]], 2, 's', 'x'))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => parseVSpec([buf, [1, 1], [0, 1]], 2, 's', 'x'))).toBeUndefined();
  });
});

describe('Blocks', () => {
  it('block() and range() are views of the buffer, not copies', () => {
    const buf = new Float64Array([0, 1, 2, 3, 4, 5, 6]);
    const blocks = new Blocks(buf, [2, 2, 3]);
    expect(blocks.displs).toEqual([0, 2, 4]);
    expect([...blocks.block(2)]).toEqual([4, 5, 6]);
    expect([...blocks.range(1, 3)]).toEqual([2, 3, 4, 5, 6]);
    expect([...blocks.range(0, 3)]).toEqual([...buf]);
    blocks.range(0, 1).fill(9);
    expect(buf[1]).toBe(9);
    expect(blocks.block(0)).toBeInstanceOf(Float64Array);
  });
});

describe('equalCounts and prefix', () => {
  it('splits into nearly equal multiples of the unit; the last block takes the remainder', () => {
    expect(equalCounts(10, 3)).toEqual([4, 3, 3]);
    expect(equalCounts(10, 3, 2)).toEqual([4, 4, 2]);
    expect(equalCounts(2, 4)).toEqual([1, 1, 0, 0]);
    expect(equalCounts(7, 2, 4)).toEqual([4, 3]);
    for (const [length, parts, unit] of [
      [0, 3, 1],
      [1, 1, 1],
      [1000, 7, 2],
      [65, 8, 1],
      [5, 4, 0],
    ] as const) {
      const counts = equalCounts(length, parts, unit);
      expect(counts).toHaveLength(parts);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(length);
      counts.slice(0, -1).forEach((c) => expect(c % Math.max(1, unit)).toBe(0));
    }
  });

  it('prefix gives back-to-back displacements', () => {
    expect(prefix([])).toEqual([]);
    expect(prefix([3, 0, 2, 5])).toEqual([0, 3, 3, 5]);
  });
});

describe('equalBlock and copyBlock', () => {
  it('the block is the local buffer, or with IN_PLACE the whole split into size', () => {
    expect(equalBlock('Gather', new Uint8Array(3), 'sendbuf', new Uint8Array(12), 'recvbuf', 4)).toBe(3);
    expect(equalBlock('Gather', new Float64Array(2), 'sendbuf', null, 'recvbuf', 4)).toBe(16);
    expect(equalBlock('Gather', IN_PLACE, 'sendbuf', new Uint16Array(6), 'recvbuf', 3)).toBe(4);
  });

  it('errors: a whole that is too small or does not split, a local that is not a buffer', () => {
    expect(codeOf(() => equalBlock('Gather', new Uint8Array(3), 'sendbuf', new Uint8Array(11), 'recvbuf', 4))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => equalBlock('Scatter', IN_PLACE, 'recvbuf', new Uint8Array(10), 'sendbuf', 4))).toBe('ERR_MPI_COUNT');
    expect(codeOf(() => equalBlock('Gather', [1, 2] as never, 'sendbuf', null, 'recvbuf', 2))).toBe('ERR_MPI_TYPE');
  });

  it('copyBlock copies an equal block; longer is ERR_MPI_TRUNCATE and shorter ERR_MPI_COUNT, as from a peer', () => {
    const into = new Uint8Array(4);
    copyBlock(into, new Uint8Array([1, 2, 3, 4]), 'Gatherv');
    expect([...into]).toEqual([1, 2, 3, 4]);
    expect(codeOf(() => copyBlock(into, new Uint8Array(5), 'Gatherv'))).toBe('ERR_MPI_TRUNCATE');
    expect(codeOf(() => copyBlock(into, new Uint8Array(3), 'Gatherv'))).toBe('ERR_MPI_COUNT');
  });
});
