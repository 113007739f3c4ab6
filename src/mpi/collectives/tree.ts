// Binomial trees: broadcast, reduce, gather and scatter, of objects and of bytes. Ranks are taken
// relative to the root (vr = rank - root mod size); a node's parent clears the lowest set bit of vr,
// and its subtree covers the relative ranks [vr, vr + span).
import type { Data } from '../../index.js';
import { encodeObject, decodeObject } from '../../util/object-codec.js';
import { byteLength, slice } from '../buffers.js';
import { pack, unpack } from '../wire.js';
import { inRankOrder, type CollectiveCall } from './call.js';
import { bcastSegments } from './select.js';
import type { Values } from './values.js';

/** This rank's node in the binomial tree rooted at `root`. */
export class BinomialTree {
  /** This rank, relative to the root. */
  readonly vr: number;
  /** The parent's relative rank; -1 at the root. */
  readonly parent: number;
  /** The children's relative ranks, largest subtree first (ascending rank order is the reverse). */
  readonly children: readonly number[];
  readonly #root: number;
  readonly #size: number;

  constructor(rank: number, size: number, root: number) {
    this.#root = root;
    this.#size = size;
    const vr = (rank - root + size) % size;
    this.vr = vr;
    let mask = 1;
    let parent = -1;
    while (mask < size) {
      if (vr & mask) {
        parent = vr - mask;
        break;
      }
      mask <<= 1;
    }
    this.parent = parent;
    const children: number[] = [];
    for (mask >>= 1; mask > 0; mask >>= 1) if (vr + mask < size) children.push(vr + mask);
    this.children = children;
  }

  /** The rank of a relative rank. */
  rankOf(vr: number): number {
    return (vr + this.#root) % this.#size;
  }

  /** How many relative ranks the subtree at `vr` covers: its lowest set bit, within the size (the root: all). */
  span(vr: number): number {
    return vr === 0 ? this.#size : Math.min(vr & -vr, this.#size - vr);
  }
}

/**
 * For receives posted together and awaited one by one: once one has failed the rest are never awaited, and
 * their failures must not surface as unhandled rejections (which end the process). Awaiting still throws.
 */
function settleQuietly(received: Promise<unknown>): void {
  received.catch(() => {});
}

/** Broadcast of an object: the root encodes it once and every rank forwards the same message. The root gets `value` itself back. */
export async function bcastObject<T>(call: CollectiveCall, value: T, root: number): Promise<T> {
  const tree = new BinomialTree(call.rank, call.size, root);
  const message = call.rank === root ? call.frame(value) : await call.recvFrame(tree.rankOf(tree.parent));
  const sends = tree.children.map((child) => call.sendFrame(tree.rankOf(child), message));
  const result = call.rank === root ? value : (decodeObject(message.body) as T);
  await Promise.all(sends);
  return result;
}

/** Broadcast of bytes into every rank's `buf`; `segment` > 0 pipelines a large buffer down the tree in pieces. */
export async function bcastBytes(call: CollectiveCall, buf: Data, root: number, segment: number): Promise<void> {
  const tree = new BinomialTree(call.rank, call.size, root);
  const segments = bcastSegments(byteLength(buf), segment);
  // Every piece's receive is posted at once; each piece goes on to the children as soon as it is in.
  const receives = call.rank === root ? null : segments.map(([offset, length]) => call.recv(tree.rankOf(tree.parent), slice(buf, offset, length), 'Bcast'));
  receives?.forEach(settleQuietly);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < segments.length; i++) {
    if (receives !== null) await receives[i];
    const [offset, length] = segments[i]!;
    for (const child of tree.children) sends.push(call.send(tree.rankOf(child), slice(buf, offset, length)));
  }
  await Promise.all(sends);
}

/**
 * Reduction along the tree rooted at `root`: a node receives all its children's values at once and combines
 * them in rank order (acc op child1 op child2 ...), then sends the result up. Returns the root's result (other
 * ranks: their subtree's).
 */
export async function reduceTree<V>(call: CollectiveCall, values: Values<V>, acc: V, root: number): Promise<V> {
  const tree = new BinomialTree(call.rank, call.size, root);
  const ascending = [...tree.children].reverse();
  const received = ascending.map((child, i) => values.recv(tree.rankOf(child), i));
  received.forEach(settleQuietly);
  for (const value of received) acc = values.combine(acc, await value, false);
  if (tree.parent >= 0) await values.send(tree.rankOf(tree.parent), acc);
  return acc;
}

/**
 * Reduction to `root`. A non-commutative op is combined in rank order: along the tree rooted at rank 0,
 * which then hands the result to the root. Returns the result at the root (other ranks: a partial value).
 */
