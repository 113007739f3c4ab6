// Channel: the point-to-point messages of one context of a communicator (its point-to-point context, or
// its collective one), as bytes, as framed object messages (wire.ts), or as objects. Every MPI send and
// receive, user-facing or inside a collective, goes through one of these; Comm checks the arguments first.
import type { Data } from '../index.js';
import { encodeObject, decodeObject } from '../util/object-codec.js';
import { MAX_RANKS, bulkTag, contextBits, matchTag, messageTag, nextSequence, tagFields, type ContextKind } from './tags.js';
import { bulkHeader, frame, inlineFrame, readHeader, HEADER_BYTES, INLINE_MAX, type Frame } from './wire.js';
import { MPIError } from './errors.js';
import type { World } from './world.js';

/** What arrived: the sender's rank, the user tag and the length in bytes (objects: of the encoding). */
export interface Arrival {
  source: number;
  tag: number;
  length: number;
}

export class Channel {
  /** This process's rank among the senders (in an intercommunicator: in its local group). */
  readonly rank: number;
  /** How many ranks messages go to and come from (in an intercommunicator: the remote group's size). */
  readonly size: number;
  readonly #world: World;
  /** Destination rank → process index in the world's table. */
  readonly #ranks: readonly number[];
  readonly #context: bigint;
  /** Per source rank, the tag of its messages with user tag 0 (context | source): computed once, every message needs it. */
  readonly #from: bigint[];
  /** The tag of this rank's own messages with user tag 0. */
  readonly #self: bigint;
  /** Per destination: the next bulk sequence number. */
  readonly #bulkSeq: Uint32Array;

  /**
   * `ranks`: the process index of each rank messages go to and come from; `rank`: this process's rank as
   * the receivers know it. In an intracommunicator `ranks` holds this process too, at `rank`.
   */
  constructor(world: World, ranks: readonly number[], rank: number, contextId: number, kind: ContextKind) {
    if (ranks.length > MAX_RANKS || rank >= MAX_RANKS) {
      throw new MPIError('ERR_MPI_COMM', `a communicator of more than ${MAX_RANKS} ranks (MAX_RANKS: 20 bits of the UCX tag name the source)`);
    }
    this.#world = world;
    this.#ranks = ranks;
    this.rank = rank;
    this.size = ranks.length;
    this.#context = contextBits(contextId, kind);
    this.#from = ranks.map((_, r) => messageTag(this.#context, r, 0));
    this.#self = messageTag(this.#context, rank, 0);
    this.#bulkSeq = new Uint32Array(ranks.length);
  }

  /** Sends `data` as it is (no copy: it must not change until this resolves). `sync`: resolves once matched. */
  sendBytes(dest: number, data: Data, tag: number, sync = false): Promise<void> {
    return this.#send(dest, data, this.#self | BigInt(tag), sync);
  }

