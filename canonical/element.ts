/**
 * One element of one step, from the step definitions (docs/CANONICAL.md), without running the whole
 * tensor: what bisection needs (docs/V2.md §5) and what the on-chain one-step verifier recomputes.
 *
 * - `reduceTerms`: a reduce element's init and its K terms in order (exact binary64 products; +0 or
 *   −∞ for a padding term);
 * - `foldPartials`: the K + 1 partial states (state 0 is the init, state t folds terms 0..t−1);
 * - `finalizeReduce`: the element from the last state (÷ count for a mean, then the storage rounding);
 * - `mapElement`, `moveElement`: a map or move element from its operands.
 *
 * The runtime's fast kernels must agree with these bit for bit (test/canonical/element.test.ts).
 */
import { roundOperand, type Precision } from "./float.js";
import { evalMapElement } from "./kernels.js";
import { canonicalError, numelOf, stridesOf, type Step } from "./program.js";
import { makeRounder } from "./round.js";
import { BF16, FP16 } from "./float.js";
import { resizeCorner, resizeDivisor, resizeTermCount } from "./kernels/resize.js";

/** Reads operand k of the step (model input, weight or earlier step output) as numbers. */
export type OperandReader = (k: number) => ArrayLike<number>;

/** Row-major coordinates of flat index `e` in `shape`. */
export function coordsOf(e: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = e % shape[d]!;
    e = Math.floor(e / shape[d]!);
  }
  return c;
}

function flat(coords: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + coords[d]!;
  return i;
}

/** Flat index into an operand of shape `from` broadcast (numpy rules) to output coordinates. */
export function broadcastFlat(coords: readonly number[], from: readonly number[]): number {
  const off = coords.length - from.length;
  let i = 0;
  for (let d = 0; d < from.length; d++) i = i * from[d]! + (from[d] === 1 ? 0 : coords[d + off]!);
  return i;
}

export interface ReduceElement {
  init: number;
  terms: Float64Array;
  /** mean: the divisor at finalize (1 otherwise). */
  count: number;
  /** max folds (else sums). */
  max: boolean;
}

