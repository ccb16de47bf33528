/**
 * Issue 12, finding 6 ("the arbiter as default"). Before: `oracle deploy` always deployed an
 * ArbiterResolver ruled by the deployer and made it the resolver every OPTIMISTIC model was registered
 * with, so the deployer could slash any worker or clear any wrong result at will.
 * Now: `oracle deploy` deploys the FraudProofResolver (one-step fraud proofs) as the default; an
 * arbiter exists only when the deployment names one (`--arbiter`, documented as a trusted party).
 * Runs the real deployment code (cli/deploy.ts) against the in-process chain.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { deployContracts, loadDeployConfig } from "../../cli/deploy.js";
import { Progress } from "../../cli/common.js";
import { ArbiterResolver__factory, FraudProofResolver__factory, ModelRegistry__factory } from "../../types/ethers-contracts/index.js";

describe("attack: the arbiter as default resolver (finding 6)", () => {
  let conn: Awaited<ReturnType<typeof network.create>>;
  beforeAll(async () => {
    conn = await network.create();
  });

  it("test_deployContracts_defaultConfig_noArbiter_fraudProofResolverIsDefault_succeeds", async () => {
    const [deployer] = await conn.ethers.getSigners();
    const d = await deployContracts(deployer!, loadDeployConfig({}), new Progress(true));
    expect(d.fraudResolver).toBeDefined();
    expect(d.resolver).toBe(d.fraudResolver);
    // The default resolver really is the fraud-proof game, approved in the registry ...
    const fraud = FraudProofResolver__factory.connect(d.resolver!, deployer!);
    expect(await fraud.registry()).toBe(d.registry);
    const registry = ModelRegistry__factory.connect(d.registry, deployer!);
    expect(await registry.isApprovedResolver(d.resolver!)).toBe(true);
    // ... and the deployer holds no arbiter: the resolver has no `arbiter()` to call.
    await expect(ArbiterResolver__factory.connect(d.resolver!, deployer!).arbiter()).rejects.toThrow();
  });

  it("test_deployContracts_arbiterAsked_arbiterIsDefault_succeeds", async () => {
    const [deployer, , , , , arbiter] = await conn.ethers.getSigners();
    const d = await deployContracts(deployer!, loadDeployConfig({ arbiter: arbiter!.address }), new Progress(true));
    expect(d.resolver).not.toBe(d.fraudResolver);
    expect(await ArbiterResolver__factory.connect(d.resolver!, deployer!).arbiter()).toBe(arbiter!.address);
  });
});
