#!/usr/bin/env node
// ucx-run: starts the ranks of an MPI program written with node-ucx/mpi, on this machine or on several.
//
//   ucx-run -n 4 [--tag-output] [--timeout SECONDS] [--] node script.mjs args...
//   ucx-run --hosts h1:2,h2:2 [--launcher-agent ssh] [-n 4] node script.mjs
//
// It serves the job's rendezvous store itself (docs/mpi.md, "Bootstrap"), passes every rank its rank,
// the job size, the store's address and a per-job secret in the environment, forwards output and
// SIGINT/SIGTERM/SIGHUP, and ends the job as soon as one rank fails: the others are terminated and
// ucx-run exits with the failed rank's code (128 + signal number when it was killed by a signal).
//
// On other hosts it starts `ucx-run --agent` through the launcher agent (ssh, or any command that runs
// its arguments on the host: `ip netns exec`, `docker exec`...): the agent reads the job from stdin (the
// secret never on a command line), finds an address of the store it can reach, starts its ranks, and
// sends their output and exits back over stdout as records; ending stdin ends its ranks.
//
// It loads no native code: the store is plain TCP.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs as nodeParseArgs } from 'node:util';
import { KvServer } from '../mpi/kvstore.js';
import { routableHosts } from '../mpi/bootstrap.js';
import { agentCommand, isLocalHost, parseHostfile, parseHosts, placeRanks, type HostSlots, type Placement } from './hosts.js';

const USAGE = `usage: ucx-run [-n N] [--hosts h1:2,h2:2 | --hostfile FILE] [options] [--] command [args...]

  -n, -np, --np N          number of ranks (default with hosts: every slot)
  -H, --hosts LIST         hosts and slots: h1:2,h2:2 (a host without :N has 1 slot)
  --hostfile FILE          one host a line: 'host', 'host:N' or 'host slots=N'; # comments
  --launcher-agent CMD     how to run a command on another host (default: ssh -o BatchMode=yes);
                           any command that takes the host and then the command works (ip netns exec)
  --oversubscribe          allow more ranks than slots
  --rendezvous-host ADDR   the address(es) other hosts reach this one at (default: every
                           non-loopback address; also NODE_UCX_RENDEZVOUS_HOST)
  -x NAME[=VALUE]          pass this environment variable to remote ranks (NODE_UCX_* and UCX_* always are)
  --tag-output             prefix every line of output with [rank]
  --timeout SECONDS        end the job (exit code 124) if it runs longer
  -h, --help               this text
  -V, --version            node-ucx's version

Each rank gets NODE_UCX_RANK, NODE_UCX_SIZE, NODE_UCX_LOCAL_RANK, NODE_UCX_LOCAL_SIZE, NODE_UCX_RENDEZVOUS,
NODE_UCX_RENDEZVOUS_SERVED and NODE_UCX_JOB_SECRET in its environment. 'node' as the command means
the Node.js running ucx-run (on another host: the same path there).`;

interface Options {
  ranks: number | null;
  tagOutput: boolean;
  timeoutS: number | null;
  command: string[];
  hosts: HostSlots[] | null;
  agent: string;
  oversubscribe: boolean;
  rendezvousHost: string | null;
  exports: string[];
}

