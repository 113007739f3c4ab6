// ucx-run and the bootstrap: environment, output, signals, failures, the job secret, and launches
// without ucx-run (a rendezvous file, as under mpirun/srun; Open MPI's mpirun itself when installed).
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, ucxRun, lastJson, explain, UCX_RUN, FIXTURES, type Job } from './job.js';

const NODE = process.execPath;

function tempPath(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-test-')), name);
}

function hasMpirun(): boolean {
  try {
    execFileSync('mpirun', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ucx-run', () => {
  it('starts N ranks, each with its rank, the size, the rendezvous address and a secret, and forwards their output', async () => {
    const script =
      'const e = process.env; console.log(JSON.stringify({ rank: e.NODE_UCX_RANK, size: e.NODE_UCX_SIZE, rv: e.NODE_UCX_RENDEZVOUS, served: e.NODE_UCX_RENDEZVOUS_SERVED, secret: (e.NODE_UCX_JOB_SECRET ?? "").length }))';
    const result = await start(NODE, [UCX_RUN, '-n', '3', 'node', '-e', script]).done;
    expect(result.code, explain(result)).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.rank).sort()).toEqual(['0', '1', '2']);
    for (const line of lines) {
      expect(line.size).toBe('3');
      expect(line.rv).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      expect(line.served).toBe('1');
      expect(line.secret).toBe(48);
    }
    expect(new Set(lines.map((l) => l.rv)).size).toBe(1);
  });

  it('--tag-output prefixes every line with [rank], on stdout and stderr', async () => {
    const result = await start(NODE, [
      UCX_RUN,
      '-n',
      '2',
      '--tag-output',
      '--',
      'node',
      '-e',
      'console.log("out a\\nout b"); console.error("err"); process.stdout.write("no newline")',
    ]).done;
    expect(result.code, explain(result)).toBe(0);
    for (const rank of [0, 1]) {
      expect(result.stdout).toContain(`[${rank}] out a\n[${rank}] out b\n`);
      expect(result.stdout).toContain(`[${rank}] no newline\n`);
      expect(result.stderr).toContain(`[${rank}] err\n`);
    }
  });

  it('refuses bad usage with exit code 2', async () => {
    for (const args of [[], ['-n', '0', 'node'], ['-n', '2'], ['--bogus', '-n', '1', 'node']]) {
      const result = await start(NODE, [UCX_RUN, ...args]).done;
      expect(result.code, explain(result)).toBe(2);
      expect(result.stderr).toMatch(/ucx-run: /);
    }
  });

  it('forwards SIGINT to the ranks and exits with 130', async () => {
    const job = start(
      NODE,
      [
        UCX_RUN,
        '-n',
        '2',
        'node',
        '-e',
        'process.on("SIGINT", () => { console.log(JSON.stringify({ sigint: process.env.NODE_UCX_RANK })); process.exit(0); }); console.log(JSON.stringify({ ready: 1 })); setInterval(() => {}, 1000)',
      ],
      { ms: 20_000 },
    );
    await job.line<{ ready?: number }>((v) => v.ready === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    job.child.kill('SIGINT');
    const result = await job.done;
    expect(result.code, explain(result)).toBe(130);
    expect(result.stdout).toContain('{"sigint":"0"}');
    expect(result.stdout).toContain('{"sigint":"1"}');
  });

  it.each([
    ['exit', 3, /rank 2 exited with code 3/],
    ['kill', 137, /rank 2 was killed by SIGKILL/],
    ['throw', 1, /rank 2 exited with code 1/],
    ['abort', 7, /rank 2 aborted the job with code 7/],
    ['no-finalize', 1, /rank 2 exited without calling MPI finalize/],
  ] as const)('a rank that fails (%s) ends the job with code %i at once; the peers waiting on it do not hang', async (how, code, message) => {
    const result = await ucxRun(4, 'mpi-fail.mjs', [how, '2'], { ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.ms).toBeLessThan(15_000);
  });

  it('a rank that calls finalize and then process.exit(0) is a clean exit', async () => {
    const result = await ucxRun(4, 'mpi-fail.mjs', ['finalize-exit', '2']).done;
    expect(result.code, explain(result)).toBe(0);
  });

  it('a process with the wrong secret (or none) cannot join the job; the real rank then can', async () => {
    const go = tempPath('go');
    const job = ucxRun(2, 'mpi-secret.mjs', ['member', go], { ms: 40_000 });
    const { rendezvous } = await job.line<{ rendezvous?: string }>((v) => typeof v.rendezvous === 'string');
    for (const secret of ['not-the-secret', undefined]) {
      const intruder = start(NODE, [path.join(FIXTURES, 'mpi-secret.mjs'), 'intruder'], {
        env: {
          NODE_UCX_RANK: '1',
          NODE_UCX_SIZE: '2',
          NODE_UCX_RENDEZVOUS: rendezvous,
          NODE_UCX_RENDEZVOUS_SERVED: '1',
          NODE_UCX_JOB_SECRET: secret,
          NODE_UCX_BOOTSTRAP_TIMEOUT_MS: '5000',
        },
        ms: 20_000,
      });
      const attempt = await intruder.line<{ joined?: boolean; code?: string; message?: string }>((v) => 'joined' in v);
      expect(attempt.joined, JSON.stringify(attempt)).toBe(false);
      expect(attempt.code).toBe('ERR_MPI_BOOTSTRAP');
      expect(attempt.message).toMatch(/wrong job secret/);
      await intruder.done;
    }
    fs.writeFileSync(go, '');
    const result = await job.done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toEqual({ ok: true, total: 3 });
    expect(result.stderr).toMatch(/refused a connection to the job's rendezvous store: wrong job secret/);
  });

  it('ranks whose ucx-run was SIGKILLed notice the lost rendezvous store and exit', async () => {
    const job = ucxRun(3, 'mpi-fail.mjs', ['wait'], { ms: 30_000 });
    const pids: number[] = [];
    for (let rank = 0; rank < 3; rank++) pids.push((await job.line<{ rank?: number; pid?: number }>((v) => v.rank === rank && typeof v.pid === 'number')).pid!);
    job.child.kill('SIGKILL');
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 5_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const survivors = pids.filter(alive);
    for (const pid of survivors) process.kill(pid, 'SIGKILL');
    expect(survivors, 'ranks still running 5 s after their launcher died').toEqual([]);
  });

  it('runs without MPI.init() too: a job of plain commands', async () => {
    const result = await start(NODE, [UCX_RUN, '-n', '2', 'node', '-e', 'process.exit(Number(process.env.NODE_UCX_RANK) === 1 ? 5 : 0)']).done;
    expect(result.code, explain(result)).toBe(5);
  });
});

describe('launching without ucx-run', () => {
  function ranksByHand(size: number, fixture: string, args: string[], env: Record<string, string>): Job[] {
    return Array.from({ length: size }, (_, rank) =>
      start(NODE, [path.join(FIXTURES, fixture), ...args], {
        env: { NODE_UCX_RANK: String(rank), NODE_UCX_SIZE: String(size), ...env },
        ms: 30_000,
      }),
    );
  }

  it('a job of one rank needs no launcher at all', async () => {
    const result = await start(NODE, [path.join(FIXTURES, 'mpi-bootstrap.mjs')], { env: { NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined } }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toMatchObject({ ok: true, launcher: 'singleton', size: 1 });
  });

  it('ranks started one by one meet through a rendezvous file that rank 0 writes', async () => {
    const file = tempPath('rendezvous.json');
    const jobs = ranksByHand(3, 'mpi-bootstrap.mjs', [], { NODE_UCX_RENDEZVOUS: `file:${file}` });
    const results = await Promise.all(jobs.map((j) => j.done));
    for (const result of results) expect(result.code, explain(result)).toBe(0);
    expect(lastJson(results[0]!.stdout)).toMatchObject({ ok: true, size: 3 });
    expect(fs.existsSync(file)).toBe(false);
  });

  it('torch-style RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT: rank 0 serves the store there', async () => {
    const probe = start(NODE, ['-e', 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })']);
    const port = (await probe.done).stdout.trim();
    const jobs = Array.from({ length: 2 }, (_, rank) =>
      start(NODE, [path.join(FIXTURES, 'mpi-bootstrap.mjs')], {
        env: { NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined, RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port },
        ms: 30_000,
      }),
    );
    const results = await Promise.all(jobs.map((j) => j.done));
    for (const result of results) expect(result.code, explain(result)).toBe(0);
    expect(lastJson(results[0]!.stdout)).toMatchObject({ ok: true, launcher: 'torch', size: 2 });
  });

  it("a rank killed without a launcher makes the others' pending receives reject with ERR_MPI_PROC_FAILED, and they exit non-zero", async () => {
    const file = tempPath('rendezvous.json');
    const jobs = ranksByHand(4, 'mpi-fail.mjs', ['kill', '2'], { NODE_UCX_RENDEZVOUS: `file:${file}` });
    const results = await Promise.all(jobs.map((j) => j.done));
    expect(results[2]!.signal).toBe('SIGKILL');
    for (const rank of [0, 1, 3]) {
      const result = results[rank]!;
      expect(result.code, explain(result)).not.toBe(0);
      expect(result.stderr, explain(result)).toContain(`{"rank":${rank},"pending":"rejected","code":"ERR_MPI_PROC_FAILED"}`);
      expect(result.ms).toBeLessThan(10_000);
    }
  });

  it.skipIf(!hasMpirun())("under Open MPI's mpirun, ranks find each other through a file in mpirun's session directory", async () => {
    const result = await start('mpirun', ['--allow-run-as-root', '--oversubscribe', '-n', '4', NODE, path.join(FIXTURES, 'mpi-bootstrap.mjs')], {
      env: { NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined, NODE_UCX_RENDEZVOUS: undefined },
      ms: 60_000,
    }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toEqual({ ok: true, launcher: 'ompi', size: 4, rendezvous: null });
  });
});
