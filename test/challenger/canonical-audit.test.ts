/**
 * The challenger's canonical audit (challenger/canonical-audit.ts): dispute only beyond τ_out, a seeded
 * unpredictable fraction, and an unsupported model reported without stopping the batch.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildToleranceProof, checkToleranceProof, withinTau, runProgram } from "../../canonical/index.js";
import { auditBatch, isSampled, missingOperators, type AuditTarget } from "../../challenger/canonical-audit.js";
import { hashTensor, numel, type Tensor, type Hex } from "../../protocol/index.js";
import { buildModel } from "../canonical/onnx-builder.js";
import { CLS, cls, clsInput } from "../canonical/trace-fixtures.js";

const id = (i: number) => `0x${i.toString(16).padStart(64, "0")}` as Hex;
const SECRET = Buffer.from("challenger secret");

describe("canonical audit", () => {
  it("test_withinTau_rule_nanEqualsNan_infinitiesExact_absPlusRel", () => {
    const tau = { abs: 1e-6, rel: 1e-2 };
    expect(withinTau(NaN, NaN, tau)).toBe(true);
    expect(withinTau(NaN, 1, tau)).toBe(false);
    expect(withinTau(Infinity, Infinity, tau)).toBe(true);
    expect(withinTau(-Infinity, Infinity, tau)).toBe(false);
    expect(withinTau(3e38, Infinity, tau)).toBe(false);
    expect(withinTau(1.0101, 1, tau)).toBe(false); // 0.0101 > 1e-6 + 1e-2·1
    expect(withinTau(1.01, 1, tau)).toBe(true);
    expect(withinTau(1.0200, 1, tau)).toBe(false);
    expect(withinTau(1e-7, 0, tau)).toBe(true);
    expect(withinTau(2e-6, 0, tau)).toBe(false);
  });

  it("test_isSampled_fractionOfRequestsSeededBySecret_unpredictableWithoutIt", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => id(i + 1));
    const picked = ids.filter((r) => isSampled(SECRET, r, 0.1));
    expect(picked.length).toBeGreaterThan(150);
    expect(picked.length).toBeLessThan(250);
    expect(ids.filter((r) => isSampled(SECRET, r, 0.1))).toEqual(picked); // reproducible
    const other = ids.filter((r) => isSampled(Buffer.from("another secret"), r, 0.1));
    expect(other).not.toEqual(picked);
    expect(ids.every((r) => isSampled(SECRET, r, 1))).toBe(true);
    expect(() => isSampled(SECRET, ids[0]!, 0)).toThrow(RangeError);
  });

  it("test_auditBatch_honestWithinTau_cheaterBeyond_unsupportedReportedAndBatchGoesOn", () => {
    const program = cls();
    const model = { key: "cls", bytes: readFileSync(CLS), inputShape: [1, 3, 48, 192] };
    const tau = { abs: 1e-6, rel: 1e-2 };
    const inputs = ["first line", "second line", "third line"].map((s) => clsInput(s));
    const canonical = inputs.map((x) => runProgram(program, x).output);
    const nudged = (t: Tensor, by: number): Tensor => ({ ...t, data: (t.data as Float32Array).map((v) => Math.fround(v + by)) });
    const unsupported = buildModel({ input: { name: "x", shape: [1, 4] }, output: "y", initializers: [{ name: "axis", dtype: "int64", shape: [], values: [1] }], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["r"] }, { op: "CumSum", inputs: ["r", "axis"], outputs: ["y"] }] });
    const targets: AuditTarget[] = [
      { requestId: id(1), model, precision: "fp32", tau, input: inputs[0]!, output: canonical[0]! },
      { requestId: id(2), model: { key: "cumsum", bytes: unsupported, inputShape: [1, 4] }, precision: "fp32", tau, input: { dtype: "float32", shape: [1, 4], data: new Float32Array(4) }, output: { dtype: "float32", shape: [1, 4], data: new Float32Array(4) } },
      { requestId: id(3), model, precision: "fp32", tau, input: inputs[1]!, output: nudged(canonical[1]!, 1e-7) },
      { requestId: id(4), model, precision: "fp32", tau, input: inputs[2]!, output: nudged(canonical[2]!, 0.05) },
    ];
    const report = auditBatch(targets, { secret: SECRET, fraction: 1 });
    expect(report.audited).toBe(3);
    expect(report.unsupported).toEqual([{ requestId: id(2), reason: expect.stringContaining("OP_UNSUPPORTED"), operators: ["CumSum"] }]);
    expect(report.disputes).toEqual([id(4)]);
    const v = report.verdicts[3]!;
    expect(v.status === "dispute" && v.tolerance.first !== undefined).toBe(true);
    if (v.status !== "dispute" || v.tolerance.first === undefined) throw new Error("no dispute");
    // The tolerance proof of the first element beyond τ_out: valid against outputHash and finalHash.
    const signed = targets[3]!.output;
    const proof = buildToleranceProof(signed, v.trace, v.tolerance.first.index);
    const major = { abs: 1, rel: 0 };
    expect(checkToleranceProof(proof, program.output, hashTensor(signed), v.trace.finalHash, tau, major)).toMatchObject({ valid: true, beyondOut: true, beyondMajor: false });
    // The honest result's elements are within τ_out; a proof against the wrong final hash is refused.
    const honest = buildToleranceProof(targets[0]!.output, v.trace, 0);
    expect(checkToleranceProof(honest, program.output, hashTensor(targets[0]!.output), v.trace.finalHash, tau, major)).toMatchObject({ valid: true, beyondOut: false });
    expect(checkToleranceProof(proof, program.output, hashTensor(signed), hashTensor(signed), tau, major)).toMatchObject({ valid: false });
    // A signed output of another shape: beyond τ_major whatever its values.
    const reshaped = { ...signed, shape: [numel(signed.shape)] };
    expect(checkToleranceProof(buildToleranceProof(reshaped, v.trace, 0), program.output, hashTensor(reshaped), v.trace.finalHash, tau, major)).toMatchObject({ valid: true, typeMismatch: true, beyondMajor: true });
  });
  it("test_auditBatch_definedOperatorInARefusedForm_namedWithItsNode_restAudited", () => {
    // Resize is defined (nearest, linear) but a cubic Resize is refused: the refused node's operator is named,
    // next to an operator with no definition, and the batch's other results are still audited.
    const refused = buildModel({
      input: { name: "x", shape: [1, 1, 2, 2] },
      output: "y",
      initializers: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 2] }, { name: "axis", dtype: "int64", shape: [], values: [3] }],
      nodes: [
        { op: "Resize", inputs: ["x", "", "s"], outputs: ["r"], attrs: { mode: { s: "cubic" } } },
        { op: "CumSum", inputs: ["r", "axis"], outputs: ["y"] },
      ],
      opset: 13,
    });
    const zeros = (shape: number[]): Tensor => ({ dtype: "float32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    const x = clsInput("a line");
    const targets: AuditTarget[] = [
      { requestId: id(11), model: { key: "resize-cubic", bytes: refused, inputShape: [1, 1, 2, 2] }, precision: "fp32", tau: { abs: 0, rel: 0 }, input: zeros([1, 1, 2, 2]), output: zeros([1, 1, 4, 4]) },
      { requestId: id(12), model: { key: "cls", bytes: readFileSync(CLS), inputShape: [1, 3, 48, 192] }, precision: "fp32", tau: { abs: 1e-6, rel: 1e-2 }, input: x, output: runProgram(cls(), x).output },
    ];
    const report = auditBatch(targets, { secret: SECRET, fraction: 1 });
    expect(report.unsupported).toEqual([{ requestId: id(11), reason: expect.stringContaining("Resize"), operators: ["CumSum", "Resize"] }]);
    expect(report.audited).toBe(1);
    expect(report.verdicts[1]).toMatchObject({ requestId: id(12), status: "within" });
    expect(missingOperators(refused)).toEqual(["CumSum"]);
  });
});
