/**
 * The canonical program (docs/CANONICAL.md, docs/V2.md §2): what an ONNX model plus a static input
 * shape lowers to. A list of steps in topological order, each producing exactly one tensor (its trace
 * tensor) with a static dtype and shape. Three kinds:
 *
 * - `map`:    out[e] = f(operand_0[b_0(e)], operand_1[b_1(e)], ...), operands broadcast to the output
 *             shape (numpy rules); f is one of MAP_OPS, evaluated in binary64 and rounded once.
 * - `move`:   out[e] = operand_k[idx(e)] for a pattern of MOVE_OPS (which operand k only for concat).
 * - `reduce`: out[e] = finalize(fold(init(e), term_0(e) … term_{K−1}(e))), a pattern of REDUCE_OPS
 *             fixing K, the term order and the init.
 */
import { OracleError, type Weight, type DType } from "../protocol/index.js";

export type StepKind = "map" | "move" | "reduce";

export interface TensorType {
  dtype: DType;
  shape: number[];
}

/**
 * Where a step reads an operand: model input i (canonical name order; absent index = 0, the only input of a
 * one-input model), weight i (v1 weight order), or an earlier step.
 */
export type Operand = { source: "input"; index?: number } | { source: "weight"; index: number } | { source: "step"; index: number };

/** Numeric parameters of a step, by name. Integers and float32 constants: all exact in binary64. */
export type Params = Record<string, number[]>;

/** Map functions (operands in order; params in brackets). Floats: binary64, then rounded to the precision. */
export const MAP_OPS = [
  "add", "sub", "mul", "div", "max", "min", "pow",
  "neg", "abs", "relu", "sqrt", "exp", "log", "sigmoid", "tanh", "erf", "reciprocal", "floor", "ceil",
  "clip", // [min, max]
  "hardsigmoid", // [alpha, beta]: max(0, min(1, alpha·x + beta))
  "hardswish", // x · max(0, min(1, x/6 + 1/2))
  "leakyrelu", // [alpha]
  "bn_scale", // (scale, var) [epsilon]: scale / sqrt(var + epsilon)
  "bn_apply", // (x, mean, s, bias): (x − mean)·s + bias
  "exp_sub", // (x, m): exp(x − m)
  "ln_apply", // (d, var, scale[, bias]) [epsilon]: d / sqrt(var + epsilon) · scale (+ bias)
  "scale", // [k]: a · k
  "gelu", // x · (1 + erf(x · 1/√2)) · 0.5
  "gelu_tanh", // x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))) · 0.5
  "cast", // [to]: ONNX dtype code of the output
  // Appended (codes above never change).
  "where", // (cond, x, y): cond ≠ 0 ? x : y
  "equal", // (a, b) → bool: a == b (NaN unequal, +0 == −0)
  "less", // (a, b) → bool: a < b
  "greater", // (a, b) → bool: a > b
  "less_equal", // (a, b) → bool: a <= b
  "greater_equal", // (a, b) → bool: a >= b
  "not", // (a) bool → bool: a == 0
  "and", // (a, b) bool → bool: a ≠ 0 and b ≠ 0
  "or", // (a, b) bool → bool: a ≠ 0 or b ≠ 0
  "xor", // (a, b) bool → bool: (a ≠ 0) ≠ (b ≠ 0)
  "prelu", // (x, slope): x < 0 ? x · slope : x
  "fill", // () [value]: every element the value (ConstantOfShape)
  "quantize", // (x, scale[, zp]) → int: sat(rhe(fl32(x / scale)) + zp) (QuantizeLinear)
  "dequantize", // (x, scale[, zp]) → float: (x − zp) · scale (DequantizeLinear)
  "qscale", // (sa, sb, sy): fl32(fl32(sa · sb) / sy) (the requantization multiplier of QLinearMatMul/QLinearConv)
  "requantize", // (acc, m[, zp]) → int: sat(rhe(fl32(fl32(acc) · m)) + zp)
  "dql_scale", // (h, r): h + r == 0 ? 1 : fl32(fl32(h + r) / 255) (DynamicQuantizeLinear's scale; h = max(x⁺), r = −min(x⁻))
] as const;
export type MapOp = (typeof MAP_OPS)[number];

