// initialize(): a cluster made of the ranks of a job, as dask-mpi does it. Under ucx-run, Open MPI's
// mpirun or Slurm's srun every rank runs the same script; initialize() gives each its role:
//
//   rank 0   runs the scheduler; initialize() never returns there (the process exits 0 when the job is done)
//   rank 1   runs the rest of the script as the client: initialize() resolves with a Client, once every
//            worker has joined; closing it (or the process ending) ends the job
//   rank ≥ 2 runs a worker; initialize() never returns there (exit 0 when the scheduler closes)
//
// The launcher's store (src/mpi/bootstrap.ts: rank and size from the launcher's environment, the job's
// authenticated rendezvous store) is used only to bootstrap: rank 0 publishes the scheduler's address and a
// fresh cluster secret there (never on a command line or in the environment), the others publish that they
// joined, and every rank then leaves the store. The store's connections are plain TCP, so the secret is
// sealed to each rank (X25519 key agreement through the store, AES-256-GCM): someone who can only read
// the store's traffic does not learn it. From there on the cluster's own connections carry
// everything, and a rank's death is handled as in any cluster (or by the launcher, which ends the job).
import fs from 'node:fs';
import os from 'node:os';
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { bootstrap, detectLaunch, leaveLauncher, resolveRendezvous, type Bootstrap } from '../mpi/bootstrap.js';
import { invalidArgType, invalidArgValue, validateInteger } from '../util/validate.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { TaskWorker, routableHost, type TaskWorkerOptions } from './task-worker.js';
import { Nanny } from './nanny.js';
import { Client } from './client.js';
import { LaunchError } from './scheduler-file.js';

/** How initialize() makes a cluster of an MPI-style job's ranks: transport, host, worker threads and memory. */
export interface InitializeOptions {
  /** The scheduler's and the workers' transport: 'ucx' (default) or 'tcp'. */
  protocol?: 'ucx' | 'tcp';
  /**
   * The host the scheduler (rank 0) listens on. Default: 127.0.0.1 when the launcher says the job is on one
   * node, else the address of `interface`, else this host's first non-loopback IPv4 address.
   */
  host?: string;
  /** A network interface ('ib0', 'eth0'): every rank listens on its own IPv4 address of it (dask-mpi's `interface`). */
  interface?: string;
  /** Threads per worker (default 1). */
  nthreads?: number;
  /** Per worker: bytes, or a string such as '4GiB', '80%', '0.5' (of this host's memory) or 'auto' (default 0: none). */
  memoryLimit?: number | string;
  /** Resources each worker has (tasks may ask for them). */
  resources?: Record<string, number>;
  /** Run each worker in a child process under a Nanny (restarted if it dies) instead of in the rank itself (default false, as dask-mpi). */
  nanny?: boolean;
  /** Passed to the scheduler on rank 0 (its state machine's config, tick). */
  scheduler?: Omit<SchedulerOptions, 'address' | 'secret'>;
  /** More worker options (spill directory, memory fractions, heartbeat). */
  worker?: Omit<TaskWorkerOptions, 'scheduler' | 'secret' | 'nthreads' | 'memoryLimit' | 'resources' | 'name' | 'listen'>;
  /**
   * true (default): ranks 0 and ≥ 2 exit (code 0) once the job is done and initialize() never resolves there.
   * false: initialize() resolves with null there when the job is done, and the process is left to the caller.
   */
  exit?: boolean;
  /** How long to wait for the store and the other ranks (default NODE_UCX_BOOTSTRAP_TIMEOUT_MS or 60 s). */
  timeoutMs?: number;
}

/** Every rank's X25519 public key: the cluster secret is sealed to each rank, never in clear in the store's traffic. */
const KEYS_KEY = 'node-ucx/scheduler:keys';
/** What rank 0 gives the others, through the job's store: the address, and the secret sealed to each rank. */
const ADDRESS_KEY = 'node-ucx/scheduler:address';
/** Every rank says it is in: workers their address (after registering), rank 1 its client id. */
const JOINED_KEY = 'node-ucx/scheduler:joined';

/** The role of this rank, as initialize() gives it (0: scheduler, 1: client, ≥ 2: worker), without joining anything. */
export function launchRole(env: Record<string, string | undefined> = process.env): {
  /** This process's rank in the job. */
  rank: number;
  /** The job's number of ranks. */
  size: number;
  /** What initialize() makes of this rank. */
  role: 'scheduler' | 'client' | 'worker';
} {
  const { rank, size } = detectLaunch(env);
  return { rank, size, role: rank === 0 ? 'scheduler' : rank === 1 ? 'client' : 'worker' };
}

