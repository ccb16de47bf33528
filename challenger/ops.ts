/**
 * Reference operators: for each ONNX operator the challenger can check, how to recompute ONE
 * output element from the operator's inputs (what the on-chain one-step verifier will do), with
 * the sum of magnitudes of the terms that make it up and the error bound an honest float32
 * implementation stays within. Whole tensors are the same element function, looped.
 *
 * Float rule (docs/OPTIMISTIC.md "Tolerance"): an element built from n float32 roundings over terms
 * t_k is accepted when
 *
 *   |claimed − recomputed| ≤ absTol + relTol · Σ|t_k|,   relTol = 2·γ(n+1), γ(k) = k·u / (1 − k·u), u = 2^-24
 *   absTol = (n+1) · 2^-126
 *
 * γ(n) is the classic worst-case bound for an n-term float32 dot product or sum evaluated in ANY
 * order, with or without FMA (Higham, Accuracy and Stability of Numerical Algorithms, §3.1): it
 * covers blocked GEMM, SIMD lanes, thread splits and re-association; the factor 2 covers the
 * float64 reference's own rounding and the final conversion; absTol covers flushing subnormals.
 * Operators that only select or move values (Relu, Clip, MaxPool, Reshape, Slice, Concat, Cast,
 * Shape, ...) and integer arithmetic are exact: bound 0.
 */
import type { AttributeValue, TensorType } from "../protocol/commitment.js";
import { numel, type DType, type Tensor, type TensorData } from "../protocol/tensor.js";
import { ChallengerError } from "./errors.js";

/** Unit roundoff of float32. */
export const FLOAT32_U = 2 ** -24;
const MIN_NORMAL32 = 2 ** -126;

export function gamma(n: number): number {
  return (n * FLOAT32_U) / (1 - n * FLOAT32_U);
}

/** The float bound for an element made of `terms` float32 roundings whose magnitudes sum to `magnitude`. */
export function floatBound(terms: number, magnitude: number): number {
  return (terms + 1) * MIN_NORMAL32 + 2 * gamma(terms + 1) * magnitude;
}

/** One recomputed output element. */
export interface Element {
  /** float outputs: the exact-ish (float64) value; integer outputs: the exact value (bigint for 64-bit). */
  value: number | bigint;
  /** Σ|terms| (0 for exact operators). */
  magnitude: number;
  /** How many roundings an implementation may apply (0 for exact operators). */
  terms: number;
}

export interface OpKernel {
  outputs: TensorType[];
  /** Recomputes element `index` (flat, row-major) of output `output`. */
  element(output: number, index: number): Element;
  /** True when honest results must match bit for bit. */
  exact: boolean;
}

export interface OpContext {
  inputs: ReadonlyArray<Tensor | undefined>;
  attributes: ReadonlyMap<string, AttributeValue>;
  opset: number;
}

export type OpFactory = (ctx: OpContext) => OpKernel;

export function allowedError(kernel: OpKernel, e: Element): number {
  return kernel.exact ? 0 : floatBound(e.terms, e.magnitude);
}

// ---- helpers ----

const FLOAT_TYPES = new Set<DType>(["float32", "float64"]);

function fail(message: string, details: Record<string, unknown> = {}): never {
  throw new ChallengerError("OP_UNSUPPORTED", message, details);
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

function read(t: Tensor, i: number): number {
  const v = t.data[i]!;
  return typeof v === "bigint" ? Number(v) : v;
}

function readBig(t: Tensor, i: number): bigint {
  const v = t.data[i]!;
  return typeof v === "bigint" ? v : BigInt(v);
}

function input(ctx: OpContext, i: number, what: string): Tensor {
  const t = ctx.inputs[i];
  if (t === undefined) fail(`missing input ${i} (${what})`);
  return t;
}

function attrInt(ctx: OpContext, name: string, fallback: number): number {
  const a = ctx.attributes.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "int") fail(`attribute ${name} must be an int`);
  return Number(a.value);
}

function attrFloat(ctx: OpContext, name: string, fallback: number): number {
  const a = ctx.attributes.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "float") fail(`attribute ${name} must be a float`);
  return a.value;
}

function attrInts(ctx: OpContext, name: string): number[] | undefined {
  const a = ctx.attributes.get(name);
  if (a === undefined) return undefined;
  if (a.type !== "ints") fail(`attribute ${name} must be ints`);
  return a.value.map(Number);
}

