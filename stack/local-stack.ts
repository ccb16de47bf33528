/**
 * The whole oracle on one machine: an in-process EVM (Hardhat's EDR), the contracts deployed and
 * configured, the PP-OCR text-direction classifier registered, a staked worker, the relayer and the
 * in-process queue. Used by `npm run demo` and the end-to-end tests; every piece is the real one.
 * With `resolver: "game"` the classifier is registered with the FraudGame (the OPTIMISTIC dispute game:
 * its canonical terms set, τ_out calibrated against onnxruntime) and every worker answers the games opened
 * on its results (worker/game-answerer.ts, on by default wherever the model's resolver is the game).
 * `addWorker` starts one more worker later (`npm run demo:dispute`, test/e2e/dispute.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, parseEther, type Signer } from "ethers";
import { network } from "hardhat";
import { createLogger, Ruling, Tier, type Hex, type Logger, type GameTimes } from "../protocol/index.js";
import { InProcessQueue, type DeadLetter, type JobQueue } from "../queue/index.js";
import { Relayer, type RelayerConfigInput } from "../relayer/index.js";
import {
  OracleRequestLookup,
  RegistryCatalog,
  Worker,
  type WorkerConfigInput,
  ZkChallengeAnswerer,
  type TraceBuilder,
  workerGameAnswerer,
  type FraudGameAnswerer,
  type DisputeResponder,
} from "../worker/index.js";
import { calibratedTerms, type CalibratedTerms, type CanonicalTermsArgs } from "../canonical/index.js";
import { decodePng, ppocrClsTensor } from "../sdk/index.js";
import type { GameClientOptions } from "../protocol/fraud-game-client.js";
import {
  TextDirectionDApp__factory,
  type InferenceSubscriptions,
  type ChainedInference,
  type RedundantInference,
  type ArbiterResolver,
  type FraudGame,
  type InferenceOracle,
  type ModelRegistry,
  type TextDirectionDApp,
} from "../types/ethers-contracts/index.js";
import { CLS_MODEL_PATH, DEFAULT_PARAMS, MODEL_FEE, REQUEST_FEE, deployOracle, deployZkModel, sha256File, type LocalZk } from "./deploy.js";

export { CLS_MODEL_PATH, CLS_MODEL_URI, DEFAULT_PARAMS, MNIST_MODEL_PATH, MODEL_FEE, REQUEST_FEE, deployOracle, deployZkModel, localStackDeployConfig, sha256File, type DeployedOracle, type LocalZk } from "./deploy.js";

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
  /** Prepaid recurring requests; the relayer keeps it (triggers due rounds) by default. */
  subscriptions: InferenceSubscriptions;
  /** Chained requests and k-redundant jobs over the oracle (placed by the deployment, protocol/deployment.ts). */
  chained: ChainedInference;
  redundant: RedundantInference;
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
  const { registry, oracle, resolver, game, modelHash, subscriptions, chained, redundant, zkResolver } = await deployOracle(
    { admin, modelOwner, arbiter },
    {
      ...(canonicalTerms === undefined ? {} : { game: { terms: canonicalTerms, ...(options.gameTimes === undefined ? {} : { times: options.gameTimes }) } }),
    },
  );

  const dapp = await new TextDirectionDApp__factory(user).deploy(await oracle.getAddress(), modelHash, options.tier ?? Tier.OPTIMISTIC, 200_000);
  const zk = options.zk === true ? await deployZkModel({ admin, modelOwner, user }, registry, oracle, options.tier ?? Tier.ZK, await zkResolver.getAddress()) : undefined;

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
    chained,
    redundant,
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
