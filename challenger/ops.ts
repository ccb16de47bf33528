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
import { numel, type Tensor, type TensorData } from "../protocol/index.js";
import { fail, type OpContext, type OpFactory, type OpKernel } from "./ops/common.js";
import { binary, extremum, Relu, Clip, HardSigmoid, HardSwish, BitShift } from "./ops/elementwise.js";
import { BatchNormalization, Conv, pool, GlobalAveragePool, GlobalMaxPool, MatMul, MatMulInteger, Gemm, Softmax } from "./ops/linear.js";
import { Identity, Reshape, Flatten, Shape, Cast, Slice, Concat, Transpose, squeezeLike } from "./ops/movement.js";

export { FLOAT32_U, gamma, floatBound, allowedError, type Element, type OpKernel, type OpContext, type OpFactory } from "./ops/common.js";

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
