// The handshake header (src/core/handshake.ts) and the tag layout (src/core/tags.ts): pure, no processes.
import { describe, it, expect } from 'vitest';
import { encodeHandshake, parseHandshake, HandshakeType, HANDSHAKE_HEADER_BYTES } from '../../src/core/handshake.js';
import { RESERVED_TAG_BIT, MAX_TAG, FULL_MASK, HANDSHAKE_AM_ID, MAX_AM_ID, validateRawTag, randomEndpointId } from '../../src/core/tags.js';

const id = (n: bigint): bigint => RESERVED_TAG_BIT | n;

describe('handshake header', () => {
  it('round-trips every message type with both endpoint ids', () => {
    for (const type of [
      HandshakeType.Hello,
      HandshakeType.Ack,
      HandshakeType.Ping,
      HandshakeType.Pong,
      HandshakeType.Bye,
      HandshakeType.ByeAck,
      HandshakeType.Refuse,
    ]) {
      const header = encodeHandshake(type, id(0x1234n), type === HandshakeType.Hello ? 0n : id(0x5678n));
      expect(header.length).toBe(HANDSHAKE_HEADER_BYTES);
      expect(parseHandshake(header)).toEqual({ type, sender: id(0x1234n), receiver: type === HandshakeType.Hello ? 0n : id(0x5678n) });
    }
  });

  it('is laid out as docs/wire-format.md says: NUCX, version 2, type, sender, receiver (little-endian)', () => {
    const header = encodeHandshake(HandshakeType.Ack, id(1n), id(2n));
    expect(header.subarray(0, 4).toString('latin1')).toBe('NUCX');
    expect(header.readUInt16LE(4)).toBe(2);
    expect(header.readUInt16LE(6)).toBe(HandshakeType.Ack);
    expect(header.readBigUInt64LE(8)).toBe(id(1n));
    expect(header.readBigUInt64LE(16)).toBe(id(2n));
  });

  it('drops anything else: wrong length, magic, version, type, or an endpoint id without bit 63', () => {
    const good = encodeHandshake(HandshakeType.Ping, id(7n), id(9n));
    const mutate = (at: number, write: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      write(b);
      return b;
    };
    expect(parseHandshake(good.subarray(0, 23))).toBeNull();
    expect(parseHandshake(Buffer.concat([good, Buffer.alloc(1)]))).toBeNull();
    expect(parseHandshake(mutate(0, (b) => b.writeUInt32LE(0, 0)))).toBeNull();
    expect(parseHandshake(mutate(4, (b) => b.writeUInt16LE(1, 4)))).toBeNull();
    expect(parseHandshake(mutate(6, (b) => b.writeUInt16LE(0, 6)))).toBeNull();
    expect(parseHandshake(mutate(6, (b) => b.writeUInt16LE(8, 6)))).toBeNull();
    expect(parseHandshake(mutate(8, (b) => b.writeBigUInt64LE(7n, 8)))).toBeNull();
    expect(parseHandshake(mutate(16, (b) => b.writeBigUInt64LE(9n, 16)))).toBeNull();
    expect(parseHandshake(Buffer.alloc(0))).toBeNull();
  });

  it('never throws on random bytes of any length', () => {
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.alloc(n % 40);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.random() * 256) | 0;
      if (n % 3 === 0 && bytes.length >= 8) {
        bytes.write('NUCX', 0, 'latin1');
        bytes.writeUInt16LE(2, 4);
      }
      expect(() => parseHandshake(bytes)).not.toThrow();
    }
  });
});

describe('tag layout', () => {
  it('splits the tag space at bit 63: raw tags below, endpoint ids above', () => {
    expect(MAX_TAG).toBe((1n << 63n) - 1n);
    expect(FULL_MASK).toBe((1n << 64n) - 1n);
    expect(MAX_AM_ID).toBe(HANDSHAKE_AM_ID - 1);
    for (let i = 0; i < 100; i++) {
      const endpointId = randomEndpointId();
      expect(endpointId & RESERVED_TAG_BIT).toBe(RESERVED_TAG_BIT);
      expect(endpointId <= FULL_MASK).toBe(true);
    }
  });

  it('validateRawTag takes 0 ... 2^63 - 1 and refuses the rest with Node-style codes', () => {
    expect(() => validateRawTag(0n)).not.toThrow();
    expect(() => validateRawTag(MAX_TAG)).not.toThrow();
    expect(() => validateRawTag(MAX_TAG + 1n)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => validateRawTag(-1n)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => validateRawTag(1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
