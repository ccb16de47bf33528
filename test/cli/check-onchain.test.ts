/**
 * `oracle model check`'s on-chain side (cli/leaf-gas.ts): every step through the real StepVerifier on
 * an in-process EVM. The int8 MNIST MLP: every node proven on-chain, per-operator worst leaf gas, the
 * summary issue 14 asks for. The refusal of a step no leaf can prove is
 * test/attacks/unprovable-step.test.ts.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkLines, checkModel } from "../../cli/check.js";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
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
});
