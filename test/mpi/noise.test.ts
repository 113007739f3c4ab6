// Output that users read as failures: colour escape codes under mpirun (its ranks get a pseudo-terminal
// even when mpirun's output is a pipe), and UCX's 'error during flush' lines at a clean finalize over TCP.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { start, explain, UCX_RUN } from './job.js';

function hasMpirun(): boolean {
  try {
    execFileSync('mpirun', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const PRINT =
  "import('node-ucx/mpi').then(async (MPI) => { const c = await MPI.init(); console.log(c.rank, { n: 1, s: 'x', on: true }); console.error({ err: 2 }); })";

describe('quiet output', () => {
  it.skipIf(!hasMpirun())('under mpirun, console.log of objects has no colour escape codes (FORCE_COLOR brings them back)', async () => {
    const env = { NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined, NODE_UCX_RENDEZVOUS: undefined, FORCE_COLOR: undefined };
    const plain = await start('mpirun', ['--allow-run-as-root', '--oversubscribe', '-n', '2', process.execPath, '--input-type=module', '-e', PRINT], {
      env,
      ms: 60_000,
    }).done;
    expect(plain.code, explain(plain)).toBe(0);
    expect(plain.stdout).toContain("{ n: 1, s: 'x', on: true }");
    expect(plain.stdout + plain.stderr).not.toMatch(/\x1b\[/);
    const coloured = await start('mpirun', ['--allow-run-as-root', '-x', 'FORCE_COLOR', '-n', '1', process.execPath, '--input-type=module', '-e', PRINT], {
      env: { ...env, FORCE_COLOR: '1' },
      ms: 60_000,
    }).done;
    expect(coloured.stdout).toMatch(/\x1b\[33m1\x1b\[39m/);
  });

  it('jobs over TCP finalize without UCX ERROR lines (every rank has flushed before any closes)', async () => {
    const script =
      "import('node-ucx/mpi').then(async (MPI) => { const c = await MPI.init(); const x = new Float64Array(1 << 15).fill(c.rank); await c.Allreduce(MPI.IN_PLACE, x, MPI.SUM); await c.alltoall(Array.from({ length: c.size }, (_, i) => 'x'.repeat(3000 * i))); })";
    for (let run = 0; run < 4; run++) {
      const result = await start(process.execPath, [UCX_RUN, '-n', '4', 'node', '--input-type=module', '-e', script], { env: { UCX_TLS: 'tcp' }, ms: 60_000 })
        .done;
      expect(result.code, explain(result)).toBe(0);
      expect(result.stderr, explain(result)).not.toMatch(/UCX {2}(ERROR|WARN)/);
    }
  });
});
