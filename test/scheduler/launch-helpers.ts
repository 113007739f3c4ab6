// Shared by the launch tests (ucx-scheduler/ucx-worker CLIs, initialize(), srun, the Dask comparison): the CLIs' paths, a ucx-scheduler on loopback with a scheduler file, a client
// by file, and the report the initialize() fixture prints.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { start, explain, lastJson, ROOT, type Job, type JobResult } from '../mpi/job.js';

export const NODE = process.execPath;
export const SCHEDULER = path.join(ROOT, 'dist', 'cli', 'ucx-scheduler.js');
export const WORKER = path.join(ROOT, 'dist', 'cli', 'ucx-worker.js');
export const FIXTURE = path.join(ROOT, 'test', 'scheduler', 'fixtures', 'initialize.mjs');
export const CLIENT = path.join(ROOT, 'test', 'scheduler', 'fixtures', 'file-client.mjs');
/** No launcher variables (nor a cluster secret) from the environment the suite runs in. */
export const NO_LAUNCHER = { NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined, NODE_UCX_RENDEZVOUS: undefined, NODE_UCX_CLUSTER_SECRET: undefined };

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-launch-'));
  made.push(dir);
  return dir;
}

export function hasMpirun(): boolean {
  try {
    execFileSync('mpirun', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the first match of `pattern` in what `stream` prints from now on. */
export function outputMatch(job: Job, stream: 'stdout' | 'stderr', pattern: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`nothing matching ${pattern} on ${stream} within ${ms} ms:\n${text}`)), ms);
    job.child[stream]!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
}

/** ucx-scheduler on loopback with a scheduler file; resolves once it printed its address. */
export async function startScheduler(file: string, args: string[] = []): Promise<{ job: Job; address: string }> {
  const job = start(NODE, [SCHEDULER, '--host', '127.0.0.1', '--port', '0', '--scheduler-file', file, ...args], { env: NO_LAUNCHER, ms: 90_000 });
  const address = await Promise.race([
    outputMatch(job, 'stdout', /Scheduler at: (\S+)/).then((m) => m[1]!),
    job.done.then((r) => {
      throw new Error(`ucx-scheduler exited early\n${explain(r)}`);
    }),
  ]);
  return { job, address };
}

/** The file-client fixture's report: workers by name, a result, where a GPU task ran, secrets in workers' environments. */
export async function clientByFile(file: string): Promise<{ workers: Record<string, unknown>; total: number; gpu: string | null; secretInEnv: boolean }> {
  const result = await start(NODE, [CLIENT, file], { env: NO_LAUNCHER, ms: 60_000 }).done;
  expect(result.code, explain(result)).toBe(0);
  return lastJson(result.stdout)!;
}

/** What rank 1 of the initialize() fixture prints, for a job of `size` ranks. */
export function expectReport(result: JobResult, size: number, protocol = 'ucx'): void {
  expect(result.code, explain(result)).toBe(0);
  const report = lastJson<Record<string, unknown>>(result.stdout);
  expect(report, explain(result)).toMatchObject({
    rank: 1,
    size,
    protocol,
    workers: size - 2,
    total: 328350,
    sum: 10,
    secretInEnv: false,
    names: Array.from({ length: size - 2 }, (_, i) => String(i + 2)),
  });
  // No rank says initialize() returned where it must not.
  expect(result.stdout).not.toMatch(/"error"/);
}
