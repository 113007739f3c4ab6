// File views (src/mpi/fileview.ts) and the two-phase plan (src/mpi/twophase.ts): view positions become
// file runs; collective accesses are cut into aggregator domains and windows; pieces travel as strided
// groups; aggregators write exactly what was covered.
import { describe, it, expect } from 'vitest';
import { FileView, Runs } from '../../src/mpi/fileview.js';
import {
  RunCursor,
  aggregatorRanks,
  coverage,
  gatherPieces,
  interleaved,
  meets,
  pieceBytes,
  pieceSpan,
  plan,
  scatterPieces,
  window,
} from '../../src/mpi/twophase.js';
import { BYTE, DOUBLE, INT, Datatype } from '../../src/mpi/datatype.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

const pairs = (r: Runs): [number, number][] => Array.from({ length: r.count }, (_, i) => [r.offsets[i]!, r.lengths[i]!]);

describe('FileView', () => {
  it('the default view is the file itself, bytes from 0', () => {
    const v = new FileView();
    expect(v.contiguous).toBe(true);
    expect(pairs(v.runs(10, 5))).toEqual([[10, 5]]);
    expect(v.dataBefore(7)).toBe(7);
    expect(v.byteOffset(7)).toBe(7);
  });

  it("the tutorial's strided view: rank r sees every size-th int from byte 4r", () => {
    const size = 4;
    const rank = 1;
    const filetype = INT.createVector(10, 1, size).commit();
    const v = new FileView(INT.size * rank, INT, filetype);
    expect(pairs(v.runs(0, 12))).toEqual([
      [4, 4],
      [20, 4],
      [36, 4],
    ]);
    // The filetype's extent is (9 * 4 + 1) ints: the 11th int starts the next tile, right after the 10th
    // (the two merge into one run).
    expect(pairs(v.runs(36, 8))).toEqual([[4 + 144, 8]]);
    expect(v.byteOffset(8)).toBe(4 + 2 * 16);
    expect(v.dataBefore(4 + 2 * 16)).toBe(8);
    expect(v.dataBefore(4 + 2 * 16 + 2)).toBe(10);
  });

  it('a resized filetype with holes tiles at its extent; partial segments split and merge', () => {
    const t = INT.createContiguous(2).createResized(0, 16).commit(); // 8 data bytes, then 8 bytes of hole
    const v = new FileView(100, BYTE, t);
    expect(pairs(v.runs(6, 12))).toEqual([
      [106, 2],
      [116, 8],
      [132, 2],
    ]);
    expect(v.dataBefore(110)).toBe(8);
    expect(v.dataBefore(120)).toBe(12);
    const whole = new FileView(0, INT, INT.createContiguous(4).commit());
    expect(pairs(whole.runs(0, 40))).toEqual([[0, 40]]);
  });

  it('refuses views MPI does not allow', () => {
    expect(codeOf(() => new FileView(-1))).toBe('ERR_MPI_ARG');
    expect(codeOf(() => new FileView(0, DOUBLE, INT.createContiguous(3).commit()))).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => new FileView(0, INT, INT.createIndexed([1, 1], [2, 0]).commit()))).toBe('ERR_MPI_TYPE');
    expect(codeOf(() => new FileView(0, INT, INT.createVector(3, 1, -2).commit()))).toBe('ERR_MPI_TYPE');
  });
});

