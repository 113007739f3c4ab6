// The handshake channel's header (docs/wire-format.md): magic 'NUCX' (LE u32), version u16, type u16,
// the sender's endpoint id u64, the receiver's endpoint id u64 (0 in a HELLO that does not know it).
// Pure: encoding and parsing only; Session and Worker decide what a message means.
import { RESERVED_TAG_BIT } from './tags.js';

const HANDSHAKE_MAGIC = 0x5843554e;
const HANDSHAKE_VERSION = 2;
export const HANDSHAKE_HEADER_BYTES = 24;

/** Message types of the handshake channel. */
export const enum HandshakeType {
  /** First message of a session: tells the peer our endpoint id (and, to a worker-address peer, our address). */
  Hello = 1,
  Ack = 2,
  Ping = 3,
  Pong = 4,
  /** Graceful close: everything sent before BYE has reached the peer when its BYE_ACK comes back. */
  Bye = 5,
  ByeAck = 6,
  /** Answer to a HELLO from a worker-address peer that this worker does not accept (WorkerOptions.acceptAddressConnections). */
  Refuse = 7,
}

export interface HandshakeMessage {
  type: number;
  sender: bigint;
  receiver: bigint;
}

export function encodeHandshake(type: HandshakeType, sender: bigint, receiver: bigint): Buffer {
  const header = Buffer.allocUnsafe(HANDSHAKE_HEADER_BYTES);
  header.writeUInt32LE(HANDSHAKE_MAGIC, 0);
  header.writeUInt16LE(HANDSHAKE_VERSION, 4);
  header.writeUInt16LE(type, 6);
  header.writeBigUInt64LE(sender, 8);
  header.writeBigUInt64LE(receiver, 16);
  return header;
}

/** A handshake header this version understands, or null (any other bytes are dropped). */
export function parseHandshake(header: Buffer): HandshakeMessage | null {
  if (header.length !== HANDSHAKE_HEADER_BYTES || header.readUInt32LE(0) !== HANDSHAKE_MAGIC || header.readUInt16LE(4) !== HANDSHAKE_VERSION) return null;
  const type = header.readUInt16LE(6);
  if (type < HandshakeType.Hello || type > HandshakeType.Refuse) return null;
  const sender = header.readBigUInt64LE(8);
  const receiver = header.readBigUInt64LE(16);
  // Endpoint ids are tags with bit 63 set: an id without it would aim our sends at the peer's raw tags.
  if ((sender & RESERVED_TAG_BIT) === 0n || (receiver !== 0n && (receiver & RESERVED_TAG_BIT) === 0n)) return null;
  return { type, sender, receiver };
}
