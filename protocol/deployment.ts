/**
 * The one deployment procedure (`oracle deploy`, `oracle dev`, the local stack in stack/, the contract tests'
 * fixture in test/contracts/helpers.ts): every contract a deployment's features need, placed and wired in one
 * order. ModelRegistry, InferenceOracle (with its libraries, protocol/deployOracle.ts), the resolvers (an
 * ArbiterResolver only when an arbiter is named, the FraudGame with its step verifier, the ZkDisputeResolver),
 * each approved in the registry, and the feature contracts bound to the oracle for ever (InferenceSubscriptions,
 * ChainedInference, RedundantInference). By default through the CREATE2 factory (deterministic addresses,
 * protocol/create2.ts) with the per-chain manifest (protocol/manifest.ts); `salt: false` deploys with plain CREATE.
 */
import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { getAddress, parseEther, type Signer } from "ethers";
import { z } from "zod";
import { loadConfig } from "./config.js";
import { AddressSchema } from "./schemas.js";
import { DEFAULT_GAME_TIMES, deployFraudGame, deployInferenceOracle, placeContract, type Create2Mode } from "./deployOracle.js";
import { CREATE2_FACTORY, DEFAULT_DEPLOY_SALT, deploymentMismatch, ensureCreate2Factory, type FactoryInstall } from "./create2.js";
import type { DeploymentManifest } from "./manifest.js";
import { Ruling, type Hex } from "./types.js";
import {
  ArbiterResolver__factory,
  ChainedInference__factory,
  InferenceSubscriptions__factory,
  ModelRegistry__factory,
  RedundantInference__factory,
  ZkDisputeResolver__factory,
} from "../types/ethers-contracts/index.js";

