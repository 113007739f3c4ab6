// Every MPI operation, in 4-rank jobs under ucx-run (and 3 ranks, for the non-power-of-two paths).
// The fixtures check their results themselves and exit non-zero on a mismatch.
import { describe, it, expect } from 'vitest';
import { ucxRun, lastJson, explain } from './job.js';

interface Report {
  ok: boolean;
  size: number;
  checked: string[];
}

describe('MPI operations under ucx-run', () => {
  it('point-to-point: objects, typed arrays, tags, ANY_SOURCE/ANY_TAG, nonblocking requests, probe, errors', async () => {
    const result = await ucxRun(4, 'mpi-p2p.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    const report = lastJson<Report>(result.stdout);
    expect(report?.ok, explain(result)).toBe(true);
    expect(report!.checked).toEqual([
      'send/recv objects',
      'tags, ANY_TAG, TAG_UB',
      'ANY_SOURCE with Status',
      'ordering of 200 mixed-size objects, bulk objects',
      'Send/Recv typed arrays',
      'Recv of an already arrived message',
      'isend/irecv/Isend/Irecv/waitall/waitany/testall/cancel',
      'sendrecv/Sendrecv/ssend/Ssend',
      'probe/iprobe',
      'self send, PROC_NULL',
      'errors: bad rank, bad tag, bad buffer, truncation',
    ]);
  });

  it.each([4, 3])('every collective on objects and typed arrays, with %i ranks', async (ranks) => {
    const result = await ucxRun(ranks, 'mpi-collectives.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    const report = lastJson<Report>(result.stdout);
    expect(report?.ok, explain(result)).toBe(true);
    expect(report!.size).toBe(ranks);
    expect(report!.checked).toEqual([
      'barrier',
      'bcast',
      'scatter/gather/allgather/alltoall',
      'reduce/allreduce/scan/exscan with SUM PROD MAX MIN LAND LOR LXOR BAND BOR BXOR MAXLOC MINLOC',
      'user ops (commutative and not)',
      'Bcast Reduce Allreduce Gather Scatter Allgather Alltoall Reduce_scatter(_block) Scan Exscan',
      'mismatched sizes',
      'bad roots/ops/buffers',
      'ibarrier/ibcast',
    ]);
  });

  it.each([4, 3])('v-collectives (Gatherv, Scatterv, Allgatherv, Alltoallv) with uneven and empty blocks, %i ranks', async (ranks) => {
    const result = await ucxRun(ranks, 'mpi-vcollectives.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    const report = lastJson<Report>(result.stdout);
    expect(report?.ok, explain(result)).toBe(true);
    expect(report!.size).toBe(ranks);
    expect(report!.checked).toEqual(['Gatherv', 'Scatterv', 'Allgatherv', 'Alltoallv', 'bad specs and truncation']);
  });

  it('groups: incl, excl, translate, set operations, compare, and Comm.create in group order', async () => {
    const result = await ucxRun(4, 'mpi-groups.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'incl, excl, translate, union, intersection, difference, compare',
      'create from a group, in group order; null off the group',
      'bad arguments',
    ]);
  });

  it('Cartesian topologies: computeDims, createCart coords and shifts, a halo exchange, smaller grids', async () => {
    const result = await ucxRun(4, 'mpi-cart.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'computeDims',
      'coords, cart ranks, shifts',
      'halo exchange',
      'smaller grid, errors',
    ]);
  });

  it('communicators: split, dup, COMM_SELF, and no message crosses from one to another', async () => {
    const result = await ucxRun(4, 'mpi-comms.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'split by color with keys',
      'dup; isolation of p2p and collectives between communicators',
      'UNDEFINED color, nested split, COMM_SELF',
      '20 dups with unique contexts; bad color',
    ]);
  });

  it('RMA windows: allocate/create, put/get/accumulate with fence, exclusive and shared locks, flush, atomics, free', async () => {
    const result = await ucxRun(4, 'mpi-win.mjs').done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson<Report>(result.stdout)?.checked, explain(result)).toEqual([
      'allocate, put/get with fence, bounds, free',
      'create, accumulate (atomic and locked)',
      'lock/unlock exclusive and shared, lockAll, flush, fetchAndOp, compareAndSwap',
    ]);
  });
});