function attrString(ctx: OpContext, name: string, fallback: string): string {
  const a = ctx.attributes.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "string") fail(`attribute ${name} must be a string`);
  return Buffer.from(a.value).toString("utf8");
}

function intsOf(t: Tensor): number[] {
  return Array.from({ length: t.data.length }, (_, i) => read(t, i));
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

function broadcastShape(shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) fail(`shapes [${shapes.map((x) => `[${x}]`).join(", ")}] do not broadcast`);
    }
  }
  return out;
}

/** Maps a flat index of `outShape` to the flat index of a tensor of `inShape` broadcast to it. */
function broadcaster(outShape: readonly number[], inShape: readonly number[]): (flat: number) => number {
  const outStrides = strides(outShape);
  const inStrides = strides(inShape);
  const offset = outShape.length - inShape.length;
  if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return (f) => f;
  return (flat) => {
    let idx = 0;
    for (let i = 0; i < inShape.length; i++) {
      const o = i + offset;
      const coord = Math.floor(flat / outStrides[o]!) % outShape[o]!;
      if (inShape[i] !== 1) idx += coord * inStrides[i]!;
    }
    return idx;
  };
}

const exactCopy = (v: number | bigint): Element => ({ value: v, magnitude: 0, terms: 0 });

// ---- elementwise ----

type Arith = { float: (a: number, b: number) => { value: number; magnitude: number; terms: number }; int32: (a: number, b: number) => number; int64: (a: bigint, b: bigint) => bigint };

const ARITH: Record<string, Arith> = {
  Add: { float: (a, b) => ({ value: a + b, magnitude: Math.abs(a) + Math.abs(b), terms: 2 }), int32: (a, b) => (a + b) | 0, int64: (a, b) => BigInt.asIntN(64, a + b) },
  Sub: { float: (a, b) => ({ value: a - b, magnitude: Math.abs(a) + Math.abs(b), terms: 2 }), int32: (a, b) => (a - b) | 0, int64: (a, b) => BigInt.asIntN(64, a - b) },
  Mul: { float: (a, b) => ({ value: a * b, magnitude: Math.abs(a * b), terms: 1 }), int32: (a, b) => Math.imul(a, b), int64: (a, b) => BigInt.asIntN(64, a * b) },
  // a / b may be computed as a * (1/b): two roundings.
  Div: {
    float: (a, b) => ({ value: a / b, magnitude: Math.abs(a / b), terms: 2 }),
    int32: (a, b) => (b === 0 ? fail("integer division by zero") : Math.trunc(a / b) | 0),
    int64: (a, b) => (b === 0n ? fail("integer division by zero") : a / b),
  },
};

function binary(op: string): OpFactory {
  const arith = ARITH[op]!;
  return (ctx) => {
    const a = input(ctx, 0, "A");
    const b = input(ctx, 1, "B");
    if (a.dtype !== b.dtype) fail(`${op} of ${a.dtype} and ${b.dtype}`);
    const shape = broadcastShape([a.shape, b.shape]);
    const ia = broadcaster(shape, a.shape);
    const ib = broadcaster(shape, b.shape);
    const dtype = a.dtype;
    if (FLOAT_TYPES.has(dtype)) {
      return { outputs: [{ dtype, shape }], exact: false, element: (_o, i) => arith.float(read(a, ia(i)), read(b, ib(i))) };
    }
    if (dtype === "int64") return { outputs: [{ dtype, shape }], exact: true, element: (_o, i) => exactCopy(arith.int64(readBig(a, ia(i)), readBig(b, ib(i)))) };
    if (dtype === "int32") return { outputs: [{ dtype, shape }], exact: true, element: (_o, i) => exactCopy(arith.int32(read(a, ia(i)), read(b, ib(i)))) };
    return fail(`${op} on ${dtype} is not supported`);
  };
}

