/**
 * The challenger's play in the canonical dispute game (docs/V2.md §5), off-chain: given its own
 * canonical trace and the worker's revealed claims, it picks at each level what to attack
 *
 *   manifest: the leftmost differing leaf j (steps 0..j−1 then agree, so every operand of step j is
 *             canonical) → tensor j: a wrong header, else the leftmost differing chunk → in it the first
 *             differing element e → map/move: the element itself; reduce: the leftmost differing leaf t
 *             of e's partial-state tree (leaves 0..t−1 agree)
 *
 * and builds the leaf proof the game checks: the step's encoding with its path under programRoot, every
 * operand element it reads with its proof (model input under inputHash, weight i under weightsRoot,
 * earlier step under the worker's traceRoot), and for a partial leaf t the leaves t−1 and t with paths
 * under the worker's partial root. Paths under the worker's roots are made of the nodes it revealed
 * during the descent plus the challenger's own nodes where the two trees agree (canonical/tree.ts
 * `pathUnderRevealed`). `checkFinding` is the TypeScript twin of the game's leaf check: it verifies
 * every path and recomputes the one element or fold with canonical/element.ts.
 *
 * The tolerance rule (contracts/interfaces/IDisputeGame.sol CanonicalTerms) is `withinTau`.
 */
import { CHUNK_BYTES, bytesToHex, fromHex, hashNode, sha256, DTYPES, type Hex } from "../protocol/index.js";
import { stepLeaf } from "./commitment.js";
import type { Precision } from "./float.js";
import { checkPartialOpening } from "./leaf-check.js";
import { elementFromChunk, eq, headerOf, operandProofs, stepProofOf, tensorHashOf } from "./openings.js";
import { type Read, elementReads, initReads, termCount, termReads } from "./reads.js";
import { type CanonicalTrace, chunkOf } from "./trace.js";
import { FlatTree, nodeKey, pathUnderRevealed } from "./tree.js";
export { checkFinding } from "./leaf-check.js";
export type { LeafVerdict } from "./leaf-check.js";
export { elementBytes, elementFromChunk } from "./openings.js";
export { buildToleranceProof, checkToleranceProof, tauFromBits, toleranceCheck, withinTau } from "./tolerance.js";
export type { ElementOpening, Tau, ToleranceProof, ToleranceProofVerdict, ToleranceVerdict } from "./tolerance.js";

type Awaitable<T> = T | Promise<T>;

/**
 * The worker's revealed claims, one function per reveal the game asks for (the game adapter reads
 * them from the chain; tests and the worker's own responder answer from a CanonicalTrace).
 */
export interface WorkerClaims {
  traceRoot: Hex;
  finalHash: Hex;
  manifestChildren(depth: number, index: number): Awaitable<[Hex, Hex]>;
  tensorOpening(j: number): Awaitable<{ header: Hex; dataRoot: Hex }>;
  chunkChildren(j: number, depth: number, index: number): Awaitable<[Hex, Hex]>;
  chunkBytes(j: number, c: number): Awaitable<Hex>;
  /** The root of element e's partial-state tree, K, and the last leaf's record with its path. */
  partialOpening(j: number, e: number): Awaitable<{ root: Hex; terms: number; last: Hex; lastPath: Hex[] }>;
  partialChildren(j: number, e: number, depth: number, index: number): Awaitable<[Hex, Hex]>;
}

/** What the game checks a leaf proof against (the model's CanonicalTerms and the request). */
export interface LeafContext {
  programRoot: Hex;
  weightsRoot: Hex;
  inputHash: Hex;
  /** A model with several inputs: the tensor hash of each input bundle entry, in canonical name order (FraudGame.openBundle). */
  inputMembers?: readonly Hex[];
  precision: Precision;
  /** The worker's traceRoot. */
  traceRoot: Hex;
}

export interface ChunkProof {
  index: number;
  bytes: Hex;
  /** Under the tensor's dataRoot, bottom-up. */
  path: Hex[];
}

/** A tensor opened under a root: its header and dataRoot (hashing to `leaf`), proven by `path` where it has one. */
export interface TensorOpening {
  header: Hex;
  dataRoot: Hex;
}

export interface StepProof {
  index: number;
  encoding: Hex;
  /** Under programRoot. */
  path: Hex[];
}

/** One operand element a leaf reads, with its proof. */
export interface OperandProof extends Read {
  source: "input" | "weight" | "step";
  /** Weight, step or input index (the input's number in canonical name order; 0 for a one-input model). */
  sourceIndex: number;
  tensor: TensorOpening;
  /** weight: under weightsRoot; step: under the worker's traceRoot; input: empty (the opening hashes to inputHash). */
  path: Hex[];
  chunk: ChunkProof;
}

/** The claimed element of step j: manifest leaf j, its opening and the chunk holding the element. */
export interface ElementClaim {
  step: number;
  element: number;
  manifestPath: Hex[];
  tensor: TensorOpening;
  chunk: ChunkProof;
}

