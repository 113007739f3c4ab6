#!/usr/bin/env node
// npm run bench:mpi-io: node-ucx's MPI-IO (bench/mpi-io-rank.mjs under ucx-run) against mpi4py on Open MPI's
// OMPIO (bench/mpi4py_io.py under mpirun) on the same file size and patterns, and a plain node:fs baseline
// (one process writing, then reading, the same bytes), all in the same run. Each system prints the median
// of --iters timings per pattern; with --reps N every system runs N times (interleaved) and the table shows
// the median of the N medians.
//
//   node bench/mpi-io.mjs [--ranks 4] [--size 64] [--int-size 1] [--iters 5] [--reps 1] [--dir DIR]
//                         [--doc [FILE]] [--json FILE] [--no-mpi4py] [--patterns a,b]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = '/usr/bin/python3';
const BLOCK_START = '<!-- bench:mpi-io -->';
const BLOCK_END = '<!-- /bench:mpi-io -->';

const USAGE = `usage: node bench/mpi-io.mjs [options]

  --ranks N        ranks of each MPI job (default 4)
  --size MIB       bytes moved by each pattern, in MiB (default 64)
  --int-size MIB   bytes of the 4-byte strided pattern, in MiB (default 1: one element per 4 bytes)
  --iters N        timed runs of each pattern in each job, after one warm-up (default 5)
  --reps N         jobs of each system, interleaved; the table shows the median (default 1)
  --dir DIR        where the files go (default: a new directory under the OS temporary directory)
  --patterns LIST  only these (names below)
  --doc [FILE]     write the table into FILE (default docs/performance.md) between
                   ${BLOCK_START} and ${BLOCK_END}
  --json FILE      every raw result, as JSON
  --no-mpi4py      node-ucx and the baseline only
  -h, --help       this text`;

/** Pattern, what it is, and the baseline (node:fs) operation it compares with. */
const PATTERNS = [
  ['write-at', 'independent `Write_at`, one contiguous block a rank', 'write'],
  ['write-at-all', 'collective `Write_at_all`, contiguous blocks', 'write'],
  ['write-strided', 'independent `Write` through a strided view (4 KiB blocks round robin)', 'write'],
  ['write-all-strided', 'collective `Write_all` through the same view', 'write'],
  ['write-all-strided-int', "collective `Write_all` through the tutorial's view of 4-byte ints (size: --int-size)", 'write-int'],
  ['read-at-all', 'collective `Read_at_all`, contiguous blocks', 'read'],
  ['read-all-strided', 'collective `Read_all` through the 4 KiB strided view', 'read'],
];

let options;
try {
  options = parseArgs({
    args: process.argv.slice(2),
    options: {
      ranks: { type: 'string', default: '4' },
      size: { type: 'string', default: '64' },
      'int-size': { type: 'string', default: '1' },
      iters: { type: 'string', default: '5' },
      reps: { type: 'string', default: '1' },
      dir: { type: 'string' },
      patterns: { type: 'string' },
      doc: { type: 'boolean' },
      json: { type: 'string' },
      'no-mpi4py': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
} catch (error) {
  process.stderr.write(`${error.message}\n\n${USAGE}\n`);
  process.exit(2);
}
const args = options.values;
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const positiveInt = (name) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be an integer >= 1\n`);
    process.exit(2);
  }
  return n;
};
const ranks = positiveInt('ranks');
const iters = positiveInt('iters');
const reps = positiveInt('reps');
const size = Number(args.size) * 2 ** 20;
const intSize = Number(args['int-size']) * 2 ** 20;
for (const [name, bytes, unit] of [
  ['size', size, 4096],
  ['int-size', intSize, 4],
]) {
  if (!Number.isInteger(bytes / (ranks * unit)) || bytes <= 0) {
    process.stderr.write(`--${name} must be a multiple of ranks x ${unit} bytes\n`);
    process.exit(2);
  }
}
const patterns = args.patterns?.split(',').map((s) => s.trim()) ?? PATTERNS.map(([name]) => name);
for (const name of patterns) {
  if (!PATTERNS.some(([p]) => p === name)) {
    process.stderr.write(`unknown pattern ${name}; known: ${PATTERNS.map(([p]) => p).join(', ')}\n`);
    process.exit(2);
  }
}
const docFile = args.doc ? path.resolve(options.positionals[0] ?? path.join(ROOT, 'docs', 'performance.md')) : null;
const ownDir = args.dir === undefined;
const dir = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-bench-mpi-io-'));

function log(message) {
  process.stderr.write(`[bench:mpi-io] ${message}\n`);
}

function hasMpi4py() {
  try {
    execFileSync('mpirun', ['--version'], { stdio: 'ignore' });
    execFileSync(PYTHON, ['-c', 'import mpi4py, numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a job; resolves with the last JSON line of its stdout. */
function job(command, argv, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${command} ${argv.join(' ')} exited ${code ?? signal}\n${stdout}${stderr}`));
      } else {
        resolve(JSON.parse(line));
      }
    });
  });
}

