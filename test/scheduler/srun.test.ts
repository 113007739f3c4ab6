// Under Slurm's srun, with a real one-node Slurm (slurm.ts: slurmctld + slurmd on free ports): initialize()
// across the tasks of a step, and the CLI form (ucx-scheduler writes a scheduler file, srun starts the
// workers). Skipped, with the reason in the name, where Slurm cannot run (not installed, not root).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { start, explain } from '../mpi/job.js';
import { NODE, FIXTURE, WORKER, NO_LAUNCHER, expectReport, tempDir, startScheduler, clientByFile } from './launch-helpers.js';
import { localSlurmUnavailable, startLocalSlurm, type LocalSlurm } from './slurm.js';

const missing = localSlurmUnavailable();

describe.skipIf(missing !== null)(`under Slurm's srun (a local slurmctld + slurmd)${missing === null ? '' : `: skipped, ${missing}`}`, () => {
  let slurm: LocalSlurm | undefined;
  beforeAll(async () => {
    slurm = await startLocalSlurm();
  }, 60_000);
  afterAll(async () => {
    await slurm?.stop();
  }, 30_000);

  it('initialize() under srun -n 4 (-O: 4 tasks on fewer cores)', async () => {
    const result = await start('srun', ['-O', '-n', '4', NODE, FIXTURE], { env: { ...NO_LAUNCHER, ...slurm!.env }, ms: 90_000 }).done;
    expectReport(result, 4);
  });

  it('the CLI form: ucx-scheduler --scheduler-file, then srun -n 2 ucx-worker --scheduler-file, a client by file', async () => {
    const file = path.join(tempDir(), 'scheduler.json');
    const { job } = await startScheduler(file);
    const step = start('srun', ['-O', '-n', '2', NODE, WORKER, '--scheduler-file', file], { env: { ...NO_LAUNCHER, ...slurm!.env }, ms: 90_000 });
    // Until both of the step's workers have joined.
    const deadline = Date.now() + 60_000;
    let report = await clientByFile(file);
    while (Object.keys(report.workers).length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      report = await clientByFile(file);
    }
    expect(Object.keys(report.workers)).toHaveLength(2);
    expect(report.total).toBe(328350);
    expect(report.secretInEnv).toBe(false);
    // The scheduler stops: the workers stop, and the step ends with 0.
    job.child.kill('SIGTERM');
    expect((await job.done).code).toBe(0);
    const result = await step.done;
    expect(result.code, explain(result)).toBe(0);
  });
});
