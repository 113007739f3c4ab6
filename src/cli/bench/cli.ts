// ucx-bench: how fast is this link from Node? Latency, bandwidth and message
// rate of every node-ucx data path, against its own peer process on loopback
// (default) or a `ucx-bench --server` on another machine; --compare adds raw
// UCX (ucx_perftest) in the same run. See docs/performance.md. The executable
// is ucx-bench.ts, which sets up the environment before this module loads UCX.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Server as NetServer } from 'node:net';
import os from 'node:os';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Context, version, type Endpoint, type Feature, type Worker } from '../../index.js';
import * as cuda from '../../cuda.js';
import { parseBenchArgs, planCases, formatSize, UsageError, USAGE, TESTS, TEST_NAMES, type BenchOptions, type Case } from './args.js';
import { expectControl, recvControl, sendControl, type PeerInfo, type PerftestJob } from './control.js';
import { runCase, serveCase, withTimeout, type Link } from './tests.js';
import { hasNetBaseline, netServerPort, runNetCase, startNetServer } from './net.js';
import { renderPlotFile, seriesFromRows } from './plot.js';
import { runReport } from './doc-run.js';
import {
  attachNet,
  attachRaw,
  medianRow,
  netResultOf,
  medianRun,
  metricOf,
  renderCsv,
  renderMarkdown,
  renderTable,
  rowToJson,
  toRow,
  type RawResult,
  type ResultRow,
} from './report.js';
import { findExecutable, freePorts, perftestEnv, runPerftest, servePerftest, ucxInfoDevices, PERFTEST_MISSING } from './perftest.js';

/** The executable (ucx-bench.js, next to this module): the peer process runs it too. */
/** The benchmark measures every family, RMA and atomics included, between its own two processes. */
const ALL_FEATURES: Feature[] = ['tag', 'stream', 'am', 'rma', 'amo'];
const SCRIPT = fileURLToPath(new URL('../ucx-bench.js', import.meta.url));
const HELLO_TIMEOUT_MS = 30_000;
/** How the peer announces its port on stdout (UCX may print its own warnings there too). */
const PEER_PORT_LINE = 'ucx-bench-peer-port=';

