#!/usr/bin/env node
// P8: the MPI shim's collectives against mpi4py (Open MPI + UCX PML) in one run, interleaved: every
// repetition runs node-ucx (bench/mpi-collectives.mjs under ucx-run) and mpi4py
// (bench/mpi/mpi4py_collectives.py under mpirun) once each, alternating which goes first, for each
// rank count; each cell is the median over the repetitions, each ratio node-ucx ÷ mpi4py of those medians.
//
//   node bench/mpi/run.mjs                         4 and 8 ranks, 5 repetitions, a table each
//   node bench/mpi/run.mjs --ranks 4 --reps 3 --only barrier_us,bcast_object_us
//   node bench/mpi/run.mjs --progress event,default    node-ucx once per progress setting (a column each;
//                                                  MODE[/SPIN_US[/YIELD_US]], see progressEnv)
//   node bench/mpi/run.mjs --json raw.json         every repetition's figures too
//   node bench/mpi/run.mjs --doc after             rewrite the bench:mpi-after block of docs/performance.md
//   (npm run bench:mpi -- ...)
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opts } = parseArgs({
  options: {
    ranks: { type: 'string', default: '4,8' },
    reps: { type: 'string', default: '5' },
    progress: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
    doc: { type: 'string' },
    timeout: { type: 'string', default: '300' },
    commit: { type: 'string' }, // names the code measured when this is not a git checkout
  },
});
const rankCounts = opts.ranks.split(',').map(Number);
const reps = Number(opts.reps);
const modes = opts.progress ? opts.progress.split(',') : [null]; // null: the library's default for MPI ranks
const timeoutMs = Number(opts.timeout) * 1000;
if (opts.doc !== undefined && !['before', 'after'].includes(opts.doc)) throw new Error('--doc before|after');

const ROWS = [
  ['barrier_us', '`barrier`', 'P8'],
  ['bcast_object_us', '`bcast` of a small object', 'P8'],
  ['allreduce_scalar_object_us', '`allreduce` of a scalar', 'P8'],
  ['Allreduce_1MiB_f64_us', '`Allreduce` 1 MiB float64', 'P8'],
  ['Bcast_1MiB_us', '`Bcast` 1 MiB', 'P8'],
  ['Alltoall_1MiB_us', '`Alltoall` 1 MiB (blocks of 1/size)', 'P8'],
  ['Gather_1MiB_us', '`Gather` to 1 MiB (1/size from each)', 'P8'],
  ['Scatter_1MiB_us', '`Scatter` of 1 MiB (1/size to each)', 'P8'],
  ['Reduce_scatter_block_1MiB_us', '`Reduce_scatter_block` 1 MiB (1/size kept)', 'P8'],
].filter(([key]) => !opts.only || opts.only.split(',').includes(key));

const MPIRUN = [
  '--allow-run-as-root',
  '--oversubscribe',
  '--mca',
  'pml',
  'ucx',
  '--mca',
  'opal_common_ucx_tls',
  'any',
  '--mca',
  'opal_common_ucx_devices',
  'any',
];

const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const pid of running)
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    process.exit(130);
  });
}

function runOnce(argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`${argv.join(' ')}: exit ${code ?? signal}\n${err.slice(-2000)}${out.slice(-1000)}`));
      else resolve(JSON.parse(line));
    });
  });
}

const only = opts.only ? { NODE_UCX_BENCH_ONLY: opts.only } : {};
// A --progress entry: MODE (NODE_UCX_PROGRESS; 'default': unset), optionally /SPIN_US[/YIELD_US]
// (NODE_UCX_MPI_SPIN_US, NODE_UCX_MPI_YIELD_US): 'event', 'adaptive/5000/0', 'default/1000'.
function progressEnv(entry) {
  if (entry === null) return {};
  const [mode, spin, yieldUs] = entry.split('/');
  return {
    ...(mode !== 'default' && { NODE_UCX_PROGRESS: mode }),
    ...(spin !== undefined && spin !== '' && { NODE_UCX_MPI_SPIN_US: spin }),
    ...(yieldUs !== undefined && { NODE_UCX_MPI_YIELD_US: yieldUs }),
  };
}
const node = (n, mode) =>
  runOnce([process.execPath, 'dist/cli/ucx-run.js', '-n', String(n), process.execPath, 'bench/mpi-collectives.mjs'], { ...only, ...progressEnv(mode) });