/** Max / Min: variadic, broadcasting, exact for every dtype. */
function extremum(op: "Max" | "Min"): OpFactory {
  return (ctx) => {
    const ins = ctx.inputs.filter((t): t is Tensor => t !== undefined);
    if (ins.length === 0) fail(`${op} needs an input`);
    const shape = broadcastShape(ins.map((t) => t.shape));
    const maps = ins.map((t) => broadcaster(shape, t.shape));
    const better = op === "Max" ? (x: number | bigint, y: number | bigint) => x > y : (x: number | bigint, y: number | bigint) => x < y;
    return {
      outputs: [{ dtype: ins[0]!.dtype, shape }],
      exact: true,
      element: (_o, i) => {
        let best: number | bigint = ins[0]!.data[maps[0]!(i)]!;
        for (let k = 1; k < ins.length; k++) {
          const v = ins[k]!.data[maps[k]!(i)]!;
          if (Number.isNaN(v) || better(v, best)) best = v;
        }
        return exactCopy(best);
      },
    };
  };
}

function unaryExact(fn: (v: number) => number): OpFactory {
  return (ctx) => {
    const x = input(ctx, 0, "X");
    return { outputs: [{ dtype: x.dtype, shape: [...x.shape] }], exact: true, element: (_o, i) => exactCopy(fn(read(x, i))) };
  };
}

const Relu: OpFactory = unaryExact((v) => (v > 0 ? v : 0));

const Clip: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  let lo = -Infinity;
  let hi = Infinity;
  if (ctx.opset < 11) {
    lo = attrFloat(ctx, "min", -Infinity);
    hi = attrFloat(ctx, "max", Infinity);
  } else {
    if (ctx.inputs[1] !== undefined) lo = read(ctx.inputs[1], 0);
    if (ctx.inputs[2] !== undefined) hi = read(ctx.inputs[2], 0);
  }
  return unaryExact((v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, lo), hi)))({ ...ctx, inputs: [x] });
};

const HardSigmoid: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const alpha = attrFloat(ctx, "alpha", Math.fround(0.2));
  const beta = attrFloat(ctx, "beta", 0.5);
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const v = read(x, i);
      const lin = alpha * v + beta;
      // Saturated outputs are exact; a bound on the linear part is generous there.
      return { value: Math.min(1, Math.max(0, lin)), magnitude: Math.abs(alpha * v) + Math.abs(beta), terms: 2 };
    },
  };
};

/** HardSwish (opset 14): x · HardSigmoid(x; 1/6, 0.5). */
const HardSwish: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const v = read(x, i);
      const hs = Math.min(1, Math.max(0, v / 6 + 0.5));
      return { value: v * hs, magnitude: Math.abs(v) * (Math.abs(v / 6) + 0.5), terms: 4 };
    },
  };
};

const BitShift: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const y = input(ctx, 1, "Y");
  const left = attrString(ctx, "direction", "") === "LEFT";
  const shape = broadcastShape([x.shape, y.shape]);
  const ix = broadcaster(shape, x.shape);
  const iy = broadcaster(shape, y.shape);
  const bits = { uint8: 8n, uint16: 16n, uint32: 32n, uint64: 64n } as Record<string, bigint>;
  const width = bits[x.dtype];
  if (width === undefined) fail(`BitShift on ${x.dtype}`);
  return {
    outputs: [{ dtype: x.dtype, shape }],
    exact: true,
    element: (_o, i) => {
      const a = readBig(x, ix(i));
      const s = readBig(y, iy(i));
      const r = s >= width ? 0n : left ? BigInt.asUintN(Number(width), a << s) : a >> s;
      return exactCopy(x.dtype === "uint64" ? r : Number(r));
    },
  };
};

// ---- linear algebra and convolution ----

const BatchNormalization: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => input(ctx, i, "BN parameter"));
  const eps = attrFloat(ctx, "epsilon", 1e-5);
  const C = x.shape[1]!;
  const spatial = numel(x.shape.slice(2));
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const c = Math.floor(i / spatial) % C;
      const a = read(scale!, c) / Math.sqrt(read(variance!, c) + eps);
      const xv = read(x, i);
      const m = read(mean!, c);
      const b = read(bias!, c);
      // Implementations differ in how they fold (scale, variance, eps) into one multiplier: 8 roundings cover them all.
      return { value: (xv - m) * a + b, magnitude: Math.abs(xv * a) + Math.abs(m * a) + Math.abs(b), terms: 8 };
    },
  };
};

