/**
 * Shared by the StepVerifier suites: deploys StepMaps, StepIndex, StepVerifier (linked) and the batch
 * harness; the checks themselves (sampled elements and terms of a step against canonical/element.ts,
 * bit for bit) are canonical/leaf-probe.ts, which `oracle model check` runs too.
 */
import { network } from "hardhat";

export { checkStep, headerOf, hex64, reduceReads, wordOf, type GasRow, type StepCheck } from "../../canonical/leaf-probe.js";

export interface Deployed {
  verifier: any;
  harness: any;
}

export async function deployStepVerifier(): Promise<Deployed> {
  const conn = await network.create();
  const maps = await conn.ethers.deployContract("StepMaps");
  const index = await conn.ethers.deployContract("StepIndex");
  const verifier = await conn.ethers.deployContract("StepVerifier", [], { libraries: { StepMaps: await maps.getAddress(), StepIndex: await index.getAddress() } });
  const harness = await conn.ethers.deployContract("StepVerifierHarness", [await verifier.getAddress()]);
  return { verifier, harness };
}

