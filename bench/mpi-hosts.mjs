#!/usr/bin/env node
// npm run bench:mpi-hosts: the 8-byte ping-pong of node-ucx/mpi between two "hosts" (two network namespaces
// of this machine joined by a veth pair, as in test/net) next to ucx_perftest's tag_lat between the same
// two namespaces, in the same run. Needs root (it makes the namespaces, with addresses only inside them, and
// removes them at the end whatever happens).
//
//   MPI: ucx-run --hosts A:1,B:1 --launcher-agent test/net/fixtures/netns-agent.sh, started inside A, runs
//        test/net/fixtures/mpi-hosts.mjs (rank 0 on A, rank 1 on B reached through `ip netns exec`):
//        - as node-ucx/mpi chooses (NODE_UCX_MPI_ERROR_HANDLING=auto: another network namespace is another
//          node, so 'peer' error handling and TCP over the veth link), event and poll progress;
//        - NODE_UCX_MPI_ERROR_HANDLING=none (UCX's own choice between the namespaces: shared memory), event
//          and poll progress: the event-mode wake-up across namespaces (docs/mpi.md).
//   node-ucx's core API: ucx-bench --server in B, ucx-bench --client -t tag_lat in A (TCP), the floor under MPI.
//   ucx_perftest -t tag_lat -s 8, server in B, client in A (its address on the veth link), with node-ucx's
//        UCX settings (defaults.ucxConfig, as ucx-bench --compare runs it):
//        - as node-ucx/mpi runs between the namespaces: -e (peer error handling), UCX_MM_ERROR_HANDLING=n;
//        - UCX's own choice: no -e (shared memory).
//
//   node bench/mpi-hosts.mjs [--reps 3] [--iters 5000] [--json FILE] [--doc [FILE]]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parsePerftestRow, perftestEnv } from '../dist/cli/bench/perftest.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const UCX_RUN = path.join(ROOT, 'dist', 'cli', 'ucx-run.js');
const FIXTURE = path.join(ROOT, 'test', 'net', 'fixtures', 'mpi-hosts.mjs');
const AGENT = path.join(ROOT, 'test', 'net', 'fixtures', 'netns-agent.sh');
const BLOCK_START = '<!-- bench:mpi-hosts -->';
const BLOCK_END = '<!-- /bench:mpi-hosts -->';

const USAGE = `usage: node bench/mpi-hosts.mjs [options]   (as root)

  --reps N      runs of every case, interleaved; medians are shown (default 3)
  --iters N     round trips of a TCP or poll-mode case (default 5000; the event-mode shared-memory case,
                some milliseconds a round trip, does a tenth of them)
  --json FILE   every raw result, as JSON
  --doc [FILE]  write the table into FILE (default docs/mpi.md) between ${BLOCK_START} and ${BLOCK_END}
  -h, --help    this text`;

