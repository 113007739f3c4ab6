// The two-phase plan of a collective read or write (ROMIO's collective buffering): the file range all
// ranks touch is cut into one contiguous domain per aggregator; each domain is handled in rounds of at
// most `bufferSize` bytes (a window). In a write, every rank sends the pieces of its data that fall in a
// window to that window's aggregator, which then writes the window in large contiguous runs; a read is
// the same backwards. When the ranks' accesses do not interleave (each one contiguous run, no two
// overlapping), there is nothing to aggregate and every rank does its own one large access.
// Pure: numbers in, numbers out; file.ts does the messages and the I/O.
import { Runs } from './fileview.js';

/** One rank's access: the file bytes [lo, hi) it touches, and whether they are one contiguous run. */
export interface Access {
  lo: number;
  hi: number;
  contiguous: boolean;
}

export interface PlanOptions {
  /** How many aggregators (cb_nodes); at most the number of ranks. */
  aggregators: number;
  /** The most bytes an aggregator handles in one round (cb_buffer_size). */
  bufferSize: number;
  /** Domain boundaries are multiples of this (file system blocks), where the domains are large enough. */
  align: number;
}

export interface Plan {
  /** The aggregators' ranks, one per domain. */
  aggregators: number[];
  /** Domain i: file bytes [starts[i], ends[i]). */
  starts: number[];
  ends: number[];
  rounds: number;
  bufferSize: number;
}

/** Whether the accesses interleave: some rank's is not one run, or two ranks' ranges overlap. */
export function interleaved(accesses: readonly Access[]): boolean {
  const active = accesses.filter((a) => a.hi > a.lo);
  if (active.some((a) => !a.contiguous)) return true;
  const sorted = [...active].sort((a, b) => a.lo - b.lo);
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.lo < sorted[i - 1]!.hi) return true;
  return false;
}

/** Evenly spread aggregator ranks: ⌊i × size / n⌋ for i < n. */
export function aggregatorRanks(size: number, n: number): number[] {
  const count = Math.max(1, Math.min(size, Math.floor(n)));
  return Array.from({ length: count }, (_, i) => Math.floor((i * size) / count));
}

/** Cuts the file range the accesses touch into one domain per aggregator. Null when nobody touches anything. */
export function plan(accesses: readonly Access[], opts: PlanOptions): Plan | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of accesses) {
    if (a.hi <= a.lo) continue;
    lo = Math.min(lo, a.lo);
    hi = Math.max(hi, a.hi);
  }
  if (lo === Infinity) return null;
  const aggregators = aggregatorRanks(accesses.length, opts.aggregators);
  const n = aggregators.length;
  const span = hi - lo;
  let domain = Math.ceil(span / n);
  // Aligned boundaries keep two aggregators off one file system block, once domains are large enough for it.
  const align = opts.align > 1 && domain >= 4 * opts.align ? opts.align : 1;
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = i === 0 ? lo : Math.min(hi, alignUp(lo + i * domain, align));
    const end = i === n - 1 ? hi : Math.min(hi, alignUp(lo + (i + 1) * domain, align));
    starts.push(start);
    ends.push(Math.max(start, end));
  }
  domain = Math.max(...ends.map((e, i) => e - starts[i]!));
  const bufferSize = Math.max(1, Math.floor(opts.bufferSize));
  return { aggregators, starts, ends, rounds: Math.max(1, Math.ceil(domain / bufferSize)), bufferSize };
}

/** Window `round` of domain `i`: file bytes [start, end) (empty past the domain's end). */
export function window(p: Plan, i: number, round: number): [number, number] {
  const start = Math.min(p.ends[i]!, p.starts[i]! + round * p.bufferSize);
  return [start, Math.min(p.ends[i]!, start + p.bufferSize)];
}

/** Whether access [lo, hi) meets window [start, end). */
export function meets(lo: number, hi: number, start: number, end: number): boolean {
  return hi > lo && end > start && lo < end && hi > start;
}

/**
 * File pieces as groups of equally long, equally spaced pieces: quads of (offset, length, count, stride),
 * so that a strided view's thousands of pieces in a window travel as one group. Pure helpers below read them.
 */
export type Pieces = Float64Array;

/** Builds Pieces from pieces given in increasing order. */
class PieceWriter {
  readonly #quads: number[] = [];
  #offset = 0;
  #length = 0;
  #count = 0;
  #stride = 0;

