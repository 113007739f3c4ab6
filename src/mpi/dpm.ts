// Dynamic process management: comm.spawn() (MPI_Comm_spawn), MPI.getParent(), ports (openPort, accept,
// connect), the name service (publishName, lookupName) and what finalize owes connected jobs. Two jobs
// meet through a port (port.ts): their roots exchange their groups' process cards over it, every process
// adds the other job's to its table, and they agree on a context id; the port's connection stays as the
// link that tells each job when the other is gone. Spawn is a port too: the root starts `ucx-run -n
// maxprocs command args` with the port's name in NODE_UCX_PARENT_PORT, and the children's init()
// connects to it (that intercommunicator is their getParent()).
//
// spawn/accept/connect are Comm methods that call in here (setDynamicProcesses), so that comm.ts stays
// about one communicator.
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Comm, kInternals, setDynamicProcesses } from './comm.js';
import { Intercomm, live } from './intercomm.js';
import { Port, connectPort, parsePortName, type GroupInfo, type PortLink } from './port.js';
import { decodeCard, encodeCard } from './card.js';
import { MAX } from './op.js';
import { MAX_RANKS } from './tags.js';
import { MPIError, type MPIErrorCode } from './errors.js';
import { invalidArgType, validateInteger, validateString } from '../util/validate.js';

/** How long a spawn, accept or connect waits for the other side (ms). */
function dpmTimeout(): number {
  const raw = Number(process.env.NODE_UCX_DPM_TIMEOUT_MS ?? process.env.NODE_UCX_BOOTSTRAP_TIMEOUT_MS ?? 60_000);
  return Number.isInteger(raw) && raw > 0 ? raw : 60_000;
}

// Set by the runtime (index.ts): how a lost connected job ends this one.
let onLostJob: (reason: string) => void = (reason) => {
  throw new MPIError('ERR_MPI_PROC_FAILED', reason);
};
export function setLostJobHandler(handler: (reason: string) => void): void {
  onLostJob = handler;
}

// ---- ports ----

const openPorts = new Map<string, Port>();

/** Opens a port for accept(); its name is what a connecting job needs (pass it along, or publishName it). */
export async function openPort(_info?: unknown): Promise<string> {
  const port = await Port.open();
  openPorts.set(port.name, port);
  return port.name;
}

/** Closes a port openPort() opened: no further accept() on it (MPI_Close_port). */
export async function closePort(name: string): Promise<void> {
  const port = openPorts.get(name);
  if (port === undefined) throw new MPIError('ERR_MPI_PORT', `closePort: ${String(name).slice(0, 80)} is not a port opened by this process`);
  openPorts.delete(name);
  await port.close();
}

// ---- the name service: a directory of this user's (NODE_UCX_NAME_DIR; on several hosts, a shared one) ----

function nameDir(): string {
  return process.env.NODE_UCX_NAME_DIR ?? path.join(os.tmpdir(), `node-ucx-names-${process.getuid?.() ?? 'user'}`);
}

function serviceFile(service: unknown, what: string): string {
  validateString(service, 'service');
  if (service.length === 0 || service.length > 200) throw new MPIError('ERR_MPI_NAME', `${what}: a service name must be 1 ... 200 characters`);
  return path.join(nameDir(), `${encodeURIComponent(service)}.port`);
}

/** Publishes `port` under `service` (readable by this user only), for lookupName(). */
export function publishName(service: string, port: string, _info?: unknown): void {
  parsePortName(port);
  const file = serviceFile(service, 'publishName');
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, port, { mode: 0o600 });
  fs.renameSync(temporary, file);
}

/** The port published under `service`; ERR_MPI_NAME if there is none. */
export function lookupName(service: string, _info?: unknown): string {
  const file = serviceFile(service, 'lookupName');
  let port: string;
  try {
    port = fs.readFileSync(file, 'utf8');
  } catch {
    throw new MPIError('ERR_MPI_NAME', `no port is published under the service name '${service}' (in ${nameDir()})`);
  }
  parsePortName(port);
  return port;
}

