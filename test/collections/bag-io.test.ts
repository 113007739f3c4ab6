// The bag's files: readText and readJsonLines over plain and gzip files made here, cut in blocks or
// not, and toTextFiles back; a missing file and a malformed line give coded errors naming them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as db from 'node-ucx/collections/bag';
import type { LocalScheduler } from 'node-ucx/collections/bag';

const SCHEDULERS: LocalScheduler[] = ['sync', 'threads', 'processes'];
let dir: string;

/** Line i of file f: some of them long, some with multi-byte characters, so that blocks cut anywhere. */
const lineOf = (f: number, i: number): string => `file ${f} line ${i} ${'é'.repeat(i % 4)}${'x'.repeat((i * 13) % 50)}\n`;
const linesOf = (f: number, n: number): string[] => Array.from({ length: n }, (_, i) => lineOf(f, i));
const records = Array.from({ length: 30 }, (_, i) => ({ id: i, word: ['a', 'b', 'c'][i % 3] }));

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucx-bag-io-'));
  fs.writeFileSync(path.join(dir, 'a.txt'), linesOf(0, 40).join(''));
  // The last line without a newline: it is kept as it is.
  fs.writeFileSync(path.join(dir, 'b.txt'), linesOf(1, 25).join('') + 'no newline at the end');
  fs.writeFileSync(path.join(dir, 'c.txt.gz'), zlib.gzipSync(linesOf(2, 30).join('')));
  fs.writeFileSync(path.join(dir, 'records.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
  fs.writeFileSync(path.join(dir, 'records.jsonl.gz'), zlib.gzipSync(records.map((r) => JSON.stringify(r)).join('\n')));
  const broken = records.map((r) => JSON.stringify(r));
  broken[22] = '{"id": 22, "word": oops}';
  fs.writeFileSync(path.join(dir, 'broken.jsonl'), broken.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'not-gzip.txt.gz'), 'plain text with a .gz name\n');
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await db.closeLocalPools();
});

const all = (): string[] => [...linesOf(0, 40), ...linesOf(1, 25), 'no newline at the end', ...linesOf(2, 30)];

