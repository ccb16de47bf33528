/**
 * StepVerifier.sol on the operators appended after the first on-chain verifier (MAP_OPS 31–47, MOVE_OPS
 * 6–10, REDUCE_OPS 5–8, int32 matmul/conv): the single-node ONNX models of coverage.test.ts, lowered,
 * every step checked at every element (and every term, or sampled terms of a wide reduce) through the
 * harness, bit for bit with canonical/element.ts, on ordinary inputs and on inputs full of NaN, ±Inf, ±0,
 * subnormals, ties and values that saturate; plus the gas of each new pattern (worst sampled call) and of
 * the largest constant step the lowering allows.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, lowerModel, runProgram, type Precision, type Program, type Step } from "../../canonical/index.js";
import { MAX_CONSTANT_STEP } from "../../canonical/lower.js";
import { seededRandom, type Tensor } from "../../protocol/index.js";
import { ortRun } from "./helpers.js";
import { buildModel, values, type Attr, type InitSpec, type NodeSpec } from "./onnx-builder.js";
import { checkStep, deployStepVerifier, type GasRow } from "./step-verifier.harness.js";

let verifier: any;
let harness: any;
beforeAll(async () => {
  ({ verifier, harness } = await deployStepVerifier());
});

const f = (name: string, shape: number[], seed: number, lo = -1, hi = 1): InitSpec => ({ name, dtype: "float32", shape, values: values(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });
const i64 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int64", shape, values: v });
const i32 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int32", shape, values: v });
const u8 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "uint8", shape, values: v });
const i8 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int8", shape, values: v });
const ints8 = (n: number, seed: number) => values(n, seed, -128, 128).map(Math.floor);
const fs = (name: string, v: number[]): InitSpec => ({ name, dtype: "float32", shape: [v.length], values: v });
const ints = (v: number[]): Attr => ({ ints: v });
const int = (v: number): Attr => ({ i: v });
const str = (v: string): Attr => ({ s: v });
const node = (op: string, inputs: string[], outputs: string[], attrs?: Record<string, Attr>): NodeSpec => ({ op, inputs, outputs, attrs });
const one = (op: string, inputs: string[], attrs?: Record<string, Attr>): NodeSpec[] => [{ op, inputs: ["x", ...inputs], outputs: ["y"], attrs }];

interface Case {
  name: string;
  shape: number[];
  dtype?: "float32" | "int32" | "int8" | "uint8";
  nodes: NodeSpec[];
  inits?: InitSpec[];
  opset?: number;
  range?: [number, number];
  integral?: boolean;
}

const X = [2, 3, 4];
// The coverage.test.ts models of every new pattern.
const CASES: Case[] = [
  { name: "Where Greater broadcast", shape: X, nodes: [node("Greater", ["x", "c"], ["m"]), node("Where", ["m", "x", "d"], ["y"])], inits: [f("c", [4], 1), f("d", [3, 1], 2)] },
  { name: "Where int32", shape: X, dtype: "int32", nodes: [node("Less", ["x", "k"], ["m"]), node("Where", ["m", "x", "v"], ["y"])], inits: [i32("k", [0]), i32("v", [7, -7, 1000, -1000])], range: [-50, 50] },
  { name: "Equal float ties", shape: X, nodes: one("Equal", ["c"]), inits: [{ name: "c", dtype: "float32", shape: [4], values: [-1, 0, 1, 2] }], integral: true, range: [-3, 3] },
  { name: "LessOrEqual ties", shape: X, nodes: one("LessOrEqual", ["c"]), inits: [{ name: "c", dtype: "float32", shape: [3, 1], values: [-1, 0, 1] }], integral: true, range: [-3, 3] },
  { name: "GreaterOrEqual ties", shape: X, nodes: one("GreaterOrEqual", ["c"]), inits: [{ name: "c", dtype: "float32", shape: [], values: [0] }], integral: true, range: [-3, 3] },
  { name: "Equal int32", shape: X, dtype: "int32", nodes: one("Equal", ["c"]), inits: [i32("c", [1, 0, -1, 2])], range: [-3, 3] },
  { name: "Greater int32", shape: X, dtype: "int32", nodes: one("Greater", ["c"]), inits: [i32("c", [0], [1])], range: [-3, 3] },
  { name: "Not And Or Xor", shape: X, nodes: [node("Greater", ["x", "z"], ["a"]), node("Less", ["x", "h"], ["b"]), node("And", ["a", "b"], ["ab"]), node("Not", ["a"], ["na"]), node("Or", ["ab", "na"], ["o"]), node("Xor", ["o", "b"], ["y"])], inits: [f("z", [1], 6), f("h", [4], 7)] },
  { name: "Equal bool", shape: X, nodes: [node("Greater", ["x", "z"], ["a"]), node("Less", ["x", "h"], ["b"]), node("Equal", ["a", "b"], ["y"])], inits: [f("z", [1], 8), f("h", [3, 1], 9)] },
  { name: "PRelu per channel", shape: [2, 3, 4, 5], nodes: one("PRelu", ["s"]), inits: [f("s", [3, 1, 1], 10)] },
  { name: "Gather axis 0 2-D indices", shape: [5, 3], nodes: one("Gather", ["i"], { axis: int(0) }), inits: [i64("i", [4, 0, -1, 2, 2, -5], [2, 3])] },
  { name: "Gather axis 1 negative", shape: X, nodes: one("Gather", ["i"], { axis: int(1) }), inits: [i64("i", [-1, 0])] },
  { name: "Gather scalar index last axis", shape: X, nodes: one("Gather", ["i"], { axis: int(-1) }), inits: [i64("i", [2], [])] },
  { name: "Gather int32 data", shape: X, dtype: "int32", nodes: one("Gather", ["i"], { axis: int(2) }), inits: [i32("i", [3, 3, 0])], range: [-1000, 1000] },
  { name: "GatherElements axis 1", shape: X, nodes: one("GatherElements", ["i"], { axis: int(1) }), inits: [i64("i", [0, 2, -1, 1, 1, 0, 2, 2, -3, 0, 1, 2, 2, 1, 0, 0, 1, 1, 2, 2, 0, 0, 0, 0], [2, 3, 4])] },
  { name: "GatherElements smaller indices", shape: X, nodes: one("GatherElements", ["i"], { axis: int(-1) }), inits: [i64("i", [3, 0, -1, 1, 2, 0], [2, 1, 3])] },
  { name: "Pad constant value", shape: X, nodes: one("Pad", ["p", "v"]), inits: [i64("p", [0, 1, 2, 1, 0, 3]), f("v", [], 13)] },
  { name: "Pad constant default crop", shape: X, nodes: one("Pad", ["p"]), inits: [i64("p", [1, -1, 0, 0, 0, -2])] },
  { name: "Pad reflect", shape: X, nodes: one("Pad", ["p"], { mode: str("reflect") }), inits: [i64("p", [1, 2, 3, 0, 2, 3])] },
  { name: "Pad edge", shape: X, nodes: one("Pad", ["p"], { mode: str("edge") }), inits: [i64("p", [0, 3, 5, 2, 0, 4])] },
  { name: "Pad int32 edge", shape: X, dtype: "int32", nodes: one("Pad", ["p"], { mode: str("edge") }), inits: [i64("p", [1, 0, 1, 0, 1, 1])], range: [-9, 9] },
  { name: "Tile", shape: X, nodes: one("Tile", ["r"]), inits: [i64("r", [2, 1, 3])] },
  { name: "Causal mask constant step", shape: [2, 4, 4], nodes: [node("Range", ["z", "n", "one"], ["r"]), node("Unsqueeze", ["r", "ax"], ["rr"]), node("GreaterOrEqual", ["rr", "r"], ["m"]), node("Where", ["m", "x", "big"], ["y"])], inits: [i64("z", [0], []), i64("n", [4], []), i64("one", [1], []), i64("ax", [1]), { name: "big", dtype: "float32", shape: [], values: [-1e9] }] },
  { name: "ConstantOfShape bool mask as data", shape: [2, 3], nodes: [node("ConstantOfShape", ["s"], ["c"], { value: { t: { name: "v", dtype: "bool", shape: [1], values: [1] } } }), node("Not", ["c"], ["nc"]), node("Where", ["nc", "x", "z"], ["y"])], inits: [i64("s", [3]), { name: "z", dtype: "float32", shape: [], values: [0.25] }] },
  { name: "ConstantOfShape float fill", shape: X, nodes: [node("Shape", ["x"], ["s"]), node("ConstantOfShape", ["s"], ["c"], { value: { t: { name: "v", dtype: "float32", shape: [1], values: [1.5] } } }), node("Mul", ["x", "c"], ["y"])] },
  { name: "Conv 3-D pads strides dilations bias", shape: [1, 3, 5, 6, 7], nodes: one("Conv", ["w", "b"], { pads: ints([1, 0, 2, 0, 1, 1]), strides: ints([1, 2, 2]), dilations: ints([2, 1, 1]) }), inits: [f("w", [4, 3, 2, 3, 3], 36), f("b", [4], 37)] },
  { name: "Conv 3-D SAME_UPPER group", shape: [1, 4, 4, 5, 3], nodes: one("Conv", ["w"], { auto_pad: str("SAME_UPPER"), group: int(2), strides: ints([2, 1, 2]) }), inits: [f("w", [6, 2, 3, 2, 2], 38)] },
  { name: "ConvTranspose 2-D SAME_LOWER dilation group", shape: [1, 4, 3, 4], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_LOWER"), strides: ints([2, 2]), dilations: ints([2, 1]), group: int(2) }), inits: [f("w", [4, 3, 3, 2], 45)] },
  { name: "ConvTranspose 1-D output_shape bias", shape: [1, 2, 5], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2]), output_shape: ints([10]) }), inits: [f("w", [2, 4, 3], 53), f("b", [4], 54)] },
  { name: "ConvTranspose 3-D pads strides dilations output_padding bias", shape: [1, 2, 3, 3, 4], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 1, 2]), pads: ints([1, 0, 1, 0, 1, 1]), dilations: ints([1, 2, 1]), output_padding: ints([1, 0, 1]) }), inits: [f("w", [2, 3, 2, 3, 2], 55), f("b", [3], 56)] },
  { name: "ConvTranspose 3-D SAME_UPPER group bias", shape: [1, 4, 2, 3, 3], nodes: one("ConvTranspose", ["w", "b"], { auto_pad: str("SAME_UPPER"), strides: ints([2, 2, 1]), group: int(2) }), inits: [f("w", [4, 2, 2, 2, 3], 57), f("b", [4], 58)] },
  { name: "ConvTranspose 3-D output_shape SAME_LOWER group", shape: [1, 2, 2, 2, 3], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_LOWER"), strides: ints([2, 3, 2]), output_padding: ints([1, 1, 0]), output_shape: ints([4, 6, 5]), group: int(2) }), inits: [f("w", [2, 2, 2, 3, 3], 63)] },
  { name: "Resize nearest half_pixel round_prefer_ceil sizes down", shape: [1, 1, 7, 5], nodes: one("Resize", ["", "", "z"], { mode: str("nearest"), nearest_mode: str("round_prefer_ceil") }), inits: [i64("z", [1, 1, 3, 4])], opset: 13 },
  { name: "DepthToSpace CRD rank-6 transpose", shape: [1, 18, 2, 2], nodes: one("DepthToSpace", [], { blocksize: int(3), mode: str("CRD") }) },
  { name: "Resize linear half_pixel sizes up and down", shape: [1, 2, 5, 7], nodes: one("Resize", ["", "", "z"], { mode: str("linear") }), inits: [i64("z", [1, 2, 8, 3])], opset: 13 },
  { name: "Resize linear asymmetric 2.5x", shape: [1, 1, 4, 3], nodes: one("Resize", ["", "s"], { mode: str("linear"), coordinate_transformation_mode: str("asymmetric") }), inits: [fs("s", [1, 1, 2.5, 0.5])], opset: 13 },
  { name: "Resize linear align_corners sizes", shape: [1, 2, 4, 5], nodes: one("Resize", ["", "", "z"], { mode: str("linear"), coordinate_transformation_mode: str("align_corners") }), inits: [i64("z", [1, 2, 7, 9])], opset: 13 },
  { name: "Resize linear 3-D trilinear", shape: [1, 1, 2, 3, 4], nodes: one("Resize", ["", "s"], { mode: str("linear") }), inits: [fs("s", [1, 1, 2, 2, 2])], opset: 13 },
  { name: "Cast to and from bool", shape: X, nodes: [node("Cast", ["x"], ["b"], { to: int(9) }), node("Cast", ["b"], ["y"], { to: int(1) })], range: [-1.5, 1.5], integral: true },
  { name: "MaxPool 3-D pads strides ceil_mode", shape: [1, 2, 5, 6, 7], nodes: one("MaxPool", [], { kernel_shape: ints([2, 3, 2]), strides: ints([2, 2, 3]), pads: ints([1, 0, 1, 0, 1, 0]), ceil_mode: int(1) }) },
  { name: "AveragePool 3-D include pad", shape: [1, 2, 4, 5, 6], nodes: one("AveragePool", [], { kernel_shape: ints([3, 2, 3]), pads: ints([1, 1, 1, 1, 0, 1]), strides: ints([1, 2, 2]), count_include_pad: int(1) }) },
  { name: "AveragePool 3-D SAME_LOWER exclude pad", shape: [2, 1, 4, 5, 6], nodes: one("AveragePool", [], { kernel_shape: ints([2, 3, 3]), strides: ints([2, 1, 2]), auto_pad: str("SAME_LOWER") }) },
  { name: "QuantizeLinear uint8 saturating", shape: X, nodes: one("QuantizeLinear", ["s", "z"]), inits: [f("s", [], 40, 0.01, 0.02), u8("z", [128], [])], range: [-5, 5] },
  { name: "QuantizeLinear ties to even", shape: X, nodes: one("QuantizeLinear", ["s", "z"]), inits: [{ name: "s", dtype: "float32", shape: [], values: [2] }, i8("z", [-3], [])], integral: true, range: [-300, 300] },
  { name: "QuantizeLinear no zero point", shape: X, nodes: one("QuantizeLinear", ["s"]), inits: [f("s", [], 41, 0.005, 0.01)] },
  { name: "QuantizeLinear per axis int8", shape: X, nodes: one("QuantizeLinear", ["s", "z"], { axis: int(1) }), inits: [f("s", [3], 42, 0.005, 0.02), i8("z", [-5, 0, 9])], range: [-2, 2], opset: 13 },
  { name: "DequantizeLinear uint8", shape: X, dtype: "uint8", nodes: one("DequantizeLinear", ["s", "z"]), inits: [f("s", [], 44, 0.001, 0.1), u8("z", [131], [])] },
  { name: "DequantizeLinear int32 no zero point", shape: X, dtype: "int32", nodes: one("DequantizeLinear", ["s"]), inits: [f("s", [], 46, 0.001, 0.1)], range: [-1e6, 1e6] },
  { name: "DynamicQuantizeLinear then DequantizeLinear", shape: X, nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])], range: [-3, 1.7] },
  { name: "DynamicQuantizeLinear zero input", shape: X, nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])], range: [0, 0] },
  { name: "MatMulInteger zero points", shape: [3, 5], dtype: "uint8", nodes: one("MatMulInteger", ["w", "za", "zw"]), inits: [i8("w", ints8(20, 47), [5, 4]), u8("za", [131], []), i8("zw", [-2], [])] },
  { name: "ConvInteger zero points", shape: [1, 2, 5, 6], dtype: "uint8", nodes: one("ConvInteger", ["w", "zx", "zw"], { pads: ints([1, 0, 1, 2]), strides: ints([1, 2]) }), inits: [u8("w", ints8(36, 49).map((v) => v + 128), [2, 2, 3, 3]), u8("zx", [120], []), u8("zw", [128], [])] },
  { name: "ConvInteger no zero points", shape: [1, 2, 5, 6], dtype: "uint8", nodes: one("ConvInteger", ["w"]), inits: [u8("w", ints8(36, 50).map((v) => v + 128), [2, 2, 3, 3])] },
  { name: "QLinearMatMul per tensor", shape: [3, 6], dtype: "uint8", nodes: [node("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [f("sa", [], 51, 0.01, 0.02), u8("za", [128], []), i8("w", ints8(24, 52), [6, 4]), f("sw", [], 53, 0.01, 0.02), i8("zw", [0], []), f("sy", [], 54, 0.05, 0.1), u8("zy", [100], [])] },
  { name: "QLinearMatMul per column", shape: [3, 6], dtype: "int8", nodes: [node("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [f("sa", [], 55, 0.01, 0.02), i8("za", [3], []), i8("w", ints8(24, 56), [6, 4]), f("sw", [4], 57, 0.01, 0.03), i8("zw", [0, 0, 0, 0]), f("sy", [], 58, 0.02, 0.05), i8("zy", [-10], [])] },
  { name: "QLinearConv per channel bias", shape: [1, 3, 6, 6], dtype: "uint8", nodes: [node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["y"], { pads: ints([1, 1, 1, 1]) })], inits: [f("sx", [], 59, 0.01, 0.02), u8("zx", [128], []), i8("w", ints8(4 * 27, 60), [4, 3, 3, 3]), f("sw", [4], 61, 0.002, 0.01), i8("zw", [0, 0, 0, 0]), f("sy", [], 62, 0.02, 0.05), u8("zy", [120], []), i32("b", [100, -2000, 0, 5000])] },
  { name: "QLinearConv per tensor", shape: [1, 2, 5, 5], dtype: "int8", nodes: [node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"], { strides: ints([2, 2]) })], inits: [f("sx", [], 63, 0.01, 0.02), i8("zx", [-4], []), i8("w", ints8(3 * 18, 64), [3, 2, 3, 3]), f("sw", [], 65, 0.002, 0.01), i8("zw", [0], []), f("sy", [], 66, 0.01, 0.03), i8("zy", [5], [])] },
];

/** Signed zeros, NaN, infinities, subnormals, saturating values and ties (coverage.test.ts's set). */
const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-45, 3e38, -3e38, 0.5, -0.5, 2.5, 1, -1, 255.5, -128.5];