  /** Receives into `into` (ANY_SOURCE, ANY_TAG allowed); a longer message rejects with ERR_MPI_TRUNCATE. */
  recvBytes(into: Data, source: number, tag: number, signal: AbortSignal | undefined, what: string): Promise<Arrival> {
    const [ucxTag, mask] = matchTag(this.#context, source, tag);
    return this.#recv(into, ucxTag, mask, signal, what).then((r) => ({ ...tagFields(r.tag), length: r.length }));
  }

  /**
   * Receives one message from `source` with exactly this tag, whatever its length (up to into's): the
   * barrier's empty messages. No mask: the worker's default, an exact match on its fast path.
   */
  recvSignal(into: Data, source: number, tag: number, what: string): Promise<unknown> {
    return this.#recv(into, this.#from[source]! | BigInt(tag), undefined, undefined, what);
  }

  /**
   * Receives exactly into.byteLength bytes from `source`: any other length rejects with ERR_MPI_COUNT (in a
   * collective, buffer sizes that differ between ranks).
   */
  recvExactly(into: Data, source: number, tag: number, what: string): Promise<void> {
    const [ucxTag, mask] = matchTag(this.#context, source, tag);
    const expected = ArrayBuffer.isView(into) ? into.byteLength : into.length;
    return this.#recv(into, ucxTag, mask, undefined, what).then(
      (r) => {
        if (r.length !== expected) {
          throw new MPIError(
            'ERR_MPI_COUNT',
            `${what}: rank ${source} sent ${r.length} bytes where ${expected} were expected (buffer sizes differ between ranks)`,
          );
        }
      },
      (error: unknown) => {
        if (error instanceof MPIError && error.code === 'ERR_MPI_TRUNCATE') {
          throw new MPIError('ERR_MPI_COUNT', `${what}: rank ${source} sent more than the ${expected} bytes expected (buffer sizes differ between ranks)`, {
            cause: error,
          });
        }
        throw error;
      },
    );
  }

  /**
   * Receives one block of a v-collective into `into` from `source`: a longer message is ERR_MPI_TRUNCATE (the
   * block is too small for what arrived), a shorter one ERR_MPI_COUNT (the counts differ between ranks).
   */
  recvBlock(into: Data, source: number, tag: number, what: string): Promise<void> {
    const [ucxTag, mask] = matchTag(this.#context, source, tag);
    const expected = ArrayBuffer.isView(into) ? into.byteLength : into.length;
    return this.#recv(into, ucxTag, mask, undefined, what).then(
      (r) => {
        if (r.length !== expected) {
          throw new MPIError('ERR_MPI_COUNT', `${what}: rank ${source} sent ${r.length} bytes for a block of ${expected} (the counts differ between ranks)`);
        }
      },
      (error: unknown) => {
        if (error instanceof MPIError && error.code === 'ERR_MPI_TRUNCATE') {
          throw new MPIError('ERR_MPI_TRUNCATE', `${what}: rank ${source} sent more than the ${expected} bytes of its block`, { cause: error });
        }
        throw error;
      },
    );
  }

  /** Sends an object message: one message if inline, else its header and then the body as a bulk message. */
  sendFrame(dest: number, message: Frame, tag: number, sync = false): Promise<void> {
    const ucxTag = this.#self | BigInt(tag);
    if (message.whole !== null) return this.#send(dest, message.whole, ucxTag, sync);
    // The bulk message is tagged with a per-destination sequence number, so the receiver can ask for exactly it.
    const seq = this.#bulkSeq[dest]!;
    this.#bulkSeq[dest] = nextSequence(seq);
    const head = bulkHeader(message.head, this.rank, seq);
    return Promise.all([this.#send(dest, head, ucxTag), this.#send(dest, message.body, bulkTag(this.#context, this.rank, seq), sync)]).then(() => undefined);
  }

  /** Receives an object message; the header says how long it is and, for a bulk one, who sent it. */
  async recvFrame(source: number, tag: number, signal: AbortSignal | undefined, what: string): Promise<Frame> {
    const [ucxTag, mask] = matchTag(this.#context, source, tag);
    const scratch = Buffer.allocUnsafe(INLINE_MAX);
    await this.#recv(scratch, ucxTag, mask, signal, what);
    return this.completeFrame(scratch, what);
  }

  /** An object message whose first UCX message (inline, or a bulk message's header) is in `first`: the bulk part follows. */
  async completeFrame(first: Buffer, what: string): Promise<Frame> {
    const header = readHeader(first, what);
    if (header.inline) return inlineFrame(first, header.length);
    const head = Buffer.from(first.subarray(0, HEADER_BYTES));
    const body = Buffer.allocUnsafe(header.length);
    // No mask: the worker's default, an exact match (its fast path).
    await this.#recv(body, bulkTag(this.#context, header.source, header.seq), undefined, undefined, what);
    return { head, body, whole: null };
  }

  /** Sends a copy of `value` (the bytes are encoded before this returns). */
  sendObject(dest: number, value: unknown, tag: number, sync = false): Promise<void> {
    return this.sendFrame(dest, frame(encodeObject(value), this.rank, tag), tag, sync);
  }

  /** Receives an object and what arrived (source and tag from the header, the length of the encoding). */
  async recvObject(source: number, tag: number, signal: AbortSignal | undefined, what: string): Promise<[unknown, Arrival]> {
    const message = await this.recvFrame(source, tag, signal, what);
    const header = readHeader(message.head, what);
    return [decodeObject(message.body), { source: header.source, tag: header.tag, length: message.body.length }];
  }

  /** What a matching message that has arrived would give (it stays queued), or null. Lengths are bytes on the wire. */
  probe(source: number, tag: number): Arrival | null {
    const [ucxTag, mask] = matchTag(this.#context, source, tag);
    const found = this.#world.worker.tagProbe(ucxTag, mask);
    return found === null ? null : { ...tagFields(found.tag), length: found.length };
  }

  /** tagSend to a rank, connecting first if needed (sends that wait for the connection keep their order). */
  #send(dest: number, data: Data, tag: bigint, sync = false): Promise<void> {
    const world = this.#world;
    const index = this.#ranks[dest]!;
    const opts = sync ? { sync } : undefined;
    const endpoint = world.connected(index);
    const sent = endpoint !== null ? endpoint.tagSend(data, tag, opts) : world.use(index, (ep) => ep.tagSend(data, tag, opts));
    return sent.catch((error: unknown) => {
      throw world.mapError(error, `send to rank ${dest}`);
    });
  }

  #recv(into: Data, tag: bigint, mask: bigint | undefined, signal: AbortSignal | undefined, what: string): Promise<{ length: number; tag: bigint }> {
    const world = this.#world;
    return world.worker.tagRecv(into, tag, mask, signal ? { signal } : undefined).catch((error: unknown) => {
      throw world.mapError(error, what);
    });
  }
}
