/**
 * One small ONNX graph per operator the canonical lowering supports (canonical/lower-ops.ts
 * OPERATOR_LOWERINGS), for the supported-operator table of docs/OPTIMISTIC.md (scripts/operator-table.ts):
 * the table's patterns are what these graphs lower to, its gas what StepVerifier spends on their steps.
 * Forms beyond these (every attribute form, broadcasting) are tested in test/canonical/coverage.test.ts.
 */
import { buildModel, values, type Attr, type InitSpec, type NodeSpec } from "../test/canonical/onnx-builder.js";

export interface OperatorSample {
  op: string;
  /** What the sample shows (an attribute form), when not the plain one. */
  form?: string;
  bytes: Uint8Array;
}

const X = [1, 2, 6, 6];
const f = (name: string, shape: number[], seed: number, lo = -1, hi = 1): InitSpec => ({ name, dtype: "float32", shape, values: values(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });
const i64 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int64", shape, values: v });
const u8 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "uint8", shape, values: v });
const i8 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int8", shape, values: v });
const i32 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int32", shape, values: v });
const ints8 = (n: number, seed: number) => values(n, seed, -128, 128).map(Math.floor);
const ints = (v: number[]): Attr => ({ ints: v });
const int = (v: number): Attr => ({ i: v });
const str = (v: string): Attr => ({ s: v });
const node = (op: string, inputs: string[], outputs: string[], attrs?: Record<string, Attr>): NodeSpec => ({ op, inputs, outputs, attrs });

interface Spec {
  op: string;
  form?: string;
  shape?: number[];
  dtype?: "float32" | "int32" | "int8" | "uint8";
  nodes: NodeSpec[];
  inits?: InitSpec[];
  opset?: number;
}

const unary = (op: string, attrs?: Record<string, Attr>, opset?: number): Spec => ({ op, nodes: [node(op, ["x"], ["y"], attrs)], ...(opset ? { opset } : {}) });
const binary = (op: string, lo = -1, hi = 1): Spec => ({ op, nodes: [node(op, ["x", "c"], ["y"])], inits: [f("c", [6], 3, lo, hi)] });
const mask = (op: string): Spec => ({ op, nodes: [node("Greater", ["x", "c"], ["a"]), node("Less", ["x", "d"], ["b"]), node(op, ["a", "b"], ["y"])], inits: [f("c", [6], 4), f("d", [6], 5)] });

