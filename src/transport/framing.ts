// The transports' framing, as pure functions and a pure decoder: what goes on the wire
// (docs/transport.md) and the checks on what comes off it. A peer's bytes are checked
// here before anything is allocated for them: a header that lies about its frames, a
// count or a size beyond the limits, an unknown type — each is an ERR_TRANSPORT_PROTOCOL
// error, never a throw of something else, an allocation of what the peer merely
// announced, or a hang.
import { TransportError, frameLength, asBuffer, type Frame } from './types.js';

/** Limits on one received message, whatever the transport (transportDefaults.maxMessageBytes sets the first). */
export interface FrameLimits {
  /** The most bytes one message's frames may add up to. */
  maxMessageBytes: number;
}

const EMPTY = Buffer.alloc(0);

function protocolError(reason: string): TransportError {
  return new TransportError('ERR_TRANSPORT_PROTOCOL', `not node-ucx transport framing: ${reason}`);
}

/** Reads `count` u64 sizes at `offset`, each and all together within the limits. */
function readSizes(bytes: Buffer, offset: number, count: number, limits: FrameLimits): { sizes: number[]; total: number } {
  const sizes = new Array<number>(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const size = bytes.readBigUInt64LE(offset + 8 * i);
    if (size > BigInt(limits.maxMessageBytes)) throw protocolError(`a frame of ${size} bytes (the limit is ${limits.maxMessageBytes})`);
    sizes[i] = Number(size);
    total += sizes[i]!;
    if (total > limits.maxMessageBytes) throw protocolError(`a message of more than ${limits.maxMessageBytes} bytes`);
  }
  return { sizes, total };
}

// ---- UCX: a header message, then one endpoint message per non-empty frame ----
//
//   u32 magic 'NUTU' · u8 version 1 · u8 type · u16 0 · u32 frame count n · n × u64 sizes
//   [type INLINE: followed by the frames' bytes]

const UCX_MAGIC = 0x5554554e;
const UCX_VERSION = 1;
export const UCX_HEADER_BYTES = 12;
/** The largest header: 12 bytes, 8 per frame, and inline frames. */
export const UCX_HEADER_MAX = 65536;
/** Frames one message may have (so that its header fits UCX_HEADER_MAX). */
export const UCX_MAX_FRAMES = Math.floor((UCX_HEADER_MAX - UCX_HEADER_BYTES) / 8) - 1;

export const enum UcxMessageType {
  /** The frames follow, one endpoint message each. */
  Data = 1,
  /** The frames' bytes are inside the header message. */
  Inline = 2,
  /** The sender closes: answered with GOODBYE_ACK once everything before it was received. */
  Goodbye = 3,
  GoodbyeAck = 4,
}

/** A control message (GOODBYE, GOODBYE_ACK): a header without frames. */
export function encodeUcxControl(type: UcxMessageType.Goodbye | UcxMessageType.GoodbyeAck): Buffer {
  const header = Buffer.alloc(UCX_HEADER_BYTES);
  header.writeUInt32LE(UCX_MAGIC, 0);
  header.writeUInt8(UCX_VERSION, 4);
  header.writeUInt8(type, 5);
  return header;
}

/** Whether frames of `total` bytes, all host memory, travel inside a header of `count` sizes. */
export function fitsInline(count: number, total: number, inlineBytes: number): boolean {
  return total <= Math.min(inlineBytes, UCX_HEADER_MAX - UCX_HEADER_BYTES - 8 * count);
}

