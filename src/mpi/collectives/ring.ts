// Ring algorithms over blocks of a buffer: each of size - 1 steps sends one block to the right and
// receives one from the left, so every rank moves (p - 1)/p of the data whatever the size.
import type { Op, TypedArray } from '../op.js';
import { typedLike } from '../buffers.js';
import type { Blocks } from '../vspec.js';
import type { CollectiveCall } from './call.js';

/**
 * Ring reduce-scatter (commutative ops): afterwards block (rank + owned) % size of `blocks` holds the
 * reduction over every rank. owned = 1 leaves the block the ring allgather starts from.
 */
export async function ringReduceScatter(call: CollectiveCall, blocks: Blocks<TypedArray>, op: Op, owned: 0 | 1, what: string): Promise<void> {
  const { rank, size } = call;
  const right = (rank + 1) % size;
  const left = (rank - 1 + size) % size;
  const tmp = typedLike(blocks.buf, Math.max(...blocks.counts));
  // A block is written (reduced into) at the step before it is sent and never after, so sends complete
  // in the background.
  // Every rank posts its receive before it waits for any send: with 2 ranks both send to each other, and
  // a rendezvous send completes only once the peer's receive is posted.
  const sends: Promise<void>[] = [];
  for (let step = 0; step < size - 1; step++) {
    const sendBlock = (((rank - step + owned - 1) % size) + 2 * size) % size;
    const recvBlock = (((rank - step + owned - 2) % size) + 2 * size) % size;
    const incoming = tmp.subarray(0, blocks.counts[recvBlock]!) as TypedArray;
    sends.push(call.send(right, blocks.block(sendBlock)));
    await call.recv(left, incoming, what);
    op.reduceInto(blocks.block(recvBlock), incoming, false);
  }
  await Promise.all(sends);
}

/**
 * Ring allgather: block (rank + owned) % size of `blocks` is complete here; afterwards every block is.
 * A block is sent after it arrived and never written again, so sends complete in the background.
 */
export async function ringAllgather(call: CollectiveCall, blocks: Blocks<Uint8Array | TypedArray>, owned: 0 | 1, what: string): Promise<void> {
  const { rank, size } = call;
  const right = (rank + 1) % size;
  const left = (rank - 1 + size) % size;
  const sends: Promise<void>[] = [];
  for (let step = 0; step < size - 1; step++) {
    const sendBlock = (rank - step + owned + size) % size;
    const recvBlock = (rank - step + owned - 1 + size) % size;
    sends.push(call.send(right, blocks.block(sendBlock)));
    await call.recv(left, blocks.block(recvBlock), what);
  }
  await Promise.all(sends);
}
