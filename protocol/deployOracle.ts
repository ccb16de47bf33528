/**
 * The one place that deploys InferenceOracle: it links the oracle's external libraries (deployed first,
 * one transaction each). Every deploy site (cli/deploy.ts, scripts/local-stack.ts, the contract tests)
 * goes through here, so a library the oracle gains is added once, in ORACLE_LIBRARIES.
 */
import type { Signer } from "ethers";
import {
  DisputeBook__factory,
  InferenceOracle__factory,
  OracleParams__factory,
  OracleRequests__factory,
  OracleStaking__factory,
  OracleRejections__factory,
  type InferenceOracle,
  type IInferenceOracle,
} from "../types/ethers-contracts/index.js";
import type { InferenceOracleLibraryAddresses } from "../types/ethers-contracts/factories/InferenceOracle__factory.js";

export type OracleParamsInput = IInferenceOracle.ParamsStruct;
export type OracleLibraryAddresses = InferenceOracleLibraryAddresses;

/** The oracle's linked libraries: fully qualified name (as in the build's link references) and factory.
 * A Record over the link references, so a library the build adds and this list lacks fails typechecking. */
type LibraryFactory = { new (signer: Signer): { deploy(): Promise<{ waitForDeployment(): Promise<unknown>; getAddress(): Promise<string> }> } };
const ORACLE_LIBRARIES: Record<keyof InferenceOracleLibraryAddresses, LibraryFactory> = {
  "project/contracts/libraries/OracleParams.sol:OracleParams": OracleParams__factory,
  "project/contracts/libraries/OracleRequests.sol:OracleRequests": OracleRequests__factory,
  "project/contracts/libraries/OracleStaking.sol:OracleStaking": OracleStaking__factory,
  "project/contracts/libraries/OracleRejections.sol:OracleRejections": OracleRejections__factory,
  "project/contracts/libraries/DisputeBook.sol:DisputeBook": DisputeBook__factory,
};

/** Deploys the oracle's libraries (one transaction each) and returns their addresses for linking. */
export async function deployOracleLibraries(deployer: Signer): Promise<OracleLibraryAddresses> {
  const out: Partial<Record<keyof OracleLibraryAddresses, string>> = {};
  for (const [name, factory] of Object.entries(ORACLE_LIBRARIES) as [keyof OracleLibraryAddresses, LibraryFactory][]) {
    const c = await new factory(deployer).deploy();
    await c.waitForDeployment();
    out[name] = await c.getAddress();
  }
  return out as OracleLibraryAddresses;
}

/** An InferenceOracle factory linked to `libraries` (deploy them with deployOracleLibraries). */
export function inferenceOracleFactory(deployer: Signer, libraries: OracleLibraryAddresses): InferenceOracle__factory {
  return new InferenceOracle__factory(libraries, deployer);
}

/** Deploys the libraries, then the oracle linked to them; resolves once the oracle is deployed. */
export async function deployInferenceOracle(
  deployer: Signer,
  registry: string,
  admin: string,
  params: OracleParamsInput,
  libraries?: OracleLibraryAddresses,
): Promise<InferenceOracle> {
  const factory = inferenceOracleFactory(deployer, libraries ?? (await deployOracleLibraries(deployer)));
  const oracle = await factory.deploy(registry, admin, params);
  await oracle.waitForDeployment();
  return oracle;
}
