/**
 * Per-operator: each supported ONNX operator, on a small graph built here, lowered and run
 * canonically, against onnxruntime-node's fp32 output (graph optimizations disabled). Contractions
 * and transcendentals differ by rounding only (bound measured and printed); moves, selections,
 * integer ops and single correctly rounded float ops match bit for bit.
 */
import { describe, expect, it } from "vitest";
import { lowerModel, runProgram } from "../../canonical/index.js";
import { isError, type Tensor } from "../../protocol/index.js";
import { maxDiff, ortRun } from "./helpers.js";
import { buildModel, values, type Attr, type InitSpec, type ModelSpec, type NodeSpec } from "./onnx-builder.js";

interface Case {
  name: string;
  shape: number[];
  nodes: NodeSpec[];
  inits?: InitSpec[];
  opset?: number;
  /** Largest allowed difference, relative to the output's largest magnitude (0: bit-exact). */
  rel: number;
  /** Input values in [lo, hi). */
  range?: [number, number];
}

const f = (name: string, shape: number[], seed: number, lo = -1, hi = 1): InitSpec => ({ name, dtype: "float32", shape, values: values(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });
const i64 = (name: string, v: number[]): InitSpec => ({ name, dtype: "int64", shape: [v.length], values: v });
const one = (op: string, inputs: string[], attrs?: Record<string, Attr>): NodeSpec[] => [{ op, inputs: ["x", ...inputs], outputs: ["y"], attrs }];
const ints = (v: number[]): Attr => ({ ints: v });
const int = (v: number): Attr => ({ i: v });
const flt = (v: number): Attr => ({ f: v });
const X = [1, 4, 6, 7];

const CASES: Case[] = [
  // reductions
  { name: "Conv pads strides dilations bias", shape: X, nodes: one("Conv", ["w", "b"], { pads: ints([1, 2, 0, 1]), strides: ints([2, 1]), dilations: ints([1, 2]) }), inits: [f("w", [5, 4, 3, 3], 2), f("b", [5], 3)], rel: 2e-6 },
  { name: "Conv depthwise", shape: X, nodes: one("Conv", ["w"], { group: int(4), pads: ints([1, 1, 1, 1]) }), inits: [f("w", [8, 1, 3, 3], 4)], rel: 2e-6 },
  { name: "Conv 1x1 SAME_UPPER", shape: X, nodes: one("Conv", ["w"], { auto_pad: { s: "SAME_UPPER" }, strides: ints([2, 2]), kernel_shape: ints([3, 3]) }), inits: [f("w", [6, 4, 3, 3], 5)], rel: 2e-6 },
  { name: "ConvTranspose stride 2 bias", shape: X, nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 2]), pads: ints([1, 0, 0, 1]) }), inits: [f("w", [4, 3, 3, 2], 6), f("b", [3], 7)], rel: 2e-6 },
  { name: "MatMul batched", shape: [2, 3, 5], nodes: one("MatMul", ["w"]), inits: [f("w", [5, 4], 8)], rel: 2e-6 },
  { name: "MatMul 4-D broadcast", shape: [2, 1, 3, 5], nodes: one("MatMul", ["w"]), inits: [f("w", [1, 3, 5, 2], 9)], rel: 2e-6 },
  { name: "Gemm transB bias", shape: [3, 5], nodes: one("Gemm", ["w", "b"], { transB: int(1) }), inits: [f("w", [4, 5], 10), f("b", [4], 11)], rel: 2e-6 },
  { name: "Gemm transA", shape: [5, 3], nodes: one("Gemm", ["w"], { transA: int(1) }), inits: [f("w", [5, 4], 12)], rel: 2e-6 },
  { name: "MaxPool pads strides", shape: X, nodes: one("MaxPool", [], { kernel_shape: ints([3, 2]), pads: ints([1, 1, 1, 0]), strides: ints([2, 2]) }), rel: 0 },
  { name: "AveragePool exclude pad", shape: X, nodes: one("AveragePool", [], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }), rel: 2e-6 },
  { name: "AveragePool include pad", shape: X, nodes: one("AveragePool", [], { kernel_shape: ints([2, 3]), pads: ints([0, 1, 1, 1]), count_include_pad: int(1) }), rel: 2e-6 },
  { name: "GlobalAveragePool", shape: X, nodes: one("GlobalAveragePool", []), rel: 2e-6 },
  { name: "GlobalMaxPool", shape: X, nodes: one("GlobalMaxPool", []), rel: 0 },
  { name: "ReduceMean keepdims 0", shape: X, nodes: one("ReduceMean", [], { axes: ints([1, 3]), keepdims: int(0) }), rel: 2e-6 },
  { name: "ReduceSum axes input", shape: X, nodes: one("ReduceSum", ["axes"]), inits: [i64("axes", [-1])], rel: 2e-6 },
  { name: "ReduceMax all", shape: X, nodes: one("ReduceMax", [], { keepdims: int(1) }), rel: 0 },
  { name: "Softmax axis 1", shape: X, nodes: one("Softmax", [], { axis: int(1) }), rel: 2e-6, range: [-8, 8] },
  { name: "Softmax opset 11 coerced", shape: X, nodes: one("Softmax", [], { axis: int(2) }), opset: 11, rel: 2e-6, range: [-8, 8] },
  { name: "LayerNormalization axis -1", shape: [2, 3, 8], nodes: one("LayerNormalization", ["s", "b"], { epsilon: flt(1e-5) }), inits: [f("s", [8], 27), f("b", [8], 28)], opset: 17, rel: 2e-6, range: [-3, 3] },
  { name: "LayerNormalization axis 1 no bias", shape: [2, 3, 4], nodes: one("LayerNormalization", ["s"], { axis: int(1) }), inits: [f("s", [3, 4], 29)], opset: 17, rel: 2e-6 },
  { name: "Gelu", shape: X, nodes: one("Gelu", []), opset: 20, rel: 2e-6, range: [-4, 4] },
  { name: "Gelu tanh", shape: X, nodes: one("Gelu", [], { approximate: { s: "tanh" } }), opset: 20, rel: 2e-6, range: [-4, 4] },
  { name: "Gemm alpha beta", shape: [3, 5], nodes: one("Gemm", ["w", "b"], { alpha: flt(0.5), beta: flt(2) }), inits: [f("w", [5, 4], 30), f("b", [3, 4], 31)], rel: 2e-6 },
  { name: "BatchNormalization", shape: X, nodes: one("BatchNormalization", ["s", "b", "m", "v"], { epsilon: flt(1e-3) }), inits: [f("s", [4], 13), f("b", [4], 14), f("m", [4], 15), f("v", [4], 16, 0.1, 2)], rel: 2e-6 },
  // maps
  { name: "Add broadcast", shape: X, nodes: one("Add", ["c"]), inits: [f("c", [4, 1, 7], 17)], rel: 0 },
  { name: "Sub scalar", shape: X, nodes: one("Sub", ["c"]), inits: [f("c", [], 18)], rel: 0 },
  { name: "Mul", shape: X, nodes: one("Mul", ["c"]), inits: [f("c", [7], 19)], rel: 0 },
  { name: "Div", shape: X, nodes: one("Div", ["c"]), inits: [f("c", [6, 1], 20, 0.5, 2)], rel: 0 },
  { name: "Max Min", shape: X, nodes: [{ op: "Max", inputs: ["x", "c"], outputs: ["t"] }, { op: "Min", inputs: ["t", "d"], outputs: ["y"] }], inits: [f("c", [7], 21), f("d", [1], 22)], rel: 0 },
  { name: "Pow", shape: X, nodes: one("Pow", ["c"]), inits: [f("c", [7], 23, 0.5, 3)], rel: 1e-6, range: [0.1, 3] },
  { name: "Sqrt", shape: X, nodes: one("Sqrt", []), rel: 0, range: [0, 4] },
  { name: "Exp", shape: X, nodes: one("Exp", []), rel: 1e-6, range: [-10, 10] },
  { name: "Log", shape: X, nodes: one("Log", []), rel: 1e-6, range: [0.01, 100] },
  { name: "Tanh", shape: X, nodes: one("Tanh", []), rel: 1e-6, range: [-4, 4] },
  { name: "Sigmoid", shape: X, nodes: one("Sigmoid", []), rel: 1e-6, range: [-8, 8] },
  { name: "Erf", shape: X, nodes: one("Erf", []), rel: 1e-6, range: [-3, 3] },
  { name: "Relu", shape: X, nodes: one("Relu", []), rel: 0 },
  { name: "LeakyRelu", shape: X, nodes: one("LeakyRelu", [], { alpha: flt(0.1) }), rel: 0 },
  { name: "HardSigmoid", shape: X, nodes: one("HardSigmoid", [], { alpha: flt(0.3), beta: flt(0.4) }), rel: 1e-6, range: [-4, 4] },
  { name: "HardSwish", shape: X, nodes: one("HardSwish", []), opset: 14, rel: 1e-6, range: [-4, 4] },
  { name: "Clip inputs", shape: X, nodes: one("Clip", ["lo", "hi"]), inits: [f("lo", [], 24, -0.5, -0.4), f("hi", [], 25, 0.3, 0.4)], rel: 0 },
  { name: "Clip opset 9", shape: X, nodes: one("Clip", [], { min: flt(-0.25), max: flt(0.5) }), opset: 9, rel: 0 },
  { name: "Neg Abs", shape: X, nodes: [{ op: "Neg", inputs: ["x"], outputs: ["t"] }, { op: "Abs", inputs: ["t"], outputs: ["y"] }], rel: 0 },
  { name: "Reciprocal", shape: X, nodes: one("Reciprocal", []), rel: 0, range: [0.5, 4] },
  { name: "Floor Ceil", shape: X, nodes: [{ op: "Floor", inputs: ["x"], outputs: ["t"] }, { op: "Ceil", inputs: ["x"], outputs: ["u"] }, { op: "Add", inputs: ["t", "u"], outputs: ["y"] }], rel: 0, range: [-5, 5] },
  { name: "Cast float→int32→float", shape: X, nodes: [{ op: "Cast", inputs: ["x"], outputs: ["t"], attrs: { to: int(6) } }, { op: "Cast", inputs: ["t"], outputs: ["y"], attrs: { to: int(1) } }], rel: 0, range: [-50, 50] },
  // moves
  { name: "Reshape 0 and -1", shape: X, nodes: one("Reshape", ["s"]), inits: [i64("s", [0, -1, 7])], rel: 0 },
  { name: "Flatten", shape: X, nodes: one("Flatten", [], { axis: int(2) }), rel: 0 },
  { name: "Transpose", shape: X, nodes: one("Transpose", [], { perm: ints([0, 3, 1, 2]) }), rel: 0 },
  { name: "Slice negative step", shape: X, nodes: one("Slice", ["st", "en", "ax", "sp"]), inits: [i64("st", [-1, 1]), i64("en", [0, 100]), i64("ax", [3, 1]), i64("sp", [-2, 2])], rel: 0 },
  { name: "Slice clamped bounds", shape: X, nodes: one("Slice", ["st", "en", "ax", "sp"]), inits: [i64("st", [-100, -100, 100]), i64("en", [3, -100, -100]), i64("ax", [1, 2, 3]), i64("sp", [1, -1, -3])], rel: 0 },
  { name: "Concat", shape: X, nodes: one("Concat", ["c"], { axis: int(1) }), inits: [f("c", [1, 2, 6, 7], 26)], rel: 0 },
  { name: "Squeeze Unsqueeze", shape: [1, 4, 1, 7], nodes: [{ op: "Squeeze", inputs: ["x", "a"], outputs: ["t"] }, { op: "Unsqueeze", inputs: ["t", "b"], outputs: ["y"] }], inits: [i64("a", [0, 2]), i64("b", [1])], rel: 0 },
  { name: "Expand", shape: [4, 1], nodes: one("Expand", ["s"]), inits: [i64("s", [2, 4, 3])], rel: 0 },
  { name: "Resize nearest", shape: X, nodes: one("Resize", ["roi", "sc"], { mode: { s: "nearest" }, coordinate_transformation_mode: { s: "asymmetric" }, nearest_mode: { s: "floor" } }), inits: [f("roi", [0], 0), { name: "sc", dtype: "float32", shape: [4], values: [1, 1, 2, 3] }], opset: 11, rel: 0 },
  { name: "Shape arithmetic folds", shape: X, nodes: [{ op: "Shape", inputs: ["x"], outputs: ["s"] }, { op: "Gather", inputs: ["s", "i"], outputs: ["g"], attrs: { axis: int(0) } }, { op: "Concat", inputs: ["g", "m"], outputs: ["t"], attrs: { axis: int(0) } }, { op: "Reshape", inputs: ["x", "t"], outputs: ["y"] }], inits: [i64("i", [0, 1]), i64("m", [-1])], rel: 0 },
];

