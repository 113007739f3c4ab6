// The bag's pure pieces: keys compared by content (groupby, foldby, frequencies, distinct), line splitting.
import { describe, it, expect } from 'vitest';
import { canonical, KeyedMap, stableHash } from '../../src/collections/bag/keyed.js';
import { splitLines } from '../../src/collections/bag/io-kernels.js';

describe('KeyedMap and stableHash', () => {
  it('compares arrays and objects by content, primitives as Map keys do', () => {
    const map = new KeyedMap<number>();
    map.set([1, 'a'], 1);
    map.set([1, 'a'], 2);
    map.set({ x: 1, y: [2] }, 3);
    map.set({ y: [2], x: 1 }, 4);
    map.set(NaN, 5);
    map.set(NaN, 6);
    map.set(0, 7);
    map.set(-0, 8);
    map.set('1', 9);
    map.set(1, 10);
    expect(map.entries()).toEqual([
      [[1, 'a'], 2],
      [{ x: 1, y: [2] }, 4],
      [NaN, 6],
      [0, 8],
      ['1', 9],
      [1, 10],
    ]);
    expect(canonical(new Date(5))).not.toBe(canonical(5));
  });

  it('hashes equal keys alike, and spreads different ones', () => {
    expect(stableHash([1, { a: 2 }])).toBe(stableHash([1, { a: 2 }]));
    expect(stableHash(-0)).toBe(stableHash(0));
    const buckets = new Set(Array.from({ length: 1000 }, (_, i) => stableHash(`word${i}`) % 8));
    expect(buckets.size).toBe(8);
  });
});

describe('splitLines', () => {
  it('keeps each delimiter, and a last line without one', () => {
    expect(splitLines('a\nb\n\nc', '\n')).toEqual(['a\n', 'b\n', '\n', 'c']);
    expect(splitLines('a\r\nb\r\n', '\r\n')).toEqual(['a\r\n', 'b\r\n']);
    expect(splitLines('', '\n')).toEqual([]);
  });
});
