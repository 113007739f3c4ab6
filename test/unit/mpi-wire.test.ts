// Object message framing (src/mpi/wire.ts): headers round-trip, the inline/bulk boundary is where the
// docs put it, forwarded bulk headers get a new sender and sequence, and pack/unpack are inverses.
import { describe, it, expect } from 'vitest';
import { frame, readHeader, inlineFrame, bulkHeader, pack, unpack, HEADER_BYTES, INLINE_MAX } from '../../src/mpi/wire.js';
import { MPIError } from '../../src/mpi/errors.js';

function bodyOf(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff));
}

describe('MPI object framing', () => {
  it('writes the documented 24-byte header', () => {
    const f = frame(bodyOf(5), 3, 17);
    expect(f.head.length).toBe(HEADER_BYTES);
    expect([...f.head]).toEqual([0x4d, 1, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(readHeader(f.head, 'test')).toEqual({ inline: true, length: 5, source: 3, tag: 17, seq: 0 });
  });

  it('sends bodies inline up to 4 KiB with the header, in one buffer', () => {
    const largest = INLINE_MAX - HEADER_BYTES;
    const f = frame(bodyOf(largest), 1, 2);
    expect(f.whole).not.toBeNull();
    expect(f.whole!.length).toBe(INLINE_MAX);
    expect(f.body.equals(bodyOf(largest))).toBe(true);
    // The header and body are views of `whole`, not copies.
    expect(f.head.buffer).toBe(f.whole!.buffer);
    expect(f.body.byteOffset).toBe(f.whole!.byteOffset + HEADER_BYTES);
  });

  it('one byte more makes a bulk frame: a header alone, the body as it is', () => {
    const body = bodyOf(INLINE_MAX - HEADER_BYTES + 1);
    const f = frame(body, 1, 2);
    expect(f.whole).toBeNull();
    expect(f.body).toBe(body);
    expect(readHeader(f.head, 'test')).toEqual({ inline: false, length: body.length, source: 1, tag: 2, seq: 0 });
  });

  it('a received inline message (in a larger scratch buffer) splits back into header and body', () => {
    const sent = frame(bodyOf(100), 4, 5);
    const scratch = Buffer.alloc(INLINE_MAX, 0xee);
    sent.whole!.copy(scratch);
    const header = readHeader(scratch, 'test');
    const got = inlineFrame(scratch, header.length);
    expect(got.body.equals(bodyOf(100))).toBe(true);
    expect(got.whole!.length).toBe(HEADER_BYTES + 100);
    expect(got.head.equals(sent.head)).toBe(true);
  });

  it('a forwarded bulk header names the new sender and sequence, and leaves the original alone', () => {
    const f = frame(bodyOf(INLINE_MAX), 0, 9);
    const head = bulkHeader(f.head, 6, 0x7fffff);
    expect(readHeader(head, 'test')).toEqual({ inline: false, length: INLINE_MAX, source: 6, tag: 9, seq: 0x7fffff });
    expect(readHeader(f.head, 'test')).toEqual({ inline: false, length: INLINE_MAX, source: 0, tag: 9, seq: 0 });
  });

  it('rejects a message that is not an object message with ERR_MPI_TYPE', () => {
    for (const bytes of [Buffer.from([0, 1, 2, 3]), Buffer.from([0x4d, 3, 0, 0]), Buffer.alloc(0)]) {
      expect(() => readHeader(bytes, 'recv')).toThrow(MPIError);
      try {
        readHeader(bytes, 'recv');
      } catch (error) {
        expect((error as MPIError).code).toBe('ERR_MPI_TYPE');
        expect((error as MPIError).message).toMatch(/^recv: /);
      }
    }
  });

  it('pack and unpack are inverses, empty parts and empty lists included', () => {
    const cases: Buffer[][] = [[], [Buffer.alloc(0)], [bodyOf(1), Buffer.alloc(0), bodyOf(300)], Array.from({ length: 50 }, (_, i) => bodyOf(i))];
    for (const parts of cases) {
      const packed = pack(parts);
      expect(packed.length).toBe(4 + 4 * parts.length + parts.reduce((n, p) => n + p.length, 0));
      const back = unpack(packed);
      expect(back.length).toBe(parts.length);
      back.forEach((part, i) => expect(part.equals(parts[i]!)).toBe(true));
    }
  });
});