/** The header message for `frames` (count <= UCX_MAX_FRAMES, checked by the caller); inline copies host frames into it. */
export function encodeUcxHeader(frames: readonly Frame[], inline: boolean): Buffer {
  const count = frames.length;
  let total = 0;
  if (inline) for (const frame of frames) total += frameLength(frame);
  const header = Buffer.allocUnsafe(UCX_HEADER_BYTES + 8 * count + (inline ? total : 0));
  header.writeUInt32LE(UCX_MAGIC, 0);
  header.writeUInt8(UCX_VERSION, 4);
  header.writeUInt8(inline ? UcxMessageType.Inline : UcxMessageType.Data, 5);
  header.writeUInt16LE(0, 6);
  header.writeUInt32LE(count, 8);
  let offset = UCX_HEADER_BYTES + 8 * count;
  for (let i = 0; i < count; i++) {
    const frame = frames[i]!;
    header.writeBigUInt64LE(BigInt(frameLength(frame)), UCX_HEADER_BYTES + 8 * i);
    if (inline) offset += asBuffer(frame as ArrayBufferView).copy(header, offset);
  }
  return header;
}

export type UcxHeader =
  | { type: UcxMessageType.Goodbye }
  | { type: UcxMessageType.GoodbyeAck }
  | { type: UcxMessageType.Data; sizes: number[] }
  | { type: UcxMessageType.Inline; frames: Buffer[] };

/**
 * Parses the first `length` bytes of a received header message. Inline frames are copied out (the
 * header buffer is reused), as views of one new Buffer.
 */
export function decodeUcxHeader(header: Buffer, length: number, limits: FrameLimits): UcxHeader {
  if (length < UCX_HEADER_BYTES || header.readUInt32LE(0) !== UCX_MAGIC || header.readUInt8(4) !== UCX_VERSION) {
    throw protocolError('bad header');
  }
  const type = header.readUInt8(5);
  const count = header.readUInt32LE(8);
  if (type === UcxMessageType.Goodbye || type === UcxMessageType.GoodbyeAck) {
    if (count !== 0 || length !== UCX_HEADER_BYTES) throw protocolError('a control message with frames');
    return type === UcxMessageType.Goodbye ? { type: UcxMessageType.Goodbye } : { type: UcxMessageType.GoodbyeAck };
  }
  if (type !== UcxMessageType.Data && type !== UcxMessageType.Inline) throw protocolError(`unknown message type ${type}`);
  if (count > UCX_MAX_FRAMES || UCX_HEADER_BYTES + 8 * count > length) throw protocolError(`${count} frames in a ${length}-byte header`);
  const { sizes, total } = readSizes(header, UCX_HEADER_BYTES, count, limits);
  const start = UCX_HEADER_BYTES + 8 * count;
  if (type === UcxMessageType.Data) {
    if (length !== start) throw protocolError('bytes after the sizes of a data header');
    return { type, sizes };
  }
  if (start + total !== length) throw protocolError(`inline frames of ${total} bytes in ${length - start}`);
  const bytes = Buffer.from(header.subarray(start, length));
  const frames = new Array<Buffer>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const size = sizes[i]!;
    frames[i] = size === 0 ? EMPTY : bytes.subarray(offset, offset + size);
    offset += size;
  }
  return { type, frames };
}

// ---- TCP: length-prefixed messages on a byte stream ----
//
//   u32 magic 'NUTC' · u32 frame count n · n × u64 frame sizes · the frames' bytes

const TCP_MAGIC = 0x4354554e;
const TCP_PREAMBLE = 8;
/** A bound on frames per message, so that garbage on the wire is caught before it allocates. */
export const TCP_MAX_FRAMES = 1 << 20;

/** The bytes that go before the frames (which are written as they are: writev, no copy). */
export function encodeTcpHeader(frames: readonly ArrayBufferView[]): Buffer {
  const header = Buffer.allocUnsafe(TCP_PREAMBLE + 8 * frames.length);
  header.writeUInt32LE(TCP_MAGIC, 0);
  header.writeUInt32LE(frames.length, 4);
  for (let i = 0; i < frames.length; i++) header.writeBigUInt64LE(BigInt(frames[i]!.byteLength), TCP_PREAMBLE + 8 * i);
  return header;
}

/**
 * Turns the received byte stream back into messages. Memory follows what arrived, not what a header
 * announced: a frame's buffer is allocated once half of its bytes are here (they are copied in, and the
 * rest as it comes), so a peer that announces a huge frame and stalls costs at most twice what it sent,
 * and an honest large frame at most 1.5x its size. After a protocol error (thrown by push) the decoder
 * is dead: the connection must be dropped.
 */
