// MPI-IO (MPI.File) on node:fs: every rank opens the file itself (positional reads and writes on its own
// file handle, so a shared file system is all several hosts need). File views (fileview.ts) map a rank's
// data onto the file; collective reads and writes aggregate (two-phase, twophase.ts: ranks send their
// pieces to aggregators, which access the file in large contiguous runs) unless the ranks' accesses do not
// interleave, when each rank does its own single access. The shared file pointer is an 8-byte counter in
// rank 0's memory, moved with UCX atomics (an RMA window), so no rank has to serve it.
import fsp, { type FileHandle } from 'node:fs/promises';
import fs from 'node:fs';
import { Comm } from './comm.js';
import { MPIError, getErrorString, type MPIErrorCode } from './errors.js';
import { Errhandler, defaultErrhandler, report, routeErrors, validateErrhandler } from './errhandler.js';
import { BYTE, asDatatype, type Datatype } from './datatype.js';
import { parsePayload, type BufSpec, type Payload } from './bufspec.js';
import { FileView, type Runs } from './fileview.js';
import {
  RunCursor,
  coverage,
  gatherPieces,
  interleaved,
  meets,
  pieceBytes,
  pieceSpan,
  plan,
  scatterPieces,
  window,
  type Access,
  type Pieces,
  type Plan,
} from './twophase.js';
import { Info, INFO_NULL, asInfo } from './info.js';
import { MAX, REPLACE, SUM } from './op.js';
import { Request, Status } from './request.js';
import { TAG_UB } from './tags.js';
import { Win } from './win.js';
import type { Group } from './group.js';

/** File.open(): create the file if it does not exist. */
export const MODE_CREATE = 1;
/** File.open(): reading only. */
export const MODE_RDONLY = 2;
/** File.open(): writing only. */
export const MODE_WRONLY = 4;
/** File.open(): reading and writing. */
export const MODE_RDWR = 8;
/** File.open(): delete the file when it is closed. */
export const MODE_DELETE_ON_CLOSE = 16;
/** File.open(): no one else opens the file meanwhile (a hint; accepted). */
export const MODE_UNIQUE_OPEN = 32;
/** File.open(): with MODE_CREATE, fail (ERR_MPI_FILE_EXISTS) if the file exists. */
export const MODE_EXCL = 64;
/** File.open(): both file pointers start at the end of the file. */
export const MODE_APPEND = 128;
/** File.open(): sequential access only, through the shared file pointer (no readAt, seek, ...). */
export const MODE_SEQUENTIAL = 256;
const KNOWN_MODES = 511;

/** seek(): to `offset` from the start of the view. */
export const SEEK_SET = 600;
/** seek(): by `offset` from the current position. */
export const SEEK_CUR = 602;
/** seek(): to `offset` from the end of the file (in the view). */
export const SEEK_END = 604;
/** setView's displacement: the shared file pointer's position (MODE_SEQUENTIAL files). */
export const DISPLACEMENT_CURRENT = -54278278;

/** Collective buffering defaults (ROMIO's hints): cb_buffer_size 16 MiB; cb_nodes every rank; romio_cb_write automatic. */
export const ioDefaults = {
  /** The most bytes an aggregator handles per round. NODE_UCX_MPI_CB_BUFFER_SIZE or the cb_buffer_size hint override. */
  bufferSize: 16 * 1024 * 1024,
  /** Aggregators: 0 means every rank. NODE_UCX_MPI_CB_NODES or cb_nodes override. */
  aggregators: 0,
  /** Domain boundaries on multiples of this (bytes), when domains are large enough. */
  align: 64 * 1024,
};

const IO_CHUNK = 1 << 30;
const ZEROS = new Uint8Array(1 << 20);