const OPTIONS = {
  np: { type: 'string', short: 'n' },
  count: { type: 'string', short: 'c' },
  'tag-output': { type: 'boolean' },
  timeout: { type: 'string' },
  hosts: { type: 'string', short: 'H', multiple: true },
  host: { type: 'string', multiple: true },
  hostfile: { type: 'string', multiple: true },
  machinefile: { type: 'string', multiple: true },
  'launcher-agent': { type: 'string' },
  'mca-plm-rsh-agent': { type: 'string' },
  oversubscribe: { type: 'boolean' },
  'rendezvous-host': { type: 'string' },
  x: { type: 'string', short: 'x', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

function die(message: string, code = 2): never {
  process.stderr.write(`ucx-run: ${message}\n`);
  process.exit(code);
}

/** node-ucx's version, from its package.json (ucx-run loads no native code, so not from the addon). */
function packageVersion(): string {
  try {
    const file = fileURLToPath(new URL('../../package.json', import.meta.url));
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** `app.mjs`, `./app.js`, an existing non-executable file: a script, where a command was expected. */
function looksLikeScript(command: string): boolean {
  if (/\.(m?js|cjs|m?ts|cts)$/.test(command)) return true;
  try {
    const stat = fs.statSync(command);
    return stat.isFile() && (stat.mode & 0o111) === 0;
  } catch {
    return false;
  }
}

/**
 * util.parseArgs over ucx-run's own options, which come before the command: the first positional
 * argument (or `--`) starts the command, and nothing after it is ucx-run's.
 */
function parseArgs(argv: string[]): Options {
  // '-np 4' (Open MPI's spelling) is one option, not the short options -n -p.
  // (-n=4 is ucx-run's own spelling too.)
  const normalized = argv.map((arg) =>
    arg
      .replace(/^-np(?==|$)/, '--np')
      .replace(/^-n=/, '--np=')
      .replace(/^-c=/, '--count='),
  );
  let parsed: ReturnType<typeof nodeParseArgs<{ options: typeof OPTIONS; tokens: true; strict: false; allowPositionals: true }>>;
  try {
    parsed = nodeParseArgs({ args: normalized, options: OPTIONS, tokens: true, strict: false, allowPositionals: true });
  } catch (error) {
    die(`${(error as Error).message}\n${USAGE}`);
  }
  let commandAt = normalized.length;
  const seen: Record<string, string | boolean> = {};
  const lists: Record<string, string[]> = {};
  for (const token of parsed.tokens) {
    if (token.kind === 'positional') {
      commandAt = token.index;
      break;
    }
    if (token.kind === 'option-terminator') {
      commandAt = token.index + 1;
      break;
    }
    if (!Object.hasOwn(OPTIONS, token.name)) die(`unknown option ${token.rawName}\n${USAGE}`);
    const spec = OPTIONS[token.name as keyof typeof OPTIONS];
    if (spec.type === 'string' && token.value === undefined) die(`${token.rawName} needs a value\n${USAGE}`);
    seen[token.name] = token.value ?? true;
    if ('multiple' in spec) (lists[token.name] ??= []).push(token.value!);
  }
  if (seen.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (seen.version) {
    process.stdout.write(`ucx-run (node-ucx) ${packageVersion()}\n`);
    process.exit(0);
  }
  const count = seen.np ?? seen.count;
  let ranks: number | null = null;
  if (count !== undefined) {
    const n = Number(count);
    if (!Number.isInteger(n) || n < 1 || n > 4096) die('-n must be an integer from 1 to 4096');
    ranks = n;
  }
  let timeoutS: number | null = null;
  if (seen.timeout !== undefined) {
    const t = Number(seen.timeout);
    if (!(t > 0)) die('--timeout must be a positive number of seconds');
    timeoutS = t;
  }
  let hosts: HostSlots[] | null = null;
  try {
    for (const list of [...(lists.hosts ?? []), ...(lists.host ?? [])]) hosts = [...(hosts ?? []), ...parseHosts(list)];
    for (const file of [...(lists.hostfile ?? []), ...(lists.machinefile ?? [])]) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (error) {
        die(`cannot read the hostfile ${file}: ${(error as Error).message}`);
      }
      hosts = [...(hosts ?? []), ...parseHostfile(text, file)];
    }
  } catch (error) {
    die((error as Error).message);
  }
  const exports = lists.x ?? [];
  for (const name of exports) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(=.*)?$/s.test(name)) die(`-x ${name}: expected NAME or NAME=VALUE`);
  }
  const command = argv.slice(commandAt);
  if (ranks === null && hosts === null) die(`-n N is required\n${USAGE}`);
  if (command.length === 0) die(`no command to run\n${USAGE}`);
  if (looksLikeScript(command[0]!)) {
    const before = argv.slice(0, commandAt).join(' ');
    die(`'${command[0]}' is a script, not a command: did you mean: ucx-run ${before ? `${before} ` : ''}node ${command.join(' ')}`);
  }
  return {
    ranks,
    tagOutput: seen['tag-output'] === true,
    timeoutS,
    command,
    hosts,
    agent: (seen['launcher-agent'] ?? seen['mca-plm-rsh-agent'] ?? 'ssh -o BatchMode=yes') as string,
    oversubscribe: seen.oversubscribe === true,
    rendezvousHost: (seen['rendezvous-host'] as string | undefined) ?? null,
    exports,
  };
}

function signalCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 15);
}

