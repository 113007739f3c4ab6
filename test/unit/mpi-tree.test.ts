// The binomial tree shape (src/mpi/collectives/tree.ts) every tree collective relies on: each rank but the
// root has one parent, a node's children's subtrees tile its own, and gather/scatter's block spans add up.
import { describe, it, expect } from 'vitest';
import { BinomialTree } from '../../src/mpi/collectives/tree.js';

describe('BinomialTree', () => {
  it('is a tree over all ranks, for every size and root', () => {
    for (let size = 1; size <= 33; size++) {
      for (const root of new Set([0, 1 % size, size - 1, Math.floor(size / 2)])) {
        const nodes = Array.from({ length: size }, (_, rank) => new BinomialTree(rank, size, root));
        const parentOf = new Map<number, number>();
        nodes.forEach((node, rank) => {
          expect(node.rankOf(node.vr)).toBe(rank);
          for (const child of node.children) {
            expect(parentOf.has(node.rankOf(child))).toBe(false);
            parentOf.set(node.rankOf(child), rank);
          }
        });
        nodes.forEach((node, rank) => {
          if (rank === root) {
            expect(node.vr).toBe(0);
            expect(node.parent).toBe(-1);
            expect(parentOf.has(rank)).toBe(false);
          } else {
            expect(parentOf.get(rank)).toBe(node.rankOf(node.parent));
          }
        });
      }
    }
  });

  it("a node's subtree is [vr, vr + span), tiled by itself and its children's subtrees in ascending order", () => {
    for (let size = 1; size <= 33; size++) {
      for (let vr = 0; vr < size; vr++) {
        const node = new BinomialTree(vr, size, 0);
        const span = node.span(vr);
        expect(vr + span).toBeLessThanOrEqual(size);
        let next = vr + 1;
        for (const child of [...node.children].reverse()) {
          expect(child).toBe(next);
          next += node.span(child);
        }
        expect(next).toBe(vr + span);
      }
      expect(new BinomialTree(0, size, 0).span(0)).toBe(size);
    }
  });

  it('children come largest subtree first and parents clear the lowest set bit', () => {
    const node = new BinomialTree(3, 16, 3);
    expect(node.vr).toBe(0);
    expect(node.children).toEqual([8, 4, 2, 1]);
    expect(node.children.map((c) => node.rankOf(c))).toEqual([11, 7, 5, 4]);
    const leaf = new BinomialTree(6, 16, 0);
    expect(leaf.parent).toBe(4);
    expect(leaf.children).toEqual([7]);
    expect(new BinomialTree(12, 13, 0).children).toEqual([]);
  });
});
