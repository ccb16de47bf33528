/**
 * The one place that deploys InferenceOracle and the OPTIMISTIC dispute game: it links each contract's
 * external libraries (deployed first, one transaction each). Every deploy site (cli/deploy.ts, `oracle dev`,
 * scripts/local-stack.ts, the contract tests) goes through here, so a library the oracle or the step
 * verifier gains is added once, in ORACLE_LIBRARIES or STEP_VERIFIER_LIBRARIES (each a Record over the
 * build's link references: a library the build adds and the list lacks fails typechecking).
 */
import type { Signer } from "ethers";
import {
  DisputeBook__factory,
  FraudGame__factory,
  StepIndex__factory,
  StepMaps__factory,
  StepVerifier__factory,
  type FraudGame,
  type StepVerifier,
  InferenceOracle__factory,
  ModelRegistry__factory,
  OracleParams__factory,
  OracleRequests__factory,
  OracleStaking__factory,
  OracleRejections__factory,
  TokenFees__factory,
  type InferenceOracle,
  type IInferenceOracle,
} from "../types/ethers-contracts/index.js";
import type { InferenceOracleLibraryAddresses } from "../types/ethers-contracts/factories/InferenceOracle__factory.js";
import type { StepVerifierLibraryAddresses } from "../types/ethers-contracts/factories/canonical/StepVerifier__factory.js";

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
  "project/contracts/libraries/TokenFees.sol:TokenFees": TokenFees__factory,
};

/** Deploys the oracle's libraries (one transaction each) and returns their addresses for linking. */
export async function deployOracleLibraries(deployer: Signer): Promise<OracleLibraryAddresses> {
  return deployLibraries(deployer, ORACLE_LIBRARIES);
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

const STEP_VERIFIER_LIBRARIES: Record<keyof StepVerifierLibraryAddresses, LibraryFactory> = {
  "project/contracts/canonical/StepMaps.sol:StepMaps": StepMaps__factory,
  "project/contracts/canonical/StepIndex.sol:StepIndex": StepIndex__factory,
};

async function deployLibraries<K extends string>(deployer: Signer, libraries: Record<K, LibraryFactory>): Promise<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const [name, factory] of Object.entries(libraries) as [K, LibraryFactory][]) {
    const c = await new factory(deployer).deploy();
    await c.waitForDeployment();
    out[name] = await c.getAddress();
  }
  return out as Record<K, string>;
}

/**
 * The game's clocks and budget (FraudGame immutables, docs/OPTIMISTIC.md "Deadlines"): `responseTime`, the
 * worker's time to commit its trace and to answer each attack; `moveClock`, the challengers' time for each next
 * move (a late move extends nothing); `maxAttacks`, the attacks one joiner may make in one game.
 */
export interface GameTimes {
  responseTime: number;
  moveClock: number;
  maxAttacks: number;
}

/** The defaults `oracle deploy` and the local stack use: an hour to answer, half an hour per challenger move, 64 attacks. */
export const DEFAULT_GAME_TIMES: GameTimes = { responseTime: 3600, moveClock: 1800, maxAttacks: 64 };

export interface DeployedGame {
  game: FraudGame;
  /** contracts/canonical/StepVerifier.sol (the one-step leaf check), linked to its libraries. */
  verifier: string;
  libraries: StepVerifierLibraryAddresses;
}

/**
 * Deploys the step verifier (StepMaps and StepIndex first, then StepVerifier linked to them) and the FraudGame
 * on `oracle` and `registry`. Approving the game in the registry is the registry admin's (`approve` does it
 * with `deployer`, which must then be the admin).
 */
/** The step verifier (StepMaps and StepIndex deployed first, StepVerifier linked to them). */
export async function deployStepVerifier(deployer: Signer): Promise<{ verifier: StepVerifier; libraries: StepVerifierLibraryAddresses }> {
  const libraries = await deployLibraries(deployer, STEP_VERIFIER_LIBRARIES);
  const verifier = await new StepVerifier__factory(libraries, deployer).deploy();
  await verifier.waitForDeployment();
  return { verifier, libraries };
}

export async function deployFraudGame(
  deployer: Signer,
  oracle: string,
  registry: string,
  times: GameTimes = DEFAULT_GAME_TIMES,
  options: { approve?: boolean } = {},
): Promise<DeployedGame> {
  const { verifier, libraries } = await deployStepVerifier(deployer);
  const game = await new FraudGame__factory(deployer).deploy(oracle, registry, await verifier.getAddress(), times.responseTime, times.moveClock, times.maxAttacks);
  await game.waitForDeployment();
  if (options.approve === true) {
    await (await ModelRegistry__factory.connect(registry, deployer).setResolverApproval(await game.getAddress(), true)).wait();
  }
  return { game, verifier: await verifier.getAddress(), libraries };
}