/** Writes a stream's text to `to` line by line, each line prefixed with `[rank] `. */
class LinePrefixer {
  #partial = '';
  readonly #to: NodeJS.WritableStream;
  readonly #prefix: string;
  constructor(to: NodeJS.WritableStream, prefix: string) {
    this.#to = to;
    this.#prefix = prefix;
  }

  write(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop()!;
    if (lines.length > 0) this.#to.write(lines.map((line) => `${this.#prefix}${line}\n`).join(''));
  }

  end(): void {
    if (this.#partial !== '') this.#to.write(`${this.#prefix}${this.#partial}\n`);
    this.#partial = '';
  }
}

function forwardPrefixed(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): Promise<void> {
  const lines = new LinePrefixer(to, prefix);
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => lines.write(chunk));
  return new Promise<void>((resolve) => {
    from.on('end', () => {
      lines.end();
      resolve();
    });
    from.on('error', () => resolve());
  });
}

// ---- the agent's records: a JSON line, then `n` bytes of payload (rank output) ----
//   {"t":"o"|"e","r":rank,"n":bytes}   output of a rank (stdout, stderr)
//   {"t":"s","r":rank,"pid":pid}       a rank started
//   {"t":"x","r":rank,"code":c,"signal":s}   a rank exited
//   {"t":"u","url":url}                the store address the agent's ranks use
//   {"t":"f","message":m}              the agent cannot start its ranks

type AgentRecord =
  | { t: 'o' | 'e'; r: number; n: number }
  | { t: 's'; r: number; pid: number }
  | { t: 'x'; r: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'u'; url: string }
  | { t: 'f'; message: string };

class RecordReader {
  #buffer: Buffer = Buffer.alloc(0);
  #need: { record: AgentRecord & { n: number } } | null = null;
  readonly #onRecord: (record: AgentRecord, payload: Buffer | null) => void;
  constructor(onRecord: (record: AgentRecord, payload: Buffer | null) => void) {
    this.#onRecord = onRecord;
  }

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (this.#need !== null) {
        const n = this.#need.record.n;
        if (this.#buffer.length < n) return;
        const payload = this.#buffer.subarray(0, n);
        this.#buffer = this.#buffer.subarray(n);
        const record = this.#need.record;
        this.#need = null;
        this.#onRecord(record, payload);
        continue;
      }
      const end = this.#buffer.indexOf(10);
      if (end < 0) return;
      const line = this.#buffer.subarray(0, end).toString('utf8');
      this.#buffer = this.#buffer.subarray(end + 1);
      let record: AgentRecord;
      try {
        record = JSON.parse(line) as AgentRecord;
      } catch {
        // Not a record: something on the remote side wrote to the agent's stdout (a login banner).
        process.stderr.write(`ucx-run: ${line}\n`);
        continue;
      }
      if ((record.t === 'o' || record.t === 'e') && Number.isInteger(record.n) && record.n >= 0) this.#need = { record };
      else this.#onRecord(record, null);
    }
  }
}

// ---- the head: ucx-run as the user runs it ----

