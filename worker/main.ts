/**
 * A worker as its own process: how workers on other machines join the oracle.
 *
 *   RABBITMQ_URL=amqp://user:pass@broker:5672 RPC_URL=http://node:8545 \
 *   WORKER_SIGNER_KEY=0x... WORKER_ALLOWED_ORACLES='[{"chainId":"31337","oracle":"0x..."}]' \
 *     node --import tsx worker/main.ts [worker.json]
 *
 * Configuration: the optional JSON file (WorkerConfigSchema), overlaid with WORKER_* variables
 * (loadWorkerConfig). Models come from the on-chain ModelRegistry read over RPC_URL; its address is
 * REGISTRY_ADDRESS, or else read from the first allowed oracle's `registry()`. Without RPC_URL the
 * worker serves only the models pinned in its config (StaticCatalog). With RPC_URL and no allowed oracles
 * (neither WORKER_ALLOWED_ORACLES nor the file's allowedOracles), the deployment manifest of the chain
 * RPC_URL serves (`deployments/<chainId>.json`, or ORACLE_MANIFESTS; protocol/manifest.ts) names the oracle
 * and the registry. RABBITMQ_NAMESPACE prefixes
 * every queue name (the same for every party); RABBITMQ_CONNECTION_NAME names the connection.
 *
 * Observability: METRICS_PORT (off when unset) serves GET /metrics (Prometheus), /healthz and /readyz
 * (queue reachable, consuming, chain reachable when RPC_URL is set, pinned models fetched and
 * verified, the stake backs a result) on METRICS_HOST (default 127.0.0.1). Pinned models are fetched
 * at start-up.
 *
 * Stake: with RPC_URL the worker reads its operator's stake every WORKER_STAKE_POLL_MS (default 5000;
 * worker/stake-watch.ts). Slashed or unbonded below the minimum (or without a free result bond) it
 * logs a warning naming the `oracle stake` command that fixes it, fails /readyz, sets
 * oracle_worker_stake_can_back to 0 and passes its jobs on to other workers until the stake is back.
 *
 * ZK challenges: with RPC_URL, a `zk` config and WORKER_ANSWER_KEY (an account that pays for the
 * answers; it needs no stake), the worker also runs the ZkChallengeAnswerer
 * (worker/prover-answerer.ts): a challenge on an OPTIMISTIC result of a zk-capable model is answered
 * with a proof made on this worker's prover threads. The resolver is ZK_RESOLVER_ADDRESS, or else the
 * registry's resolver of the first zk model.
 *
 * FraudGame disputes (on by default with RPC_URL): the worker runs a FraudGameAnswerer
 * (worker/game-answerer.ts) on every FraudGame of its oracle (FRAUD_GAME_ADDRESS, comma-separated, else every
 * game the registry approved, found at start-up): a game opened on one of its own results is answered from the
 * canonical trace of the request's input (kept in the worker's input cache, refetched by hash or URI when
 * missing): the TraceCommitment, then every attack, until the ruling. An unanswered game is a slash, so the
 * moves are paid by WORKER_ANSWER_KEY, else by the result signer's own account (warned about: it must hold ETH).
 *
 * Host: the worker should run as a non-root user, from an empty working directory, with its signer key
 * in WORKER_SIGNER_KEY or a file outside that directory (worker/host-check.ts). Each way it does not is
 * logged as a warning at start-up; WORKER_HOST_CHECK=refuse makes them fatal, `off` skips the check.
 *
 * SIGTERM / SIGINT: close() (stop taking jobs, finish the ones in flight, release sessions), close
 * the queue, exit 0; a second signal exits at once. `{"msg":"worker ready"}` is logged once it
 * consumes jobs.
 */
import { existsSync, readFileSync } from "node:fs";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import {
  closeOnSignals,
  createLogger,
  IInferenceOracle__factory,
  QUEUES,
  type Hex,
  serviceManifest,
  startMetricsServer,
  WorkerMetrics,
  type MetricsServer,
  IModelRegistry__factory,
} from "../protocol/index.js";
import { FraudGame__factory } from "../types/ethers-contracts/index.js";
import { RabbitMqQueue } from "../queue/index.js";
import { RegistryCatalog, StaticCatalog, type ModelCatalog } from "./catalog.js";
import { ZkChallengeAnswerer } from "./prover-answerer.js";
import { findFraudGames, workerGameAnswerer, type FraudGameAnswerer } from "./game-answerer.js";
import { loadWorkerConfig } from "./config.js";
import { OracleRequestLookup } from "./requests.js";
import { Worker } from "./worker.js";
import { StakeWatch } from "./stake-watch.js";
import { hostCheckMode, workerHostProblems } from "./host-check.js";