function inputFor(c: Case, special: boolean): Tensor {
  const [lo, hi] = c.range ?? [-1, 1];
  const n = c.shape.reduce((a, b) => a * b, 1);
  const v = values(n, 99, lo, hi);
  if (c.dtype === "int32") return { dtype: "int32", shape: c.shape, data: Int32Array.from(v, Math.round) };
  if (c.dtype === "int8") return { dtype: "int8", shape: c.shape, data: Int8Array.from(values(n, 99, -128, 128), Math.floor) };
  if (c.dtype === "uint8") return { dtype: "uint8", shape: c.shape, data: Uint8Array.from(values(n, 99, 0, 256), Math.floor) };
  if (special) {
    const r = values(n, 7, 0, SPECIAL.length);
    return { dtype: "float32", shape: c.shape, data: Float32Array.from(r, (x, i) => (i % 3 === 0 ? x / 8 - 1 : SPECIAL[Math.floor(x)]!)) };
  }
  return { dtype: "float32", shape: c.shape, data: Float32Array.from(v, c.integral ? Math.round : (x) => x) };
}

const NEW_OPS = new Set([
  "map:where", "map:equal", "map:less", "map:greater", "map:less_equal", "map:greater_equal", "map:not", "map:and", "map:or", "map:xor",
  "map:prelu", "map:fill", "map:quantize", "map:dequantize", "map:qscale", "map:requantize", "map:dql_scale",
  "move:gather", "move:gather_elements", "move:pad", "move:tile", "move:constant", "reduce:conv3d", "reduce:pool3d",
  "reduce:resize_linear", "reduce:convtranspose3d",
]);

