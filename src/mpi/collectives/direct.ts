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
    work.push(
      call.recvObject(from).then((value) => {
        result[from] = value as T;
      }),
    );
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

/**
 * Runs `exchange` to the end even when `local` (this rank's copy of its own block) fails, so that no peer is
 * left waiting for this rank's part; then throws the first failure, the local one first.
 */
async function alongside(local: () => void, exchange: () => Promise<unknown>): Promise<void> {
  let failure: unknown = undefined;
  try {
    local();
  } catch (error) {
    failure = error;
  }
  try {
    await exchange();
  } catch (error) {
    failure ??= error;
  }
  if (failure !== undefined) throw failure;
}

/** Every rank's `own` into block `rank` of the root's `blocks` (null off the root; `own` null: the root's IN_PLACE). */
export async function gatherv(call: CollectiveCall, own: Uint8Array | null, blocks: Blocks<Uint8Array> | null, root: number): Promise<void> {
  if (call.rank !== root) {
    await call.send(root, own!);
    return;
  }
  await alongside(
    () => {
      if (own !== null) copyBlock(blocks!.block(root), own, 'Gatherv');
    },
    () => Promise.all(call.others().map((r) => call.recvBlock(r, blocks!.block(r), 'Gatherv'))),
  );
}

/** Block i of the root's `blocks` to rank i's `out` (`out` null: the root's IN_PLACE). */
export async function scatterv(call: CollectiveCall, blocks: Blocks<Uint8Array> | null, out: Uint8Array | null, root: number): Promise<void> {
  if (call.rank !== root) {
    await call.recvBlock(root, out!, 'Scatterv');
    return;
  }
  await alongside(
    () => {
      if (out !== null) copyBlock(out, blocks!.block(root), 'Scatterv');
    },
    () => Promise.all(call.others().map((r) => call.send(r, blocks!.block(r)))),
  );
}

/**
 * `own` (null: IN_PLACE, already in block `rank`) into block `rank` of every rank's `blocks`: this rank
 * sends it to every other rank and receives theirs.
 */
export async function allgatherv(call: CollectiveCall, own: Uint8Array | null, blocks: Blocks<Uint8Array>): Promise<void> {
  const mine = own ?? blocks.block(call.rank);
  await alongside(
    () => {
      if (own !== null) copyBlock(blocks.block(call.rank), own, 'Allgatherv');
    },
    () => Promise.all(call.others().flatMap((r) => [call.send(r, mine), call.recvBlock(r, blocks.block(r), 'Allgatherv')])),
  );
}

/** Block j of `out` to rank j; block j of `into` from rank j (this rank's own block is copied across). */
export async function alltoallv(call: CollectiveCall, out: Blocks<Uint8Array>, into: Blocks<Uint8Array>): Promise<void> {
  await alongside(
    () => copyBlock(into.block(call.rank), out.block(call.rank), 'Alltoallv'),
    () => Promise.all(call.others().flatMap((r) => [call.send(r, out.block(r)), call.recvBlock(r, into.block(r), 'Alltoallv')])),
  );
}

/**
 * Gather of `n`-byte blocks straight to the root (large blocks: each byte crosses once, the root receives
 * every block at once). `ownInPlace`: the root's block is already in `out`.
 */
export async function linearGather(call: CollectiveCall, own: Uint8Array, out: Uint8Array | null, n: number, root: number, ownInPlace: boolean): Promise<void> {
  if (call.rank !== root) {
    await call.send(root, own);
    return;
  }
  const all = out!;
  if (!ownInPlace) all.set(own, root * n);
  await Promise.all(call.others().map((r) => call.recv(r, all.subarray(r * n, r * n + n), 'Gather')));
}

/** Scatter of the root's `all` (size blocks of `n` bytes) straight from the root (large blocks); `out` null: the root's IN_PLACE. */
export async function linearScatter(call: CollectiveCall, all: Uint8Array | null, out: Uint8Array | null, n: number, root: number): Promise<void> {
  if (call.rank !== root) {
    await call.recv(root, out!, 'Scatter');
    return;
  }
  const sends = call.others().map((r) => call.send(r, all!.subarray(r * n, r * n + n)));
  if (out !== null) out.set(all!.subarray(root * n, root * n + n));
  await Promise.all(sends);
}