let options;
try {
  options = parseArgs({
    args: process.argv.slice(2),
    options: {
      reps: { type: 'string', default: '3' },
      iters: { type: 'string', default: '5000' },
      json: { type: 'string' },
      doc: { type: 'boolean' },
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
const reps = Number(args.reps);
const iters = Number(args.iters);
if (!Number.isInteger(reps) || reps < 1 || !Number.isInteger(iters) || iters < 100) {
  process.stderr.write('--reps must be an integer >= 1 and --iters one >= 100\n');
  process.exit(2);
}
const docFile = args.doc ? path.resolve(options.positionals[0] ?? path.join(ROOT, 'docs', 'mpi.md')) : null;

function log(message) {
  process.stderr.write(`[bench:mpi-hosts] ${message}\n`);
}

if (process.getuid?.() !== 0) {
  process.stderr.write('bench:mpi-hosts: needs root (it creates two network namespaces)\n');
  process.exit(2);
}
for (const [tool, argv] of [
  ['ip', ['netns', 'list']],
  ['unshare', ['--uts', 'true']],
  ['ucx_perftest', ['-h']],
]) {
  try {
    execFileSync(tool, argv, { stdio: 'ignore' });
  } catch (error) {
    if (error.code === 'ENOENT' || tool !== 'ucx_perftest') {
      process.stderr.write(`bench:mpi-hosts: ${tool} is missing or does not work here (iproute2, util-linux, ucx-utils)\n`);
      process.exit(2);
    }
  }
}

// ---- the two hosts ----
const id = process.pid % 100000;
const A = { ns: `nucx-bench-a-${id}`, dev: `nubha${id}`.slice(0, 15), ip: '10.219.0.1' };
const B = { ns: `nucx-bench-b-${id}`, dev: `nubhb${id}`.slice(0, 15), ip: '10.219.0.2' };
const ip = (...argv) => execFileSync('ip', argv, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

const children = new Set();
let removed = false;
function removeHosts() {
  if (removed) return;
  removed = true;
  for (const child of children) child.kill('SIGKILL');
  for (const host of [A, B]) {
    try {
      ip('netns', 'del', host.ns);
    } catch {
      /* not there */
    }
  }
}
process.on('exit', removeHosts);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    removeHosts();
    process.exit(128 + os.constants.signals[signal]);
  });
}

async function createHosts() {
  for (const host of [A, B]) ip('netns', 'add', host.ns);
  ip('link', 'add', A.dev, 'netns', A.ns, 'type', 'veth', 'peer', 'name', B.dev, 'netns', B.ns);
  for (const host of [A, B]) {
    ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', host.dev);
    ip('-n', host.ns, 'link', 'set', 'lo', 'up');
    ip('-n', host.ns, 'link', 'set', host.dev, 'up');
  }
  const deadline = Date.now() + 10_000;
  while (![A, B].every((h) => ip('-n', h.ns, 'link', 'show', h.dev).includes('LOWER_UP'))) {
    if (Date.now() > deadline) throw new Error('the veth link did not come up within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `argv` to its end; resolves with its output (rejects on a non-zero exit, or after `ms`). */
function run(command, argv, env, ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(new Error(`${command} ${argv.join(' ')} exited ${code ?? signal}${signal === 'SIGKILL' ? ` (after ${ms / 1000} s?)` : ''}\n${stdout}${stderr}`));
    });
  });
}

// ---- the cases ----
const baseEnv = { ...process.env, UCX_NET_DEVICES: 'all' };
for (const name of ['NODE_UCX_RANK', 'NODE_UCX_SIZE', 'NODE_UCX_RENDEZVOUS', 'NODE_UCX_PROGRESS', 'NODE_UCX_MPI_ERROR_HANDLING']) delete baseEnv[name];

async function mpiPingPong(errorHandling, progress, n) {
  const env = { ...baseEnv, NODE_UCX_MPI_ERROR_HANDLING: errorHandling, NODE_UCX_PROGRESS: progress };
  const argv = [
    'netns',
    'exec',
    A.ns,
    'unshare',
    '--uts',
    'sh',
    '-c',
    'hostname "$0" && exec "$@"',
    A.ns,
    process.execPath,
    UCX_RUN,
    '--hosts',
    `${A.ns}:1,${B.ns}:1`,
    '--launcher-agent',
    AGENT,
    '-x',
    'NODE_UCX_MPI_ERROR_HANDLING',
    '-x',
    'NODE_UCX_PROGRESS',
    'node',
    FIXTURE,
    'check',
    String(n),
  ];
  const { stdout } = await run('ip', argv, env, 300_000);
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  const report = JSON.parse(line);
  const r0 = report.ranks[0];
  return {
    halfRttUs: r0.halfRttUs,
    medianHalfRttUs: r0.medianHalfRttUs,
    transports: r0.transports['1'].transports,
    errorHandling: r0.transports['1'].errorHandling,
  };
}

let port = 13000 + (process.pid % 1000);
async function perftest(errorMode, ucx, n) {
  const env = { ...perftestEnv(ucx), UCX_NET_DEVICES: 'all' };
  const p = port++;
  const server = run('ip', ['netns', 'exec', B.ns, 'ucx_perftest', '-p', String(p), ...(errorMode ? ['-e'] : [])], env, 300_000);
  server.catch(() => {});
  const clientArgs = [
    'netns',
    'exec',
    A.ns,
    'ucx_perftest',
    B.ip,
    '-p',
    String(p),
    '-t',
    'tag_lat',
    '-s',
    '8',
    '-n',
    String(n),
    '-w',
    String(Math.ceil(n / 10)),
    '-f',
    ...(errorMode ? ['-e'] : []),
  ];
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      const { stdout, stderr } = await run('ip', clientArgs, env, 300_000);
      await server;
      const row = parsePerftestRow(`${stdout}\n${stderr}`, 'tag_lat');
      if (row === null) throw new Error(`no result row in ucx_perftest's output:\n${stdout}${stderr}`);
      return { halfRttUs: row.latAvgUs, medianHalfRttUs: row.latP50Us };
    } catch (error) {
      if (!/connect\(\) failed|Connection refused/i.test(error.message) || Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** node-ucx's core API (ucx-bench tag_lat: Endpoint send, Worker tag receive), server in B, client in A, over TCP. */
async function coreTagLat(n) {
  const env = { ...baseEnv };
  const settings = ['--ucx', 'MM_ERROR_HANDLING=n'];
  const server = spawn(
    'ip',
    ['netns', 'exec', B.ns, process.execPath, path.join(ROOT, 'dist', 'cli', 'ucx-bench.js'), '--server', '--port', '0', '--host', B.ip, ...settings],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(server);
  try {
    const listening = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`ucx-bench --server did not start within 30 s: ${out}`)), 30_000);
      server.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
        const m = /server on [\d.]+:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      server.stderr.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
      });
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`ucx-bench --server exited ${code}: ${out}`));
      });
    });
    const { stdout } = await run(
      'ip',
      [
        'netns',
        'exec',
        A.ns,
        process.execPath,
        path.join(ROOT, 'dist', 'cli', 'ucx-bench.js'),
        '--client',
        `${B.ip}:${listening}`,
        '-t',
        'tag_lat',
        '-s',
        '8',
        '-n',
        String(n),
        '--json',
        ...settings,
      ],
      env,
      300_000,
    );
    const report = JSON.parse(stdout);
    const row = report.results[0];
    return { halfRttUs: row.lat_avg_us, medianHalfRttUs: row.lat_p50_us, transports: report.transports };
  } finally {
    server.kill('SIGTERM');
    children.delete(server);
  }
}

