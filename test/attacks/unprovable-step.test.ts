/**
 * Attack: offer OPTIMISTIC for a model whose steps the game cannot prove. A Gather with 1,024 constant
 * indices lowers canonically (one `move gather` step), so a canonical-only gate would register it; but
 * the step's encoding carries the indices and FraudGame decodes it in each of the leaf's four verifier
 * calls, so proving a false element of it needs more than the game's 2M gas per move. A worker could
 * then cheat on that step with no challenger able to finish the proof. `oracle model check` proves
 * every step through the real StepVerifier (cli/leaf-gas.ts), names the step, and `model register`
 * refuses OPTIMISTIC before touching any chain.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkModel } from "../../cli/check.js";
import { onnx } from "../../protocol/index.js";
import { buildModel } from "../canonical/onnx-builder.js";
import { lastJson, oracle } from "../cli/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "unprovable-step-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("attack: registering an unprovable step for OPTIMISTIC", () => {
  it("test_modelCheck_gatherWith1024ConstantIndices_leafOverTwoMillionGas_optimisticRefused_registerRefuses", async () => {
    const n = 1024;
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
    // `model register` runs the same check before touching any chain, and refuses.
    const reg = await oracle(["model", "register", file, "--tiers", "none,optimistic", "--inputs", "1", "--max-inline-output", String(1 << 20), "--json"], { ORACLE_DEPLOYMENT: join(dir, "no-deployment.json") });
    expect(reg.code).toBe(1);
    const error = lastJson<{ error: { code: string; message: string; details: { blockingOperators: string[] } } }>(reg).error;
    expect(error.code).toBe("MODEL_NOT_DISPUTABLE");
    expect(error.message).toMatch(/cannot be offered in the OPTIMISTIC tier: 1 of 1 steps cannot be proven on-chain/);
    expect(error.message).not.toMatch(/every step verifies/);
    expect(error.details.blockingOperators).toEqual(["Gather"]);
  }, 240_000);
});
