/**
 * A move that writes a parameter instead of copying (a constant pad outside its input) reads no operand
 * element: the descent's leaf proof for such an element carries no read (as IStepVerifier.reads returns
 * none), and checkFinding recomputes the element from the step's proven encoding alone.
 */
import { describe, expect, it } from "vitest";
import { checkFinding, descend } from "../../canonical/descent.js";
import { lowerModel } from "../../canonical/index.js";
import { elementReads } from "../../canonical/reads.js";
import { CanonicalTrace } from "../../canonical/trace.js";
import { buildModel } from "./onnx-builder.js";
import { editTensor, leafContext, ResponderTrace } from "./trace-fixtures.js";
import type { Tensor } from "../../protocol/index.js";

describe("descent over a constant pad", () => {
  const bytes = buildModel({
    input: { name: "x", shape: [1, 1, 2, 2] },
    output: "y",
    initializers: [
      { name: "p", dtype: "int64", shape: [8], values: [0, 0, 1, 1, 0, 0, 1, 1] },
      { name: "v", dtype: "float32", shape: [], values: [0.5] },
    ],
    nodes: [
      { op: "Pad", inputs: ["x", "p", "v"], outputs: ["padded"] },
      { op: "Relu", inputs: ["padded"], outputs: ["y"] },
    ],
  });
  const program = lowerModel(bytes);
  const input: Tensor = { dtype: "float32", shape: [1, 1, 2, 2], data: new Float32Array([1, -2, 3, -4]) };
  const mine = CanonicalTrace.build(program, input);
  const pad = program.steps.find((s) => s.op === "pad")!;

  it("test_elementReads_paddedElement_readsNothing_innerElement_readsItsSource", () => {
    expect(pad).toBeDefined();
    expect(elementReads(pad, 0)).toEqual([]); // corner: outside the input
    expect(elementReads(pad, 5)).toEqual([{ operand: 0, index: 0 }]); // (1, 1) is x[0, 0]
  });

  it("test_descend_falsePaddedElement_proofWithoutReads_rulesFault_honestAgrees", async () => {
    const cheater = new ResponderTrace(program, input, editTensor(mine.tensors, pad.index, (d) => (d[0] = 7)));
    const r = await descend(mine, cheater);
    expect(r.finding.kind).toBe("element");
    const f = r.finding as Extract<typeof r.finding, { kind: "element" }>;
    expect(f.claim).toMatchObject({ step: pad.index, element: 0 });
    expect(f.reads).toEqual([]);
    expect(checkFinding(f, program, leafContext(program, input, cheater.traceRoot))).toMatchObject({ valid: true, fault: true, recomputed: 0.5 });
    const honest = await descend(mine, new ResponderTrace(program, input, mine.tensors.slice()));
    expect(honest.finding.kind).toBe("agree");
  });
});