/** Withdraws what publishName() published under `service`; ERR_MPI_NAME if nothing is (or, with `port`, another port is). */
export function unpublishName(service: string, port?: string, _info?: unknown): void {
  const file = serviceFile(service, 'unpublishName');
  let published: string | null = null;
  try {
    published = fs.readFileSync(file, 'utf8');
  } catch {
    throw new MPIError('ERR_MPI_NAME', `no port is published under the service name '${service}'`);
  }
  if (port !== undefined && published !== port) throw new MPIError('ERR_MPI_NAME', `the service '${service}' is published with another port`);
  fs.rmSync(file, { force: true });
}

// ---- accept / connect: two groups become an intercommunicator ----

type Outcome = { ok: true; context: number; cards: Uint8Array[] } | { ok: false; code: MPIErrorCode; message: string };

/**
 * The collective part of accept, connect and spawn: the group agrees on a local communicator and a
 * context-id candidate, the root meets the other group (`meet`), and everyone learns its cards.
 */
async function joinGroups(
  comm: Comm,
  root: number,
  first: boolean,
  meet: (mine: GroupInfo) => Promise<{ link: PortLink; theirs: GroupInfo }>,
): Promise<Intercomm> {
  const { world, ranks } = comm[kInternals]();
  if (!Number.isInteger(root) || root < 0 || root >= comm.size)
    throw new MPIError('ERR_MPI_ROOT', `root ${String(root)} is not a rank of this communicator (0 ... ${comm.size - 1})`);
  const local = await comm.dup();
  const candidate = await comm.allreduce(world.nextContextId, MAX);
  let outcome: Outcome | null = null;
  let link: PortLink | null = null;
  // The root's own error (a TypeError for a bad argument, say) is what the root throws; the others get it as an MPIError.
  let rootError: unknown;
  if (comm.rank === root) {
    try {
      const met = await meet({ size: comm.size, context: candidate, cards: ranks.map((index) => encodeCard(world.cards[index]!)) });
      link = met.link;
      if (comm.size + met.theirs.size > MAX_RANKS)
        throw new MPIError('ERR_MPI_COMM', `the two groups together have more than MAX_RANKS (${MAX_RANKS}) processes`);
      outcome = { ok: true, context: Math.max(candidate, met.theirs.context), cards: met.theirs.cards };
    } catch (error) {
      link?.abort();
      link = null;
      rootError = error;
      const code = error instanceof MPIError ? error.code : error instanceof TypeError || error instanceof RangeError ? 'ERR_MPI_ARG' : 'ERR_MPI_PORT';
      outcome = { ok: false, code, message: (error as Error).message };
    }
  }
  outcome = await comm.bcast(outcome, root);
  if (!outcome!.ok) {
    local.free();
    throw rootError ?? new MPIError(outcome!.code, `at the root (rank ${root}): ${outcome!.message}`);
  }
  const remote = world.addProcesses(outcome!.cards.map((card, r) => decodeCard(card, `rank ${r} of the other job`)));
  world.nextContextId = Math.max(world.nextContextId, outcome!.context + 1);
  const intercomm = new Intercomm(world, outcome!.context, local, ranks, remote, comm.rank, first, link);
  link?.watch((reason) => {
    intercomm.abortLink();
    onLostJob(reason);
  });
  return intercomm;
}

async function accept(this: Comm, port: string | null, root = 0): Promise<Intercomm> {
  return joinGroups(this, root, true, async (mine) => {
    parsePortName(port);
    const open = openPorts.get(port!);
    if (open === undefined) throw new MPIError('ERR_MPI_PORT', 'accept: the port was not opened by this process (openPort())');
    const link = await open.accept(dpmTimeout());
    return { link, theirs: await link.exchange(mine, dpmTimeout()) };
  });
}

async function connect(this: Comm, port: string | null, root = 0): Promise<Intercomm> {
  return joinGroups(this, root, false, async (mine) => {
    const link = await connectPort(port as string, dpmTimeout());
    return { link, theirs: await link.exchange(mine, dpmTimeout()) };
  });
}

// ---- spawn ----