function errorMessage(error: unknown): string {
  // NODE_UCX_BENCH_DEBUG=1: whole stacks, for reports. (Not UCX_*: UCX warns about variables it does not know.)
  if (process.env.NODE_UCX_BENCH_DEBUG && error instanceof Error && error.stack) return error.stack;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** Creates the Context, with the --ucx settings; fails clearly on --mem cuda without CUDA. */
function openContext(options: BenchOptions): Context {
  const context = new Context({ features: ALL_FEATURES, config: options.ucx });
  if (options.mem === 'cuda') {
    const types = context.memoryTypes;
    const gpu = cuda.available();
    if (!types.includes('cuda') || !gpu.ok) {
      context.close();
      throw new UsageError(
        !types.includes('cuda')
          ? `--mem cuda: this UCX build has no CUDA support (its memory types: ${types.join(', ')}); use a UCX built --with-cuda`
          : `--mem cuda: no usable GPU: ${gpu.reason}`,
      );
    }
    const rma = options.tests.find((test) => TESTS[test].family === 'put' || TESTS[test].family === 'get');
    if (rma !== undefined && !context.rmaMemoryTypes.includes('cuda')) {
      context.close();
      throw new UsageError(
        `--mem cuda: ${rma} needs UCX's memory-type-aware protocols, which UCX ${version.ucx} does not use ` +
          `by default (its v1 RMA copies as host memory); add --ucx PROTO_ENABLE=y`,
      );
    }
  }
  return context;
}

function createWorker(context: Context, options: BenchOptions): Worker {
  return context.createWorker({ progress: options.progress, ...(options.errorHandling ? { errorHandling: options.errorHandling } : {}) });
}

/** Closes an endpoint at the end of a session; a failure to close is reported on stderr, not fatal (the results stand). */
async function closeEndpoint(ep: Endpoint, who: string): Promise<void> {
  try {
    await ep.close();
  } catch (error) {
    process.stderr.write(`ucx-bench ${who}: warning: closing the endpoint failed: ${errorMessage(error)}\n`);
  }
}

// ---- server (--server, and the hidden --peer that the default run starts) ----

interface PerftestPlan {
  file: string;
  jobs: PerftestJob[];
  ports: number[];
  env: Record<string, string>;
  errorMode: boolean;
}

function peerInfo(worker: Worker): PeerInfo {
  return {
    binding: version.binding,
    ucx: version.ucx,
    progress: worker.progressMode,
    errorHandling: worker.errorHandling,
    memoryTypes: worker.context.memoryTypes,
    pid: process.pid,
    hostname: os.hostname(),
    perftest: findExecutable('ucx_perftest') !== null,
  };
}

/** Serves one client until it says bye or asks for ucx_perftest servers (returned, to run once the connection is closed). */
async function serveConnection(link: Link, options: BenchOptions): Promise<PerftestPlan | null> {
  // --baseline tcp: a node:net server for this connection, started when the client asks for it.
  const net: { server: NetServer | null } = { server: null };
  try {
    return await serveMessages(link, options, async () => {
      net.server ??= await startNetServer(options.role === 'peer' ? '127.0.0.1' : options.host);
      return netServerPort(net.server);
    });
  } finally {
    net.server?.close();
  }
}

async function serveMessages(link: Link, options: BenchOptions, netPort: () => Promise<number>): Promise<PerftestPlan | null> {
  const { ep } = link;
  const hello = await expectControl(ep, 'hello', HELLO_TIMEOUT_MS);
  if (hello.binding !== version.binding) {
    process.stderr.write(`ucx-bench server: the client runs node-ucx ${hello.binding}, this server ${version.binding}\n`);
  }
  await sendControl(ep, { type: 'welcome', peer: peerInfo(link.worker) });
  for (;;) {
    const message = await recvControl(ep);
    switch (message.type) {
      case 'run':
        try {
          await serveCase(link, message, options.timeoutMs, options.role === 'peer' ? '127.0.0.1' : options.host);
        } catch (error) {
          await sendControl(ep, { type: 'error', message: errorMessage(error) }).catch(() => {});
          throw error;
        }
        break;
      case 'perftest': {
        const file = findExecutable('ucx_perftest');
        if (file === null) {
          await sendControl(ep, { type: 'perftest-ports', ports: null, reason: PERFTEST_MISSING });
          return null;
        }
        const ports = await freePorts(message.jobs.length);
        await sendControl(ep, { type: 'perftest-ports', ports, reason: null });
        return { file, jobs: message.jobs, ports, env: message.env, errorMode: message.errorMode };
      }
      case 'net':
        await sendControl(ep, { type: 'net-port', port: await netPort() });
        break;
      case 'bye':
        // Answer, then close at once: both ends close together, so neither sees the other's disconnect as an error.
        await sendControl(ep, { type: 'bye' });
        return null;
      default:
        throw new Error(`unexpected '${message.type}' from the client`);
    }
  }
}

async function runServer(options: BenchOptions): Promise<number> {
  const isPeer = options.role === 'peer';
  const context = openContext(options);
  const worker = createWorker(context, options);
  const listener = await worker.listen({ host: isPeer ? '127.0.0.1' : options.host, port: isPeer ? 0 : options.port });
  if (isPeer) {
    // The client reads this line; when the client goes away, so does the peer (its stdin closes).
    process.stdout.write(`${PEER_PORT_LINE}${listener.port}\n`);
    process.stdin.on('end', () => process.exit(0)).resume();
  } else {
    process.stdout.write(
      `ucx-bench server on ${listener.host}:${listener.port} (node-ucx ${version.binding}, UCX ${version.ucx}, ` +
        `progress ${worker.progressMode}, error handling ${worker.errorHandling}); clients: ucx-bench --client HOST:${listener.port}\n`,
    );
  }
  let status = 0;
  for await (const ep of listener) {
    let plan: PerftestPlan | null = null;
    try {
      plan = await serveConnection({ context, worker, ep }, options);
    } catch (error) {
      process.stderr.write(`ucx-bench ${isPeer ? 'peer' : 'server'}: ${errorMessage(error)}\n`);
      status = 1;
    }
    await closeEndpoint(ep, isPeer ? 'peer' : 'server');
    if (plan !== null) {
      // One ucx_perftest server per job, each on its own port, one after the other.
      for (let i = 0; i < plan.jobs.length; i++) {
        await servePerftest(plan.file, plan.ports[i]!, plan.errorMode, perftestEnv(plan.env), options.timeoutMs + 30_000, options.pin ? 0 : null);
      }
    }
    if (isPeer) break;
  }
  await listener.close();
  await worker.close();
  context.close();
  return status;
}

// ---- client (the default run, and --client) ----

interface PeerProcess {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

/** Starts this script with --peer and the same settings; resolves once it listens. */
async function spawnPeer(options: BenchOptions): Promise<PeerProcess> {
  const args = [...process.execArgv, SCRIPT, '--peer', '--progress', options.progress, '--timeout', String(options.timeoutMs / 1000)];
  if (options.errorHandling !== null) args.push('--error-handling', options.errorHandling);
  for (const [key, value] of Object.entries(options.ucx)) args.push('--ucx', `${key}=${value}`);
  if (options.pin) args.push('--pin');
  // --pin: the peer on CPU 0 (this process runs on CPU 1: ucx-bench.ts re-ran it under taskset).
  const child = options.pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = readline.createInterface({ input: child.stdout! });
  let announced: ((port: number) => void) | undefined;
  // Anything else the peer prints on stdout (UCX warnings) goes to our stderr.
  lines.on('line', (line) => {
    if (announced !== undefined && line.startsWith(PEER_PORT_LINE)) announced(Number(line.slice(PEER_PORT_LINE.length)));
    else process.stderr.write(`peer: ${line}\n`);
  });
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      announced = resolve;
      child.once('exit', (code, signal) => reject(new Error(`the peer process exited (${signal ?? `code ${code}`}) before it listened`)));
      child.once('error', reject);
    }),
    HELLO_TIMEOUT_MS,
    'starting the peer process',
  );
  announced = undefined;
  return { child, port, exited };
}