interface Rank {
  rank: number;
  host: string;
  exited: boolean;
  /** Sends a signal to the rank (locally, or through its host's agent). */
  kill(signal: NodeJS.Signals): void;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const hosts = opts.hosts ?? [{ host: 'localhost', slots: opts.ranks! }];
  const size = opts.ranks ?? hosts.reduce((sum, h) => sum + h.slots, 0);
  let placements: Placement[];
  try {
    placements = placeRanks(hosts, size, opts.oversubscribe || opts.hosts === null);
  } catch (error) {
    die((error as Error).message);
  }
  const remote = placements.some((p) => !isLocalHost(p.host));
  const secret = randomBytes(24).toString('hex');
  const jobId = `${process.pid}.${Date.now().toString(36)}`;
  const ranks: Rank[] = [];
  const outputs: Promise<void>[] = [];
  let jobCode = 0;
  let ending = false;
  let killTimer: NodeJS.Timeout | undefined;
  const finalizeWaiters = new Map<number, () => void>();
  const agents: { host: string; child: ChildProcess; control(message: object): void; done: Promise<void> }[] = [];

  const live = (): Rank[] => ranks.filter((r) => !r.exited);
  function endJob(code: number, message: string | null): void {
    if (ending) return;
    ending = true;
    jobCode = code;
    if (message !== null) process.stderr.write(`ucx-run: ${message}\n`);
    for (const rank of live()) rank.kill('SIGTERM');
    // Ranks that ignore SIGTERM (or hang in native code, or are stopped) are killed.
    killTimer = setTimeout(() => {
      for (const rank of live()) rank.kill('SIGKILL');
      // An agent that cannot be reached (its host or link is gone) never reports its ranks: give up on it.
      const giveUp = setTimeout(() => {
        for (const agent of agents) agent.child.kill('SIGKILL');
        for (const rank of live()) onExit(rank.rank, null, 'SIGKILL');
      }, 3_000);
      giveUp.unref();
    }, 3_000);
    killTimer.unref();
  }

  // Other hosts reach the store at one of this host's addresses; the agent there finds which.
  const advertise = opts.rendezvousHost !== null ? opts.rendezvousHost.split(',') : remote ? [...routableHosts(), '127.0.0.1'] : ['127.0.0.1'];
  const server = await KvServer.start(
    {
      size,
      secret,
      host: remote ? '0.0.0.0' : '127.0.0.1',
      served: 'ucx-run',
      onAbort: (rank, code, reason) => endJob(code, `rank ${rank} aborted the job with code ${code} (${reason}); terminating the other ranks`),
      onRankLost: (_rank, reason) => endJob(1, `${reason}; terminating the other ranks`),
      onRankGone: (rank) => finalizeWaiters.get(rank)?.(),
      onDenied: (reason) => process.stderr.write(`ucx-run: refused a connection to the job's rendezvous store: ${reason}\n`),
    },
    advertise,
  );

  const [command, ...args] = opts.command as [string, ...string[]];
  let remaining = size;
  let allDone!: () => void;
  const allExited = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  function onExit(rank: number, code: number | null, signal: NodeJS.Signals | null): void {
    const entry = ranks[rank]!;
    if (entry.exited) return;
    entry.exited = true;
    const where = remote ? ` on ${entry.host}` : '';
    if (signal !== null) endJob(signalCode(signal), `rank ${rank}${where} was killed by ${signal}; terminating the other ranks`);
    else if (code !== 0) endJob(code ?? 1, `rank ${rank}${where} exited with code ${code}; terminating the other ranks`);
    if (--remaining === 0) allDone();
  }
  /** A rank that joined must leave through finalize; its last words may still be in flight: wait for its connection to end, then judge. */
  function exited(rank: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (ranks[rank]!.exited) return;
    if (code === 0 && signal === null && server.isRegistered(rank) && !server.finalized(rank)) {
      const judge = (): void => {
        finalizeWaiters.delete(rank);
        if (!server.finalized(rank) && !ending) {
          endJob(1, `rank ${rank} exited without calling MPI finalize (its peers could wait for it forever); terminating the other ranks`);
        }
        onExit(rank, 0, null);
      };
      if (!server.isConnected(rank)) {
        judge();
        return;
      }
      const timer = setTimeout(judge, 1_000);
      finalizeWaiters.set(rank, () => {
        clearTimeout(timer);
        judge();
      });
      return;
    }
    onExit(rank, code, signal);
  }

