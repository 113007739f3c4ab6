// bag-wordcount.mjs: word count over text files with node-ucx/collections/bag (Dask's dask.bag):
// read a glob of plain and gzip files, split lines into words, count them in parallel, and check
// the answer against plain JS. The same code runs on every scheduler.
//
// Run: node docs/examples/bag-wordcount.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { readText, compute } from 'node-ucx/collections/bag';

// Some text files to count: four plain, two gzip.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wordcount-'));
const vocabulary = ['ucx', 'node', 'bag', 'dask', 'graph', 'task', 'thread', 'partition'];
const texts = [];
for (let f = 0; f < 6; f++) {
  const lines = Array.from({ length: 500 }, (_, i) =>
    Array.from({ length: 1 + ((i * 7 + f) % 9) }, (_, w) => vocabulary[(i * 31 + w * 17 + f) % vocabulary.length]).join(' '),
  );
  const text = lines.join('\n') + '\n';
  texts.push(text);
  const file = path.join(dir, `part-${f}.txt${f >= 4 ? '.gz' : ''}`);
  fs.writeFileSync(file, f >= 4 ? zlib.gzipSync(text) : text);
}

// The pipeline: lazy until compute(). User functions travel as source to the threads, so they
// use only their arguments (`min` is passed as an extra argument, not captured).
const words = readText(path.join(dir, 'part-*.txt*')).flatMap((line) => line.split(/\s+/).filter((word) => word !== ''));
const counts = words.frequencies({ sort: true });
const longWords = words.filter((word, min) => word.length >= min, 5).count();

for (const scheduler of ['threads', 'processes', 'sync']) {
  const started = performance.now();
  // One graph for both results: the files are read and split once.
  const [frequencies, nLong] = await compute([counts, longWords], { scheduler });
  console.log(
    `${scheduler.padEnd(9)} ${(performance.now() - started).toFixed(1).padStart(7)} ms  top 3: ${frequencies
      .slice(0, 3)
      .map(([w, n]) => `${w} ${n}`)
      .join(', ')}; words of 5+ letters: ${nLong}`,
  );

  // The same in plain JS.
  const expected = new Map();
  for (const word of texts.join('').split(/\s+/).filter(Boolean)) expected.set(word, (expected.get(word) ?? 0) + 1);
  assert.deepEqual(new Map(frequencies), expected);
  assert.equal(
    nLong,
    [...expected].filter(([w]) => w.length >= 5).reduce((a, [, n]) => a + n, 0),
  );
}

fs.rmSync(dir, { recursive: true, force: true });
// No close needed: idle pools never keep the process alive.