/** Worst gas of each function per new pattern (int matmul/conv keyed apart). */
const GAS = new Map<string, GasRow & { where: string }>();
const SEEN = new Set<string>();

function keyOf(step: Step): string {
  const integer = step.kind === "reduce" && step.output.dtype !== "float32";
  return `${step.kind} ${step.op}${integer ? ` int (${step.operandTypes[0]!.dtype})` : ""}`;
}

async function checkProgram(name: string, program: Program, input: Tensor, precision: Precision, seed: number): Promise<number> {
  const { trace } = runProgram(program, input, { precision });
  const rand = seededRandom(seed);
  const bad: string[] = [];
  let checked = 0;
  for (const step of program.steps) {
    const read = (k: number): ArrayLike<number> => {
      const o = step.operands[k]!;
      return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
    };
    const n = step.output.shape.reduce((a, d) => a * d, 1);
    // Every element (a reduce step wider than 24 elements: the first, the last and 10 seeded; 4 at fp16/tf32);
    // every term of a reduce with K <= 64, else 0, K − 1, the padding edges and four seeded.
    const sampled = step.kind === "reduce" && n > 24;
    const es = sampled ? [...new Set([0, n - 1, ...Array.from({ length: precision === "fp32" ? 10 : 4 }, () => Math.floor(rand() * n))])] : Array.from({ length: n }, (_, i) => i);
    const termsOf = (_e: number, K: number, padding: number[]) =>
      K <= 64 ? Array.from({ length: K }, (_, t) => t) : [0, K - 1, ...padding.slice(0, 1), ...padding.slice(-1), ...Array.from({ length: 4 }, () => Math.floor(rand() * K))];
    const c = await checkStep(harness, step, read, precision, es, termsOf, bad);
    checked += c.elements + c.terms;
    const key = keyOf(step);
    SEEN.add(`${step.kind}:${step.op}`);
    if (NEW_OPS.has(`${step.kind}:${step.op}`) || key.includes(" int (")) {
      const row = GAS.get(key) ?? { reads: 0, value: 0, init: 0, termReads: 0, fold: 0, where: name };
      for (const g of ["reads", "value", "init", "termReads", "fold"] as const) if (c.gas[g] > row[g]) [row[g], row.where] = [c.gas[g], name];
      GAS.set(key, row);
    }
  }
  if (bad.length > 0) throw new Error(`${name} ${precision}:\n${bad.join("\n")}`);
  return checked;
}