  const baseEnv = (local: Placement, url: string): Record<string, string> => ({
    NODE_UCX_SIZE: String(size),
    NODE_UCX_LOCAL_SIZE: String(local.ranks.length),
    NODE_UCX_RENDEZVOUS: url,
    NODE_UCX_RENDEZVOUS_SERVED: '1',
    NODE_UCX_JOB_ID: jobId,
    NODE_UCX_HOST: local.host,
  });

  for (let rank = 0; rank < size; rank++) ranks.push({ rank, host: '', exited: false, kill: () => {} });
  for (const placement of placements) {
    if (isLocalHost(placement.host)) startLocal(placement);
    else startAgent(placement);
  }

  function startLocal(placement: Placement): void {
    const executable = command === 'node' ? process.execPath : command;
    const env = { ...process.env, ...baseEnv(placement, remote ? `tcp://127.0.0.1:${server.port}` : server.url), NODE_UCX_JOB_SECRET: secret };
    for (const [localRank, rank] of placement.ranks.entries()) {
      let child: ChildProcess;
      try {
        child = spawn(executable, args, {
          env: { ...env, NODE_UCX_RANK: String(rank), NODE_UCX_LOCAL_RANK: String(localRank) },
          stdio: [rank === 0 ? 'inherit' : 'ignore', opts.tagOutput ? 'pipe' : 'inherit', opts.tagOutput ? 'pipe' : 'inherit'],
        });
      } catch (error) {
        die(`cannot start ${executable}: ${(error as Error).message}`, 127);
      }
      ranks[rank] = { rank, host: placement.host, exited: false, kill: (signal) => child.kill(signal) };
      if (opts.tagOutput) {
        outputs.push(forwardPrefixed(child.stdout!, process.stdout, `[${rank}] `));
        outputs.push(forwardPrefixed(child.stderr!, process.stderr, `[${rank}] `));
      }
      child.once('error', (error) => {
        process.stderr.write(`ucx-run: rank ${rank}: cannot run ${executable}: ${error.message}\n`);
        onExit(rank, 127, null);
      });
      child.once('exit', (code, signal) => exited(rank, code, signal));
    }
  }

