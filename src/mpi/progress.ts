// How an MPI rank's worker makes progress. A rank that waits for a message has nothing else to do, so by
// default it spins (progressing, yielding the CPU when it finds nothing) for a long while after the last
// activity before it sleeps on the worker's fd: a message is then seen within microseconds, not after a
// wake-up (tens of µs on a VM, more when the ranks outnumber the cores). With more ranks on this node than
// cores, it yields after every idle round, as Open MPI's ranks do when oversubscribed (mpi_yield_when_idle),
// so that the rank it waits for gets the CPU. NODE_UCX_PROGRESS chooses a plain worker mode instead.
import type { ProgressMode } from '../index.js';
import { MPIError } from './errors.js';

type Env = Record<string, string | undefined>;

export interface RankProgress {
  mode: ProgressMode;
  /** The worker's spin budget (µs); undefined: the mode's default (defaults.*SpinUs, pollSliceUs). */
  spinUs?: number;
  /** Idle time per sched_yield while spinning (µs); undefined: defaults.yieldUs. */
  yieldUs?: number;
}

/** The spin after activity of a rank on the default policy (µs): spans a small collective's steps; a long wait (a large transfer, a slow peer) sleeps. */
export const MPI_SPIN_US = 300;

const MODES: readonly ProgressMode[] = ['event', 'poll', 'adaptive'];

/** How many ranks of this job the launcher says run on this node, if it says. */
export function localRanks(env: Env): number | undefined {
  for (const name of ['NODE_UCX_LOCAL_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'SLURM_STEP_TASKS_PER_NODE', 'SLURM_TASKS_PER_NODE']) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    // Slurm writes "4" or "4(x2),3": the first count is this node's in the common case of equal counts.
    const n = Number.parseInt(raw, 10);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}

function usVar(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 60_000_000) throw new MPIError('ERR_MPI_ARG', `${name}=${raw}: expected microseconds, 0 ... 60000000`);
  return n;
}

/**
 * The progress policy of this rank: NODE_UCX_PROGRESS (event, poll, adaptive: that mode with the library's
 * defaults), else 'adaptive' with MPI_SPIN_US of spin, yielding at once when oversubscribed (more local
 * ranks than `cores`). NODE_UCX_MPI_SPIN_US and NODE_UCX_MPI_YIELD_US override the spin and the yield.
 */
export function rankProgress(env: Env, cores: number): RankProgress {
  const chosen = env.NODE_UCX_PROGRESS;
  if (chosen !== undefined && chosen !== '' && !MODES.includes(chosen as ProgressMode)) {
    throw new MPIError('ERR_MPI_ARG', `NODE_UCX_PROGRESS=${chosen}: expected event, poll or adaptive`);
  }
  const spinUs = usVar(env, 'NODE_UCX_MPI_SPIN_US');
  const yieldUs = usVar(env, 'NODE_UCX_MPI_YIELD_US');
  if (chosen !== undefined && chosen !== '') {
    const mode = chosen as ProgressMode;
    if (mode === 'poll' && spinUs !== undefined && (spinUs < 1 || spinUs > 100_000)) {
      throw new MPIError('ERR_MPI_ARG', `NODE_UCX_MPI_SPIN_US=${spinUs}: a poll slice is 1 ... 100000 µs`);
    }
    return { mode, ...(spinUs !== undefined && { spinUs }), ...(yieldUs !== undefined && { yieldUs }) };
  }
  const local = localRanks(env);
  const oversubscribed = local !== undefined && local > cores;
  return { mode: 'adaptive', spinUs: spinUs ?? MPI_SPIN_US, ...((yieldUs !== undefined || oversubscribed) && { yieldUs: yieldUs ?? 0 }) };
}