  add(offset: number, length: number): void {
    if (this.#count > 0 && length === this.#length) {
      const stride = offset - (this.#offset + (this.#count - 1) * this.#stride);
      if (this.#count === 1 || stride === this.#stride) {
        this.#stride = stride;
        this.#count++;
        return;
      }
    }
    this.#flush();
    this.#offset = offset;
    this.#length = length;
    this.#count = 1;
    this.#stride = 0;
  }

  done(): Pieces {
    this.#flush();
    return Float64Array.from(this.#quads);
  }

  #flush(): void {
    if (this.#count > 0) this.#quads.push(this.#offset, this.#length, this.#count, this.#count > 1 ? this.#stride : this.#length);
    this.#count = 0;
  }
}

/** The data bytes Pieces describe. */
export function pieceBytes(pieces: Pieces): number {
  let bytes = 0;
  for (let q = 0; q < pieces.length; q += 4) bytes += pieces[q + 1]! * pieces[q + 2]!;
  return bytes;
}

/** [first, end) of the file bytes Pieces touch (0, 0 when none). */
export function pieceSpan(pieces: Pieces): [number, number] {
  if (pieces.length === 0) return [0, 0];
  const last = pieces.length - 4;
  return [pieces[0]!, pieces[last]! + (pieces[last + 2]! - 1) * pieces[last + 3]! + pieces[last + 1]!];
}

/**
 * The pieces of `runs` (this rank's, in data order) inside file windows, taken in increasing file order:
 * since views are monotonic, a window's pieces are one stretch of the data, [dataStart, dataStart + bytes).
 */
export class RunCursor {
  readonly #runs: Runs;
  /** The first run that may still meet a later window, and the data bytes before it. */
  #index = 0;
  #dataBefore = 0;

  constructor(runs: Runs) {
    this.#runs = runs;
  }

  /** The pieces in [start, end); windows must come in increasing file order. */
  take(start: number, end: number): { dataStart: number; bytes: number; pieces: Pieces } {
    const runs = this.#runs;
    // Skip runs that end before the window.
    while (this.#index < runs.count && runs.offsets[this.#index]! + runs.lengths[this.#index]! <= start) {
      this.#dataBefore += runs.lengths[this.#index]!;
      this.#index++;
    }
    const writer = new PieceWriter();
    let dataStart = -1;
    let bytes = 0;
    let data = this.#dataBefore;
    for (let i = this.#index; i < runs.count; i++) {
      const off = runs.offsets[i]!;
      const len = runs.lengths[i]!;
      if (off >= end) break;
      const from = Math.max(off, start);
      const to = Math.min(off + len, end);
      if (to > from) {
        if (dataStart < 0) dataStart = data + (from - off);
        writer.add(from, to - from);
        bytes += to - from;
      }
      data += len;
    }
    return { dataStart: dataStart < 0 ? 0 : dataStart, bytes, pieces: writer.done() };
  }
}

/**
 * The runs of a window that some sender's pieces cover (what an aggregator writes: holes between them are
 * left as they are in the file), in file order, runs that touch or overlap merged. `start`, `size`: the
 * window (pieces outside it are clipped). Each sender's pieces are in file order already (views are
 * monotonic), so this is a merge of the senders' lists: always the lowest next piece, a group that is one
 * stretch at once.
 */
export function coverage(pieces: readonly Pieces[], start: number, size: number): Runs {
  const end = start + size;
  const runs = new Runs();
  const cursors = pieces.filter((p) => p.length > 0).map((p) => ({ p, q: 0, k: 0 }));
  let lo = -1;
  let hi = -1;
  for (;;) {
    let best: { p: Pieces; q: number; k: number } | null = null;
    let bestAt = Infinity;
    for (const c of cursors) {
      if (c.q >= c.p.length) continue;
      const at = c.p[c.q]! + c.k * c.p[c.q + 3]!;
      if (at < bestAt) {
        bestAt = at;
        best = c;
      }
    }
    if (best === null) break;
    const { p, q } = best;
    const length = p[q + 1]!;
    const count = p[q + 2]!;
    const stride = p[q + 3]!;
    let span = length;
    if (stride === length || count === 1) {
      span = length * count;
      best.q += 4;
    } else if (++best.k >= count) {
      best.q += 4;
      best.k = 0;
    }
    const from = Math.max(bestAt, start);
    const to = Math.min(bestAt + span, end);
    if (to <= from) continue;
    if (lo >= 0 && from <= hi) {
      hi = Math.max(hi, to);
    } else {
      if (lo >= 0) runs.push(lo, hi - lo);
      lo = from;
      hi = to;
    }
  }
  if (lo >= 0) runs.push(lo, hi - lo);
  return runs;
}

/** Copies `length` bytes: short ones in a loop (aligned words 4 at a time), long ones natively; no allocation for short ones. */
function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, length: number): void {
  if (length > 64) {
    dst.set(src.subarray(from, from + length), to);
    return;
  }
  for (let k = 0; k < length; k++) dst[to + k] = src[from + k]!;
}

/** Packed data (the pieces back to back, from `from` in `src`) into their places in a window that starts at file byte `start`. */
export function scatterPieces(pieces: Pieces, src: Uint8Array, from: number, window: Uint8Array, start: number): void {
  let at = from;
  for (let q = 0; q < pieces.length; q += 4) {
    const [offset, length, count, stride] = [pieces[q]! - start, pieces[q + 1]!, pieces[q + 2]!, pieces[q + 3]!];
    if (stride === length) {
      copyBytes(src, at, window, offset, length * count);
      at += length * count;
      continue;
    }
    for (let k = 0; k < count; k++) {
      copyBytes(src, at, window, offset + k * stride, length);
      at += length;
    }
  }
}

/** The reverse: the pieces' bytes out of a window, back to back into `dst` from `to`. */
export function gatherPieces(pieces: Pieces, window: Uint8Array, start: number, dst: Uint8Array, to: number): void {
  let at = to;
  for (let q = 0; q < pieces.length; q += 4) {
    const [offset, length, count, stride] = [pieces[q]! - start, pieces[q + 1]!, pieces[q + 2]!, pieces[q + 3]!];
    if (stride === length) {
      copyBytes(window, offset, dst, at, length * count);
      at += length * count;
      continue;
    }
    for (let k = 0; k < count; k++) {
      copyBytes(window, offset + k * stride, dst, at, length);
      at += length;
    }
  }
}

function alignUp(value: number, align: number): number {
  return align <= 1 ? value : Math.ceil(value / align) * align;
}