  function startAgent(placement: Placement): void {
    const self = fileURLToPath(import.meta.url);
    const argv = agentCommand(opts.agent, placement.host, [process.execPath, self, '--agent']);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const host = placement.host;
    let agentFailed = false;
    for (const rank of placement.ranks) {
      ranks[rank] = { rank, host, exited: false, kill: (signal) => control({ signal, rank }) };
    }
    function control(message: object): void {
      if (!child.stdin!.destroyed) child.stdin!.write(`${JSON.stringify(message)}\n`);
    }
    child.stdin!.on('error', () => {});
    const streams = new Map<string, LinePrefixer>();
    const reader = new RecordReader((record, payload) => {
      switch (record.t) {
        case 'o':
        case 'e': {
          const to = record.t === 'o' ? process.stdout : process.stderr;
          if (!opts.tagOutput) {
            to.write(payload!);
            break;
          }
          const key = `${record.t}${record.r}`;
          let lines = streams.get(key);
          if (lines === undefined) streams.set(key, (lines = new LinePrefixer(to, `[${record.r}] `)));
          lines.write(payload!.toString('utf8'));
          break;
        }
        case 'x':
          if (placement.ranks.includes(record.r)) exited(record.r, record.code, record.signal);
          break;
        case 'f':
          agentFailed = true;
          endJob(1, `host ${host}: ${record.message}`);
          break;
        default:
          break;
      }
    });
    child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));
    outputs.push(forwardPrefixed(child.stderr!, process.stderr, `ucx-run: host ${host}: `));
    const done = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        agentFailed = true;
        endJob(127, `cannot run the launcher agent '${argv[0]}' for host ${host}: ${error.message}`);
        resolve();
      });
      child.once('close', (code, signal) => {
        for (const lines of streams.values()) lines.end();
        const lost = placement.ranks.filter((r) => !ranks[r]!.exited);
        if (lost.length > 0) {
          if (!agentFailed) {
            endJob(
              1,
              `lost the launcher agent of host ${host} (${signal ?? `exit code ${code}`}) with rank${lost.length > 1 ? 's' : ''} ${lost.join(', ')} still running; terminating the job`,
            );
          }
          for (const r of lost) onExit(r, null, 'SIGKILL');
        }
        resolve();
      });
    });
    agents.push({ host, child, control, done });
    const spec = {
      secret,
      urls: server.urls,
      ranks: placement.ranks,
      command,
      args,
      cwd: process.cwd(),
      env: { ...forwardedEnv(opts.exports), ...baseEnv(placement, '') },
    };
    control(spec);
  }

  // Signals to ucx-run go to every rank; a second SIGINT kills them at once.
  let interrupts = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      interrupts++;
      if (!ending) {
        ending = true;
        jobCode = signalCode(signal);
      }
      for (const rank of live()) rank.kill(interrupts > 1 ? 'SIGKILL' : signal);
      if (killTimer === undefined) {
        killTimer = setTimeout(() => {
          for (const rank of live()) rank.kill('SIGKILL');
          const giveUp = setTimeout(() => {
            for (const agent of agents) agent.child.kill('SIGKILL');
            for (const rank of live()) onExit(rank.rank, null, 'SIGKILL');
          }, 3_000);
          giveUp.unref();
        }, 5_000);
        killTimer.unref();
      }
    });
  }

  if (opts.timeoutS !== null) {
    const timer = setTimeout(() => endJob(124, `the job ran longer than ${opts.timeoutS} s; terminating it`), opts.timeoutS * 1000);
    timer.unref();
  }

  await allExited;
  for (const agent of agents) agent.child.stdin!.end();
  await Promise.race([Promise.all([...outputs, ...agents.map((a) => a.done)]), new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
  for (const agent of agents) if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
  await server.close();
  process.exit(jobCode);
}

/** What remote ranks get from this environment: NODE_UCX_* and UCX_* (but the secret), and -x names. */
function forwardedEnv(exports: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && /^(NODE_UCX_|UCX_)/.test(name) && name !== 'NODE_UCX_JOB_SECRET') env[name] = value;
  }
  for (const entry of exports) {
    const eq = entry.indexOf('=');
    if (eq >= 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    else if (process.env[entry] !== undefined) env[entry] = process.env[entry]!;
  }
  return env;
}

// ---- the agent: `ucx-run --agent`, started on a host through the launcher agent ----

interface AgentSpec {
  secret: string;
  urls: string[];
  ranks: number[];
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

/** The first of `urls` this host can open a TCP connection to (all tried at once), or null. */
function probe(urls: readonly string[], ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    let left = urls.length;
    let found = false;
    const sockets: net.Socket[] = [];
    const timer = setTimeout(() => finish(null), ms);
    function finish(url: string | null): void {
      if (found) return;
      if (url === null && --left > 0) return;
      found = true;
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      resolve(url);
    }
    if (urls.length === 0) finish(null);
    for (const url of urls) {
      const match = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(url);
      if (match === null) {
        finish(null);
        continue;
      }
      const socket = net.connect(Number(match[2]), match[1]!);
      sockets.push(socket);
      socket.once('connect', () => finish(url));
      socket.once('error', () => finish(null));
    }
  });
}

