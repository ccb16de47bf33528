/**
 * Whole-tensor kernels of the canonical runtime. Each computes exactly the step semantics of
 * canonical/program.ts (docs/CANONICAL.md): binary64 arithmetic in the documented term order, one
 * rounding at the end (`store`). They are written for speed (typed arrays, precomputed offsets, no
 * per-element objects) but never reorder a fold.
 */
import { cerf, cexp, clog, cpow, csigmoid, ctanh } from "./math.js";
import { canonicalError, numelOf, stridesOf, type Params, type Step, type TensorType } from "./program.js";
import type { DType, TensorData } from "../protocol/tensor.js";

/** Numbers in, numbers out: every canonical tensor the runtime holds (no 64-bit integer data). */
export type NumArray = Exclude<TensorData, BigInt64Array | BigUint64Array>;

/** Flat operand index for each output element, for an operand of shape `view` broadcast to `out`; null when identical. */
export function broadcastOffsets(out: readonly number[], view: readonly number[]): Int32Array | null {
  if (view.length === out.length && view.every((d, i) => d === out[i])) return null;
  if (numelOf(view) === 1) return new Int32Array(numelOf(out));
  const rank = out.length;
  const off = rank - view.length;
  const vs = stridesOf(view);
  // A broadcast axis reads with stride 0.
  const strides = new Array<number>(rank).fill(0);
  for (let d = 0; d < view.length; d++) if (view[d] !== 1) strides[d + off] = vs[d]!;
  return stridedOffsets(out, 0, strides);
}

/** Flat input offsets of a strided view: out coordinate j_d reads in coordinate start_d + j_d·step_d along axes perm_d. */
function stridedOffsets(out: readonly number[], base: number, strides: readonly number[]): Int32Array {
  const n = numelOf(out);
  const res = new Int32Array(n);
  const rank = out.length;
  const coord = new Array<number>(rank).fill(0);
  let j = base;
  for (let i = 0; i < n; i++) {
    res[i] = j;
    for (let d = rank - 1; d >= 0; d--) {
      coord[d]!++;
      j += strides[d]!;
      if (coord[d]! < out[d]!) break;
      j -= strides[d]! * out[d]!;
      coord[d] = 0;
    }
  }
  return res;
}

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/** Two's-complement wrap of an integer-valued number into `dtype`. */
export function wrapTo(dtype: DType, v: number): number {
  switch (dtype) {
    case "int8":
      return (v << 24) >> 24;
    case "uint8":
      return v & 0xff;
    case "int16":
      return (v << 16) >> 16;
    case "uint16":
      return v & 0xffff;
    case "int32":
      return v | 0;
    case "uint32":
      return v >>> 0;
    default:
      return v;
  }
}

type F = (a: number, b: number, c: number, d: number) => number;

/** Binary64 constants of the Gelu definitions (nearest binary64 of 1/√2, √(2/π), and 0.044715). */
const INV_SQRT2 = 0.7071067811865476;
const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_C = 0.044715;

/** max(0, min(1, v)), NaN passing through. */
function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** What generated map loops may call (the canonical functions of canonical/math.ts and constants). */
const LIB = { cpow, cexp, clog, csigmoid, ctanh, cerf, clamp01, INV_SQRT2, SQRT_2_OVER_PI, GELU_C };

/**
 * THE definition of every float map: a binary64 expression over the operands a, b, c, d (in operand
 * order), parameters `P_<name>` (= params[name][0]) and `L.<function>` (LIB). The runtime compiles each
 * into a monomorphic loop (floatLoop), so the expression is evaluated exactly as written here, then
 * rounded once by the storage format.
 */
const FLOAT_EXPR: Record<string, (step: Step) => string> = {
  add: () => "a + b",
  sub: () => "a - b",
  mul: () => "a * b",
  div: () => "a / b",
  max: () => "(a !== a || b !== b ? NaN : b > a ? b : a)",
  min: () => "(a !== a || b !== b ? NaN : b < a ? b : a)",
  pow: () => "L.cpow(a, b)",
  neg: () => "-a",
  abs: () => "Math.abs(a)",
  relu: () => "(a > 0 ? a : a !== a ? a : 0)",
  sqrt: () => "Math.sqrt(a)",
  exp: () => "L.cexp(a)",
  log: () => "L.clog(a)",
  sigmoid: () => "L.csigmoid(a)",
  tanh: () => "L.ctanh(a)",
  erf: () => "L.cerf(a)",
  reciprocal: () => "1 / a",
  floor: () => "Math.floor(a)",
  ceil: () => "Math.ceil(a)",
  clip: () => "(a < P_min ? P_min : a > P_max ? P_max : a)",
  hardsigmoid: () => "L.clamp01(P_alpha * a + P_beta)",
  hardswish: () => "a * L.clamp01(a / 6 + 0.5)",
  leakyrelu: () => "(a < 0 ? P_alpha * a : a)",
  bn_scale: () => "a / Math.sqrt(b + P_epsilon)",
  bn_apply: () => "(a - b) * c + d",
  exp_sub: () => "L.cexp(a - b)",
  ln_apply: (step) => (step.operands.length > 3 ? "(a / Math.sqrt(b + P_epsilon)) * c + d" : "(a / Math.sqrt(b + P_epsilon)) * c"),
  scale: () => "a * P_k",
  gelu: () => "a * (1 + L.cerf(a * L.INV_SQRT2)) * 0.5",
  gelu_tanh: () => "a * (1 + L.ctanh(L.SQRT_2_OVER_PI * (a + L.GELU_C * (a * a * a)))) * 0.5",
  cast: () => "a", // int → float: exact, then the storage rounding
  where: () => "(a !== 0 ? b : c)", // a: the bool condition (0 or 1)
  prelu: () => "(a < 0 ? a * b : a)",
  fill: () => "P_value",
  dequantize: (step) => (step.operands.length > 2 ? "(a - c) * b" : "a * b"),
  qscale: () => "Math.fround(Math.fround(a * b) / c)",
  dql_scale: () => "(a + b === 0 ? 1 : Math.fround(Math.fround(a + b) / 255))",
};

