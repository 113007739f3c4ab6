// node-ucx/collections/bag against dask.bag: word count over generated text files (8 files, 200 MB
// at --scale 1; words from a 2,000-word vocabulary, skewed as text is): read, split, frequencies.
// Each side: the fastest of 2 runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as db from 'node-ucx/collections/bag';

function writeText(dir, files, bytes) {
  const vocabulary = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}${'xyz'.slice(0, i % 4)}`);
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const paths = [];
  for (let f = 0; f < files; f++) {
    const lines = [];
    let size = 0;
    while (size < bytes / files) {
      const words = [];
      for (let w = 0, n = 5 + (next() % 12); w < n; w++) {
        const r = next() / 2 ** 32;
        words.push(vocabulary[Math.floor(vocabulary.length * r * r * r)]);
      }
      const line = words.join(' ');
      lines.push(line);
      size += line.length + 1;
    }
    const file = path.join(dir, `part-${f}.txt`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    paths.push(file);
  }
  return paths;
}

export default async function bagBench({ client, dask, scale }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-bag-'));
  try {
    const bytes = Math.max(1 << 20, Math.round(200e6 * scale));
    writeText(dir, 8, bytes);
    const glob = path.join(dir, 'part-*.txt');
    // The run number is an extra argument: a new key each run, so nothing computed is reused.
    const make = (r) =>
      db
        .readText(glob)
        .flatMap((line, run) => line.split(/\s+/).filter((w) => w !== '' || run < 0), r)
        .frequencies();
    await db.fromSequence([1, 2, 3]).sum().compute({ scheduler: client });
    const counts = make(0);
    const graphTasks = Object.keys(counts.optimize(counts.graph(), counts.keys)).length;
    let nodeUcxMs = Infinity;
    let bytesMoved = 0;
    let pairs = [];
    for (let r = 0; r < 2; r++) {
      const before = (await client.schedulerInfo()).bytesMoved;
      const started = performance.now();
      pairs = await make(r).compute({ scheduler: client });
      const took = performance.now() - started;
      if (took < nodeUcxMs) {
        nodeUcxMs = took;
        bytesMoved = (await client.schedulerInfo()).bytesMoved - before;
      }
    }
    const python = `import dask.bag as db\ndef bench():\n    return len(db.read_text(${JSON.stringify(glob)}).str.split().flatten().frequencies().compute())`;
    const theirs = await dask.time(python, { needs: ['dask.bag'] });
    if (theirs !== null && theirs.value !== pairs.length)
      process.stderr.write(`[bench] bag: dask found ${theirs.value} distinct words, node-ucx ${pairs.length}\n`);
    return [
      {
        workload: `bag word count (8 files, ${(bytes / 1e6).toFixed(0)} MB, ${pairs.length} distinct words)`,
        nodeUcxMs,
        daskMs: theirs?.ms ?? null,
        ratio: theirs ? nodeUcxMs / theirs.ms : null,
        graphTasks,
        bytesMoved,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
