/**
 * `oracle model check`'s on-chain side (cli/leaf-gas.ts): every step through the real StepVerifier on
 * an in-process EVM. The int8 MNIST MLP: every node proven on-chain, per-operator worst leaf gas, the
 * summary issue 14 asks for; a segmentation-style decoder (ConvTranspose with auto_pad and output_shape,
 * Resize linear, Resize nearest in half_pixel): every node disputable on-chain, OPTIMISTIC allowed. The
 * refusal of a step no leaf can prove is test/attacks/unprovable-step.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkLines, checkModel } from "../../cli/check.js";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
import { onnx } from "../../protocol/index.js";
import { buildModel, values } from "../canonical/onnx-builder.js";
import { ROOT } from "./helpers.js";

describe("model check on-chain", () => {
  it("test_modelCheck_mnist_everyStepProvenOnChain_summaryComplete", async () => {
    const r = await checkModel(join(ROOT, "models/mnist-mlp.onnx"), { calibrate: false });
    expect(r.onchain).not.toBeNull();
    expect(r.onchain!.failures).toEqual([]);
    expect(r.onchain!.disputable).toBe(r.program!.steps);
    expect(r.onchain!.steps).toHaveLength(17);
    for (const o of r.operators) {
      expect(o.onchain, o.opType).toBe(o.nodes);
      expect(o.worstLeafGas!, o.opType).toBeGreaterThan(20_000);
      expect(o.worstLeafGas!, o.opType).toBeLessThan(LEAF_GAS_LIMIT);
    }
    expect(r.summary).toMatchObject({ nodes: 17, disputable: { canonical: 17, onchain: 17 }, blockers: [], widestReduction: 49, rounds: 13, tauOut: null });
    expect(r.summary.worstLeafGas).toBe(r.onchain!.worst!.leafGas);
    expect(r.summary.worstLeafGas).toBe(Math.max(...r.operators.map((o) => o.worstLeafGas!)));
    expect(r.summary.commitmentPeakRssMiB).toBeGreaterThan(0);
    expect(r.verdicts.OPTIMISTIC.reasons.some((x) => x.startsWith("every step verifies on-chain"))).toBe(true);
    expect(checkLines(r).some((l) => /^on-chain +17 of 17 steps proven through StepVerifier/.test(l))).toBe(true);
  }, 180_000);

  it("test_modelCheck_decoderWithConvTransposeAndResizes_everyNodeProvenOnChain_optimisticAllowed", async () => {
    const f = (name: string, shape: number[], seed: number) => ({ name, dtype: "float32" as const, shape, values: values(shape.reduce((a, b) => a * b, 1), seed, -1, 1) });
    const bytes = buildModel({
      input: { name: "x", shape: [1, 2, 4, 4] },
      output: "y",
      nodes: [
        { op: "ConvTranspose", inputs: ["x", "w1", "b1"], outputs: ["u"], attrs: { auto_pad: { s: "SAME_UPPER" }, strides: { ints: [2, 2] } } },
        { op: "Relu", inputs: ["u"], outputs: ["r"] },
        { op: "ConvTranspose", inputs: ["r", "w2"], outputs: ["v"], attrs: { strides: { ints: [2, 2] }, output_shape: { ints: [15, 16] } } },
        { op: "Resize", inputs: ["v", "", "s1"], outputs: ["l"], attrs: { mode: { s: "linear" } } },
        { op: "Resize", inputs: ["l", "", "s2"], outputs: ["y"], attrs: { mode: { s: "nearest" } } },
      ],
      initializers: [f("w1", [2, 3, 3, 3], 1), f("b1", [3], 2), f("w2", [3, 2, 3, 3], 3), { name: "s1", dtype: "float32", shape: [4], values: [1, 1, 2, 2] }, { name: "s2", dtype: "float32", shape: [4], values: [1, 1, 0.5, 0.5] }],
      opset: 13,
    });
    const dir = mkdtempSync(join(tmpdir(), "check-decoder-"));
    try {
      const file = join(dir, "decoder.onnx");
      // The builder leaves the output untyped; a model file declares it.
      const model = onnx.ModelProto.decode(bytes);
      model.graph!.output![0]!.type = { tensorType: { elemType: 1, shape: { dim: [1, 2, 15, 16].map((d) => ({ dimValue: d })) } } };
      writeFileSync(file, onnx.ModelProto.encode(model).finish());
      const r = await checkModel(file, { calibrate: false });
      expect(r.program!.reduce).toBe(3);
      expect(r.onchain!.failures).toEqual([]);
      expect(r.summary).toMatchObject({ nodes: 5, disputable: { canonical: 5, onchain: 5 }, blockers: [] });
      for (const o of r.operators) expect(o.onchain, o.opType).toBe(o.nodes);
      expect(r.verdicts.OPTIMISTIC.allowed).toBe(true);
      expect(r.summary.worstLeafGas!).toBeLessThan(LEAF_GAS_LIMIT);
      console.log(r.operators.map((o) => `${o.opType} ×${o.nodes}: worst leaf ${o.worstLeafGas} gas`).join("; "));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