function convGeometry(ctx: OpContext, spatialIn: number[], kernel: number[]) {
  const k = attrInts(ctx, "kernel_shape") ?? kernel;
  const r = k.length;
  const strides_ = attrInts(ctx, "strides") ?? new Array<number>(r).fill(1);
  const dil = attrInts(ctx, "dilations") ?? new Array<number>(r).fill(1);
  let pads = attrInts(ctx, "pads") ?? new Array<number>(2 * r).fill(0);
  const autoPad = attrString(ctx, "auto_pad", "NOTSET");
  const ceil = attrInt(ctx, "ceil_mode", 0) === 1;
  if (autoPad === "VALID") pads = new Array<number>(2 * r).fill(0);
  else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    pads = new Array<number>(2 * r).fill(0);
    for (let d = 0; d < r; d++) {
      const out = Math.ceil(spatialIn[d]! / strides_[d]!);
      const total = Math.max(0, (out - 1) * strides_[d]! + (k[d]! - 1) * dil[d]! + 1 - spatialIn[d]!);
      const small = Math.floor(total / 2);
      pads[d] = autoPad === "SAME_UPPER" ? small : total - small;
      pads[d + r] = total - pads[d]!;
    }
  } else if (autoPad !== "NOTSET") fail(`auto_pad ${autoPad}`);
  const out = spatialIn.map((n, d) => {
    const span = (k[d]! - 1) * dil[d]! + 1;
    const q = (n + pads[d]! + pads[d + r]! - span) / strides_[d]!;
    return (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  });
  return { kernel: k, strides: strides_, dilations: dil, pads, out };
}

const Conv: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const w = input(ctx, 1, "W");
  const b = ctx.inputs[2];
  if (x.shape.length !== 4) fail(`Conv is supported in 2-D only, got input rank ${x.shape.length}`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [M, Cg, KH, KW] = w.shape as [number, number, number, number];
  const group = attrInt(ctx, "group", 1);
  if (Cg * group !== C || M % group !== 0) fail(`Conv with C=${C}, group=${group}, weight [${w.shape}]`);
  const geo = convGeometry(ctx, [H, W], [KH, KW]);
  const [OH, OW] = geo.out as [number, number];
  const [sh, sw] = geo.strides as [number, number];
  const [dh, dw] = geo.dilations as [number, number];
  const [pt, pl] = geo.pads as [number, number];
  const mPerGroup = M / group;
  const xd = x.data as Float32Array;
  const wd = w.data as Float32Array;
  const terms = Cg * KH * KW + (b === undefined ? 0 : 1);
  return {
    outputs: [{ dtype: x.dtype, shape: [N, M, OH, OW] }],
    exact: false,
    element: (_o, i) => {
      const ow = i % OW;
      const oh = Math.floor(i / OW) % OH;
      const m = Math.floor(i / (OW * OH)) % M;
      const n = Math.floor(i / (OW * OH * M));
      const g = Math.floor(m / mPerGroup);
      let sum = 0;
      let mag = 0;
      for (let c = 0; c < Cg; c++) {
        const xBase = (n * C + g * Cg + c) * H * W;
        const wBase = (m * Cg + c) * KH * KW;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - pt + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pl + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const p = xd[xBase + ih * W + iw]! * wd[wBase + kh * KW + kw]!;
            sum += p;
            mag += Math.abs(p);
          }
        }
      }
      if (b !== undefined) {
        const bv = read(b, m);
        sum += bv;
        mag += Math.abs(bv);
      }
      return { value: sum, magnitude: mag, terms };
    },
  };
};

function pool(kind: "max" | "avg"): OpFactory {
  return (ctx) => {
    const x = input(ctx, 0, "X");
    if (x.shape.length !== 4) fail(`pooling is supported in 2-D only`);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const kernel = attrInts(ctx, "kernel_shape") ?? fail("pooling needs kernel_shape");
    const geo = convGeometry(ctx, [H, W], kernel);
    const [OH, OW] = geo.out as [number, number];
    const [KH, KW] = geo.kernel as [number, number];
    const countPad = attrInt(ctx, "count_include_pad", 0) === 1;
    return {
      outputs: [{ dtype: x.dtype, shape: [N, C, OH, OW] }],
      exact: kind === "max",
      element: (_o, i) => {
        const ow = i % OW;
        const oh = Math.floor(i / OW) % OH;
        const nc = Math.floor(i / (OW * OH));
        let best = -Infinity;
        let sum = 0;
        let mag = 0;
        let count = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * geo.strides[0]! - geo.pads[0]! + kh * geo.dilations[0]!;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * geo.strides[1]! - geo.pads[1]! + kw * geo.dilations[1]!;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
              if (countPad) count++;
              continue;
            }
            const v = read(x, nc * H * W + ih * W + iw);
            if (v > best || Number.isNaN(v)) best = v;
            sum += v;
            mag += Math.abs(v);
            count++;
          }
        }
        if (kind === "max") return exactCopy(best);
        return { value: sum / count, magnitude: mag / count, terms: count + 1 };
      },
    };
  };
}