/** What the procedure reports: the CLI's Progress (cli/common.ts) on a terminal, QUIET_PROGRESS in tests. */
export interface DeployProgress {
  info(line: string): void;
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

/** Reports nothing. */
export const QUIET_PROGRESS: DeployProgress = { info: () => {}, step: (_label, fn) => fn() };

/** The deployment record (cli/common.ts DeploymentSchema reads it back from the deployment file). */
export interface DeploymentRecord {
  chainId: string;
  rpcUrl?: string;
  registry: string;
  oracle: string;
  /** The default OPTIMISTIC resolver: the ArbiterResolver when an arbiter was named, else the FraudGame. */
  resolver?: string;
  fraudGame?: string;
  /** The ZkDisputeResolver (disputes on ZK-capable models answered with a proof). */
  zkResolver?: string;
  subscriptions?: string;
  chained?: string;
  redundant?: string;
  deployBlock: number;
  admin?: string;
  params?: Record<string, string>;
}

/** Sends one transaction as a progress step and waits for it. */
async function send(what: string, sendTx: () => Promise<{ wait(): Promise<unknown> }>, progress: DeployProgress): Promise<void> {
  await progress.step(what, async () => {
    await (await sendTx()).wait();
  });
}

/** An amount in ETH ("0.1" or 0.1), or in wei as a bigint (from code; JSON has no bigints). */
const ether = z.union([z.string(), z.number(), z.bigint()]).transform((v, ctx) => {
  if (typeof v === "bigint") return v;
  try {
    return parseEther(String(v));
  } catch {
    ctx.addIssue({ code: "custom", message: `expected an ETH amount such as "0.1", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
});
const address = AddressSchema;

/** `oracle deploy --config file`: every field optional; amounts in ETH, durations in seconds. */
export const DeployConfigSchema = z.object({
  admin: address.optional().describe("admin of the registry and the oracle (default: the deployer)"),
  arbiter: address
    .optional()
    .describe(
      "deploy an ArbiterResolver ruled by this account and make it the default OPTIMISTIC resolver. The arbiter is a TRUSTED party: it decides every dispute at will (slashes any worker, or clears any result). Absent: no arbiter; the FraudGame is the default",
    ),
  disputeWindow: z.number().int().positive().default(3600).describe("seconds the arbiter has to rule before the default outcome (an ArbiterResolver only; the game's clocks are `game`)"),
  zkAnswerWithin: z.number().int().positive().default(3600).describe("seconds a worker has to answer a dispute on a ZK-capable model with a proof (the ZkDisputeResolver)"),
  fraudGame: z
    .boolean()
    .default(true)
    .describe("deploy the step verifier and the FraudGame (docs/OPTIMISTIC.md), approved in the registry; the default OPTIMISTIC resolver unless an arbiter is named"),
  game: z
    .object({
      responseTime: z.number().int().positive().default(DEFAULT_GAME_TIMES.responseTime).describe("seconds the worker has to commit its trace after a dispute opens, and to answer each attack (silence: WorkerFault)"),
      moveClock: z.number().int().positive().default(DEFAULT_GAME_TIMES.moveClock).describe("seconds challengers have for each next move after the worker's answer (the game ends moveClock after the last answer left unattacked)"),
      maxAttacks: z.number().int().positive().max(4096).default(DEFAULT_GAME_TIMES.maxAttacks).describe("attacks one challenger may make in one game"),
    })
    .strict()
    .prefault({})
    .describe("the FraudGame's clocks (immutables)"),
  params: z
    .object({
      minStake: ether.default(parseEther("1")),
      resultBond: ether.default(parseEther("0.1")),
      challengeBond: ether.default(parseEther("0.1")),
      minWorkerFee: ether.default(parseEther("0.001")),
      challengeWindow: z.number().int().positive().default(600),
      unbondingDelay: z.number().int().nonnegative().default(7 * 24 * 3600),
      relayerFeeBps: z.number().int().min(0).max(10_000).default(1000),
      maxInlineInputBytes: z.number().int().nonnegative().default(16 * 1024),
      maxInlineOutputBytes: z.number().int().nonnegative().default(4096),
      maxCallbackGasLimit: z.number().int().positive().default(2_000_000),
      paramsDelay: z.number().int().nonnegative().max(90 * 86400).default(86400).describe("seconds a scheduled params change waits before it applies (to new requests only)"),
      minGasPrice: z.coerce.bigint().nonnegative().default(1_000_000_000n).describe("wei per gas, at least, that a request's callbackGasLimit is priced at (the block's basefee when higher); paid to whoever executes the callback"),
      rejectionQuorum: z.number().int().min(1).max(64).default(2).describe("distinct staked workers whose signed rejections refund a request (until then it stays open; its requester may cancel it)"),
      burnBps: z.number().int().min(1).max(10_000).default(2000).describe("share of every slash and of every losing challenger's bond that is burned (kept in the oracle for ever), so a worker never breaks even on its own proven fault"),
      tolerancePenaltyBps: z.number().int().min(0).max(10_000).default(2500).describe("share of the result bond slashed when a dispute rules OutputMinor (output beyond tau_out, canonical trace right)"),
    })
    .strict()
    .prefault({}),
}).strict();
export type DeployConfig = z.output<typeof DeployConfigSchema>;
export type DeployConfigInput = z.input<typeof DeployConfigSchema>;

export function loadDeployConfig(input: unknown): DeployConfig {
  return loadConfig(DeployConfigSchema, input);
}

export interface DeployOptions {
  /**
   * The base salt: every contract (libraries included) goes through the CREATE2 factory under a salt derived
   * from it (protocol/create2.ts), so the same deployer, config and salt give the same addresses on every
   * chain. Default DEFAULT_DEPLOY_SALT; false deploys with plain CREATE (addresses from the deployer's nonce).
   */
  salt?: Hex | false;
  /**
   * This chain's manifest from an earlier deployment: a contract it records must come out at the same address
   * (else this config, deployer or salt differs from that deployment's: refused before anything is sent), and a
   * contract found deployed must have the code hash it records.
   */
  previous?: DeploymentManifest;
}

/** What deployContracts returns: the deployment record, and with CREATE2 the manifest (not yet written). */
export type DeployResult = DeploymentRecord & { manifest?: DeploymentManifest; factoryInstall?: FactoryInstall; reused?: string[] };

/** The commit the contracts were built from, when this runs from a git checkout. */
function gitCommit(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: REPOSITORY, stdio: ["ignore", "pipe", "ignore"], timeout: 5000 }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}
const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Deploys registry, oracle and resolvers (approved in the registry); returns the deployment record.
 * `resolver` in the record, the default for `oracle model register`, is the ArbiterResolver only when
 * `config.arbiter` names one, else the FraudGame (absent when neither is deployed); `fraudGame` names the game.
 *
 * With a salt (the default) every contract goes through the CREATE2 factory (installed first when the chain
 * lacks it) and is reused when already deployed: running it again with the same deployer, config and salt
 * sends only what is missing (approvals, the admin hand-over). The registry's init code names the deployer as
 * its first admin and the oracle's names `admin` as owner, so nobody else can create these addresses with
 * another owner: a front-runner with the same salt and another owner lands elsewhere (test/attacks/create2-*).
 */
export async function deployContracts(deployer: Signer, config: DeployConfig, progress: DeployProgress = QUIET_PROGRESS, rpcUrl?: string, options: DeployOptions = {}): Promise<DeployResult> {
  const me = await deployer.getAddress();
  const provider = deployer.provider!;
  const chainId = (await provider.getNetwork()).chainId;
  const admin = getAddress(config.admin ?? me);
  const salt = options.salt === undefined ? DEFAULT_DEPLOY_SALT : options.salt;
  const previous = salt !== false && options.previous?.salt.toLowerCase() === salt.toLowerCase() ? options.previous : undefined;
  let factoryInstall: FactoryInstall | undefined;
  if (salt !== false) {
    factoryInstall = await progress.step("checking the CREATE2 factory (Arachnid's deterministic deployment proxy)", () => ensureCreate2Factory(deployer));
    if (factoryInstall === "presigned") progress.info(`  installed the CREATE2 factory ${CREATE2_FACTORY} with its presigned keyless transaction`);
    if (factoryInstall === "setCode") progress.info(`  installed the CREATE2 factory ${CREATE2_FACTORY} with hardhat_setCode (this chain refused the presigned transaction; a development chain)`);
  }
  const deployBlock = previous?.blockNumber ?? (await provider.getBlockNumber());
  const create2: Create2Mode | undefined = salt === false ? undefined : { salt, expect: previous?.contracts, placed: [] };
  // The deployer is the registry's first admin until the resolvers are approved, then hands over.
  const registry = await progress.step("deploying ModelRegistry", async () => ModelRegistry__factory.connect(await placeContract(deployer, "ModelRegistry", new ModelRegistry__factory(deployer), [me], create2), deployer));
  const registryAddress = await registry.getAddress();
  const oracle = await progress.step("deploying InferenceOracle", async () => {
    return deployInferenceOracle(deployer, registryAddress, admin, config.params, undefined, create2);
  });
  const oracleAddress = await oracle.getAddress();
  // An approval is sent only when missing (a rerun finds the earlier ones); only the registry's admin can send it.
  const approve = async (what: string, resolver: string): Promise<void> => {
    if (await registry.isApprovedResolver(resolver)) return;
    const current = await registry.admin();
    if (current.toLowerCase() !== me.toLowerCase()) {
      throw deploymentMismatch(`the registry's admin is ${current}, not the deployer ${me}: it must approve the ${what} ${resolver} (registry.setResolverApproval)`, { registry: registryAddress, resolver });
    }
    await send(`approving the ${what} in the registry`, () => registry.setResolverApproval(resolver, true), progress);
  };
  let arbiterResolver: string | undefined;
  if (config.arbiter !== undefined) {
    const arbiter = config.arbiter;
    arbiterResolver = await progress.step(`deploying ArbiterResolver (arbiter ${arbiter}, a trusted party)`, async () =>
      placeContract(deployer, "ArbiterResolver", new ArbiterResolver__factory(deployer), [oracleAddress, arbiter, config.disputeWindow, Ruling.WorkerRight], create2),
    );
    await approve("ArbiterResolver", arbiterResolver);
  }
  let fraudGame: string | undefined;
  if (config.fraudGame) {
    fraudGame = await progress.step(
      `deploying the step verifier and the FraudGame (response ${config.game.responseTime} s, move clock ${config.game.moveClock} s, ${config.game.maxAttacks} attacks)`,
      async () => (await deployFraudGame(deployer, oracleAddress, registryAddress, config.game, create2 === undefined ? {} : { create2 })).game.getAddress(),
    );
    await approve("FraudGame", fraudGame);
  }
  // ZK-capable models' resolver: a dispute is answered with a proof (contracts/resolvers/ZkDisputeResolver.sol).
  const zkResolver = await progress.step("deploying ZkDisputeResolver", async () =>
    placeContract(deployer, "ZkDisputeResolver", new ZkDisputeResolver__factory(deployer), [oracleAddress, registryAddress, config.zkAnswerWithin], create2),
  );
  await approve("ZkDisputeResolver", zkResolver);
  // The features' contracts (docs/FEATURES.md): no owner, each bound to this oracle for ever.
  const feature = (name: string, factory: typeof InferenceSubscriptions__factory | typeof ChainedInference__factory | typeof RedundantInference__factory) =>
    progress.step(`deploying ${name}`, async () => placeContract(deployer, name, new factory(deployer), [oracleAddress], create2));
  const subscriptions = await feature("InferenceSubscriptions", InferenceSubscriptions__factory);
  const chained = await feature("ChainedInference", ChainedInference__factory);
  const redundant = await feature("RedundantInference", RedundantInference__factory);
  // The default OPTIMISTIC resolver: the arbiter only when the deployment named one.
  const defaultResolver = arbiterResolver ?? fraudGame;
  if (admin.toLowerCase() !== me.toLowerCase() && (await registry.admin()).toLowerCase() === me.toLowerCase()) {
    await send("handing the registry to the admin", () => registry.transferAdmin(admin), progress);
  }
  const params = Object.fromEntries(Object.entries(config.params).map(([k, v]) => [k, String(v)]));
  const deployment: DeployResult = {
    chainId: chainId.toString(),
    ...(rpcUrl === undefined ? {} : { rpcUrl }),
    registry: registryAddress,
    oracle: oracleAddress,
    ...(defaultResolver === undefined ? {} : { resolver: defaultResolver }),
    ...(fraudGame === undefined ? {} : { fraudGame }),
    zkResolver,
    subscriptions,
    chained,
    redundant,
    deployBlock,
    admin,
    params,
  };
  if (create2 === undefined) return deployment;
  const commit = gitCommit();
  const manifest: DeploymentManifest = {
    version: 1,
    chainId: chainId.toString(),
    factory: getAddress(CREATE2_FACTORY),
    salt: create2.salt,
    deployer: getAddress(me),
    admin,
    registry: registryAddress,
    oracle: oracleAddress,
    ...(defaultResolver === undefined ? {} : { resolver: defaultResolver }),
    ...(fraudGame === undefined ? {} : { fraudGame, game: config.game }),
    ...(config.arbiter === undefined ? {} : { arbiter: getAddress(config.arbiter), disputeWindow: config.disputeWindow }),
    params,
    blockNumber: deployBlock,
    ...(commit === undefined ? {} : { gitCommit: commit }),
    contracts: Object.fromEntries(create2.placed.map((p) => [p.name, { address: p.address, salt: p.salt, initCodeHash: p.initCodeHash, codeHash: p.codeHash }])),
  };
  return { ...deployment, manifest, ...(factoryInstall === undefined ? {} : { factoryInstall }), reused: create2.placed.filter((p) => p.reused).map((p) => p.name) };
}
