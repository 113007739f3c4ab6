// Two-rank regressions: collectives that hung on 2 ranks, and MPI.abort's exit code.
import { describe, it, expect } from 'vitest';
import { ucxRun, lastJson, explain } from './job.js';

describe('MPI on two ranks', () => {
  it('Reduce_scatter, Reduce_scatter_block and the ring Allreduce complete with blocks above the rendezvous size', async () => {
    const result = await ucxRun(2, 'mpi-two-ranks.mjs', [], { ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<{ checked: string[] }>(result.stdout)?.checked, explain(result)).toEqual([
      'Reduce_scatter(_block) above the rendezvous size',
      'ring Allreduce',
    ]);
  });

  it.each([
    [300, 1],
    [-4, 1],
    [9, 9],
  ])('MPI.abort(%i) ends the job with exit code %i, as comm.abort does', async (code, exit) => {
    const result = await ucxRun(2, 'mpi-two-ranks.mjs', ['abort', String(code)], { ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(exit);
    expect(result.stderr).toMatch(new RegExp(`aborted the job with code ${exit}`));
  });
});
