// Under Slurm's srun, with a real one-node Slurm (slurm.ts: slurmctld + slurmd on free ports): initialize()
// across the tasks of a step. Skipped, with the reason in the name, where Slurm cannot run (not installed, not root).
import { describe, it, beforeAll, afterAll } from 'vitest';
import { start } from '../mpi/job.js';
import { NODE, FIXTURE, NO_LAUNCHER, expectReport } from './helpers.js';
import { localSlurmUnavailable, startLocalSlurm, type LocalSlurm } from './slurm.js';

const missing = localSlurmUnavailable();

describe.skipIf(missing !== null)(`under Slurm's srun (a local slurmctld + slurmd)${missing === null ? '' : `: skipped, ${missing}`}`, () => {
  let slurm: LocalSlurm | undefined;
  beforeAll(async () => { slurm = await startLocalSlurm(); }, 60_000);
  afterAll(async () => { await slurm?.stop(); }, 30_000);

  it('initialize() under srun -n 4 (-O: 4 tasks on fewer cores)', async () => {
    const result = await start('srun', ['-O', '-n', '4', NODE, FIXTURE], { env: { ...NO_LAUNCHER, ...slurm!.env }, ms: 90_000 }).done;
    expectReport(result, 4);
  });
});
