/** The tolerance rule (contracts/interfaces/IDisputeGame.sol CanonicalTerms): `withinTau`, the tolerance check of an output and the proof a challenger sends for it. */
import { CHUNK_BYTES, bytesToHex, fromHex, DTYPES, type Tensor, numel, type Hex } from "../protocol/index.js";
import type { ChunkProof, TensorOpening } from "./descent.js";
import { f64 } from "./float.js";
import { checkChunk } from "./leaf-check.js";
import { elementFromChunk, eq, headerOf, tensorHashOf, tensorTree } from "./openings.js";
import type { TensorType } from "./program.js";
import { type CanonicalTrace, chunkOf } from "./trace.js";

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

export function openElement(t: Tensor, index: number): ElementOpening {
  const tree = tensorTree(t);
  const c = Math.floor((index * DTYPES[t.dtype].size) / CHUNK_BYTES);
  return { tensor: { header: bytesToHex(tree.header), dataRoot: bytesToHex(tree.dataRoot) }, chunk: { index: c, bytes: bytesToHex(chunkOf(tree.data, c)), path: tree.chunks.path(c).map(bytesToHex) } };
}

/**
 * The tolerance proof of element `index` (toleranceCheck's `first` when the output is beyond τ): the
 * signed output's element and the challenger's canonical final element (the worker's, when its
 * finalHash is the canonical one; otherwise the descent finds a false step first).
 */
export function buildToleranceProof(signed: Tensor, mine: CanonicalTrace, index: number, step = mine.stepCount - 1): ToleranceProof {
  return { index, signed: openElement(signed, index), final: openElement(mine.tensor(step), index) };
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
