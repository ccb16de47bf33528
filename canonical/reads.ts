/**
 * Which operand elements one canonical computation reads (the TypeScript side of IStepVerifier's
 * `reads`, `initReads` and `termReads`): what a leaf proof of the descent must carry, each with its
 * Merkle proof. Index arithmetic as canonical/element.ts's; test/canonical/trace.test.ts checks that
 * a reader holding only these elements reproduces element.ts's values bit for bit.
 */
import { broadcastFlat, coordsOf, moveSource } from "./element.js";
import { canonicalError, numelOf, stridesOf, type Step } from "./program.js";
import { resizeCorner, resizeTermCount } from "./kernels/resize.js";

/** One operand element read: the operand's position in the step and the flat index in that operand. */
export interface Read {
  operand: number;
  index: number;
}

/** map/move: the operand elements element `e` reads, in operand order. */
export function elementReads(step: Step, e: number): Read[] {
  if (step.kind === "move") {
    const s = moveSource(step, e);
    // A constant step, or a constant pad outside its input, writes a parameter: it reads nothing
    // (IStepVerifier.reads returns no read; the value comes from the step's proven encoding).
    return s.operand < 0 ? [] : [{ operand: s.operand, index: s.index }];
  }
  if (step.kind !== "map") throw canonicalError("OP_UNSUPPORTED", `step ${step.index} is a reduce step`);
  const coords = coordsOf(e, step.output.shape);
  return step.operandTypes.map((t, k) => ({ operand: k, index: broadcastFlat(coords, step.params[`view${k}`] ?? t.shape) }));
}