type Loop = (x: readonly NumArray[], idx: ReadonlyArray<Int32Array | null>, out: NumArray, store: Store, lib: typeof LIB, params: Params) => void;
const LOOPS = new Map<string, Loop>();
const OPERAND_NAMES = ["a", "b", "c", "d"];

/**
 * A compiled loop for one float map shape: the op's expression inlined, each operand read directly
 * (`d`), through its broadcast offsets (`i`) or hoisted as a scalar (`s`); `store(...)` unless the
 * typed-array write is itself the rounding (fp32, tf32).
 */
function floatLoop(step: Step, patterns: string, exactStore: boolean): Loop {
  const expr = FLOAT_EXPR[step.op]?.(step);
  if (expr === undefined) throw canonicalError("OP_UNSUPPORTED", `no float map ${step.op}`);
  const key = `${expr}|${patterns}|${exactStore}`;
  let loop = LOOPS.get(key);
  if (loop === undefined) {
    const paramNames = [...new Set(Array.from(expr.matchAll(/P_(\w+)/g), (m) => m[1]!))];
    const lines = ['"use strict";', "const n = out.length;"];
    for (const name of paramNames) lines.push(`const P_${name} = params[${JSON.stringify(name)}][0];`);
    [...patterns].forEach((pt, k) => {
      lines.push(`const x${k} = x[${k}];`);
      if (pt === "i") lines.push(`const i${k} = idx[${k}];`);
      if (pt === "s") lines.push(`const ${OPERAND_NAMES[k]} = x${k}[0];`);
    });
    const reads = [...patterns].flatMap((pt, k) => (pt === "d" ? [`const ${OPERAND_NAMES[k]} = x${k}[i];`] : pt === "i" ? [`const ${OPERAND_NAMES[k]} = x${k}[i${k}[i]];`] : []));
    lines.push("const L = lib;", "for (let i = 0; i < n; i++) {", ...reads, exactStore ? `out[i] = ${expr};` : `out[i] = store(${expr});`, "}");
    loop = new Function("x", "idx", "out", "store", "lib", "params", lines.join("\n")) as Loop;
    LOOPS.set(key, loop);
  }
  return loop;
}

/** Round half to even of a finite binary64 value (ONNX's rounding of QuantizeLinear). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f; // exact
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/**
 * The quantized value of v with zero point zp in [lo, hi]: NaN counts as 0; v is clamped to
 * [lo − zp, hi − zp] (as onnxruntime's MLAS does, so ±Inf saturate), rounded half to even, plus zp.
 */
export function quantizeValue(v: number, zp: number, lo: number, hi: number): number {
  const x = v !== v ? 0 : v < lo - zp ? lo - zp : v > hi - zp ? hi - zp : v;
  return roundHalfEven(x) + zp;
}

