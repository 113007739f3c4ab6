// The collections' core pieces: deterministic tokens, the glob matcher.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tokenize } from '../../src/collections/core/tokenize.js';
import { expandPaths, segmentRegExp } from '../../src/collections/core/glob.js';
import { moduleFunction } from '../../src/scheduler/code.js';

describe('tokenize', () => {
  it('equal content gives equal tokens, object keys in any order; different content differs', () => {
    expect(tokenize({ a: 1, b: [2, 'x'] })).toBe(tokenize({ b: [2, 'x'], a: 1 }));
    expect(tokenize([1, 2])).not.toBe(tokenize([2, 1]));
    expect(tokenize('1')).not.toBe(tokenize(1));
    expect(tokenize(new Float64Array([1, 2]))).toBe(tokenize(new Float64Array([1, 2])));
    expect(tokenize(new Float64Array([1, 2]))).not.toBe(tokenize(new Float32Array([1, 2])));
    expect(tokenize(moduleFunction('/x/k.js', 'f'))).toBe(tokenize(moduleFunction('/x/k.js', 'f')));
    expect(tokenize(tokenize)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a function: the same object, the same token; another closure of the same source, another token', () => {
    const make =
      (k: number) =>
      (x: number): number =>
        x + k;
    const f = make(1);
    expect(tokenize(f)).toBe(tokenize(f));
    expect(tokenize(make(1))).not.toBe(tokenize(make(2)));
  });

  it('class instances by identity (their state may be hidden), cycles without looping', () => {
    class Box {
      constructor(readonly v: number) {}
    }
    const box = new Box(1);
    expect(tokenize(box)).toBe(tokenize(box));
    expect(tokenize(new Box(1))).not.toBe(tokenize(new Box(1)));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(tokenize(cyclic)).toBe(tokenize(cyclic));
  });
});

describe('glob', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucx-glob-'));
    for (const file of ['a.txt', 'b.txt', 'c.log', '.hidden.txt', 'sub/d.txt', 'sub/deep/e.txt', 'sub/deep/f.gz', 'x1.txt', 'x2.txt']) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), file);
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const names = (pattern: string): string[] => expandPaths(path.join(dir, pattern)).map((p) => path.relative(dir, p));

  it('matches *, ?, [..], {a,b} and ** (sorted, hidden files left out)', () => {
    expect(names('*.txt')).toEqual(['a.txt', 'b.txt', 'x1.txt', 'x2.txt']);
    expect(names('x?.txt')).toEqual(['x1.txt', 'x2.txt']);
    expect(names('[ab].txt')).toEqual(['a.txt', 'b.txt']);
    expect(names('[!ab]*.txt')).toEqual(['x1.txt', 'x2.txt']);
    expect(names('*.{txt,log}')).toEqual(['a.txt', 'b.txt', 'c.log', 'x1.txt', 'x2.txt']);
    expect(names('**/*.txt')).toEqual(['a.txt', 'b.txt', 'sub/d.txt', 'sub/deep/e.txt', 'x1.txt', 'x2.txt']);
    expect(names('sub/**')).toEqual(['sub/d.txt', 'sub/deep/e.txt', 'sub/deep/f.gz']);
    expect(names('.h*')).toEqual(['.hidden.txt']);
  });

  it('a missing file, or a glob matching nothing, is ENOENT naming it; a directory is EISDIR', () => {
    expect(() => expandPaths(path.join(dir, 'nope.txt'))).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('nope.txt') }));
    expect(() => expandPaths(path.join(dir, '*.csv'))).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('*.csv') }));
    expect(() => expandPaths(path.join(dir, 'sub'))).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(() => expandPaths([])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('escapes what is not a wildcard', () => {
    expect(segmentRegExp('a.b+c').test('a.b+c')).toBe(true);
    expect(segmentRegExp('a.b+c').test('aXb+c')).toBe(false);
  });
});