export class TcpFrameDecoder {
  readonly #limits: FrameLimits;
  #chunks: Buffer[] = [];
  #available = 0;
  /** null: reading a preamble; otherwise the message being read. */
  #message: { count: number; sizes: number[] | null; frames: Buffer[] } | null = null;
  /** The frame being filled in place, once half of it arrived, and how much of it is filled. */
  #partial: { target: Buffer; filled: number } | null = null;
  #failed = false;

  constructor(limits: FrameLimits) {
    this.#limits = limits;
  }

  /** Bytes received and not yet part of a delivered message. */
  get buffered(): number {
    return this.#available;
  }

  /** Feeds one chunk; returns the messages it completed (often none, sometimes several). */
  push(chunk: Buffer): Buffer[][] {
    if (this.#failed) throw protocolError('the stream already broke');
    this.#chunks.push(chunk);
    this.#available += chunk.length;
    const done: Buffer[][] = [];
    try {
      while (this.#step(done));
    } catch (error) {
      this.#failed = true;
      this.#partial = null;
      this.#chunks = [];
      this.#available = 0;
      throw error;
    }
    return done;
  }

  /** One step of the parse; false when it needs more bytes. */
  #step(done: Buffer[][]): boolean {
    const message = this.#message;
    if (message === null) {
      if (this.#available < TCP_PREAMBLE) return false;
      const preamble = this.#take(TCP_PREAMBLE);
      if (preamble.readUInt32LE(0) !== TCP_MAGIC) throw protocolError('bad magic');
      const count = preamble.readUInt32LE(4);
      if (count > TCP_MAX_FRAMES) throw protocolError(`${count} frames`);
      if (count === 0) done.push([]);
      else this.#message = { count, sizes: null, frames: [] };
      return true;
    }
    if (message.sizes === null) {
      if (this.#available < 8 * message.count) return false;
      message.sizes = readSizes(this.#take(8 * message.count), 0, message.count, this.#limits).sizes;
    }
    const sizes = message.sizes;
    while (message.frames.length < sizes.length) {
      const size = sizes[message.frames.length]!;
      if (size === 0) {
        message.frames.push(EMPTY);
        continue;
      }
      const partial = this.#partial;
      if (partial !== null) {
        partial.filled += this.#copyInto(partial.target, partial.filled);
        if (partial.filled < size) return false;
        this.#partial = null;
        message.frames.push(partial.target);
        continue;
      }
      if (this.#available >= size) {
        message.frames.push(this.#take(size));
        continue;
      }
      if (this.#available * 2 >= size) this.#partial = { target: Buffer.allocUnsafe(size), filled: 0 };
      else return false;
    }
    this.#message = null;
    done.push(message.frames);
    return true;
  }

  /** Takes exactly n bytes off the front of the received chunks (n <= available); copies only across chunk edges. */
  #take(n: number): Buffer {
    this.#available -= n;
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      // Copy small pieces out of a big chunk, so that a tiny frame does not pin a 64 KiB read buffer.
      return n < 4096 ? Buffer.from(first.subarray(0, n)) : first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const want = n - offset;
      if (chunk.length <= want) {
        chunk.copy(out, offset);
        offset += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(out, offset, 0, want);
        this.#chunks[0] = chunk.subarray(want);
        offset += want;
      }
    }
    return out;
  }

  /** Moves received bytes into `target` from `at` (as many as fit); returns how many. */
  #copyInto(target: Buffer, at: number): number {
    let copied = 0;
    while (this.#chunks.length > 0 && at + copied < target.length) {
      const chunk = this.#chunks[0]!;
      const want = target.length - at - copied;
      if (chunk.length <= want) {
        chunk.copy(target, at + copied);
        copied += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(target, at + copied, 0, want);
        this.#chunks[0] = chunk.subarray(want);
        copied += want;
      }
    }
    this.#available -= copied;
    return copied;
  }
}