/** The function of an integer map step, wrapped to the output dtype (two's complement). */
function intMap(step: Step): F {
  const p = step.params;
  const dt = step.output.dtype;
  const w = (v: number) => wrapTo(dt, v);
  switch (step.op) {
    case "add": return (a, b) => w(a + b);
    case "sub": return (a, b) => w(a - b);
    case "mul": return (a, b) => w(Math.imul(a, b));
    // Truncation toward zero (C semantics, as onnxruntime); a zero divisor gives 0 (ONNX leaves it undefined).
    case "div": return (a, b) => (b === 0 ? 0 : w(Math.trunc(a / b)));
    case "max": return (a, b) => (b > a ? b : a);
    case "min": return (a, b) => (b < a ? b : a);
    case "neg": return (a) => w(-a);
    case "abs": return (a) => w(Math.abs(a));
    case "relu": return (a) => (a > 0 ? a : 0);
    case "clip": {
      const lo = p.min![0]!;
      const hi = p.max![0]!;
      return (a) => (a < lo ? lo : a > hi ? hi : a);
    }
    // Comparisons (bool out; float or integer operands compared as numbers: NaN unequal, +0 == −0).
    case "equal": return (a, b) => (a === b ? 1 : 0);
    case "less": return (a, b) => (a < b ? 1 : 0);
    case "greater": return (a, b) => (a > b ? 1 : 0);
    case "less_equal": return (a, b) => (a <= b ? 1 : 0);
    case "greater_equal": return (a, b) => (a >= b ? 1 : 0);
    case "not": return (a) => (a === 0 ? 1 : 0);
    case "and": return (a, b) => (a !== 0 && b !== 0 ? 1 : 0);
    case "or": return (a, b) => (a !== 0 || b !== 0 ? 1 : 0);
    case "xor": return (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0);
    case "where": return (a, b, c) => (a !== 0 ? b : c);
    case "fill": {
      const v = p.value![0]!;
      return () => v;
    }
    case "quantize":
    case "requantize": {
      const [lo, hi] = INT_RANGE[dt] ?? [0, 0];
      if (step.op === "quantize") return (a, b, c) => quantizeValue(Math.fround(a / b), c, lo, hi);
      return (a, b, c) => quantizeValue(Math.fround(Math.fround(a) * b), c, lo, hi);
    }
    default:
      throw canonicalError("OP_UNSUPPORTED", `no integer map ${step.op}`);
  }
}

/** Float → integer cast: NaN → 0, truncation toward zero, saturation at the dtype's range. */
function castToInt(dt: DType): F {
  const [lo, hi] = INT_RANGE[dt] ?? [0, 0];
  return (a) => (a !== a ? 0 : a <= lo ? lo : a >= hi ? hi : Math.trunc(a));
}

export type Store = (x: number) => number;

/** Evaluates a map step into `out`. `store` rounds float results to the precision (identity for integers). */
export function mapKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, exactStore = false): void {
  const outType = step.output;
  const n = out.length;
  const views = step.operandTypes.map((t, k) => step.params[`view${k}`] ?? t.shape);
  const idx = views.map((v) => broadcastOffsets(outType.shape, v));
  if (outType.dtype === "float32") {
    const patterns = views.map((v, k) => (idx[k] === null ? "d" : numelOf(v) === 1 ? "s" : "i")).join("");
    floatLoop(step, patterns, exactStore)(ins, idx, out, store, LIB, step.params);
    return;
  }
  let f: F;
  if (step.op === "cast") f = step.operandTypes[0]!.dtype === "float32" ? castToInt(outType.dtype) : (a) => wrapTo(outType.dtype, a);
  else f = intMap(step);
  const [x0, x1, x2, x3] = [ins[0]!, ins[1] ?? ins[0]!, ins[2] ?? ins[0]!, ins[3] ?? ins[0]!];
  const [i0, i1, i2, i3] = [idx[0] ?? null, idx[1] ?? null, idx[2] ?? null, idx[3] ?? null];
  const arity = ins.length;
  for (let i = 0; i < n; i++) {
    const a = x0[i0 === null ? i : i0[i]!] as number;
    const b = arity > 1 ? (x1[i1 === null ? i : i1[i]!] as number) : 0;
    const c = arity > 2 ? (x2[i2 === null ? i : i2[i]!] as number) : 0;
    const d = arity > 3 ? (x3[i3 === null ? i : i3[i]!] as number) : 0;
    out[i] = store(f(a, b, c, d));
  }
}

/** One map element from its operand values (canonical/element.ts): the same definitions as mapKernel. */
export function evalMapElement(step: Step, vals: readonly number[], store: Store): number {
  if (step.output.dtype === "float32") {
    const out = new Float64Array(1);
    floatLoop(step, "d".repeat(vals.length), false)(vals.map((v) => Float64Array.of(v)), vals.map(() => null), out, store, LIB, step.params);
    return out[0]!;
  }
  const f = step.op === "cast" ? (step.operandTypes[0]!.dtype === "float32" ? castToInt(step.output.dtype) : (a: number) => wrapTo(step.output.dtype, a)) : intMap(step);
  return f(vals[0]!, vals[1] ?? 0, vals[2] ?? 0, vals[3] ?? 0);
}

