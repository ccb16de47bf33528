/** Measuring how far a runtime lands from the canonical output, and choosing τ_out and τ_major from the worst deviation. */
import type { Tensor } from "../protocol/index.js";
import type { Tolerance } from "./calibrate.js";
import { dataOf } from "./fast-runtimes.js";
import { canonicalError } from "./program.js";

/** The binary64 bit pattern of a number, as a 0x-prefixed 16-digit hex string. */
export function float64Bits(x: number): `0x${string}` {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return `0x${b.toString("hex")}`;
}

export function tolerance(abs: number, rel: number): Tolerance {
  return { abs, rel, absBits: float64Bits(abs), relBits: float64Bits(rel) };
}

/** Whether w is within (abs, rel) of c by the CanonicalTerms rule (NaN = NaN, equal infinities agree). */
export function withinTolerance(w: number, c: number, abs: number, rel: number): boolean {
  if (Number.isNaN(w) || Number.isNaN(c)) return Number.isNaN(w) && Number.isNaN(c);
  if (!Number.isFinite(w) || !Number.isFinite(c)) return w === c;
  return Math.abs(w - c) <= abs + rel * Math.abs(c);
}

/**
 * τ_out from the worst deviation: both forms cover every measured element with the margin — (margin ×
 * worst abs, 0), or (margin × floor, margin × worst rel) — and the one that allows less at the typical
 * element (the median |c|) is kept. The abs form wins when deviations do not scale with |c| (probabilities
 * near 0 and 1 alike); the rel form when they do (logits, maps with a wide range of magnitudes).
 */
export function chooseTolerance(o: { worstAbs: number; worstRel: number; relFloor: number; typicalScale: number; margin: number }): { form: "abs" | "rel"; abs: number; rel: number } {
  const byAbs = o.margin * o.worstAbs;
  const byRel = Number.isFinite(o.worstRel) ? o.margin * (o.relFloor + o.worstRel * o.typicalScale) : Infinity;
  return byRel < byAbs ? { form: "rel", abs: o.margin * o.relFloor, rel: o.margin * o.worstRel } : { form: "abs", abs: byAbs, rel: 0 };
}

/** The median |c| over the finite elements of the canonical outputs. */
export function medianMagnitude(outputs: Tensor[]): number {
  const all: number[] = [];
  for (const t of outputs) {
    const d = dataOf(t);
    for (let i = 0; i < d.length; i++) if (Number.isFinite(d[i]!)) all.push(Math.abs(d[i]!));
  }
  return all.length === 0 ? 0 : median(all);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export class DeviationMeter {
  abs = 0;
  rel = 0;
  elements = 0;
  identical = 0;
  nonFinite = 0;
  worstInput = "";
  constructor(readonly relFloor: number) {}

  add(w: ArrayLike<number>, c: ArrayLike<number>, label: string): void {
    if (w.length !== c.length) throw canonicalError("TENSOR_SPEC_MISMATCH", `output lengths differ: ${w.length} vs ${c.length} (${label})`);
    for (let i = 0; i < c.length; i++) {
      const wi = Number(w[i]);
      const ci = Number(c[i]);
      this.elements++;
      if (Object.is(wi, ci) || (Number.isNaN(wi) && Number.isNaN(ci))) {
        this.identical++;
        continue;
      }
      if (!Number.isFinite(wi) || !Number.isFinite(ci)) {
        this.nonFinite++;
        continue;
      }
      const d = Math.abs(wi - ci);
      if (d > this.abs) {
        this.abs = d;
        this.worstInput = label;
      }
      const over = d - this.relFloor;
      if (over > 0) {
        const r = over / Math.abs(ci); // |c| = 0 with d above the floor: no rel covers it (Infinity)
        if (r > this.rel) this.rel = r;
      }
    }
  }
}
