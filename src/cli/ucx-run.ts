#!/usr/bin/env node
// ucx-run: starts N local ranks of an MPI program written with node-ucx/mpi.
//
//   ucx-run -n 4 [--tag-output] [--timeout SECONDS] [--] node script.mjs args...
//
// It serves the job's rendezvous store itself (docs/mpi.md, "Bootstrap"), passes
// every rank its rank, the job size, the store's address and a per-job secret in
// the environment, forwards output and SIGINT/SIGTERM/SIGHUP, and ends the job as
// soon as one rank fails: the others are terminated and ucx-run exits with the
// failed rank's code (128 + signal number when it was killed by a signal).
//
// It loads no native code: the store is plain TCP.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { KvServer } from '../mpi/kvstore.js';

const USAGE = `usage: ucx-run -n N [--tag-output] [--timeout SECONDS] [--] command [args...]

  -n, -np, --np N     number of ranks to start on this machine
  --tag-output        prefix every line of output with [rank]
  --timeout SECONDS   end the job (exit code 124) if it runs longer
  -h, --help          this text

Each rank gets NODE_UCX_RANK, NODE_UCX_SIZE, NODE_UCX_LOCAL_RANK, NODE_UCX_RENDEZVOUS,
NODE_UCX_RENDEZVOUS_SERVED and NODE_UCX_JOB_SECRET in its environment. 'node' as the
command means the Node.js running ucx-run.`;

interface Options { ranks: number; tagOutput: boolean; timeoutS: number | null; command: string[] }

