#!/usr/bin/env node
// npm run bench:scheduler: node-ucx/scheduler against Dask distributed on the same workloads (S1–S8 of
// docs/performance.md), in the same run, each on a LocalCluster of 2 worker processes × 1 thread.
// Each workload runs in fresh processes, node-ucx then Dask, and the table shows medians and ratios.
//
//   node bench/scheduler/run.mjs [--quick] [--only S1,S3] [--s6] [--reps N] [--doc [FILE]] [--json FILE]
//                                [--no-dask] [--no-install] [--python PATH]
//
// Dask is Debian's python3-distributed (with python3-numpy); when no Python here can import it, the
// script installs it with apt-get if it runs as root (not with --no-install), else it runs node-ucx alone.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SIZES } from './workloads.mjs';
import { tableRows, textTable, renderBlock, replaceBlock } from './report.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const ALL = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8'];

const USAGE = `usage: node bench/scheduler/run.mjs [options]

  --quick          tiny workloads, one repetition (a smoke test, seconds)
  --only LIST      some workloads: S1,S3,... (default: S1-S5, S7, S8)
  --s6             also S6, the 1,000,000-task graph (slow: minutes for node-ucx, much longer for Dask)
  --reps N         repetitions of every workload (default: per workload, 1-3)
  --doc [FILE]     write the table into FILE (default docs/performance.md) between
                   <!-- bench:scheduler:start --> and <!-- bench:scheduler:end -->
  --json FILE      every raw result, as JSON
  --from-json FILE print (and with --doc write) the table of an earlier run's --json, running nothing
  --no-dask        node-ucx alone
  --no-install     do not apt-get install python3-distributed when it is missing
  --python PATH    the Python that has distributed (default: the first of /usr/bin/python3, python3)
  --timeout S      longest one workload may run on one system (default 900; S6 3600)
  --scheduler-config JSON
                   node-ucx's SchedulerConfig for every workload (e.g. '{"workerTimeoutMs":120000}');
                   default: its defaults
  -h, --help       this text`;

function log(message) {
  process.stderr.write(`[bench:scheduler] ${message}\n`);
}

let options;
try {
  options = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      s6: { type: 'boolean' },
      reps: { type: 'string' },
      doc: { type: 'boolean' },
      'doc-file': { type: 'string' },
      json: { type: 'string' },
      'no-dask': { type: 'boolean' },
      'no-install': { type: 'boolean' },
      python: { type: 'string' },
      'from-json': { type: 'string' },
      'scheduler-config': { type: 'string' },
      timeout: { type: 'string' },
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
// --doc FILE: the positional after --doc.
const docFile = args.doc ? path.resolve(args['doc-file'] ?? options.positionals[0] ?? path.join(ROOT, 'docs', 'performance.md')) : null;
const sizes = structuredClone(args.quick ? SIZES.quick : SIZES.full);
if (args.reps !== undefined) {
  const reps = Number(args.reps);
  if (!Number.isInteger(reps) || reps < 1) {
    process.stderr.write('--reps must be an integer >= 1\n');
    process.exit(2);
  }
  for (const config of Object.values(sizes)) config.reps = reps;
}
const workloads = args.only !== undefined ? args.only.split(',').map((s) => s.trim().toUpperCase()) : ALL.filter((id) => id !== 'S6' || args.s6);
for (const id of workloads) {
  if (!ALL.includes(id)) {
    process.stderr.write(`--only: no workload ${id} (${ALL.join(', ')})\n`);
    process.exit(2);
  }
}
const timeoutS = Number(args.timeout ?? 900);
let schedulerConfig = null;
if (args['scheduler-config'] !== undefined) {
  try {
    schedulerConfig = JSON.parse(args['scheduler-config']);
  } catch (error) {
    process.stderr.write(`--scheduler-config: not JSON (${error.message})\n`);
    process.exit(2);
  }
}

/** A Python that can import distributed, numpy and psutil (null: none). */
function findPython() {
  const candidates = args.python !== undefined ? [args.python] : ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    try {
      execFileSync(python, ['-c', 'import distributed, numpy, psutil'], { stdio: 'ignore' });
      return python;
    } catch {
      // not this one
    }
  }
  return null;
}

function daskPython() {
  if (args['no-dask']) return null;
  let python = findPython();
  if (python !== null || args['no-install'] || args.python !== undefined) return python;
  if (process.getuid?.() !== 0) {
    log('Dask distributed is not installed and this is not root: running node-ucx alone (apt-get install python3-distributed python3-numpy)');
    return null;
  }
  log('installing Dask distributed: apt-get install python3-distributed python3-numpy');
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'python3-distributed', 'python3-numpy', 'python3-psutil'], { stdio: 'inherit', env });
  } catch (error) {
    log(`apt-get failed (${error.message}): running node-ucx alone`);
    return null;
  }
  python = findPython();
  if (python === null) log('python3-distributed is installed but /usr/bin/python3 cannot import it: running node-ucx alone');
  return python;
}

/** Runs one side of one workload; resolves with its JSON result, or { error } (timed out, failed). */
function runSide(command, argv, id, limitS) {
  return new Promise((resolve) => {
    const started = Date.now();
    const env = {
      ...process.env,
      NODE_UCX_CLUSTER_SECRET: undefined,
      BENCH_SCHEDULER_CONFIG: schedulerConfig === null ? undefined : JSON.stringify(schedulerConfig),
    };
    const child = spawn(command, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const line = stdout
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      if (code === 0 && line !== undefined) {
        resolve(JSON.parse(line));
        return;
      }
      const timedOut = signal === 'SIGKILL' && seconds >= limitS - 1;
      resolve({ error: timedOut ? `timed out after ${limitS} s` : `exited with ${signal ?? code}`, timedOut, seconds, stderr: stderr.slice(-2000) });
    });
  });
}