/**
 * Makes a cluster of this job's ranks (dask-mpi's `initialize()`): see the top of this file. On rank 1 it
 * resolves with a Client connected to the cluster once all `size - 2` workers have joined; the job ends
 * when that client is closed (`await client.close()` at the end of the script) or its process exits.
 */
export function initialize(opts?: InitializeOptions & { exit?: true }): Promise<Client>;
export function initialize(opts: InitializeOptions & { exit: false }): Promise<Client | null>;
export async function initialize(opts: InitializeOptions = {}): Promise<Client | null> {
  if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
  const protocol = opts.protocol ?? 'ucx';
  if (protocol !== 'ucx' && protocol !== 'tcp') throw invalidArgValue('opts.protocol', protocol, "must be 'ucx' or 'tcp'");
  const nthreads = opts.nthreads ?? 1;
  validateInteger(nthreads, 'opts.nthreads', 1, 1024);
  const memoryLimit = parseMemoryLimit(opts.memoryLimit ?? 0, nthreads);
  if (opts.host !== undefined && (typeof opts.host !== 'string' || opts.host === '')) throw invalidArgType('opts.host', 'a host name or address', opts.host);
  if (opts.interface !== undefined) interfaceAddress(opts.interface);
  const env = process.env;
  const timeoutMs = opts.timeoutMs ?? Number(env.NODE_UCX_BOOTSTRAP_TIMEOUT_MS ?? 60_000);
  validateInteger(timeoutMs, 'opts.timeoutMs', 1, 2 ** 31 - 1);

  const launch = detectLaunch(env);
  if (launch.launcher === 'singleton') {
    throw new LaunchError(
      'ERR_SCHEDULER_LAUNCH',
      'initialize() runs under a launcher with 3 ranks or more (rank 0 the scheduler, rank 1 the client, ' +
        'the others workers): ucx-run -n 4 node script.mjs, mpirun -n 4 node script.mjs or srun -n 4 node script.mjs. For one process, use new LocalCluster()',
    );
  }
  if (launch.size < 3) {
    throw new LaunchError(
      'ERR_SCHEDULER_LAUNCH',
      `initialize() needs 3 ranks or more (a scheduler, a client and at least one worker); this job has ${launch.size}`,
    );
  }
  // The cluster secret goes through the store: only if the store lets nobody in without the job's secret.
  const rendezvous = resolveRendezvous(launch, env);
  if (rendezvous.kind === 'tcp' && (env.NODE_UCX_JOB_SECRET ?? '') === '') {
    throw new LaunchError(
      'ERR_SCHEDULER_LAUNCH',
      `the job's rendezvous store (${rendezvous.url}) has no secret (NODE_UCX_JOB_SECRET is unset), ` +
        'so anyone could read the cluster secret from it: launch with ucx-run, use a file: rendezvous, or set NODE_UCX_JOB_SECRET on every rank',
    );
  }

  let ending = false;
  const jobAbort = (code: number, reason: string): void => {
    if (ending) return;
    ending = true;
    process.stderr.write(`[node-ucx scheduler] rank ${launch.rank}: ${reason}; exiting with code ${code}\n`);
    setTimeout(() => process.exit(code), 200);
  };
  // The ranks meet through the MPI shim's store (ucx-run's, a file, PMIx): no process cards to swap.
  const boot = await bootstrap(launch, Buffer.alloc(0), env);
  const kv = boot.kv!;
  kv.onAbort(jobAbort);
  kv.onLost((reason) => jobAbort(1, `lost the rendezvous store (the launcher or rank 0 is gone): ${reason}`));
  // Each rank's own address to listen on: the interface's when one is named.
  const own = opts.interface !== undefined ? interfaceAddress(opts.interface) : launch.singleNode ? '127.0.0.1' : routableHost();
  const host = opts.host ?? own;
  // A rank that cannot play its part ends the job: the others would wait for it.
  const fail = async (error: unknown): Promise<never> => {
    const reason = `rank ${launch.rank}: ${(error as Error)?.message ?? String(error)}`;
    // The store tells every rank (rank 0 serves it in its bootstrap thread).
    await kv.abort(1, reason);
    if (boot.file !== null) fs.rmSync(boot.file, { force: true });
    throw error;
  };
  const pair = generateKeyPairSync('x25519');
  const ownKey = { private: pair.privateKey, public: pair.publicKey.export({ type: 'spki', format: 'der' }) };
  const done = (): Promise<null> => {
    if (opts.exit !== false) {
      process.exit(0);
    }
    return Promise.resolve(null);
  };

  if (launch.rank === 0) {
    const secret = randomBytes(32);
    let scheduler: Scheduler;
    try {
      scheduler = await Scheduler.start({ ...opts.scheduler, address: `${protocol}://${host}:0`, secret });
    } catch (error) {
      return fail(error);
    }
    scheduler.on('warning', (warning: unknown) => process.stderr.write(`[node-ucx scheduler] rank 0: ${String((warning as Error)?.message ?? warning)}\n`));
    // The job is done when rank 1's client leaves (closed, or its process ended).
    const gone = new Set<string>();
    let clientId: string | null = null;
    let finished!: () => void;
    const over = new Promise<void>((resolve) => {
      finished = resolve;
    });
    scheduler.on('client-removed', (id: string) => {
      gone.add(id);
      if (id === clientId) finished();
    });
    try {
      const keys = await kv.exchange(KEYS_KEY, ownKey.public, timeoutMs);
      const sealed: Record<string, string> = {};
      for (let rank = 1; rank < launch.size; rank++) sealed[rank] = seal(secret, sharedKey(ownKey.private, keys[rank]!, rank));
      await kv.exchange(ADDRESS_KEY, Buffer.from(JSON.stringify({ address: scheduler.address, sealed })), timeoutMs);
      const joined = await kv.exchange(JOINED_KEY, Buffer.alloc(0), timeoutMs);
      clientId = joined[1]!.toString();
    } catch (error) {
      await scheduler.close();
      return fail(error);
    }
    await leaveStore(boot, timeoutMs);
    if (gone.has(clientId)) finished();
    await over;
    // The workers are told to close and do; their half of each connection's graceful close can cross the
    // scheduler's and leave it waiting for an acknowledgement that never comes (ucx://, about half the time:
    // 5 s, the transport's closeTimeoutMs). The job is over once the close messages are out: wait at most 1 s.
    await Promise.race([scheduler.close(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    return done();
  }

  let cluster: { address: string; secret: Buffer };
  try {
    const keys = await kv.exchange(KEYS_KEY, ownKey.public, timeoutMs);
    const values = await kv.exchange(ADDRESS_KEY, Buffer.alloc(0), timeoutMs);
    const parsed = JSON.parse(values[0]!.toString()) as { address: string; sealed: Record<string, string> };
    cluster = { address: parsed.address, secret: unseal(parsed.sealed[launch.rank]!, sharedKey(ownKey.private, keys[0]!, launch.rank)) };
  } catch (error) {
    return fail(error);
  }

  if (launch.rank === 1) {
    const client = new Client({ address: cluster.address, secret: cluster.secret });
    try {
      await client.ready;
      // Resolves once every worker has registered: the script starts on the whole cluster.
      await kv.exchange(JOINED_KEY, Buffer.from(client.id), timeoutMs);
    } catch (error) {
      await client.close();
      return fail(error);
    }
    await leaveStore(boot, timeoutMs);
    return client;
  }

  const workerOptions: Omit<TaskWorkerOptions, 'scheduler' | 'secret'> = {
    ...opts.worker,
    nthreads,
    memoryLimit,
    name: String(launch.rank),
    ...(opts.resources !== undefined ? { resources: opts.resources } : {}),
    ...(opts.interface !== undefined || !launch.singleNode ? { listen: `${protocol}://${own}:0` } : {}),
  };
  let closed: Promise<void>;
  let address: string;
  try {
    if (opts.nanny === true) {
      const nanny = new Nanny({ scheduler: cluster.address, secret: cluster.secret, worker: workerOptions });
      closed = new Promise<void>((resolve) =>
        nanny.on('exit', (_code: number | null, _signal: string | null, restarting: boolean) => {
          if (!restarting) resolve();
        }),
      );
      nanny.on('error', (error: unknown) => process.stderr.write(`[node-ucx scheduler] rank ${launch.rank}: ${String((error as Error)?.message ?? error)}\n`));
      address = await nanny.start();
    } else {
      const worker = await TaskWorker.start({ ...workerOptions, scheduler: cluster.address, secret: cluster.secret });
      closed = new Promise<void>((resolve) => {
        worker.once('close', () => resolve());
        // Its graceful close can wait 5 s on the scheduler's crossing one (see rank 0 above): once it has
        // begun, 1 s is enough.
        const watch = setInterval(() => {
          if (!worker.closed) return;
          clearInterval(watch);
          setTimeout(resolve, 1_000);
        }, 50);
        watch.unref();
      });
      address = worker.address;
    }
    await kv.exchange(JOINED_KEY, Buffer.from(address), timeoutMs);
  } catch (error) {
    return fail(error);
  }
  await leaveStore(boot, timeoutMs);
  await closed;
  return done();
}

/** The key rank 0 and `rank` share: X25519 of one's private and the other's public key, through HKDF. */
function sharedKey(own: KeyObject, peerPublic: Buffer, rank: number): Buffer {
  const peer = createPublicKey({ key: peerPublic, format: 'der', type: 'spki' });
  const shared = diffieHellman({ privateKey: own, publicKey: peer });
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), `node-ucx/scheduler cluster secret, rank ${rank}`, 32));
}

