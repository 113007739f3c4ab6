// Cartesian topologies: MPI_Dims_create (computeDims) and the row-major grid arithmetic behind
// CartComm (coordinates, ranks, shifts). Pure: CartComm (comm.ts) holds a shape and delegates here.
import { PROC_NULL } from './constants.js';
import { MPIError } from './errors.js';

/** A grid: `dims[i]` cells along dimension i, which wraps around when `periods[i]`. */
export interface CartShape {
  readonly dims: readonly number[];
  readonly periods: readonly boolean[];
}

/** MPI_Dims_create: `dims` (or `ndims` zeros) with every 0 filled so that the product is `nnodes`, as even as possible, larger first. */
export function computeDims(nnodes: number, dims: number | readonly number[]): number[] {
  const out = typeof dims === 'number' ? new Array<number>(dims).fill(0) : [...dims];
  if (!Number.isInteger(nnodes) || nnodes < 1 || !out.every((d) => Number.isInteger(d) && d >= 0) || out.length === 0) {
    throw new MPIError('ERR_MPI_ARG', 'computeDims: nnodes must be a positive integer, dims non-negative integers');
  }
  const fixed = out.filter((d) => d > 0).reduce((a, b) => a * b, 1);
  const free = out.filter((d) => d === 0).length;
  if (nnodes % fixed !== 0) throw new MPIError('ERR_MPI_ARG', `computeDims: ${nnodes} nodes do not divide by the fixed dimensions (${fixed})`);
  if (free === 0) {
    if (fixed !== nnodes) throw new MPIError('ERR_MPI_ARG', `computeDims: the dimensions make ${fixed} nodes, not ${nnodes}`);
    return out;
  }
  // Prime factors, largest first, each onto the currently smallest free dimension: as even as possible.
  const factors: number[] = [];
  let rest = nnodes / fixed;
  for (let p = 2; p * p <= rest; p++)
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  if (rest > 1) factors.push(rest);
  const fill = new Array<number>(free).fill(1);
  for (const factor of factors.sort((a, b) => b - a)) {
    fill.sort((a, b) => a - b);
    fill[0]! *= factor;
  }
  fill.sort((a, b) => b - a);
  let next = 0;
  return out.map((d) => (d === 0 ? fill[next++]! : d));
}

/** createCart's arguments checked against a communicator of `size` ranks; resolves `periods` (default: none wrap). */
export function cartShape(dims: unknown, periods: unknown, size: number): CartShape & { cells: number } {
  if (!Array.isArray(dims) || dims.length === 0 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new MPIError('ERR_MPI_ARG', 'createCart: dims must be positive integers (MPI.computeDims fills in zeros)');
  }
  const resolved = periods ?? dims.map(() => false);
  if (!Array.isArray(resolved) || resolved.length !== dims.length || !resolved.every((p) => typeof p === 'boolean')) {
    throw new MPIError('ERR_MPI_ARG', `createCart: periods must be ${dims.length} booleans`);
  }
  const cells = (dims as number[]).reduce((a, b) => a * b, 1);
  if (cells > size) throw new MPIError('ERR_MPI_ARG', `createCart: a ${dims.join('×')} grid needs ${cells} ranks, this communicator has ${size}`);
  return { dims: dims as number[], periods: resolved as boolean[], cells };
}

/** The coordinates of a rank (row-major: the last dimension varies fastest). */
export function cartCoords(shape: CartShape, rank: number): number[] {
  const { dims } = shape;
  const cells = dims.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(rank) || rank < 0 || rank >= cells) throw new MPIError('ERR_MPI_RANK', `getCoords: ${String(rank)} is not a rank of this grid`);
  const coords = new Array<number>(dims.length);
  for (let i = dims.length - 1; i >= 0; i--) {
    coords[i] = rank % dims[i]!;
    rank = Math.floor(rank / dims[i]!);
  }
  return coords;
}

/** The rank at these coordinates; periodic dimensions wrap, others must be in range. */
export function cartRank(shape: CartShape, coords: readonly number[]): number {
  const { dims, periods } = shape;
  if (!Array.isArray(coords) || coords.length !== dims.length || !coords.every(Number.isInteger)) {
    throw new MPIError('ERR_MPI_ARG', `getCartRank: coords must be ${dims.length} integers`);
  }
  let rank = 0;
  for (let i = 0; i < dims.length; i++) {
    let c = coords[i]!;
    const d = dims[i]!;
    if (periods[i]) c = ((c % d) + d) % d;
    else if (c < 0 || c >= d) throw new MPIError('ERR_MPI_RANK', `getCartRank: coordinate ${c} is outside non-periodic dimension ${i} (0…${d - 1})`);
    rank = rank * d + c;
  }
  return rank;
}

/** [source, dest] of the cell at `coords` for a shift by `disp` along `direction`: PROC_NULL past a non-periodic edge. */
export function cartShift(shape: CartShape, coords: readonly number[], direction: number, disp: number): [number, number] {
  const { dims, periods } = shape;
  if (!Number.isInteger(direction) || direction < 0 || direction >= dims.length) {
    throw new MPIError('ERR_MPI_ARG', `shift: direction must be 0…${dims.length - 1}`);
  }
  if (!Number.isInteger(disp)) throw new MPIError('ERR_MPI_ARG', 'shift: disp must be an integer');
  const neighbour = (delta: number): number => {
    const moved = [...coords];
    moved[direction]! += delta;
    const d = dims[direction]!;
    if (!periods[direction] && (moved[direction]! < 0 || moved[direction]! >= d)) return PROC_NULL;
    return cartRank(shape, moved);
  };
  return [neighbour(-disp), neighbour(disp)];
}
