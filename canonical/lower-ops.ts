/**
 * Per-operator lowerings (ONNX operator → canonical steps). Each returns the Values of the
 * operator's outputs. docs/CANONICAL.md lists every operator with the steps it becomes.
 */
import { attrFloat } from "./fold.js";
import { ANY_NUMERIC, BOOL, FLOAT, NUMERIC, NUMERIC_OR_BOOL, type OperatorLowering } from "./ops/context.js";
import { Conv, ConvTranspose } from "./ops/conv.js";
import { BatchNormalization, Cast, Clip, Gelu, PRelu, Where, binary, logical, unary, variadic } from "./ops/elementwise.js";
import { Einsum, Gemm, MatMul } from "./ops/matmul.js";
import { globalPool, pool } from "./ops/pool.js";
import { ConvInteger, DequantizeLinear, DynamicQuantizeLinear, QuantizeLinear, qlinear } from "./ops/quant.js";
import { InstanceNormalization, LayerNormalization, Softmax, composedReduce, reduceOp } from "./ops/reduce.js";
import { Concat, ConstantOfShape, Expand, Flatten, Gather, GatherElements, Identity, Pad, Range, Reshape, Slice, Split, Squeeze, Tile, Transpose, Unsqueeze } from "./ops/shape.js";
import { Resize } from "./ops/resize.js";
import { via2d } from "./ops/window.js";
export type { LowerContext, OperatorLowering, Value } from "./ops/context.js";
export { MAX_CONSTANT_INDICES } from "./ops/shape.js";

export const OPERATOR_LOWERINGS: Readonly<Record<string, OperatorLowering>> = {
  Add: binary("add"),
  Sub: binary("sub"),
  Mul: binary("mul"),
  Div: binary("div"),
  Pow: binary("pow"),
  Max: variadic("max"),
  Min: variadic("min"),
  Sum: variadic("add"),
  Neg: unary("neg", ANY_NUMERIC),
  Abs: unary("abs", ANY_NUMERIC),
  Relu: unary("relu", ANY_NUMERIC),
  Sqrt: unary("sqrt"),
  Exp: unary("exp"),
  Log: unary("log"),
  Sigmoid: unary("sigmoid"),
  Tanh: unary("tanh"),
  Erf: unary("erf"),
  Reciprocal: unary("reciprocal"),
  Floor: unary("floor"),
  Ceil: unary("ceil"),
  HardSigmoid: unary("hardsigmoid", FLOAT, (ctx) => ({ alpha: [attrFloat(ctx.attributes, "alpha", Math.fround(0.2))], beta: [attrFloat(ctx.attributes, "beta", 0.5)] })),
  HardSwish: unary("hardswish"),
  LeakyRelu: unary("leakyrelu", FLOAT, (ctx) => ({ alpha: [attrFloat(ctx.attributes, "alpha", Math.fround(0.01))] })),
  Clip,
  Cast,
  BatchNormalization,
  LayerNormalization,
  Gelu,
  Identity,
  Dropout: Identity,
  Reshape,
  Flatten,
  Squeeze,
  Unsqueeze,
  Transpose,
  Slice,
  Concat,
  Expand,
  Conv,
  ConvTranspose: via2d(ConvTranspose, 1),
  Resize,
  MatMul,
  MatMulInteger: MatMul,
  Gemm,
  MaxPool: via2d(pool("max")),
  AveragePool: via2d(pool("mean")),
  GlobalAveragePool: globalPool("mean"),
  GlobalMaxPool: globalPool("max"),
  ReduceMean: reduceOp("mean"),
  ReduceSum: reduceOp("sum"),
  ReduceMax: reduceOp("max"),
  ReduceMin: composedReduce("min"),
  ReduceL1: composedReduce("l1"),
  ReduceL2: composedReduce("l2"),
  ReduceSumSquare: composedReduce("sumsquare"),
  ReduceLogSum: composedReduce("logsum"),
  ReduceLogSumExp: composedReduce("logsumexp"),
  InstanceNormalization,
  Einsum,
  QuantizeLinear,
  DequantizeLinear,
  DynamicQuantizeLinear,
  ConvInteger: via2d(ConvInteger, 1),
  QLinearMatMul: qlinear(false),
  QLinearConv: via2d(qlinear(true), 3),
  Softmax,
  Where,
  Equal: logical("equal", NUMERIC_OR_BOOL),
  Less: logical("less", NUMERIC),
  Greater: logical("greater", NUMERIC),
  LessOrEqual: logical("less_equal", NUMERIC),
  GreaterOrEqual: logical("greater_equal", NUMERIC),
  Not: logical("not", BOOL),
  And: logical("and", BOOL),
  Or: logical("or", BOOL),
  Xor: logical("xor", BOOL),
  PRelu,
  Gather,
  GatherElements,
  Pad,
  Tile,
  Split,
  ConstantOfShape,
  Range,
};
