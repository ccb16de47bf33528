/**
 * Issue 14: `oracle model check` on models with several inputs and outputs. The 2-in / 2-out recurrent cell
 * (test/canonical/multi-io-model.ts) reports every node disputable, every step verified on-chain, τ_out
 * calibrated over both outputs and OPTIMISTIC allowed (ZK refused with the reason); models/vad-gru.onnx keeps
 * OPTIMISTIC refused, naming its int64 Cast and the GRU behind it.
 */
import { describe, expect, it } from "vitest";
import { checkModel } from "../../cli/check.js";
import { multiIoModelFile } from "../canonical/multi-io-model.js";
import { VAD_GRU_FILE } from "../../scripts/stateful-model.js";

describe("oracle model check: several inputs and outputs", () => {
  it("test_check_multiIoCell_everyNodeDisputable_optimisticAllowed_zkRefused", async () => {
    const { file } = multiIoModelFile();
    const r = await checkModel(file, { seeded: 2, levels: ["disabled", "all"], threads: [1], wasm: false });
    expect(r.nodes).toMatchObject({ total: 9, lowered: 9, unsupported: 0, blocked: 0 });
    expect(r.program!.steps).toBe(11); // 9 nodes + one copy step per output
    expect(r.output.encodedBytes).toBe(8 + (1 + 6 + 4 + 16 + 1200) + (1 + 1 + 4 + 16 + 16));
    expect(r.verdicts.OPTIMISTIC.allowed, r.verdicts.OPTIMISTIC.reasons.join("\n")).toBe(true);
    expect(r.verdicts.OPTIMISTIC.reasons.join("\n")).toMatch(/static input shapes x \[1,16\], state \[1,300\]; a dispute proves bundle members/);
    expect(r.canonicalTerms?.stepCount).toBe(11);
    expect(r.calibration!.tauOut.abs).toBeGreaterThan(0);
    expect(r.verdicts.NONE.allowed).toBe(true);
    expect(r.verdicts.ZK).toEqual({ allowed: false, reasons: [expect.stringMatching(/2 inputs \(x, state\) and 2 outputs \(y, stateN\): a ZK proof checks one input tensor and one output/)] });
  }, 120_000);

  it("test_check_vadGru_optimisticRefused_perNode", async () => {
    const r = await checkModel(VAD_GRU_FILE, { calibrate: false });
    expect(r.verdicts.NONE.allowed).toBe(true);
    expect(r.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(r.verdicts.OPTIMISTIC.reasons[0]).toMatch(/nodes are not disputable: Cast ×1 \(Cast \(node #0 Cast -> srf\): dtype int64 is not supported\)/);
    const gru = r.operators.find((o) => o.opType === "GRU")!;
    expect(gru.blocked + gru.unsupported).toBe(1);
    expect(r.verdicts.ZK.allowed).toBe(false);
  }, 120_000);
});
