// How a rank learns who it is (rank, size: from the launcher's environment)
// and finds the others (the rendezvous store). See docs/mpi.md ("Bootstrap").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { livenessFromEnv, type Liveness } from './kvstore.js';
import { StoreLink } from './store-link.js';
import type { StoreThreadData } from './store-thread.js';
import { loadPmix, type Pmix } from './pmix.js';
import { MPIError } from './errors.js';
import { MAX_RANKS } from './tags.js';

/** The launcher detectLaunch() recognized by its environment variables ('singleton': none, a job of one). */
export type Launcher = 'ucx-run' | 'ompi' | 'pmix' | 'pmi' | 'slurm' | 'torch' | 'singleton';

/** What detectLaunch() reads from the launcher's environment: this rank, the job's size, where it runs. */
export interface LaunchInfo {
  /** This process's rank in the job. */
  rank: number;
  /** The job's number of ranks. */
  size: number;
  /** The launcher it was started by. */
  launcher: Launcher;
  /** An id of the job from the launcher, when it gives one (used to name the rendezvous file). */
  jobId: string | null;
  /** Whether the launcher says every rank runs on this one node. */
  singleNode: boolean;
  /** How many nodes the launcher says the job spans, when it says. */
  nodes: number | null;
  /** Whether the launcher serves PMIx to this process (PMIX_NAMESPACE and PMIX_RANK are set). */
  pmix: boolean;
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
    let nodes: number | null = null;
    if (launcher === 'ompi' || launcher === 'pmix') {
      jobId = env.OMPI_MCA_ess_base_jobid ?? env.PMIX_NAMESPACE ?? null;
      nodes = intVar(env, 'OMPI_MCA_orte_num_nodes') ?? null;
    } else if (launcher === 'slurm') {
      jobId = env.SLURM_JOB_ID === undefined ? null : `${env.SLURM_JOB_ID}.${env.SLURM_STEP_ID ?? '0'}`;
      nodes = intVar(env, 'SLURM_STEP_NUM_NODES') ?? intVar(env, 'SLURM_NNODES') ?? intVar(env, 'SLURM_JOB_NUM_NODES') ?? null;
    } else if (launcher === 'ucx-run') {
      jobId = env.NODE_UCX_JOB_ID ?? null;
      // ucx-run sets the local size; ranks started by hand with NODE_UCX_RANK may be anywhere.
      const localSize = intVar(env, 'NODE_UCX_LOCAL_SIZE');
      if (localSize !== undefined) nodes = localSize === size ? 1 : null;
    }
    const pmix = env.PMIX_NAMESPACE !== undefined && env.PMIX_NAMESPACE !== '' && env.PMIX_RANK !== undefined && env.PMIX_RANK !== '';
    return { rank, size, launcher, jobId, singleNode: nodes === 1, nodes, pmix };
  }
  return { rank: 0, size: 1, launcher: 'singleton', jobId: null, singleNode: true, nodes: 1, pmix: false };
}

export type Rendezvous =
  | { kind: 'tcp'; url: string; urls: string[]; host: string; port: number; served: boolean }
  | { kind: 'file'; path: string; launcherFile: boolean }
  | { kind: 'pmix' }
  | { kind: 'none' };

const TCP_URL = /^tcp:\/\/(\[[^\]]+\]|[^:/,\s]+):(\d+)\/?$/;