function seal(secret: Buffer, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(secret), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

function unseal(box: string, key: Buffer): Buffer {
  if (typeof box !== 'string') throw new LaunchError('ERR_SCHEDULER_LAUNCH', 'rank 0 sealed no cluster secret for this rank');
  const bytes = Buffer.from(box, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]);
}

/** This rank is done with the store: it waits until every rank is (rank 0's store then ends) and removes its file. */
async function leaveStore(boot: Bootstrap, timeoutMs: number): Promise<void> {
  await boot.kv?.finalize(timeoutMs);
  if (boot.file !== null) fs.rmSync(boot.file, { force: true });
  leaveLauncher(boot);
}

// ---- worker settings, shared with ucx-worker ----

/** This host's IPv4 address on a network interface ('ib0', 'eth0'). */
export function interfaceAddress(name: string): string {
  if (typeof name !== 'string' || name === '') throw invalidArgType('interface', 'a network interface name', name);
  const addresses = os.networkInterfaces()[name];
  if (addresses === undefined) {
    throw invalidArgValue('interface', name, `is not a network interface of this host (it has ${Object.keys(os.networkInterfaces()).join(', ')})`);
  }
  const ipv4 = addresses.find((a) => a.family === 'IPv4');
  if (ipv4 === undefined) throw invalidArgValue('interface', name, 'has no IPv4 address');
  return ipv4.address;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * The memory this host gives this process: the physical memory, or the cgroup's limit when it is lower
 * (a container, a Slurm job with memory enforcement).
 */
export function systemMemory(): number {
  let limit = os.totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const value = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isFinite(value) && value > 0 && value < limit) limit = value;
    } catch {
      // no such cgroup file
    }
  }
  return limit;
}