/** Evaluates a move step into `out` (values copied bit for bit). */
export function moveKernel(step: Step, ins: readonly NumArray[], out: NumArray): void {
  const outShape = step.output.shape;
  const x = ins[0]!;
  switch (step.op) {
    case "reshape":
      out.set(x as never);
      return;
    case "transpose": {
      const perm = step.params.perm!;
      const inStrides = stridesOf(step.operandTypes[0]!.shape);
      const offs = stridedOffsets(outShape, 0, perm.map((p) => inStrides[p]!));
      for (let i = 0; i < offs.length; i++) out[i] = x[offs[i]!]!;
      return;
    }
    case "slice": {
      const starts = step.params.starts!;
      const steps = step.params.steps!;
      const inStrides = stridesOf(step.operandTypes[0]!.shape);
      const base = starts.reduce((a, s, d) => a + s * inStrides[d]!, 0);
      const offs = stridedOffsets(outShape, base, steps.map((s, d) => s * inStrides[d]!));
      for (let i = 0; i < offs.length; i++) out[i] = x[offs[i]!]!;
      return;
    }
    case "concat": {
      const axis = step.params.axis![0]!;
      const outer = numelOf(outShape.slice(0, axis));
      const inner = numelOf(outShape.slice(axis + 1));
      const row = outShape[axis]! * inner;
      let at = 0;
      ins.forEach((t, k) => {
        const len = step.operandTypes[k]!.shape[axis]! * inner;
        for (let o = 0; o < outer; o++) out.set(t.subarray(o * len, (o + 1) * len) as never, o * row + at);
        at += len;
      });
      return;
    }
    case "expand": {
      const offs = broadcastOffsets(outShape, step.operandTypes[0]!.shape);
      if (offs === null) out.set(x as never);
      else for (let i = 0; i < offs.length; i++) out[i] = x[offs[i]!]!;
      return;
    }
    case "resize_nearest": {
      const inShape = step.operandTypes[0]!.shape;
      const scales = step.params.scales!;
      const inStrides = stridesOf(inShape);
      // Per axis: the input offset of each output coordinate.
      const axisOffsets = outShape.map((d, a) => Int32Array.from({ length: d }, (_, o) => Math.min(Math.floor(o / scales[a]!), inShape[a]! - 1) * inStrides[a]!));
      const rank = outShape.length;
      const coord = new Array<number>(rank).fill(0);
      const n = out.length;
      for (let i = 0; i < n; i++) {
        let j = 0;
        for (let a = 0; a < rank; a++) j += axisOffsets[a]![coord[a]!]!;
        out[i] = x[j]!;
        for (let a = rank - 1; a >= 0; a--) {
          coord[a]!++;
          if (coord[a]! < outShape[a]!) break;
          coord[a] = 0;
        }
      }
      return;
    }
    case "constant": {
      const v = step.params.values!;
      for (let i = 0; i < out.length; i++) out[i] = v[i]!;
      return;
    }
    case "gather": {
      // out = x[pre, indices[j], post]: outer × J × inner blocks.
      const inShape = step.operandTypes[0]!.shape;
      const axis = step.params.axis![0]!;
      const indices = step.params.indices!;
      const outer = numelOf(inShape.slice(0, axis));
      const inner = numelOf(inShape.slice(axis + 1));
      const size = inShape[axis]!;
      let o = 0;
      for (let p = 0; p < outer; p++)
        for (let j = 0; j < indices.length; j++) {
          const base = (p * size + indices[j]!) * inner;
          for (let t = 0; t < inner; t++) out[o++] = x[base + t]!;
        }
      return;
    }
    case "gather_elements": {
      const inShape = step.operandTypes[0]!.shape;
      const axis = step.params.axis![0]!;
      const indices = step.params.indices!;
      const inStrides = stridesOf(inShape);
      const rank = outShape.length;
      const coord = new Array<number>(rank).fill(0);
      for (let i = 0; i < out.length; i++) {
        let j = 0;
        for (let d = 0; d < rank; d++) j += (d === axis ? indices[i]! : coord[d]!) * inStrides[d]!;
        out[i] = x[j]!;
        for (let d = rank - 1; d >= 0; d--) {
          coord[d]!++;
          if (coord[d]! < outShape[d]!) break;
          coord[d] = 0;
        }
      }
      return;
    }
    case "pad":
    case "tile": {
      const inShape = step.operandTypes[0]!.shape;
      const inStrides = stridesOf(inShape);
      const rank = outShape.length;
      const mode = step.params.mode?.[0] ?? 0;
      const pads = step.params.pads ?? [];
      const fill = step.params.value?.[0] ?? 0;
      // Per axis: the input offset of each output coordinate, or −1 where a constant pad writes the value.
      const axisOffsets = outShape.map((d, a) =>
        Int32Array.from({ length: d }, (_, o) => {
          const size = inShape[a]!;
          if (step.op === "tile") return (o % size) * inStrides[a]!;
          let c = o - pads[a]!;
          if (c < 0 || c >= size) {
            if (mode === 0) return -1;
            if (mode === 2) c = c < 0 ? 0 : size - 1;
            else c = c < 0 ? -c : 2 * (size - 1) - c;
          }
          return c * inStrides[a]!;
        }),
      );
      const coord = new Array<number>(rank).fill(0);
      for (let i = 0; i < out.length; i++) {
        let j = 0;
        for (let a = 0; a < rank; a++) {
          const off = axisOffsets[a]![coord[a]!]!;
          if (off < 0) {
            j = -1;
            break;
          }
          j += off;
        }
        out[i] = j < 0 ? fill : x[j]!;
        for (let a = rank - 1; a >= 0; a--) {
          coord[a]!++;
          if (coord[a]! < outShape[a]!) break;
          coord[a] = 0;
        }
      }
      return;
    }
    default:
      throw canonicalError("OP_UNSUPPORTED", `no move ${step.op}`);
  }
}