describe("StepVerifier on the appended operators (bit for bit with canonical/element.ts)", () => {
  for (const c of CASES) {
    it(`test_${c.name.replace(/\W+/g, "_")}_everyElementAndTerm_matchesElementTs`, async () => {
      const program = lowerModel(buildModel({ input: { name: "x", shape: c.shape, dtype: c.dtype }, output: "y", nodes: c.nodes, initializers: c.inits, opset: c.opset }));
      let checked = await checkProgram(c.name, program, inputFor(c, false), "fp32", 1);
      if (c.dtype === undefined) {
        // Special values at fp32 and, sampled by the same checks, at fp16 and tf32.
        checked += await checkProgram(c.name, program, inputFor(c, true), "fp32", 2);
        checked += await checkProgram(c.name, program, inputFor(c, true), "fp16", 3);
        checked += await checkProgram(c.name, program, inputFor(c, true), "tf32", 4);
      }
      expect(checked).toBeGreaterThan(0);
    }, 120_000);
  }

  it("test_mnistInt8WeightsInQOperatorForm_everyStep_matchesElementTs", async () => {
    // The trained weights of models/mnist-mlp.onnx rewired into onnxruntime's quantized operator form:
    // MatMulInteger + int32 bias, DequantizeLinear of the int32 accumulator, Relu, QuantizeLinear,
    // QLinearMatMul (zero-point subs, int32 matmul, qscale, requantize), DequantizeLinear.
    const mnist = lowerModel(readFileSync("models/mnist-mlp.onnx"));
    const w = (name: string) => mnist.weights.find((x) => (x as { name?: string }).name === name)!.tensor;
    const init = (name: string, t: Tensor): InitSpec => ({ name, dtype: t.dtype as InitSpec["dtype"], shape: t.shape, values: Array.from(t.data as ArrayLike<number>) });
    const scalar = (name: string, v: number): InitSpec => ({ name, dtype: "float32", shape: [], values: [v] });
    const bytes = buildModel({
      input: { name: "x", shape: [1, 49], dtype: "int8" },
      output: "y",
      nodes: [
        node("MatMulInteger", ["x", "w0"], ["acc"]), node("Add", ["acc", "b0"], ["h"]), node("DequantizeLinear", ["h", "s0"], ["hf"]), node("Relu", ["hf"], ["r"]),
        node("QuantizeLinear", ["r", "s1", "z1"], ["q"]), node("QLinearMatMul", ["q", "s1", "z1", "w1", "sw1", "zw1", "sy", "zy"], ["o"]), node("DequantizeLinear", ["o", "sy", "zy"], ["y"]),
      ],
      initializers: [init("w0", w("l0.weight")), init("b0", w("l0.bias")), scalar("s0", Math.fround(207 / 65536 / 16)), scalar("s1", 1 / 16), i8("z1", [-3], []), init("w1", w("l1.weight")), scalar("sw1", Math.fround(0.0123)), i8("zw1", [0], []), scalar("sy", Math.fround(0.37)), i8("zy", [4], [])],
      opset: 13,
    });
    const program = lowerModel(bytes);
    const ops = program.steps.map((st) => `${st.kind}:${st.op}`);
    for (const op of ["map:dequantize", "map:quantize", "map:qscale", "map:requantize", "reduce:matmul"]) expect(ops).toContain(op);
    let checked = 0;
    for (const seed of [1, 2, 3]) {
      const x: Tensor = { dtype: "int8", shape: [1, 49], data: Int8Array.from(values(49, 100 + seed, -128, 128), Math.floor) };
      checked += await checkProgram("mnist int8 weights, QOperator form", program, x, "fp32", seed);
      // The canonical output is onnxruntime's, bit for bit.
      const ort = await ortRun(bytes, "x", x, "disabled");
      expect(Array.from(runProgram(program, x).output.data as ArrayLike<number>)).toEqual(Array.from(ort.data as ArrayLike<number>));
    }
    expect(checked).toBeGreaterThan(500);
  }, 120_000);

  it("test_everyNewPattern_coveredByTheModels", () => {
    expect([...NEW_OPS].filter((op) => !SEEN.has(op))).toEqual([]);
  });

  it("test_constantSteps_gasAndCalldata_capFitsTwoMillionGas", async () => {
    // The lowering allows a constant step of up to MAX_CONSTANT_STEP values; EDR caps a transaction at 2^24 gas.
    const CAP = 16_777_216n;
    const fits: number[] = [];
    const gasAt = new Map<number, bigint>();
    for (const n of [...new Set([MAX_CONSTANT_STEP, 4096, 16384, 65536])]) {
      const vals = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i % 128 : -(i % 97)));
      const s: Step = { index: 3, kind: "move", op: "constant", operands: [], operandTypes: [], output: { dtype: "int32", shape: [n / 256, 256] }, params: { values: vals }, origin: { node: "c", opType: "Constant" } };
      const enc = "0x" + encodeStep(s).toString("hex");
      const e = n - 1;
      const bytes = (enc.length - 2) / 2;
      // Calldata of elementValue(step, e, [], 0): selector, 4 head words, the step's length word and padded bytes, the empty array's length.
      const calldata = 4 + 32 * 4 + 32 + Math.ceil(bytes / 32) * 32 + 32;
      let gas: bigint | string;
      try {
        const used = await verifier.elementValue.estimateGas(enc, e, [], 0, { gasLimit: CAP });
        gasAt.set(n, used);
        gas = used;
        expect(BigInt.asIntN(64, await verifier.elementValue(enc, e, [], 0, { gasLimit: CAP }))).toBe(BigInt(vals[e]!));
        expect((await verifier.reads(enc, e, { gasLimit: CAP })).length).toBe(0);
        fits.push(n);
      } catch (error) {
        gas = `more than the ${CAP} cap (${(error as Error).message.slice(0, 80)})`;
      }
      console.log(`constant step of ${n} values: encodeStep ${bytes} bytes, elementValue calldata ${calldata} bytes, gas ${gas}`);
    }
    expect(fits).toContain(4096);
    // At the lowering's cap one call stays far under the game's 2M gas per move (it reads one value, not all:
    // the whole leaf is measured on FraudGame in test/attacks/game-leaf-gas.test.ts).
    expect(gasAt.get(MAX_CONSTANT_STEP)!).toBeLessThan(1_000_000n);
  }, 120_000);

  it("test_gasTable_worstSampledCallPerNewPattern", () => {
    const rows = [...GAS.entries()].sort(([a], [b]) => a.localeCompare(b));
    console.log("StepVerifier gas of the appended patterns, worst sampled call (reads/initReads, elementValue/finalize, initRecord, termReads, foldTerm):");
    for (const [op, g] of rows) console.log(`  ${op.padEnd(28)} ${g.reads} ${g.value} ${g.init} ${g.termReads} ${g.fold}  (${g.where})`);
    expect(rows.length).toBeGreaterThan(20);
    for (const [, g] of rows) expect(Math.max(g.reads, g.value, g.init, g.termReads, g.fold)).toBeLessThan(2_000_000);
  });
});
