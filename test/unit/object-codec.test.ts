// The sendObject()/recvObject() bytes (src/util/object-codec.ts): whichever format a value takes, what comes
// out is what v8's structured clone round trip gives; malformed bytes are errors, never a crash or hang.
import { describe, it, expect } from 'vitest';
import v8 from 'node:v8';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { encodeObject, decodeObject, PLAIN_FORMAT, MAX_DECODE_EXPANSION } from '../../dist/util/object-codec.js';

const V8_FORMAT = 0xff;

function viaV8(value: unknown): unknown {
  return v8.deserialize(v8.serialize(value));
}

function roundTrip(value: unknown): unknown {
  return decodeObject(encodeObject(value));
}

/** A small deterministic PRNG, so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const NUMBERS = [
  0,
  -0,
  1,
  -1,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  -(2 ** 31) - 1,
  0.5,
  -1e-300,
  1e308,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_VALUE,
  NaN,
  Infinity,
  -Infinity,
];
const STRINGS = [
  '',
  'a',
  'ucx-bench',
  'x'.repeat(126),
  'x'.repeat(127),
  'x'.repeat(128),
  'y'.repeat(70_000),
  'é',
  'naïve café',
  '日本語のテキスト',
  '🚀 emoji 👩‍👩‍👧',
  'mixed ascii then ü',
  '\u0000nul\u0000',
  '\uffff',
  'a'.repeat(16) + 'é',
];

function randomString(rand: () => number): string {
  const pick = STRINGS[Math.floor(rand() * STRINGS.length)]!;
  if (rand() < 0.5) return pick.slice(0, Math.floor(rand() * 40));
  let s = '';
  const n = Math.floor(rand() * 30);
  for (let i = 0; i < n; i++) {
    const r = rand();
    s += r < 0.7 ? String.fromCharCode(32 + Math.floor(rand() * 95)) : r < 0.9 ? String.fromCharCode(0xa0 + Math.floor(rand() * 0x700)) : '😀';
  }
  return s;
}

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 4 || r < 0.45) {
    const k = Math.floor(rand() * 7);
    switch (k) {
      case 0:
        return NUMBERS[Math.floor(rand() * NUMBERS.length)];
      case 1:
        return Math.floor((rand() - 0.5) * 2 ** 40);
      case 2:
        return randomString(rand);
      case 3:
        return rand() < 0.5;
      case 4:
        return rand() < 0.5 ? null : undefined;
      case 5:
        return BigInt(Math.floor((rand() - 0.5) * 2 ** 50)) * (rand() < 0.3 ? 2n ** 100n : 1n);
      default:
        return (rand() - 0.5) * 1e6;
    }
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rand() * 6) }, () => randomValue(rand, depth + 1));
  const o: Record<string, unknown> = {};
  const n = Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) o[rand() < 0.2 ? String(Math.floor(rand() * 10)) : randomString(rand)] = randomValue(rand, depth + 1);
  return o;
}

describe('object codec', () => {
  it('plain data takes the compact format and comes back as v8 would bring it', () => {
    const values: unknown[] = [
      { seq: 1, kind: 'ucx-bench', payload: 'xxxxxxxx' },
      [1, 'two', [3, [4, [5]]], { six: 6 }],
      { b: 1, a: 2, 10: 'ten', 2: 'two', '': 'empty key', 'key with ü': true },
      { nested: { deeper: { deepest: [null, undefined, false, true] } } },
      { big: 2n ** 130n, negative: -(2n ** 70n), zero: 0n, small: -5n },
      [...NUMBERS],
      [...STRINGS],
      [],
      {},
      'just a string',
      42,
      -0,
      null,
      undefined,
      true,
      12345678901234567890n,
    ];
    for (const value of values) {
      const bytes = encodeObject(value);
      expect(bytes[0], JSON.stringify(String(value))).toBe(PLAIN_FORMAT);
      expect(roundTrip(value)).toStrictEqual(viaV8(value));
      expect(Object.keys(roundTrip(value) ?? {})).toEqual(Object.keys(viaV8(value) ?? {}));
    }
  });

  it('what the compact format cannot carry exactly goes to v8 whole, with the same result', () => {
    const shared = { shared: true };
    const cyclic: Record<string, unknown> = { name: 'cycle' };
    cyclic.self = cyclic;
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const extra = Object.assign([1, 2], { label: 'extra' });
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { next: deep };
    const values: [string, unknown][] = [
      ['Map', new Map([[1, 'a']])],
      ['Set', new Set([1, 2])],
      ['Date', new Date(0)],
      ['RegExp', /x/g],
      ['Buffer', Buffer.from('bytes')],
      ['Float64Array', new Float64Array([1.5])],
      ['shared reference', { a: shared, b: shared }],
      ['cycle', cyclic],
      ['sparse array', sparse],
      ['array with a property', extra],
      ['null-prototype object', Object.assign(Object.create(null) as object, { a: 1 })],
      ['class instance', new Point(1, 2)],
      ['lone surrogate', { s: 'broken \ud800 pair' }],
      ['__proto__ key', JSON.parse('{"__proto__": {"polluted": 1}}')],
      ['100 levels deep', deep],
      ['boxed string', { s: new String('boxed') }],
    ];
    for (const [what, value] of values) {
      expect(encodeObject(value)[0], what).toBe(V8_FORMAT);
      expect(roundTrip(value), what).toStrictEqual(viaV8(value));
    }
    const back = roundTrip({ a: shared, b: shared }) as { a: object; b: object };
    expect(back.a).toBe(back.b);
    const cycleBack = roundTrip(cyclic) as { self: unknown };
    expect(cycleBack.self).toBe(cycleBack);
    const proto = roundTrip(JSON.parse('{"__proto__": {"polluted": 1}}')) as object;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.hasOwn(proto, '__proto__')).toBe(true);
  });

  it('values v8 refuses are refused the same way', () => {
    for (const value of [() => 1, { f: () => 1 }, Symbol('s'), [Symbol('s')]]) {
      let ours: unknown;
      let theirs: unknown;
      try {
        encodeObject(value);
      } catch (error) {
        ours = error;
      }
      try {
        v8.serialize(value);
      } catch (error) {
        theirs = error;
      }
      expect(ours).toBeInstanceOf(Error);
      expect((ours as Error).name).toBe((theirs as Error).name);
    }
  });

  it('a getter that sends an object itself does not disturb the outer encoding', () => {
    let inner: Buffer | undefined;
    const value = {
      before: 'b',
      get during() {
        inner = encodeObject({ inner: [1, 2, 3] });
        return 'd';
      },
      after: [4, 5],
    };
    expect(roundTrip(value)).toStrictEqual({ before: 'b', during: 'd', after: [4, 5] });
    expect(decodeObject(inner!)).toStrictEqual({ inner: [1, 2, 3] });
  });

  it('2,000 random plain values round-trip like v8 (seeded)', () => {
    const rand = prng(20261126);
    for (let i = 0; i < 2000; i++) {
      const value = randomValue(rand, 0);
      const back = roundTrip(value);
      expect(back, `case ${i}: ${String(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)))}`).toStrictEqual(viaV8(value));
    }
  });

  it('large messages grow the scratch buffer and stay intact', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `row ${i} ✓`, score: i / 7 }));
    const bytes = encodeObject(rows);
    expect(bytes[0]).toBe(PLAIN_FORMAT);
    expect(bytes.length).toBeGreaterThan(400_000);
    expect(decodeObject(bytes)).toStrictEqual(rows);
    expect(roundTrip({ after: 'small again' })).toStrictEqual({ after: 'small again' });
  });

  it("malformed bytes are a TypeError (or v8's Error), never a crash or a hang", () => {
    const good = encodeObject({ seq: 1, kind: 'ucx-bench', list: [1, 2, 3], text: 'héllo' });
    for (let cut = 0; cut < good.length; cut++) {
      expect(() => decodeObject(good.subarray(0, cut)), `cut at ${cut}`).toThrow(TypeError);
    }
    expect(() => decodeObject(Buffer.concat([good, Buffer.from([0])]))).toThrow(/after the value/);
    expect(() => decodeObject(Buffer.from([PLAIN_FORMAT, 0x63]))).toThrow(/unknown kind/);
    expect(() => decodeObject(Buffer.from([PLAIN_FORMAT, 8, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/truncated/);
    expect(() => decodeObject(Buffer.from([PLAIN_FORMAT, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(/bad length/);
    expect(() => decodeObject(Buffer.from([0x42, 1, 2]))).toThrow(/unknown format byte 66/);
    expect(() => decodeObject(Buffer.alloc(0))).toThrow(/empty message/);
    const nested = Buffer.alloc(1 + 2 * 100_000 + 1);
    nested[0] = PLAIN_FORMAT;
    for (let i = 0; i < 100_000; i++) nested.set([8, 1], 1 + 2 * i); // [[[[...]]]] a hundred thousand deep
    expect(() => decodeObject(nested)).toThrow(/nested too deep/);
    const rand = prng(7);
    // Mutations of real encodings reach deeper than random bytes.
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(encodeObject(randomValue(rand, 0)));
      if (bytes[0] !== PLAIN_FORMAT || bytes.length < 2) continue;
      for (let flips = 1 + Math.floor(rand() * 3); flips > 0; flips--) bytes[1 + Math.floor(rand() * (bytes.length - 1))] = Math.floor(rand() * 256);
      try {
        decodeObject(bytes);
      } catch (error) {
        expect(error, `bytes ${bytes.toString('hex')}`).toBeInstanceOf(TypeError);
      }
    }
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 24) }, () => Math.floor(rand() * 256)));
      bytes[0] = PLAIN_FORMAT;
      try {
        decodeObject(bytes);
      } catch (error) {
        expect(error, `bytes ${bytes.toString('hex')}`).toBeInstanceOf(TypeError);
        expect((error as { code?: string }).code).toBe('ERR_UCX_MALFORMED_OBJECT');
      }
    }
  });

  it('v8-format garbage is the same coded TypeError', () => {
    for (const bytes of [Buffer.from([0xff]), Buffer.from([0xff, 0x0f, 0x41, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0xff, 0x0d, 0x6f, 0x22, 0x7f])]) {
      expect(() => decodeObject(bytes)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_UCX_MALFORMED_OBJECT' }));
    }
  });

  it(`no message decodes to more than ${MAX_DECODE_EXPANSION}x its size in heap, the densest forged shapes included`, () => {
    // Heap is measured in a child process with --expose-gc (the densest shapes: empty objects and arrays,
    // nulls, objects claiming many properties under one key, and v8's format of the same).
    const script = `
      const { decodeObject } = await import(${JSON.stringify(path.resolve(__dirname, '../../dist/util/object-codec.js'))});
      const v8 = await import('node:v8');
      const varint = (n) => { const o = []; while (n >= 0x80) { o.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); } o.push(n); return o; };
      const N = 400000;
      const shapes = {
        emptyObjects: [1, 8, ...varint(N), ...Array(N).fill([9, 0]).flat()],
        emptyArrays: [1, 8, ...varint(N), ...Array(N).fill([8, 0]).flat()],
        nulls: [1, 8, ...varint(N), ...Array(N).fill(1)],
        sameKeyObjects: [1, 9, ...varint(N), ...Array(N).fill([0, 9, 0]).flat()],
        v8EmptyObjects: [...v8.serialize(Array.from({ length: N }, () => ({})))],
      };
      const ratios = {};
      for (const [name, bytes] of Object.entries(shapes)) {
        const message = Buffer.from(bytes);
        globalThis.gc(); globalThis.gc();
        const before = process.memoryUsage().heapUsed;
        const value = decodeObject(message);
        globalThis.gc();
        ratios[name] = (process.memoryUsage().heapUsed - before) / message.length;
        if (value === undefined) throw new Error('unreachable');
      }
      console.log(JSON.stringify(ratios));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const ratios = JSON.parse(out) as Record<string, number>;
    expect(Object.keys(ratios)).toHaveLength(5);
    for (const [shape, ratio] of Object.entries(ratios)) expect(ratio, shape).toBeLessThan(MAX_DECODE_EXPANSION);
  });
});