function inputFor(c: Case): Tensor {
  const [lo, hi] = c.range ?? [-1, 1];
  const n = c.shape.reduce((a, b) => a * b, 1);
  return { dtype: "float32", shape: c.shape, data: Float32Array.from(values(n, 99, lo, hi)) };
}

describe("canonical lowering, per operator, against onnxruntime", () => {
  for (const c of CASES) {
    it(`test_${c.name.replace(/\W+/g, "_")}_matchesOnnxruntime_succeeds`, async () => {
      const spec: ModelSpec = { input: { name: "x", shape: c.shape }, output: "y", nodes: c.nodes, initializers: c.inits, opset: c.opset };
      const bytes = buildModel(spec);
      const x = inputFor(c);
      const program = lowerModel(bytes);
      const canonical = runProgram(program, x).output;
      const ort = await ortRun(bytes, "x", x, "disabled");
      expect(canonical.shape).toEqual(ort.shape);
      const d = maxDiff(ort, canonical, 1e-6);
      const scale = Math.max(1, ...Array.from(ort.data as Float32Array, Math.abs));
      if (c.rel === 0) expect(Array.from(canonical.data as Float32Array)).toEqual(Array.from(ort.data as Float32Array));
      else {
        console.log(`${c.name}: ${program.steps.length} steps, max abs ${d.abs.toExponential(2)} (output scale ${scale.toPrecision(3)}), elementwise rel ${d.rel.toExponential(2)}`);
        expect(d.abs / scale).toBeLessThanOrEqual(c.rel);
      }
    });
  }

  it("test_lowerModel_unsupportedOperator_namesOpAndNode", () => {
    const bytes = buildModel({ input: { name: "x", shape: [1, 4] }, output: "y", nodes: [{ op: "Relu", inputs: ["x"], outputs: ["r"] }, { op: "TopK", inputs: ["r", "k"], outputs: ["v", "idx"] }, { op: "Relu", inputs: ["v"], outputs: ["y"] }], initializers: [i64("k", [2])] });
    try {
      lowerModel(bytes);
      expect.unreachable();
    } catch (error) {
      expect(isError(error, "OP_UNSUPPORTED")).toBe(true);
      expect((error as Error).message).toMatch(/TopK/);
      expect((error as Error).message).toMatch(/#1 TopK -> v, idx/);
    }
  });

  it("test_lowerModel_customDomain_refused", () => {
    const bytes = buildModel({ input: { name: "x", shape: [1, 4] }, output: "y", nodes: [{ op: "FusedGemm", domain: "com.microsoft", inputs: ["x"], outputs: ["y"] }] });
    expect(() => lowerModel(bytes)).toThrow(/com\.microsoft\.FusedGemm/);
  });

  it("test_lowerModel_symbolicInputWithoutShape_refused", () => {
    const bytes = buildModel({ input: { name: "x", shape: [1, 4] }, output: "y", nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] });
    expect(() => lowerModel(bytes, { inputShape: [1, 5] })).toThrow(/static input shape/);
    expect(lowerModel(bytes, { inputShape: [1, 4] }).steps).toHaveLength(1);
  });

  it("test_lowerModel_compositeSteps_softmaxFourStepsBatchNormTwo", () => {
    const sm = lowerModel(buildModel({ input: { name: "x", shape: [2, 5] }, output: "y", nodes: one("Softmax", [], { axis: int(1) }) }));
    expect(sm.steps.map((s) => `${s.kind}:${s.op}`)).toEqual(["reduce:reduce", "map:exp_sub", "reduce:reduce", "map:div"]);
    const bn = lowerModel(buildModel({ input: { name: "x", shape: X }, output: "y", nodes: one("BatchNormalization", ["s", "b", "m", "v"]), initializers: [f("s", [4], 1), f("b", [4], 2), f("m", [4], 3), f("v", [4], 4, 0.1, 1)] }));
    expect(bn.steps.map((s) => `${s.kind}:${s.op}`)).toEqual(["map:bn_scale", "map:bn_apply"]);
    expect(bn.steps[0]!.output.shape).toEqual([4, 1, 1]);
  });
});
