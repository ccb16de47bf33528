/**
 * resize_linear (docs/CANONICAL.md "resize_linear"): a linear Resize element is a sum over the 2^r corners
 * of its cell (r resized axes), each input element times an exact integer weight, divided once by the
 * step's divisor. Along resized axis j the source coordinate is the rational (num_j·o + off_j) / den_j,
 * clamped into [0, size − 1]; its lower index i0 = floor of it, its remainder rem (weights den_j − rem on
 * i0 and rem on i1 = min(i0 + 1, size − 1)). Term t takes, for the j-th resized axis, bit r − 1 − j of t:
 * 0 the lower index, 1 the upper; its weight is the product of the chosen per-axis weights (below 2^24,
 * so x · weight is exact in binary64). Init +0, a binary64 sum, finalize ÷ Π den_j (one rounding), then
 * the storage rounding. Shared by element.ts, reads.ts and the runtime's kernel.
 */
import { coordsOf } from "../element.js";
import { numelOf, type Step } from "../program.js";
import type { NumArray, Store } from "./common.js";

/** The largest divisor Π den_j a resize_linear step may have: every weight (at most the divisor) is then below 2^24. */
export const MAX_RESIZE_DIVISOR = 2 ** 24;

/** K = 2^r for r resized axes. */
export function resizeTermCount(step: Step): number {
  return 2 ** step.params.axes!.length;
}

/** The finalize divisor Π den_j. */
export function resizeDivisor(step: Step): number {
  return step.params.den!.reduce((a, d) => a * d, 1);
}

/** The input element term t of the output element at coordinates o reads, and its integer weight. */
export function resizeCorner(step: Step, o: readonly number[], t: number): { index: number; weight: number } {
  const { axes, num, off, den } = step.params as Record<"axes" | "num" | "off" | "den", number[]>;
  const inShape = step.operandTypes[0]!.shape;
  const r = axes.length;
  const c = [...o];
  let weight = 1;
  for (let j = 0; j < r; j++) {
    const a = axes[j]!;
    const size = inShape[a]!;
    const n = num[j]! * o[a]! + off[j]!;
    let i0 = 0;
    let rem = 0;
    if (n > 0) {
      // Integer division (n < 2^53: the remainder operator is exact where a float quotient could round up).
      rem = n % den[j]!;
      i0 = (n - rem) / den[j]!;
    }
    if (i0 >= size - 1) [i0, rem] = [size - 1, 0];
    const upper = ((t >> (r - 1 - j)) & 1) === 1;
    c[a] = upper ? Math.min(i0 + 1, size - 1) : i0;
    weight *= upper ? rem : den[j]! - rem;
  }
  let index = 0;
  for (let d = 0; d < inShape.length; d++) index = index * inShape[d]! + c[d]!;
  return { index, weight };
}

/** The runtime's kernel: every element as element.ts folds it (init +0, terms in order, ÷ divisor). */
export function resizeLinearKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const x = ins[0]!;
  const K = resizeTermCount(step);
  const divisor = resizeDivisor(step);
  const n = numelOf(step.output.shape);
  for (let e = 0; e < n; e++) {
    const o = coordsOf(e, step.output.shape);
    let s = 0;
    for (let t = 0; t < K; t++) {
      const { index, weight } = resizeCorner(step, o, t);
      s += (x[index] as number) * weight;
    }
    out[e] = store(divisor === 1 ? s : s / divisor);
  }
}
