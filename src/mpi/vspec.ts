// Block layouts of collective buffers: one block per rank, as counts and displacements. The
// v-collectives take them from the caller as mpi4py's [buf, counts, displs, datatype] (parsed in
// bufspec.ts); the equal-block collectives and the blockwise reduction algorithms compute them. Pure.
import { IN_PLACE, type InPlace } from './constants.js';
import { MPIError } from './errors.js';
import { validateHost } from './buffers.js';
import type { TypedArray } from './op.js';

/**
 * A buffer split into one block per rank, as mpi4py's `[buf, counts, displs]`: block i is `counts[i]`
 * elements of `buf` starting at element `displs[i]` (default: the blocks back to back). Elements are
 * the typed array's; a Buffer, Uint8Array or DataView counts bytes.
 */
export type VSpec = readonly [buf: ArrayBufferView, counts: readonly number[], displs?: readonly number[]];

/** `buf` cut into blocks: block i is `counts[i]` elements from element `displs[i]` (default: back to back). */
export class Blocks<T extends Uint8Array | TypedArray> {
  readonly buf: T;
  readonly counts: readonly number[];
  readonly displs: readonly number[];

  constructor(buf: T, counts: readonly number[], displs: readonly number[] = prefix(counts)) {
    this.buf = buf;
    this.counts = counts;
    this.displs = displs;
  }

  /** Block `i`, a view of the buffer. */
  block(i: number): T {
    return this.buf.subarray(this.displs[i]!, this.displs[i]! + this.counts[i]!) as T;
  }

  /** Blocks lo … hi - 1 as one view (for back-to-back layouts). */
  range(lo: number, hi: number): T {
    return this.buf.subarray(this.displs[lo]!, this.displs[hi - 1]! + this.counts[hi - 1]!) as T;
  }
}

/**
 * Copies this rank's own data into its block, with the checks a peer's block gets: longer than the block is
 * ERR_MPI_TRUNCATE, shorter ERR_MPI_COUNT.
 */
export function copyBlock(into: Uint8Array, data: Uint8Array, what: string): void {
  if (data.byteLength > into.byteLength) {
    throw new MPIError('ERR_MPI_TRUNCATE', `${what}: ${data.byteLength} bytes for a block of ${into.byteLength}`);
  }
  if (data.byteLength < into.byteLength) {
    throw new MPIError('ERR_MPI_COUNT', `${what}: ${data.byteLength} bytes for a block of ${into.byteLength} (the counts do not match)`);
  }
  into.set(data);
}

/**
 * The block size of an equal-block collective: `local`'s length, or with IN_PLACE `whole` split into
 * `size` (evenly); `whole`, where this rank has it, must hold `size` blocks.
 */
export function equalBlock(
  what: string,
  local: ArrayBufferView | InPlace,
  localName: string,
  whole: ArrayBufferView | null,
  wholeName: string,
  size: number,
): number {
  let n: number;
  if (local === IN_PLACE) {
    if (whole!.byteLength % size !== 0) {
      throw new MPIError('ERR_MPI_COUNT', `${what}: ${wholeName} of ${whole!.byteLength} bytes does not split into ${size} blocks`);
    }
    n = whole!.byteLength / size;
  } else {
    validateHost(local, localName);
    n = local.byteLength;
  }
  if (whole !== null && whole.byteLength < n * size) {
    throw new MPIError('ERR_MPI_COUNT', `${what}: ${wholeName} has ${whole.byteLength} bytes, ${n * size} needed`);
  }
  return n;
}

/** `length` elements in `parts` nearly equal blocks, each a multiple of `unit` elements (the last takes the remainder). */
export function equalCounts(length: number, parts: number, unit = 1): number[] {
  const step = Math.max(1, unit);
  const items = Math.floor(length / step);
  const base = Math.floor(items / parts);
  const extra = items % parts;
  const counts = Array.from({ length: parts }, (_, i) => (base + (i < extra ? 1 : 0)) * step);
  counts[parts - 1]! += length - items * step;
  return counts;
}

/** Exclusive prefix sums: the displacements of back-to-back blocks. */
export function prefix(counts: readonly number[]): number[] {
  const displs: number[] = [];
  let sum = 0;
  for (const c of counts) {
    displs.push(sum);
    sum += c;
  }
  return displs;
}