const GlobalAveragePool: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const [N, C] = x.shape as [number, number];
  const spatial = numel(x.shape.slice(2));
  return {
    outputs: [{ dtype: x.dtype, shape: [N, C, ...x.shape.slice(2).map(() => 1)] }],
    exact: false,
    element: (_o, i) => {
      let sum = 0;
      let mag = 0;
      for (let k = 0; k < spatial; k++) {
        const v = read(x, i * spatial + k);
        sum += v;
        mag += Math.abs(v);
      }
      // sum / n may be computed as sum * (1/n): n additions and two more roundings.
      return { value: sum / spatial, magnitude: mag / spatial, terms: spatial + 2 };
    },
  };
};

const GlobalMaxPool: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const [N, C] = x.shape as [number, number];
  const spatial = numel(x.shape.slice(2));
  return {
    outputs: [{ dtype: x.dtype, shape: [N, C, ...x.shape.slice(2).map(() => 1)] }],
    exact: true,
    element: (_o, i) => {
      let best = -Infinity;
      for (let k = 0; k < spatial; k++) best = Math.max(best, read(x, i * spatial + k));
      return exactCopy(best);
    },
  };
};

/** Shared by MatMul and Gemm: C[m, n] = Σ_k A[m, k] · B[k, n]. */
function matmulElement(a: Tensor, b: Tensor, aAt: (m: number, k: number, batch: number) => number, bAt: (k: number, n: number, batch: number) => number, K: number) {
  return (batch: number, m: number, n: number) => {
    let sum = 0;
    let mag = 0;
    for (let k = 0; k < K; k++) {
      const p = read(a, aAt(m, k, batch)) * read(b, bAt(k, n, batch));
      sum += p;
      mag += Math.abs(p);
    }
    return { sum, mag };
  };
}

