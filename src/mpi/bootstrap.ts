// How a rank learns who it is (rank, size: from the launcher's environment)
// and finds the others (the rendezvous store). See docs/mpi.md ("Bootstrap").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KvClient, KvServer } from './kvstore.js';
import { MPIError } from './errors.js';
import { MAX_RANKS } from './tags.js';

export type Launcher = 'ucx-run' | 'ompi' | 'pmix' | 'pmi' | 'slurm' | 'torch' | 'singleton';

export interface LaunchInfo {
  rank: number;
  size: number;
  launcher: Launcher;
  /** An id of the job from the launcher, when it gives one (used to name the rendezvous file). */
  jobId: string | null;
  /** Whether the launcher says every rank runs on this one node. */
  singleNode: boolean;
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new MPIError('ERR_MPI_BOOTSTRAP', `${name}=${raw} is not a rank or size`);
  return value;
}

/** Rank and size from the environment of the first launcher that set them. */
export function detectLaunch(env: Env = process.env): LaunchInfo {
  const pairs: [Launcher, string, string[]][] = [
    ['ucx-run', 'NODE_UCX_RANK', ['NODE_UCX_SIZE']],
    ['ompi', 'OMPI_COMM_WORLD_RANK', ['OMPI_COMM_WORLD_SIZE']],
    ['pmix', 'PMIX_RANK', ['OMPI_COMM_WORLD_SIZE', 'PMIX_SIZE', 'PMI_SIZE', 'SLURM_NTASKS', 'WORLD_SIZE']],
    ['pmi', 'PMI_RANK', ['PMI_SIZE']],
    ['slurm', 'SLURM_PROCID', ['SLURM_NTASKS', 'SLURM_NPROCS']],
    ['torch', 'RANK', ['WORLD_SIZE']],
  ];
  for (const [launcher, rankVar, sizeVars] of pairs) {
    const rank = intVar(env, rankVar);
    if (rank === undefined) continue;
    let size: number | undefined;
    for (const sizeVar of sizeVars) size ??= intVar(env, sizeVar);
    if (size === undefined) {
      throw new MPIError('ERR_MPI_BOOTSTRAP', `${rankVar} is set but the job size is not (expected ${sizeVars.join(' or ')})`);
    }
    if (size < 1 || rank >= size) throw new MPIError('ERR_MPI_BOOTSTRAP', `${rankVar}=${rank} is not below the job size ${size}`);
    if (size > MAX_RANKS) throw new MPIError('ERR_MPI_BOOTSTRAP', `a job of ${size} ranks is more than node-ucx/mpi's MAX_RANKS (${MAX_RANKS})`);
    let jobId: string | null = null;
    let singleNode = false;
    if (launcher === 'ompi' || launcher === 'pmix') {
      jobId = env.OMPI_MCA_ess_base_jobid ?? env.PMIX_NAMESPACE ?? null;
      singleNode = env.OMPI_MCA_orte_num_nodes === '1';
    } else if (launcher === 'slurm') {
      jobId = env.SLURM_JOB_ID === undefined ? null : `${env.SLURM_JOB_ID}.${env.SLURM_STEP_ID ?? '0'}`;
      singleNode = env.SLURM_NNODES === '1' || env.SLURM_JOB_NUM_NODES === '1';
    } else if (launcher === 'ucx-run') {
      jobId = env.NODE_UCX_JOB_ID ?? null;
      singleNode = true;
    }
    return { rank, size, launcher, jobId, singleNode };
  }
  return { rank: 0, size: 1, launcher: 'singleton', jobId: null, singleNode: true };
}

export type Rendezvous =
  | { kind: 'tcp'; url: string; host: string; port: number; served: boolean }
  | { kind: 'file'; path: string }
  | { kind: 'none' };

/**
 * Where the store is: NODE_UCX_RENDEZVOUS (tcp://host:port or file:/path), else MASTER_ADDR/MASTER_PORT
 * (torch-style; rank 0 serves there), else a file named after the launcher's job id (Open MPI, PMIx, Slurm).
 */
