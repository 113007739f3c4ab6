// The layout of the 63 raw-tag bits node-ucx leaves to MPI (bit 63 is node-ucx's own):
//
//   | 62 … 44 context (19 bits) | 43 bulk | 42 … 23 source rank (20) | 22 … 0 user tag (23) |
//
// A communicator owns two contexts, 2 × id for point-to-point and 2 × id + 1 for its collectives
// (whose "user tag" is the call's sequence number), so that neither ever matches the other's messages.
// Pure: numbers in, bigints out. docs/mpi.md ("Wire format") describes the same table.
import { ANY_SOURCE, ANY_TAG } from './constants.js';

const TAG_BITS = 23n;
const SOURCE_BITS = 20n;
const SOURCE_SHIFT = TAG_BITS;
const BULK_BIT = 1n << (SOURCE_SHIFT + SOURCE_BITS);
const CONTEXT_SHIFT = SOURCE_SHIFT + SOURCE_BITS + 1n;
const CONTEXT_BITS = 63n - CONTEXT_SHIFT;
const SOURCE_FIELD = ((1n << SOURCE_BITS) - 1n) << SOURCE_SHIFT;
const TAG_FIELD = (1n << TAG_BITS) - 1n;

/** Every MPI bit: a receive with this mask matches one (context, source, tag) exactly. */
export const EXACT_MASK = (1n << 63n) - 1n;
/** The largest user tag (23 bits of the UCX tag). */
export const TAG_UB = Number(TAG_FIELD);
/** The most ranks a job may have (20 bits of the UCX tag). */
export const MAX_RANKS = 1 << Number(SOURCE_BITS);
/** The most communicators a job may create over its life: two contexts each in 19 bits. */
export const MAX_CONTEXTS = 1 << Number(CONTEXT_BITS - 1n);

export type ContextKind = 'p2p' | 'collective';

/** The context bits of a communicator's point-to-point or collective messages. */
export function contextBits(contextId: number, kind: ContextKind): bigint {
  return BigInt(2 * contextId + (kind === 'collective' ? 1 : 0)) << CONTEXT_SHIFT;
}

/** The bits that name the sending rank. */
function sourceBits(source: number): bigint {
  return BigInt(source) << SOURCE_SHIFT;
}

/** The tag of a message from `source` with user tag (or sequence number) `tag`. */
export function messageTag(context: bigint, source: number, tag: number): bigint {
  return context | sourceBits(source) | BigInt(tag);
}

/** The tag of the second (bulk) part of a large object message: the sender's bulk sequence number in the tag bits. */
export function bulkTag(context: bigint, source: number, seq: number): bigint {
  return context | BULK_BIT | sourceBits(source) | BigInt(seq);
}

/** The tag and mask a receive for (source, tag) posts; ANY_SOURCE and ANY_TAG leave their field out of the mask. */
export function matchTag(context: bigint, source: number, tag: number): [tag: bigint, mask: bigint] {
  let ucxTag = context;
  let mask = EXACT_MASK;
  if (source === ANY_SOURCE) mask &= ~SOURCE_FIELD;
  else ucxTag |= sourceBits(source);
  if (tag === ANY_TAG) mask &= ~TAG_FIELD;
  else ucxTag |= BigInt(tag);
  return [ucxTag, mask];
}

/** The source rank and user tag a received message's tag carries. */
export function tagFields(ucxTag: bigint): { source: number; tag: number } {
  return { source: Number((ucxTag & SOURCE_FIELD) >> SOURCE_SHIFT), tag: Number(ucxTag & TAG_FIELD) };
}

/** The sequence number after `seq` (collective calls, bulk messages): it stays in the 23 tag bits. */
export function nextSequence(seq: number): number {
  return (seq + 1) & TAG_UB;
}