function loadAverage() {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

async function main() {
  const saved = args['from-json'] !== undefined ? JSON.parse(fs.readFileSync(args['from-json'], 'utf8')) : null;
  const run = saved ?? (await measure());
  report(run, saved !== null);
}

async function measure() {
  const python = daskPython();
  const daskVersion = python === null ? null : execFileSync(python, ['-c', 'import distributed; print(distributed.__version__)'], { encoding: 'utf8' }).trim();
  const loadStart = loadAverage();
  log(
    `workloads ${workloads.join(', ')}${args.quick ? ' (quick)' : ''}; Dask: ${python === null ? 'not run' : `${daskVersion} (${python})`}; load average ${loadStart}`,
  );
  const reference = {};
  if (workloads.includes('S4') && !args.quick) {
    try {
      const out = execFileSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'ucx-bench.js'), '-t', 'ep_bw', '-s', '1M', '--json'], {
        encoding: 'utf8',
        timeout: 120_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      reference.bandwidthMBps = JSON.parse(out).results[0].bw_MBps;
      log(`transport reference for S4: ep_bw 1 MiB ${reference.bandwidthMBps.toFixed(0)} MB/s (ucx-bench)`);
    } catch (error) {
      log(`no transport reference for S4 (ucx-bench failed: ${error.message})`);
    }
  }
  const results = {};
  for (const id of workloads) {
    const config = sizes[id];
    const limit = id === 'S6' ? Math.max(timeoutS, 3600) : timeoutS;
    results[id] = {};
    log(`${id} node-ucx ${JSON.stringify(config)}`);
    const node = await runSide(process.execPath, [path.join(HERE, 'node-bench.mjs'), id, JSON.stringify(config)], id, limit);
    if (node.error) log(`${id} node-ucx failed: ${node.error}\n${node.stderr}`);
    else results[id].node = node;
    if (python !== null) {
      log(`${id} Dask`);
      const dask = await runSide(python, [path.join(HERE, 'dask_bench.py'), id, JSON.stringify(config)], id, limit);
      if (dask.timedOut && (id === 'S5' || id === 'S6')) {
        results[id].dask = { system: 'dask', workload: id, summary: { timedOut: true, seconds: dask.seconds, tasks: results[id].node?.summary.tasks } };
        log(`${id} Dask stopped after ${limit} s`);
      } else if (dask.error) {
        log(`${id} Dask failed: ${dask.error}\n${dask.stderr}`);
      } else {
        results[id].dask = dask;
      }
    }
  }
  const loadEnd = loadAverage();
  const run = {
    date: new Date().toISOString(),
    command: process.argv.slice(2),
    workloads,
    sizes,
    reference,
    schedulerConfig,
    loadStart,
    loadEnd,
    dask: daskVersion,
    results,
  };
  if (args.json !== undefined) {
    fs.writeFileSync(args.json, `${JSON.stringify(run, null, 2)}\n`);
    log(`raw results in ${args.json}`);
  }
  return run;
}

function report(run, replayed) {
  const { sizes, reference, loadStart, loadEnd, dask: daskVersion, results } = run;
  const workloads = run.workloads ?? Object.keys(results);
  const rows = tableRows(results, sizes, reference);
  process.stdout.write(
    `\nnode-ucx/scheduler against Dask distributed ${daskVersion ?? '(not run)'}: LocalCluster, 2 workers × 1 thread; load average ${loadStart} → ${loadEnd}\n\n`,
  );
  process.stdout.write(`${textTable(rows)}\n`);
  const failed = workloads.filter((id) => results[id].node === undefined);
  if (docFile !== null) {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const flags = replayed
      ? (run.command ?? (run.sizes.S1?.tasks === SIZES.quick.S1.tasks ? ['--quick'] : [])).filter(
          (a) => a !== '--doc' && !a.startsWith('--doc-file') && !a.startsWith('--json'),
        )
      : process.argv.slice(2).filter((a) => ['--quick', '--s6'].includes(a));
    const block = renderBlock(rows, {
      command: `npm run bench:scheduler -- --doc${flags.includes('--quick') ? ' --quick' : ''}${flags.includes('--s6') ? ' --s6' : ''}`,
      date: run.date.slice(0, 10),
      version: pkg.version,
      dask: daskVersion,
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      loadStart,
      loadEnd,
      repsText: `repetitions (${workloads.map((id) => `${id} ${sizes[id].reps}`).join(', ')}; fresh processes per workload)`,
      rawNote:
        '`npm run bench:scheduler -- --json FILE` writes every repetition of both systems.' +
        (run.schedulerConfig ? ` node-ucx's scheduler ran with ${JSON.stringify(run.schedulerConfig)}.` : ''),
    });
    fs.writeFileSync(docFile, replaceBlock(fs.readFileSync(docFile, 'utf8'), block));
    log(`wrote the table into ${docFile}`);
  }
  if (failed.length > 0) {
    log(`node-ucx failed on ${failed.join(', ')}`);
    process.exit(1);
  }
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