/** Contraction operands as binary64 arrays (tf32: rounded to tf32 first). */
export type OperandRound = (data: NumArray) => ArrayLike<number>;

/**
 * conv: out[n, m, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in (c, kh, kw) row-major
 * order over the group's input channels, term = x[n, g·Cg + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[m, c, kh, kw],
 * or +0 where that input coordinate lies in the padding.
 */
export function convKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [M, Cg, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
  const [, , OH, OW] = step.output.shape as [number, number, number, number];
  const group = step.params.group![0]!;
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Mg = M / group;
  const P = OH * OW;
  const K = Cg * KH * KW;
  // Column matrices pay off when several output channels share them (not for depthwise convolutions).
  if (Mg >= 4 && P * K <= 1 << 24 && allFinite(w)) {
    convIm2col(step, x, w, bias, out, store);
    return;
  }
  // Loops run (c, kh, kw) outermost and output positions innermost: each element still folds its
  // terms in (c, kh, kw) order, one binary64 addition at a time, into its own accumulator.
  const acc = new Float64Array(P);
  // Whether an output position's window reaches into the padding (the same for every channel).
  const padded = new Uint8Array(P);
  for (let oh = 0; oh < OH; oh++) {
    for (let ow = 0; ow < OW; ow++) {
      let pad = 0;
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh - ph + kh * dh;
        if (ih < 0 || ih >= H) pad = 1;
      }
      for (let kw = 0; kw < KW; kw++) {
        const iw = ow * sw - pw + kw * dw;
        if (iw < 0 || iw >= W) pad = 1;
      }
      padded[oh * OW + ow] = pad;
    }
  }
  // For each kw, the range of ow whose input column lies inside the image.
  const owLo = new Int32Array(KW);
  const owHi = new Int32Array(KW);
  for (let kw = 0; kw < KW; kw++) {
    let lo = 0;
    while (lo < OW && lo * sw - pw + kw * dw < 0) lo++;
    let hi = OW;
    while (hi > lo && (hi - 1) * sw - pw + kw * dw >= W) hi--;
    owLo[kw] = lo;
    owHi[kw] = hi;
  }
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      acc.fill(bias === undefined ? 0 : (bias[m] as number));
      const wBase = m * Cg * KH * KW;
      for (let c = 0; c < Cg; c++) {
        const xBase = (n * C + g * Cg + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const wv = w[wBase + (c * KH + kh) * KW + kw]!;
            const lo = owLo[kw]!;
            const hi = owHi[kw]!;
            const iwOff = kw * dw - pw;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              const xRow = xBase + ih * W + iwOff;
              const aRow = oh * OW;
              if (sw === 1) for (let ow = lo; ow < hi; ow++) acc[aRow + ow] = acc[aRow + ow]! + x[xRow + ow]! * wv;
              else for (let ow = lo; ow < hi; ow++) acc[aRow + ow] = acc[aRow + ow]! + x[xRow + ow * sw]! * wv;
            }
          }
        }
      }
      // A padding term adds +0: it changes nothing except turning a final −0 into +0.
      for (let p = 0; p < P; p++) out[o++] = store(padded[p] === 1 ? acc[p]! + 0 : acc[p]!);
    }
  }
}

/**
 * conv3d (NCDHW): out[n, m, od, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in
 * (c, kd, kh, kw) row-major order over the group's input channels, term = x[n, g·Cg + c, od·sd − pd + kd·dd,
 * oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[m, c, kd, kh, kw], or +0 in the padding (added as such).
 */
export function conv3dKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
  const [M, Cg, KD, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number, number];
  const [, , OD, OH, OW] = step.output.shape as [number, number, number, number, number];
  const group = step.params.group![0]!;
  const [sd, sh, sw] = step.params.strides! as [number, number, number];
  const [pd, ph, pw] = step.params.pads! as [number, number, number];
  const [dd, dh, dw] = step.params.dilations! as [number, number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Mg = M / group;
  let o = 0;
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const init = bias === undefined ? 0 : (bias[m] as number);
      for (let od = 0; od < OD; od++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let s = init;
            let wi = m * Cg * KD * KH * KW;
            for (let c = 0; c < Cg; c++) {
              const xc = (n * C + g * Cg + c) * D;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * sd - pd + kd * dd;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * sh - ph + kh * dh;
                  for (let kw = 0; kw < KW; kw++, wi++) {
                    const iw = ow * sw - pw + kw * dw;
                    if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) s += 0;
                    else s += (x[((xc + id) * H + ih) * W + iw] as number) * (w[wi] as number);
                  }
                }
              }
            }
            out[o++] = store(s);
          }
    }
}