/** Move patterns. */
export const MOVE_OPS = [
  "reshape", // out[i] = x[i] (Reshape, Flatten, Squeeze, Unsqueeze, Identity)
  "transpose", // [perm]
  "slice", // [starts, steps] per axis of the operand: out[j] = x[starts + j·steps]
  "concat", // [axis]
  "expand", // out[j] = x[broadcast(j)]
  "resize_nearest", // [scales]: in_d = min(floor(out_d / scale_d), size_d − 1) per axis
  // Appended (codes above never change).
  "gather", // [axis, indices]: out[o] = x[o_<axis, indices[j], o_>axis+r] with j the flat index of the r indices axes of o
  "gather_elements", // [axis, indices]: out[o] = x[o with o_axis = indices[o]] (indices: one per output element)
  "pad", // [mode, pads, value]: per axis c_d = o_d − begin_d; mode 0 constant (outside → value), 1 reflect, 2 edge
  "tile", // out[o] = x[o_d mod size_d]
  "constant", // () [values]: out[e] = values[e] (a folded integer or bool constant used as data)
] as const;
export type MoveOp = (typeof MOVE_OPS)[number];

/** Reduce patterns. */
export const REDUCE_OPS = [
  "conv", // (x, w[, bias]) [group, strides, pads, dilations]: terms (c, kh, kw) row-major, init bias[m] or +0
  "convtranspose", // (x, w[, bias]) [group, strides, pads, dilations]: terms (c, kh, kw), +0 where no input maps
  "matmul", // (a, b[, c]) [transA, transB]: terms k = 0..K−1, init c (broadcast) or +0
  "pool", // (x) [fn, kernel, strides, pads, dilations, countIncludePad]: window row-major
  "reduce", // (x) [fn, axes]: reduced axes row-major
  // Appended (codes above never change).
  "conv3d", // (x, w[, bias]) [group, strides(3), pads(6), dilations(3)]: terms (c, kd, kh, kw) row-major, init bias[m] or +0
  "pool3d", // (x) [fn, kernel(3), strides(3), pads(6), dilations(3), countIncludePad]: window (kd, kh, kw) row-major
  "resize_linear", // (x) [axes, num, off, den]: 2^r corners of the cell, x · integer weight, ÷ Π den (kernels/resize.ts)
  "convtranspose3d", // (x, w[, bias]) [group, strides(3), pads(6), dilations(3)]: terms (c, kd, kh, kw), +0 where no input maps
] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

/** Reduce functions (param `fn`): sum (init +0), max (init −Inf), mean (sum, finalize ÷ count). */
export const REDUCE_FNS = { sum: 0, max: 1, mean: 2 } as const;

export interface Step {
  index: number;
  kind: StepKind;
  op: MapOp | MoveOp | ReduceOp;
  operands: Operand[];
  operandTypes: TensorType[];
  output: TensorType;
  params: Params;
  /** The ONNX node this step comes from (diagnostics only: not part of encodeStep). */
  origin: { node: string; opType: string };
}

export interface Program {
  /** The first input (the only one of a one-input model). */
  input: { name: string } & TensorType;
  /** Every input in canonical (ascending UTF-8 byte) name order: input operand i is entry i of the input bundle. */
  inputs: Array<{ name: string } & TensorType>;
  /** The v1 weights (initializers in file order, then Constant nodes in node order). */
  weights: Weight[];
  steps: Step[];
  /** The last step's tensor (the only output of a one-output model). */
  output: { name: string } & TensorType;
  /** Every output in canonical name order; with n ≥ 2 outputs, output k is step stepCount − n + k (lower.ts finishProgram). */
  outputs: Array<{ name: string } & TensorType>;
}

/** The step computing output k of a program. */
export function outputStep(program: Program, k: number): number {
  return program.steps.length - program.outputs.length + k;
}

/** An operand's source index: the input number, weight index or step index. */
export function sourceIndexOf(o: Operand): number {
  return o.index ?? 0;
}

export type CanonicalErrorCode = "OP_UNSUPPORTED" | "MODEL_UNKNOWN" | "TENSOR_SPEC_MISMATCH";

export function canonicalError(code: CanonicalErrorCode, message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError(code, message, { details });
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(["float32"]);
export const INT_DTYPES: ReadonlySet<DType> = new Set<DType>(["int8", "uint8", "int16", "uint16", "int32", "uint32", "bool"]);
