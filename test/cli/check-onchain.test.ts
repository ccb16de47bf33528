/**
 * `oracle model check`'s on-chain side (cli/leaf-gas.ts): every step through the real StepVerifier on
 * an in-process EVM. The int8 MNIST MLP: every node proven on-chain, per-operator worst leaf gas, the
 * summary issue 14 asks for. A Gather with 20,000 constant indices: it lowers canonically (one `move
 * gather` step), but its step encoding carries the indices, and the leaf that decodes it needs more than
 * the game's 2M gas per move: the check names it and refuses OPTIMISTIC, where a canonical-only check
 * would have offered it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkLines, checkModel } from "../../cli/check.js";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
import { onnx } from "../../protocol/index.js";
import { buildModel } from "../canonical/onnx-builder.js";
import { ROOT } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "check-onchain-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

  it("test_modelCheck_gatherWithTwentyThousandConstantIndices_leafOverTwoMillionGas_optimisticRefused", async () => {
    const n = 20_000;
    const bytes = buildModel({
      input: { name: "x", shape: [1, 64] },
      output: "y",
      nodes: [{ op: "Gather", inputs: ["x", "i"], outputs: ["y"], attrs: { axis: { i: 1 } } }],
      initializers: [{ name: "i", dtype: "int64", shape: [n], values: Array.from({ length: n }, (_, k) => (k * 7) % 64) }],
    });
    const model = onnx.ModelProto.decode(bytes);
    model.graph!.output![0]!.type = { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: n }] } } };
    const file = join(dir, "gather.onnx");
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    const r = await checkModel(file, { calibrate: false, maxInlineOutputBytes: 1 << 20 });
    expect(r.nodes).toMatchObject({ total: 1, lowered: 1, unsupported: 0 });
    expect(r.summary.disputable).toEqual({ canonical: 1, onchain: 0 });
    expect(r.onchain!.failures).toHaveLength(1);
    expect(r.onchain!.failures[0]!.reason).toMatch(/a leaf needs \d+ gas, above the game's 2000000 per move|StepVerifier reverts/);
    expect(r.summary.blockers).toEqual([expect.stringMatching(/^Gather ×1: on-chain \(step 0 gather\)/)]);
    expect(r.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(r.verdicts.OPTIMISTIC.reasons).toContainEqual(expect.stringMatching(/^1 of 1 steps cannot be proven on-chain \(Gather \(gather\)\)/));
  }, 180_000);
});