/** reduce: K, the number of terms of every element. */
export function termCount(step: Step): number {
  const p = step.params;
  switch (step.op) {
    case "conv": {
      const [, w1, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
      return w1 * KH * KW;
    }
    case "convtranspose": {
      const C = step.operandTypes[0]!.shape[1]!;
      const [, , KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
      return (C / p.group![0]!) * KH * KW;
    }
    case "matmul": {
      const a = step.operandTypes[0]!.shape;
      return p.transA![0] === 1 ? a[a.length - 2]! : a[a.length - 1]!;
    }
    case "pool":
      return p.kernel![0]! * p.kernel![1]!;
    case "reduce":
      return numelOf(p.axes!.map((a) => step.operandTypes[0]!.shape[a]!));
    case "resize_linear":
      return resizeTermCount(step);
    case "conv3d":
    case "convtranspose3d":
    case "pool3d": {
      const k = numelOf(step.op === "pool3d" ? p.kernel! : step.operandTypes[1]!.shape.slice(2));
      if (step.op === "pool3d") return k;
      return (step.op === "conv3d" ? step.operandTypes[1]!.shape[1]! : step.operandTypes[0]!.shape[1]! / p.group![0]!) * k;
    }
  }
  throw canonicalError("OP_UNSUPPORTED", `step ${step.index} (${step.kind} ${step.op}) has no terms`);
}

/** reduce: the operand elements the init of element `e` reads (a bias element, or none). */
export function initReads(step: Step, e: number): Read[] {
  if (step.kind !== "reduce") throw canonicalError("OP_UNSUPPORTED", `step ${step.index} is not a reduce step`);
  if (step.operands.length <= 2 || !["conv", "convtranspose", "matmul", "conv3d", "convtranspose3d"].includes(step.op)) return [];
  const out = coordsOf(e, step.output.shape);
  if (step.op === "matmul") return [{ operand: 2, index: broadcastFlat(out, step.operandTypes[2]!.shape) }];
  return [{ operand: 2, index: out[1]! }];
}

/** reduce: the operand elements term `t` of element `e` reads (none for a padding term). */
export function termReads(step: Step, e: number, t: number): Read[] {
  if (step.kind !== "reduce") throw canonicalError("OP_UNSUPPORTED", `step ${step.index} is not a reduce step`);
  const K = termCount(step);
  if (!Number.isInteger(t) || t < 0 || t >= K) throw new RangeError(`term ${t} out of 0..${K - 1}`);
  const p = step.params;
  const out = coordsOf(e, step.output.shape);
  switch (step.op) {
    case "conv":
    case "convtranspose": {
      const [, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
      const [, w1, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
      const [n, m, oh, ow] = out as [number, number, number, number];
      const M = step.output.shape[1]!;
      const group = p.group![0]!;
      const [sh, sw] = p.strides! as [number, number];
      const [ph, pw] = p.pads! as [number, number];
      const [dh, dw] = p.dilations! as [number, number];
      const kw = t % KW;
      const kh = Math.floor(t / KW) % KH;
      const cc = Math.floor(t / (KW * KH));
      if (step.op === "conv") {
        const Cg = w1;
        const g = Math.floor(m / (M / group));
        const ih = oh * sh - ph + kh * dh;
        const iw = ow * sw - pw + kw * dw;
        if (!(ih >= 0 && ih < H && iw >= 0 && iw < W)) return [];
        return [
          { operand: 0, index: ((n * C + g * Cg + cc) * H + ih) * W + iw },
          { operand: 1, index: ((m * Cg + cc) * KH + kh) * KW + kw },
        ];
      }
      const Mg = w1;
      const Cg = C / group;
      const g = Math.floor(m / Mg);
      const c = g * Cg + cc;
      const th = oh + ph - kh * dh;
      const tw = ow + pw - kw * dw;
      const ih = th / sh;
      const iw = tw / sw;
      if (!(th >= 0 && tw >= 0 && Number.isInteger(ih) && Number.isInteger(iw) && ih < H && iw < W)) return [];
      return [
        { operand: 0, index: ((n * C + c) * H + ih) * W + iw },
        { operand: 1, index: ((c * Mg + (m - g * Mg)) * KH + kh) * KW + kw },
      ];
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
      const batch = out.slice(0, rank - 2);
      const aBase = broadcastFlat(batch, aShape.slice(0, -2)) * M * K;
      const bBase = broadcastFlat(batch, bShape.slice(0, -2)) * K * N;
      return [
        { operand: 0, index: aBase + (transA ? t * M + i : i * K + t) },
        { operand: 1, index: bBase + (transB ? j * K + t : t * N + j) },
      ];
    }
    case "pool": {
      const [, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
      const [n, c, oh, ow] = out as [number, number, number, number];
      const [, KW] = p.kernel! as [number, number];
      const [sh, sw] = p.strides! as [number, number];
      const [ph, pw] = p.pads! as [number, number];
      const [dh, dw] = p.dilations! as [number, number];
      const kh = Math.floor(t / KW);
      const kw = t % KW;
      const ih = oh * sh - ph + kh * dh;
      const iw = ow * sw - pw + kw * dw;
      if (!(ih >= 0 && ih < H && iw >= 0 && iw < W)) return [];
      return [{ operand: 0, index: ((n * C + c) * H + ih) * W + iw }];
    }
    case "resize_linear":
      return [{ operand: 0, index: resizeCorner(step, out, t).index }];
    case "conv3d":
    case "convtranspose3d":
    case "pool3d":
      return box3Reads(step, out, t);
    case "reduce": {
      const inShape = step.operandTypes[0]!.shape;
      const axes = p.axes!;
      const keptDims = inShape.map((_, d) => d).filter((d) => !axes.includes(d));
      const keep = step.output.shape.length === inShape.length;
      const base = inShape.map((_, d) => (axes.includes(d) ? 0 : keep ? out[d]! : out[keptDims.indexOf(d)]!));
      const reduced = axes.map((a) => inShape[a]!);
      const strides = stridesOf(inShape);
      const rc = coordsOf(t, reduced);
      let idx = 0;
      for (let d = 0; d < inShape.length; d++) idx += base[d]! * strides[d]!;
      axes.forEach((a, r) => (idx += rc[r]! * strides[a]!));
      return [{ operand: 0, index: idx }];
    }
  }
  throw canonicalError("OP_UNSUPPORTED", `no reduce ${step.op}`);
}

/**
 * conv3d, convtranspose3d and pool3d (NCDHW): term t = (c, kd, kh, kw) row-major (pool3d: (kd, kh, kw)) of
 * the output element at `out`; the input position o·s − p + k·d per axis (transposed: the i with
 * o = i·s − p + k·d), none in the padding. As element.ts's reduceTerms and StepIndex.box3Reads.
 */
function box3Reads(step: Step, out: number[], t: number): Read[] {
  const p = step.params;
  const [, C, ...size] = step.operandTypes[0]!.shape as [number, number, number, number, number];
  const pool = step.op === "pool3d";
  const transpose = step.op === "convtranspose3d";
  const kernel = pool ? p.kernel! : step.operandTypes[1]!.shape.slice(2);
  const KK = numelOf(kernel);
  const kk = coordsOf(t % KK, kernel);
  const c = Math.floor(t / KK);
  let pos = 0;
  for (let a = 0; a < 3; a++) {
    const v = transpose ? (out[2 + a]! + p.pads![a]! - kk[a]! * p.dilations![a]!) / p.strides![a]! : out[2 + a]! * p.strides![a]! - p.pads![a]! + kk[a]! * p.dilations![a]!;
    if (!(Number.isInteger(v) && v >= 0 && v < size[a]!)) return [];
    pos = pos * size[a]! + v;
  }
  const [n, m] = out as [number, number];
  const volume = numelOf(size);
  if (pool) return [{ operand: 0, index: (n * C + m) * volume + pos }];
  const Wg = step.operandTypes[1]!.shape[1]!;
  const group = p.group![0]!;
  // The input channel and the weight's first two coordinates (conv3d w[m, c], convtranspose3d w[c, m mod Mg]).
  const ci = transpose ? Math.floor(m / Wg) * (C / group) + c : Math.floor(m / (step.output.shape[1]! / group)) * Wg + c;
  const wmc = transpose ? ci * Wg + (m % Wg) : m * Wg + c;
  return [
    { operand: 0, index: (n * C + ci) * volume + pos },
    { operand: 1, index: wmc * KK + t % KK },
  ];
}