const mpi4py = (n) => runOnce(['mpirun', ...MPIRUN, '-n', String(n), '/usr/bin/python3', 'bench/mpi/mpi4py_collectives.py'], only);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (us) => (us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));
const log = (s) => process.stderr.write(`[bench:mpi] ${s}\n`);

const load0 = os.loadavg();
const started = new Date();
const raw = {}; // ranks -> tool -> runs
for (const n of rankCounts) raw[n] = { mpi4py: [], ...Object.fromEntries(modes.map((m) => [`node-ucx:${m ?? 'default'}`, []])) };
for (let rep = 0; rep < reps; rep++) {
  for (const n of rankCounts) {
    // Alternate who goes first, so that neither always runs on a warmer (or busier) machine.
    const order = rep % 2 === 0 ? ['mpi4py', ...modes] : [...modes, 'mpi4py'];
    for (const who of order) {
      const key = who === 'mpi4py' ? 'mpi4py' : `node-ucx:${who ?? 'default'}`;
      log(`rep ${rep + 1}/${reps}, ${n} ranks: ${key}`);
      raw[n][key].push(who === 'mpi4py' ? await mpi4py(n) : await node(n, who));
    }
  }
}
const load1 = os.loadavg();

let commit = opts.commit ?? 'unknown';
if (opts.commit === undefined)
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '') commit += ' + local changes';
  } catch {}

const nodeKeys = modes.map((m) => `node-ucx:${m ?? 'default'}`);
const label = (k) => (k === 'node-ucx:default' ? 'node-ucx' : `node-ucx (${k.slice('node-ucx:'.length)})`);
const lines = [];
lines.push(
  `Generated by \`node bench/mpi/run.mjs --ranks ${opts.ranks} --reps ${reps}${opts.progress ? ` --progress ${opts.progress}` : ''}${opts.only ? ` --only ${opts.only}` : ''}${opts.doc ? ` --doc ${opts.doc}` : ''}\` ` +
    `on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (node-ucx ${commit}), ${os.cpus().length} CPUs, load average ` +
    `${load0.map((l) => l.toFixed(2)).join(' ')} at the start and ${load1.map((l) => l.toFixed(2)).join(' ')} at the end. ` +
    `Medians of ${reps} interleaved repetitions (fresh processes each), µs per operation; the ratio is node-ucx ÷ mpi4py (P8: ≤ 1.5×).`,
);
for (const n of rankCounts) {
  lines.push('', `${n} ranks on ${os.cpus().length} cores:`, '');
  const head = ['operation', ...nodeKeys.map(label), 'mpi4py', ...nodeKeys.map((k) => `${label(k)} / mpi4py`), '≤ 1.5×'];
  lines.push(
    `| ${head.join(' | ')} |`,
    `| :-- | ${head
      .slice(1)
      .map(() => '--:')
      .join(' | ')} |`,
  );
  for (const [key, name] of ROWS) {
    const ref = median(raw[n].mpi4py.map((r) => r[key]));
    const mine = nodeKeys.map((k) => median(raw[n][k].map((r) => r[key])));
    const ratios = mine.map((v) => v / ref);
    lines.push(
      `| ${name} | ${mine.map(fmt).join(' | ')} | ${fmt(ref)} | ${ratios.map((r) => `${r.toFixed(2)}×`).join(' | ')} | ${ratios[0] <= 1.5 ? 'yes' : 'no'} |`,
    );
  }
}
const text = lines.join('\n');
console.log(text);
if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ started: started.toISOString(), commit, load: [load0, load1], reps, raw }, null, 2));
if (opts.doc) {
  const file = path.join(root, 'docs/performance.md');
  const doc = fs.readFileSync(file, 'utf8');
  const start = `<!-- bench:mpi-${opts.doc}:start -->`;
  const end = `<!-- bench:mpi-${opts.doc}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/performance.md has no ${start} … ${end} block`);
  fs.writeFileSync(file, `${doc.slice(0, i + start.length)}\n${text}\n${doc.slice(j)}`);
  log(`rewrote the ${opts.doc} block of docs/performance.md`);
}