const CASES = [
  {
    id: 'core-tcp-event',
    what: "node-ucx's core API (`ucx-bench -t tag_lat`: `Endpoint` tag send, `Worker` tag receive), peer error handling, `MM_ERROR_HANDLING=n` (TCP), `event` progress",
    run: () => coreTagLat(iters),
  },
  {
    id: 'mpi-tcp-event',
    what: 'node-ucx/mpi `Send`/`Recv`, as it chooses (TCP, peer error handling), `event` progress',
    run: () => mpiPingPong('auto', 'event', iters),
  },
  { id: 'mpi-tcp-poll', what: 'node-ucx/mpi, as it chooses (TCP), `poll` progress', run: () => mpiPingPong('auto', 'poll', iters) },
  {
    id: 'perftest-tcp',
    what: "ucx_perftest tag_lat with node-ucx/mpi's settings between the namespaces (`-e`, `UCX_MM_ERROR_HANDLING=n`: TCP)",
    run: () => perftest(true, { MM_ERROR_HANDLING: 'n' }, iters),
  },
  {
    id: 'mpi-shm-event',
    what: "node-ucx/mpi with `NODE_UCX_MPI_ERROR_HANDLING=none` (UCX's own choice: shared memory), `event` progress",
    run: () => mpiPingPong('none', 'event', Math.max(100, Math.floor(iters / 10))),
  },
  { id: 'mpi-shm-poll', what: 'the same, `poll` progress', run: () => mpiPingPong('none', 'poll', iters) },
  { id: 'perftest-shm', what: 'ucx_perftest tag_lat as UCX chooses (no `-e`: shared memory)', run: () => perftest(false, {}, iters * 10) },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const raw = Object.fromEntries(CASES.map((c) => [c.id, []]));
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const info = { date: new Date().toISOString().slice(0, 16).replace('T', ' '), cpus: os.cpus().length, loadStart: load() };
try {
  await createHosts();
  log(`hosts ${A.ns} (${A.ip}) and ${B.ns} (${B.ip}), veth ${A.dev} <-> ${B.dev}`);
  for (let rep = 0; rep < reps; rep++) {
    for (const c of CASES) {
      log(`rep ${rep + 1}/${reps}: ${c.id}`);
      raw[c.id].push(await c.run());
    }
  }
} finally {
  removeHosts();
}
info.loadEnd = load();

const us = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const rows = CASES.map((c) => {
  const rs = raw[c.id];
  const mean = median(rs.map((r) => r.halfRttUs));
  const p50 = median(rs.map((r) => r.medianHalfRttUs));
  const transports = rs[0].transports ? rs[0].transports.join(', ') : '';
  return { ...c, mean, p50, transports };
});
const by = Object.fromEntries(rows.map((r) => [r.id, r]));
const ratio = (a, b) => `${(by[a].p50 / by[b].p50).toFixed(1)} ×`;
const header = ['case', 'transports (rank 0 → 1)', 'half round trip, median µs', 'mean µs'];
const table = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${r.what} | ${r.transports || '—'} | ${us(r.p50)} | ${us(r.mean)} |`),
].join('\n');
const summary =
  `Generated by \`npm run bench:mpi-hosts -- --doc\` on ${info.date} UTC: 8 B ping-pong between two network namespaces ` +
  `joined by a veth pair, ${reps} runs of each case interleaved (medians), ${iters} round trips a run (event-mode shared memory: ` +
  `${Math.max(100, Math.floor(iters / 10))}; ucx_perftest over shared memory: ${iters * 10}), ${info.cpus} CPUs, load average ${info.loadStart} at the start ` +
  `and ${info.loadEnd} at the end. Ratios of medians: node-ucx/mpi over TCP ÷ ucx_perftest over TCP ${ratio('mpi-tcp-event', 'perftest-tcp')} (event), ` +
  `${ratio('mpi-tcp-poll', 'perftest-tcp')} (poll), the core API over TCP ÷ ucx_perftest ${ratio('core-tcp-event', 'perftest-tcp')}; shared memory across the namespaces in event mode ÷ TCP in event mode ${ratio('mpi-shm-event', 'mpi-tcp-event')}. ` +
  'This block is rewritten by that command; everything outside it is written by hand.';
process.stdout.write(`${summary}\n\n${table}\n`);
if (args.json) fs.writeFileSync(args.json, `${JSON.stringify({ info, reps, iters, raw }, null, 2)}\n`);
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
