/**
 * ModelRegistry's set-once canonical terms (docs/V2.md §2): the commitment is checked against its parts
 * (canonical/commitment.ts commitmentOf, here from a real lowered model), the tolerances must be sane, only the
 * model owner sets them, and only once.
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalTermsOf, commitProgram, lowerModel, type CanonicalTermsArgs } from "../../canonical/index.js";
import { sha256, bytesToHex } from "../../protocol/index.js";
import { events, expectRevert, modelInfo, type Connection } from "./helpers.js";

const MODEL = readFileSync("models/mnist-mlp.onnx");
const MODEL_HASH = bytesToHex(sha256(MODEL));
const TOL = { outAbs: 0, outRel: 0, majorAbs: 1, majorRel: 0.5 };

let conn: Connection;
let terms: CanonicalTermsArgs;
beforeAll(async () => {
  conn = await network.create();
  terms = canonicalTermsOf(commitProgram(lowerModel(MODEL, {}), "fp32"), TOL);
});

async function fresh() {
  const [admin, owner, other] = await conn.ethers.getSigners();
  const registry: any = await conn.ethers.deployContract("ModelRegistry", [admin!.address]);
  await registry.connect(owner).registerModel(MODEL_HASH, modelInfo({ tiers: 1 }));
  return { registry, owner: owner!, other: other! };
}

const F64 = (x: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.readBigUInt64BE();
};

describe("ModelRegistry canonical terms", () => {
  it("test_setCanonicalTerms_realCommitment_succeeds: stored once, read back, event emitted", async () => {
    const { registry, owner } = await fresh();
    expect(await registry.hasCanonicalTerms(MODEL_HASH)).toBe(false);
    await expectRevert(registry.canonicalTerms(MODEL_HASH), registry, "RegistryCanonicalTermsNotSet");
    const rc = await (await registry.connect(owner).setCanonicalTerms(MODEL_HASH, terms)).wait();
    const ev = events(rc, registry, "CanonicalTermsSet");
    expect(ev).toHaveLength(1);
    expect(ev[0]!.args.commitment).toBe(terms.commitment);
    const got = await registry.canonicalTerms(MODEL_HASH);
    expect(got.commitment).toBe(terms.commitment);
    expect(got.programRoot).toBe(terms.programRoot);
    expect(got.weightsRoot).toBe(terms.weightsRoot);
    expect(Number(got.stepCount)).toBe(17);
    expect(got.tauMajorAbs).toBe(F64(1));
    expect(await registry.hasCanonicalTerms(MODEL_HASH)).toBe(true);
  });

  it("test_setCanonicalTerms_twice_reverts: set-once, even by the owner with the same terms", async () => {
    const { registry, owner } = await fresh();
    await registry.connect(owner).setCanonicalTerms(MODEL_HASH, terms);
    await expectRevert(registry.connect(owner).setCanonicalTerms(MODEL_HASH, terms), registry, "RegistryCanonicalTermsAlreadySet");
  });

  it("test_setCanonicalTerms_notOwner_reverts", async () => {
    const { registry, other } = await fresh();
    await expectRevert(registry.connect(other).setCanonicalTerms(MODEL_HASH, terms), registry, "RegistryNotModelOwner");
  });

  it("test_setCanonicalTerms_commitmentMismatch_reverts: any part changed (step count, roots, precision)", async () => {
    const { registry, owner } = await fresh();
    for (const bad of [
      { ...terms, stepCount: terms.stepCount + 1 },
      { ...terms, programRoot: terms.weightsRoot },
      { ...terms, precision: 1 },
      { ...terms, semanticsVersion: terms.semanticsVersion + 1 },
    ]) {
      await expectRevert(registry.connect(owner).setCanonicalTerms(MODEL_HASH, bad), registry, "RegistryCanonicalCommitmentMismatch");
    }
  });

  it("test_setCanonicalTerms_insaneTolerances_reverts: negative, NaN, infinite, τ_major < τ_out, bad precision", async () => {
    const { registry, owner } = await fresh();
    for (const bad of [
      { ...terms, tauOutAbs: F64(-1e-6) },
      { ...terms, tauOutRel: F64(NaN) },
      { ...terms, tauMajorAbs: F64(Infinity) },
      { ...terms, tauOutAbs: F64(2), tauMajorAbs: F64(1) },
      { ...terms, tauOutRel: F64(0.6), tauMajorRel: F64(0.5) },
      { ...terms, precision: 4 },
    ]) {
      await expectRevert(registry.connect(owner).setCanonicalTerms(MODEL_HASH, bad), registry, "RegistryInvalidCanonicalTerms");
    }
    expect(() => canonicalTermsOf(commitProgram(lowerModel(MODEL, {}), "fp32"), { ...TOL, outAbs: 2 })).toThrow();
  });
});