export function resolveRendezvous(launch: LaunchInfo, env: Env = process.env): Rendezvous {
  const raw = env.NODE_UCX_RENDEZVOUS;
  if (raw !== undefined && raw !== '') {
    if (raw.startsWith('file:')) {
      const file = raw.startsWith('file://') ? new URL(raw).pathname : raw.slice('file:'.length);
      if (file === '') throw new MPIError('ERR_MPI_BOOTSTRAP', `NODE_UCX_RENDEZVOUS=${raw} names no file`);
      return { kind: 'file', path: path.resolve(file) };
    }
    const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(raw);
    if (match === null) throw new MPIError('ERR_MPI_BOOTSTRAP', `NODE_UCX_RENDEZVOUS=${raw} is neither tcp://host:port nor file:/path`);
    const host = match[1]!.replace(/^\[|\]$/g, '');
    return { kind: 'tcp', url: raw, host, port: Number(match[2]), served: env.NODE_UCX_RENDEZVOUS_SERVED === '1' };
  }
  if (launch.size === 1) return { kind: 'none' };
  if (env.MASTER_ADDR !== undefined && env.MASTER_PORT !== undefined) {
    const host = env.MASTER_ADDR;
    return { kind: 'tcp', url: `tcp://${host.includes(':') ? `[${host}]` : host}:${env.MASTER_PORT}`, host, port: Number(env.MASTER_PORT), served: false };
  }
  if (launch.jobId !== null) {
    // Open MPI's per-job session directory is made by mpirun, private to the user, and removed when the job ends.
    const dir = env.OMPI_MCA_orte_jobfam_session_dir ?? os.tmpdir();
    const safe = launch.jobId.replace(/[^\w.-]/g, '_');
    return { kind: 'file', path: path.join(dir, `node-ucx-rendezvous-${launch.launcher}-${safe}.json`) };
  }
  throw new MPIError('ERR_MPI_BOOTSTRAP',
    `rank ${launch.rank} of ${launch.size} (launched by ${launch.launcher}) has no rendezvous: ` +
    'set NODE_UCX_RENDEZVOUS=file:/shared/path or tcp://host:port, or launch with ucx-run');
}

export interface Bootstrap {
  launch: LaunchInfo;
  kv: KvClient | null;
  /** The store, when this process serves it (rank 0 without a launcher that serves it). */
  server: KvServer | null;
  /** The rendezvous file this rank wrote (rank 0, file mode): removed at finalize. */
  file: string | null;
}

interface RendezvousFile { url: string; secret: string | null; size: number; pid: number }

function readRendezvousFile(file: string): RendezvousFile | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as RendezvousFile;
    return typeof parsed.url === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

/**
 * Connects this rank to the store (serving it first when this is rank 0 and nobody else does).
 * `onJobAbort` runs when the job must end: another rank aborted, or left without finalize.
 */
export async function bootstrap(onJobAbort: (code: number, reason: string) => void, env: Env = process.env): Promise<Bootstrap> {
  const launch = detectLaunch(env);
  const rendezvous = resolveRendezvous(launch, env);
  if (rendezvous.kind === 'none') return { launch, kv: null, server: null, file: null };
  const timeoutMs = Number(env.NODE_UCX_BOOTSTRAP_TIMEOUT_MS ?? 60_000);
  let secret = env.NODE_UCX_JOB_SECRET ?? null;
  const { rank, size } = launch;
  let server: KvServer | null = null;
  let url: string;
  // When rank 0 serves the store, it is also the job's watchdog: a rank that aborts, or whose connection ends
  // before it said finalize, ends the job for everyone (like mpirun does).
  const serverHooks = {
    onAbort: (from: number, code: number, reason: string): void => {
      void server?.broadcastAbort(code, `rank ${from} called abort(${code}): ${reason}`, from).finally(() => onJobAbort(code, `rank ${from} called abort(${code}): ${reason}`));
    },
    onRankGone: (gone: number, finalized: boolean): void => {
      if (finalized || gone === 0) return;
      const reason = `rank ${gone} exited without calling finalize (it failed or was killed)`;
      void server?.broadcastAbort(1, reason).finally(() => onJobAbort(1, reason));
    },
  };
  let file: string | null = null;

  if (rendezvous.kind === 'tcp') {
    url = rendezvous.url;
    if (rank === 0 && !rendezvous.served) {
      server = await KvServer.start({ size, secret, host: rendezvous.host, port: rendezvous.port, ...serverHooks });
    }
  } else if (rank === 0) {
    // File mode: rank 0 serves on a free port and writes where, with a fresh secret, to a file only this user can read.
    secret ??= randomBytes(24).toString('hex');
    const advertise = env.NODE_UCX_RENDEZVOUS_HOST ?? (launch.singleNode ? '127.0.0.1' : os.hostname());
    const bind = launch.singleNode && env.NODE_UCX_RENDEZVOUS_HOST === undefined ? '127.0.0.1' : '0.0.0.0';
    server = await KvServer.start({ size, secret, host: bind, port: 0, ...serverHooks }, advertise);
    url = server.url;
    file = rendezvous.path;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify({ url, secret, size, pid: process.pid } satisfies RendezvousFile), { mode: 0o600 });
    fs.renameSync(temporary, file);
  } else {
    // Wait for rank 0's file; a stale one (from an earlier job) fails the hello, so read it again.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = readRendezvousFile(rendezvous.path);
      if (found !== null && found.size === size) {
        try {
          const kv = await KvClient.connect(found.url, { secret: found.secret, rank, size, timeoutMs: Math.min(5_000, Math.max(1, deadline - Date.now())) });
          return { launch, kv, server: null, file: null };
        } catch (error) {
          if (Date.now() >= deadline) throw error;
        }
      }
      if (Date.now() >= deadline) {
        throw new MPIError('ERR_MPI_BOOTSTRAP', `rank ${rank}: no rendezvous file from rank 0 at ${rendezvous.path} after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const kv = await KvClient.connect(url, { secret, rank, size, timeoutMs });
  return { launch, kv, server, file };
}
