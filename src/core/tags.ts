// The tag space and the active-message ids node-ucx reserves (docs/wire-format.md):
// raw tagSend/tagRecv use tags below bit 63; endpoint-scoped messages use the
// receiving endpoint's id, which has bit 63 set; AM id 0xffff is the handshake channel.
import { randomBytes } from 'node:crypto';
import { outOfRange, validateUint64 } from '../util/validate.js';

/** Tags with this bit set belong to endpoint-scoped messaging (send/recv/sendObject); raw tags are below it. */
export const RESERVED_TAG_BIT = 1n << 63n;
/** The largest tag raw tagSend/tagRecv accept. */
export const MAX_TAG = RESERVED_TAG_BIT - 1n;
/** The tag mask that matches every bit (the default mask of tag receives and probes). */
export const FULL_MASK = (1n << 64n) - 1n;
/** Active message id node-ucx uses for the endpoint handshake; user ids are 0 ... 65534. */
export const HANDSHAKE_AM_ID = 0xffff;
/** The largest active-message id user handlers may use (0xfffe). */
export const MAX_AM_ID = HANDSHAKE_AM_ID - 1;

/** A raw tag for tagSend/tagRecv: below the range reserved for endpoint-scoped messages. */
export function validateRawTag(tag: unknown, name = 'tag'): asserts tag is bigint {
  validateUint64(tag, name);
  if (tag > MAX_TAG) throw outOfRange(name, '>= 0n and < 2n ** 63n (higher tags are reserved for endpoint messages)', tag);
}

/** A fresh endpoint id: the tag its endpoint-scoped messages arrive on (bit 63 set, 63 random bits). */
export function randomEndpointId(): bigint {
  return RESERVED_TAG_BIT | (randomBytes(8).readBigUInt64LE() & (RESERVED_TAG_BIT - 1n));
}