const MatMul: OpFactory = (ctx) => {
  const a = input(ctx, 0, "A");
  const b = input(ctx, 1, "B");
  if (a.shape.length < 2 || b.shape.length < 2) fail("MatMul with a rank-1 operand is not supported");
  const [M, K] = a.shape.slice(-2) as [number, number];
  const [K2, N] = b.shape.slice(-2) as [number, number];
  if (K !== K2) fail(`MatMul [${a.shape}] x [${b.shape}]`);
  const batchShape = broadcastShape([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  const ba = broadcaster(batchShape, a.shape.slice(0, -2));
  const bb = broadcaster(batchShape, b.shape.slice(0, -2));
  const shape = [...batchShape, M, N];
  const locate = (i: number) => ({ n: i % N, m: Math.floor(i / N) % M, batch: Math.floor(i / (M * N)) });
  if (a.dtype === "int32" || a.dtype === "int64") {
    return {
      outputs: [{ dtype: a.dtype, shape }],
      exact: true,
      element: (_o, i) => {
        const { n, m, batch } = locate(i);
        let acc = 0n;
        for (let k = 0; k < K; k++) acc += readBig(a, (ba(batch) * M + m) * K + k) * readBig(b, (bb(batch) * K + k) * N + n);
        return exactCopy(a.dtype === "int64" ? BigInt.asIntN(64, acc) : Number(BigInt.asIntN(32, acc)));
      },
    };
  }
  const dot = matmulElement(a, b, (m, k, batch) => (ba(batch) * M + m) * K + k, (k, n, batch) => (bb(batch) * K + k) * N + n, K);
  return {
    outputs: [{ dtype: a.dtype, shape }],
    exact: false,
    element: (_o, i) => {
      const { n, m, batch } = locate(i);
      const { sum, mag } = dot(batch, m, n);
      return { value: sum, magnitude: mag, terms: K };
    },
  };
};

/** MatMulInteger: int8/uint8 operands with optional scalar zero points, exact int32 result. */
const MatMulInteger: OpFactory = (ctx) => {
  const a = input(ctx, 0, "A");
  const b = input(ctx, 1, "B");
  const zp = (i: number): bigint => {
    const t = ctx.inputs[i];
    if (t === undefined) return 0n;
    if (t.data.length !== 1) fail("MatMulInteger with per-row/column zero points is not supported");
    return readBig(t, 0);
  };
  const za = zp(2);
  const zb = zp(3);
  if (a.shape.length < 2 || b.shape.length < 2) fail("MatMulInteger with a rank-1 operand is not supported");
  const [M, K] = a.shape.slice(-2) as [number, number];
  const N = b.shape[b.shape.length - 1]!;
  const batchShape = broadcastShape([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  const ba = broadcaster(batchShape, a.shape.slice(0, -2));
  const bb = broadcaster(batchShape, b.shape.slice(0, -2));
  return {
    outputs: [{ dtype: "int32", shape: [...batchShape, M, N] }],
    exact: true,
    element: (_o, i) => {
      const n = i % N;
      const m = Math.floor(i / N) % M;
      const batch = Math.floor(i / (M * N));
      let acc = 0n;
      for (let k = 0; k < K; k++) acc += (readBig(a, (ba(batch) * M + m) * K + k) - za) * (readBig(b, (bb(batch) * K + k) * N + n) - zb);
      return exactCopy(Number(BigInt.asIntN(32, acc)));
    },
  };
};

const Gemm: OpFactory = (ctx) => {
  const a = input(ctx, 0, "A");
  const b = input(ctx, 1, "B");
  const c = ctx.inputs[2];
  const alpha = attrFloat(ctx, "alpha", 1);
  const beta = attrFloat(ctx, "beta", 1);
  const ta = attrInt(ctx, "transA", 0) === 1;
  const tb = attrInt(ctx, "transB", 0) === 1;
  const [M, K] = (ta ? [a.shape[1], a.shape[0]] : a.shape) as [number, number];
  const N = (tb ? b.shape[0] : b.shape[1])!;
  const ic = c === undefined ? undefined : broadcaster([M, N], c.shape);
  const dot = matmulElement(a, b, (m, k) => (ta ? k * M + m : m * K + k), (k, n) => (tb ? n * K + k : k * N + n), K);
  return {
    outputs: [{ dtype: a.dtype, shape: [M, N] }],
    exact: false,
    element: (_o, i) => {
      const n = i % N;
      const m = Math.floor(i / N);
      const { sum, mag } = dot(0, m, n);
      const cv = c === undefined ? 0 : beta * read(c, ic!(i));
      return { value: alpha * sum + cv, magnitude: Math.abs(alpha) * mag + Math.abs(cv), terms: K + 3 };
    },
  };
};

const Softmax: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const rank = x.shape.length;
  const axis = normAxis(attrInt(ctx, "axis", ctx.opset < 13 ? 1 : -1), rank);
  // Before opset 13 the input is coerced to 2-D at `axis`; from 13 the softmax runs along one axis.
  const size = ctx.opset < 13 ? numel(x.shape.slice(axis)) : x.shape[axis]!;
  const stride = ctx.opset < 13 ? 1 : numel(x.shape.slice(axis + 1));
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const pos = Math.floor(i / stride) % size;
      const base = i - pos * stride;
      let max = -Infinity;
      for (let k = 0; k < size; k++) max = Math.max(max, read(x, base + k * stride));
      let total = 0;
      let spread = 0;
      for (let k = 0; k < size; k++) {
        const d = read(x, base + k * stride) - max;
        const e = Math.exp(d);
        total += e;
        spread += e * Math.abs(d);
      }
      const xi = read(x, i) - max;
      const y = Math.exp(xi) / total;
      // Relative error: the exponent's rounding (|x - max| ulps), exp's approximation (a few ulps),
      // the sum (size roundings) and the division; all proportional to y.
      return { value: y, magnitude: y * (1 + Math.abs(xi) + spread / total), terms: size + 8 };
    },
  };
};

// ---- shape and data movement (exact) ----

function gather(outShape: number[], dtype: DType, source: Tensor, map: (i: number) => number): OpKernel {
  return { outputs: [{ dtype, shape: outShape }], exact: true, element: (_o, i) => exactCopy(source.data[map(i)]!) };
}

const Identity: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  return gather([...x.shape], x.dtype, x, (i) => i);
};

