// The MPI tag layout (src/mpi/tags.ts): fields survive a round trip at their limits, wildcards clear
// exactly their field, and no two contexts, nor a message and a bulk part, can match each other.
import { describe, it, expect } from 'vitest';
import { EXACT_MASK, TAG_UB, MAX_RANKS, MAX_CONTEXTS, bulkTag, contextBits, matchTag, messageTag, nextSequence, tagFields } from '../../src/mpi/tags.js';
import { ANY_SOURCE, ANY_TAG } from '../../src/mpi/constants.js';

/** Whether a receive posted as (tag, mask) takes a message tagged `sent` (UCX's rule). */
function matches([tag, mask]: [bigint, bigint], sent: bigint): boolean {
  return (sent & mask) === (tag & mask);
}

const RESERVED_BIT = 1n << 63n;

describe('MPI tag layout', () => {
  it('has the documented limits: 2^23 - 1 user tags, 2^20 ranks, 2^18 communicators', () => {
    expect(TAG_UB).toBe(8_388_607);
    expect(MAX_RANKS).toBe(1_048_576);
    expect(MAX_CONTEXTS).toBe(262_144);
    expect(EXACT_MASK).toBe(RESERVED_BIT - 1n);
  });

  it('round-trips source and tag at their boundaries, in every context', () => {
    for (const contextId of [0, 1, 2, MAX_CONTEXTS - 1]) {
      for (const kind of ['p2p', 'collective'] as const) {
        const context = contextBits(contextId, kind);
        for (const source of [0, 1, MAX_RANKS - 1]) {
          for (const tag of [0, 1, TAG_UB]) {
            const ucxTag = messageTag(context, source, tag);
            expect(tagFields(ucxTag)).toEqual({ source, tag });
            // Never node-ucx's reserved bit 63 (a raw tag must stay below it).
            expect(ucxTag & RESERVED_BIT).toBe(0n);
            expect(ucxTag >> 44n).toBe(BigInt(2 * contextId + (kind === 'collective' ? 1 : 0)));
          }
        }
      }
    }
  });

  it('places the fields where docs/mpi.md says', () => {
    expect(messageTag(contextBits(3, 'p2p'), 5, 7)).toBe((6n << 44n) | (5n << 23n) | 7n);
    expect(bulkTag(contextBits(3, 'collective'), 5, 9)).toBe((7n << 44n) | (1n << 43n) | (5n << 23n) | 9n);
  });

  it('an exact receive takes only its (context, source, tag)', () => {
    const context = contextBits(4, 'p2p');
    const receive = matchTag(context, 2, 10);
    expect(receive[1]).toBe(EXACT_MASK);
    expect(matches(receive, messageTag(context, 2, 10))).toBe(true);
    expect(matches(receive, messageTag(context, 3, 10))).toBe(false);
    expect(matches(receive, messageTag(context, 2, 11))).toBe(false);
    expect(matches(receive, messageTag(contextBits(4, 'collective'), 2, 10))).toBe(false);
    expect(matches(receive, messageTag(contextBits(5, 'p2p'), 2, 10))).toBe(false);
  });

  it('ANY_SOURCE and ANY_TAG clear only their own field', () => {
    const context = contextBits(1, 'p2p');
    const anySource = matchTag(context, ANY_SOURCE, 10);
    expect(matches(anySource, messageTag(context, MAX_RANKS - 1, 10))).toBe(true);
    expect(matches(anySource, messageTag(context, 0, 11))).toBe(false);
    const anyTag = matchTag(context, 3, ANY_TAG);
    expect(matches(anyTag, messageTag(context, 3, TAG_UB))).toBe(true);
    expect(matches(anyTag, messageTag(context, 4, 0))).toBe(false);
    const anything = matchTag(context, ANY_SOURCE, ANY_TAG);
    expect(matches(anything, messageTag(context, 9, 9))).toBe(true);
    // ... but never another communicator's message, a collective's, or the bulk part of an object.
    expect(matches(anything, messageTag(contextBits(0, 'p2p'), 9, 9))).toBe(false);
    expect(matches(anything, messageTag(contextBits(1, 'collective'), 9, 9))).toBe(false);
    expect(matches(anything, bulkTag(context, 9, 9))).toBe(false);
  });

  it('the highest context of the highest communicator still fits below bit 63', () => {
    const top = bulkTag(contextBits(MAX_CONTEXTS - 1, 'collective'), MAX_RANKS - 1, TAG_UB);
    expect(top).toBe(EXACT_MASK);
  });

  it('sequence numbers wrap inside the 23 tag bits', () => {
    expect(nextSequence(0)).toBe(1);
    expect(nextSequence(TAG_UB - 1)).toBe(TAG_UB);
    expect(nextSequence(TAG_UB)).toBe(0);
  });
});
