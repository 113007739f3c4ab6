// The transports' framing (src/transport/framing.ts): round trips, and what a peer's bytes can do —
// any byte string is a message or an ERR_TRANSPORT_PROTOCOL error, and memory follows what arrived.
import { describe, it, expect } from 'vitest';
import {
  TcpFrameDecoder,
  encodeTcpHeader,
  encodeUcxHeader,
  decodeUcxHeader,
  encodeUcxControl,
  fitsInline,
  UcxMessageType,
  UCX_HEADER_BYTES,
  UCX_HEADER_MAX,
  UCX_MAX_FRAMES,
  TCP_MAX_FRAMES,
} from '../../src/transport/framing.js';
import { TransportError } from '../../src/transport/types.js';

const LIMITS = { maxMessageBytes: 1 << 20 };

function prng(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
}

function expectProtocolError(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('ERR_TRANSPORT_PROTOCOL');
    return;
  }
  throw new Error('expected an ERR_TRANSPORT_PROTOCOL error');
}

/** A TCP message as the sender writes it: header, then the frames. */
function tcpBytes(frames: Buffer[]): Buffer {
  return Buffer.concat([encodeTcpHeader(frames), ...frames]);
}

describe('UCX transport header', () => {
  it('round-trips data and inline headers, empty frames included', () => {
    const frames = [Buffer.from('abc'), Buffer.alloc(0), Buffer.alloc(100, 7)];
    const data = encodeUcxHeader(frames, false);
    expect(decodeUcxHeader(data, data.length, LIMITS)).toEqual({ type: UcxMessageType.Data, sizes: [3, 0, 100] });
    expect(fitsInline(3, 103, 8192)).toBe(true);
    const inline = encodeUcxHeader(frames, true);
    const decoded = decodeUcxHeader(inline, inline.length, LIMITS);
    expect(decoded.type).toBe(UcxMessageType.Inline);
    expect((decoded as { frames: Buffer[] }).frames).toEqual(frames);
    const goodbye = encodeUcxControl(UcxMessageType.Goodbye);
    expect(decodeUcxHeader(goodbye, goodbye.length, LIMITS)).toEqual({ type: UcxMessageType.Goodbye });
    expect(fitsInline(UCX_MAX_FRAMES, 12, 65536)).toBe(true);
    expect(fitsInline(UCX_MAX_FRAMES, 13, 65536)).toBe(false);
  });

  it('inline frames do not alias the reused receive buffer', () => {
    const receive = Buffer.alloc(UCX_HEADER_MAX);
    encodeUcxHeader([Buffer.from('first')], true).copy(receive);
    const { frames } = decodeUcxHeader(receive, UCX_HEADER_BYTES + 8 + 5, LIMITS) as { frames: Buffer[] };
    receive.fill(0);
    expect(frames[0]!.toString()).toBe('first');
  });

  it('uses only the received length: a header claiming more sizes than arrived is refused (no stale bytes read)', () => {
    const receive = Buffer.alloc(UCX_HEADER_MAX);
    encodeUcxHeader([Buffer.alloc(1), Buffer.alloc(2), Buffer.alloc(3)], false).copy(receive);
    expectProtocolError(() => decodeUcxHeader(receive, UCX_HEADER_BYTES + 8, LIMITS));
  });

  it('refuses frames or messages beyond the limit, unknown types and control messages with frames', () => {
    const big = encodeUcxHeader([{ ptr: 1n, length: LIMITS.maxMessageBytes + 1, memoryType: 'cuda' }], false);
    expectProtocolError(() => decodeUcxHeader(big, big.length, LIMITS));
    const two = encodeUcxHeader([Buffer.alloc(0), Buffer.alloc(0)], false);
    two.writeBigUInt64LE(BigInt(LIMITS.maxMessageBytes), 12);
    two.writeBigUInt64LE(1n, 20);
    expectProtocolError(() => decodeUcxHeader(two, two.length, LIMITS));
    const unknown = encodeUcxHeader([], false);
    unknown.writeUInt8(9, 5);
    expectProtocolError(() => decodeUcxHeader(unknown, unknown.length, LIMITS));
    const bye = Buffer.concat([encodeUcxControl(UcxMessageType.Goodbye), Buffer.alloc(8)]);
    bye.writeUInt32LE(1, 8);
    expectProtocolError(() => decodeUcxHeader(bye, bye.length, LIMITS));
  });

  it('every mutation and truncation of real headers decodes or is a protocol error (20,000 cases)', () => {
    const rand = prng(11);
    for (let i = 0; i < 20_000; i++) {
      const count = Math.floor(rand() * 6);
      const frames = Array.from({ length: count }, () => Buffer.alloc(Math.floor(rand() * 50)));
      const header = Buffer.from(encodeUcxHeader(frames, rand() < 0.5));
      for (let flips = Math.floor(rand() * 4); flips > 0; flips--) header[Math.floor(rand() * header.length)] = Math.floor(rand() * 256);
      const length = rand() < 0.3 ? Math.floor(rand() * header.length) : header.length;
      try {
        decodeUcxHeader(header, length, LIMITS);
      } catch (error) {
        expect((error as TransportError).code).toBe('ERR_TRANSPORT_PROTOCOL');
      }
    }
  });
});