const Reshape: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  let target: number[];
  if (ctx.opset < 5) target = attrInts(ctx, "shape") ?? fail("Reshape needs a shape");
  else target = intsOf(input(ctx, 1, "shape"));
  const allowZero = attrInt(ctx, "allowzero", 0) === 1;
  const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i]! : d));
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? numel(x.shape) / known : d));
  if (numel(resolved) !== numel(x.shape)) fail(`cannot reshape [${x.shape}] to [${target}]`);
  return gather(resolved, x.dtype, x, (i) => i);
};

const Flatten: OpFactory = (ctx) => {
  const x = input(ctx, 0, "input");
  const axis = attrInt(ctx, "axis", 1);
  const a = axis < 0 ? axis + x.shape.length : axis;
  return gather([numel(x.shape.slice(0, a)), numel(x.shape.slice(a))], x.dtype, x, (i) => i);
};

const Shape: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  return { outputs: [{ dtype: "int64", shape: [x.shape.length] }], exact: true, element: (_o, i) => exactCopy(BigInt(x.shape[i]!)) };
};

const CAST_TARGETS: Record<number, DType> = { 1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 11: "float64" };

const Cast: OpFactory = (ctx) => {
  const x = input(ctx, 0, "input");
  const to = CAST_TARGETS[attrInt(ctx, "to", 0)] ?? fail(`Cast to ONNX type ${attrInt(ctx, "to", 0)}`);
  const convert = (v: number | bigint): number | bigint => {
    switch (to) {
      case "float32":
        return Math.fround(Number(v));
      case "float64":
        return Number(v);
      case "int64":
        return BigInt.asIntN(64, typeof v === "bigint" ? v : BigInt(Math.trunc(v)));
      case "bool":
        return v === 0 || v === 0n ? 0 : 1;
      default: {
        const bits = { uint8: 8, int8: 8, int16: 16, int32: 32 }[to as "int32"];
        const big = typeof v === "bigint" ? v : BigInt(Math.trunc(v));
        return Number(to === "uint8" ? BigInt.asUintN(bits, big) : BigInt.asIntN(bits, big));
      }
    }
  };
  return { outputs: [{ dtype: to, shape: [...x.shape] }], exact: true, element: (_o, i) => exactCopy(convert(x.data[i]!)) };
};

const Slice: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  const rank = x.shape.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = attrInts(ctx, "starts") ?? fail("Slice needs starts");
    ends = attrInts(ctx, "ends") ?? fail("Slice needs ends");
    axes = attrInts(ctx, "axes");
  } else {
    starts = intsOf(input(ctx, 1, "starts"));
    ends = intsOf(input(ctx, 2, "ends"));
    axes = ctx.inputs[3] === undefined ? undefined : intsOf(ctx.inputs[3]);
    steps = ctx.inputs[4] === undefined ? undefined : intsOf(ctx.inputs[4]);
  }
  const begin = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const shape = [...x.shape];
  (axes ?? starts.map((_, i) => i)).forEach((axisRaw, j) => {
    const axis = normAxis(axisRaw, rank);
    const dim = x.shape[axis]!;
    const s = steps?.[j] ?? 1;
    if (s === 0) fail("Slice step 0");
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const st = s > 0 ? clampIdx(starts[j]!, 0, dim) : clampIdx(starts[j]!, 0, dim - 1);
    const en = s > 0 ? clampIdx(ends[j]!, 0, dim) : clampIdx(ends[j]!, -1, dim - 1);
    begin[axis] = st;
    step[axis] = s;
    shape[axis] = Math.max(0, Math.ceil((en - st) / s));
  });
  const outStrides = strides(shape);
  const inStrides = strides(x.shape);
  return gather(shape, x.dtype, x, (i) => {
    let idx = 0;
    for (let d = 0; d < rank; d++) idx += (begin[d]! + (Math.floor(i / outStrides[d]!) % shape[d]!) * step[d]!) * inStrides[d]!;
    return idx;
  });
};

