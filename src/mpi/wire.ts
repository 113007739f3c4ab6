// Object messages on the wire: a 24-byte header, then the object-codec bytes.
//
//   u8 'M' (0x4d) · u8 kind (1 inline: the bytes follow; 2 bulk: they come as a second message) · u16 0
//   u32 byte length · u32 source rank · u32 user tag · u32 bulk sequence · u32 0
//
// Messages up to INLINE_MAX bytes (header included) are one UCX message; larger bodies follow as a bulk
// message tagged with the sender's bulk sequence number (tags.ts bulkTag), which the header carries.
// Pure: bytes in, bytes out; p2p.ts sends and receives them.
import { MPIError } from './errors.js';

const MAGIC = 0x4d;
const INLINE = 1;
const BULK = 2;
export const HEADER_BYTES = 24;
/** A receive posts this much: any inline message fits, and a bulk message's header does. */
export const INLINE_MAX = 4096;

/** An object message: its header and body; `whole` is both in one buffer when it travels inline. */
export interface Frame {
  head: Buffer;
  body: Buffer;
  whole: Buffer | null;
}

export interface FrameHeader {
  inline: boolean;
  length: number;
  source: number;
  tag: number;
  seq: number;
}

/** Frames encoded object bytes; inline ones get header and body in one buffer (one message, no concat). */
export function frame(body: Buffer, source: number, tag: number): Frame {
  const inline = HEADER_BYTES + body.length <= INLINE_MAX;
  const whole = inline ? Buffer.allocUnsafe(HEADER_BYTES + body.length) : null;
  const head = whole ?? Buffer.allocUnsafe(HEADER_BYTES);
  head[0] = MAGIC;
  head[1] = inline ? INLINE : BULK;
  head.writeUInt16LE(0, 2);
  head.writeUInt32LE(body.length, 4);
  head.writeUInt32LE(source, 8);
  head.writeUInt32LE(tag, 12);
  head.writeUInt32LE(0, 16);
  head.writeUInt32LE(0, 20);
  if (whole === null) return { head, body, whole };
  body.copy(whole, HEADER_BYTES);
  return { head: whole.subarray(0, HEADER_BYTES), body: whole.subarray(HEADER_BYTES), whole };
}

/** The header at the start of a received message; ERR_MPI_TYPE when it is not an object message. */
export function readHeader(message: Buffer, what: string): FrameHeader {
  if (message[0] !== MAGIC || (message[1] !== INLINE && message[1] !== BULK)) {
    throw new MPIError('ERR_MPI_TYPE', `${what}: the message is not an object message (sent with Send? receive it with Recv)`);
  }
  return {
    inline: message[1] === INLINE,
    length: message.readUInt32LE(4),
    source: message.readUInt32LE(8),
    tag: message.readUInt32LE(12),
    seq: message.readUInt32LE(16),
  };
}

/** A received inline message as a Frame (views of `message`, no copy). */
export function inlineFrame(message: Buffer, length: number): Frame {
  const whole = message.subarray(0, HEADER_BYTES + length);
  return { head: whole.subarray(0, HEADER_BYTES), body: whole.subarray(HEADER_BYTES), whole };
}

/** A copy of a bulk frame's header naming its sender and bulk sequence number (a forwarded frame gets new ones). */
export function bulkHeader(head: Buffer, source: number, seq: number): Buffer {
  const copy = Buffer.from(head);
  copy.writeUInt32LE(source, 8);
  copy.writeUInt32LE(seq, 16);
  return copy;
}

/** Several encoded objects as one byte string: u32 count, count × u32 lengths, the bytes (tree gathers and scatters). */
export function pack(parts: readonly Buffer[]): Buffer {
  const head = Buffer.allocUnsafe(4 + 4 * parts.length);
  head.writeUInt32LE(parts.length, 0);
  parts.forEach((p, i) => head.writeUInt32LE(p.length, 4 + 4 * i));
  return Buffer.concat([head, ...parts]);
}

/** The parts of a pack(), as views of `packed`. */
export function unpack(packed: Buffer): Buffer[] {
  const count = packed.readUInt32LE(0);
  const parts: Buffer[] = [];
  let offset = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const length = packed.readUInt32LE(4 + 4 * i);
    parts.push(packed.subarray(offset, offset + length));
    offset += length;
  }
  return parts;
}
