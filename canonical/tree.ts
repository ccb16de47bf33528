/**
 * Merkle trees of the canonical trace (docs/V2.md §2, §5), kept whole so that any node a dispute asks
 * for is answered without rehashing: the v1 rule (`protocol/merkle.ts`: nodes `sha256(0x01||l||r)`, an
 * odd last node pairs with 32 zero bytes), one contiguous buffer per level (32 bytes a node), so a tree
 * of 2^20 leaves costs 64 MiB and no per-node objects.
 *
 * Nodes are addressed from the top: `(depth, index)`, depth 0 the root, depth `D` the leaves, where
 * `D = ceil(log2(leafCount))`. The children of `(d, i)` are `(d+1, 2i)` and `(d+1, 2i+1)`; a child past
 * the end of its level is the zero node.
 */
import { hashNode } from "../protocol/index.js";

export const ZERO_NODE: Buffer = Buffer.alloc(32);

/** A node address, from the top. */
export interface NodeRef {
  depth: number;
  index: number;
}

/** Depth of a tree with `count` leaves (0 for one leaf). */
export function depthOf(count: number): number {
  let d = 0;
  while (2 ** d < count) d++;
  return d;
}

export class FlatTree {
  /** levels[0] the leaves, levels[D] the root. */
  private readonly levels: Buffer[];
  readonly leafCount: number;
  readonly depth: number;

  private constructor(levels: Buffer[], leafCount: number) {
    this.levels = levels;
    this.leafCount = leafCount;
    this.depth = levels.length - 1;
  }

  /** A tree over `count` leaves, `leafAt(i, out)` writing leaf i's 32 bytes into `out`. */
  static build(count: number, leafAt: (i: number, out: Buffer) => void): FlatTree {
    if (count < 1) throw new RangeError("a tree needs at least one leaf");
    const leaves = Buffer.allocUnsafe(32 * count);
    for (let i = 0; i < count; i++) leafAt(i, leaves.subarray(32 * i, 32 * i + 32));
    const levels = [leaves];
    let n = count;
    while (n > 1) {
      const below = levels[levels.length - 1]!;
      const m = Math.ceil(n / 2);
      const next = Buffer.allocUnsafe(32 * m);
      for (let i = 0; i < m; i++) {
        const l = below.subarray(64 * i, 64 * i + 32);
        const r = 2 * i + 1 < n ? below.subarray(64 * i + 32, 64 * i + 64) : ZERO_NODE;
        hashNode(l, r).copy(next, 32 * i);
      }
      levels.push(next);
      n = m;
    }
    return new FlatTree(levels, count);
  }

  static fromLeaves(leaves: readonly Uint8Array[]): FlatTree {
    return FlatTree.build(leaves.length, (i, out) => out.set(leaves[i]!));
  }

  get root(): Buffer {
    return this.levels[this.depth]!.subarray(0, 32);
  }

  /** The node at `(depth, index)` (the zero node past the end of its level). */
  node(depth: number, index: number): Buffer {
    if (!Number.isInteger(depth) || depth < 0 || depth > this.depth) throw new RangeError(`depth ${depth} out of 0..${this.depth}`);
    const level = this.levels[this.depth - depth]!;
    if (!Number.isInteger(index) || index < 0 || index >= 2 ** depth) throw new RangeError(`index ${index} out of range at depth ${depth}`);
    return 32 * index < level.byteLength ? level.subarray(32 * index, 32 * index + 32) : ZERO_NODE;
  }

  leaf(index: number): Buffer {
    return this.node(this.depth, index);
  }

  /** The two children of an inner node. */
  children(depth: number, index: number): [Buffer, Buffer] {
    if (depth >= this.depth) throw new RangeError(`node (${depth}, ${index}) is a leaf`);
    return [this.node(depth + 1, 2 * index), this.node(depth + 1, 2 * index + 1)];
  }

  /** Sibling path of leaf `index`, bottom-up (protocol/merkle.ts `rootFromPath` order). */
  path(index: number): Buffer[] {
    if (index < 0 || index >= this.leafCount) throw new RangeError(`leaf ${index} out of range 0..${this.leafCount - 1}`);
    const out: Buffer[] = [];
    for (let d = this.depth; d > 0; d--) out.push(this.node(d, (index >> (this.depth - d)) ^ 1));
    return out;
  }

  /** Bytes held (all levels). */
  get bytes(): number {
    return this.levels.reduce((a, l) => a + l.byteLength, 0);
  }
}

/** Key of a node address in a map of revealed nodes. */
export function nodeKey(depth: number, index: number): string {
  return `${depth}:${index}`;
}

/**
 * The path of leaf `index` under the OTHER party's root, from the nodes it revealed (keyed by
 * `nodeKey`) where it revealed them, else our own tree's nodes. Sound when every node on the path
 * that the other party did not reveal lies in a subtree where both trees agree (docs/V2.md §5: the
 * leftmost differing leaf's left neighbours and the nodes beside its descent path).
 */
export function pathUnderRevealed(mine: FlatTree, revealed: ReadonlyMap<string, Uint8Array>, index: number): Buffer[] {
  const out: Buffer[] = [];
  for (let d = mine.depth; d > 0; d--) {
    const sib = (index >> (mine.depth - d)) ^ 1;
    const r = revealed.get(nodeKey(d, sib));
    out.push(r !== undefined ? Buffer.from(r) : mine.node(d, sib));
  }
  return out;
}