export async function main(argv = process.argv.slice(2), env = process.env): Promise<void> {
  const log = createLogger("worker");
  const file = argv[0] === undefined ? {} : (JSON.parse(readFileSync(argv[0], "utf8")) as Record<string, unknown>);
  // No allowed oracle named: the manifest of the chain RPC_URL serves names the deployment.
  const found = await serviceManifest("worker", env.RPC_URL, env, file);
  if (found !== undefined) log.info({ manifest: found.file, oracle: found.manifest.oracle }, "deployment read from the chain's manifest");
  const config = loadWorkerConfig(file, env);
  // Where and as whom this process runs (worker/host-check.ts): warned about, or refused with WORKER_HOST_CHECK=refuse.
  const hostMode = hostCheckMode(env.WORKER_HOST_CHECK);
  const hostProblems = hostMode === "off" ? [] : workerHostProblems({ uid: process.getuid?.(), cwd: process.cwd(), ...(argv[0] === undefined ? {} : { configPath: argv[0] }) });
  if (hostMode === "refuse" && hostProblems.length > 0) {
    throw new Error(`the worker refuses to start (WORKER_HOST_CHECK=refuse):\n  - ${hostProblems.join("\n  - ")}`);
  }
  for (const problem of hostProblems) log.warn({ check: "host" }, problem);
  const brokerUrl = env.RABBITMQ_URL;
  if (brokerUrl === undefined || brokerUrl === "") throw new Error("RABBITMQ_URL is required: a worker process takes its jobs from a broker");

  let provider: JsonRpcProvider | undefined;
  let registry: string | undefined;
  let catalog: ModelCatalog;
  if (env.RPC_URL !== undefined && env.RPC_URL !== "") {
    provider = new JsonRpcProvider(env.RPC_URL, undefined, { staticNetwork: true, pollingInterval: 1000 });
    registry = env.REGISTRY_ADDRESS;
    if (registry === undefined || registry === "") {
      registry = await IInferenceOracle__factory.connect(config.allowedOracles[0]!.oracle, provider).registry();
    }
    catalog = new RegistryCatalog({ provider, registry });
  } else {
    catalog = new StaticCatalog(config.models);
  }

  const queue = await RabbitMqQueue.connect(brokerUrl, {
    logger: log.child({ layer: "queue" }),
    connectionName: env.RABBITMQ_CONNECTION_NAME ?? "worker",
    namespace: env.RABBITMQ_NAMESPACE ?? "",
    connectTimeoutMs: 30_000,
  });
  const metrics = new WorkerMetrics({ defaultMetrics: true });
  // With a chain at hand, every job is checked against the oracle's getRequest before it is served.
  const requests = provider === undefined ? undefined : new OracleRequestLookup(provider);
  if (requests === undefined) log.warn("no RPC_URL: jobs are not checked against the chain (a forged job could be served or rejected)");
  // With a chain at hand, the stake is watched: a worker slashed or unbonded below what backs a result
  // says so (with the fix), reports it on /readyz and /metrics, and passes its jobs on until it is back.
  const stake = provider === undefined ? undefined : new StakeWatch({
    provider, signer: new Wallet(config.signerKey).address, oracles: config.allowedOracles, logger: log.child({ layer: "stake" }), registry: metrics.registry,
    pollMs: env.WORKER_STAKE_POLL_MS === undefined || env.WORKER_STAKE_POLL_MS === "" ? 5000 : Number(env.WORKER_STAKE_POLL_MS), command: env.ORACLE_COMMAND ?? "oracle",
  });
  await stake?.start();
  const worker = new Worker({ config, queue, catalog, logger: log, metrics, ...(requests === undefined ? {} : { requests }), ...(stake === undefined ? {} : { standing: stake }) });
  await worker.start();
  // Pinned models are fetched and verified now, so /readyz can say when they are loaded.
  for (const m of config.models) {
    worker.models.path(m.modelHash as Hex, m.uris).catch((error: unknown) => log.error({ err: error, modelHash: m.modelHash }, "pinned model could not be loaded"));
  }
  let server: MetricsServer | undefined;
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== "") {
    server = await startMetricsServer({
      registry: metrics.registry,
      port: Number(env.METRICS_PORT),
      host: env.METRICS_HOST ?? "127.0.0.1",
      readiness: {
        queue: async () => ({ jobs: await queue.depth(QUEUES.jobs) }),
        ...(provider === undefined ? {} : { chain: async () => ({ head: await provider.getBlockNumber() }) }),
        ...(stake === undefined ? {} : { stake: () => stake.readiness() }),
        models: () => {
          const missing = config.models.filter((m) => !existsSync(worker.models.cachePath(m.modelHash as Hex)));
          if (missing.length > 0) throw new Error(`pinned models not loaded yet: ${missing.map((m) => m.modelHash.slice(0, 10)).join(", ")}`);
          return { pinned: config.models.length, sessions: worker.sessions.size };
        },
      },
    });
    log.info({ url: server.url }, "metrics and health endpoints listening");
  }
  let answerer: ZkChallengeAnswerer | undefined;
  const answerKey = env.WORKER_ANSWER_KEY;
  if (provider !== undefined && registry !== undefined && config.zk.length > 0 && answerKey !== undefined && answerKey !== "") {
    let resolver = env.ZK_RESOLVER_ADDRESS;
    if (resolver === undefined || resolver === "") {
      resolver = (await IModelRegistry__factory.connect(registry, provider).model(config.zk[0]!.modelHash)).resolver;
    }
    answerer = new ZkChallengeAnswerer({
      provider,
      signer: new Wallet(answerKey, provider),
      oracle: config.allowedOracles[0]!.oracle,
      resolver,
      zk: config.zk,
      prover: worker.prover,
      // The worker's own address policy for input fetches (protocol/netPolicy.ts).
      addressPolicy: { allowedAddresses: config.fetchAllowedAddresses, trustedOrigins: config.blobStoreUrl === undefined ? [] : [new URL(config.blobStoreUrl).origin] },
      inputSchemes: config.inputSchemes,
      logger: log.child({ layer: "zk-answerer" }),
    });
    await answerer.start();
    log.info({ resolver }, "answering ZK challenges");
  }
  const gameAnswerers: FraudGameAnswerer[] = [];
  if (provider !== undefined && registry !== undefined) {
    const oracle = config.allowedOracles[0]!.oracle;
    const listed = (env.FRAUD_GAME_ADDRESS ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "");
    const games = listed.length > 0 ? listed : await findFraudGames(provider, registry, oracle);
    if (games.length > 0) {
      let payer = answerKey;
      if (payer === undefined || payer === "") {
        payer = config.signerKey;
        log.warn({ account: worker.address }, "no WORKER_ANSWER_KEY: the result signer's account pays for FraudGame answers (fund it, or an honest result is slashed by timeout)");
      }
      const sender = new NonceManager(new Wallet(payer, provider));
      const latest = await provider.getBlockNumber();
      for (const game of games) {
        // A game opened while this worker was down is still answered if its commitment deadline has not passed:
        // the scan starts one responseTime back (at 2 s blocks, the fastest assumed).
        const responseTime = Number(await FraudGame__factory.connect(game, provider).responseTime());
        const startBlock = Math.max(0, latest - Math.ceil(responseTime / 2));
        const a = workerGameAnswerer(worker, { provider, sender, oracle, game, startBlock, logger: log.child({ layer: "game-answerer", game }) });
        await a.start();
        gameAnswerers.push(a);
      }
      log.info({ games }, "answering FraudGame disputes on this worker's results");
    }
  }
  log.info({ signer: worker.address, pid: process.pid }, "worker ready");

  closeOnSignals(
    log,
    [() => stake?.close(), () => answerer?.close(), ...gameAnswerers.map((a) => () => a.close()), () => worker.close(), () => server?.close(), () => queue.close(), () => provider?.destroy()],
    "worker process exiting",
  );
}

main().catch((error: unknown) => {
  createLogger("worker").fatal({ err: error }, "worker failed to start");
  process.exit(1);
});