const SPECS: Spec[] = [
  ...["Abs", "Ceil", "Erf", "Exp", "Floor", "Identity", "Log", "Neg", "Reciprocal", "Relu", "Sigmoid", "Sqrt", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Dropout", "Flatten", "GlobalAveragePool", "GlobalMaxPool"].map((op) => unary(op)),
  unary("Softmax", { axis: int(-1) }),
  unary("Gelu", undefined, 20),
  ...["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSumSquare"].map((op) => unary(op, { axes: ints([2, 3]) }, 13)),
  { op: "ReduceSum", nodes: [node("ReduceSum", ["x", "a"], ["y"])], inits: [i64("a", [2, 3])], opset: 13 },
  unary("Transpose", { perm: ints([0, 1, 3, 2]) }),
  unary("Cast", { to: int(6) }),
  { op: "Clip", nodes: [node("Clip", ["x", "lo", "hi"], ["y"])], inits: [f("lo", [], 6, -0.5, -0.4), f("hi", [], 7, 0.3, 0.4)] },
  { op: "Clip", form: "computed bound", nodes: [node("ReduceMax", ["x"], ["m"], { keepdims: int(0) }), node("Sub", ["m", "k"], ["lo"]), node("Clip", ["x", "lo"], ["y"])], inits: [f("k", [], 8, 0.5, 0.6)] },
  ...["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"].map((op) => binary(op)),
  binary("Pow", 0.5, 2),
  { op: "PRelu", nodes: [node("PRelu", ["x", "s"], ["y"])], inits: [f("s", [2, 1, 1], 9)] },
  { op: "Not", nodes: [node("Greater", ["x", "c"], ["m"]), node("Not", ["m"], ["y"])], inits: [f("c", [6], 10)] },
  mask("And"),
  mask("Or"),
  mask("Xor"),
  { op: "Where", nodes: [node("Greater", ["x", "c"], ["m"]), node("Where", ["m", "x", "d"], ["y"])], inits: [f("c", [6], 11), f("d", [6, 1], 12)] },
  { op: "Conv", nodes: [node("Conv", ["x", "w", "b"], ["y"], { pads: ints([1, 1, 1, 1]) })], inits: [f("w", [3, 2, 3, 3], 13), f("b", [3], 14)] },
  { op: "Conv", form: "1-D", shape: [1, 2, 9], nodes: [node("Conv", ["x", "w"], ["y"], { pads: ints([1, 1]) })], inits: [f("w", [3, 2, 3], 15)] },
  { op: "Conv", form: "3-D", shape: [1, 2, 4, 4, 4], nodes: [node("Conv", ["x", "w"], ["y"], { pads: ints([1, 1, 1, 1, 1, 1]) })], inits: [f("w", [2, 2, 3, 3, 3], 16)] },
  { op: "ConvTranspose", nodes: [node("ConvTranspose", ["x", "w"], ["y"], { strides: ints([2, 2]) })], inits: [f("w", [2, 3, 3, 3], 17)] },
  { op: "ConvTranspose", form: "auto_pad", nodes: [node("ConvTranspose", ["x", "w"], ["y"], { strides: ints([2, 2]), auto_pad: str("SAME_UPPER") })], inits: [f("w", [2, 3, 3, 3], 17)] },
  { op: "ConvTranspose", form: "output_shape", shape: [1, 2, 6], nodes: [node("ConvTranspose", ["x", "w"], ["y"], { strides: ints([2]), output_shape: ints([12]) })], inits: [f("w", [2, 3, 3], 17)] },
  { op: "ConvTranspose", form: "3-D", shape: [1, 2, 3, 3, 3], nodes: [node("ConvTranspose", ["x", "w"], ["y"], { strides: ints([2, 2, 2]), pads: ints([1, 1, 1, 1, 1, 1]), output_padding: ints([1, 1, 1]) })], inits: [f("w", [2, 2, 3, 3, 3], 17)] },
  { op: "MaxPool", nodes: [node("MaxPool", ["x"], ["y"], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) })] },
  { op: "AveragePool", nodes: [node("AveragePool", ["x"], ["y"], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) })] },
  { op: "MatMul", nodes: [node("MatMul", ["x", "w"], ["y"])], inits: [f("w", [6, 5], 18)] },
  { op: "Gemm", shape: [2, 8], nodes: [node("Gemm", ["x", "w", "b"], ["y"], { transB: int(1) })], inits: [f("w", [5, 8], 19), f("b", [5], 20)] },
  { op: "Einsum", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bij,bjk->bik") })], inits: [f("w", [2, 4, 5], 21)], opset: 12 },
  { op: "BatchNormalization", nodes: [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])], inits: [f("s", [2], 22), f("b", [2], 23), f("m", [2], 24), f("v", [2], 25, 0.5, 1.5)] },
  { op: "InstanceNormalization", nodes: [node("InstanceNormalization", ["x", "s", "b"], ["y"])], inits: [f("s", [2], 26), f("b", [2], 27)] },
  { op: "LayerNormalization", nodes: [node("LayerNormalization", ["x", "s", "b"], ["y"], { axis: int(-1) })], inits: [f("s", [6], 28), f("b", [6], 29)], opset: 17 },
  { op: "Concat", nodes: [node("Concat", ["x", "c"], ["y"], { axis: int(1) })], inits: [f("c", [1, 1, 6, 6], 30)] },
  { op: "Gather", nodes: [node("Gather", ["x", "i"], ["y"], { axis: int(3) })], inits: [i64("i", [5, 0, 2])] },
  { op: "GatherElements", shape: [2, 3], nodes: [node("GatherElements", ["x", "i"], ["y"], { axis: int(1) })], inits: [i64("i", [2, 0, 1, 1, 2, 0], [2, 3])] },
  { op: "Expand", nodes: [node("Expand", ["x", "s"], ["y"])], inits: [i64("s", [2, 2, 6, 6])] },
  { op: "Tile", nodes: [node("Tile", ["x", "r"], ["y"])], inits: [i64("r", [1, 1, 2, 1])] },
  { op: "Pad", nodes: [node("Pad", ["x", "p"], ["y"], { mode: str("reflect") })], inits: [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])], opset: 13 },
  { op: "Reshape", nodes: [node("Reshape", ["x", "s"], ["y"])], inits: [i64("s", [1, 12, 6])] },
  { op: "Squeeze", nodes: [node("Squeeze", ["x", "a"], ["y"])], inits: [i64("a", [0])], opset: 13 },
  { op: "Unsqueeze", nodes: [node("Unsqueeze", ["x", "a"], ["y"])], inits: [i64("a", [0])], opset: 13 },
  { op: "Slice", nodes: [node("Slice", ["x", "s", "e", "a", "t"], ["y"])], inits: [i64("s", [1]), i64("e", [6]), i64("a", [3]), i64("t", [2])] },
  { op: "Split", nodes: [node("Split", ["x", "s"], ["z", "y"], { axis: int(2) })], inits: [i64("s", [2, 4])], opset: 13 },
  { op: "Resize", form: "nearest", nodes: [node("Resize", ["x", "", "s"], ["y"], { mode: str("nearest"), coordinate_transformation_mode: str("asymmetric"), nearest_mode: str("floor") })], inits: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 2] }], opset: 13 },
  { op: "DepthToSpace", shape: [1, 8, 3, 3], nodes: [node("DepthToSpace", ["x"], ["y"], { blocksize: int(2) })] },
  { op: "SpaceToDepth", nodes: [node("SpaceToDepth", ["x"], ["y"], { blocksize: int(2) })] },
  { op: "Upsample", nodes: [node("Upsample", ["x", "s"], ["y"], { mode: str("linear") })], inits: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 2] }], opset: 9 },
  { op: "Resize", form: "other nearest modes", nodes: [node("Resize", ["x", "", "s"], ["y"], { mode: str("nearest") })], inits: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 1.5] }], opset: 13 },
  { op: "Resize", form: "linear", nodes: [node("Resize", ["x", "", "s"], ["y"], { mode: str("linear") })], inits: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 2] }], opset: 13 },
  { op: "ConstantOfShape", nodes: [node("Shape", ["x"], ["s"]), node("ConstantOfShape", ["s"], ["c"], { value: { t: { name: "v", dtype: "float32", shape: [1], values: [1.5] } } }), node("Mul", ["x", "c"], ["y"])] },
  { op: "Range", nodes: [node("Range", ["a", "b", "d"], ["r"]), node("Gather", ["x", "r"], ["y"], { axis: int(3) })], inits: [i64("a", [0], []), i64("b", [6], []), i64("d", [2], [])] },
  { op: "QuantizeLinear", nodes: [node("QuantizeLinear", ["x", "s", "z"], ["y"])], inits: [f("s", [], 31, 0.01, 0.02), u8("z", [128], [])] },
  { op: "DequantizeLinear", dtype: "uint8", nodes: [node("DequantizeLinear", ["x", "s", "z"], ["y"])], inits: [f("s", [], 32, 0.01, 0.02), u8("z", [128], [])] },
  { op: "DynamicQuantizeLinear", nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])] },
  { op: "MatMulInteger", shape: [3, 5], dtype: "uint8", nodes: [node("MatMulInteger", ["x", "w", "za", "zw"], ["y"])], inits: [i8("w", ints8(20, 33), [5, 4]), u8("za", [131], []), i8("zw", [-2], [])] },
  { op: "ConvInteger", shape: [1, 2, 5, 6], dtype: "uint8", nodes: [node("ConvInteger", ["x", "w", "zx", "zw"], ["y"], { pads: ints([1, 1, 1, 1]) })], inits: [u8("w", ints8(36, 34).map((v) => v + 128), [2, 2, 3, 3]), u8("zx", [120], []), u8("zw", [128], [])] },
  { op: "QLinearMatMul", shape: [3, 6], dtype: "uint8", nodes: [node("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [f("sa", [], 35, 0.01, 0.02), u8("za", [128], []), i8("w", ints8(24, 36), [6, 4]), f("sw", [], 37, 0.01, 0.02), i8("zw", [0], []), f("sy", [], 38, 0.05, 0.1), u8("zy", [100], [])] },
  { op: "QLinearConv", shape: [1, 3, 6, 6], dtype: "uint8", nodes: [node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["y"], { pads: ints([1, 1, 1, 1]) })], inits: [f("sx", [], 39, 0.01, 0.02), u8("zx", [128], []), i8("w", ints8(4 * 27, 40), [4, 3, 3, 3]), f("sw", [4], 41, 0.002, 0.01), i8("zw", [0, 0, 0, 0]), f("sy", [], 42, 0.02, 0.05), u8("zy", [120], []), i32("b", [100, -2000, 0, 5000])] },
];

/** Every sample, built. */
export function operatorSamples(): OperatorSample[] {
  return SPECS.map((s) => ({
    op: s.op,
    ...(s.form === undefined ? {} : { form: s.form }),
    bytes: buildModel({ input: { name: "x", shape: s.shape ?? X, ...(s.dtype === undefined ? {} : { dtype: s.dtype }) }, output: "y", nodes: s.nodes, initializers: s.inits, ...(s.opset === undefined ? {} : { opset: s.opset }) }),
  }));
}
