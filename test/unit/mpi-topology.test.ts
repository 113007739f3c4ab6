// Cartesian topologies (src/mpi/topology.ts): computeDims as MPI_Dims_create, and the row-major grid
// arithmetic of CartComm: coordinates and ranks are inverses, shifts wrap or stop at edges.
import { describe, it, expect } from 'vitest';
import { computeDims, cartShape, cartCoords, cartRank, cartShift } from '../../src/mpi/topology.js';
import { PROC_NULL } from '../../src/mpi/constants.js';
import type { MPIErrorCode } from '../../src/mpi/errors.js';

function codeOf(fn: () => unknown): MPIErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: MPIErrorCode }).code;
  }
  return undefined;
}

describe('computeDims', () => {
  it('fills zeros as evenly as possible, larger dimensions first', () => {
    expect(computeDims(6, 2)).toEqual([3, 2]);
    expect(computeDims(12, 2)).toEqual([4, 3]);
    expect(computeDims(16, 3)).toEqual([4, 2, 2]);
    expect(computeDims(7, 2)).toEqual([7, 1]);
    expect(computeDims(1, 3)).toEqual([1, 1, 1]);
    expect(computeDims(24, [0, 3, 0])).toEqual([4, 3, 2]);
  });

  it('keeps fixed dimensions and their product always equals nnodes', () => {
    for (let nnodes = 1; nnodes <= 64; nnodes++) {
      for (const ndims of [1, 2, 3]) {
        const dims = computeDims(nnodes, ndims);
        expect(dims.reduce((a, b) => a * b, 1)).toBe(nnodes);
        expect([...dims].sort((a, b) => b - a)).toEqual(dims);
      }
    }
    expect(computeDims(8, [2, 4])).toEqual([2, 4]);
  });

  it('rejects impossible requests with ERR_MPI_ARG', () => {
    expect(codeOf(() => computeDims(0, 2))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => computeDims(6, 0))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => computeDims(6, [4, 0]))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => computeDims(6, [2, 2]))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => computeDims(6, [-1, 0]))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => computeDims(2.5, 1))).toBe('ERR_MPI_ARG');
  });
});

describe('Cartesian grids', () => {
  const grid = { dims: [2, 3], periods: [false, true] };

  it('coordinates are row-major and cartRank inverts them', () => {
    expect(cartCoords(grid, 0)).toEqual([0, 0]);
    expect(cartCoords(grid, 1)).toEqual([0, 1]);
    expect(cartCoords(grid, 3)).toEqual([1, 0]);
    expect(cartCoords(grid, 5)).toEqual([1, 2]);
    const cube = { dims: [3, 2, 4], periods: [true, true, true] };
    for (let r = 0; r < 24; r++) expect(cartRank(cube, cartCoords(cube, r))).toBe(r);
  });

  it('periodic dimensions wrap; others must be in range', () => {
    expect(cartRank(grid, [1, -1])).toBe(5);
    expect(cartRank(grid, [0, 7])).toBe(1);
    expect(codeOf(() => cartRank(grid, [2, 0]))).toBe('ERR_MPI_RANK');
    expect(codeOf(() => cartRank(grid, [0]))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => cartCoords(grid, 6))).toBe('ERR_MPI_RANK');
    expect(codeOf(() => cartCoords(grid, -1))).toBe('ERR_MPI_RANK');
  });

  it('shift gives [source, dest], PROC_NULL past a non-periodic edge', () => {
    expect(cartShift(grid, [0, 0], 1, 1)).toEqual([2, 1]);
    expect(cartShift(grid, [0, 0], 0, 1)).toEqual([PROC_NULL, 3]);
    expect(cartShift(grid, [1, 2], 0, 1)).toEqual([2, PROC_NULL]);
    expect(cartShift(grid, [1, 2], 0, -1)).toEqual([PROC_NULL, 2]);
    expect(cartShift(grid, [0, 1], 1, 3)).toEqual([1, 1]);
    expect(codeOf(() => cartShift(grid, [0, 0], 2, 1))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => cartShift(grid, [0, 0], 0, 0.5))).toBe('ERR_MPI_ARG');
  });

  it('cartShape checks createCart arguments against the communicator size', () => {
    expect(cartShape([2, 2], undefined, 5)).toEqual({ dims: [2, 2], periods: [false, false], cells: 4 });
    expect(cartShape([4], [true], 4).periods).toEqual([true]);
    expect(codeOf(() => cartShape([2, 3], null, 5))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => cartShape([], null, 5))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => cartShape([0, 2], null, 5))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => cartShape([2], [1], 5))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => cartShape([2], [true, false], 5))).toBe('ERR_MPI_ARG');
  });
});