describe('TCP frame decoder', () => {
  it('reassembles messages whatever the chunking, one byte at a time included', () => {
    const messages = [[Buffer.from('hello'), Buffer.alloc(0)], [], [Buffer.alloc(70_000, 3)], [Buffer.from('x')]];
    const stream = Buffer.concat(messages.map(tcpBytes));
    const rand = prng(5);
    for (const chunkMax of [1, 7, 4096, stream.length]) {
      const decoder = new TcpFrameDecoder(LIMITS);
      const got: Buffer[][] = [];
      for (let at = 0; at < stream.length;) {
        const n = Math.max(1, Math.min(stream.length - at, Math.ceil(rand() * chunkMax)));
        got.push(...decoder.push(stream.subarray(at, at + n)));
        at += n;
      }
      expect(got).toEqual(messages);
      expect(decoder.buffered).toBe(0);
    }
  });

  it('memory follows what arrived: a frame announced at the limit costs nothing until half of it is here', () => {
    const decoder = new TcpFrameDecoder(LIMITS);
    const header = encodeTcpHeader([Buffer.alloc(0)]);
    header.writeBigUInt64LE(BigInt(LIMITS.maxMessageBytes), 8);
    const before = process.memoryUsage().arrayBuffers;
    expect(decoder.push(header)).toEqual([]);
    expect(decoder.push(Buffer.alloc(10))).toEqual([]);
    expect(decoder.buffered).toBe(10);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(LIMITS.maxMessageBytes / 2);
    // The rest arrives: one message of the announced size, intact.
    const rest = Buffer.alloc(LIMITS.maxMessageBytes - 10, 9);
    const done = decoder.push(rest);
    expect(done).toHaveLength(1);
    expect(done[0]![0]!.length).toBe(LIMITS.maxMessageBytes);
    expect(done[0]![0]![5]).toBe(0);
    expect(done[0]![0]![LIMITS.maxMessageBytes - 1]).toBe(9);
  });

  it('refuses bad magic, too many frames, a frame or a message beyond the limit; then stays broken', () => {
    expectProtocolError(() => new TcpFrameDecoder(LIMITS).push(Buffer.alloc(8)));
    const many = encodeTcpHeader([]);
    many.writeUInt32LE(TCP_MAX_FRAMES + 1, 4);
    expectProtocolError(() => new TcpFrameDecoder(LIMITS).push(many));
    const huge = encodeTcpHeader([Buffer.alloc(0)]);
    huge.writeBigUInt64LE(2n ** 64n - 1n, 8);
    expectProtocolError(() => new TcpFrameDecoder(LIMITS).push(huge));
    const sum = encodeTcpHeader([Buffer.alloc(0), Buffer.alloc(0)]);
    sum.writeBigUInt64LE(BigInt(LIMITS.maxMessageBytes - 1), 8);
    sum.writeBigUInt64LE(2n, 16);
    const decoder = new TcpFrameDecoder(LIMITS);
    expectProtocolError(() => decoder.push(sum));
    expectProtocolError(() => decoder.push(tcpBytes([Buffer.from('ok')])));
  });

  it('random garbage and mutated streams give messages or a protocol error, never anything else (10,000 streams)', () => {
    const rand = prng(3);
    for (let i = 0; i < 10_000; i++) {
      const frames = Array.from({ length: Math.floor(rand() * 4) }, () => Buffer.alloc(Math.floor(rand() * 40), 1));
      const stream = Buffer.from(tcpBytes(frames));
      for (let flips = Math.floor(rand() * 3); flips > 0; flips--) stream[Math.floor(rand() * stream.length)] = Math.floor(rand() * 256);
      const decoder = new TcpFrameDecoder(LIMITS);
      try {
        for (let at = 0; at < stream.length; at += 5) decoder.push(stream.subarray(at, at + 5));
      } catch (error) {
        expect((error as TransportError).code).toBe('ERR_TRANSPORT_PROTOCOL');
      }
    }
  });
});