function die(message: string, code = 2): never {
  process.stderr.write(`ucx-run: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): Options {
  let ranks: number | null = null;
  let tagOutput = false;
  let timeoutS: number | null = null;
  let i = 0;
  const value = (flag: string): string => {
    const next = argv[++i];
    if (next === undefined) die(`${flag} needs a value\n${USAGE}`);
    return next;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const eq = /^(--?[\w-]+)=(.*)$/.exec(arg);
    const flag = eq ? eq[1]! : arg;
    const take = (): string => (eq ? eq[2]! : value(flag));
    if (flag === '-n' || flag === '-np' || flag === '--np' || flag === '-c') {
      const n = Number(take());
      if (!Number.isInteger(n) || n < 1 || n > 4096) die(`${flag} must be an integer from 1 to 4096`);
      ranks = n;
    } else if (flag === '--tag-output') {
      tagOutput = true;
    } else if (flag === '--timeout') {
      const s = Number(take());
      if (!(s > 0)) die('--timeout must be a positive number of seconds');
      timeoutS = s;
    } else if (arg.startsWith('-')) {
      die(`unknown option ${arg}\n${USAGE}`);
    } else {
      break;
    }
  }
  const command = argv.slice(i);
  if (ranks === null) die(`-n N is required\n${USAGE}`);
  if (command.length === 0) die(`no command to run\n${USAGE}`);
  return { ranks, tagOutput, timeoutS, command };
}

function signalCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 15);
}

/** Copies a child's output to ours line by line, each line prefixed with `[rank] `. */
function prefixLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): Promise<void> {
  let partial = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const text = partial + chunk;
    const lines = text.split('\n');
    partial = lines.pop()!;
    if (lines.length > 0) to.write(lines.map((line) => `${prefix}${line}\n`).join(''));
  });
  return new Promise<void>((resolve) => {
    from.on('end', () => {
      if (partial !== '') to.write(`${prefix}${partial}\n`);
      resolve();
    });
    from.on('error', () => resolve());
  });
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const size = opts.ranks;
  const secret = randomBytes(24).toString('hex');
  const jobId = `${process.pid}.${Date.now().toString(36)}`;
  const children: (ChildProcess | null)[] = new Array<ChildProcess | null>(size).fill(null);
  const exited: boolean[] = new Array<boolean>(size).fill(false);
  const outputs: Promise<void>[] = [];
  let jobCode = 0;
  let ending = false;
  let killTimer: NodeJS.Timeout | undefined;
  const finalizeWaiters = new Map<number, () => void>();

  function endJob(code: number, message: string | null): void {
    if (ending) return;
    ending = true;
    jobCode = code;
    if (message !== null) process.stderr.write(`ucx-run: ${message}\n`);
    for (const [rank, child] of children.entries()) if (child !== null && !exited[rank]) child.kill('SIGTERM');
    // Ranks that ignore SIGTERM (or hang in native code) are killed.
    killTimer = setTimeout(() => {
      for (const [rank, child] of children.entries()) if (child !== null && !exited[rank]) child.kill('SIGKILL');
    }, 3_000);
    killTimer.unref();
  }

  const server = await KvServer.start({
    size,
    secret,
    host: '127.0.0.1',
    served: 'ucx-run',
    onAbort: (rank, code, reason) => endJob(code, `rank ${rank} aborted the job with code ${code} (${reason}); terminating the other ranks`),
    onRankLost: (_rank, reason) => endJob(1, `${reason}; terminating the other ranks`),
    onRankGone: (rank) => finalizeWaiters.get(rank)?.(),
    onDenied: (reason) => process.stderr.write(`ucx-run: refused a connection to the job's rendezvous store: ${reason}\n`),
  });

  const env = {
    ...process.env,
    NODE_UCX_SIZE: String(size),
    NODE_UCX_LOCAL_SIZE: String(size),
    NODE_UCX_RENDEZVOUS: server.url,
    NODE_UCX_RENDEZVOUS_SERVED: '1',
    NODE_UCX_JOB_SECRET: secret,
    NODE_UCX_JOB_ID: jobId,
  };
  const [command, ...args] = opts.command as [string, ...string[]];
  const executable = command === 'node' ? process.execPath : command;

  const allExited = new Promise<void>((resolve) => {
    let remaining = size;
    const onExit = (rank: number, code: number | null, signal: NodeJS.Signals | null): void => {
      exited[rank] = true;
      if (signal !== null) endJob(signalCode(signal), `rank ${rank} was killed by ${signal}; terminating the other ranks`);
      else if (code !== 0) endJob(code ?? 1, `rank ${rank} exited with code ${code}; terminating the other ranks`);
      if (--remaining === 0) resolve();
    };
    for (let rank = 0; rank < size; rank++) {
      let child: ChildProcess;
      try {
        child = spawn(executable, args, {
          env: { ...env, NODE_UCX_RANK: String(rank), NODE_UCX_LOCAL_RANK: String(rank) },
          stdio: [rank === 0 ? 'inherit' : 'ignore', opts.tagOutput ? 'pipe' : 'inherit', opts.tagOutput ? 'pipe' : 'inherit'],
        });
      } catch (error) {
        die(`cannot start ${executable}: ${(error as Error).message}`, 127);
      }
      children[rank] = child;
      if (opts.tagOutput) {
        outputs.push(prefixLines(child.stdout!, process.stdout, `[${rank}] `));
        outputs.push(prefixLines(child.stderr!, process.stderr, `[${rank}] `));
      }
      child.once('error', (error) => {
        process.stderr.write(`ucx-run: rank ${rank}: cannot run ${executable}: ${error.message}\n`);
        if (!exited[rank]) onExit(rank, 127, null);
      });
      child.once('exit', (code, signal) => {
        if (exited[rank]) return;
        if (code === 0 && signal === null && server.isRegistered(rank) && !server.finalized(rank)) {
          // A rank that joined must leave through finalize; its last words may still be in flight: wait for its
          // connection to the store to end, then judge.
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
          finalizeWaiters.set(rank, () => { clearTimeout(timer); judge(); });
          return;
        }
        onExit(rank, code, signal);
      });
    }
  });

  // Signals to ucx-run go to every rank; a second SIGINT kills them at once.
  let interrupts = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      interrupts++;
      if (!ending) {
        ending = true;
        jobCode = signalCode(signal);
      }
      for (const [rank, child] of children.entries()) {
        if (child !== null && !exited[rank]) child.kill(interrupts > 1 ? 'SIGKILL' : signal);
      }
      if (killTimer === undefined) {
        killTimer = setTimeout(() => {
          for (const [rank, child] of children.entries()) if (child !== null && !exited[rank]) child.kill('SIGKILL');
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
  await Promise.all(outputs);
  await server.close();
  process.exit(jobCode);
}

main().catch((error: unknown) => die(String((error as Error)?.stack ?? error), 1));