describe('two-phase plan', () => {
  it('aggregators spread over the ranks; domains cover the accessed range, aligned when large', () => {
    expect(aggregatorRanks(8, 2)).toEqual([0, 4]);
    expect(aggregatorRanks(3, 8)).toEqual([0, 1, 2]);
    const p = plan(
      [
        { lo: 0, hi: 1 << 20, contiguous: false },
        { lo: 100, hi: 3 << 20, contiguous: false },
      ],
      { aggregators: 2, bufferSize: 1 << 20, align: 64 * 1024 },
    )!;
    expect(p.aggregators).toEqual([0, 1]);
    expect([p.starts, p.ends]).toEqual([
      [0, 1572864],
      [1572864, 3 << 20],
    ]);
    expect(p.rounds).toBe(2);
    expect(window(p, 1, 1)).toEqual([1572864 + (1 << 20), 3 << 20]);
    expect(plan([{ lo: 0, hi: 0, contiguous: true }], { aggregators: 1, bufferSize: 16, align: 1 })).toBeNull();
  });

  it('interleaved: a strided rank, or overlapping ranges; disjoint contiguous blocks are not', () => {
    expect(
      interleaved([
        { lo: 0, hi: 10, contiguous: true },
        { lo: 10, hi: 20, contiguous: true },
        { lo: 0, hi: 0, contiguous: true },
      ]),
    ).toBe(false);
    expect(
      interleaved([
        { lo: 0, hi: 10, contiguous: true },
        { lo: 5, hi: 20, contiguous: true },
      ]),
    ).toBe(true);
    expect(
      interleaved([
        { lo: 0, hi: 10, contiguous: false },
        { lo: 20, hi: 30, contiguous: true },
      ]),
    ).toBe(true);
    expect(meets(0, 10, 10, 20)).toBe(false);
    expect(meets(0, 11, 10, 20)).toBe(true);
  });

  it("a rank's pieces in successive windows are successive stretches of its data, as strided groups", () => {
    const v = new FileView(4, INT, INT.createVector(100, 1, 4).commit());
    const runs = v.runs(0, 400);
    const cursor = new RunCursor(runs);
    const first = cursor.take(0, 800);
    expect([first.dataStart, first.bytes]).toEqual([0, 200]);
    expect([...first.pieces]).toEqual([4, 4, 50, 16]);
    expect(pieceSpan(first.pieces)).toEqual([4, 4 + 49 * 16 + 4]);
    const second = cursor.take(800, 1600);
    expect([second.dataStart, second.bytes]).toEqual([200, 200]);
    expect(pieceBytes(second.pieces)).toBe(200);
    const none = cursor.take(5000, 6000);
    expect(none.bytes).toBe(0);
  });

  it('coverage: exact runs of what senders cover, holes left out, overlaps merged', () => {
    const a = Float64Array.of(0, 4, 4, 16); // 0..4, 16..20, 32..36, 48..52
    const b = Float64Array.of(4, 4, 4, 16); // 4..8, 20..24, ...
    expect(pairs(coverage([a, b], 0, 64))).toEqual([
      [0, 8],
      [16, 8],
      [32, 8],
      [48, 8],
    ]);
    const c = Float64Array.of(8, 8, 4, 16);
    expect(pairs(coverage([a, b, c], 0, 64))).toEqual([[0, 64]]);
    expect(pairs(coverage([Float64Array.of(10, 5, 1, 5), Float64Array.of(30, 2, 1, 2)], 0, 64))).toEqual([
      [10, 5],
      [30, 2],
    ]);
    expect(pairs(coverage([], 0, 64))).toEqual([]);
  });

  it('coverage equals a byte map of the pieces for random views cut by RunCursor: overlapping senders, groups, windows', () => {
    // A small deterministic generator, so that a failure repeats.
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let trial = 0; trial < 200; trial++) {
      const senders = 1 + rand(4);
      const lists = [];
      for (let s = 0; s < senders; s++) {
        // A strided or indexed view of this sender: blocks of random length and gap, sometimes overlapping others'.
        const block = 1 + rand(8);
        const view =
          rand(2) === 0
            ? new FileView(rand(16), BYTE, BYTE.createVector(4 + rand(20), block, block + rand(12)).commit())
            : new FileView(rand(16), BYTE, BYTE.createIndexed([block, 1 + rand(5), block], [0, block + rand(7), 2 * block + 8 + rand(7)]).commit());
        lists.push(view.runs(rand(8), 40 + rand(200)));
      }
      const start = rand(64);
      const size = 16 + rand(400);
      const pieces = lists.map((runs) => new RunCursor(runs).take(start, start + size).pieces);
      const map = new Uint8Array(start + size);
      for (const runs of lists) {
        for (let i = 0; i < runs.count; i++) {
          for (let b = Math.max(start, runs.offsets[i]!); b < Math.min(start + size, runs.offsets[i]! + runs.lengths[i]!); b++) map[b] = 1;
        }
      }
      const expected: [number, number][] = [];
      for (let b = start; b < start + size; b++) {
        if (map[b] !== 1) continue;
        if (expected.length > 0 && expected.at(-1)![0] + expected.at(-1)![1] === b) expected.at(-1)![1]++;
        else expected.push([b, 1]);
      }
      expect(pairs(coverage(pieces, start, size)), `trial ${trial}`).toEqual(expected);
    }
  });

  it('scatterPieces and gatherPieces move packed data to and from a window', () => {
    const pieces = Float64Array.of(8, 2, 3, 4, 30, 70, 1, 70);
    const packed = new Uint8Array(76).map((_, i) => i + 1);
    const win = new Uint8Array(128);
    scatterPieces(pieces, packed, 0, win, 0);
    expect([...win.subarray(8, 18)]).toEqual([1, 2, 0, 0, 3, 4, 0, 0, 5, 6]);
    expect(win[30]).toBe(7);
    const back = new Uint8Array(76);
    gatherPieces(pieces, win, 0, back, 0);
    expect([...back]).toEqual([...packed]);
  });

  it('a struct filetype of doubles and ints works as a view', () => {
    const t = Datatype.createStruct([1, 1], [0, 8], [DOUBLE, INT]).commit();
    const v = new FileView(0, BYTE, t);
    expect(pairs(v.runs(0, 24))).toEqual([
      [0, 12],
      [16, 12],
    ]);
  });
});
