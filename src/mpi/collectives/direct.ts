// Collectives in which ranks exchange with each other directly, all messages at once: alltoall, and the
// v-collectives (blocks of any size, so no tree or ring would balance them).
import { encodeObject, decodeObject } from '../../util/object-codec.js';
import { copyBlock, type Blocks } from '../vspec.js';
import type { CollectiveCall } from './call.js';

/** values[i] goes to rank i; the result's element j came from rank j (this rank's own is a copy too). */
export async function alltoallObjects<T>(call: CollectiveCall, values: readonly T[]): Promise<T[]> {
  const { rank, size } = call;
  const result = new Array<T>(size);
  result[rank] = decodeObject(encodeObject(values[rank])) as T;
  const work: Promise<void>[] = [];
  for (let i = 1; i < size; i++) {
    const to = (rank + i) % size;
    const from = (rank - i + size) % size;
    work.push(call.sendObject(to, values[to]));
    work.push(call.recvObject(from).then((value) => { result[from] = value as T; }));
  }
  await Promise.all(work);
  return result;
}

/** Block i of `source` (n bytes each) goes to rank i; block j of `out` comes from rank j. */
export async function alltoallBytes(call: CollectiveCall, source: Uint8Array, out: Uint8Array, n: number): Promise<void> {
  const { rank, size } = call;
  const work: Promise<unknown>[] = [];
  for (let i = 1; i < size; i++) {
    const to = (rank + i) % size;
    const from = (rank - i + size) % size;
    work.push(call.recv(from, out.subarray(from * n, from * n + n), 'Alltoall'));
    work.push(call.send(to, source.subarray(to * n, to * n + n)));
  }
  await Promise.all(work);
}

/** Every rank's `own` into block `rank` of the root's `blocks` (null off the root; `own` null: the root's IN_PLACE). */
export async function gatherv(call: CollectiveCall, own: Uint8Array | null, blocks: Blocks<Uint8Array> | null, root: number): Promise<void> {
  if (call.rank !== root) {
    await call.send(root, own!);
    return;
  }
  if (own !== null) copyBlock(blocks!.block(root), own, 'Gatherv');
  await Promise.all(call.others().map((r) => call.recv(r, blocks!.block(r), 'Gatherv')));
}

/** Block i of the root's `blocks` to rank i's `out` (`out` null: the root's IN_PLACE). */
export async function scatterv(call: CollectiveCall, blocks: Blocks<Uint8Array> | null, out: Uint8Array | null, root: number): Promise<void> {
  if (call.rank !== root) {
    await call.recv(root, out!, 'Scatterv');
    return;
  }
  if (out !== null) copyBlock(out, blocks!.block(root), 'Scatterv');
  await Promise.all(call.others().map((r) => call.send(r, blocks!.block(r))));
}

/** Block `rank` of every rank's `blocks` (already holding this rank's own) to every other rank's. */
export async function allgatherv(call: CollectiveCall, blocks: Blocks<Uint8Array>): Promise<void> {
  const mine = blocks.block(call.rank);
  await Promise.all(call.others().flatMap((r) => [
    call.send(r, mine),
    call.recv(r, blocks.block(r), 'Allgatherv'),
  ]));
}

/** Block j of `out` to rank j; block j of `into` from rank j (this rank's own block is already copied). */
export async function alltoallv(call: CollectiveCall, out: Blocks<Uint8Array>, into: Blocks<Uint8Array>): Promise<void> {
  await Promise.all(call.others().flatMap((r) => [
    call.send(r, out.block(r)),
    call.recv(r, into.block(r), 'Alltoallv'),
  ]));
}
