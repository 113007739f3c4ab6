// MPI.Message: a message taken out of matching by a matched probe (Comm.mprobe / Mprobe / improbe /
// Improbe), received later with its own recv/Recv, so that no other receive can take it in between.
// The probe posts the receive of exactly that message at once (UCX matches a source's messages with one
// tag in order, and nothing runs between the probe and the post), into a buffer of the probed size;
// recv/Recv then decode or copy it.
import { decodeObject } from '../util/object-codec.js';
import { ANY_SOURCE, ANY_TAG, PROC_NULL } from './constants.js';
import { MPIError } from './errors.js';
import { incoming } from './bufspec.js';
import { isDevice } from './buffers.js';
import type { Channel } from './p2p.js';
import { Request, Status } from './request.js';

/** A message a matched probe (mprobe, improbe) took out of matching: receive it with recv() or Recv(), and no other receive can take it first. */
export class Message {
  /** The sender's rank, the tag and the bytes on the wire (objects: header and encoding). */
  readonly source: number;
  /** The message's tag. */
  readonly tag: number;
  /** Its bytes on the wire (objects: header and encoding). */
  readonly count: number;
  readonly #channel: Channel | null;
  readonly #received: Promise<Buffer> | null;
  #taken = false;

  /** @internal Made by a matched probe; `received` is the receive already posted for it (null: MESSAGE_NO_PROC or NULL). */
  constructor(channel: Channel | null, source: number, tag: number, count: number, received: Promise<Buffer> | null) {
    this.#channel = channel;
    this.source = source;
    this.tag = tag;
    this.count = count;
    this.#received = received;
    // Received whether or not anyone asks for it: a failure must not become an unhandled rejection.
    received?.catch(() => {});
  }

  /** Whether this is MESSAGE_NO_PROC (the probe was for PROC_NULL): receiving it gets nothing. */
  get noProc(): boolean {
    return this.source === PROC_NULL;
  }

  /** The object (lowercase send) this message carries. `status` is filled in. */
  async recv<T = unknown>(status?: Status): Promise<T> {
    const first = await this.#take('recv');
    if (first === null) {
      if (status != null) Object.assign(status, new Status(PROC_NULL, ANY_TAG, 0));
      return null as T;
    }
    const frame = await this.#channel!.completeFrame(first, 'Message.recv');
    if (status != null) Object.assign(status, new Status(this.source, this.tag, frame.body.length));
    return decodeObject(frame.body) as T;
  }

  /** Receives the bytes into `buf` (a typed array or a [buf, count, datatype] spec); longer than it is ERR_MPI_TRUNCATE. */
  async Recv(buf: unknown, status?: Status): Promise<Status> {
    if (isDevice(buf)) throw new MPIError('ERR_MPI_BUFFER', 'Message.Recv: DeviceMemory is not supported here (receive with Recv)');
    const target = buf === null && this.noProc ? null : incoming(buf, 'buf', 'Message.Recv');
    const data = await this.#take('Recv');
    let st: Status;
    if (data === null) st = new Status(PROC_NULL, ANY_TAG, 0);
    else {
      const into = target!.into as Uint8Array;
      if (data.length > into.byteLength) {
        throw new MPIError(
          'ERR_MPI_TRUNCATE',
          `Message.Recv: the message of ${data.length} bytes is longer than the receive buffer (${into.byteLength} bytes)`,
        );
      }
      into.set(data);
      target!.finish(data.length);
      st = new Status(this.source, this.tag, data.length);
    }
    if (status != null) Object.assign(status, st);
    return st;
  }

  /** recv() as a Request (mpi4py's Message.irecv). */
  irecv<T = unknown>(): Request<T> {
    return new Request(this.recv<T>());
  }
  /** Recv() as a Request; wait() resolves with the Status (MPI_Imrecv). */
  Irecv(buf: unknown): Request<Status> {
    return new Request(this.Recv(buf), null, (st) => st);
  }
  // mpi4py spellings of the object forms are the same (recv, irecv); Mrecv/Imrecv are these.
  /** MPI's name for Recv() (MPI_Mrecv). */
  Mrecv(buf: unknown, status?: Status): Promise<Status> {
    return this.Recv(buf, status);
  }

  #take(what: string): Promise<Buffer | null> {
    if (this.#received === null) return Promise.resolve(null);
    if (this.#taken) return Promise.reject(new MPIError('ERR_MPI_REQUEST', `Message.${what}: this message was received already`));
    this.#taken = true;
    return this.#received;
  }
}

/** What a matched probe for PROC_NULL gives: receiving it completes at once with nothing. */
export const MESSAGE_NO_PROC = new Message(null, PROC_NULL, ANY_TAG, 0, null);
/** No message. */
export const MESSAGE_NULL = new Message(null, ANY_SOURCE, ANY_TAG, 0, null);
