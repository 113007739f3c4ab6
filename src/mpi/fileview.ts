// File views (MPI_File_set_view): a displacement, an elementary type (offsets count etypes) and a filetype
// tiled over the file from the displacement; the data a rank sees is the filetype's data bytes, tile after
// tile, and the holes between are skipped. This module turns view positions into file byte ranges
// ("runs"), merged where they touch. Pure: no I/O.
import { MPIError } from './errors.js';
import { BYTE, type Datatype } from './datatype.js';

/** File byte ranges, in data order (which is file order: views are monotonic), adjacent ones merged. */
export class Runs {
  offsets: Float64Array;
  lengths: Float64Array;
  count = 0;

  constructor(capacity = 4) {
    this.offsets = new Float64Array(Math.max(capacity, 1));
    this.lengths = new Float64Array(Math.max(capacity, 1));
  }

  /** Appends [offset, offset + length), merged with the last run when they touch. */
  push(offset: number, length: number): void {
    if (length <= 0) return;
    const n = this.count;
    if (n > 0 && this.offsets[n - 1]! + this.lengths[n - 1]! === offset) {
      this.lengths[n - 1]! += length;
      return;
    }
    if (n === this.offsets.length) {
      const offsets = new Float64Array(n * 2);
      const lengths = new Float64Array(n * 2);
      offsets.set(this.offsets);
      lengths.set(this.lengths);
      this.offsets = offsets;
      this.lengths = lengths;
    }
    this.offsets[n] = offset;
    this.lengths[n] = length;
    this.count = n + 1;
  }

  /** The first byte, and one past the last (both 0 when empty). */
  get lo(): number {
    return this.count === 0 ? 0 : this.offsets[0]!;
  }
  get hi(): number {
    return this.count === 0 ? 0 : this.offsets[this.count - 1]! + this.lengths[this.count - 1]!;
  }
  get bytes(): number {
    let total = 0;
    for (let i = 0; i < this.count; i++) total += this.lengths[i]!;
    return total;
  }
}

export class FileView {
  /** Where the view starts in the file (bytes). */
  readonly disp: number;
  readonly etype: Datatype;
  readonly filetype: Datatype;
  /** Data bytes of the filetype before each of its segments. */
  readonly #before: Float64Array;

  constructor(disp = 0, etype: Datatype = BYTE, filetype: Datatype = etype) {
    if (!Number.isSafeInteger(disp) || disp < 0)
      throw new MPIError('ERR_MPI_ARG', `setView: the displacement must be a non-negative integer, not ${String(disp)}`);
    if (etype.size === 0) throw new MPIError('ERR_MPI_TYPE', 'setView: the etype has no data');
    if (filetype.size === 0 || filetype.size % etype.size !== 0) {
      throw new MPIError('ERR_MPI_TYPE', `setView: the filetype (${filetype.size} data bytes) is not a whole number of etypes (${etype.size} bytes)`);
    }
    const { offsets, lengths } = filetype;
    for (let s = 0; s < offsets.length; s++) {
      if (offsets[s]! < 0 || (s > 0 && offsets[s]! < offsets[s - 1]! + lengths[s - 1]!)) {
        throw new MPIError('ERR_MPI_TYPE', "setView: the filetype's displacements must be non-negative and increasing (MPI requires monotonic file views)");
      }
    }
    if (filetype.trueUb > filetype.extent) {
      throw new MPIError(
        'ERR_MPI_TYPE',
        `setView: the filetype's data (up to byte ${filetype.trueUb}) overruns its extent (${filetype.extent}): tiles would overlap`,
      );
    }
    this.disp = disp;
    this.etype = etype;
    this.filetype = filetype;
    const before = new Float64Array(offsets.length);
    for (let s = 1; s < offsets.length; s++) before[s] = before[s - 1]! + lengths[s - 1]!;
    this.#before = before;
  }

  /** Whether the view is one contiguous stretch of the file from disp (no holes). */
  get contiguous(): boolean {
    const t = this.filetype;
    return t.offsets.length === 1 && t.offsets[0] === 0 && t.lengths[0] === t.extent;
  }

  /** The file runs that `length` data bytes from data byte `start` of the view occupy. */
  runs(start: number, length: number): Runs {
    const t = this.filetype;
    const runs = new Runs(this.contiguous ? 1 : Math.min(1 + Math.ceil(length / Math.max(1, minLength(t))), 1 << 16));
    if (length <= 0) return runs;
    if (this.contiguous) {
      runs.push(this.disp + start, length);
      return runs;
    }
    const { offsets, lengths } = t;
    const size = t.size;
    const extent = t.extent;
    let tile = Math.floor(start / size);
    let within = start - tile * size;
    let s = this.#segmentAt(within);
    let remaining = length;
    while (remaining > 0) {
      const into = within - this.#before[s]!;
      const take = Math.min(lengths[s]! - into, remaining);
      runs.push(this.disp + tile * extent + offsets[s]! + into, take);
      remaining -= take;
      within += take;
      if (within === this.#before[s]! + lengths[s]!) {
        s++;
        if (s === offsets.length) {
          s = 0;
          tile++;
          within = 0;
        }
      }
    }
    return runs;
  }

  /** How many data bytes of the view lie before file byte `position` (so: EOF as a view position). */
  dataBefore(position: number): number {
    const p = position - this.disp;
    if (p <= 0) return 0;
    if (this.contiguous) return p;
    const t = this.filetype;
    const tile = Math.floor(p / t.extent);
    const within = p - tile * t.extent;
    let data = tile * t.size;
    for (let s = 0; s < t.offsets.length; s++) {
      const off = t.offsets[s]!;
      if (off >= within) break;
      data += Math.min(t.lengths[s]!, within - off);
    }
    return data;
  }

  /** The file byte where data byte `position` of the view is (MPI_File_get_byte_offset). */
  byteOffset(position: number): number {
    if (this.contiguous) return this.disp + position;
    const t = this.filetype;
    const tile = Math.floor(position / t.size);
    const within = position - tile * t.size;
    const s = this.#segmentAt(within);
    return this.disp + tile * t.extent + t.offsets[s]! + (within - this.#before[s]!);
  }

  /** The segment of the filetype holding data byte `within` of a tile (binary search). */
  #segmentAt(within: number): number {
    const before = this.#before;
    let lo = 0;
    let hi = before.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (before[mid]! <= within) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function minLength(t: Datatype): number {
  let m = Infinity;
  for (let s = 0; s < t.lengths.length; s++) m = Math.min(m, t.lengths[s]!);
  return m;
}
