// initialize() with dask-mpi's rank roles (rank 0 the scheduler, rank 1 the client, ranks >= 2 the
// workers) under ucx-run and Open MPI's mpirun; srun.test.ts does the same under Slurm.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { start, explain, ROOT, UCX_RUN } from '../mpi/job.js';
import { NODE, FIXTURE, NO_LAUNCHER, hasMpirun, expectReport } from './launch-helpers.js';

describe('initialize(): rank 0 the scheduler, rank 1 the client, ranks >= 2 the workers', () => {
  it.each([
    ['ucx', 'close'],
    ['tcp', 'close'],
    ['ucx', 'nanny'],
  ])('under ucx-run -n 4 (%s, %s): the client computes on 2 workers; the job ends with 0', async (protocol, how) => {
    const result = await start(NODE, [UCX_RUN, '-n', '4', 'node', FIXTURE, protocol, how], { env: NO_LAUNCHER, ms: 90_000 }).done;
    expectReport(result, 4, protocol);
  });

  it('ends cleanly when the client script exits without closing its client', async () => {
    const result = await start(NODE, [UCX_RUN, '-n', '4', 'node', FIXTURE, 'ucx', 'exit'], { env: NO_LAUNCHER, ms: 90_000 }).done;
    expectReport(result, 4);
  });

  it('a client script that throws ends the job with its code', async () => {
    const result = await start(NODE, [UCX_RUN, '-n', '3', 'node', FIXTURE, 'ucx', 'throw'], { env: NO_LAUNCHER, ms: 90_000 }).done;
    expect(result.code, explain(result)).toBe(1);
    expect(result.stderr).toMatch(/the client script failed/);
  });

  it('refuses a job it cannot use: no launcher, fewer than 3 ranks, a store without a secret', async () => {
    const alone = await start(NODE, [FIXTURE], { env: NO_LAUNCHER }).done;
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toMatch(/LaunchError: initialize\(\) runs under a launcher with 3 ranks or more/);
    const two = await start(NODE, [UCX_RUN, '-n', '2', 'node', FIXTURE], { env: NO_LAUNCHER, ms: 30_000 }).done;
    expect(two.code).not.toBe(0);
    expect(two.stderr).toMatch(/initialize\(\) needs 3 ranks or more .* this job has 2/);
    const open = await start(NODE, [FIXTURE], {
      env: { ...NO_LAUNCHER, NODE_UCX_RANK: '1', NODE_UCX_SIZE: '3', NODE_UCX_RENDEZVOUS: 'tcp://127.0.0.1:1', NODE_UCX_JOB_SECRET: undefined },
    }).done;
    expect(open.code).not.toBe(0);
    expect(open.stderr).toMatch(/has no secret .*anyone could read the cluster secret/);
  });

  it.skipIf(!hasMpirun())("under Open MPI's mpirun -n 4", async () => {
    const result = await start('mpirun', ['--allow-run-as-root', '--oversubscribe', '-n', '4', NODE, FIXTURE], { env: NO_LAUNCHER, ms: 90_000 }).done;
    expectReport(result, 4);
  });

  it('docs/examples/scheduler-mpirun.mjs runs as documented under ucx-run -n 4', async () => {
    const result = await start(NODE, [UCX_RUN, '-n', '4', 'node', path.join(ROOT, 'docs', 'examples', 'scheduler-mpirun.mjs')], {
      env: NO_LAUNCHER,
      ms: 90_000,
    }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(result.stdout).toMatch(/sum of squares of 0\.\.999 on 2 workers: 332833500/);
    expect(result.stdout).toMatch(/delayed: 5/);
  });
});