const Concat: OpFactory = (ctx) => {
  const ins = ctx.inputs.filter((t): t is Tensor => t !== undefined);
  const rank = ins[0]!.shape.length;
  const axis = normAxis(attrInt(ctx, "axis", 0), rank);
  const shape = [...ins[0]!.shape];
  shape[axis] = ins.reduce((n, t) => n + t.shape[axis]!, 0);
  const inner = numel(shape.slice(axis + 1));
  return {
    outputs: [{ dtype: ins[0]!.dtype, shape }],
    exact: true,
    element: (_o, i) => {
      const outer = Math.floor(i / (shape[axis]! * inner));
      let along = Math.floor(i / inner) % shape[axis]!;
      const rest = i % inner;
      for (const t of ins) {
        const d = t.shape[axis]!;
        if (along < d) return exactCopy(t.data[(outer * d + along) * inner + rest]!);
        along -= d;
      }
      return fail("Concat index out of range");
    },
  };
};

const Transpose: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  const rank = x.shape.length;
  const perm = attrInts(ctx, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const shape = perm.map((p) => x.shape[p]!);
  const outStrides = strides(shape);
  const inStrides = strides(x.shape);
  return gather(shape, x.dtype, x, (i) => {
    let idx = 0;
    for (let d = 0; d < rank; d++) idx += (Math.floor(i / outStrides[d]!) % shape[d]!) * inStrides[perm[d]!]!;
    return idx;
  });
};

function squeezeLike(kind: "Squeeze" | "Unsqueeze"): OpFactory {
  return (ctx) => {
    const x = input(ctx, 0, "data");
    const axes = ctx.opset < 13 ? attrInts(ctx, "axes") : ctx.inputs[1] === undefined ? undefined : intsOf(ctx.inputs[1]);
    let shape: number[];
    if (kind === "Squeeze") {
      const drop = new Set((axes ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, x.shape.length)));
      shape = x.shape.filter((_, i) => !drop.has(i));
    } else {
      const unsqueezeAxes = axes ?? fail("Unsqueeze needs axes");
      const rank = x.shape.length + unsqueezeAxes.length;
      const add = new Set(unsqueezeAxes.map((a) => normAxis(a, rank)));
      const rest = [...x.shape];
      shape = Array.from({ length: rank }, (_, i) => (add.has(i) ? 1 : rest.shift()!));
    }
    return gather(shape, x.dtype, x, (i) => i);
  };
}

/** Every operator the challenger can check, by ONNX op type (default domain). */
export const OPERATORS: Readonly<Record<string, OpFactory>> = {
  Add: binary("Add"),
  Sub: binary("Sub"),
  Mul: binary("Mul"),
  Div: binary("Div"),
  Max: extremum("Max"),
  Min: extremum("Min"),
  Relu,
  Clip,
  HardSigmoid,
  HardSwish,
  BitShift,
  BatchNormalization,
  Conv,
  MaxPool: pool("max"),
  AveragePool: pool("avg"),
  GlobalAveragePool,
  GlobalMaxPool,
  MatMul,
  MatMulInteger,
  Gemm,
  Softmax,
  Identity,
  Reshape,
  Flatten,
  Shape,
  Cast,
  Slice,
  Concat,
  Transpose,
  Squeeze: squeezeLike("Squeeze"),
  Unsqueeze: squeezeLike("Unsqueeze"),
};

export function isSupported(opType: string, domain = ""): boolean {
  return domain === "" && Object.hasOwn(OPERATORS, opType);
}

/** Prepares the reference kernel of one operator. */
export function prepareOperator(opType: string, ctx: OpContext, domain = ""): OpKernel {
  if (!isSupported(opType, domain)) fail(`no reference implementation of ${domain === "" ? "" : `${domain}.`}${opType}`, { opType, domain });
  return OPERATORS[opType]!(ctx);
}

/** Computes every element of every output: the whole-tensor reference. */
export function evaluateKernel(kernel: OpKernel): Tensor[] {
  return kernel.outputs.map((type, o) => {
    const n = numel(type.shape);
    const Ctor = {
      float32: Float32Array,
      float64: Float64Array,
      int64: BigInt64Array,
      uint64: BigUint64Array,
      int32: Int32Array,
      uint32: Uint32Array,
      int16: Int16Array,
      uint16: Uint16Array,
      int8: Int8Array,
      uint8: Uint8Array,
      bool: Uint8Array,
      float16: Uint16Array,
    }[type.dtype];
    const data = new Ctor(n) as TensorData;
    for (let i = 0; i < n; i++) (data as unknown as Array<number | bigint>)[i] = kernel.element(o, i).value;
    return { dtype: type.dtype, shape: type.shape, data };
  });
}