async function agentMain(): Promise<void> {
  const out = process.stdout;
  const record = (header: object, payload?: Buffer): void => {
    out.write(`${JSON.stringify(header)}\n`);
    if (payload !== undefined) out.write(payload);
  };
  const lines = readLines(process.stdin);
  const first = await lines.next();
  if (first.done) process.exit(0);
  let spec: AgentSpec;
  try {
    spec = JSON.parse(first.value) as AgentSpec;
  } catch {
    process.stderr.write('ucx-run --agent: the first line on stdin must be the job (JSON)\n');
    process.exit(2);
  }
  const url = await probe(spec.urls, 5_000);
  if (url === null) {
    record({
      t: 'f',
      message: `none of the rendezvous store's addresses (${spec.urls.join(', ')}) is reachable from ${os.hostname()}: set --rendezvous-host to one that is`,
    });
    out.write('', () => process.exit(1));
    return;
  }
  record({ t: 'u', url });
  try {
    process.chdir(spec.cwd);
  } catch {
    // the same directory does not exist there: stay in the home directory
  }
  const executable = spec.command === 'node' ? process.execPath : spec.command;
  const children = new Map<number, ChildProcess>();
  let running = spec.ranks.length;
  const flushes: Promise<void>[] = [];
  const finishWhenDone = (): void => {
    if (running > 0) return;
    void Promise.all(flushes).then(() => out.write('', () => process.exit(0)));
  };
  for (const [localRank, rank] of spec.ranks.entries()) {
    const child = spawn(executable, spec.args, {
      env: {
        ...process.env,
        ...spec.env,
        NODE_UCX_RENDEZVOUS: url,
        NODE_UCX_JOB_SECRET: spec.secret,
        NODE_UCX_RANK: String(rank),
        NODE_UCX_LOCAL_RANK: String(localRank),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.set(rank, child);
    const own: Promise<void>[] = [];
    for (const [stream, t] of [
      [child.stdout!, 'o'],
      [child.stderr!, 'e'],
    ] as const) {
      stream.on('data', (chunk: Buffer) => record({ t, r: rank, n: chunk.length }, chunk));
      own.push(
        new Promise((resolve) => {
          stream.once('close', resolve);
          stream.once('error', resolve);
        }),
      );
    }
    flushes.push(...own);
    let reported = false;
    const report = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (reported) return;
      reported = true;
      children.delete(rank);
      // The rank's last output first, then its exit.
      void Promise.all(own).finally(() => {
        record({ t: 'x', r: rank, code, signal });
        running--;
        finishWhenDone();
      });
    };
    child.once('error', (error) => {
      process.stderr.write(`rank ${rank}: cannot run ${executable}: ${error.message}\n`);
      report(127, null);
    });
    child.once('exit', (code, signal) => report(code, signal));
    if (child.pid !== undefined) record({ t: 's', r: rank, pid: child.pid });
  }
  // Control lines from the head; the end of stdin (the head or the link to it is gone) ends the ranks.
  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    let message: { signal?: NodeJS.Signals; rank?: number };
    try {
      message = JSON.parse(next.value) as typeof message;
    } catch {
      continue;
    }
    if (typeof message.signal !== 'string' || !(message.signal in os.constants.signals)) continue;
    const targets = message.rank === undefined ? [...children.values()] : [children.get(message.rank)].filter((c): c is ChildProcess => c !== undefined);
    for (const child of targets) child.kill(message.signal);
  }
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    setTimeout(() => process.exit(1), 1_000).unref();
  }, 3_000).unref();
}

/** The lines of a stream, as an async iterator. */
function readLines(stream: NodeJS.ReadableStream): AsyncIterator<string> {
  let buffer = '';
  const queue: string[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    queue.push(...parts);
    wake?.();
  });
  const end = (): void => {
    ended = true;
    wake?.();
  };
  stream.on('end', end);
  stream.on('error', end);
  return {
    async next(): Promise<IteratorResult<string>> {
      for (;;) {
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    },
  };
}

if (process.argv[2] === '--agent') {
  agentMain().catch((error: unknown) => {
    process.stderr.write(`ucx-run --agent: ${String((error as Error)?.stack ?? error)}\n`);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => die(String((error as Error)?.stack ?? error), 1));
}