/**
 * A worker's memory limit in bytes, as Dask reads one: a number of bytes; '4GiB', '4 GB', '512MiB', '1e9'
 * (k, M, G, T are powers of 1000, KiB, MiB, GiB, TiB of 1024); '80%' or a fraction such as '0.8' of this
 * host's memory; 'auto': this host's memory × min(1, nthreads / CPUs); 0 or 'none': no limit.
 */
export function parseMemoryLimit(value: number | string, nthreads = 1): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw invalidArgValue('memoryLimit', value, 'must be a number of bytes >= 0');
    return value > 0 && value <= 1 ? Math.floor(value * systemMemory()) : Math.floor(value);
  }
  if (typeof value !== 'string') throw invalidArgType('memoryLimit', 'a number of bytes or a string such as 4GiB, 80% or auto', value);
  const text = value.trim().toLowerCase();
  if (text === 'auto') return Math.floor(systemMemory() * Math.min(1, nthreads / os.availableParallelism()));
  if (text === 'none' || text === '0') return 0;
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (percent !== null) {
    const share = Number(percent[1]) / 100;
    if (share > 1) throw invalidArgValue('memoryLimit', value, "is more than 100 % of this host's memory");
    return Math.floor(share * systemMemory());
  }
  const bytes = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)$/.exec(text);
  const unit = bytes === null ? undefined : UNITS[bytes[2]!];
  if (bytes === null || unit === undefined) throw invalidArgValue('memoryLimit', value, 'is not a memory size (bytes, 4GiB, 4GB, 80%, 0.8 or auto)');
  const number = Number(bytes[1]);
  if (bytes[2] === '' && number > 0 && number <= 1) return Math.floor(number * systemMemory());
  return Math.floor(number * unit);
}

/** Worker resources as Dask's CLI writes them: 'GPU=1,MEM=4e9' or 'GPU=1 MEM=4e9'. */
export function parseResources(text: string): Record<string, number> {
  if (typeof text !== 'string') throw invalidArgType('resources', 'a string such as GPU=1,MEM=4e9', text);
  const out: Record<string, number> = {};
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const match = /^([A-Za-z_][\w.-]*)=(\d+(?:\.\d+)?(?:e\d+)?)$/.exec(item);
    if (match === null) throw invalidArgValue('resources', text, `has '${item}', which is not NAME=NUMBER`);
    out[match[1]!] = Number(match[2]);
  }
  return out;
}
