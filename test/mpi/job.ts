// Runs MPI jobs for the tests: `ucx-run` (dist/cli/ucx-run.js), `mpirun`, or ranks started one by one,
// each with a deadline; every process is killed after the test whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach } from 'vitest';

export const ROOT = path.resolve(__dirname, '..', '..');
export const UCX_RUN = path.join(ROOT, 'dist', 'cli', 'ucx-run.js');
export const FIXTURES = path.join(ROOT, 'test', 'mpi', 'fixtures');

export interface JobResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const live = new Set<ChildProcess>();
afterEach(() => {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
});

export interface Job {
  child: ChildProcess;
  done: Promise<JobResult>;
  /** Settles when the process exits, even if something it started still holds its output open. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** Resolves with the first stdout line that parses as JSON and passes `accept`. */
  line<T = Record<string, unknown>>(accept?: (value: T) => boolean): Promise<T>;
}

/** Starts `command args` (cwd: the repository root); `done` resolves when it exits or rejects after `ms`. */
export function start(command: string, args: string[], opts: { env?: Record<string, string | undefined>; ms?: number; input?: string } = {}): Job {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  live.add(child);
  let stdout = '';
  let stderr = '';
  const lineWaiters: ((line: string) => void)[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) for (const waiter of [...lineWaiters]) waiter(line);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const ms = opts.ms ?? 60_000;
  const done = new Promise<JobResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${ms} ms waiting for '${[command, ...args].join(' ')}' to exit\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, ms);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  done.catch(() => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - started }));
  });
  return {
    child,
    done,
    exited,
    line<T>(accept: (value: T) => boolean = () => true): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for a JSON line on stdout\nstdout: ${stdout}\nstderr: ${stderr}`)), ms);
        const waiter = (line: string): void => {
          try {
            const value = JSON.parse(line) as T;
            if (!accept(value)) return;
            clearTimeout(timer);
            lineWaiters.splice(lineWaiters.indexOf(waiter), 1);
            resolve(value);
          } catch {
            // not JSON
          }
        };
        lineWaiters.push(waiter);
        for (const line of stdout.split('\n')) waiter(line);
      });
    },
  };
}

/** `ucx-run -n ranks [options] node fixture args`, to completion. */
export function ucxRun(
  ranks: number,
  fixture: string,
  args: string[] = [],
  opts: { env?: Record<string, string | undefined>; ms?: number; launcherArgs?: string[] } = {},
): Job {
  return start(process.execPath, [UCX_RUN, '-n', String(ranks), ...(opts.launcherArgs ?? []), 'node', path.join(FIXTURES, fixture), ...args], opts);
}

/** The last stdout line that is a JSON object. */
export function lastJson<T = Record<string, unknown>>(stdout: string): T | undefined {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** A failure message with everything the job printed. */
export function explain(result: JobResult): string {
  return `exit ${result.code ?? result.signal} after ${result.ms} ms\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
