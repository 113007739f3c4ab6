// One collective call: the communicator's collective channel, with the call's sequence number as the
// tag of every message it sends. Receives of bytes are exact (a length that differs between ranks is
// ERR_MPI_COUNT); objects travel as object messages (wire.ts).
import type { Data } from '../../index.js';
import { encodeObject, decodeObject } from '../../util/object-codec.js';
import type { Channel } from '../p2p.js';
import { frame, type Frame } from '../wire.js';

export class CollectiveCall {
  readonly rank: number;
  readonly size: number;
  readonly channel: Channel;
  readonly tag: number;

  constructor(channel: Channel, tag: number) {
    this.channel = channel;
    this.tag = tag;
    this.rank = channel.rank;
    this.size = channel.size;
  }

  send(dest: number, data: Data): Promise<void> {
    return this.channel.sendBytes(dest, data, this.tag);
  }

  /** Receives exactly into.byteLength bytes from `source`; `what` names the collective in errors. */
  recv(source: number, into: Data, what: string): Promise<void> {
    return this.channel.recvExactly(into, source, this.tag, what);
  }

  /** Receives one block of a v-collective: longer than `into` is ERR_MPI_TRUNCATE, shorter ERR_MPI_COUNT. */
  recvBlock(source: number, into: Data, what: string): Promise<void> {
    return this.channel.recvBlock(into, source, this.tag, what);
  }

  sendObject(dest: number, value: unknown): Promise<void> {
    return this.channel.sendObject(dest, value, this.tag);
  }

  async recvObject(source: number): Promise<unknown> {
    return decodeObject((await this.recvFrame(source)).body);
  }

  /** `value` encoded once, for sending to several ranks (bcast). */
  frame(value: unknown): Frame {
    return frame(encodeObject(value), this.rank, this.tag);
  }

  sendFrame(dest: number, message: Frame): Promise<void> {
    return this.channel.sendFrame(dest, message, this.tag);
  }

  recvFrame(source: number): Promise<Frame> {
    return this.channel.recvFrame(source, this.tag, undefined, 'collective');
  }

  /** The other ranks, starting after this one (so that not every rank sends to rank 0 first). */
  others(): number[] {
    return Array.from({ length: this.size - 1 }, (_, i) => (this.rank + 1 + i) % this.size);
  }
}

/**
 * Gathered encodings back in rank order: parts[i] encodes rank (first + i) % size, except parts[0],
 * which is `value` itself (the caller's own, returned as it is, not as a copy).
 */
export function inRankOrder<T>(value: T, parts: readonly Buffer[], first: number, size: number): T[] {
  const result = new Array<T>(size);
  result[first] = value;
  for (let i = 1; i < size; i++) result[(first + i) % size] = decodeObject(parts[i]!) as T;
  return result;
}
