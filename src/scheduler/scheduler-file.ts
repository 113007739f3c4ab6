// Scheduler files: how a scheduler started by hand or by a batch system tells its
// workers and clients where it is and what the cluster secret is (Dask's
// --scheduler-file). JSON { address, secret (base64), pid, started }, written with
// mode 0600 to a temporary name and renamed into place (a reader never sees half a
// file), removed by the scheduler that wrote it when it stops. Client's
// `{ schedulerFile }` target reads the same format.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalidArgType } from '../util/validate.js';

/** What a scheduler file holds, as readSchedulerFile() returns it: enough for a worker or client to join. */
export interface SchedulerFileContents {
  /** The scheduler's address. */
  address: string;
  /** The cluster secret (decoded from the file's base64). */
  secret: Buffer;
  /** The process that wrote it (0 when the file does not say). */
  pid: number;
}

/** LaunchError.code: a scheduler file problem, or a job initialize() cannot use. */
export type LaunchErrorCode =
  | 'ERR_SCHEDULER_FILE' // no scheduler file (in time), or one that is not a scheduler file
  | 'ERR_SCHEDULER_LAUNCH'; // initialize() cannot make a cluster of this job (no launcher, too few ranks, no secret store)

/** Launch failures: a missing or malformed scheduler file, a job initialize() cannot use. */
export class LaunchError extends Error {
  /** Which failure it is. */
  readonly code: LaunchErrorCode;
  constructor(code: LaunchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LaunchError';
    this.code = code;
  }
}

/**
 * Writes the scheduler file (mode 0600, atomically) and returns a function that removes it again, if it is
 * still the one this process wrote (a later scheduler's file at the same path is left alone).
 */
export function writeSchedulerFile(file: string, contents: { address: string; secret: Buffer }): () => void {
  if (typeof file !== 'string' || file === '') throw invalidArgType('file', 'a non-empty path', file);
  if (typeof contents?.address !== 'string') throw invalidArgType('contents.address', 'a string', contents?.address);
  if (!Buffer.isBuffer(contents.secret)) throw invalidArgType('contents.secret', 'a Buffer', contents.secret);
  const target = path.resolve(file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const text = JSON.stringify({
    address: contents.address,
    secret: contents.secret.toString('base64'),
    pid: process.pid,
    started: new Date().toISOString(),
  });
  const temporary = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // 'wx': a fresh file, never one another user prepared (it is created with 0600, whatever the umask adds).
  fs.writeFileSync(temporary, `${text}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.renameSync(temporary, target);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    try {
      if (fs.readFileSync(target, 'utf8').trim() === text) fs.rmSync(target, { force: true });
    } catch {
      // already gone
    }
  };
}

/** Reads and checks a scheduler file; a LaunchError (ERR_SCHEDULER_FILE) says what is wrong with it. */
export function readSchedulerFile(file: string): SchedulerFileContents {
  if (typeof file !== 'string' || file === '') throw invalidArgType('file', 'a non-empty path', file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new LaunchError(
      'ERR_SCHEDULER_FILE',
      code === 'ENOENT' ? `there is no scheduler file at ${file}` : `cannot read the scheduler file ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new LaunchError('ERR_SCHEDULER_FILE', `${file} is not a scheduler file (not JSON)`, { cause: error });
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (typeof record.address !== 'string' || !/^(ucx|tcp|inproc):\/\//.test(record.address)) {
    throw new LaunchError('ERR_SCHEDULER_FILE', `${file} is not a scheduler file (no ucx://, tcp:// or inproc:// address)`);
  }
  if (typeof record.secret !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(record.secret)) {
    throw new LaunchError('ERR_SCHEDULER_FILE', `${file} is not a scheduler file (no base64 secret)`);
  }
  const secret = Buffer.from(record.secret, 'base64');
  if (secret.length < 16) throw new LaunchError('ERR_SCHEDULER_FILE', `${file} holds a secret of ${secret.length} bytes (16 or more expected)`);
  return { address: record.address, secret, pid: typeof record.pid === 'number' ? record.pid : 0 };
}

/**
 * Waits for a scheduler file to appear (a batch job may start its workers before its scheduler has written
 * it) and reads it. A file that is there but not a scheduler file fails at once.
 */
export async function waitForSchedulerFile(file: string, timeoutMs: number, signal?: AbortSignal): Promise<SchedulerFileContents> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return readSchedulerFile(file);
    } catch (error) {
      const missing = (error as LaunchError).code === 'ERR_SCHEDULER_FILE' && !fs.existsSync(file);
      if (!missing) throw error;
      if (Date.now() >= deadline) {
        throw new LaunchError('ERR_SCHEDULER_FILE', `there is no scheduler file at ${file} (waited ${Math.round(timeoutMs / 1000)} s)`, { cause: error });
      }
    }
    if (signal?.aborted) throw signal.reason;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