/**
 * pool3d (NCDHW): window terms in (kd, kh, kw) row-major order. max: init −Inf, a padding term −Inf;
 * mean: init +0, a padding term +0 (added as such), finalize ÷ count (kd·kh·kw with countIncludePad, else
 * the in-bounds count).
 */
export function pool3dKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const [N, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
  const [, , OD, OH, OW] = step.output.shape as [number, number, number, number, number];
  const isMax = step.params.fn![0] === 1;
  const [KD, KH, KW] = step.params.kernel! as [number, number, number];
  const [sd, sh, sw] = step.params.strides! as [number, number, number];
  const [pd, ph, pw] = step.params.pads! as [number, number, number];
  const [dd, dh, dw] = step.params.dilations! as [number, number, number];
  const includePad = step.params.countIncludePad![0] === 1;
  const x = ins[0]!;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = isMax ? -Infinity : 0;
          let count = 0;
          for (let kd = 0; kd < KD; kd++) {
            const id = od * sd - pd + kd * dd;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh * dh;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pw + kw * dw;
                const inside = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;
                const t = inside ? (x[((nc * D + id) * H + ih) * W + iw] as number) : isMax ? -Infinity : 0;
                if (inside) count++;
                if (isMax) {
                  if (t > s || t !== t) s = t;
                } else s += t;
              }
            }
          }
          out[o++] = store(isMax ? s : s / (includePad ? KD * KH * KW : count));
        }
}

/** Weights as binary64, converted once per weight array (weights never change during a run). */
const FLOAT64_COPIES = new WeakMap<object, Float64Array>();
function asFloat64(a: ArrayLike<number>): Float64Array {
  if (a instanceof Float64Array) return a;
  let copy = FLOAT64_COPIES.get(a);
  if (copy === undefined || copy.length !== a.length) {
    copy = Float64Array.from(a);
    FLOAT64_COPIES.set(a, copy);
  }
  return copy;
}

/** A reused column buffer (kernels run one at a time and never keep it). */
let SCRATCH = new Float64Array(0);
function scratch(n: number): Float64Array {
  if (SCRATCH.length < n) SCRATCH = new Float64Array(n);
  return SCRATCH;
}

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/**
 * The same fold through a column matrix (for finite weights): col[p][k] holds x at term k of output
 * position p, or 0 in the padding. A padding term then adds 0·w = ±0 instead of +0; with finite w that
 * changes nothing but the sign of a zero sum, which the final `+ 0` fixes (a sum with a +0 term
 * anywhere is never −0), so the results are the canonical ones bit for bit.
 */
function convIm2col(step: Step, x: ArrayLike<number>, w: ArrayLike<number>, bias: NumArray | undefined, out: NumArray, store: Store): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [M, Cg, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
  const [, , OH, OW] = step.output.shape as [number, number, number, number];
  const group = step.params.group![0]!;
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const Mg = M / group;
  const P = OH * OW;
  const K = Cg * KH * KW;
  const wf = asFloat64(w);
  const col = scratch(P * K);
  const padded = new Uint8Array(P);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < group; g++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const p = oh * OW + ow;
          let k = p * K;
          let pad = 0;
          for (let c = 0; c < Cg; c++) {
            const xBase = (n * C + g * Cg + c) * H * W;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh * dh;
              const rowIn = ih >= 0 && ih < H;
              for (let kw = 0; kw < KW; kw++, k++) {
                const iw = ow * sw - pw + kw * dw;
                if (rowIn && iw >= 0 && iw < W) col[k] = x[xBase + ih * W + iw]!;
                else {
                  col[k] = 0;
                  pad = 1;
                }
              }
            }
          }
          padded[p] = pad;
        }
      }
      // Four output channels at a time: four independent folds (each still sequential in k) share the column loads.
      let m = g * Mg;
      const mEnd = (g + 1) * Mg;
      for (; m + 4 <= mEnd; m += 4) {
        const i0 = bias === undefined ? 0 : (bias[m] as number);
        const i1 = bias === undefined ? 0 : (bias[m + 1] as number);
        const i2 = bias === undefined ? 0 : (bias[m + 2] as number);
        const i3 = bias === undefined ? 0 : (bias[m + 3] as number);
        const w0 = m * K;
        const w1 = w0 + K;
        const w2 = w1 + K;
        const w3 = w2 + K;
        const o0 = (n * M + m) * P;
        for (let p = 0; p < P; p++) {
          let s0 = i0;
          let s1 = i1;
          let s2 = i2;
          let s3 = i3;
          const cBase = p * K;
          for (let k = 0; k < K; k++) {
            const v = col[cBase + k]!;
            s0 += v * wf[w0 + k]!;
            s1 += v * wf[w1 + k]!;
            s2 += v * wf[w2 + k]!;
            s3 += v * wf[w3 + k]!;
          }
          if (padded[p] === 1) {
            s0 += 0;
            s1 += 0;
            s2 += 0;
            s3 += 0;
          }
          out[o0 + p] = store(s0);
          out[o0 + P + p] = store(s1);
          out[o0 + 2 * P + p] = store(s2);
          out[o0 + 3 * P + p] = store(s3);
        }
      }
      for (; m < mEnd; m++) {
        const init = bias === undefined ? 0 : (bias[m] as number);
        const wBase = m * K;
        let o = (n * M + m) * P;
        for (let p = 0; p < P; p++) {
          let s = init;
          const cBase = p * K;
          for (let k = 0; k < K; k++) s += col[cBase + k]! * wf[wBase + k]!;
          out[o++] = store(padded[p] === 1 ? s + 0 : s);
        }
      }
    }
  }
}

