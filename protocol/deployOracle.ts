/**
 * The one place that deploys InferenceOracle and the OPTIMISTIC dispute game: it links each contract's
 * external libraries (deployed first, one transaction each). The deployment procedure (protocol/deployment.ts,
 * behind `oracle deploy`, `oracle dev`, the local stack and the contract tests) goes through here, so a library the oracle or the step
 * verifier gains is added once, in ORACLE_LIBRARIES or STEP_VERIFIER_LIBRARIES (each a Record over the
 * build's link references: a library the build adds and the list lacks fails typechecking).
 *
 * Each function takes an optional Create2Mode: then every contract, the libraries included (so the link
 * addresses, hence the linking contracts' init code, are the same everywhere), goes through the CREATE2
 * factory (protocol/create2.ts) under a salt derived from one base salt and the contract's name.
 */
import type { ContractFactory, Signer } from "ethers";
import { placeCreate2, type Create2Expectation, type Create2Placement } from "./create2.js";
import type { Hex } from "./types.js";
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

/**
 * Deploy through the CREATE2 factory (ensureCreate2Factory first) under `salt`: a contract already at its
 * address is reused; `expect[name]` (an earlier manifest's record) must match its address and code hash; and
 * `placed` collects every contract placed, in order, for the manifest.
 */
export interface Create2Mode {
  salt: Hex;
  expect?: Record<string, Create2Expectation>;
  placed: Create2Placement[];
}

/** Deploys `factory` with `args`: plainly (CREATE), or with `create2` through the factory. Returns the address. */
export async function placeContract(deployer: Signer, name: string, factory: { getDeployTransaction: unknown; deploy: unknown }, args: unknown[], create2?: Create2Mode): Promise<string> {
  const f = factory as unknown as ContractFactory;
  if (create2 === undefined) {
    const c = await f.deploy(...args);
    await c.waitForDeployment();
    return c.getAddress();
  }
  const tx = await f.getDeployTransaction(...args);
  const placed = await placeCreate2(deployer, name, tx.data, create2.salt, create2.expect?.[name]);
  create2.placed.push(placed);
  return placed.address;
}

/** The contract name a fully qualified library name ends with ("project/…/OracleParams.sol:OracleParams" → "OracleParams"). */
function shortName(qualified: string): string {
  return qualified.slice(qualified.lastIndexOf(":") + 1);
}

/** The oracle's linked libraries: fully qualified name (as in the build's link references) and factory.
 * A Record over the link references, so a library the build adds and this list lacks fails typechecking. */
type LibraryFactory = { new (signer: Signer): { deploy: unknown; getDeployTransaction: unknown } };
const ORACLE_LIBRARIES: Record<keyof InferenceOracleLibraryAddresses, LibraryFactory> = {
  "project/contracts/libraries/OracleParams.sol:OracleParams": OracleParams__factory,
  "project/contracts/libraries/OracleRequests.sol:OracleRequests": OracleRequests__factory,
  "project/contracts/libraries/OracleStaking.sol:OracleStaking": OracleStaking__factory,
  "project/contracts/libraries/OracleRejections.sol:OracleRejections": OracleRejections__factory,
  "project/contracts/libraries/DisputeBook.sol:DisputeBook": DisputeBook__factory,
  "project/contracts/libraries/TokenFees.sol:TokenFees": TokenFees__factory,
};

/** Deploys the oracle's libraries (one transaction each) and returns their addresses for linking. */
export async function deployOracleLibraries(deployer: Signer, create2?: Create2Mode): Promise<OracleLibraryAddresses> {
  return deployLibraries(deployer, ORACLE_LIBRARIES, create2);
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
  create2?: Create2Mode,
): Promise<InferenceOracle> {
  const factory = inferenceOracleFactory(deployer, libraries ?? (await deployOracleLibraries(deployer, create2)));
  const address = await placeContract(deployer, "InferenceOracle", factory, [registry, admin, params], create2);
  return InferenceOracle__factory.connect(address, deployer);
}

const STEP_VERIFIER_LIBRARIES: Record<keyof StepVerifierLibraryAddresses, LibraryFactory> = {
  "project/contracts/canonical/StepMaps.sol:StepMaps": StepMaps__factory,
  "project/contracts/canonical/StepIndex.sol:StepIndex": StepIndex__factory,
};

async function deployLibraries<K extends string>(deployer: Signer, libraries: Record<K, LibraryFactory>, create2?: Create2Mode): Promise<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const [name, factory] of Object.entries(libraries) as [K, LibraryFactory][]) {
    out[name] = await placeContract(deployer, shortName(name), new factory(deployer), [], create2);
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
export async function deployStepVerifier(deployer: Signer, create2?: Create2Mode): Promise<{ verifier: StepVerifier; libraries: StepVerifierLibraryAddresses }> {
  const libraries = await deployLibraries(deployer, STEP_VERIFIER_LIBRARIES, create2);
  const address = await placeContract(deployer, "StepVerifier", new StepVerifier__factory(libraries, deployer), [], create2);
  return { verifier: StepVerifier__factory.connect(address, deployer), libraries };
}

export async function deployFraudGame(
  deployer: Signer,
  oracle: string,
  registry: string,
  times: GameTimes = DEFAULT_GAME_TIMES,
  options: { approve?: boolean; create2?: Create2Mode } = {},
): Promise<DeployedGame> {
  const { verifier, libraries } = await deployStepVerifier(deployer, options.create2);
  const gameAddress = await placeContract(
    deployer,
    "FraudGame",
    new FraudGame__factory(deployer),
    [oracle, registry, await verifier.getAddress(), times.responseTime, times.moveClock, times.maxAttacks],
    options.create2,
  );
  const game = FraudGame__factory.connect(gameAddress, deployer);
  if (options.approve === true) {
    await (await ModelRegistry__factory.connect(registry, deployer).setResolverApproval(await game.getAddress(), true)).wait();
  }
  return { game, verifier: await verifier.getAddress(), libraries };
}
