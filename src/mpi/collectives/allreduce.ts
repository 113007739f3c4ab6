// Allreduce: every rank gets op over every rank's value. Recursive doubling is written once, for objects
// and typed arrays alike (values.ts); the bandwidth-optimal algorithms for large typed arrays work on
// blocks of the buffer. Reduce_scatter is here too: an allreduce of which each rank keeps one block.
import type { Op, TypedArray } from '../op.js';
import { giveScratch, takeScratch } from '../buffers.js';
import { Blocks, equalCounts } from '../vspec.js';
import type { CollectiveCall } from './call.js';
import { allgatherDoubling } from './allgather.js';
import { ringAllgather, ringReduceScatter } from './ring.js';
import { allreduceAlgorithm, reduceScatterAlgorithm } from './select.js';
import { bcastBytes, reduceTree } from './tree.js';
import { typedValues, type Values } from './values.js';

/**
 * Recursive doubling: log2 p exchanges of the whole value. Ranks beyond the largest power of two first hand
 * their value to a neighbour and get the result back at the end. Values are combined in rank order, so
 * non-commutative (associative) ops work too. Returns the result.
 */
export async function recursiveDoubling<V>(call: CollectiveCall, values: Values<V>, acc: V): Promise<V> {
  const { rank, size } = call;
  let pof2 = 1;
  while (pof2 * 2 <= size) pof2 *= 2;
  const rem = size - pof2;
  // The first 2 × rem ranks pair up: the even one folds its value into the odd one, which takes part.
  let newrank: number;
  if (rank < 2 * rem) {
    if (rank % 2 === 0) {
      await values.send(rank + 1, acc);
      newrank = -1;
    } else {
      acc = values.combine(acc, await values.recv(rank - 1), true);
      newrank = rank >> 1;
    }
  } else {
    newrank = rank - rem;
  }
  if (newrank >= 0) {
    for (let mask = 1; mask < pof2; mask <<= 1) {
      const newdst = newrank ^ mask;
      const dst = newdst < rem ? newdst * 2 + 1 : newdst + rem;
      const [other] = await Promise.all([values.recv(dst), values.send(dst, acc)]);
      acc = values.combine(acc, other, dst < rank);
    }
  }
  if (rank < 2 * rem) {
    if (rank % 2 === 1) await values.send(rank - 1, acc);
    else acc = await values.recvResult(rank + 1, acc);
  }
  return acc;
}

/**
 * Rabenseifner's allreduce for a power-of-two size (commutative ops): reduce-scatter by recursive halving,
 * then allgather by recursive doubling: 2 log2(size) steps, each moving half the data of the one before.
 */
export async function rabenseifner(call: CollectiveCall, buf: TypedArray, op: Op): Promise<void> {
  const { rank, size } = call;
  const blocks = new Blocks(buf, equalCounts(buf.length, size, op.splitUnit));
  const tmp = takeScratch(buf, Math.ceil(buf.length / 2) + size);
  // A step never writes what an earlier step sent, so sends complete in the background: only receives
  // are on the critical path (a rendezvous send's completion costs the sender another wake-up).
  const sends: Promise<void>[] = [];
  let lo = 0;
  let hi = size;
  for (let distance = size >> 1; distance >= 1; distance >>= 1) {
    const partner = rank ^ distance;
    const mid = (lo + hi) >> 1;
    const [keepLo, keepHi, sendLo, sendHi] = (rank & distance) === 0 ? [lo, mid, mid, hi] : [mid, hi, lo, mid];
    const keep = blocks.range(keepLo, keepHi);
    const incoming = tmp.subarray(0, keep.length) as TypedArray;
    sends.push(call.send(partner, blocks.range(sendLo, sendHi)));
    await call.recv(partner, incoming, 'Allreduce');
    op.reduceInto(keep, incoming, false);
    lo = keepLo;
    hi = keepHi;
  }
  // Halving leaves this rank with block `rank` (lo) fully reduced: the allgather starts from there.
  await allgatherDoubling(call, blocks, 'Allreduce');
  await Promise.all(sends);
  // Every receive into it has completed (on a failure it is dropped instead: nothing is reused then).
  giveScratch(tmp);
}

/** Reduce to rank 0 along a tree, then broadcast: for ops that must be combined in rank order. */
export async function reduceThenBcast(call: CollectiveCall, buf: TypedArray, op: Op, what: string): Promise<void> {
  await reduceTree(call, typedValues(call, op, buf, what), buf, 0);
  await bcastBytes(call, buf, 0, 0);
}

/** Allreduce of typed arrays in place in `buf`: the algorithm select.ts picks for the size, the ranks and the op. */
export async function allreduceTyped(call: CollectiveCall, buf: TypedArray, op: Op): Promise<void> {
  const algorithm = op.commute ? allreduceAlgorithm(buf.byteLength, buf.length, call.size, op.splitUnit) : 'reduce-bcast';
  switch (algorithm) {
    case 'reduce-bcast':
      return reduceThenBcast(call, buf, op, 'Allreduce');
    case 'rabenseifner':
      return rabenseifner(call, buf, op);
    case 'ring': {
      const blocks = new Blocks(buf, equalCounts(buf.length, call.size, op.splitUnit));
      await ringReduceScatter(call, blocks, op, 1, 'Allreduce');
      return ringAllgather(call, blocks, 1, 'Allreduce');
    }
    case 'recursive-doubling':
      await recursiveDoubling(call, typedValues(call, op, buf, 'Allreduce'), buf);
  }
}

/** Reduces every rank's `blocks` (in place) so that at least block `rank` holds the result. */
export async function reduceScatterTyped(call: CollectiveCall, blocks: Blocks<TypedArray>, op: Op): Promise<void> {
  if (reduceScatterAlgorithm(blocks.counts, op.commute, op.splitUnit) === 'ring') {
    await ringReduceScatter(call, blocks, op, 0, 'Reduce_scatter');
  } else {
    await reduceThenBcast(call, blocks.buf, op, 'Reduce_scatter');
  }
}
