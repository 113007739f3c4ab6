// How the generic algorithms (tree reduce, recursive doubling, scan) move and combine one kind of
// value, so that each is written once for objects and typed arrays: objects are sent as copies and
// combined with op.apply (new values); typed arrays are sent as they are and combined in place
// with op.reduceInto, receiving into scratch buffers.
import { typedLike } from '../buffers.js';
import type { Op, TypedArray } from '../op.js';
import type { CollectiveCall } from './call.js';

export interface Values<V> {
  send(peer: number, value: V): Promise<void>;
  /** A peer's value. `slot` picks the scratch space, so that receives posted together do not share it. */
  recv(peer: number, slot?: number): Promise<V>;
  /** A peer's value that replaces `acc` (typed arrays: received into it). */
  recvResult(peer: number, acc: V): Promise<V>;
  /** `acc op other`, or `other op acc` when `otherFirst` (other holds lower ranks' values); may reuse `acc`. */
  combine(acc: V, other: V, otherFirst: boolean): V;
  /** `other` as the new accumulator (typed arrays: copied into `acc`). */
  adopt(acc: V, other: V): V;
}

export function objectValues(call: CollectiveCall, op: Op): Values<unknown> {
  return {
    send: (peer, value) => call.sendObject(peer, value),
    recv: (peer) => call.recvObject(peer),
    recvResult: (peer) => call.recvObject(peer),
    combine: (acc, other, otherFirst) => (otherFirst ? op.apply(other, acc) : op.apply(acc, other)),
    adopt: (_acc, other) => other,
  };
}

/** Typed arrays like `like` (same type and length); `what` names the collective in errors. */
export function typedValues(call: CollectiveCall, op: Op, like: TypedArray, what: string): Values<TypedArray> {
  const scratch: TypedArray[] = [];
  return {
    send: (peer, value) => call.send(peer, value),
    recv: (peer, slot = 0) => {
      const into = (scratch[slot] ??= typedLike(like, like.length));
      return call.recv(peer, into, what).then(() => into);
    },
    recvResult: (peer, acc) => call.recv(peer, acc, what).then(() => acc),
    combine: (acc, other, otherFirst) => {
      op.reduceInto(acc, other, otherFirst);
      return acc;
    },
    adopt: (acc, other) => {
      acc.set(other as never);
      return acc;
    },
  };
}
