/** `checkFinding`: the TypeScript twin of the game's leaf check (every path verified, the one element or fold recomputed with canonical/element.ts). */
import { CHUNK_BYTES, bytesToHex, fromHex, rootFromPath, sha256, DTYPES, numel, type Hex } from "../protocol/index.js";
import { encodeStep, stepLeaf } from "./commitment.js";
import type { ChunkProof, ElementClaim, Finding, LeafContext, OperandProof } from "./descent.js";
import { type OperandReader, finalizeReduce, foldPartials, mapElement, moveElement, reduceTerms } from "./element.js";
import type { Precision } from "./float.js";
import { elementBytes, elementFromChunk, eq, headerOf, leafHashOfRecord, tensorHashOf } from "./openings.js";
import { decodePartial, encodePartial, partialKindOf } from "./partial.js";
import type { Program, Step, TensorType } from "./program.js";
import { type Read, elementReads, initReads, termCount, termReads } from "./reads.js";
import { depthOf } from "./tree.js";

/** The game's check of a partial opening (undefined when it holds): the last leaf is leaf K under the root and finalizes to the claimed element. */
export function checkPartialOpening(step: Step, precision: Precision, K: number, root: Buffer, last: Buffer, lastPath: Buffer[], terms: number, claimed: number, depth: number): string | undefined {
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
export function under(leaf: Uint8Array, index: number, path: readonly Hex[], root: Uint8Array | Hex, depth: number): boolean {
  if (path.length !== depth || !Number.isInteger(index) || index < 0 || index >= 2 ** depth) return false;
  return rootFromPath(leaf, index, path.map(fromHex)).equals(typeof root === "string" ? fromHex(root) : Buffer.from(root));
}

/** Depth of a tensor's chunk tree, from its type. */
export function chunkDepth(type: TensorType): number {
  return depthOf(Math.max(1, Math.ceil((numel(type.shape) * DTYPES[type.dtype].size) / CHUNK_BYTES)));
}

export function checkChunk(chunk: ChunkProof, dataRoot: Uint8Array, type: TensorType): boolean {
  return under(sha256(Uint8Array.of(0), fromHex(chunk.bytes)), chunk.index, chunk.path, dataRoot, chunkDepth(type));
}

/** A reader holding only the proven operand elements (NaN elsewhere): what the on-chain step sees. */
export function sparseReader(step: Step, values: Map<number, Map<number, number>>): OperandReader {
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

/**
 * An input read: the opening hashes to the request's inputHash (a one-input model: the bare tensor's hash), or to
 * entry `index` of the input bundle opened on-chain (FraudGame.openBundle: ctx.inputMembers, canonical name order).
 */
function inputMember(h: Uint8Array, index: number, ctx: LeafContext): boolean {
  const member = ctx.inputMembers?.[index];
  return eq(h, ctx.inputHash) || (member !== undefined && eq(h, member));
}

export function checkReads(program: Program, step: Step, reads: OperandProof[], expected: Read[], ctx: LeafContext): { ok: true; values: Map<number, Map<number, number>> } | { ok: false; reason: string } {
  if (reads.length !== expected.length || reads.some((r, i) => r.operand !== expected[i]!.operand || r.index !== expected[i]!.index)) return { ok: false, reason: "the proof does not carry the elements the step reads" };
  const values = new Map<number, Map<number, number>>();
  for (const r of reads) {
    const o = step.operands[r.operand]!;
    const type = step.operandTypes[r.operand]!;
    if (r.source !== o.source || r.sourceIndex !== (o.index ?? 0)) return { ok: false, reason: `operand ${r.operand}: wrong source` };
    const header = fromHex(r.tensor.header);
    const dataRoot = fromHex(r.tensor.dataRoot);
    if (!header.equals(headerOf(type))) return { ok: false, reason: `operand ${r.operand}: header is not the operand's type` };
    const h = tensorHashOf(header, dataRoot);
    const ok =
      o.source === "input" ? inputMember(h, r.sourceIndex, ctx) && r.path.length === 0 : o.source === "weight" ? under(h, r.sourceIndex, r.path, ctx.weightsRoot, depthOf(program.weights.length)) : under(h, r.sourceIndex, r.path, ctx.traceRoot, depthOf(program.steps.length));
    if (!ok) return { ok: false, reason: `operand ${r.operand} (${o.source} ${r.sourceIndex}): not under its root` };
    const size = DTYPES[type.dtype].size;
    if (r.chunk.index !== Math.floor((r.index * size) / CHUNK_BYTES) || !checkChunk(r.chunk, dataRoot, type)) return { ok: false, reason: `operand ${r.operand}: chunk not under its dataRoot` };
    if (!values.has(r.operand)) values.set(r.operand, new Map());
    values.get(r.operand)!.set(r.index, elementFromChunk(type.dtype, fromHex(r.chunk.bytes), r.index));
  }
  return { ok: true, values };
}

export function checkClaim(program: Program, claim: ElementClaim, step: Step, ctx: LeafContext): string | number {
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
