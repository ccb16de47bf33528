/** The in-process workers of `oracle dev` (cli/dev.ts): staked, watching their stake, answering FraudGames. */
import { join } from "node:path";
import { NonceManager, parseEther, Wallet, type Provider, type Signer } from "ethers";
import type { Logger } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import { RegistryCatalog, Worker, StakeWatch, workerGameAnswerer } from "../worker/index.js";
import type { InferenceOracle } from "../types/ethers-contracts/index.js";
import { oracleCommand, send, type Progress } from "./common.js";

export interface DevWorkers {
  count: number;
  /** The kept workers' signing keys, by index; a new worker's key is added and saved. */
  state: { workerKeys: string[] };
  saveState: () => void;
  /** The operator account of worker i (it stakes and pays for game moves). */
  operatorOf: (i: number) => Signer;
  oracle: InferenceOracle;
  provider: Provider;
  chainId: bigint;
  deployment: { oracle: string; registry: string; fraudGame?: string; deployBlock: number };
  logger: Logger;
  queue: JobQueue;
  dataDir: string;
  blobStoreUrl: string;
  zk: { modelHash: string; artifacts: { wasmPath: string; zkeyPath: string } } | undefined;
  closers: Array<() => Promise<unknown> | unknown>;
  progress: Progress;
}

/** Starts the workers; returns their signer addresses. */
export async function startDevWorkers(c: DevWorkers): Promise<string[]> {
  const { state, saveState, oracle, chainId, deployment, logger, queue, dataDir, zk, closers, progress } = c;
  const workerSigners: string[] = [];
  for (let i = 0; i < c.count; i++) {
    // A kept chain's workers sign with their kept keys (already staked there).
    const keptKey = state.workerKeys[i];
    const key = keptKey === undefined ? Wallet.createRandom() : new Wallet(keptKey);
    const op = c.operatorOf(i);
    if (keptKey === undefined) {
      await send(`staking worker ${i} (5 ETH, signer ${key.address.slice(0, 10)}…)`, () => oracle.connect(op).registerWorker(key.address, { value: parseEther("5") }), progress);
      state.workerKeys[i] = key.privateKey;
      saveState();
    }
    // Slashed or unbonded below what backs a result, the worker warns with the fix and passes its jobs on.
    const stake = new StakeWatch({ provider: c.provider, signer: key.address, oracles: [{ chainId, oracle: deployment.oracle }], logger: logger.child({ service: "worker", worker: i, layer: "stake" }), pollMs: 2000, command: oracleCommand() });
    await stake.start();
    closers.push(() => stake.close());
    const worker = new Worker({
      queue,
      standing: stake,
      logger: logger.child({ service: "worker", worker: i }),
      catalog: new RegistryCatalog({ provider: c.provider, registry: deployment.registry }),
      config: {
        signerKey: key.privateKey,
        allowedOracles: [{ chainId, oracle: deployment.oracle }],
        modelCacheDir: join(dataDir, `worker-${i}`, "models"),
        // Opt in: oracle dev registers its models with npm: and file: URIs (docs/SECURITY.md).
        modelSchemes: ["http", "https", "file", "npm"],
        // Opt in: inputs and models on this machine's loopback are reachable (never in production).
        fetchAllowedAddresses: ["127.0.0.0/8", "::1"],
        blobStoreUrl: c.blobStoreUrl,
        ...(zk === undefined ? {} : { zk: [{ modelHash: zk.modelHash, wasm: zk.artifacts.wasmPath, zkey: zk.artifacts.zkeyPath }] }),
      },
    });
    await progress.step(`starting worker ${i}`, () => worker.start());
    closers.push(() => worker.close());
    if (deployment.fraudGame !== undefined) {
      // The worker answers every FraudGame opened on its results; its operator pays for the moves.
      const answerer = workerGameAnswerer(worker, {
        provider: c.provider,
        sender: new NonceManager(op),
        oracle: deployment.oracle,
        game: deployment.fraudGame,
        startBlock: deployment.deployBlock,
        pollIntervalMs: 500,
        logger: logger.child({ service: "worker", worker: i, layer: "game-answerer" }),
      });
      await answerer.start();
      closers.push(() => answerer.close());
    }
    workerSigners.push(key.address);
  }
  return workerSigners;
}
