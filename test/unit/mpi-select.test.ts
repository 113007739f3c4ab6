// Algorithm choice (src/mpi/collectives/select.ts): the size thresholds, the power-of-two rule, the ops
// that must not be split, the NODE_UCX_MPI_ALLREDUCE overrides, and how Bcast cuts a buffer.
import { describe, it, expect } from 'vitest';
import {
  allreduceAlgorithm,
  reduceScatterAlgorithm,
  allgatherAlgorithm,
  bcastSegments,
  isPowerOfTwo,
  RING_ALLREDUCE_MIN,
} from '../../src/mpi/collectives/select.js';

const none = undefined;

describe('allreduceAlgorithm', () => {
  it('recursive doubling below 64 KiB, then Rabenseifner on powers of two and the ring otherwise', () => {
    const small = RING_ALLREDUCE_MIN - 8;
    expect(allreduceAlgorithm(small, small / 8, 4, 1, none)).toBe('recursive-doubling');
    expect(allreduceAlgorithm(RING_ALLREDUCE_MIN, RING_ALLREDUCE_MIN / 8, 4, 1, none)).toBe('rabenseifner');
    expect(allreduceAlgorithm(RING_ALLREDUCE_MIN, RING_ALLREDUCE_MIN / 8, 3, 1, none)).toBe('ring');
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 2, 1, none)).toBe('rabenseifner');
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 6, 1, none)).toBe('ring');
  });

  it('never splits for ops that need whole buffers (unit 0) or buffers of fewer items than ranks', () => {
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 4, 0, none)).toBe('recursive-doubling');
    expect(allreduceAlgorithm(1 << 20, 7, 4, 2, none)).toBe('recursive-doubling');
    expect(allreduceAlgorithm(1 << 20, 8, 4, 2, none)).toBe('rabenseifner');
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 4, 0, 'ring')).toBe('recursive-doubling');
  });

  it('NODE_UCX_MPI_ALLREDUCE forces an algorithm where it can run', () => {
    expect(allreduceAlgorithm(8, 1, 4, 1, 'reduce-bcast')).toBe('reduce-bcast');
    expect(allreduceAlgorithm(8, 1, 4, 0, 'reduce-bcast')).toBe('reduce-bcast');
    expect(allreduceAlgorithm(64, 8, 4, 1, 'ring')).toBe('ring');
    expect(allreduceAlgorithm(64, 8, 4, 1, 'rabenseifner')).toBe('rabenseifner');
    // Rabenseifner needs a power of two: the size rule decides instead.
    expect(allreduceAlgorithm(64, 8, 3, 1, 'rabenseifner')).toBe('recursive-doubling');
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 3, 1, 'rabenseifner')).toBe('ring');
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 4, 1, 'recursive-doubling')).toBe('recursive-doubling');
    expect(allreduceAlgorithm(1 << 20, 1 << 17, 4, 1, 'nonsense')).toBe('rabenseifner');
  });
});

describe('reduceScatterAlgorithm and allgatherAlgorithm', () => {
  it('Reduce_scatter rings only commutative, splittable ops whose blocks are whole items', () => {
    expect(reduceScatterAlgorithm([2, 4, 0], true, 2)).toBe('ring');
    expect(reduceScatterAlgorithm([2, 3, 0], true, 2)).toBe('reduce-bcast');
    expect(reduceScatterAlgorithm([1, 1], false, 1)).toBe('reduce-bcast');
    expect(reduceScatterAlgorithm([1, 1], true, 0)).toBe('reduce-bcast');
  });

  it('Allgather doubles on powers of two and rings otherwise', () => {
    expect([1, 2, 4, 8, 1024].map(allgatherAlgorithm)).toEqual(Array(5).fill('recursive-doubling'));
    expect([3, 5, 6, 7, 1023].map(allgatherAlgorithm)).toEqual(Array(5).fill('ring'));
    expect(isPowerOfTwo(0x40000000)).toBe(true);
    expect(isPowerOfTwo(12)).toBe(false);
  });
});

describe('bcastSegments', () => {
  it('one piece up to twice the segment size, or with segmenting off', () => {
    expect(bcastSegments(0, 1024)).toEqual([[0, 0]]);
    expect(bcastSegments(2048, 1024)).toEqual([[0, 2048]]);
    expect(bcastSegments(1 << 30, 0)).toEqual([[0, 1 << 30]]);
    expect(bcastSegments(5000, Number.NaN)).toEqual([[0, 5000]]);
  });

  it('above that, segment-sized pieces that tile the buffer, the last one shorter', () => {
    expect(bcastSegments(2049, 1024)).toEqual([
      [0, 1024],
      [1024, 1024],
      [2048, 1],
    ]);
    const pieces = bcastSegments(10_000_001, 1 << 20);
    expect(pieces).toHaveLength(10);
    let next = 0;
    for (const [offset, length] of pieces) {
      expect(offset).toBe(next);
      expect(length).toBeLessThanOrEqual(1 << 20);
      next += length;
    }
    expect(next).toBe(10_000_001);
  });
});

describe('rootedAlgorithm', () => {
  it('the binomial tree below ROOTED_LINEAR_MIN bytes a block, linear from there on', async () => {
    const { rootedAlgorithm, ROOTED_LINEAR_MIN } = await import('../../src/mpi/collectives/select.js');
    expect(rootedAlgorithm(8)).toBe('binomial');
    expect(rootedAlgorithm(ROOTED_LINEAR_MIN - 1)).toBe('binomial');
    expect(rootedAlgorithm(ROOTED_LINEAR_MIN)).toBe('linear');
    expect(rootedAlgorithm(1 << 20)).toBe('linear');
  });
});
