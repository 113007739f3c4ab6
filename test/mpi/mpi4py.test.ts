// mpi4py's own tutorial and demo programs, ported to node-ucx (test/mpi/fixtures/mpi4py-*.mjs), run under
// ucx-run; where mpi4py is installed, the originals run under Open MPI's mpirun and their answers (files,
// printed values) are compared with node-ucx's.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, ucxRun, lastJson, explain, FIXTURES } from './job.js';

interface Report {
  ok: boolean;
  size: number;
  checked: string[];
}

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
  return start(
    'mpirun',
    ['--allow-run-as-root', '--oversubscribe', '-n', String(ranks), '--mca', 'btl', 'self,vader', PYTHON, path.join(FIXTURES, 'py', script), ...args],
    { env: { OMPI_MCA_rmaps_base_oversubscribe: '1' }, ms: 60_000 },
  );
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
      'ex-2.01',
      'ex-2.08',
      'ex-2.16',
      'ex-2.32',
      ...(ranks >= 3 ? ['ex-2.29'] : []),
      'ex-2.34',
      'ex-2.35',
      'ex-3.01',
      'ex-3.02 ... 3.07, 3.11 ... 3.13',
      'ex-3.08',
      'ex-3.09',
    ]);
  });

  it.each([2, 3])(
    "the tutorial's point-to-point (objects, isend/irecv, Send/Recv with and without datatypes), object bcast/scatter/gather, timers, demo/init-fini test_1, %i ranks",
    async (ranks) => {
      const result = await ucxRun(ranks, 'mpi4py-tutorial.mjs').done;
      expect(result.code, explain(result)).toBe(0);
      expect(lastJson<Report>(result.stdout), explain(result)).toEqual({
        ok: true,
        size: ranks,
        checked: [
          'p2p: send/recv of a dict',
          'p2p: isend/irecv, Request.wait',
          'p2p: Send/Recv [data, MPI.INT] and automatic datatypes',
          'collectives: bcast of a dict',
          'collectives: scatter of objects',
          'collectives: gather of objects',
          'timers: Wtime, Wtick',
          'init-fini: Is_initialized/Is_finalized around Init/Finalize',
        ],
      });
    },
  );

  it('the MPI-IO tutorial and every File operation, 4 ranks; the files equal those mpi4py writes', async () => {
    const dir = tempDir();
    const result = await ucxRun(4, 'mpi4py-io.mjs', [dir]).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'tutorial: Write_at_all, contiguous',
      'tutorial: Write_all through a strided view',
      'read back: Read_at_all, Read_all, strided view',
      'writeAt/readAt, Iwrite_at/Iread_at, sync, end of file, DELETE_ON_CLOSE',
      'write/read/seek/getPosition/getByteOffset/getView, readAll',
      'writeShared/getPositionShared/writeOrdered/readOrdered/seekShared',
      'setSize/preallocate/getSize, MODE_APPEND, atomicity, info',
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

  it('one-sided: the RMA tutorial, cpi-rma, nxtval (onesided, mpi3, scalable), Rput/Rget, Fetch_and_op, Compare_and_swap; pi as mpi4py computes it', async () => {
    const result = await ucxRun(4, 'mpi4py-rma.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    const report = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Report & { results: { cpi?: number[] } });
    expect(report[0]!.checked, explain(result)).toEqual([
      'tutorial: the entire window',
      'tutorial: target (offset, count, datatype)',
      'cpi-rma',
      'nxtval-onesided',
      'nxtval-mpi3 (counter and mutex)',
      'nxtval-scalable',
      'Rput/Rget, Fetch_and_op, Compare_and_swap, Lock_all/Flush_all, strided targets, errors',
    ]);
    const ours = report.find((r) => r.results.cpi !== undefined)!.results.cpi!;
    if (hasMpi4py()) {
      const py = await mpi4py(4, 'cpi_rma.py').done;
      expect(py.code, explain(py)).toBe(0);
      const theirs = lastJson<{ cpi: number[] }>(py.stdout)!.cpi;
      expect(theirs.length).toBe(ours.length);
      // The ranks' parts are accumulated in whatever order they arrive: equal up to rounding.
      theirs.forEach((value, i) => expect(Math.abs(value - ours[i]!)).toBeLessThan(1e-12));
    }
  });

  it('error handling: error classes and strings (test_mpi40), ERRORS_RETURN, custom handlers on communicators and windows, user classes', async () => {
    const result = await ucxRun(2, 'mpi4py-errors.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'test_mpi40: error classes and strings',
      'communicators: ERRORS_RETURN, custom, inherited, Call_errhandler',
      'user error classes and codes',
      'windows: their own handlers',
    ]);
  });

  it.each([
    ['fatal-comm', 6, /ERR_MPI_RANK.*MPI\.ERRORS_ARE_FATAL/],
    ['fatal-win', 53, /ERR_MPI_WIN.*MPI\.ERRORS_ARE_FATAL/],
    ['fatal-rc', 6, /ERR_MPI_RANK.*MPI\.ERRORS_ARE_FATAL/],
  ] as const)('ERRORS_ARE_FATAL (%s) ends the job at once, with the error class as its exit code', async (mode, code, message) => {
    const result = await ucxRun(2, 'mpi4py-errors.mjs', [mode], { ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.ms).toBeLessThan(15_000);
  });

  it.each([4, 3])(
    'collectives with datatypes, demo/reductions, demo/sequential, nonblocking collectives, Mprobe, Create_group, Split_type, %i ranks; objects reduce as in mpi4py',
    async (ranks) => {
      const result = await ucxRun(ranks, 'mpi4py-misc.mjs').done;
      expect(result.code, explain(result)).toBe(0);
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Report & { rank: number; objects: { python: unknown } });
      const report = lines.find((line) => line.rank === 0);
      expect(report?.checked, explain(result)).toEqual([
        'Init_thread, Get_version, Get_attr(TAG_UB)',
        'tutorial: Bcast, Scatter, Gather, matvec Allgather',
        'derived datatypes in Scatter/Gather/Bcast/Allgather/Alltoall/Gatherv/Allreduce/Reduce_scatter_block',
        'demo/reductions against the built-ins',
        'object reductions: element-wise and mpi4py semantics',
        'demo/sequential',
        'nonblocking collectives (Iallreduce ... Iallgatherv, igather ... iscatter), in flight together',
        'Mprobe/Improbe, Message.recv/Recv, MESSAGE_NO_PROC',
        'Create_group (members only), Split_type(COMM_TYPE_SHARED)',
        'Status.Get_*, Request.Waitany/Waitsome/Waitall/Testall/Testany/Testsome/Get_status',
      ]);
      if (ranks === 4 && hasMpi4py()) {
        const py = await mpi4py(4, 'objects.py').done;
        expect(py.code, explain(py)).toBe(0);
        const theirs = py.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { rank: number; python: unknown })
          .find((r) => r.rank === 0)!;
        expect(report!.objects.python).toEqual(theirs.python);
      }
    },
  );
});
