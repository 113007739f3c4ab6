// Liveness: a stopped rank (SIGSTOP: not dead, so nothing closes) ends the job within a few seconds with a
// message naming it, under ucx-run and with rank 0 serving the store; a rank that loses a stopped store
// exits saying so; a rank that is merely busy (its event loop blocked) is not taken for dead. And the job
// secret is gone from the ranks' environment (and their children's) once they have joined.
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, ucxRun, lastJson, explain, FIXTURES, type Job } from './job.js';

// Short timeouts, so the test is quick; the defaults are a 500 ms heartbeat and a 4 s timeout.
const FAST = { NODE_UCX_HEARTBEAT_MS: '250', NODE_UCX_LIVENESS_TIMEOUT_MS: '1500' };
const stopped = new Set<number>();
afterEach(() => {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  stopped.clear();
});

function stop(pid: number): void {
  stopped.add(pid);
  process.kill(pid, 'SIGSTOP');
}

async function pids(job: Job, size: number): Promise<number[]> {
  const found: number[] = [];
  for (let rank = 0; rank < size; rank++)
    found.push((await job.line<{ rank?: number; pid?: number }>((v) => v.rank === rank && typeof v.pid === 'number')).pid!);
  return found;
}

describe('liveness', () => {
  it('a SIGSTOPped rank under ucx-run ends the job within seconds, naming the rank and its host', async () => {
    const job = ucxRun(4, 'mpi-liveness.mjs', ['wait'], { env: FAST, ms: 30_000 });
    const ranks = await pids(job, 4);
    const stoppedAt = Date.now();
    stop(ranks[2]!);
    const result = await job.done;
    expect(result.code, explain(result)).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `ucx-run: rank 2 \\(pid ${ranks[2]} on ${os.hostname()}, 127\\.0\\.0\\.1\\) has not answered for \\d+ ms: it is stopped \\(SIGSTOP\\), hung, or its host or network link is gone; terminating the other ranks`,
      ),
    );
    // 1.5 s of silence, then SIGTERM; the stopped rank needs the SIGKILL 3 s later.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
  });

  it('with rank 0 serving the store: a stopped rank makes every other rank exit, naming it; a stopped rank 0 too', async () => {
    for (const victim of [2, 0]) {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-live-')), 'rv.json');
      const jobs = Array.from({ length: 3 }, (_, rank) =>
        start(process.execPath, [path.join(FIXTURES, 'mpi-liveness.mjs'), 'wait'], {
          env: { ...FAST, NODE_UCX_RANK: String(rank), NODE_UCX_SIZE: '3', NODE_UCX_RENDEZVOUS: `file:${file}` },
          ms: 30_000,
        }),
      );
      const ranks = await Promise.all(jobs.map(async (job, rank) => (await job.line<{ rank?: number; pid?: number }>((v) => v.rank === rank)).pid!));
      const stoppedAt = Date.now();
      stop(ranks[victim]!);
      for (const [rank, job] of jobs.entries()) {
        if (rank === victim) continue;
        const result = await job.done;
        expect(result.code, explain(result)).toBe(1);
        const said =
          victim === 0
            ? /the rendezvous store at tcp:\/\/\S+ \(rank 0 on \S+\) has not answered for \d+ ms/
            : new RegExp(`rank 2 \\(pid ${ranks[2]} on [^)]+\\) has not answered for \\d+ ms: it is stopped \\(SIGSTOP\\)`);
        expect(result.stderr, explain(result)).toMatch(said);
        expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      }
      jobs[victim]!.child.kill('SIGKILL');
    }
  });

  it('a rank whose event loop is blocked longer than the liveness timeout is not taken for dead', async () => {
    const result = await ucxRun(3, 'mpi-liveness.mjs', ['busy', '4000'], { env: FAST, ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toEqual({ ok: true, sum: 3 });
  });

  it('the job secret is gone from process.env once a rank has joined, and its children never see it', async () => {
    const result = await ucxRun(2, 'mpi-liveness.mjs', ['env'], { ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toEqual({
      ok: true,
      all: [
        { hadSecret: true, clean: true },
        { hadSecret: true, clean: true },
      ],
    });
  });
});
