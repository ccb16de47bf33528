/**
 * Attack: offer OPTIMISTIC for a model whose steps the game cannot prove. A Gather's constant indices ride
 * in its step's encoding, which a leaf proof sends as calldata: StepCodec reads parameter values where they
 * are used (not at every decode), so the leaf costs the step's bytes once, and the lowering caps a gather
 * at MAX_CONSTANT_INDICES indices (and a constant step at MAX_CONSTANT_STEP values), where the whole leaf
 * stays under the game's 2M gas per move (test/attacks/game-leaf-gas.test.ts). One index more and the
 * model does not lower: `oracle model check` names the cap and `model register` refuses OPTIMISTIC before
 * touching any chain. At the cap, the on-chain probe (cli/leaf-gas.ts) finds the step provable.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkModel } from "../../cli/check.js";
import { MAX_CONSTANT_INDICES } from "../../canonical/index.js";
import { onnx } from "../../protocol/index.js";
import { buildModel } from "../canonical/onnx-builder.js";
import { lastJson, oracle } from "../cli/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "unprovable-step-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gatherModel(n: number): string {
  const bytes = buildModel({
    input: { name: "x", shape: [1, 64] },
    output: "y",
    nodes: [{ op: "Gather", inputs: ["x", "i"], outputs: ["y"], attrs: { axis: { i: 1 } } }],
    initializers: [{ name: "i", dtype: "int64", shape: [n], values: Array.from({ length: n }, (_, k) => (k * 7) % 64) }],
  });
  const model = onnx.ModelProto.decode(bytes);
  model.graph!.output![0]!.type = { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: n }] } } };
  const file = join(dir, `gather-${n}.onnx`);
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

describe("attack: registering an unprovable step for OPTIMISTIC", () => {
  it("test_modelCheck_gatherAtIndexCap_leafUnderTwoMillionGas_optimisticAllowed", async () => {
    const r = await checkModel(gatherModel(MAX_CONSTANT_INDICES), { calibrate: false, maxInlineOutputBytes: 1 << 20 });
    expect(r.nodes).toMatchObject({ total: 1, lowered: 1, unsupported: 0 });
    expect(r.summary.disputable).toEqual({ canonical: 1, onchain: 1 });
    expect(r.onchain!.failures).toEqual([]);
    expect(r.summary.worstLeafGas).toBeGreaterThan(0);
    expect(r.summary.worstLeafGas).toBeLessThan(1_500_000);
    expect(r.verdicts.OPTIMISTIC.allowed).toBe(true);
  }, 240_000);

  it("test_modelCheck_gatherAboveIndexCap_refusedNamingTheCap_registerRefuses", async () => {
    const n = MAX_CONSTANT_INDICES + 1;
    const file = gatherModel(n);
    const r = await checkModel(file, { calibrate: false, maxInlineOutputBytes: 1 << 20 });
    expect(r.nodes).toMatchObject({ total: 1, lowered: 0, unsupported: 1 });
    expect(r.summary.disputable.canonical).toBe(0);
    expect(r.summary.blockers).toEqual([expect.stringMatching(new RegExp(`^Gather ×1: .*${n} constant indices: a gather step carries at most ${MAX_CONSTANT_INDICES} \\(MAX_CONSTANT_INDICES`))]);
    expect(r.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(r.verdicts.OPTIMISTIC.reasons).toContainEqual(expect.stringMatching(/^1 of 1 nodes are not disputable: Gather ×1 .*MAX_CONSTANT_INDICES/));
    // `model register` runs the same check before touching any chain, and refuses.
    const reg = await oracle(["model", "register", file, "--tiers", "none,optimistic", "--inputs", "1", "--max-inline-output", String(1 << 20), "--json"], { ORACLE_DEPLOYMENT: join(dir, "no-deployment.json") });
    expect(reg.code).toBe(1);
    const error = lastJson<{ error: { code: string; message: string; details: { blockingOperators: string[] } } }>(reg).error;
    expect(error.code).toBe("MODEL_NOT_DISPUTABLE");
    expect(error.message).toMatch(/cannot be offered in the OPTIMISTIC tier/);
    expect(error.message).toMatch(/MAX_CONSTANT_INDICES/);
    expect(error.details.blockingOperators).toEqual(["Gather"]);
  }, 240_000);
});