/**
 * convtranspose: out[n, m, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in (c, kh, kw)
 * row-major order over the group's input channels; term = x[n, c, ih, iw] · w[c, m − g·Mg, kh, kw] when
 * oh = ih·sh − ph + kh·dh and ow = iw·sw − pw + kw·dw for an (ih, iw) inside the input, else +0.
 */
export function convTransposeKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [, Mg, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
  const [, M, OH, OW] = step.output.shape as [number, number, number, number];
  const group = step.params.group![0]!;
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Cg = C / group;
  // Per output row (column): for each kh (kw), the input row (column) it reads, or −1.
  const rowOf = new Int32Array(OH * KH);
  for (let oh = 0; oh < OH; oh++) {
    for (let kh = 0; kh < KH; kh++) {
      const t = oh + ph - kh * dh;
      const ih = t / sh;
      rowOf[oh * KH + kh] = t >= 0 && t % sh === 0 && ih < H ? ih : -1;
    }
  }
  const colOf = new Int32Array(OW * KW);
  for (let ow = 0; ow < OW; ow++) {
    for (let kw = 0; kw < KW; kw++) {
      const t = ow + pw - kw * dw;
      const iw = t / sw;
      colOf[ow * KW + kw] = t >= 0 && t % sw === 0 && iw < W ? iw : -1;
    }
  }
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const mm = m - g * Mg;
      const init = bias === undefined ? 0 : (bias[m] as number);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = init;
          let zeroTerm = false;
          for (let c = g * Cg; c < (g + 1) * Cg; c++) {
            const xBase = (n * C + c) * H * W;
            const wBase = (c * Mg + mm) * KH * KW;
            for (let kh = 0; kh < KH; kh++) {
              const ih = rowOf[oh * KH + kh]!;
              for (let kw = 0; kw < KW; kw++) {
                const iw = colOf[ow * KW + kw]!;
                if (ih < 0 || iw < 0) zeroTerm = true;
                else s += x[xBase + ih * W + iw]! * w[wBase + kh * KW + kw]!;
              }
            }
          }
          if (zeroTerm) s += 0;
          out[o++] = store(s);
        }
      }
    }
  }
}

/**
 * matmul: out[..., i, j] = fl(fold(init, a[..., i, k] · b[..., k, j] for k = 0..K−1)), init = c (broadcast) or +0;
 * transA/transB read the 2-D operand transposed (Gemm). Integer operands: the fold wraps in int32.
 */
export function matmulKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const aShape = step.operandTypes[0]!.shape;
  const bShape = step.operandTypes[1]!.shape;
  const outShape = step.output.shape;
  const transA = step.params.transA![0] === 1;
  const transB = step.params.transB![0] === 1;
  const rank = outShape.length;
  const M = outShape[rank - 2]!;
  const N = outShape[rank - 1]!;
  const K = transA ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
  const batchShape = outShape.slice(0, rank - 2);
  const aBatch = broadcastOffsets(batchShape, aShape.slice(0, -2));
  const bBatch = broadcastOffsets(batchShape, bShape.slice(0, -2));
  const batches = numelOf(batchShape);
  const integer = step.output.dtype !== "float32";
  const a = integer ? ins[0]! : operand(ins[0]!);
  const b = integer ? ins[1]! : operand(ins[1]!);
  const cOff = ins[2] === undefined ? undefined : broadcastOffsets(outShape, step.operandTypes[2]!.shape);
  const c = ins[2];
  // (row, k) → offset within one matrix.
  const aRow = transA ? 1 : K;
  const aK = transA ? M : 1;
  const bK = transB ? 1 : N;
  const bCol = transB ? K : 1;
  if (!integer && c === undefined) {
    matmulRows(a, b, aBatch, bBatch, batches, M, N, K, transA, transB, out, store);
    return;
  }
  let o = 0;
  for (let bt = 0; bt < batches; bt++) {
    const aBase = (aBatch === null ? bt : aBatch[bt]!) * M * K;
    const bBase = (bBatch === null ? bt : bBatch[bt]!) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = c === undefined ? 0 : (c[cOff === null || cOff === undefined ? o : cOff[o]!] as number);
        let ai = aBase + i * aRow;
        let bi = bBase + j * bCol;
        if (integer) {
          for (let k = 0; k < K; k++, ai += aK, bi += bK) s = (s + (a[ai] as number) * (b[bi] as number)) | 0;
          out[o++] = s;
        } else {
          for (let k = 0; k < K; k++, ai += aK, bi += bK) s += (a[ai] as number) * (b[bi] as number);
          out[o++] = store(s);
        }
      }
    }
  }
}

