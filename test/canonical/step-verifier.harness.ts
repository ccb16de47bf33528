/**
 * Shared by the StepVerifier suites: deploys the StepVerifier (linked to its libraries, as deployments do) and the batch
 * harness; the checks themselves (sampled elements and terms of a step against canonical/element.ts,
 * bit for bit) are canonical/leaf-probe.ts, which `oracle model check` runs too.
 */
import { network } from "hardhat";
import { deployStepVerifier as placeStepVerifier } from "../../protocol/index.js";

export { checkStep, headerOf, hex64, reduceReads, wordOf, type GasRow, type StepCheck } from "../../canonical/leaf-probe.js";

export interface Deployed {
  verifier: any;
  harness: any;
}

export async function deployStepVerifier(): Promise<Deployed> {
  const conn = await network.create();
  const [deployer] = await conn.ethers.getSigners();
  // The step verifier as every deployment places it (protocol/deployOracle.ts: its libraries first, then linked).
  const { verifier } = await placeStepVerifier(deployer!);
  const harness = await conn.ethers.deployContract("StepVerifierHarness", [await verifier.getAddress()]);
  return { verifier, harness };
}

