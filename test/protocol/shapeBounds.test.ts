/** protocol/shapeBounds.ts: what the static shape propagation sizes, and what it leaves unknown. */
import onnxProto from "onnx-proto";
import { describe, expect, it } from "vitest";
import { modelShapeProblems } from "../../protocol/shapeBounds.js";

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
});
