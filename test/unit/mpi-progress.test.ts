// The MPI ranks' progress policy (src/mpi/progress.ts): NODE_UCX_PROGRESS keeps a plain worker mode; unset,
// ranks spin adaptively for MPI_SPIN_US and yield at once when this node has more ranks than cores.
import { describe, it, expect } from 'vitest';
import { rankProgress, localRanks, MPI_SPIN_US } from '../../src/mpi/progress.js';

describe('rankProgress', () => {
  it('is adaptive with the MPI spin when NODE_UCX_PROGRESS is unset, yielding at once only when oversubscribed', () => {
    expect(rankProgress({}, 2)).toEqual({ mode: 'adaptive', spinUs: MPI_SPIN_US });
    expect(rankProgress({ NODE_UCX_LOCAL_SIZE: '2' }, 2)).toEqual({ mode: 'adaptive', spinUs: MPI_SPIN_US });
    expect(rankProgress({ NODE_UCX_LOCAL_SIZE: '4' }, 2)).toEqual({ mode: 'adaptive', spinUs: MPI_SPIN_US, yieldUs: 0 });
    expect(rankProgress({ OMPI_COMM_WORLD_LOCAL_SIZE: '8' }, 4)).toEqual({ mode: 'adaptive', spinUs: MPI_SPIN_US, yieldUs: 0 });
    expect(rankProgress({ NODE_UCX_PROGRESS: '' }, 2)).toEqual({ mode: 'adaptive', spinUs: MPI_SPIN_US });
  });

  it('keeps a chosen mode with the library defaults, and takes the spin and yield overrides', () => {
    expect(rankProgress({ NODE_UCX_PROGRESS: 'event', NODE_UCX_LOCAL_SIZE: '4' }, 2)).toEqual({ mode: 'event' });
    expect(rankProgress({ NODE_UCX_PROGRESS: 'poll' }, 2)).toEqual({ mode: 'poll' });
    expect(rankProgress({ NODE_UCX_PROGRESS: 'adaptive', NODE_UCX_MPI_SPIN_US: '300', NODE_UCX_MPI_YIELD_US: '4' }, 2)).toEqual({
      mode: 'adaptive',
      spinUs: 300,
      yieldUs: 4,
    });
    expect(rankProgress({ NODE_UCX_MPI_SPIN_US: '0', NODE_UCX_MPI_YIELD_US: '16', NODE_UCX_LOCAL_SIZE: '4' }, 2)).toEqual({
      mode: 'adaptive',
      spinUs: 0,
      yieldUs: 16,
    });
  });

  it('rejects what it cannot read', () => {
    expect(() => rankProgress({ NODE_UCX_PROGRESS: 'busy' }, 2)).toThrow(/NODE_UCX_PROGRESS=busy/);
    expect(() => rankProgress({ NODE_UCX_MPI_SPIN_US: '-1' }, 2)).toThrow(/NODE_UCX_MPI_SPIN_US=-1/);
    expect(() => rankProgress({ NODE_UCX_MPI_YIELD_US: '1.5' }, 2)).toThrow(/NODE_UCX_MPI_YIELD_US=1.5/);
    expect(() => rankProgress({ NODE_UCX_PROGRESS: 'poll', NODE_UCX_MPI_SPIN_US: '0' }, 2)).toThrow(/poll slice/);
  });
});

describe('localRanks', () => {
  it("reads the launchers' local sizes, Slurm's first count", () => {
    expect(localRanks({})).toBeUndefined();
    expect(localRanks({ NODE_UCX_LOCAL_SIZE: '3' })).toBe(3);
    expect(localRanks({ SLURM_STEP_TASKS_PER_NODE: '4(x2),3' })).toBe(4);
    expect(localRanks({ NODE_UCX_LOCAL_SIZE: 'x' })).toBeUndefined();
  });
});