describe.each(SCHEDULERS)("files on '%s'", (scheduler) => {
  it('readText over a glob of plain and gzip files: every line, with its newline, one partition per file', async () => {
    const bag = db.readText(path.join(dir, '*.txt*').replace('*.txt*', '{a,b,c}.txt*'));
    expect(bag.npartitions).toBe(3);
    await expect(bag.compute({ scheduler })).resolves.toEqual(all());
  });

  it('readText cut in blocks gives the same lines, whatever the blocksize', async () => {
    const files = [path.join(dir, 'a.txt'), path.join(dir, 'b.txt')];
    const expected = [...linesOf(0, 40), ...linesOf(1, 25), 'no newline at the end'];
    for (const blocksize of [1, 7, 100, 333, 1 << 20]) {
      const bag = db.readText(files, { blocksize });
      await expect(bag.compute({ scheduler }), `blocksize ${blocksize}`).resolves.toEqual(expected);
    }
    expect(db.readText(files, { blocksize: 100 }).npartitions).toBeGreaterThan(20);
  });

  it('includePath and filesPerPartition', async () => {
    const bag = db.readText([path.join(dir, 'a.txt'), path.join(dir, 'b.txt')], { includePath: true, filesPerPartition: 2 });
    expect(bag.npartitions).toBe(1);
    const pairs = (await bag.compute({ scheduler })) as unknown as [string, string][];
    expect(pairs[0]).toEqual([lineOf(0, 0), path.join(dir, 'a.txt')]);
    expect(pairs[pairs.length - 1]).toEqual(['no newline at the end', path.join(dir, 'b.txt')]);
  });

  it('readJsonLines: plain and gzip, blank lines skipped, in blocks too', async () => {
    await expect(db.readJsonLines([path.join(dir, 'records.jsonl'), path.join(dir, 'records.jsonl.gz')]).compute({ scheduler })).resolves.toEqual([
      ...records,
      ...records,
    ]);
    await expect(db.readJsonLines(path.join(dir, 'records.jsonl'), { blocksize: 64 }).compute({ scheduler })).resolves.toEqual(records);
  });

  it('a malformed JSON line fails with ERR_COLLECTIONS_MALFORMED_JSON naming the file and the line, also from a block in the middle', async () => {
    const file = path.join(dir, 'broken.jsonl');
    for (const opts of [{}, { blocksize: 100 }]) {
      const error = (await db
        .readJsonLines(file, opts)
        .compute({ scheduler })
        .catch((e: unknown) => e)) as db.TaskFailedError;
      expect(error).toBeInstanceOf(db.TaskFailedError);
      expect(error.code).toBe('ERR_COLLECTIONS_MALFORMED_JSON');
      expect(error.message).toContain(`${file}:23:`);
    }
  });

  it('a file that is not gzip fails with ERR_COLLECTIONS_MALFORMED_GZIP naming it', async () => {
    await expect(db.readText(path.join(dir, 'not-gzip.txt.gz')).compute({ scheduler })).rejects.toMatchObject({
      code: 'ERR_COLLECTIONS_MALFORMED_GZIP',
      message: expect.stringContaining('not-gzip.txt.gz'),
    });
  });

  it('toTextFiles writes one file per partition (gzip by extension), and readText reads it back', async () => {
    const out = path.join(dir, `out-${scheduler}`);
    const bag = db.fromSequence(['alpha', 'beta', 'gamma', 'delta', 'epsilon'], { npartitions: 2 });
    const written = await bag.toTextFiles(path.join(out, 'part-*.txt.gz'), { scheduler });
    expect(written).toEqual([path.join(out, 'part-0.txt.gz'), path.join(out, 'part-1.txt.gz')]);
    expect(zlib.gunzipSync(fs.readFileSync(written[0]!)).toString()).toBe('alpha\nbeta\ngamma');
    const back = await db
      .readText(path.join(out, 'part-*.txt.gz'))
      .map((line: string) => line.trimEnd())
      .compute({ scheduler });
    expect(back).toEqual(['alpha', 'beta', 'gamma', 'delta', 'epsilon']);
    const plain = await bag.toTextFiles(path.join(out, 'plain'), { scheduler, lastEndline: true, nameFunction: (i) => `p${i}` });
    expect(plain).toEqual([path.join(out, 'plain', 'p0.part'), path.join(out, 'plain', 'p1.part')]);
    expect(fs.readFileSync(plain[1]!, 'utf8')).toBe('delta\nepsilon\n');
  });

  it('toTextFiles of a non-string element fails naming the element and the file', async () => {
    await expect(db.fromSequence([1, 2]).toTextFiles(path.join(dir, `bad-${scheduler}`, '*.txt'), { scheduler })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
      message: expect.stringMatching(/element 0 .*[01]\.txt' is number/),
    });
  });
});

describe('where the graph is built', () => {
  it('a missing file is ENOENT naming it; a glob matching nothing too; no graph is made', () => {
    const missing = path.join(dir, 'missing.txt');
    expect(() => db.readText(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', path: missing, message: expect.stringContaining(missing) }));
    expect(() => db.readJsonLines(path.join(dir, '*.csv'))).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('*.csv') }));
  });

  it('a blocksize with a compressed file, and bad options, are argument errors', async () => {
    expect(() => db.readText(path.join(dir, 'c.txt.gz'), { blocksize: 10 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('c.txt.gz') }),
    );
    expect(() => db.readText(path.join(dir, 'a.txt'), { encoding: 'klingon' as BufferEncoding })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => db.readText(path.join(dir, 'a.txt'), { blocksize: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    await expect(db.fromSequence(['a']).toTextFiles(['one', 'two'])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringContaining('one file for each of the 1 partitions'),
    });
  });

  it('the same files give the same names; a changed file another', () => {
    const file = path.join(dir, 'a.txt');
    expect(db.readText(file).name).toBe(db.readText(file).name);
    expect(db.readText(file).name).not.toBe(db.readText(file, { blocksize: 10 }).name);
  });
});