/** The init and the ordered terms of element `e` of a reduce step. */
export function reduceTerms(step: Step, read: OperandReader, e: number, precision: Precision = "fp32"): ReduceElement {
  if (step.kind !== "reduce") throw canonicalError("OP_UNSUPPORTED", `step ${step.index} is not a reduce step`);
  const p = step.params;
  const out = coordsOf(e, step.output.shape);
  const op = (v: number) => roundOperand(v, precision);
  switch (step.op) {
    case "conv":
    case "convtranspose": {
      const [, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
      const [w0, w1, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
      const [n, m, oh, ow] = out as [number, number, number, number];
      const M = step.output.shape[1]!;
      const group = p.group![0]!;
      const [sh, sw] = p.strides! as [number, number];
      const [ph, pw] = p.pads! as [number, number];
      const [dh, dw] = p.dilations! as [number, number];
      const x = read(0);
      const w = read(1);
      const init = step.operands.length > 2 ? read(2)[m]! : 0;
      const terms: number[] = [];
      if (step.op === "conv") {
        const Cg = w1;
        const g = Math.floor(m / (M / group));
        for (let c = 0; c < Cg; c++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const ih = oh * sh - ph + kh * dh;
              const iw = ow * sw - pw + kw * dw;
              const inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
              terms.push(inside ? op(x[((n * C + g * Cg + c) * H + ih) * W + iw]!) * op(w[((m * Cg + c) * KH + kh) * KW + kw]!) : 0);
            }
      } else {
        const Mg = w1;
        const Cg = C / group;
        const g = Math.floor(m / Mg);
        void w0;
        for (let c = g * Cg; c < (g + 1) * Cg; c++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const th = oh + ph - kh * dh;
              const tw = ow + pw - kw * dw;
              const ih = th / sh;
              const iw = tw / sw;
              const inside = th >= 0 && tw >= 0 && Number.isInteger(ih) && Number.isInteger(iw) && ih < H && iw < W;
              terms.push(inside ? op(x[((n * C + c) * H + ih) * W + iw]!) * op(w[((c * Mg + (m - g * Mg)) * KH + kh) * KW + kw]!) : 0);
            }
      }
      return { init, terms: Float64Array.from(terms), count: 1, max: false };
    }
    case "conv3d": {
      const [, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
      const [, Cg, KD, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number, number];
      const [n, m, od, oh, ow] = out as [number, number, number, number, number];
      const M = step.output.shape[1]!;
      const g = Math.floor(m / (M / p.group![0]!));
      const [sd, sh, sw] = p.strides! as [number, number, number];
      const [pd, ph, pw] = p.pads! as [number, number, number];
      const [dd, dh, dw] = p.dilations! as [number, number, number];
      const x = read(0);
      const w = read(1);
      const terms: number[] = [];
      for (let c = 0; c < Cg; c++)
        for (let kd = 0; kd < KD; kd++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              const [id, ih, iw] = [od * sd - pd + kd * dd, oh * sh - ph + kh * dh, ow * sw - pw + kw * dw];
              const inside = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;
              terms.push(inside ? op(x[(((n * C + g * Cg + c) * D + id) * H + ih) * W + iw]!) * op(w[(((m * Cg + c) * KD + kd) * KH + kh) * KW + kw]!) : 0);
            }
      return { init: step.operands.length > 2 ? read(2)[m]! : 0, terms: Float64Array.from(terms), count: 1, max: false };
    }
    case "convtranspose3d": {
      const [, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
      const [, Mg, KD, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number, number];
      const [n, m, od, oh, ow] = out as [number, number, number, number, number];
      const Cg = C / p.group![0]!;
      const g = Math.floor(m / Mg);
      const o3 = [od, oh, ow];
      const x = read(0);
      const w = read(1);
      const terms: number[] = [];
      for (let c = g * Cg; c < (g + 1) * Cg; c++)
        for (let kd = 0; kd < KD; kd++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++) {
              // The input position i with o = i·s − p + k·d on each axis, if it exists.
              const i3 = [kd, kh, kw].map((k, a) => (o3[a]! + p.pads![a]! - k * p.dilations![a]!) / p.strides![a]!);
              const inside = i3.every((v, a) => Number.isInteger(v) && v >= 0 && v < [D, H, W][a]!);
              terms.push(inside ? op(x[(((n * C + c) * D + i3[0]!) * H + i3[1]!) * W + i3[2]!]!) * op(w[(((c * Mg + (m - g * Mg)) * KD + kd) * KH + kh) * KW + kw]!) : 0);
            }
      return { init: step.operands.length > 2 ? read(2)[m]! : 0, terms: Float64Array.from(terms), count: 1, max: false };
    }
    case "pool3d": {
      const [, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
      const [n, c, od, oh, ow] = out as [number, number, number, number, number];
      const max = p.fn![0] === 1;
      const [KD, KH, KW] = p.kernel! as [number, number, number];
      const [sd, sh, sw] = p.strides! as [number, number, number];
      const [pd, ph, pw] = p.pads! as [number, number, number];
      const [dd, dh, dw] = p.dilations! as [number, number, number];
      const x = read(0);
      const terms = new Float64Array(KD * KH * KW);
      let inBounds = 0;
      let t = 0;
      for (let kd = 0; kd < KD; kd++)
        for (let kh = 0; kh < KH; kh++)
          for (let kw = 0; kw < KW; kw++) {
            const [id, ih, iw] = [od * sd - pd + kd * dd, oh * sh - ph + kh * dh, ow * sw - pw + kw * dw];
            const inside = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;
            if (inside) inBounds++;
            terms[t++] = inside ? x[(((n * C + c) * D + id) * H + ih) * W + iw]! : max ? -Infinity : 0;
          }
      return { init: max ? -Infinity : 0, terms, count: max ? 1 : p.countIncludePad![0] === 1 ? KD * KH * KW : inBounds, max };
    }
    case "matmul": {
      const aShape = step.operandTypes[0]!.shape;
      const bShape = step.operandTypes[1]!.shape;
      const rank = out.length;
      const [i, j] = [out[rank - 2]!, out[rank - 1]!];
      const transA = p.transA![0] === 1;
      const transB = p.transB![0] === 1;
      const M = step.output.shape[rank - 2]!;
      const N = step.output.shape[rank - 1]!;
      const K = transA ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
      const batch = out.slice(0, rank - 2);
      const aBase = broadcastFlat(batch, aShape.slice(0, -2)) * M * K;
      const bBase = broadcastFlat(batch, bShape.slice(0, -2)) * K * N;
      const a = read(0);
      const b = read(1);
      const integer = step.output.dtype !== "float32";
      const terms = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        const av = a[aBase + (transA ? k * M + i : i * K + k)]!;
        const bv = b[bBase + (transB ? j * K + k : k * N + j)]!;
        terms[k] = integer ? av * bv : op(av) * op(bv);
      }
      const init = step.operands.length > 2 ? read(2)[broadcastFlat(out, step.operandTypes[2]!.shape)]! : 0;
      return { init, terms, count: 1, max: false };
    }
    case "pool": {
      const [, , H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
      const [n, c, oh, ow] = out as [number, number, number, number];
      const C = step.operandTypes[0]!.shape[1]!;
      const max = p.fn![0] === 1;
      const [KH, KW] = p.kernel! as [number, number];
      const [sh, sw] = p.strides! as [number, number];
      const [ph, pw] = p.pads! as [number, number];
      const [dh, dw] = p.dilations! as [number, number];
      const x = read(0);
      const terms = new Float64Array(KH * KW);
      let inBounds = 0;
      for (let kh = 0; kh < KH; kh++)
        for (let kw = 0; kw < KW; kw++) {
          const ih = oh * sh - ph + kh * dh;
          const iw = ow * sw - pw + kw * dw;
          const inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
          if (inside) inBounds++;
          terms[kh * KW + kw] = inside ? x[((n * C + c) * H + ih) * W + iw]! : max ? -Infinity : 0;
        }
      return { init: max ? -Infinity : 0, terms, count: max ? 1 : p.countIncludePad![0] === 1 ? KH * KW : inBounds, max };
    }
    case "resize_linear": {
      // Each corner's element times its exact integer weight; ÷ the divisor at finalize (kernels/resize.ts).
      const x = read(0);
      const terms = new Float64Array(resizeTermCount(step));
      for (let t = 0; t < terms.length; t++) {
        const { index, weight } = resizeCorner(step, out, t);
        terms[t] = x[index]! * weight;
      }
      return { init: 0, terms, count: resizeDivisor(step), max: false };
    }
    case "reduce": {
      const inShape = step.operandTypes[0]!.shape;
      const axes = p.axes!;
      const fn = p.fn![0]!;
      // Output coordinates (kept dims, with or without the reduced 1s) → input coordinates.
      const keptDims = inShape.map((_, d) => d).filter((d) => !axes.includes(d));
      const keep = step.output.shape.length === inShape.length;
      const base = inShape.map((_, d) => (axes.includes(d) ? 0 : keep ? out[d]! : out[keptDims.indexOf(d)]!));
      const reduced = axes.map((a) => inShape[a]!);
      const K = numelOf(reduced);
      const x = read(0);
      const strides = stridesOf(inShape);
      const terms = new Float64Array(K);
      for (let t = 0; t < K; t++) {
        const rc = coordsOf(t, reduced);
        let idx = 0;
        for (let d = 0; d < inShape.length; d++) idx += base[d]! * strides[d]!;
        axes.forEach((a, r) => (idx += rc[r]! * strides[a]!));
        terms[t] = x[idx]!;
      }
      return { init: fn === 1 ? -Infinity : 0, terms, count: fn === 2 ? K : 1, max: fn === 1 };
    }
  }
  throw canonicalError("OP_UNSUPPORTED", `no reduce ${step.op}`);
}

/** The K + 1 partial states of a fold: state 0 is the init, state t has folded terms 0..t−1. */
export function foldPartials(r: ReduceElement, integer = false): Float64Array {
  const states = new Float64Array(r.terms.length + 1);
  let s = r.init;
  states[0] = s;
  for (let t = 0; t < r.terms.length; t++) {
    const v = r.terms[t]!;
    if (r.max) s = v > s || v !== v ? v : s;
    else s = integer ? (s + v) | 0 : s + v;
    states[t + 1] = s;
  }
  return states;
}

function storeOf(step: Step, precision: Precision): (x: number) => number {
  if (step.output.dtype !== "float32") return (x) => x;
  if (precision === "fp16") return makeRounder(FP16);
  if (precision === "bf16") return makeRounder(BF16);
  return Math.fround;
}

/** The element a reduce step writes from the fold's last state. */
export function finalizeReduce(step: Step, r: ReduceElement, last: number, precision: Precision = "fp32"): number {
  const v = r.count === 1 ? last : last / r.count;
  const y = storeOf(step, precision)(v);
  return y !== y ? NaN : y;
}

/** Element `e` of a map step. */
export function mapElement(step: Step, read: OperandReader, e: number, precision: Precision = "fp32"): number {
  if (step.kind !== "map") throw canonicalError("OP_UNSUPPORTED", `step ${step.index} is not a map step`);
  const coords = coordsOf(e, step.output.shape);
  const vals = step.operandTypes.map((t, k) => read(k)[broadcastFlat(coords, step.params[`view${k}`] ?? t.shape)]!);
  return evalMapElement(step, vals, storeOf(step, precision));
}

/**
 * Element `e` of a move step: which operand and which of its elements it copies; operand −1 (index −1)
 * where a constant pad writes the step's parameter `value`, or a `constant` step its `values[e]`, instead.
 */
export function moveSource(step: Step, e: number): { operand: number; index: number; value?: number } {
  if (step.kind !== "move") throw canonicalError("OP_UNSUPPORTED", `step ${step.index} is not a move step`);
  const outShape = step.output.shape;
  if (step.op === "constant") return { operand: -1, index: -1, value: step.params.values![e]! };
  const inShape = step.operandTypes[0]!.shape;
  const o = coordsOf(e, outShape);
  const p = step.params;
  switch (step.op) {
    case "reshape":
      return { operand: 0, index: e };
    case "transpose": {
      const c = new Array<number>(inShape.length);
      p.perm!.forEach((src, d) => (c[src] = o[d]!));
      return { operand: 0, index: flat(c, inShape) };
    }
    case "slice":
      return { operand: 0, index: flat(o.map((v, d) => p.starts![d]! + v * p.steps![d]!), inShape) };
    case "concat": {
      const axis = p.axis![0]!;
      let at = o[axis]!;
      for (let k = 0; k < step.operandTypes.length; k++) {
        const shape = step.operandTypes[k]!.shape;
        if (at < shape[axis]!) return { operand: k, index: flat(o.map((v, d) => (d === axis ? at : v)), shape) };
        at -= shape[axis]!;
      }
      break;
    }
    case "expand":
      return { operand: 0, index: broadcastFlat(o, inShape) };
    case "resize_nearest":
      return { operand: 0, index: flat(o.map((v, d) => Math.min(Math.floor(v / p.scales![d]!), inShape[d]! - 1)), inShape) };
    case "gather": {
      const axis = p.axis![0]!;
      const r = outShape.length - inShape.length + 1;
      const j = flat(o.slice(axis, axis + r), outShape.slice(axis, axis + r));
      return { operand: 0, index: flat([...o.slice(0, axis), p.indices![j]!, ...o.slice(axis + r)], inShape) };
    }
    case "gather_elements": {
      const axis = p.axis![0]!;
      return { operand: 0, index: flat(o.map((v, d) => (d === axis ? p.indices![e]! : v)), inShape) };
    }
    case "pad": {
      const mode = p.mode![0]!;
      const c = o.map((v, d) => v - p.pads![d]!);
      if (c.some((v, d) => v < 0 || v >= inShape[d]!)) {
        if (mode === 0) return { operand: -1, index: -1, value: p.value![0]! };
        c.forEach((v, d) => {
          const n = inShape[d]!;
          if (mode === 2) c[d] = Math.min(Math.max(v, 0), n - 1);
          else c[d] = v < 0 ? -v : v >= n ? 2 * (n - 1) - v : v;
        });
      }
      return { operand: 0, index: flat(c, inShape) };
    }
    case "tile":
      return { operand: 0, index: flat(o.map((v, d) => v % inShape[d]!), inShape) };
  }
  throw canonicalError("OP_UNSUPPORTED", `no move ${step.op}`);
}

/** Element `e` of a move step. */
export function moveElement(step: Step, read: OperandReader, e: number): number {
  const s = moveSource(step, e);
  return s.operand < 0 ? s.value! : read(s.operand)[s.index]!;
}