/** `tcp://host:port`, checked; throws ERR_MPI_BOOTSTRAP naming `from`. */
function parseTcp(raw: string, from: string): { url: string; host: string; port: number } {
  const match = TCP_URL.exec(raw.trim());
  if (match === null) throw new MPIError('ERR_MPI_BOOTSTRAP', `${from}=${raw} is neither tcp://host:port nor file:/path`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new MPIError('ERR_MPI_BOOTSTRAP', `${from}=${raw}: port ${port} is not 1 ... 65535`);
  return { url: raw.trim(), host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Whether the PMIx path is taken: the launcher serves PMIx, nothing chose another way, and the binding loads. */
function pmixWanted(launch: LaunchInfo, env: Env): boolean {
  return launch.pmix && launch.size > 1 && env.NODE_UCX_PMIX !== '0' && loadPmix() !== null;
}

/**
 * Where the store is: NODE_UCX_RENDEZVOUS (tcp://host:port[,tcp://host2:port...] or file:/path), else
 * MASTER_ADDR/MASTER_PORT (torch-style; rank 0 serves there), else PMIx when the launcher serves it and the
 * optional binding is built, else a file named after the launcher's job id (Open MPI, PMIx, Slurm).
 */
export function resolveRendezvous(launch: LaunchInfo, env: Env = process.env): Rendezvous {
  const raw = env.NODE_UCX_RENDEZVOUS;
  if (raw !== undefined && raw !== '') {
    if (raw.startsWith('file:')) {
      const file = raw.startsWith('file://') ? new URL(raw).pathname : raw.slice('file:'.length);
      if (file === '') throw new MPIError('ERR_MPI_BOOTSTRAP', `NODE_UCX_RENDEZVOUS=${raw} names no file`);
      return { kind: 'file', path: path.resolve(file), launcherFile: false };
    }
    const all = raw.split(',').map((part) => parseTcp(part, 'NODE_UCX_RENDEZVOUS'));
    return {
      kind: 'tcp',
      url: all[0]!.url,
      urls: all.map((t) => t.url),
      host: all[0]!.host,
      port: all[0]!.port,
      served: env.NODE_UCX_RENDEZVOUS_SERVED === '1',
    };
  }
  if (launch.size === 1) return { kind: 'none' };
  if (env.MASTER_ADDR !== undefined && env.MASTER_PORT !== undefined) {
    const host = env.MASTER_ADDR;
    const tcp = parseTcp(`tcp://${host.includes(':') ? `[${host}]` : host}:${env.MASTER_PORT}`, 'MASTER_ADDR/MASTER_PORT');
    return { kind: 'tcp', ...tcp, urls: [tcp.url], served: false };
  }
  if (pmixWanted(launch, env)) return { kind: 'pmix' };
  if (launch.jobId !== null) {
    if (launch.nodes !== null && launch.nodes > 1) {
      const pmixNote = launch.pmix
        ? `the launcher serves PMIx, but node-ucx's PMIx binding is not built (${loadPmixError() ?? 'disabled by NODE_UCX_PMIX=0'}): install libpmix-dev and rebuild node-ucx (npm rebuild node-ucx), or `
        : '';
      throw new MPIError(
        'ERR_MPI_BOOTSTRAP',
        `rank ${launch.rank} of ${launch.size}: the job spans ${launch.nodes} nodes, and the launcher's per-job directory is ` +
          `on each node's own disk, so the ranks cannot meet through a file there: ${pmixNote}set NODE_UCX_RENDEZVOUS to ` +
          'file:/a/shared/file.json (a file system every node sees) or tcp://<host of rank 0>:<free port> ' +
          `(mpirun -x NODE_UCX_RENDEZVOUS=..., srun --export=ALL,NODE_UCX_RENDEZVOUS=...)`,
      );
    }
    // Open MPI's per-job session directory is made by mpirun, private to the user, and removed when the job ends.
    const dir = env.OMPI_MCA_orte_jobfam_session_dir ?? os.tmpdir();
    const safe = launch.jobId.replace(/[^\w.-]/g, '_');
    return { kind: 'file', path: path.join(dir, `node-ucx-rendezvous-${launch.launcher}-${safe}.json`), launcherFile: true };
  }
  throw new MPIError(
    'ERR_MPI_BOOTSTRAP',
    `rank ${launch.rank} of ${launch.size} (launched by ${launch.launcher}) has no rendezvous: ` +
      'set NODE_UCX_RENDEZVOUS=file:/shared/path or tcp://host:port, or launch with ucx-run',
  );
}

function loadPmixError(): string | null {
  return loadPmix.lastError;
}

/** Addresses other hosts may reach this one at: NODE_UCX_RENDEZVOUS_HOST, else every non-loopback IPv4 address, then the host name. */
export function routableHosts(env: Env = process.env): string[] {
  const given = env.NODE_UCX_RENDEZVOUS_HOST;
  if (given !== undefined && given !== '')
    return given
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== '');
  const found: string[] = [];
  for (const entries of Object.values(os.networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.internal || entry.family !== 'IPv4' || entry.address.startsWith('169.254.')) continue;
      if (!found.includes(entry.address)) found.push(entry.address);
    }
  }
  found.push(os.hostname());
  return found;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface Bootstrap {
  launch: LaunchInfo;
  /** The connection to the store (in the bootstrap thread); null for a job of one rank. */
  kv: StoreLink | null;
  /** Every rank's process card, in rank order. */
  cards: Buffer[];
  /** The rendezvous file this rank wrote (rank 0, file mode): removed at finalize. */
  file: string | null;
  /** How the ranks met, for messages and tests. */
  via: Rendezvous['kind'];
  liveness: Liveness;
}

interface RendezvousFile {
  url: string;
  urls?: string[];
  secret: string | null;
  size: number;
  pid: number;
}

function readRendezvousFile(file: string): RendezvousFile | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as RendezvousFile;
    return typeof parsed.url === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

/** Tells a PMIx launcher this rank is done with it (after the store's finalize); nothing for other launchers. */
export function leaveLauncher(boot: Bootstrap): void {
  if (boot.via !== 'pmix') return;
  try {
    loadPmix()?.finalize();
  } catch {
    // the launcher is gone; nothing left to tell it
  }
}

/** Reads the job secret and removes it (and the parent port) from the environment, so that the ranks' children do not inherit it. */
function takeSecret(env: Env): string | null {
  const secret = env.NODE_UCX_JOB_SECRET;
  delete env.NODE_UCX_JOB_SECRET;
  return secret === undefined || secret === '' ? null : secret;
}

function bootstrapTimeout(env: Env): number {
  const raw = env.NODE_UCX_BOOTSTRAP_TIMEOUT_MS;
  if (raw === undefined || raw === '') return 60_000;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new MPIError('ERR_MPI_ARG', `NODE_UCX_BOOTSTRAP_TIMEOUT_MS=${raw}: expected a positive number of milliseconds`);
  return value;
}

/**
 * Connects this rank to the store (serving it first when this is rank 0 and no launcher does), and gives
 * `card` (this process's card) for every rank's, in rank order.
 */
export async function bootstrap(launch: LaunchInfo, card: Buffer, env: Env = process.env): Promise<Bootstrap> {
  const secretFromEnv = takeSecret(env);
  const rendezvous = resolveRendezvous(launch, env);
  const liveness = livenessFromEnv(env);
  if (rendezvous.kind === 'none') return { launch, kv: null, cards: [card], file: null, via: 'none', liveness };
  const timeoutMs = bootstrapTimeout(env);
  const { rank, size } = launch;
  const base = {
    rank,
    size,
    timeoutMs,
    liveness,
    killGraceMs: 3_000,
    hint: 'Are the ranks of this job on hosts that can reach that address? Set NODE_UCX_RENDEZVOUS_HOST (file and PMIx modes) or NODE_UCX_RENDEZVOUS (tcp://) to one they can reach',
  };
  const finish = async (kv: StoreLink, file: string | null): Promise<Bootstrap> => {
    try {
      const cards = await kv.exchange('process-card', card, timeoutMs);
      return { launch, kv, cards, file, via: rendezvous.kind, liveness };
    } catch (error) {
      kv.close();
      if (file !== null) fs.rmSync(file, { force: true });
      throw error;
    }
  };

  if (rendezvous.kind === 'pmix') return pmixBootstrap(launch, card, loadPmix()!, base, liveness);

  if (rendezvous.kind === 'tcp') {
    if (rank === 0 && !rendezvous.served) {
      // Rank 0 serves at the address everyone was given (torch-style); on all interfaces unless it is a loopback one.
      const bind = isLoopback(rendezvous.host) ? rendezvous.host : rendezvous.host.includes(':') ? '::' : '0.0.0.0';
      const kv = await StoreLink.start({
        ...base,
        secret: secretFromEnv,
        urls: null,
        serve: { size, secret: secretFromEnv, host: bind, port: rendezvous.port, advertise: [rendezvous.host] },
      });
      return finish(kv, null);
    }
    const kv = await StoreLink.start({ ...base, secret: secretFromEnv, urls: rendezvous.urls, serve: null });
    return finish(kv, null);
  }

  // File mode: rank 0 serves on a free port and writes where, with a fresh secret, to a file only this user can read.
  const file = rendezvous.path;
  if (rank === 0) {
    const secret = secretFromEnv ?? randomBytes(24).toString('hex');
    const local = launch.singleNode && env.NODE_UCX_RENDEZVOUS_HOST === undefined;
    const advertise = local ? ['127.0.0.1'] : routableHosts(env);
    let written: string | null = null;
    const kv = await StoreLink.start(
      {
        ...base,
        secret,
        urls: null,
        serve: { size, secret, host: local ? '127.0.0.1' : '0.0.0.0', port: 0, advertise },
      },
      (urls) => {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const temporary = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(temporary, JSON.stringify({ url: urls[0]!, urls, secret, size, pid: process.pid } satisfies RendezvousFile), { mode: 0o600 });
        fs.renameSync(temporary, file);
        written = file;
      },
    );
    return finish(kv, written);
  }
  // Wait for rank 0's file; a stale one (from an earlier job) fails the hello, so read it again.
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const found = readRendezvousFile(file);
    if (found !== null && found.size === size) {
      try {
        const kv = await StoreLink.start({
          ...base,
          secret: found.secret,
          urls: found.urls ?? [found.url],
          serve: null,
          timeoutMs: Math.min(10_000, Math.max(1, deadline - Date.now())),
        });
        return finish(kv, null);
      } catch (error) {
        lastError = error;
        if (Date.now() >= deadline) throw error;
      }
    }
    if (Date.now() >= deadline) {
      const across = rendezvous.launcherFile
        ? " This file is in the launcher's per-job directory, on each node's own disk: if the ranks run on several nodes, set " +
          'NODE_UCX_RENDEZVOUS=file:/a/shared/file.json or tcp://<host of rank 0>:<port> (mpirun -x NODE_UCX_RENDEZVOUS=...), or build node-ucx with PMIx (libpmix-dev).'
        : ' The file must be visible to every rank: on several hosts, put it on a shared file system, or use NODE_UCX_RENDEZVOUS=tcp://<host of rank 0>:<port>.';
      throw new MPIError(
        'ERR_MPI_BOOTSTRAP',
        `rank ${rank}: no usable rendezvous file from rank 0 at ${file} after ${timeoutMs} ms.${across}` +
          (lastError !== undefined ? ` (last attempt: ${(lastError as Error).message})` : ''),
        lastError === undefined ? undefined : { cause: lastError },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * PMIx (Open MPI's mpirun, Slurm's srun --mpi=pmix): every rank puts its card, rank 0 also where its store
 * is and the job's secret (PMIx data is the job's own), one fence collects it all, then each rank gets
 * the others' and joins rank 0's store, which is the job's watchdog. No variables to set, on any number of nodes.
 */
async function pmixBootstrap(
  launch: LaunchInfo,
  card: Buffer,
  pmix: Pmix,
  base: Omit<StoreThreadData, 'serve' | 'urls' | 'secret'>,
  liveness: Liveness,
): Promise<Bootstrap> {
  const { rank, size } = launch;
  const me = pmix.init();
  if (me.rank !== rank) throw new MPIError('ERR_MPI_BOOTSTRAP', `PMIx says this is rank ${me.rank}, the environment says ${rank}`);
  let kv: StoreLink | null = null;
  try {
    let store: { urls: string[]; secret: string } | null = null;
    if (rank === 0) {
      const secret = randomBytes(24).toString('hex');
      const local = launch.singleNode && process.env.NODE_UCX_RENDEZVOUS_HOST === undefined;
      kv = await StoreLink.start(
        {
          ...base,
          secret,
          urls: null,
          serve: { size, secret, host: local ? '127.0.0.1' : '0.0.0.0', port: 0, advertise: local ? ['127.0.0.1'] : routableHosts() },
        },
        (urls) => {
          store = { urls, secret };
        },
      );
      pmix.put('node-ucx.store', Buffer.from(JSON.stringify(store)));
    }
    pmix.put('node-ucx.card', card);
    pmix.commit();
    // The fence blocks this thread until every rank has put; the bootstrap thread serves meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    pmix.fence(base.timeoutMs);
    const cards = Array.from({ length: size }, (_, r) => (r === rank ? card : pmix.get(me.namespace, r, 'node-ucx.card')));
    if (rank !== 0) {
      const raw = pmix.get(me.namespace, 0, 'node-ucx.store');
      let parsed: { urls?: unknown; secret?: unknown };
      try {
        parsed = JSON.parse(raw.toString('utf8')) as typeof parsed;
      } catch {
        throw new MPIError('ERR_MPI_BOOTSTRAP', 'rank 0 published a malformed store address through PMIx');
      }
      if (!Array.isArray(parsed.urls) || !parsed.urls.every((u) => typeof u === 'string') || typeof parsed.secret !== 'string') {
        throw new MPIError('ERR_MPI_BOOTSTRAP', 'rank 0 published a malformed store address through PMIx');
      }
      kv = await StoreLink.start({ ...base, secret: parsed.secret, urls: parsed.urls as string[], serve: null });
    }
    return { launch, kv: kv!, cards, file: null, via: 'pmix', liveness };
  } catch (error) {
    (kv as StoreLink | null)?.close();
    throw error;
  }
}