export async function treeReduce<V>(call: CollectiveCall, values: Values<V>, acc: V, commute: boolean, root: number): Promise<V> {
  const treeRoot = commute ? root : 0;
  acc = await reduceTree(call, values, acc, treeRoot);
  if (treeRoot !== root) {
    if (call.rank === 0) await values.send(root, acc);
    if (call.rank === root) acc = await values.recvResult(0, acc);
  }
  return acc;
}

/** Gather of objects: each node sends its subtree's encodings up as one packed message. The root gets them in rank order. */
export async function gatherObjects<T>(call: CollectiveCall, value: T, root: number): Promise<T[] | null> {
  const { size } = call;
  const tree = new BinomialTree(call.rank, size, root);
  // Children in ascending order cover the relative ranks right after ours.
  const received = await Promise.all([...tree.children].reverse().map((child) => call.recvObject(tree.rankOf(child))));
  // parts[i]: the encoding for relative rank vr + i.
  const parts: Buffer[] = [encodeObject(value)];
  for (const packed of received) parts.push(...unpack(packed as Buffer));
  if (call.rank !== root) {
    await call.sendObject(tree.rankOf(tree.parent), pack(parts));
    return null;
  }
  return inRankOrder(value, parts, root, size);
}

/** Scatter of objects (`values`: the root's, one per rank): each node passes its children their subtrees' encodings. */
export async function scatterObjects<T>(call: CollectiveCall, values: readonly T[] | null, root: number): Promise<T> {
  const { size } = call;
  const tree = new BinomialTree(call.rank, size, root);
  // parts[i]: the encoding for relative rank vr + i.
  let parts: Buffer[];
  if (call.rank === root) {
    parts = [];
    for (let i = 0; i < size; i++) parts.push(encodeObject(values![(i + root) % size]));
  } else {
    parts = unpack((await call.recvObject(tree.rankOf(tree.parent))) as Buffer);
  }
  const sends = tree.children.map((child) => {
    const from = child - tree.vr;
    return call.sendObject(tree.rankOf(child), pack(parts.slice(from, from + tree.span(child))));
  });
  const mine = call.rank === root ? values![root]! : (decodeObject(parts[0]!) as T);
  await Promise.all(sends);
  return mine;
}

/**
 * Gather of `n`-byte blocks (`own`: this rank's) into the root's `out` in rank order: each node collects its
 * subtree's blocks contiguously (in relative order), received in place at root 0. `ownInPlace`: the root's
 * block is already in `out`.
 */
export async function gatherBytes(call: CollectiveCall, own: Uint8Array, out: Uint8Array | null, n: number, root: number, ownInPlace: boolean): Promise<void> {
  const { size } = call;
  const isRoot = call.rank === root;
  const tree = new BinomialTree(call.rank, size, root);
  const span = tree.span(tree.vr);
  // Blocks of relative ranks [vr, vr + span), in order.
  let block: Uint8Array;
  if (isRoot && root === 0) block = out!;
  else if (tree.children.length === 0) block = own;
  else block = new Uint8Array(span * n);
  if (block !== own && !(isRoot && root === 0 && ownInPlace)) block.set(own, 0);
  await Promise.all(
    tree.children.map((child) => {
      const offset = (child - tree.vr) * n;
      return call.recv(tree.rankOf(child), block.subarray(offset, offset + tree.span(child) * n), 'Gather');
    }),
  );
  if (!isRoot) {
    await call.send(tree.rankOf(tree.parent), block.subarray(0, span * n));
    return;
  }
  if (root !== 0) {
    for (let i = 0; i < size; i++) out!.set(block.subarray(i * n, i * n + n), ((i + root) % size) * n);
  }
}

/**
 * Scatter of the root's `all` (size blocks of `n` bytes, rank order) into every rank's `out` (null: the root's
 * IN_PLACE): each node receives its subtree's blocks and passes on its children's.
 */
export async function scatterBytes(call: CollectiveCall, all: Uint8Array | null, out: Uint8Array | null, n: number, root: number): Promise<void> {
  const { size } = call;
  const tree = new BinomialTree(call.rank, size, root);
  let block: Uint8Array;
  if (call.rank === root) {
    if (root === 0) block = all!;
    else {
      // Into relative order, so that every subtree's blocks are contiguous.
      block = new Uint8Array(size * n);
      for (let i = 0; i < size; i++) block.set(all!.subarray(((i + root) % size) * n, ((i + root) % size) * n + n), i * n);
    }
  } else {
    block = tree.children.length === 0 ? out! : new Uint8Array(tree.span(tree.vr) * n);
    await call.recv(tree.rankOf(tree.parent), block, 'Scatter');
  }
  await Promise.all(
    tree.children.map((child) => {
      const offset = (child - tree.vr) * n;
      return call.send(tree.rankOf(child), block.subarray(offset, offset + tree.span(child) * n));
    }),
  );
  if (out !== null && block !== out) out.set(block.subarray(0, n));
}
