// Which algorithm a collective uses, from the buffer size, the number of ranks and the op. Pure: the
// environment overrides (for tuning and comparisons) come in as arguments.

export type AllreduceAlgorithm = 'recursive-doubling' | 'ring' | 'rabenseifner' | 'reduce-bcast';

/** Allreduce of typed arrays: from this size on, a bandwidth-optimal algorithm replaces recursive doubling. */
export const RING_ALLREDUCE_MIN = 64 * 1024;

/**
 * Bcast of typed arrays: buffers larger than twice this are pipelined through the tree in segments of this
 * size (NODE_UCX_MPI_BCAST_SEGMENT overrides, in bytes; 0: never segment). Read once, at load.
 */
export const BCAST_SEGMENT = Number(process.env.NODE_UCX_MPI_BCAST_SEGMENT ?? 1024 * 1024);

/**
 * Which allreduce for typed arrays with a commutative op: recursive doubling for small buffers (fewest
 * steps); for large ones Rabenseifner's on power-of-two sizes, else the ring (both move 2(p-1)/p of the
 * data per rank). `unit`: Op.splitUnit. `forced`: NODE_UCX_MPI_ALLREDUCE, if set.
 */
export function allreduceAlgorithm(
  bytes: number,
  length: number,
  size: number,
  unit: number,
  forced: string | undefined = process.env.NODE_UCX_MPI_ALLREDUCE,
): AllreduceAlgorithm {
  const pow2 = isPowerOfTwo(size);
  if (forced === 'reduce-bcast') return 'reduce-bcast';
  // Ops that must see whole buffers, and buffers of fewer items than ranks, are not split into blocks.
  if (forced === 'recursive-doubling' || unit === 0 || length < size * unit) return 'recursive-doubling';
  if (forced === 'ring') return 'ring';
  if (forced === 'rabenseifner' && pow2) return 'rabenseifner';
  if (bytes < RING_ALLREDUCE_MIN) return 'recursive-doubling';
  return pow2 ? 'rabenseifner' : 'ring';
}

/** Reduce_scatter: the ring when the op may be split at every block boundary, else reduce to rank 0 and broadcast. */
export function reduceScatterAlgorithm(counts: readonly number[], commute: boolean, unit: number): 'ring' | 'reduce-bcast' {
  return commute && unit > 0 && counts.every((c) => c % unit === 0) ? 'ring' : 'reduce-bcast';
}

/**
 * Gather and Scatter of typed buffers: from this block size on, the root exchanges with every rank directly
 * (each byte crosses once) instead of along the binomial tree (which forwards subtrees' blocks: log2 p hops).
 */
export const ROOTED_LINEAR_MIN = 16 * 1024;

/** Gather/Scatter of `blockBytes` per rank: the binomial tree for small blocks (fewest messages at the root), else linear. */
export function rootedAlgorithm(blockBytes: number): 'binomial' | 'linear' {
  return blockBytes >= ROOTED_LINEAR_MIN ? 'linear' : 'binomial';
}

/** Allgather of equal blocks: recursive doubling (log2 p steps) on power-of-two sizes, else the ring. */
export function allgatherAlgorithm(size: number): 'recursive-doubling' | 'ring' {
  return isPowerOfTwo(size) ? 'recursive-doubling' : 'ring';
}

/** The [offset, length] pieces a Bcast of `length` bytes sends: one, or `segment`-byte pieces above twice that. */
export function bcastSegments(length: number, segment: number): [offset: number, length: number][] {
  if (!(segment > 0 && length > 2 * segment)) return [[0, length]];
  const segments: [number, number][] = [];
  for (let offset = 0; offset < length; offset += segment) segments.push([offset, Math.min(segment, length - offset)]);
  return segments;
}

export function isPowerOfTwo(size: number): boolean {
  return (size & (size - 1)) === 0;
}
