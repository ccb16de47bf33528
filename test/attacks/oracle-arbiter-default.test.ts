/**
 * Issue 12, finding 6 ("the arbiter as default"). Before: `oracle deploy` always deployed an
 * ArbiterResolver ruled by the deployer and made it the resolver every OPTIMISTIC model was registered
 * with, so the deployer could slash any worker or clear any wrong result at will.
 * Now: `oracle deploy` deploys the FraudGame (the bisection game over canonical traces, its leaf checked by
 * the StepVerifier) as the default; an arbiter exists only when the deployment names one (`--arbiter`,
 * documented as a trusted party).
 * Runs the real deployment code (cli/deploy.ts) against the in-process chain.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { deployContracts, loadDeployConfig } from "../../protocol/index.js";
import { Progress } from "../../cli/common.js";
import { ArbiterResolver__factory, FraudGame__factory, ModelRegistry__factory, StepVerifier__factory } from "../../types/ethers-contracts/index.js";

describe("attack: the arbiter as default resolver (finding 6)", () => {
  let conn: Awaited<ReturnType<typeof network.create>>;
  beforeAll(async () => {
    conn = await network.create();
  });

  it("test_deployContracts_defaultConfig_noArbiter_fraudGameIsDefault_succeeds", async () => {
    const [deployer] = await conn.ethers.getSigners();
    const d = await deployContracts(deployer!, loadDeployConfig({}), new Progress(true));
    expect(d.fraudGame).toBeDefined();
    expect(d.resolver).toBe(d.fraudGame);
    // The default resolver really is the FraudGame on this oracle and registry, with its default clocks, and its
    // verifier is the real StepVerifier (linked to its libraries: a leaf check runs) ...
    const game = FraudGame__factory.connect(d.resolver!, deployer!);
    expect(await game.registry()).toBe(d.registry);
    expect(await game.oracle()).toBe(d.oracle);
    expect([await game.responseTime(), await game.moveClock(), await game.maxAttacks()]).toEqual([3600n, 1800n, 64n]);
    const verifier = StepVerifier__factory.connect(await game.verifier(), deployer!);
    expect((await conn.ethers.provider.getCode(await verifier.getAddress())).length).toBeGreaterThan(2);
    const registry = ModelRegistry__factory.connect(d.registry, deployer!);
    expect(await registry.isApprovedResolver(d.resolver!)).toBe(true);
    // ... and the deployer holds no arbiter: the resolver has no `arbiter()` to call.
    await expect(ArbiterResolver__factory.connect(d.resolver!, deployer!).arbiter()).rejects.toThrow();
  });

  it("test_deployContracts_arbiterAsked_arbiterIsDefault_succeeds", async () => {
    const [deployer, , , , , arbiter] = await conn.ethers.getSigners();
    const d = await deployContracts(deployer!, loadDeployConfig({ arbiter: arbiter!.address }), new Progress(true));
    expect(d.fraudGame).toBeDefined();
    expect(d.resolver).not.toBe(d.fraudGame);
    expect(await ArbiterResolver__factory.connect(d.resolver!, deployer!).arbiter()).toBe(arbiter!.address);
  });
});