/** Float matmul without init through contiguous rows: a's row i and b's column j copied as binary64, four columns at a time (four independent sequential folds). */
function matmulRows(a: ArrayLike<number>, b: ArrayLike<number>, aBatch: Int32Array | null, bBatch: Int32Array | null, batches: number, M: number, N: number, K: number, transA: boolean, transB: boolean, out: NumArray, store: Store): void {
  const aRows = new Float64Array(M * K);
  const bCols = new Float64Array(N * K);
  let lastA = -1;
  let lastB = -1;
  for (let bt = 0; bt < batches; bt++) {
    const ab = aBatch === null ? bt : aBatch[bt]!;
    const bb = bBatch === null ? bt : bBatch[bt]!;
    if (ab !== lastA) {
      const base = ab * M * K;
      for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) aRows[i * K + k] = a[base + (transA ? k * M + i : i * K + k)]!;
      lastA = ab;
    }
    if (bb !== lastB) {
      const base = bb * K * N;
      for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) bCols[j * K + k] = b[base + (transB ? j * K + k : k * N + j)]!;
      lastB = bb;
    }
    const oBase = bt * M * N;
    for (let i = 0; i < M; i++) {
      const ai = i * K;
      const oRow = oBase + i * N;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const b0 = j * K;
        const b1 = b0 + K;
        const b2 = b1 + K;
        const b3 = b2 + K;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = 0; k < K; k++) {
          const v = aRows[ai + k]!;
          s0 += v * bCols[b0 + k]!;
          s1 += v * bCols[b1 + k]!;
          s2 += v * bCols[b2 + k]!;
          s3 += v * bCols[b3 + k]!;
        }
        out[oRow + j] = store(s0);
        out[oRow + j + 1] = store(s1);
        out[oRow + j + 2] = store(s2);
        out[oRow + j + 3] = store(s3);
      }
      for (; j < N; j++) {
        const bj = j * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += aRows[ai + k]! * bCols[bj + k]!;
        out[oRow + j] = store(s);
      }
    }
  }
}

/**
 * pool (2-D, NCHW): window terms in (kh, kw) row-major order. max: init −Inf, a padding term is −Inf.
 * mean: init +0, a padding term is +0, finalize ÷ count (kh·kw with countIncludePad, else the in-bounds count).
 */
export function poolKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [, , OH, OW] = step.output.shape as [number, number, number, number];
  const isMax = step.params.fn![0] === 1;
  const [KH, KW] = step.params.kernel! as [number, number];
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const includePad = step.params.countIncludePad![0] === 1;
  const x = ins[0]!;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = isMax ? -Infinity : 0;
        let count = 0;
        let padded = false;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh * dh;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw * dw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
              padded = true;
              continue;
            }
            const t = x[base + ih * W + iw] as number;
            count++;
            if (isMax) {
              if (t > s || t !== t) s = t;
            } else s += t;
          }
        }
        if (isMax) out[o++] = store(s);
        else {
          if (padded) s += 0;
          out[o++] = store(s / (includePad ? KH * KW : count));
        }
      }
    }
  }
}

/**
 * reduce over `axes`: terms are the reduced coordinates in row-major order. sum: init +0; max: init
 * −Inf (NaN propagates); mean: the sum, finalize ÷ K.
 */
export function reduceKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const inShape = step.operandTypes[0]!.shape;
  const axes = step.params.axes!;
  const fn = step.params.fn![0]!;
  const strides = stridesOf(inShape);
  const reduced = axes.map((a) => inShape[a]!);
  const kept = inShape.map((_, d) => d).filter((d) => !axes.includes(d));
  const inner = stridedOffsets(reduced, 0, axes.map((a) => strides[a]!));
  const outer = stridedOffsets(kept.map((d) => inShape[d]!), 0, kept.map((d) => strides[d]!));
  const x = ins[0]!;
  const K = inner.length;
  for (let o = 0; o < outer.length; o++) {
    const base = outer[o]!;
    if (fn === 1) {
      let s = -Infinity;
      for (let k = 0; k < K; k++) {
        const t = x[base + inner[k]!] as number;
        if (t > s || t !== t) s = t;
      }
      out[o] = store(s);
    } else {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[base + inner[k]!] as number;
      out[o] = store(fn === 2 ? s / K : s);
    }
  }
}

export function typeLabel(t: TensorType): string {
  return `${t.dtype}[${t.shape}]`;
}
