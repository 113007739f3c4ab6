// mpi4py's own tutorial and demo programs, ported to node-ucx (test/mpi/fixtures/mpi4py-*.mjs), run under
// ucx-run; where mpi4py is installed, the originals run under Open MPI's mpirun and their answers (files,
// printed values) are compared with node-ucx's.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, ucxRun, lastJson, explain, FIXTURES } from './job.js';

interface Report { ok: boolean; size: number; checked: string[] }

const PYTHON = '/usr/bin/python3';

function hasMpi4py(): boolean {
  try {
    execFileSync('mpirun', ['--version'], { stdio: 'ignore' });
    execFileSync(PYTHON, ['-c', 'import mpi4py, numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** mpirun -n ranks python3 fixtures/py/<script> args: Open MPI over UCX, as in TARGETS.md. */
export function mpi4py(ranks: number, script: string, args: string[] = []): ReturnType<typeof start> {
  return start('mpirun', ['--allow-run-as-root', '--oversubscribe', '-n', String(ranks), '--mca', 'btl', 'self,vader',
    PYTHON, path.join(FIXTURES, 'py', script), ...args], { env: { OMPI_MCA_rmaps_base_oversubscribe: '1' }, ms: 60_000 });
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-mpi4py-'));
}

describe("mpi4py's programs, ported", () => {
  it.each([2, 3])('demo/mpi-ref-v1 (examples 2.01 ... 3.13: buffer specs, probe, persistent and ready sends, derived datatypes), %i ranks', async (ranks) => {
    const result = await ucxRun(ranks, 'mpi4py-ref.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    const report = lastJson<Report>(result.stdout);
    expect(report?.checked, explain(result)).toEqual([
      'ex-2.01', 'ex-2.08', 'ex-2.16', 'ex-2.32', ...(ranks >= 3 ? ['ex-2.29'] : []), 'ex-2.34', 'ex-2.35', 'ex-3.01',
      'ex-3.02 ... 3.07, 3.11 ... 3.13', 'ex-3.08', 'ex-3.09',
    ]);
  });

  it('the MPI-IO tutorial and every File operation, 4 ranks; the files equal those mpi4py writes', async () => {
    const dir = tempDir();
    const result = await ucxRun(4, 'mpi4py-io.mjs', [dir]).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'tutorial: Write_at_all, contiguous', 'tutorial: Write_all through a strided view', 'read back: Read_at_all, Read_all, strided view',
      'writeAt/readAt, Iwrite_at/Iread_at, sync, end of file, DELETE_ON_CLOSE', 'write/read/seek/getPosition/getByteOffset/getView, readAll',
      'writeShared/getPositionShared/writeOrdered/readOrdered/seekShared', 'setSize/preallocate/getSize, MODE_APPEND, atomicity, info',
      'two-phase and independent collective writes/reads, strided memory and file types, small windows',
      'errors: classes, FILE_NULL and file handlers, read-only, datarep, closed',
    ]);
    const contig = fs.readFileSync(path.join(dir, 'datafile.contig'));
    expect([...new BigInt64Array(contig.buffer, contig.byteOffset, 40)].map(Number)).toEqual(Array.from({ length: 40 }, (_, i) => Math.floor(i / 10)));
    if (hasMpi4py()) {
      const theirs = tempDir();
      const py = await mpi4py(4, 'io_tutorial.py', [theirs]).done;
      expect(py.code, explain(py)).toBe(0);
      for (const name of ['datafile.contig', 'datafile.noncontig']) {
        expect(fs.readFileSync(path.join(dir, name)).equals(fs.readFileSync(path.join(theirs, name))), name).toBe(true);
      }
    }
  });
});
