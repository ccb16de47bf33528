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
import { CHUNK_BYTES, fromHex, hashNode, rootFromPath, sha256, bytesToHex } from "../protocol/merkle.js";
import { DTYPES, encodeHeader, numel, type DType, type Tensor } from "../protocol/tensor.js";
import type { Hex } from "../protocol/types.js";
import { encodeStep, stepLeaf } from "./commitment.js";
import { finalizeReduce, foldPartials, mapElement, moveElement, reduceTerms, type OperandReader } from "./element.js";
import { f64, type Precision } from "./float.js";
import { decodePartial, encodePartial, partialKindOf } from "./partial.js";
import type { Program, Step, TensorType } from "./program.js";
import { elementReads, initReads, termCount, termReads, type Read } from "./reads.js";
import { chunkOf, tensorTreeOf, type CanonicalTrace, type TensorTree } from "./trace.js";
import { depthOf, FlatTree, nodeKey, pathUnderRevealed } from "./tree.js";

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
  /** Weight or step index (0 for the input). */
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

const eq = (a: Uint8Array | Hex, b: Uint8Array | Hex): boolean => toHexAny(a) === toHexAny(b);
function toHexAny(x: Uint8Array | Hex): string {
  return (typeof x === "string" ? x : bytesToHex(x)).toLowerCase();
}

function leafHashOfRecord(record: Uint8Array): Buffer {
  return sha256(Uint8Array.of(0), record);
}

function tensorHashOf(header: Uint8Array, dataRoot: Uint8Array): Buffer {
  return sha256(Uint8Array.of(2), header, dataRoot);
}

/** Element `e`'s value from the bytes of the chunk holding it. */
export function elementFromChunk(dtype: DType, chunk: Uint8Array, e: number): number {
  const size = DTYPES[dtype].size;
  const at = (e * size) % CHUNK_BYTES;
  const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  switch (dtype) {
    case "float32":
      return v.getFloat32(at, true);
    case "float64":
      return v.getFloat64(at, true);
    case "int8":
      return v.getInt8(at);
    case "uint8":
    case "bool":
      return v.getUint8(at);
    case "int16":
      return v.getInt16(at, true);
    case "uint16":
    case "float16":
      return v.getUint16(at, true);
    case "int32":
      return v.getInt32(at, true);
    case "uint32":
      return v.getUint32(at, true);
    default:
      throw new RangeError(`no canonical element of ${dtype}`);
  }
}

/** The stored bytes of a canonical element value (every float NaN as the canonical 0x7fc00000). */
export function elementBytes(dtype: DType, value: number): Buffer {
  const b = Buffer.alloc(DTYPES[dtype].size);
  switch (dtype) {
    case "float32":
      if (value !== value) b.writeUInt32LE(0x7fc00000);
      else b.writeFloatLE(value);
      break;
    case "int8":
      b.writeInt8(value);
      break;
    case "uint8":
    case "bool":
      b.writeUInt8(value);
      break;
    case "int16":
      b.writeInt16LE(value);
      break;
    case "uint16":
      b.writeUInt16LE(value);
      break;
    case "int32":
      b.writeInt32LE(value);
      break;
    case "uint32":
      b.writeUInt32LE(value >>> 0);
      break;
    default:
      throw new RangeError(`no canonical element of ${dtype}`);
  }
  return b;
}

function headerOf(t: TensorType): Buffer {
  return encodeHeader(t.dtype, t.shape);
}

function stepProofOf(program: Program, j: number, programTree: FlatTree): StepProof {
  return { index: j, encoding: bytesToHex(encodeStep(program.steps[j]!)), path: programTree.path(j).map(bytesToHex) };
}

/** Operand proofs for `reads` of step j, from the challenger's own trace (its operands agree with the worker's). */
function operandProofs(mine: CanonicalTrace, j: number, reads: Read[], weightsTree: FlatTree, manifestRevealed: ReadonlyMap<string, Uint8Array>): OperandProof[] {
  const step = mine.program.steps[j]!;
  return reads.map((r) => {
    const o = step.operands[r.operand]!;
    const t = mine.operandTensor(o);
    const size = DTYPES[t.dtype].size;
    const c = Math.floor((r.index * size) / CHUNK_BYTES);
    let header: Buffer;
    let dataRoot: Buffer;
    let chunks: FlatTree;
    let data: Uint8Array;
    let path: Hex[] = [];
    if (o.source === "step") {
      const tree = mine.trees[o.index]!;
      ({ header, dataRoot, chunks, data } = tree);
      path = pathUnderRevealed(mine.manifest, manifestRevealed, o.index).map(bytesToHex);
    } else {
      // Weights and the input: hashed on demand (the weights tree for the path).
      const tree = tensorTree(t);
      ({ header, dataRoot, chunks, data } = tree);
      if (o.source === "weight") path = weightsTree.path(o.index).map(bytesToHex);
    }
    return {
      ...r,
      source: o.source,
      sourceIndex: o.source === "input" ? 0 : o.index,
      tensor: { header: bytesToHex(header), dataRoot: bytesToHex(dataRoot) },
      path,
      chunk: { index: c, bytes: bytesToHex(chunkOf(data, c)), path: chunks.path(c).map(bytesToHex) },
    };
  });
}

