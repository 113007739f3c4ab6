// The raw-UCX side of --compare (ucx_perftest) and the transport listing of
// `ucx-bench info` (ucx_info -d). Both tools come with UCX (Debian: ucx-utils).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaults, ucxConfigAliases } from '../../index.js';
import type { PerftestJob } from './control.js';
import type { RawResult } from './report.js';

/** The full path of an executable on PATH, or null. */
export function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export const PERFTEST_MISSING = 'ucx_perftest not found on PATH (Debian/Ubuntu: apt-get install ucx-utils)';

/**
 * ucx_perftest -f prints one final row: iterations, latency percentile, average, overall (µs),
 * bandwidth average, overall (MB/s, 2^20 bytes), message rate average, overall. "average" is its
 * last reporting interval (about a second) and can read 'inf' or 0 for short runs; "overall" is the
 * whole run, like ucx-bench's own numbers, so those are the ones taken.
 */
export function parsePerftestRow(output: string, test: string): RawResult | null {
  // A column can read 'inf' (a run too short for its clock) or 'nan'.
  const rows = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\d+(\s+(?:[\d.]+|inf|-?nan)){7}$/i.test(line));
  const row = rows.at(-1);
  if (row === undefined) return null;
  const number = (text: string): number => (/^inf$/i.test(text) ? Infinity : Number(text));
  const [iters, p50, , overallUs, , bw, , rate] = row.split(/\s+/).map(number) as number[];
  return { test, iters: iters!, latP50Us: p50!, latAvgUs: overallUs!, bwMBps: bw!, msgRate: rate! };
}

/**
 * UCX_* variables for ucx_perftest: node-ucx's own defaults.ucxConfig (as a Context applies them: unless the
 * environment sets the option under any of its names), then the --ucx settings (keys without the prefix). So
 * both run with the same UCX options: without MM_ERROR_HANDLING, ucx_perftest -e would run over TCP where
 * node-ucx's 'peer' mode uses shared memory.
 */
export function perftestEnv(ucx: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(defaults.ucxConfig)) {
    const names = ucxConfigAliases[key] ?? [`UCX_${key}`];
    if (names.every((name) => process.env[name] === undefined)) env[`UCX_${key}`] = value;
  }
  for (const [key, value] of Object.entries(ucx)) env[`UCX_${key}`] = value;
  return env;
}

/** `count` distinct TCP ports that are free now. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, resolve);
      });
      servers.push(server);
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function runTool(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Server side of one --compare job: `ucx_perftest -p PORT` until its client is done (or the time is up). */
export async function servePerftest(
  file: string,
  port: number,
  errorMode: boolean,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  cpu: number | null = null,
): Promise<void> {
  await runTool(file, ['-p', String(port), ...(errorMode ? ['-e'] : []), ...(cpu === null ? [] : ['-c', String(cpu)])], env, timeoutMs);
}

export interface PerftestFailure {
  error: string;
  refused: boolean;
}

/**
 * Client side of one --compare job; retries while the server side is not listening yet (up to 15 s,
 * or until `serverAlive` says the server side is gone).
 */
export async function runPerftest(
  file: string,
  host: string,
  port: number,
  job: PerftestJob,
  errorMode: boolean,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  serverAlive: () => boolean = () => true,
  cpu: number | null = null,
): Promise<RawResult | PerftestFailure> {
  const args = [host, '-p', String(port), '-t', job.test, '-s', String(job.size), '-n', String(job.iters), '-w', String(job.warmup), '-f'];
  if (errorMode) args.push('-e');
  if (cpu !== null) args.push('-c', String(cpu));
  if (job.mem !== 'host') args.push('-m', job.mem);
  const connectBy = Date.now() + 15_000;
  for (;;) {
    const exit = await runTool(file, args, env, timeoutMs);
    if (exit.code === 0) {
      const row = parsePerftestRow(exit.output, job.test);
      return row ?? { error: `no result row in ucx_perftest's output: ${exit.output.trim().split('\n').at(-1) ?? ''}`, refused: false };
    }
    const refused = /connect\(\) failed|Connection refused/i.test(exit.output);
    if (!refused || Date.now() > connectBy || !serverAlive()) {
      const reason = exit.signal === 'SIGKILL' ? `timed out after ${timeoutMs / 1000} s` : (exit.output.trim().split('\n').at(-1) ?? `exit ${exit.code}`);
      return { error: `ucx_perftest ${args.join(' ')}: ${reason}`, refused };
    }
    await sleep(50);
  }
}

export interface TransportDevices {
  transport: string;
  devices: string[];
}

/** Transports and their devices from `ucx_info -d`, or null when ucx_info is missing or fails. */
export function ucxInfoDevices(): TransportDevices[] | null {
  const file = findExecutable('ucx_info');
  if (file === null) return null;
  const result = spawnSync(file, ['-d'], { encoding: 'utf8', timeout: 20_000 });
  if (result.status !== 0 || typeof result.stdout !== 'string') return null;
  return parseUcxInfoDevices(result.stdout);
}

export function parseUcxInfoDevices(text: string): TransportDevices[] {
  const found: TransportDevices[] = [];
  let current: TransportDevices | undefined;
  for (const line of text.split('\n')) {
    const transport = /^#\s*Transport:\s*(\S+)/.exec(line);
    if (transport) {
      current = found.find((t) => t.transport === transport[1]);
      if (current === undefined) found.push((current = { transport: transport[1]!, devices: [] }));
      continue;
    }
    const device = /^#\s*Device:\s*(\S+)/.exec(line);
    if (device && current !== undefined && !current.devices.includes(device[1]!)) current.devices.push(device[1]!);
  }
  return found;
}