export type Finding =
  /** The worker's traceRoot is the canonical one: no false step (the tolerance check alone decides). */
  | { kind: "agree" }
  /** The worker's claims at this node agree with our own (our trace is not canonical there): nothing to prove. */
  | { kind: "workerHolds"; at: string }
  /** A reveal failed its check (the game refuses it: the worker's clock runs out). */
  | { kind: "badReveal"; at: string; reason: string }
  /** A manifest leaf past the last step is not the zero node. */
  | { kind: "padding"; leaf: number; manifestPath: Hex[]; hash: Hex }
  /** Tensor j's header is not the step's committed output type. */
  | { kind: "header"; step: number; manifestPath: Hex[]; tensor: TensorOpening; stepProof: StepProof }
  /** A map or move element that differs from its recomputation. */
  | { kind: "element"; claim: ElementClaim; stepProof: StepProof; reads: OperandProof[] }
  /** Leaf t of a reduce element's partial-state tree differs from fold(leaf t−1, term t−1) (t = 0: the init). */
  | {
      kind: "partial";
      claim: ElementClaim;
      stepProof: StepProof;
      partialRoot: Hex;
      t: number;
      /** Leaf t−1's record and path (absent for t = 0). */
      prev?: { record: Hex; path: Hex[] };
      leaf: { hash: Hex; path: Hex[] };
      reads: OperandProof[];
    };

export interface DescentResult {
  finding: Finding;
  /** Attack → answer exchanges played. */
  rounds: number;
  /** Worker nodes revealed (hashes, openings, chunks). */
  reveals: number;
}

/**
 * Descends one tree of the worker's from a node whose hash differs from ours to the leftmost differing
 * leaf, checking each revealed pair against its parent. Returns the leaf index, or a bad reveal.
 */
async function descendTree(
  mine: FlatTree,
  top: Uint8Array,
  reveal: (depth: number, index: number) => Awaitable<[Hex, Hex]>,
  revealed: Map<string, Uint8Array>,
  stats: { rounds: number; reveals: number },
  what: string,
): Promise<{ leaf: number } | { bad: string }> {
  let index = 0;
  let hash: Uint8Array = top;
  for (let d = 0; d < mine.depth; d++) {
    const [lh, rh] = await reveal(d, index);
    stats.rounds++;
    stats.reveals += 2;
    const l = fromHex(lh);
    const r = fromHex(rh);
    if (l.byteLength !== 32 || r.byteLength !== 32 || !hashNode(l, r).equals(Buffer.from(hash))) return { bad: `${what} node (${d}, ${index}): children do not hash to it` };
    revealed.set(nodeKey(d + 1, 2 * index), l);
    revealed.set(nodeKey(d + 1, 2 * index + 1), r);
    if (!l.equals(mine.node(d + 1, 2 * index))) {
      index = 2 * index;
      hash = l;
    } else if (!r.equals(mine.node(d + 1, 2 * index + 1))) {
      index = 2 * index + 1;
      hash = r;
    } else {
      return { bad: `${what} node (${d}, ${index}): both children agree with canonical (a hash collision)` };
    }
  }
  return { leaf: index };
}

/**
 * Plays the descent against `worker` with the challenger's own canonical trace `mine` (same program,
 * input and precision as the dispute's). Every reveal is checked as the game checks it.
 */