/** Weight and input trees, hashed once per tensor. */
const treeCache = new WeakMap<Tensor, TensorTree>();
function tensorTree(t: Tensor): TensorTree {
  let v = treeCache.get(t);
  if (v === undefined) treeCache.set(t, (v = tensorTreeOf(t)));
  return v;
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

/** The game's check of a partial opening (undefined when it holds): the last leaf is leaf K under the root and finalizes to the claimed element. */
function checkPartialOpening(step: Step, precision: Precision, K: number, root: Buffer, last: Buffer, lastPath: Buffer[], terms: number, claimed: number, depth: number): string | undefined {
  if (terms !== K) return `K = ${terms}, the step has ${K} terms`;
  if (root.byteLength !== 32 || last.byteLength !== 32) return "malformed root or record";
  if (lastPath.length !== depth || !rootFromPath(leafHashOfRecord(last), K, lastPath).equals(root)) return "the last record is not leaf K under the root";
  let s;
  try {
    s = decodePartial(last);
  } catch {
    return "malformed last record";
  }
  if (s.t !== K) return `the last record has t = ${s.t}`;
  const value = finalizeReduce(step, { init: 0, terms: new Float64Array(0), count: s.count, max: s.kind === "max" }, s.acc, precision);
  if (!elementBytes(step.output.dtype, value).equals(elementBytes(step.output.dtype, claimed))) return `the last record finalizes to ${value}, the element is ${claimed}`;
  return undefined;
}

// ---- the game's leaf check, in TypeScript ----

export interface LeafVerdict {
  /** Every proof holds. */
  valid: boolean;
  /** The worker's claim is false (only meaningful when valid). */
  fault: boolean;
  reason: string;
  /** The recomputed value (element) or record (partial). */
  recomputed?: number | Hex;
  claimed?: number | Hex;
}

/**
 * `leaf` is leaf `index` of a tree of depth `depth` under `root`. The path length is fixed by the tree's
 * shape: a shorter path would pass an inner node off as a leaf (and prove an honest claim "false").
 */
function under(leaf: Uint8Array, index: number, path: readonly Hex[], root: Uint8Array | Hex, depth: number): boolean {
  if (path.length !== depth || !Number.isInteger(index) || index < 0 || index >= 2 ** depth) return false;
  return rootFromPath(leaf, index, path.map(fromHex)).equals(typeof root === "string" ? fromHex(root) : Buffer.from(root));
}

/** Depth of a tensor's chunk tree, from its type. */
function chunkDepth(type: TensorType): number {
  return depthOf(Math.max(1, Math.ceil((numel(type.shape) * DTYPES[type.dtype].size) / CHUNK_BYTES)));
}

function checkChunk(chunk: ChunkProof, dataRoot: Uint8Array, type: TensorType): boolean {
  return under(sha256(Uint8Array.of(0), fromHex(chunk.bytes)), chunk.index, chunk.path, dataRoot, chunkDepth(type));
}

/** A reader holding only the proven operand elements (NaN elsewhere): what the on-chain step sees. */
function sparseReader(step: Step, values: Map<number, Map<number, number>>): OperandReader {
  return (k) => {
    const m = values.get(k) ?? new Map<number, number>();
    const length = numel(step.operandTypes[k]!.shape);
    return new Proxy({} as ArrayLike<number>, {
      get(_, prop) {
        if (prop === "length") return length;
        if (typeof prop === "string") {
          const i = Number(prop);
          if (Number.isInteger(i)) return m.get(i) ?? NaN;
        }
        return undefined;
      },
    });
  };
}

function checkReads(program: Program, step: Step, reads: OperandProof[], expected: Read[], ctx: LeafContext): { ok: true; values: Map<number, Map<number, number>> } | { ok: false; reason: string } {
  if (reads.length !== expected.length || reads.some((r, i) => r.operand !== expected[i]!.operand || r.index !== expected[i]!.index)) return { ok: false, reason: "the proof does not carry the elements the step reads" };
  const values = new Map<number, Map<number, number>>();
  for (const r of reads) {
    const o = step.operands[r.operand]!;
    const type = step.operandTypes[r.operand]!;
    if (r.source !== o.source || r.sourceIndex !== (o.source === "input" ? 0 : o.index)) return { ok: false, reason: `operand ${r.operand}: wrong source` };
    const header = fromHex(r.tensor.header);
    const dataRoot = fromHex(r.tensor.dataRoot);
    if (!header.equals(headerOf(type))) return { ok: false, reason: `operand ${r.operand}: header is not the operand's type` };
    const h = tensorHashOf(header, dataRoot);
    const ok =
      o.source === "input" ? eq(h, ctx.inputHash) && r.path.length === 0 : o.source === "weight" ? under(h, r.sourceIndex, r.path, ctx.weightsRoot, depthOf(program.weights.length)) : under(h, r.sourceIndex, r.path, ctx.traceRoot, depthOf(program.steps.length));
    if (!ok) return { ok: false, reason: `operand ${r.operand} (${o.source} ${r.sourceIndex}): not under its root` };
    const size = DTYPES[type.dtype].size;
    if (r.chunk.index !== Math.floor((r.index * size) / CHUNK_BYTES) || !checkChunk(r.chunk, dataRoot, type)) return { ok: false, reason: `operand ${r.operand}: chunk not under its dataRoot` };
    if (!values.has(r.operand)) values.set(r.operand, new Map());
    values.get(r.operand)!.set(r.index, elementFromChunk(type.dtype, fromHex(r.chunk.bytes), r.index));
  }
  return { ok: true, values };
}

function checkClaim(program: Program, claim: ElementClaim, step: Step, ctx: LeafContext): string | number {
  const header = fromHex(claim.tensor.header);
  const dataRoot = fromHex(claim.tensor.dataRoot);
  if (!under(tensorHashOf(header, dataRoot), claim.step, claim.manifestPath, ctx.traceRoot, depthOf(program.steps.length))) return "manifest leaf not under traceRoot";
  if (!header.equals(headerOf(step.output))) return "header is not the step's type";
  const size = DTYPES[step.output.dtype].size;
  if (claim.chunk.index !== Math.floor((claim.element * size) / CHUNK_BYTES) || !checkChunk(claim.chunk, dataRoot, step.output)) return "element chunk not under dataRoot";
  return elementFromChunk(step.output.dtype, fromHex(claim.chunk.bytes), claim.element);
}

/**
 * Checks a finding's leaf proof as the game does: every path, then the one element or fold recomputed
 * with canonical/element.ts from the proven operand elements only. `program` is the committed program
 * (its steps are proven against programRoot by the encoding and path in the finding).
 */
export function checkFinding(finding: Finding, program: Program, ctx: LeafContext): LeafVerdict {
  const bad = (reason: string): LeafVerdict => ({ valid: false, fault: false, reason });
  if (finding.kind === "agree" || finding.kind === "badReveal" || finding.kind === "workerHolds") return bad(`nothing to check: ${finding.kind}`);
  if (finding.kind === "padding") {
    const ok = under(fromHex(finding.hash), finding.leaf, finding.manifestPath, ctx.traceRoot, depthOf(program.steps.length));
    if (!ok || finding.leaf < program.steps.length) return bad("padding leaf not proven");
    return { valid: true, fault: !eq(finding.hash, Buffer.alloc(32)), reason: "manifest leaf past the last step" };
  }
  const sp = finding.stepProof;
  const step = program.steps[sp.index];
  if (step === undefined || !eq(encodeStep(step), sp.encoding) || !under(stepLeaf(step), sp.index, sp.path, ctx.programRoot, depthOf(program.steps.length))) return bad("step not under programRoot");
  if (finding.kind === "header") {
    const h = fromHex(finding.tensor.header);
    if (!under(tensorHashOf(h, fromHex(finding.tensor.dataRoot)), sp.index, finding.manifestPath, ctx.traceRoot, depthOf(program.steps.length))) return bad("manifest leaf not under traceRoot");
    return { valid: true, fault: !h.equals(headerOf(step.output)), reason: "header against the step's output type" };
  }
  if (finding.claim.step !== sp.index) return bad("claim and step differ");
  const claimed = checkClaim(program, finding.claim, step, ctx);
  if (typeof claimed === "string") return bad(claimed);
  const e = finding.claim.element;
  if (finding.kind === "element") {
    const r = checkReads(program, step, finding.reads, elementReads(step, e), ctx);
    if (!r.ok) return bad(r.reason);
    const read = sparseReader(step, r.values);
    const value = step.kind === "map" ? mapElement(step, read, e, ctx.precision) : moveElement(step, read, e);
    const fault = !elementBytes(step.output.dtype, value).equals(elementBytes(step.output.dtype, claimed));
    return { valid: true, fault, reason: `${step.kind} ${step.op} element ${e} recomputed`, recomputed: value, claimed };
  }
  // partial leaf t
  const t = finding.t;
  const K = termCount(step);
  if (!(t >= 0 && t <= K)) return bad(`leaf ${t} out of 0..${K}`);
  const root = fromHex(finding.partialRoot);
  const partialDepth = depthOf(K + 1);
  if (!under(fromHex(finding.leaf.hash), t, finding.leaf.path, root, partialDepth)) return bad("leaf t not under the partial root");
  const r = checkReads(program, step, finding.reads, t === 0 ? initReads(step, e) : termReads(step, e, t - 1), ctx);
  if (!r.ok) return bad(r.reason);
  const reduce = reduceTerms(step, sparseReader(step, r.values), e, ctx.precision);
  const integer = step.output.dtype !== "float32";
  const kind = partialKindOf(reduce, integer);
  let acc: number;
  if (t === 0) acc = reduce.init;
  else {
    if (finding.prev === undefined) return bad("no leaf t−1");
    const prevRecord = fromHex(finding.prev.record);
    if (!under(leafHashOfRecord(prevRecord), t - 1, finding.prev.path, root, partialDepth)) return bad("leaf t−1 not under the partial root");
    let prev;
    try {
      prev = decodePartial(prevRecord);
    } catch {
      return bad("malformed record t−1");
    }
    if (prev.t !== t - 1 || prev.kind !== kind || prev.count !== reduce.count) return bad("record t−1 is not this fold's");
    acc = foldPartials({ init: prev.acc, terms: Float64Array.of(reduce.terms[t - 1]!), count: reduce.count, max: reduce.max }, integer)[1]!;
  }
  const record = encodePartial({ kind, count: reduce.count, t, acc });
  const fault = !leafHashOfRecord(record).equals(fromHex(finding.leaf.hash));
  return { valid: true, fault, reason: t === 0 ? "the init record" : `fold(leaf ${t - 1}, term ${t - 1})`, recomputed: bytesToHex(record), claimed: finding.leaf.hash };
}

// ---- the tolerance rule ----

export interface Tau {
  abs: number;
  rel: number;
}

/** A τ from CanonicalTerms' binary64 bit patterns. */
export function tauFromBits(abs: bigint, rel: bigint): Tau {
  return { abs: f64(abs), rel: f64(rel) };
}

/** CanonicalTerms' rule: NaN = NaN, the same infinity equal, else |w − c| ≤ abs + rel·|c| in binary64. */
export function withinTau(w: number, c: number, tau: Tau): boolean {
  if (w !== w || c !== c) return w !== w && c !== c;
  if (!Number.isFinite(w) || !Number.isFinite(c)) return w === c;
  return Math.abs(w - c) <= tau.abs + tau.rel * Math.abs(c);
}

export interface ToleranceVerdict {
  ok: boolean;
  /** The signed output's dtype and shape are the committed output type. */
  typeMatches: boolean;
  /** Elements beyond τ. */
  beyond: number;
  /** The first element beyond τ (what a tolerance proof names). */
  first?: { index: number; signed: number; canonical: number };
  /** Largest |w − c| / (abs + rel·|c|) over finite pairs. */
  worstRatio: number;
}

/** The signed output against the canonical final tensor under τ (docs/V2.md §5, leaf proofs). */
export function toleranceCheck(signed: Tensor, canonical: Tensor, tau: Tau): ToleranceVerdict {
  const typeMatches = signed.dtype === canonical.dtype && signed.shape.length === canonical.shape.length && signed.shape.every((d, i) => d === canonical.shape[i]);
  if (!typeMatches) return { ok: false, typeMatches, beyond: numel(canonical.shape), worstRatio: Infinity };
  const w = signed.data as ArrayLike<number>;
  const c = canonical.data as ArrayLike<number>;
  let beyond = 0;
  let first: ToleranceVerdict["first"];
  let worstRatio = 0;
  for (let i = 0; i < c.length; i++) {
    const a = Number(w[i]!);
    const b = Number(c[i]!);
    if (!withinTau(a, b, tau)) {
      beyond++;
      first ??= { index: i, signed: a, canonical: b };
    }
    if (Number.isFinite(a) && Number.isFinite(b)) {
      const ratio = Math.abs(a - b) / (tau.abs + tau.rel * Math.abs(b));
      if (ratio > worstRatio) worstRatio = ratio;
    }
  }
  return { ok: beyond === 0, typeMatches, beyond, first, worstRatio };
}

// ---- the tolerance proof ----

/** One element of a tensor opened under its tensor hash: header, dataRoot, the chunk holding it with its path. */
export interface ElementOpening {
  tensor: TensorOpening;
  chunk: ChunkProof;
}

/** Element `index` of the signed output (under outputHash) against the same element of the trace's final tensor (under finalHash). */
export interface ToleranceProof {
  index: number;
  signed: ElementOpening;
  final: ElementOpening;
}

function openElement(t: Tensor, index: number): ElementOpening {
  const tree = tensorTree(t);
  const c = Math.floor((index * DTYPES[t.dtype].size) / CHUNK_BYTES);
  return { tensor: { header: bytesToHex(tree.header), dataRoot: bytesToHex(tree.dataRoot) }, chunk: { index: c, bytes: bytesToHex(chunkOf(tree.data, c)), path: tree.chunks.path(c).map(bytesToHex) } };
}

/**
 * The tolerance proof of element `index` (toleranceCheck's `first` when the output is beyond τ): the
 * signed output's element and the challenger's canonical final element (the worker's, when its
 * finalHash is the canonical one; otherwise the descent finds a false step first).
 */
export function buildToleranceProof(signed: Tensor, mine: CanonicalTrace, index: number): ToleranceProof {
  return { index, signed: openElement(signed, index), final: openElement(mine.tensors[mine.tensors.length - 1]!, index) };
}

export interface ToleranceProofVerdict {
  valid: boolean;
  /** The signed output's header is not the committed output type (counts as beyond τ_major). */
  typeMismatch: boolean;
  beyondOut: boolean;
  beyondMajor: boolean;
  signed?: number;
  canonical?: number;
  reason: string;
}

/** The game's check of a tolerance proof: both openings, then the τ rule for τ_out and τ_major. */
export function checkToleranceProof(p: ToleranceProof, outputType: TensorType, outputHash: Hex, finalHash: Hex, tauOut: Tau, tauMajor: Tau): ToleranceProofVerdict {
  const none = { typeMismatch: false, beyondOut: false, beyondMajor: false };
  const open = (o: ElementOpening, hash: Hex): boolean => eq(tensorHashOf(fromHex(o.tensor.header), fromHex(o.tensor.dataRoot)), hash);
  if (!open(p.final, finalHash) || !fromHex(p.final.tensor.header).equals(headerOf(outputType))) return { valid: false, ...none, reason: "final tensor not under finalHash" };
  if (!open(p.signed, outputHash)) return { valid: false, ...none, reason: "signed output not under outputHash" };
  if (!fromHex(p.signed.tensor.header).equals(headerOf(outputType))) return { valid: true, typeMismatch: true, beyondOut: true, beyondMajor: true, reason: "the signed output is not the committed output type" };
  const size = DTYPES[outputType.dtype].size;
  const c = Math.floor((p.index * size) / CHUNK_BYTES);
  if (!(p.index >= 0 && p.index < numel(outputType.shape)) || p.signed.chunk.index !== c || p.final.chunk.index !== c) return { valid: false, ...none, reason: "element index and chunks differ" };
  if (!checkChunk(p.signed.chunk, fromHex(p.signed.tensor.dataRoot), outputType) || !checkChunk(p.final.chunk, fromHex(p.final.tensor.dataRoot), outputType)) return { valid: false, ...none, reason: "chunk not under its dataRoot" };
  const w = elementFromChunk(outputType.dtype, fromHex(p.signed.chunk.bytes), p.index);
  const cv = elementFromChunk(outputType.dtype, fromHex(p.final.chunk.bytes), p.index);
  return { valid: true, typeMismatch: false, beyondOut: !withinTau(w, cv, tauOut), beyondMajor: !withinTau(w, cv, tauMajor), signed: w, canonical: cv, reason: "the τ rule" };
}