const UCX_RUN = fileURLToPath(new URL('../cli/ucx-run.js', import.meta.url));
/** The environment a job of its own must not inherit from this one (its launcher's and node-ucx's). */
const LAUNCHER_VARS =
  /^(NODE_UCX_(RANK|SIZE|LOCAL_RANK|LOCAL_SIZE|RENDEZVOUS|RENDEZVOUS_SERVED|RENDEZVOUS_HOST|JOB_ID|JOB_SECRET|HOST|PARENT_PORT)|OMPI_.*|PMIX_.*|PMI_.*|SLURM_.*|RANK|WORLD_SIZE|LOCAL_RANK|LOCAL_WORLD_SIZE|MASTER_ADDR|MASTER_PORT)$/;

function checkSpawnArgs(command: unknown, args: unknown, maxprocs: unknown): asserts command is string {
  validateString(command, 'command');
  if (command.length === 0) throw invalidArgType('command', 'a non-empty string', command);
  if (args !== null && args !== undefined && (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))) {
    throw invalidArgType('args', 'an array of strings or null', args);
  }
  validateInteger(maxprocs, 'maxprocs', 1, MAX_RANKS);
}

/** The children's job: ucx-run, so that their failures and output are handled as any job's. */
function launchChildren(command: string, args: readonly string[], maxprocs: number, port: string): ChildProcess {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !LAUNCHER_VARS.test(name)) env[name] = value;
  env.NODE_UCX_PARENT_PORT = port;
  return spawnProcess(process.execPath, [UCX_RUN, '-n', String(maxprocs), '--', command, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
}

async function spawnChildren(this: Comm, command: string, args: readonly string[] | null = null, maxprocs = 1, root = 0): Promise<Intercomm> {
  return joinGroups(this, root, true, async (mine) => {
    checkSpawnArgs(command, args, maxprocs);
    // The children run on this machine (ucx-run): the port listens on loopback only.
    const port = await Port.open(true);
    const child = launchChildren(command, args ?? [], maxprocs, port.name);
    try {
      const exited = new Promise<never>((_, reject) => {
        const job = [command, ...(args ?? [])].join(' ');
        const fail = (why: string): void => reject(new MPIError('ERR_MPI_SPAWN', `spawn: the job of ${maxprocs} '${job}' ${why} before it connected`));
        child.once('error', (error) => fail(`could not start (${error.message})`));
        child.once('exit', (code, signal) => fail(`ended (${signal ?? `exit code ${code}`})`));
      });
      exited.catch(() => {});
      const link = await Promise.race([port.accept(dpmTimeout()), exited]);
      const theirs = await Promise.race([link.exchange(mine, dpmTimeout()), exited]);
      // The children live on their own from now on: they must not keep this process alive.
      child.unref();
      return { link, theirs };
    } catch (error) {
      if (child.exitCode === null) child.kill('SIGTERM');
      throw error;
    } finally {
      await port.close();
    }
  });
}

// ---- the children's side ----

let parent: Intercomm | null = null;

/** The intercommunicator to the job that spawned this one, or null (MPI_COMM_NULL). */
export function getParent(): Intercomm | null {
  return parent;
}

/** @internal init(): a spawned job connects to its parent's port (NODE_UCX_PARENT_PORT). */
export async function connectToParent(world: Comm): Promise<void> {
  const port = process.env.NODE_UCX_PARENT_PORT;
  delete process.env.NODE_UCX_PARENT_PORT;
  if (port === undefined || port === '') return;
  parent = await connect.call(world, world.rank === 0 ? port : null, 0);
}

/** @internal finalize(): every intercommunicator still connected is disconnected (collective with the other job). */
export async function disconnectAll(): Promise<void> {
  for (const intercomm of [...live]) await intercomm.disconnect();
  for (const port of openPorts.values()) await port.close();
  openPorts.clear();
}

/** @internal The job is being torn down: drop the links at once. */
export function abortAll(): void {
  for (const intercomm of [...live]) intercomm.abortLink();
}

// ---- on Comm ----

setDynamicProcesses({
  spawn: (comm, command, args, maxprocs, root) => spawnChildren.call(comm, command, args, maxprocs, root),
  accept: (comm, port, root) => accept.call(comm, port, root),
  connect: (comm, port, root) => connect.call(comm, port, root),
  getParent,
});
