/** The map kernel: elementwise float expressions compiled to loops, integer maps, quantization rounding. */
import type { DType } from "../../protocol/index.js";
import { cerf, cexp, clog, cpow, csigmoid, ctanh } from "../math.js";
import { type Params, type Step, canonicalError, numelOf } from "../program.js";
import { INT_RANGE, type NumArray, type Store, broadcastOffsets, wrapTo } from "./common.js";

export type F = (a: number, b: number, c: number, d: number) => number;

/** Binary64 constants of the Gelu definitions (nearest binary64 of 1/√2, √(2/π), and 0.044715). */
export const INV_SQRT2 = 0.7071067811865476;
export const SQRT_2_OVER_PI = 0.7978845608028654;
export const GELU_C = 0.044715;

/** max(0, min(1, v)), NaN passing through. */
export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** What generated map loops may call (the canonical functions of canonical/math.ts and constants). */
export const LIB = { cpow, cexp, clog, csigmoid, ctanh, cerf, clamp01, INV_SQRT2, SQRT_2_OVER_PI, GELU_C };

/**
 * THE definition of every float map: a binary64 expression over the operands a, b, c, d (in operand
 * order), parameters `P_<name>` (= params[name][0]) and `L.<function>` (LIB). The runtime compiles each
 * into a monomorphic loop (floatLoop), so the expression is evaluated exactly as written here, then
 * rounded once by the storage format.
 */
export const FLOAT_EXPR: Record<string, (step: Step) => string> = {
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

export type Loop = (x: readonly NumArray[], idx: ReadonlyArray<Int32Array | null>, out: NumArray, store: Store, lib: typeof LIB, params: Params) => void;
export const LOOPS = new Map<string, Loop>();
export const OPERAND_NAMES = ["a", "b", "c", "d"];

/**
 * A compiled loop for one float map shape: the op's expression inlined, each operand read directly
 * (`d`), through its broadcast offsets (`i`) or hoisted as a scalar (`s`); `store(...)` unless the
 * typed-array write is itself the rounding (fp32, tf32).
 */
export function floatLoop(step: Step, patterns: string, exactStore: boolean): Loop {
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
export function intMap(step: Step): F {
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
export function castToInt(dt: DType): F {
  const [lo, hi] = INT_RANGE[dt] ?? [0, 0];
  return (a) => (a !== a ? 0 : a <= lo ? lo : a >= hi ? hi : Math.trunc(a));
}

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
