// Allgathers, and the barrier (an allgather of nothing): every rank ends with every rank's part.
import { encodeObject } from '../../util/object-codec.js';
import { pack, unpack } from '../wire.js';
import type { Blocks } from '../vspec.js';
import type { TypedArray } from '../op.js';
import { inRankOrder, type CollectiveCall } from './call.js';
import { ringAllgather } from './ring.js';
import { allgatherAlgorithm } from './select.js';

const EMPTY = new Uint8Array(0);

/** Dissemination barrier: ceil(log2 size) rounds of empty messages, to rank + d and from rank - d. */
export async function disseminationBarrier(call: CollectiveCall): Promise<void> {
  const { rank, size } = call;
  for (let distance = 1; distance < size; distance *= 2) {
    const to = (rank + distance) % size;
    const from = (rank - distance + size) % size;
    // The receive first: the peer's message then lands in a posted receive, not the unexpected queue.
    const received = call.channel.recvSignal(EMPTY, from, call.tag, 'barrier');
    await Promise.all([received, call.send(to, EMPTY)]);
  }
}

/** Bruck's allgather of objects: ceil(log2 size) rounds, each passing on everything gathered so far (packed). */
export async function bruckAllgather<T>(call: CollectiveCall, value: T): Promise<T[]> {
  const { rank, size } = call;
  // parts[i] is the encoding of rank (rank + i) % size.
  const parts: Buffer[] = [encodeObject(value)];
  for (let distance = 1; distance < size; distance *= 2) {
    const count = Math.min(distance, size - distance);
    const to = (rank - distance + size) % size;
    const from = (rank + distance) % size;
    const sent = call.sendObject(to, pack(parts.slice(0, count)));
    parts.push(...unpack((await call.recvObject(from)) as Buffer));
    await sent;
  }
  return inRankOrder(value, parts, rank, size);
}

/**
 * Recursive-doubling allgather (power-of-two sizes; block `rank` complete here): after the step with `mask`,
 * this rank holds the aligned group of 2 × mask blocks. What was sent is never written again, so sends
 * complete in the background.
 */
export async function allgatherDoubling(call: CollectiveCall, blocks: Blocks<Uint8Array | TypedArray>, what: string): Promise<void> {
  const { rank, size } = call;
  const sends: Promise<void>[] = [];
  for (let mask = 1; mask < size; mask <<= 1) {
    const partner = rank ^ mask;
    const mine = rank & ~(mask - 1);
    const theirs = partner & ~(mask - 1);
    sends.push(call.send(partner, blocks.range(mine, mine + mask)));
    await call.recv(partner, blocks.range(theirs, theirs + mask), what);
  }
  await Promise.all(sends);
}

/** Allgather of equal blocks, received in place; block `rank` is this rank's own, already there. */
export function allgatherBlocks(call: CollectiveCall, blocks: Blocks<Uint8Array>): Promise<void> {
  return allgatherAlgorithm(call.size) === 'recursive-doubling' ? allgatherDoubling(call, blocks, 'Allgather') : ringAllgather(call, blocks, 0, 'Allgather');
}