/**
 * A one-line progress indicator on stderr, only when stderr is a terminal (NODE_UCX_BENCH_PROGRESS=1:
 * one plain line per step instead, for logs and tests).
 */
class ProgressLine {
  readonly #enabled = process.stderr.isTTY === true;
  readonly #lines = process.env.NODE_UCX_BENCH_PROGRESS === '1';
  #shown = false;

  update(text: string): void {
    if (this.#lines) {
      process.stderr.write(`${text}\n`);
      return;
    }
    if (!this.#enabled) return;
    process.stderr.write(`\r\x1b[K${text}`);
    this.#shown = true;
  }

  clear(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}

interface CompareOutcome {
  available: boolean;
  note: string | null;
}

/** --compare: the server starts ucx_perftest servers after this connection closes; we run the clients. */
async function requestPerftest(
  ep: Endpoint,
  peer: PeerInfo,
  jobs: PerftestJob[],
  options: BenchOptions,
  errorMode: boolean,
): Promise<{ ports: number[]; file: string } | CompareOutcome> {
  const file = findExecutable('ucx_perftest');
  if (file === null) return { available: false, note: PERFTEST_MISSING };
  if (!peer.perftest) return { available: false, note: `ucx_perftest not found on the server (${peer.hostname}); no raw UCX column` };
  if (jobs.length === 0) return { available: true, note: 'no test in this run has a ucx_perftest counterpart' };
  await sendControl(ep, { type: 'perftest', jobs, env: options.ucx, errorMode });
  const answer = await expectControl(ep, 'perftest-ports', HELLO_TIMEOUT_MS);
  if (answer.ports === null) return { available: false, note: `server: ${answer.reason ?? 'no ucx_perftest'}` };
  return { ports: answer.ports, file };
}

/**
 * --compare, client side: runs ucx_perftest for every job (job k belongs to jobRows[k % jobRows.length]) against
 * the servers the peer starts, and gives each row the median ucx_perftest run. Returns warnings.
 */
async function runPerftestJobs(
  plan: { ports: number[]; file: string },
  jobs: PerftestJob[],
  jobRows: ResultRow[],
  host: string,
  errorMode: boolean,
  options: BenchOptions,
  serverAlive: () => boolean,
  progress: ProgressLine,
): Promise<string[]> {
  // Nothing of node-ucx runs now: ucx_perftest has the CPUs to itself.
  const env = perftestEnv(options.ucx);
  const raws: RawResult[][] = jobRows.map(() => []);
  const failures: (string | null)[] = jobRows.map(() => null);
  const warnings: string[] = [];
  let serverGone = false;
  for (const [k, job] of jobs.entries()) {
    const i = k % jobRows.length;
    if (serverGone) {
      failures[i] ??= 'skipped: the ucx_perftest server side stopped answering';
      continue;
    }
    progress.update(`[${k + 1}/${jobs.length}] ucx_perftest ${job.test} ${formatSize(job.size)} ...`);
    const raw = await runPerftest(plan.file, host, plan.ports[k]!, job, errorMode, env, options.timeoutMs + 30_000, serverAlive, options.pin ? 1 : null);
    if ('error' in raw) {
      warnings.push(raw.error);
      serverGone = raw.refused;
      failures[i] ??= raw.error;
    } else {
      raws[i]!.push(raw);
    }
  }
  progress.clear();
  for (const [i, row] of jobRows.entries()) {
    const metric = TESTS[row.test].metric;
    if (raws[i]!.length === 0) {
      attachRaw(row, { error: failures[i] ?? 'no result' });
      continue;
    }
    attachRaw(row, medianRun(raws[i]!, metric));
    if (options.repeat > 1) row.rawRuns = raws[i]!.map((raw) => metricOf(metric, raw));
  }
  return warnings;
}

async function runClient(options: BenchOptions): Promise<number> {
  const cases = planCases(options);
  const context = openContext(options);
  let peer: PeerProcess | null = null;
  try {
    if (options.role === 'loopback') peer = await spawnPeer(options);
    const target = peer !== null ? { host: '127.0.0.1', port: peer.port } : options.connect!;
    const worker = createWorker(context, options);
    const ep = await worker.connect(target);
    const link: Link = { context, worker, ep };
    await sendControl(ep, { type: 'hello', binding: version.binding });
    const { peer: server } = await expectControl(ep, 'welcome', HELLO_TIMEOUT_MS);
    const transports = ep.info().transports;

    const progress = new ProgressLine();
    const warnings: string[] = [];
    const repeat = options.repeat;
    // Repetitions go round all the cases, so slow drift on the machine spreads over every case alike.
    const measured: ResultRow[][] = cases.map(() => []);
    // Ctrl-C while measuring: what was measured so far, then one clean line, and exit 130.
    let finished = 0;
    const onInterrupt = (): void => {
      progress.clear();
      const done = measured.filter((runs) => runs.length > 0).map(medianRow);
      const total = repeat * cases.length;
      if (done.length > 0) {
        report(options, done, { server, transports, target, compare: null, loopback: peer !== null, interrupted: { finished, of: total } });
      } else if (options.format === 'json') {
        report(options, [], { server, transports, target, compare: null, loopback: peer !== null, interrupted: { finished, of: total } });
      }
      process.stderr.write(
        `${process.stderr.isTTY ? '\r\x1b[K' : ''}ucx-bench: interrupted after ${finished} of ${total} measurements` +
          `${done.length > 0 ? `; the rows above are the ${done.length} finished` : '; nothing finished yet'}\n`,
      );
      if (peer !== null) peer.child.kill('SIGKILL');
      process.exit(130);
    };
    process.once('SIGINT', onInterrupt);
    try {
      let runId = 0;
      for (let r = 0; r < repeat; r++) {
        for (const [i, c] of cases.entries()) {
          progress.update(`[${r * cases.length + i + 1}/${repeat * cases.length}] ${c.test} ${formatSize(c.size)} × ${c.iters} ...`);
          const row = toRow(c, await runCase(link, c, ++runId, options.timeoutMs, target.host), options.percentile);
          if (row.check !== null) warnings.push(`${c.test} ${formatSize(c.size)}: ${row.check}`);
          measured[i]!.push(row);
          finished++;
        }
      }
    } finally {
      progress.clear();
      process.removeListener('SIGINT', onInterrupt);
    }
    const rows = measured.map(medianRow);
    if (options.baseline === 'tcp') warnings.push(...(await runNetBaseline(ep, target.host, cases, rows, options, progress)));

    let compare: CompareOutcome | null = null;
    let perftestPlan: { ports: number[]; file: string } | null = null;
    const jobRows = rows.filter((row) => TESTS[row.test].perftest !== null);
    const jobOf = (row: ResultRow): PerftestJob => ({
      test: TESTS[row.test].perftest!,
      size: row.size,
      iters: row.iters,
      warmup: row.warmup,
      mem: options.mem,
    });
    // Job k is jobRows[k % jobRows.length], run k / jobRows.length.
    const jobs = Array.from({ length: repeat }, () => jobRows.map(jobOf)).flat();
    if (options.compare) {
      const outcome = await requestPerftest(ep, server, jobs, options, worker.errorHandling === 'peer');
      if ('ports' in outcome) perftestPlan = outcome;
      else compare = outcome;
    }
    if (perftestPlan === null) {
      await sendControl(ep, { type: 'bye' });
      await expectControl(ep, 'bye', HELLO_TIMEOUT_MS);
    }
    await closeEndpoint(ep, 'client');
    await worker.close();
    context.close();

    if (options.compare) {
      for (const row of rows) attachRaw(row, null);
      if (perftestPlan !== null) {
        const serverAlive = (): boolean => peer === null || (peer.child.exitCode === null && peer.child.signalCode === null);
        const errorMode = server.errorHandling === 'peer';
        warnings.push(...(await runPerftestJobs(perftestPlan, jobs, jobRows, target.host, errorMode, options, serverAlive, progress)));
        compare = { available: true, note: null };
      }
    }

    if (peer !== null) {
      await withTimeout(peer.exited, 10_000, 'the peer process to exit').catch(() => peer?.child.kill('SIGKILL'));
    }
    report(options, rows, { server, transports, target, compare, loopback: peer !== null });
    if (options.plot !== null) writePlot(options.plot, rows);
    for (const warning of warnings) process.stderr.write(`ucx-bench: warning: ${warning}\n`);
    return warnings.some((w) => !w.startsWith('ucx_perftest')) ? 1 : 0;
  } finally {
    if (peer !== null && peer.child.exitCode === null && peer.child.signalCode === null) peer.child.kill('SIGKILL');
  }
}

/**
 * --baseline tcp: the server starts a node:net server; each *_lat and *_bw case runs over it once
 * (same size, iterations, warm-up and window). Returns warnings.
 */
async function runNetBaseline(
  ep: Endpoint,
  host: string,
  cases: readonly Case[],
  rows: ResultRow[],
  options: BenchOptions,
  progress: ProgressLine,
): Promise<string[]> {
  for (const row of rows) attachNet(row, null);
  if (!cases.some((c) => hasNetBaseline(c.test))) return [];
  await sendControl(ep, { type: 'net' });
  const { port } = await expectControl(ep, 'net-port', HELLO_TIMEOUT_MS);
  const warnings: string[] = [];
  try {
    for (const [i, c] of cases.entries()) {
      if (!hasNetBaseline(c.test)) continue;
      progress.update(`[${i + 1}/${cases.length}] net ${c.test} ${formatSize(c.size)} × ${c.iters} ...`);
      try {
        const measurement = await withTimeout(runNetCase(host, port, c), options.timeoutMs, `net ${c.test} ${formatSize(c.size)}`);
        attachNet(rows[i]!, netResultOf(toRow(c, measurement, options.percentile)));
      } catch (error) {
        warnings.push(`net baseline ${c.test} ${formatSize(c.size)}: ${errorMessage(error)}`);
        attachNet(rows[i]!, { error: errorMessage(error) });
      }
    }
  } finally {
    progress.clear();
  }
  return warnings;
}

/** --plot: the SVG (or HTML page) of this run's rows. */
function writePlot(file: string, rows: readonly ResultRow[]): void {
  writeFileSync(file, renderPlotFile(file, seriesFromRows(rows), `ucx-bench, node-ucx ${version.binding}, UCX ${version.ucx}`));
  process.stderr.write(`ucx-bench: wrote ${file}\n`);
}

interface RunContext {
  server: PeerInfo;
  transports: string[];
  target: { host: string; port: number };
  compare: CompareOutcome | null;
  loopback: boolean;
  /** Ctrl-C: how many of the measurements had finished. */
  interrupted?: { finished: number; of: number };
}

function report(options: BenchOptions, rows: ResultRow[], run: RunContext): void {
  const { server } = run;
  const errorHandling = options.errorHandling ?? server.errorHandling;
  if (options.format === 'json') {
    const out = {
      tool: 'ucx-bench',
      version,
      date: new Date().toISOString(),
      argv: process.argv.slice(2),
      topology: run.loopback ? 'loopback' : 'client',
      target: `${run.target.host}:${run.target.port}`,
      client: { hostname: os.hostname(), progress: options.progress, errorHandling, ucx: options.ucx, cpus: os.cpus().length },
      server,
      transports: run.transports,
      percentile: options.percentile,
      repeat: options.repeat,
      perftest: run.compare,
      baseline: options.baseline,
      ...(run.interrupted ? { interrupted: run.interrupted } : {}),
      results: rows.map((row) => rowToJson(row)),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const tableOptions = { percentile: options.percentile, compare: options.compare, baseline: options.baseline !== null };
  if (options.format === 'csv') {
    process.stdout.write(renderCsv(rows, tableOptions));
    return;
  }
  if (options.format === 'markdown') {
    const settings = [
      `progress ${options.progress}`,
      `error handling ${errorHandling}`,
      `transports ${run.transports.join(' ')}`,
      ...Object.entries(options.ucx).map(([k, v]) => `UCX_${k}=${v}`),
    ];
    if (options.repeat > 1) settings.push(`median of ${options.repeat} runs`);
    process.stdout.write(
      `\`ucx-bench ${process.argv
        .slice(2)
        .filter((arg) => arg !== '--markdown')
        .join(' ')}\` — ` +
        `node-ucx ${version.binding}, UCX ${version.ucx}, ${run.loopback ? 'loopback' : `to ${server.hostname}`}, ` +
        `${os.cpus().length} CPUs, ${new Date().toISOString().slice(0, 10)}; ${settings.join(', ')}\n\n`,
    );
    process.stdout.write(renderMarkdown(rows, tableOptions));
    return;
  }
  const where = run.loopback
    ? `loopback (peer pid ${server.pid})`
    : `client of ${run.target.host}:${run.target.port} (${server.hostname}, progress ${server.progress}, error handling ${server.errorHandling})`;
  const settings = Object.entries(options.ucx)
    .map(([k, v]) => `UCX_${k}=${v}`)
    .join(' ');
  process.stdout.write(`ucx-bench: node-ucx ${version.binding} on UCX ${version.ucx}, ${where}, ${os.cpus().length} CPUs\n`);
  process.stdout.write(
    `progress ${options.progress}, error handling ${errorHandling}, transports ${run.transports.join(' ') || '?'}${settings ? `, ${settings}` : ''}\n\n`,
  );
  process.stdout.write(renderTable(rows, tableOptions));
  const hasBandwidth = rows.some((r) => r.window !== null);
  process.stdout.write(
    `\nlatency: half round trip (atomic_lat: one whole operation)${
      hasBandwidth ? "; bandwidth: bytes the receiver has, MB = 2^20 B; bandwidth tests' p50/p99: per message, over windows" : ''
    }\n`,
  );
  if (options.baseline !== null) {
    process.stdout.write(
      'net: Node node:net over TCP between the same hosts (TCP_NODELAY ping-pong; windows acknowledged by the receiver), ' +
        'measured once; node/net: node-ucx ÷ net, read like node/raw\n',
    );
  }
  if (options.repeat > 1) {
    process.stdout.write(`each row is the median of ${options.repeat} runs (by p50 latency, MB/s or msg/s; ucx_perftest likewise); --json lists every run\n`);
  }
  if (run.compare?.note) process.stdout.write(`--compare: ${run.compare.note}\n`);
  if (options.compare && run.compare?.available) {
    process.stdout.write(
      'node/raw: node-ucx ÷ ucx_perftest (same test, size, iterations); for latency above 1 is slower, for MB/s and msg/s below 1 is slower\n',
    );
  }
  if (options.defaultRun) {
    process.stdout.write(
      '\nmore: --compare adds raw UCX (ucx_perftest) and a ratio column; --progress poll gives the lowest latency\n' +
        `(a busy core per side); --error-handling none lets UCX 1.13 use shared memory on one machine ('peer', the default, means TCP);\n` +
        `-t all runs every test (${TEST_NAMES.length}); ucx-bench --help lists the rest.\n`,
    );
  }
}

// ---- info and list ----

/** Which transports UCX picks for a connection between two workers of this process, with this error handling. */
async function probeTransports(context: Context, errorHandling: 'peer' | 'none'): Promise<string[] | string> {
  const serverWorker = context.createWorker({ errorHandling });
  const clientWorker = context.createWorker({ errorHandling });
  try {
    const listener = await serverWorker.listen({ host: '127.0.0.1', port: 0 });
    const accepted = new Promise<Endpoint>((resolve) => listener.once('connection', resolve));
    const ep = await withTimeout(clientWorker.connect({ host: '127.0.0.1', port: listener.port }), 10_000, 'loopback connection');
    const transports = ep.info().transports;
    // The client is connected before the listener has accepted: wait for that, then close both ends
    // together, so that neither sees the other's disconnect as an error.
    const serverEp = await withTimeout(accepted, 10_000, 'the loopback connection to be accepted');
    await listener.close();
    await Promise.all([ep.close(), serverEp.close()]);
    return transports;
  } catch (error) {
    return `failed: ${errorMessage(error)}`;
  } finally {
    await clientWorker.close();
    await serverWorker.close();
  }
}

async function runInfo(options: BenchOptions): Promise<number> {
  const context = new Context({ features: ALL_FEATURES, config: options.ucx });
  const config = context.config();
  const devices = ucxInfoDevices();
  const loopback = { peer: await probeTransports(context, 'peer'), none: await probeTransports(context, 'none') };
  const interesting = ['TLS', 'NET_DEVICES', 'SHM_DEVICES', 'RNDV_THRESH', 'KEEPALIVE_INTERVAL', 'MEMTYPE_CACHE'];
  const settings = Object.fromEntries(interesting.filter((key) => key in config).map((key) => [key, config[key]!]));
  const info = {
    binding: version.binding,
    ucx: version.ucx,
    memoryTypes: context.memoryTypes,
    features: context.features,
    transports: devices,
    loopback,
    config: settings,
    tools: { ucx_perftest: findExecutable('ucx_perftest'), ucx_info: findExecutable('ucx_info') },
  };
  context.close();
  if (options.format === 'json') {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  const show = (value: string[] | string): string => (Array.isArray(value) ? value.join(' ') || '(none reported)' : value);
  const lines = [
    `node-ucx        ${info.binding}`,
    `UCX             ${info.ucx}`,
    `memory types    ${info.memoryTypes.join(', ')}`,
    `features        ${info.features.join(', ')}`,
    `transports      ${devices === null ? '(ucx_info not found: install ucx-utils to list them)' : '(ucx_info -d)'}`,
    ...(devices ?? []).map((t) => `  ${t.transport.padEnd(12)}  ${t.devices.join(', ')}`),
    'loopback endpoint (what UCX picks between two processes on this machine):',
    `  --error-handling peer  ${show(loopback.peer)}`,
    `  --error-handling none  ${show(loopback.none)}`,
    'UCX settings    ' +
      Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join('  '),
    `ucx_perftest    ${info.tools.ucx_perftest ?? 'not found (--compare needs it: apt-get install ucx-utils)'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function listTests(): string {
  const width = Math.max(...TEST_NAMES.map((name) => name.length));
  return (
    TEST_NAMES.map((name) => {
      const t = TESTS[name];
      const raw = t.perftest === null ? '' : `  [ucx_perftest ${t.perftest}]`;
      return `${name.padEnd(width)}  ${t.description} (default sizes ${t.defaultSizes.map(formatSize).join(',')})${raw}`;
    }).join('\n') + '\n'
  );
}

// ---- main ----

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`ucx-bench: ${error.message}\nTry 'ucx-bench --help'.\n`);
    return 2;
  }
  try {
    switch (options.command) {
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      case 'version':
        process.stdout.write(`ucx-bench (node-ucx ${version.binding}) on UCX ${version.ucx}\n`);
        return 0;
      case 'list':
        process.stdout.write(listTests());
        return 0;
      case 'info':
        return await runInfo(options);
      case 'report':
        return await runReport(options, SCRIPT);
      case 'run':
        return options.role === 'server' || options.role === 'peer' ? await runServer(options) : await runClient(options);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`ucx-bench: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/** Runs ucx-bench with these arguments and sets the exit code. */
export async function run(argv: string[]): Promise<void> {
  process.on('unhandledRejection', (error) => {
    process.stderr.write(`ucx-bench: ${errorMessage(error)}\n`);
    process.exit(1);
  });
  let code: number;
  try {
    code = await main(argv);
  } catch (error) {
    process.stderr.write(`ucx-bench: ${errorMessage(error)}\n`);
    process.exit(1);
  }
  process.exitCode = code;
  // The peer's stdin keeps its loop alive; anything else still holding the loop gets two seconds.
  if (argv.includes('--peer')) process.exit(code);
  setTimeout(() => process.exit(code), 2000).unref();
}