const rankArgs = ['--dir', dir, '--size', String(size), '--int-size', String(intSize), '--iters', String(iters), '--patterns', patterns.join(',')];

function nodeUcx() {
  return job(process.execPath, [
    path.join(ROOT, 'dist', 'cli', 'ucx-run.js'),
    '-n',
    String(ranks),
    'node',
    path.join(ROOT, 'bench', 'mpi-io-rank.mjs'),
    ...rankArgs,
  ]);
}

function mpi4py() {
  return job(
    'mpirun',
    [
      '--allow-run-as-root',
      '--oversubscribe',
      '-n',
      String(ranks),
      '--mca',
      'btl',
      'self,vader',
      PYTHON,
      path.join(ROOT, 'bench', 'mpi4py_io.py'),
      ...rankArgs,
    ],
    { OMPI_MCA_rmaps_base_oversubscribe: '1' },
  );
}

/** node:fs, one process: the whole file in one positional write (after truncating it) and one read, timed like the jobs. */
function baseline() {
  const file = path.join(dir, `node-fs-${process.pid}.dat`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const results = {};
  const fd = fs.openSync(file, 'w+');
  try {
    for (const [name, bytes] of [
      ['write', size],
      ['write-int', intSize],
    ]) {
      const data = Buffer.alloc(bytes, 1);
      const times = [];
      for (let i = 0; i <= iters; i++) {
        fs.ftruncateSync(fd, 0);
        const t0 = process.hrtime.bigint();
        for (let done = 0; done < bytes;) done += fs.writeSync(fd, data, done, bytes - done, done);
        if (i > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e9);
      }
      results[name] = median(times);
    }
    fs.ftruncateSync(fd, 0);
    const data = Buffer.alloc(size, 1);
    for (let done = 0; done < size;) done += fs.writeSync(fd, data, done, size - done, done);
    const into = Buffer.alloc(size);
    const times = [];
    for (let i = 0; i <= iters; i++) {
      const t0 = process.hrtime.bigint();
      for (let done = 0; done < size;) done += fs.readSync(fd, into, done, size - done, done);
      if (i > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    results.read = median(times);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return { tool: 'node:fs', size, intSize, iters, results };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpus = os.cpus();
const info = {
  date: new Date().toISOString().slice(0, 16).replace('T', ' '),
  cpus: `${cpus.length} CPUs (${(cpus[0]?.model ?? '').split(' ').slice(0, 2).join(' ')})`,
  loadStart: os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' '),
  fs: (() => {
    try {
      return execFileSync('df', ['--output=fstype', dir]).toString().trim().split('\n').at(-1);
    } catch {
      return '?';
    }
  })(),
};
const withMpi4py = !args['no-mpi4py'] && hasMpi4py();
if (!args['no-mpi4py'] && !withMpi4py) log(`mpirun or mpi4py (${PYTHON} -c 'import mpi4py, numpy') not found: node-ucx and node:fs only`);

const raw = { 'node-ucx': [], mpi4py: [], 'node:fs': [] };
try {
  for (let rep = 0; rep < reps; rep++) {
    log(`rep ${rep + 1}/${reps}: node-ucx (ucx-run -n ${ranks})`);
    raw['node-ucx'].push(await nodeUcx());
    if (withMpi4py) {
      log(`rep ${rep + 1}/${reps}: mpi4py (mpirun -n ${ranks})`);
      raw.mpi4py.push(await mpi4py());
    }
    log(`rep ${rep + 1}/${reps}: node:fs`);
    raw['node:fs'].push(baseline());
  }
} finally {
  if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
}
info.loadEnd = os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');

const med = (tool, key) => {
  const xs = raw[tool].map((r) => r.results[key]).filter((x) => typeof x === 'number');
  return xs.length ? median(xs) : null;
};
const MiB = 2 ** 20;
const cell = (seconds, bytes) =>
  seconds === null ? '—' : `${(seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1)} ms (${(bytes / MiB / seconds).toFixed(0)} MiB/s)`;
const rows = PATTERNS.filter(([name]) => patterns.includes(name)).map(([name, what, base]) => {
  const bytes = base === 'write-int' ? intSize : size;
  const ours = med('node-ucx', name);
  const theirs = withMpi4py ? med('mpi4py', name) : null;
  const fsTime = med('node:fs', base);
  return {
    name,
    what,
    bytes,
    ours,
    theirs,
    fsTime,
    cells: [`\`${name}\``, what, cell(ours, bytes), cell(theirs, bytes), theirs && ours ? `${(theirs / ours).toFixed(2)} ×` : '—', cell(fsTime, bytes)],
  };
});
const header = ['pattern', 'what', 'node-ucx', 'mpi4py (Open MPI OMPIO)', 'mpi4py ÷ node-ucx', 'node:fs, one process'];
const table = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.cells.join(' | ')} |`)].join('\n');
const summary =
  `Generated by \`npm run bench:mpi-io -- --doc\` on ${info.date} UTC: ${ranks} ranks, ${size / MiB} MiB a pattern ` +
  `(the 4-byte one ${intSize / MiB} MiB), median of ${iters} timed runs after a warm-up${reps > 1 ? `, median of ${reps} jobs` : ''}, ` +
  `file on ${info.fs} under ${ownDir ? os.tmpdir() : dir} (page cache; nothing is synced), ${info.cpus}, load average ${info.loadStart} at the start ` +
  `and ${info.loadEnd} at the end. node-ucx under ucx-run; mpi4py ${withMpi4py ? 'on Open MPI (`mpirun --mca btl self,vader`, OMPIO)' : '(not run)'}; ` +
  'node:fs: one process, one positional `writeSync`/`readSync` of the same bytes. Each time runs from a barrier to a barrier; writes go to a file ' +
  'truncated to 0 first. "mpi4py ÷ node-ucx" above 1 means node-ucx took less time. This block is rewritten by that command; everything outside it is written by hand.';

process.stdout.write(`${summary}\n\n${table}\n`);
if (args.json) fs.writeFileSync(args.json, `${JSON.stringify({ info, ranks, size, intSize, iters, reps, raw }, null, 2)}\n`);
if (docFile) {
  const doc = fs.readFileSync(docFile, 'utf8');
  const block = `${BLOCK_START}\n${summary}\n\n${table}\n${BLOCK_END}`;
  const start = doc.indexOf(BLOCK_START);
  const end = doc.indexOf(BLOCK_END);
  let next;
  if (start === -1 && end === -1) next = `${doc.replace(/\n*$/, '\n')}\n${block}\n`;
  else if (start !== -1 && end > start) next = doc.slice(0, start) + block + doc.slice(end + BLOCK_END.length);
  else throw new Error(`${docFile}: ${BLOCK_START} and ${BLOCK_END} do not make one block`);
  fs.writeFileSync(docFile, next);
  log(`wrote the table into ${path.relative(process.cwd(), docFile)}`);
}