/** An fs error as the MPI error class it is. */
function ioError(error: unknown, what: string): MPIError {
  if (error instanceof MPIError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const map: Record<string, MPIErrorCode> = {
    ENOENT: 'ERR_MPI_NO_SUCH_FILE',
    EEXIST: 'ERR_MPI_FILE_EXISTS',
    EACCES: 'ERR_MPI_ACCESS',
    EPERM: 'ERR_MPI_ACCESS',
    EROFS: 'ERR_MPI_READ_ONLY',
    ENOSPC: 'ERR_MPI_NO_SPACE',
    EDQUOT: 'ERR_MPI_QUOTA',
    EISDIR: 'ERR_MPI_BAD_FILE',
    ENOTDIR: 'ERR_MPI_BAD_FILE',
    ENAMETOOLONG: 'ERR_MPI_BAD_FILE',
    EBUSY: 'ERR_MPI_FILE_IN_USE',
    ETXTBSY: 'ERR_MPI_FILE_IN_USE',
    EBADF: 'ERR_MPI_FILE',
  };
  const mpi = (code !== undefined ? map[code] : undefined) ?? 'ERR_MPI_IO';
  return new MPIError(mpi, `${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

async function writeFully(handle: FileHandle, buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  while (length > 0) {
    const { bytesWritten } = await handle.write(buf, offset, Math.min(length, IO_CHUNK), position);
    offset += bytesWritten;
    position += bytesWritten;
    length -= bytesWritten;
  }
}

/**
 * Runs below this size go to the file with positional writeSync/readSync, not through libuv's thread pool:
 * a 4 KiB pwrite into the page cache takes microseconds, a promise round trip through the pool some tens
 * to hundreds of microseconds on a loaded machine (64 MiB through a strided view of 4 KiB blocks took 1.6x
 * OMPIO's time that way, 0.8x this way: docs/performance.md). The event loop gets a turn every SYNC_SLICE_MS,
 * so UCX progress goes on meanwhile.
 */
const SYNC_RUN = 256 * 1024;
const SYNC_SLICE_MS = 2;
/** Scratch buffers a file keeps for two-phase receives (one a sender at once). */
const SCRATCH_KEPT = 8;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Writes `count` runs (file offsets and lengths) of `data`, small runs synchronously: packed in `data` from
 * `at` on, or, with `base`, run i at `data[offsets[i] - base]` (an aggregator's window).
 */
async function writeRunList(
  handle: FileHandle,
  offsets: ArrayLike<number>,
  lengths: ArrayLike<number>,
  count: number,
  data: Uint8Array,
  at: number,
  base: number | null = null,
): Promise<void> {
  let slice = performance.now();
  for (let i = 0; i < count; i++) {
    let length = lengths[i]!;
    let position = offsets[i]!;
    if (base !== null) at = position - base;
    if (length < SYNC_RUN) {
      while (length > 0) {
        const written = fs.writeSync(handle.fd, data, at, length, position);
        at += written;
        position += written;
        length -= written;
      }
      if (performance.now() - slice > SYNC_SLICE_MS) {
        await turn();
        slice = performance.now();
      }
    } else {
      await writeFully(handle, data, at, length, position);
      at += length;
      slice = performance.now();
    }
  }
}

/** Reads up to `length` bytes; fewer at the end of the file. Returns how many. */
async function readFully(handle: FileHandle, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  let total = 0;
  while (length > 0) {
    const { bytesRead } = await handle.read(buf, offset, Math.min(length, IO_CHUNK), position);
    if (bytesRead === 0) break;
    total += bytesRead;
    offset += bytesRead;
    position += bytesRead;
    length -= bytesRead;
  }
  return total;
}

/** The handler for errors with no file yet (File.open) is MPI.FILE_NULL's. */
class FileNull {
  errhandler: Errhandler = defaultErrhandler('file');
  setErrhandler(errhandler: Errhandler): void {
    validateErrhandler(errhandler);
    this.errhandler = errhandler;
  }
  getErrhandler(): Errhandler {
    return this.errhandler;
  }
  Set_errhandler(errhandler: Errhandler): void {
    this.setErrhandler(errhandler);
  }
  Get_errhandler(): Errhandler {
    return this.errhandler;
  }
}

/** No file: its error handler is the one File.open's failures go to (ERRORS_RETURN by default). */
export const FILE_NULL = new FileNull();

type CollectiveMode = 'automatic' | 'enable' | 'disable';

/** An MPI-IO file (mpi4py's File), opened by every rank of a communicator: independent and collective reads and writes through file views. */
export class File {
  /** The file's own communicator (a duplicate of the one it was opened on). */
  readonly comm: Comm;
  /** The file's path. */
  readonly path: string;
  /** The access mode it was opened with (MODE_* bits). */
  readonly amode: number;
  /** What a failing operation does; files start with ERRORS_RETURN (MPI's default for files). */
  errhandler: Errhandler = defaultErrhandler('file');
  readonly #handle: FileHandle;
  readonly #shared: Win;
  #view = new FileView();
  #datarep = 'native';
  /** The individual file pointer, in etypes of the view. */
  #pointer = 0;
  /** Collective calls so far: the tags of their messages on the file's communicator (two per call). */
  #seq = 0;
  #info: Info;
  #atomic = false;
  #closed = false;
  #split: Promise<Status> | null = null;
  /** An aggregator's window buffer, kept between collective calls (taken while one is in use). */
  #window: Uint8Array | null = null;
  /** An aggregator's receive scratch (a sender's strided pieces before they are scattered), kept between calls. */
  readonly #scratch: Uint8Array[] = [];

  private constructor(comm: Comm, path: string, amode: number, handle: FileHandle, shared: Win, info: Info) {
    this.comm = comm;
    this.path = path;
    this.amode = amode;
    this.#handle = handle;
    this.#shared = shared;
    this.#info = info;
  }

  /**
   * Opens `path` on every rank of `comm` (collective). `amode`: MODE_RDONLY, MODE_WRONLY or MODE_RDWR, with
   * MODE_CREATE, MODE_EXCL, MODE_APPEND, MODE_DELETE_ON_CLOSE, MODE_UNIQUE_OPEN, MODE_SEQUENTIAL. `info`:
   * hints (cb_nodes, cb_buffer_size, romio_cb_write, romio_cb_read). Every rank fails alike if one cannot open it.
   */
  static async open(comm: Comm, path: string | URL, amode = MODE_RDONLY, info: Info | Record<string, string> | null = INFO_NULL): Promise<File> {
    try {
      return await File.#open(comm, path, amode, info);
    } catch (error) {
      throw report(FILE_NULL, error);
    }
  }

  /** mpi4py's File.Open(comm, filename, amode, info): open(). */
  static Open(comm: Comm, filename: string | URL, amode = MODE_RDONLY, info: Info | Record<string, string> | null = INFO_NULL): Promise<File> {
    return File.open(comm, filename, amode, info);
  }

  static async #open(comm: Comm, path: string | URL, amode: number, infoArg: unknown): Promise<File> {
    if (!(comm instanceof Comm)) throw new MPIError('ERR_MPI_COMM', 'File.open: the first argument must be a communicator');
    const file = path instanceof URL ? path.pathname : path;
    if (typeof file !== 'string' || file.length === 0)
      throw new MPIError('ERR_MPI_BAD_FILE', `File.open: the file name must be a non-empty string, not ${String(path)}`);
    checkAmode(amode);
    const info = asInfo(infoArg);
    const fcomm = await comm.dup();
    const flags = amode & MODE_RDONLY ? fs.constants.O_RDONLY : amode & MODE_WRONLY ? fs.constants.O_WRONLY : fs.constants.O_RDWR;
    const create = (amode & MODE_CREATE ? fs.constants.O_CREAT : 0) | (amode & MODE_EXCL ? fs.constants.O_EXCL : 0);
    let handle: FileHandle | null = null;
    let failure: MPIError | null = null;
    const tryOpen = async (extra: number): Promise<void> => {
      try {
        handle = await fsp.open(file, flags | extra, 0o666);
      } catch (error) {
        failure = ioError(error, `File.open('${file}')`);
      }
    };
    // Rank 0 creates the file (EXCL means once); the others open what is then there.
    if (fcomm.rank === 0) await tryOpen(create);
    const first = await fcomm.bcast(failure === null ? null : [(failure as MPIError).errorClass, (failure as MPIError).message], 0);
    if (fcomm.rank !== 0 && first === null) await tryOpen(0);
    const outcomes = await fcomm.allgather(failure === null ? null : [(failure as MPIError).errorClass, (failure as MPIError).message]);
    const failed = outcomes.findIndex((o) => o !== null);
    if (failed >= 0) {
      await (handle as FileHandle | null)?.close().catch(() => {});
      fcomm.free();
      const [errorClass, message] = outcomes[failed] as [number, string];
      throw new MPIError(errorClass, failed === fcomm.rank ? message : `${message} (on rank ${failed})`);
    }
    const shared = await Win.allocate(fcomm.rank === 0 ? 8 : 0, fcomm);
    const opened = new File(fcomm, file, amode, handle!, shared, info);
    if (amode & MODE_APPEND) {
      const size = (await handle!.stat()).size;
      opened.#pointer = size;
      if (fcomm.rank === 0) shared.buffer.writeBigInt64LE(BigInt(size), 0);
    }
    await fcomm.barrier();
    return opened;
  }

  /** Deletes a file (MPI_File_delete; not collective). */
  static async delete(path: string | URL, _info: unknown = null): Promise<void> {
    try {
      await fsp.unlink(path instanceof URL ? path.pathname : path);
    } catch (error) {
      throw report(FILE_NULL, ioError(error, `File.delete('${String(path)}')`));
    }
  }

  /** mpi4py's name for delete(). */
  static Delete(filename: string | URL, info: unknown = null): Promise<void> {
    return File.delete(filename, info);
  }

  /** A handler that calls `fn(file, errorCode, error)` when an operation on a file fails. */
  static createErrhandler(fn: (file: File, errorCode: number, error: MPIError) => void): Errhandler {
    return Errhandler.create(fn);
  }
  /** mpi4py's name for createErrhandler(). */
  static Create_errhandler(fn: (file: File, errorCode: number, error: MPIError) => void): Errhandler {
    return Errhandler.create(fn);
  }

  // ======================= the file =======================

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }
  /** The group of the file's communicator. */
  get group(): Group {
    return this.comm.group;
  }
  /** The hints in use (setInfo(), or open()'s). */
  get info(): Info {
    return this.#info;
  }
  /** The atomic mode recorded by setAtomicity(). */
  get atomicity(): boolean {
    return this.#atomic;
  }
  /** The file's size in bytes (getSize()). */
  get size(): Promise<number> {
    return this.getSize();
  }

  /** The file's size in bytes (not collective). */
  async getSize(): Promise<number> {
    this.#check();
    try {
      return (await this.#handle.stat()).size;
    } catch (error) {
      throw ioError(error, 'File.getSize');
    }
  }

  /** Truncates or extends the file to `size` bytes (collective; every rank passes the same size). */
  async setSize(size: number): Promise<void> {
    this.#check();
    this.#writable('setSize');
    checkOffset(size, 'size');
    await this.#byRankZero(() => this.#handle.truncate(size), 'File.setSize');
  }

  /** Makes sure the first `size` bytes have storage (collective): the file grows to `size`, never shrinks. */
  async preallocate(size: number): Promise<void> {
    this.#check();
    this.#writable('preallocate');
    checkOffset(size, 'size');
    await this.#byRankZero(async () => {
      // node:fs has no posix_fallocate: zeros are written from the end of the file up to `size`.
      const current = (await this.#handle.stat()).size;
      for (let at = current; at < size; at += ZEROS.length) await writeFully(this.#handle, ZEROS, 0, Math.min(ZEROS.length, size - at), at);
    }, 'File.preallocate');
  }

  /** Flushes every rank's writes to storage (collective: fsync, then every rank waits for the others). */
  async sync(): Promise<void> {
    this.#check();
    let failure: MPIError | null = null;
    await this.#handle.sync().catch((error: unknown) => {
      failure = ioError(error, 'File.sync');
    });
    await this.#agree(failure, 'File.sync');
  }

  /** Closes the file (collective); MODE_DELETE_ON_CLOSE files are deleted. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#split !== null) await this.#split.catch(() => {});
    this.#closed = true;
    this.#window = null;
    this.#scratch.length = 0;
    await this.comm.barrier();
    let failure: MPIError | null = null;
    await this.#handle.close().catch((error: unknown) => {
      failure = ioError(error, 'File.close');
    });
    await this.#shared.free();
    if (this.amode & MODE_DELETE_ON_CLOSE && this.comm.rank === 0) await fsp.unlink(this.path).catch(() => {});
    if (this.amode & MODE_DELETE_ON_CLOSE) await this.comm.barrier();
    this.comm.free();
    if (failure !== null) throw failure;
  }

  /** The access mode (amode). */
  getAmode(): number {
    return this.amode;
  }
  /** The group of the file's communicator (group). */
  getGroup(): Group {
    return this.comm.group;
  }
  /** A copy of the hints in use. */
  getInfo(): Info {
    return this.#info.dup();
  }
  /** Replaces the hints (cb_nodes, cb_buffer_size, romio_cb_write, romio_cb_read) for later collective calls. */
  setInfo(info: Info | Record<string, string> | null): void {
    this.#info = asInfo(info);
  }
  /** Atomic mode is recorded (getAtomicity) but writes are not serialized: overlapping concurrent writes stay undefined. */
  setAtomicity(flag: boolean): void {
    this.#atomic = Boolean(flag);
  }
  /** Whether atomic mode was set (setAtomicity()). */
  getAtomicity(): boolean {
    return this.#atomic;
  }
  /** The extent of `datatype` in the file (native representation: its extent). */
  getTypeExtent(datatype: Datatype): number {
    return asDatatype(datatype, 'datatype').extent;
  }

  // ======================= views =======================

  /**
   * Sets the view (collective): data starts at byte `disp`, offsets count `etype`s, and the file is seen
   * through `filetype` tiled from `disp` (its holes skipped). Both file pointers go back to 0.
   */
  async setView(
    disp = 0,
    etype: Datatype | string = BYTE,
    filetype: Datatype | string | null = null,
    datarep = 'native',
    _info: unknown = null,
  ): Promise<void> {
    this.#check();
    const e = asDatatype(etype, 'setView: etype');
    const f = filetype === null ? e : asDatatype(filetype, 'setView: filetype');
    if (datarep !== 'native' && datarep !== 'internal') {
      throw new MPIError('ERR_MPI_UNSUPPORTED_DATAREP', `setView: data representation '${String(datarep)}' is not supported (native and internal are)`);
    }
    let at = disp;
    if (disp === DISPLACEMENT_CURRENT) {
      if (!(this.amode & MODE_SEQUENTIAL)) throw new MPIError('ERR_MPI_ARG', 'setView: DISPLACEMENT_CURRENT is for MODE_SEQUENTIAL files');
      at = this.#view.byteOffset(Number(await this.#sharedPointer()) * this.#view.etype.size);
    }
    this.#view = new FileView(at, e, f);
    this.#datarep = datarep;
    this.#pointer = 0;
    await this.comm.barrier();
    if (this.comm.rank === 0) await this.#shared.fetchAndOp(0n, 0, 0, REPLACE);
    await this.comm.barrier();
  }

  /** [disp, etype, filetype, datarep] */
  getView(): [number, Datatype, Datatype, string] {
    return [this.#view.disp, this.#view.etype, this.#view.filetype, this.#datarep];
  }

  /** The absolute byte position of view offset `offset` (in etypes). */
  getByteOffset(offset: number): number {
    checkOffset(offset, 'offset');
    return this.#view.byteOffset(offset * this.#view.etype.size);
  }

  // ======================= explicit offsets =======================

  /** Reads into `buf` from view offset `offset` (etypes); the Status says how much (less at the end of the file). */
  async readAt(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.#io(false, false, this.#explicit(offset, 'readAt'), buf, status, 'readAt');
  }

  /** Writes `buf` at view offset `offset` (etypes); independent (not collective). */
  async writeAt(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.#io(true, false, this.#explicit(offset, 'writeAt'), buf, status, 'writeAt');
  }

  /** Collective readAt: aggregated when the ranks' pieces interleave. */
  async readAtAll(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.#io(false, true, this.#explicit(offset, 'readAtAll'), buf, status, 'readAtAll');
  }

  /** Collective writeAt: two-phase (ranks send pieces to aggregators that write large runs) when the pieces interleave. */
  async writeAtAll(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.#io(true, true, this.#explicit(offset, 'writeAtAll'), buf, status, 'writeAtAll');
  }

  // ======================= the individual file pointer =======================

  /** Reads into `buf` at the individual file pointer, and moves it past what was read. */
  async read(buf: BufSpec, status?: Status): Promise<Status> {
    return this.#viaPointer(false, false, buf, status, 'read');
  }
  /** Writes `buf` at the individual file pointer, and moves it past what was written. */
  async write(buf: BufSpec, status?: Status): Promise<Status> {
    return this.#viaPointer(true, false, buf, status, 'write');
  }
  /** Collective read: each rank at its individual file pointer (aggregated as readAtAll). */
  async readAll(buf: BufSpec, status?: Status): Promise<Status> {
    return this.#viaPointer(false, true, buf, status, 'readAll');
  }
  /** Collective write: each rank at its individual file pointer (two-phase as writeAtAll). */
  async writeAll(buf: BufSpec, status?: Status): Promise<Status> {
    return this.#viaPointer(true, true, buf, status, 'writeAll');
  }

  /** Moves the individual file pointer (in etypes): SEEK_SET, SEEK_CUR or SEEK_END (from the end of the file, in the view). */
  async seek(offset: number, whence = SEEK_SET): Promise<void> {
    this.#check();
    this.#notSequential('seek');
    checkInt(offset, 'offset');
    const position = await this.#seekTarget(offset, whence, this.#pointer, 'seek');
    this.#pointer = position;
  }

  /** The individual file pointer, in etypes. */
  getPosition(): number {
    this.#check();
    return this.#pointer;
  }

  // ======================= the shared file pointer =======================

  /** Reads at the shared file pointer and moves it past what this rank asked for (ranks take turns in any order). */
  async readShared(buf: BufSpec, status?: Status): Promise<Status> {
    const { payload, etypes } = this.#prepare(buf, false, 'readShared');
    const offset = Number(await this.#shared.fetchAndOp(BigInt(etypes), 0, 0, SUM));
    return this.#finish(await this.#independent(false, offset * this.#view.etype.size, payload), status);
  }

  /** Writes at the shared file pointer and moves it past what this rank wrote (ranks take turns in any order). */
  async writeShared(buf: BufSpec, status?: Status): Promise<Status> {
    const { payload, etypes } = this.#prepare(buf, true, 'writeShared');
    const offset = Number(await this.#shared.fetchAndOp(BigInt(etypes), 0, 0, SUM));
    return this.#finish(await this.#independent(true, offset * this.#view.etype.size, payload), status);
  }

  /** Collective: the ranks' data in rank order from the shared file pointer, which moves past all of it. */
  async readOrdered(buf: BufSpec, status?: Status): Promise<Status> {
    return this.#ordered(false, buf, status, 'readOrdered');
  }
  /** Collective: the ranks' data written in rank order from the shared file pointer, which moves past all of it. */
  async writeOrdered(buf: BufSpec, status?: Status): Promise<Status> {
    return this.#ordered(true, buf, status, 'writeOrdered');
  }

  /** Moves the shared file pointer (collective; every rank passes the same arguments). */
  async seekShared(offset: number, whence = SEEK_SET): Promise<void> {
    this.#check();
    checkInt(offset, 'offset');
    await this.comm.barrier();
    if (this.comm.rank === 0) {
      const current = Number(await this.#sharedPointer());
      const position = await this.#seekTarget(offset, whence, current, 'seekShared');
      await this.#shared.fetchAndOp(BigInt(position), 0, 0, REPLACE);
    }
    await this.comm.barrier();
  }

  /** The shared file pointer, in etypes. */
  async getPositionShared(): Promise<number> {
    this.#check();
    return Number(await this.#sharedPointer());
  }

  // ======================= nonblocking and split collective forms =======================

  /** readAt() as a Request; wait() resolves with the Status. */
  ireadAt(offset: number, buf: BufSpec): Request<Status> {
    return statusRequest(this.readAt(offset, buf));
  }
  /** writeAt() as a Request. */
  iwriteAt(offset: number, buf: BufSpec): Request<Status> {
    return statusRequest(this.writeAt(offset, buf));
  }
  /** readAtAll() as a Request (MPI_File_iread_at_all). */
  ireadAtAll(offset: number, buf: BufSpec): Request<Status> {
    return statusRequest(this.readAtAll(offset, buf));
  }
  /** writeAtAll() as a Request (MPI_File_iwrite_at_all). */
  iwriteAtAll(offset: number, buf: BufSpec): Request<Status> {
    return statusRequest(this.writeAtAll(offset, buf));
  }
  /** read() as a Request. */
  iread(buf: BufSpec): Request<Status> {
    return statusRequest(this.read(buf));
  }
  /** write() as a Request. */
  iwrite(buf: BufSpec): Request<Status> {
    return statusRequest(this.write(buf));
  }
  /** readAll() as a Request. */
  ireadAll(buf: BufSpec): Request<Status> {
    return statusRequest(this.readAll(buf));
  }
  /** writeAll() as a Request. */
  iwriteAll(buf: BufSpec): Request<Status> {
    return statusRequest(this.writeAll(buf));
  }
  /** readShared() as a Request. */
  ireadShared(buf: BufSpec): Request<Status> {
    return statusRequest(this.readShared(buf));
  }
  /** writeShared() as a Request. */
  iwriteShared(buf: BufSpec): Request<Status> {
    return statusRequest(this.writeShared(buf));
  }

  // ======================= error handlers =======================

  /** Sets what a failing operation on this file does. */
  setErrhandler(errhandler: Errhandler): void {
    validateErrhandler(errhandler);
    this.errhandler = errhandler;
  }
  /** The file's error handler. */
  getErrhandler(): Errhandler {
    return this.errhandler;
  }
  /** Calls the file's error handler with `errorCode`, as a failing operation would (MPI_File_call_errhandler). */
  callErrhandler(errorCode: number): void {
    this.errhandler.invoke(this, new MPIError(errorCode));
  }

  // ======================= mpi4py spellings =======================

  /** mpi4py's name for close(). */
  Close(): Promise<void> {
    return this.close();
  }
  /** mpi4py's name for getSize(). */
  Get_size(): Promise<number> {
    return this.getSize();
  }
  /** mpi4py's name for setSize(). */
  Set_size(size: number): Promise<void> {
    return this.setSize(size);
  }
  /** mpi4py's name for preallocate(). */
  Preallocate(size: number): Promise<void> {
    return this.preallocate(size);
  }
  /** mpi4py's name for sync(). */
  Sync(): Promise<void> {
    return this.sync();
  }
  /** mpi4py's name for getAmode(). */
  Get_amode(): number {
    return this.amode;
  }
  /** mpi4py's name for getGroup(). */
  Get_group(): Group {
    return this.getGroup();
  }
  /** mpi4py's name for getInfo(). */
  Get_info(): Info {
    return this.getInfo();
  }
  /** mpi4py's name for setInfo(). */
  Set_info(info: Info | Record<string, string> | null): void {
    this.setInfo(info);
  }
  /** mpi4py's name for setAtomicity(). */
  Set_atomicity(flag: boolean): void {
    this.setAtomicity(flag);
  }
  /** mpi4py's name for getAtomicity(). */
  Get_atomicity(): boolean {
    return this.#atomic;
  }
  /** mpi4py's name for getTypeExtent(). */
  Get_type_extent(datatype: Datatype): number {
    return this.getTypeExtent(datatype);
  }
  /** mpi4py's name for setView(). */
  Set_view(disp = 0, etype: Datatype | string = BYTE, filetype: Datatype | string | null = null, datarep = 'native', info: unknown = null): Promise<void> {
    return this.setView(disp, etype, filetype, datarep, info);
  }
  /** mpi4py's name for getView(). */
  Get_view(): [number, Datatype, Datatype, string] {
    return this.getView();
  }
  /** mpi4py's name for getByteOffset(). */
  Get_byte_offset(offset: number): number {
    return this.getByteOffset(offset);
  }
  /** mpi4py's name for readAt(). */
  Read_at(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.readAt(offset, buf, status);
  }
  /** mpi4py's name for writeAt(). */
  Write_at(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.writeAt(offset, buf, status);
  }
  /** mpi4py's name for readAtAll(). */
  Read_at_all(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.readAtAll(offset, buf, status);
  }
  /** mpi4py's name for writeAtAll(). */
  Write_at_all(offset: number, buf: BufSpec, status?: Status): Promise<Status> {
    return this.writeAtAll(offset, buf, status);
  }
  /** mpi4py's name for ireadAt(). */
  Iread_at(offset: number, buf: BufSpec): Request<Status> {
    return this.ireadAt(offset, buf);
  }
  /** mpi4py's name for iwriteAt(). */
  Iwrite_at(offset: number, buf: BufSpec): Request<Status> {
    return this.iwriteAt(offset, buf);
  }
  /** mpi4py's name for ireadAtAll(). */
  Iread_at_all(offset: number, buf: BufSpec): Request<Status> {
    return this.ireadAtAll(offset, buf);
  }
  /** mpi4py's name for iwriteAtAll(). */
  Iwrite_at_all(offset: number, buf: BufSpec): Request<Status> {
    return this.iwriteAtAll(offset, buf);
  }
  /** mpi4py's name for read(). */
  Read(buf: BufSpec, status?: Status): Promise<Status> {
    return this.read(buf, status);
  }
  /** mpi4py's name for write(). */
  Write(buf: BufSpec, status?: Status): Promise<Status> {
    return this.write(buf, status);
  }
  /** mpi4py's name for readAll(). */
  Read_all(buf: BufSpec, status?: Status): Promise<Status> {
    return this.readAll(buf, status);
  }
  /** mpi4py's name for writeAll(). */
  Write_all(buf: BufSpec, status?: Status): Promise<Status> {
    return this.writeAll(buf, status);
  }
  /** mpi4py's name for iread(). */
  Iread(buf: BufSpec): Request<Status> {
    return this.iread(buf);
  }
  /** mpi4py's name for iwrite(). */
  Iwrite(buf: BufSpec): Request<Status> {
    return this.iwrite(buf);
  }
  /** mpi4py's name for ireadAll(). */
  Iread_all(buf: BufSpec): Request<Status> {
    return this.ireadAll(buf);
  }
  /** mpi4py's name for iwriteAll(). */
  Iwrite_all(buf: BufSpec): Request<Status> {
    return this.iwriteAll(buf);
  }
  /** mpi4py's name for seek(). */
  Seek(offset: number, whence = SEEK_SET): Promise<void> {
    return this.seek(offset, whence);
  }
  /** mpi4py's name for getPosition(). */
  Get_position(): number {
    return this.getPosition();
  }
  /** mpi4py's name for readShared(). */
  Read_shared(buf: BufSpec, status?: Status): Promise<Status> {
    return this.readShared(buf, status);
  }
  /** mpi4py's name for writeShared(). */
  Write_shared(buf: BufSpec, status?: Status): Promise<Status> {
    return this.writeShared(buf, status);
  }
  /** mpi4py's name for ireadShared(). */
  Iread_shared(buf: BufSpec): Request<Status> {
    return this.ireadShared(buf);
  }
  /** mpi4py's name for iwriteShared(). */
  Iwrite_shared(buf: BufSpec): Request<Status> {
    return this.iwriteShared(buf);
  }
  /** mpi4py's name for readOrdered(). */
  Read_ordered(buf: BufSpec, status?: Status): Promise<Status> {
    return this.readOrdered(buf, status);
  }
  /** mpi4py's name for writeOrdered(). */
  Write_ordered(buf: BufSpec, status?: Status): Promise<Status> {
    return this.writeOrdered(buf, status);
  }
  /** mpi4py's name for seekShared(). */
  Seek_shared(offset: number, whence = SEEK_SET): Promise<void> {
    return this.seekShared(offset, whence);
  }
  /** mpi4py's name for getPositionShared(). */
  Get_position_shared(): Promise<number> {
    return this.getPositionShared();
  }
  /** mpi4py's name for setErrhandler(). */
  Set_errhandler(errhandler: Errhandler): void {
    this.setErrhandler(errhandler);
  }
  /** mpi4py's name for getErrhandler(). */
  Get_errhandler(): Errhandler {
    return this.errhandler;
  }
  /** mpi4py's name for callErrhandler(). */
  Call_errhandler(errorCode: number): void {
    this.callErrhandler(errorCode);
  }
  // Split collectives: begin starts the collective, end waits for it.
  /** Starts readAtAll() as a split collective (MPI_File_read_at_all_begin); Read_at_all_end() waits for it. */
  Read_at_all_begin(offset: number, buf: BufSpec): void {
    this.#begin(this.readAtAll(offset, buf));
  }
  /** Waits for the split collective Read_at_all_begin() started; resolves with its Status. */
  Read_at_all_end(_buf?: BufSpec, status?: Status): Promise<Status> {
    return this.#end(status);
  }
  /** Starts writeAtAll() as a split collective; Write_at_all_end() waits for it. */
  Write_at_all_begin(offset: number, buf: BufSpec): void {
    this.#begin(this.writeAtAll(offset, buf));
  }
  /** Waits for the split collective Write_at_all_begin() started. */
  Write_at_all_end(_buf?: BufSpec, status?: Status): Promise<Status> {
    return this.#end(status);
  }
  /** Starts readAll() as a split collective; Read_all_end() waits for it. */
  Read_all_begin(buf: BufSpec): void {
    this.#begin(this.readAll(buf));
  }
  /** Waits for the split collective Read_all_begin() started. */
  Read_all_end(_buf?: BufSpec, status?: Status): Promise<Status> {
    return this.#end(status);
  }
  /** Starts writeAll() as a split collective; Write_all_end() waits for it. */
  Write_all_begin(buf: BufSpec): void {
    this.#begin(this.writeAll(buf));
  }
  /** Waits for the split collective Write_all_begin() started. */
  Write_all_end(_buf?: BufSpec, status?: Status): Promise<Status> {
    return this.#end(status);
  }
  /** Starts readOrdered() as a split collective; Read_ordered_end() waits for it. */
  Read_ordered_begin(buf: BufSpec): void {
    this.#begin(this.readOrdered(buf));
  }
  /** Waits for the split collective Read_ordered_begin() started. */
  Read_ordered_end(_buf?: BufSpec, status?: Status): Promise<Status> {
    return this.#end(status);
  }
  /** Starts writeOrdered() as a split collective; Write_ordered_end() waits for it. */
  Write_ordered_begin(buf: BufSpec): void {
    this.#begin(this.writeOrdered(buf));
  }
  /** Waits for the split collective Write_ordered_begin() started. */
  Write_ordered_end(_buf?: BufSpec, status?: Status): Promise<Status> {
    return this.#end(status);
  }

  // ======================= internals =======================

  #check(): void {
    if (this.#closed) throw new MPIError('ERR_MPI_FILE', `the file ${this.path} is closed`);
  }

  #writable(what: string): void {
    if (this.amode & MODE_RDONLY) throw new MPIError('ERR_MPI_READ_ONLY', `File.${what}: the file was opened MODE_RDONLY`);
  }

  #notSequential(what: string): void {
    if (this.amode & MODE_SEQUENTIAL)
      throw new MPIError('ERR_MPI_UNSUPPORTED_OPERATION', `File.${what}: a MODE_SEQUENTIAL file has only the shared file pointer`);
  }

  /** An explicit offset's view position in bytes (checked). */
  #explicit(offset: number, what: string): number {
    this.#check();
    this.#notSequential(what);
    checkOffset(offset, 'offset');
    return offset * this.#view.etype.size;
  }

  /** The payload of a read or write, checked against the file's mode and the view's etype; `etypes`: how many. */
  #prepare(buf: BufSpec, write: boolean, what: string): { payload: Payload; etypes: number } {
    this.#check();
    if (write) this.#writable(what);
    else if (this.amode & MODE_WRONLY) throw new MPIError('ERR_MPI_ACCESS', `File.${what}: the file was opened MODE_WRONLY`);
    const payload = parsePayload(buf, 'buf', `File.${what}`);
    const etype = this.#view.etype.size;
    if (payload.byteLength % etype !== 0) {
      throw new MPIError(
        'ERR_MPI_TYPE',
        `File.${what}: ${payload.byteLength} bytes are not a whole number of etypes (${this.#view.etype.name}, ${etype} bytes)`,
      );
    }
    return { payload, etypes: payload.byteLength / etype };
  }

  #io(write: boolean, collective: boolean, position: number, buf: BufSpec, status: Status | undefined, what: string): Promise<Status> {
    const { payload } = this.#prepare(buf, write, what);
    const done = collective ? this.#collective(write, position, payload, what) : this.#independent(write, position, payload);
    return done.then((bytes) => this.#finish(bytes, status));
  }

  #viaPointer(write: boolean, collective: boolean, buf: BufSpec, status: Status | undefined, what: string): Promise<Status> {
    this.#check();
    this.#notSequential(what);
    const { etypes } = this.#prepare(buf, write, what);
    // The pointer moves when the operation starts, so that operations started after it go on from there.
    const position = this.#pointer;
    this.#pointer += etypes;
    return this.#io(write, collective, position * this.#view.etype.size, buf, status, what);
  }

  async #ordered(write: boolean, buf: BufSpec, status: Status | undefined, what: string): Promise<Status> {
    const { payload, etypes } = this.#prepare(buf, write, what);
    const counts = await this.comm.allgather(etypes);
    const before = counts.slice(0, this.comm.rank).reduce((a, b) => a + b, 0);
    const total = counts.reduce((a, b) => a + b, 0);
    const base = await this.comm.bcast(this.comm.rank === 0 ? Number(await this.#shared.fetchAndOp(BigInt(total), 0, 0, SUM)) : 0, 0);
    const bytes = await this.#collective(write, (base + before) * this.#view.etype.size, payload, what);
    return this.#finish(bytes, status);
  }

  #finish(bytes: number, status: Status | undefined): Status {
    const st = new Status(this.comm.rank, 0, bytes);
    if (status != null) Object.assign(status, st);
    return st;
  }

  async #sharedPointer(): Promise<bigint> {
    return this.#shared.fetchAndOp(0n, 0, 0, SUM);
  }

  async #seekTarget(offset: number, whence: number, current: number, what: string): Promise<number> {
    let position: number;
    if (whence === SEEK_SET) position = offset;
    else if (whence === SEEK_CUR) position = current + offset;
    else if (whence === SEEK_END) {
      const size = (await this.#handle.stat()).size;
      position = Math.ceil(this.#view.dataBefore(size) / this.#view.etype.size) + offset;
    } else throw new MPIError('ERR_MPI_ARG', `File.${what}: whence must be SEEK_SET, SEEK_CUR or SEEK_END, not ${String(whence)}`);
    if (position < 0) throw new MPIError('ERR_MPI_ARG', `File.${what}: the position would be negative (${position})`);
    return position;
  }

  /** A collective call's two tags: `tag` for what goes to aggregators, `tag + 1` for what comes back from them. */
  #nextTag(): number {
    const tag = this.#seq;
    this.#seq = (this.#seq + 2) % (TAG_UB - 1);
    return tag;
  }

  /**
   * Runs `body` on rank 0 only, once every rank has come (so that what each did before, a getSize say, sees
   * the file as it was), then every rank learns how it went (collective).
   */
  async #byRankZero(body: () => Promise<unknown>, what: string): Promise<void> {
    await this.comm.barrier();
    let failure: MPIError | null = null;
    if (this.comm.rank === 0)
      await body().catch((error: unknown) => {
        failure = ioError(error, what);
      });
    await this.#agree(failure, what);
  }

  /** A buffer of `bytes` for an aggregator's window: the one kept from an earlier call when it is free and large enough. */
  #takeWindow(bytes: number): Uint8Array {
    const kept = this.#window;
    if (kept !== null && kept.byteLength >= bytes) {
      this.#window = null;
      return kept.subarray(0, bytes);
    }
    return new Uint8Array(bytes);
  }

  #giveWindow(buffer: Uint8Array): void {
    const whole = new Uint8Array(buffer.buffer, 0, buffer.buffer.byteLength);
    if (this.#window === null || this.#window.byteLength < whole.byteLength) this.#window = whole;
  }

  /** Every rank learns the worst error class any had (collective): all fail alike, or none. */
  async #agree(failure: MPIError | null, what: string): Promise<void> {
    const worst = await this.comm.allreduce(failure?.errorClass ?? 0, MAX);
    if (failure !== null) throw failure;
    if (worst !== 0) throw new MPIError(worst, `${what}: failed on another rank (${getErrorString(worst)})`);
  }

  #begin(operation: Promise<Status>): void {
    if (this.#split !== null) throw new MPIError('ERR_MPI_REQUEST', 'a split collective is already in progress on this file');
    operation.catch(() => {});
    this.#split = operation;
  }

  async #end(status: Status | undefined): Promise<Status> {
    const operation = this.#split;
    if (operation === null) throw new MPIError('ERR_MPI_REQUEST', 'no split collective was begun on this file');
    this.#split = null;
    const st = await operation;
    if (status != null) Object.assign(status, st);
    return st;
  }

  // ---- independent access: this rank's runs, one positional read or write each ----

  /** Reads or writes `payload` at view byte `position`; returns the bytes moved (reads: fewer at the end of the file). */
  async #independent(write: boolean, position: number, payload: Payload): Promise<number> {
    const runs = this.#view.runs(position, payload.byteLength);
    if (write) {
      const data = payload.data();
      await this.#writeRuns(runs, data);
      return data.byteLength;
    }
    const target = payload.receiver();
    const got = await this.#readRuns(runs, target.into);
    target.finish(got);
    return got;
  }

  async #writeRuns(runs: Runs, data: Uint8Array): Promise<void> {
    try {
      await writeRunList(this.#handle, runs.offsets, runs.lengths, runs.count, data, 0);
    } catch (error) {
      throw ioError(error, `File write of ${this.path}`);
    }
  }

  /** Reads runs into `into` (packed, in data order); stops at the end of the file. Many small runs close together are read as one (data sieving). */
  async #readRuns(runs: Runs, into: Uint8Array): Promise<number> {
    try {
      const hull = runs.hi - runs.lo;
      if (runs.count > 8 && hull <= Math.max(4 * into.byteLength, 1 << 20)) {
        const sieve = new Uint8Array(hull);
        const got = await readFully(this.#handle, sieve, 0, hull, runs.lo);
        let at = 0;
        for (let i = 0; i < runs.count; i++) {
          const from = runs.offsets[i]! - runs.lo;
          const length = runs.lengths[i]!;
          const valid = Math.max(0, Math.min(length, got - from));
          into.set(sieve.subarray(from, from + valid), at);
          at += valid;
          if (valid < length) return at;
        }
        return at;
      }
      let at = 0;
      let slice = performance.now();
      for (let i = 0; i < runs.count; i++) {
        const length = runs.lengths[i]!;
        let got: number;
        if (length < SYNC_RUN) {
          got = 0;
          for (let n = -1; n !== 0 && got < length;) {
            n = fs.readSync(this.#handle.fd, into, at + got, length - got, runs.offsets[i]! + got);
            got += n;
          }
          if (performance.now() - slice > SYNC_SLICE_MS) {
            await turn();
            slice = performance.now();
          }
        } else {
          got = await readFully(this.#handle, into, at, length, runs.offsets[i]!);
          slice = performance.now();
        }
        at += got;
        if (got < length) break;
      }
      return at;
    } catch (error) {
      throw ioError(error, `File read of ${this.path}`);
    }
  }

  // ---- collective access ----

  #mode(write: boolean): CollectiveMode {
    const hint = this.#info.get(write ? 'romio_cb_write' : 'romio_cb_read') ?? process.env[write ? 'NODE_UCX_MPI_CB_WRITE' : 'NODE_UCX_MPI_CB_READ'];
    return hint === 'enable' || hint === 'disable' ? hint : 'automatic';
  }

  #planOptions(): { aggregators: number; bufferSize: number; align: number } {
    const number = (key: string, env: string, fallback: number): number => {
      const value = Number(this.#info.get(key) ?? process.env[env] ?? NaN);
      return Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
    };
    return {
      aggregators: number('cb_nodes', 'NODE_UCX_MPI_CB_NODES', ioDefaults.aggregators || this.comm.size),
      bufferSize: number('cb_buffer_size', 'NODE_UCX_MPI_CB_BUFFER_SIZE', ioDefaults.bufferSize),
      align: ioDefaults.align,
    };
  }

  /**
   * A collective read or write: the ranks learn each other's file ranges; interleaved ones go through the
   * aggregators (two-phase), the others access the file themselves. Every rank ends with the same outcome.
   */
  async #collective(write: boolean, position: number, payload: Payload, what: string): Promise<number> {
    const tag = this.#nextTag();
    const runs = this.#view.runs(position, payload.byteLength);
    const mine: [number, number, boolean] = [runs.lo, runs.hi, runs.count <= 1];
    const all = await this.comm.allgather(mine);
    const accesses: Access[] = all.map(([lo, hi, contiguous]) => ({ lo, hi, contiguous }));
    const mode = this.#mode(write);
    let failure: MPIError | null = null;
    let bytes = 0;
    try {
      if (mode === 'disable' || (mode === 'automatic' && !interleaved(accesses))) {
        bytes = await this.#independent(write, position, payload);
      } else {
        const p = plan(accesses, this.#planOptions());
        if (write) {
          const data = payload.data();
          if (p !== null) failure = await this.#twoPhaseWrite(p, accesses, runs, data, tag);
          bytes = data.byteLength;
        } else {
          const target = payload.receiver();
          if (p !== null) failure = await this.#twoPhaseRead(p, accesses, runs, target.into, tag);
          const size = (await this.#handle.stat()).size;
          bytes = Math.max(0, Math.min(payload.byteLength, this.#view.dataBefore(size) - position));
          target.finish(bytes);
        }
      }
    } catch (error) {
      failure = ioError(error, `File.${what}`);
    }
    await this.#agree(failure, `File.${what}`);
    return bytes;
  }

  /**
   * Two-phase write. Every rank sends, for each window its range meets, a header (the file pieces, as
   * offset/length pairs) and the data (one stretch of its packed data: a view, no copy) to the window's
   * aggregator; an aggregator assembles each window and writes its covered runs. An aggregator whose write
   * fails still takes every message (so no sender waits), and reports the failure.
   */
  async #twoPhaseWrite(p: Plan, accesses: readonly Access[], runs: Runs, data: Uint8Array, tag: number): Promise<MPIError | null> {
    const comm = this.comm;
    const me = accesses[comm.rank]!;
    const cursor = new RunCursor(runs);
    const sends: Promise<void>[] = [];
    // What this rank has for its own windows (when it aggregates) goes into them directly, not through UCX.
    const own = new Map<number, { pieces: Pieces; dataStart: number }>();
    for (let i = 0; i < p.aggregators.length; i++) {
      for (let round = 0; round < p.rounds; round++) {
        const [start, end] = window(p, i, round);
        if (!meets(me.lo, me.hi, start, end)) continue;
        const piece = cursor.take(start, end);
        const aggregator = p.aggregators[i]!;
        if (aggregator === comm.rank) {
          own.set(round, piece);
          continue;
        }
        sends.push(comm.send(piece.pieces, aggregator, tag));
        if (piece.bytes > 0) sends.push(comm.Send(data.subarray(piece.dataStart, piece.dataStart + piece.bytes), aggregator, tag));
      }
    }
    sends.forEach((s) => s.catch(() => {}));
    const domain = p.aggregators.indexOf(comm.rank);
    let failure: MPIError | null = null;
    if (domain >= 0) {
      const buffer = this.#takeWindow(Math.min(p.bufferSize, p.ends[domain]! - p.starts[domain]!));
      try {
        for (let round = 0; round < p.rounds; round++) {
          const [start, end] = window(p, domain, round);
          if (end <= start) continue;
          const senders = accesses.map((a, rank) => (meets(a.lo, a.hi, start, end) ? rank : -1)).filter((r) => r >= 0);
          const headers = await Promise.all(senders.map((s) => (s === comm.rank ? own.get(round)!.pieces : comm.recv<Pieces>(s, tag))));
          await Promise.all(
            senders.map((s, k) => {
              if (s !== comm.rank) return receiveInto(comm, s, tag, headers[k]!, buffer, start, this.#scratch);
              scatterPieces(headers[k]!, data, own.get(round)!.dataStart, buffer, start);
              return undefined;
            }),
          );
          if (failure !== null) continue;
          const covered = coverage(headers, start, end - start);
          try {
            await writeRunList(this.#handle, covered.offsets, covered.lengths, covered.count, buffer, 0, start);
          } catch (error) {
            failure = ioError(error, `File write of ${this.path}`);
          }
        }
      } finally {
        this.#giveWindow(buffer);
      }
    }
    await Promise.all(sends);
    return failure;
  }

  /**
   * Two-phase read: every rank sends each aggregator whose window its range meets the pieces it wants and
   * posts the receive of their data (straight into its packed buffer); an aggregator reads each window's
   * span in one read and sends every rank its pieces.
   */
  async #twoPhaseRead(p: Plan, accesses: readonly Access[], runs: Runs, into: Uint8Array, tag: number): Promise<MPIError | null> {
    const comm = this.comm;
    const me = accesses[comm.rank]!;
    const cursor = new RunCursor(runs);
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < p.aggregators.length; i++) {
      for (let round = 0; round < p.rounds; round++) {
        const [start, end] = window(p, i, round);
        if (!meets(me.lo, me.hi, start, end)) continue;
        const piece = cursor.take(start, end);
        const aggregator = p.aggregators[i]!;
        work.push(comm.send(piece.pieces, aggregator, tag));
        if (piece.bytes > 0) work.push(comm.Recv(into.subarray(piece.dataStart, piece.dataStart + piece.bytes), aggregator, tag + 1));
      }
    }
    work.forEach((w) => w.catch(() => {}));
    const domain = p.aggregators.indexOf(comm.rank);
    let failure: MPIError | null = null;
    if (domain >= 0) {
      const buffer = this.#takeWindow(Math.min(p.bufferSize, p.ends[domain]! - p.starts[domain]!));
      try {
        for (let round = 0; round < p.rounds; round++) {
          const [start, end] = window(p, domain, round);
          if (end <= start) continue;
          const senders = accesses.map((a, rank) => (meets(a.lo, a.hi, start, end) ? rank : -1)).filter((r) => r >= 0);
          const headers = await Promise.all(senders.map((s) => comm.recv<Pieces>(s, tag)));
          // Data sieving: one read of the span every request in the window lies in.
          const spans = headers.map(pieceSpan).filter(([lo, hi]) => hi > lo);
          const lo = Math.min(...spans.map((sp) => sp[0]));
          const hi = Math.max(...spans.map((sp) => sp[1]));
          buffer.fill(0);
          if (spans.length > 0 && failure === null) {
            try {
              await readFully(this.#handle, buffer, lo - start, hi - lo, lo);
            } catch (error) {
              failure = ioError(error, `File read of ${this.path}`);
            }
          }
          const replies = senders.map((s, k) => {
            const message = piecesOf(headers[k]!, buffer, start);
            return message === null ? Promise.resolve() : comm.Send(message, s, tag + 1);
          });
          await Promise.all(replies);
        }
      } finally {
        this.#giveWindow(buffer);
      }
    }
    await Promise.all(work);
    return failure;
  }
}

/** Receives a sender's data for a window: straight into the window when it is one stretch, else through scratch. */
async function receiveInto(comm: Comm, source: number, tag: number, pieces: Pieces, window: Uint8Array, start: number, pool: Uint8Array[]): Promise<void> {
  const bytes = pieceBytes(pieces);
  if (bytes === 0) return;
  if (pieces.length === 4 && pieces[3] === pieces[1]) {
    const at = pieces[0]! - start;
    await comm.Recv(window.subarray(at, at + bytes), source, tag);
    return;
  }
  // Scratch from the file's pool (buffers of earlier calls), given back once scattered.
  const found = pool.findIndex((b) => b.byteLength >= bytes);
  const whole = found >= 0 ? pool.splice(found, 1)[0]! : new Uint8Array(bytes);
  const scratch = whole.subarray(0, bytes);
  try {
    await comm.Recv(scratch, source, tag);
    scatterPieces(pieces, scratch, 0, window, start);
  } finally {
    if (pool.length < SCRATCH_KEPT) pool.push(whole);
  }
}

/** A reader's pieces of a window, in its data order: a view when one stretch, else copied together (null: none). */
function piecesOf(pieces: Pieces, window: Uint8Array, start: number): Uint8Array | null {
  const bytes = pieceBytes(pieces);
  if (bytes === 0) return null;
  if (pieces.length === 4 && pieces[3] === pieces[1]) return window.subarray(pieces[0]! - start, pieces[0]! - start + bytes);
  const out = new Uint8Array(bytes);
  gatherPieces(pieces, window, start, out, 0);
  return out;
}

function statusRequest(operation: Promise<Status>): Request<Status> {
  return new Request(operation, null, (st) => st);
}

function checkInt(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new MPIError('ERR_MPI_ARG', `${name} must be an integer, not ${String(value)}`);
}

function checkOffset(value: unknown, name: string): asserts value is number {
  checkInt(value, name);
  if (value < 0) throw new MPIError('ERR_MPI_ARG', `${name} must not be negative (${value})`);
}

function checkAmode(amode: unknown): asserts amode is number {
  if (typeof amode !== 'number' || !Number.isInteger(amode) || (amode & ~KNOWN_MODES) !== 0) {
    throw new MPIError('ERR_MPI_AMODE', `File.open: amode ${String(amode)} is not a combination of MPI.MODE_* flags`);
  }
  const access = [MODE_RDONLY, MODE_WRONLY, MODE_RDWR].filter((m) => amode & m).length;
  if (access !== 1) throw new MPIError('ERR_MPI_AMODE', 'File.open: amode needs exactly one of MODE_RDONLY, MODE_WRONLY, MODE_RDWR');
  if (amode & MODE_RDONLY && amode & (MODE_CREATE | MODE_EXCL))
    throw new MPIError('ERR_MPI_AMODE', 'File.open: MODE_RDONLY cannot go with MODE_CREATE or MODE_EXCL');
  if (amode & MODE_RDWR && amode & MODE_SEQUENTIAL) throw new MPIError('ERR_MPI_AMODE', 'File.open: MODE_RDWR cannot go with MODE_SEQUENTIAL');
}

// Every failure of a file's operations goes through its error handler (errhandler.ts).
routeErrors(File.prototype, ['setErrhandler', 'getErrhandler', 'callErrhandler', 'Set_errhandler', 'Get_errhandler', 'Call_errhandler']);