export async function descend(mine: CanonicalTrace, worker: WorkerClaims): Promise<DescentResult> {
  const stats = { rounds: 0, reveals: 0 };
  const done = (finding: Finding): DescentResult => ({ finding, ...stats });
  if (eq(worker.traceRoot, mine.traceRoot)) return done({ kind: "agree" });
  const program = mine.program;
  const n = program.steps.length;
  const programTree = FlatTree.fromLeaves(program.steps.map(stepLeaf));
  const weightsTree = FlatTree.fromLeaves(program.weights.map((w) => fromHex(w.hash)));

  // 1. the manifest: the leftmost differing leaf.
  const manifestRevealed = new Map<string, Uint8Array>();
  const m = await descendTree(mine.manifest, fromHex(worker.traceRoot), (d, i) => worker.manifestChildren(d, i), manifestRevealed, stats, "manifest");
  if ("bad" in m) return done({ kind: "badReveal", at: "manifest", reason: m.bad });
  const j = m.leaf;
  const manifestPath = pathUnderRevealed(mine.manifest, manifestRevealed, j).map(bytesToHex);
  const leafHash = mine.manifest.depth === 0 ? fromHex(worker.traceRoot) : manifestRevealed.get(nodeKey(mine.manifest.depth, j))!;
  if (j >= n) return done({ kind: "padding", leaf: j, manifestPath, hash: bytesToHex(leafHash) });

  // 2. tensor j: header and dataRoot.
  const step = program.steps[j]!;
  const opening = await worker.tensorOpening(j);
  stats.rounds++;
  stats.reveals++;
  const header = fromHex(opening.header);
  const dataRoot = fromHex(opening.dataRoot);
  if (dataRoot.byteLength !== 32 || !tensorHashOf(header, dataRoot).equals(Buffer.from(leafHash))) return done({ kind: "badReveal", at: `tensor ${j}`, reason: "header and dataRoot do not hash to the manifest leaf" });
  const tensor = { header: opening.header, dataRoot: opening.dataRoot };
  if (!header.equals(headerOf(step.output))) return done({ kind: "header", step: j, manifestPath, tensor, stepProof: stepProofOf(program, j, programTree) });

  // 3. the chunk tree: the leftmost differing chunk, then its first differing element.
  const own = mine.trees[j]!;
  const chunkRevealed = new Map<string, Uint8Array>();
  const c0 = own.chunks.depth === 0 ? { leaf: 0 } : await descendTree(own.chunks, dataRoot, (d, i) => worker.chunkChildren(j, d, i), chunkRevealed, stats, `tensor ${j} chunk`);
  if ("bad" in c0) return done({ kind: "badReveal", at: `tensor ${j} chunks`, reason: c0.bad });
  const c = c0.leaf;
  const chunkLeafHash = own.chunks.depth === 0 ? dataRoot : chunkRevealed.get(nodeKey(own.chunks.depth, c))!;
  const bytesHex = await worker.chunkBytes(j, c);
  stats.rounds++;
  stats.reveals++;
  const bytes = fromHex(bytesHex);
  const ownChunk = chunkOf(own.data, c);
  if (!sha256(Uint8Array.of(0), bytes).equals(Buffer.from(chunkLeafHash))) return done({ kind: "badReveal", at: `tensor ${j} chunk ${c}`, reason: "bytes do not hash to the chunk leaf" });
  if (bytes.byteLength !== ownChunk.byteLength) return done({ kind: "badReveal", at: `tensor ${j} chunk ${c}`, reason: `chunk of ${bytes.byteLength} bytes, the header implies ${ownChunk.byteLength}` });
  const size = DTYPES[step.output.dtype].size;
  let k = 0;
  while (k < bytes.byteLength && Buffer.compare(bytes.subarray(k, k + size), ownChunk.subarray(k, k + size)) === 0) k += size;
  if (k >= bytes.byteLength) return done({ kind: "badReveal", at: `tensor ${j} chunk ${c}`, reason: "chunk equals canonical (a hash collision)" });
  const e = (c * CHUNK_BYTES + k) / size;
  const claim: ElementClaim = {
    step: j,
    element: e,
    manifestPath,
    tensor,
    chunk: { index: c, bytes: bytesHex, path: pathUnderRevealed(own.chunks, chunkRevealed, c).map(bytesToHex) },
  };
  const stepProof = stepProofOf(program, j, programTree);
  if (step.kind !== "reduce") {
    return done({ kind: "element", claim, stepProof, reads: operandProofs(mine, j, elementReads(step, e), weightsTree, manifestRevealed) });
  }

  // 4. a reduce element: its partial-state tree, the leftmost differing leaf.
  const po = await worker.partialOpening(j, e);
  stats.rounds++;
  stats.reveals += 2;
  const K = termCount(step);
  const ownPartial = mine.partial(j, e);
  const rootW = fromHex(po.root);
  const last = fromHex(po.last);
  const claimed = elementFromChunk(step.output.dtype, bytes, e);
  const openingFault = checkPartialOpening(step, mine.precision, K, rootW, last, po.lastPath.map(fromHex), po.terms, claimed, ownPartial.tree.depth);
  if (openingFault !== undefined) return done({ kind: "badReveal", at: `step ${j} element ${e} partial opening`, reason: openingFault });
  if (rootW.equals(ownPartial.root)) return done({ kind: "workerHolds", at: `step ${j} element ${e} partial root` });
  const partialRevealed = new Map<string, Uint8Array>();
  const p = await descendTree(ownPartial.tree, rootW, (d, i) => worker.partialChildren(j, e, d, i), partialRevealed, stats, `step ${j} element ${e} partial`);
  if ("bad" in p) return done({ kind: "badReveal", at: `step ${j} element ${e} partials`, reason: p.bad });
  const t = p.leaf;
  if (t > K) return done({ kind: "badReveal", at: `step ${j} element ${e} partials`, reason: `leaf ${t} past K = ${K}` });
  const D = ownPartial.tree.depth;
  const leaf = { hash: bytesToHex(D === 0 ? rootW : partialRevealed.get(nodeKey(D, t))!), path: pathUnderRevealed(ownPartial.tree, partialRevealed, t).map(bytesToHex) };
  const prev = t === 0 ? undefined : { record: bytesToHex(ownPartial.record(t - 1)), path: pathUnderRevealed(ownPartial.tree, partialRevealed, t - 1).map(bytesToHex) };
  const reads = t === 0 ? initReads(step, e) : termReads(step, e, t - 1);
  return done({ kind: "partial", claim, stepProof, partialRoot: po.root, t, prev, leaf, reads: operandProofs(mine, j, reads, weightsTree, manifestRevealed) });
}
