/**
 * The challenger as its own process (docs/OPTIMISTIC.md "Challenger daemon"): audits every
 * OPTIMISTIC result of the configured models by re-running them canonically, and disputes a result
 * beyond τ_out through the FraudGame, played to its ruling.
 *
 *   CHALLENGER_RPC_URL=http://node:8545 CHALLENGER_PRIVATE_KEY=0x... CHALLENGER_ORACLE=0x... \
 *   CHALLENGER_BLOB_STORE_URL=http://relayer:8080 \
 *   CHALLENGER_MODELS='[{"path":"cls.onnx","inputShape":[1,3,48,192]}]' \
 *   CHALLENGER_POLICY='{"maxBondAtRisk":"1000000000000000000"}' CHALLENGER_CANONICAL_FRACTION=0.25 \
 *     node --import tsx challenger/main.ts [challenger.json]
 *
 * Configuration: the optional JSON file (ChallengerConfigSchema, challenger/config.ts) overlaid with
 * CHALLENGER_* variables. Without an oracle (CHALLENGER_ORACLE or the file's `oracle`) the deployment manifest
 * of the chain at the RPC endpoint (`deployments/<chainId>.json`, or ORACLE_MANIFESTS; protocol/manifest.ts)
 * names the oracle and the first block audited; every problem is listed at once (a v1 setting such as policy.fraction is
 * refused, not ignored). Every pollIntervalMs: audit new results (ChallengerDaemon.poll: each model's
 * ONNX file lowered once to its canonical program), play the games opened, and every
 * withdrawEveryPolls polls withdraw won bonds. SIGTERM / SIGINT: finish the poll in flight, withdraw,
 * exit 0. `{"msg":"challenger ready"}` is logged once it polls.
 *
 * Observability: METRICS_PORT (off when unset) serves GET /metrics (ChallengerMetrics: results
 * checked by outcome, audit time, challenges opened, disputes won/lost, bonds posted), /healthz and
 * /readyz (chain reachable) on METRICS_HOST (default 127.0.0.1).
 */
import {
  BlobAuth,
  closeOnSignals,
  createLogger,
  type Logger,
  serviceManifest,
  ChallengerMetrics,
  startMetricsServer,
  type MetricsServer,
} from "../protocol/index.js";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { JsonRpcProvider, NonceManager, Wallet, type Signer } from "ethers";
import { loadChallengerConfig, redactChallengerConfig, type ChallengerConfig } from "./config.js";
import { ChallengerDaemon, type AuditOutcome } from "./daemon.js";

export interface ChallengerStats {
  polls: number;
  audited: number;
  honest: number;
  proven: number;
  skipped: number;
  /** Audits put off because the blob store answered 429/5xx or timed out (retried at a later poll). */
  deferred: number;
  /** FraudGames this challenger played and lost (ruled WorkerRight: its bond went to the worker). */
  gamesLost: number;
  withdrawnWei: bigint;
  errors: number;
}

export interface RunningChallenger {
  daemon: ChallengerDaemon;
  address: string;
  stats: ChallengerStats;
  /** One round: poll, slashDue, and (every withdrawEveryPolls rounds, or `withdraw`) withdraw. */
  tick(options?: { withdraw?: boolean }): Promise<Map<string, AuditOutcome>>;
  /** Stops the loop after the round in flight, withdraws, releases the provider. */
  stop(): Promise<void>;
}

/**
 * Starts the challenger loop (also used by `oracle challenger start`). `signer` replaces the one
 * built from rpcUrl + privateKey (tests); `loop: false` leaves the ticking to the caller.
 */
export async function startChallenger(
  config: ChallengerConfig,
  options: { logger?: Logger; signer?: Signer; loop?: boolean; metrics?: ChallengerMetrics } = {},
): Promise<RunningChallenger> {
  const log = options.logger ?? createLogger("challenger");
  let provider: JsonRpcProvider | undefined;
  let signer = options.signer;
  if (signer === undefined) {
    provider = new JsonRpcProvider(config.rpcUrl, undefined, { pollingInterval: 1000 });
    signer = new NonceManager(new Wallet(config.privateKey, provider));
  }
  const address = await signer.getAddress();
  const daemon = new ChallengerDaemon({
    oracleAddress: config.oracle,
    runner: signer,
    blobStoreUrl: config.blobStoreUrl,
    // Reads from the store are signed with the challenger's key: the relayer lists its address
    // (api.blobIdentities) and rate-limits it on its own, not with whoever shares its address.
    blobAuth: new BlobAuth(config.privateKey),
    policy: config.policy,
    fetch: config.fetch,
    concurrency: config.concurrency,
    maxAuditStarts: config.maxAuditStarts,
    ...(config.statePath === undefined ? {} : { statePath: config.statePath }),
    startBlock: config.startBlock,
    logger: log,
    // FraudGame results are always played (an honest worker's game must never go unanswered, and a cheater's must
    // be disputed): every configured model's ONNX file serves the canonical audit; CHALLENGER_FRAUD_GAMES only
    // restricts which game deployments are played.
    fraudGames: {
      ...(config.fraudGames.length === 0 ? {} : { games: config.fraudGames }),
      models: new Map(
        config.models.map((m) => {
          const bytes = readFileSync(m.path);
          return [`0x${createHash("sha256").update(bytes).digest("hex")}`, { bytes, inputShape: m.inputShape }] as const;
        }),
      ),
      // The sampling secret is derived from the challenger's key: never published, stable across restarts.
      audit: { secret: createHash("sha256").update("fraud-game-audit").update(config.privateKey).digest(), fraction: config.canonicalFraction },
    },
    ...(options.metrics === undefined ? {} : { onAudit: (a) => recordAudit(options.metrics!, a.outcome, a.ms), onTransaction: (t) => recordTransaction(options.metrics!, t) }),
  });
  const stats: ChallengerStats = { polls: 0, audited: 0, honest: 0, proven: 0, skipped: 0, deferred: 0, gamesLost: 0, withdrawnWei: 0n, errors: 0 };

  const withdraw = async () => {
    const amount = await daemon.withdraw();
    if (amount > 0n) {
      stats.withdrawnWei += amount;
      log.info({ amount: amount.toString() }, "rewards withdrawn");
    }
  };
  const tick = async (opts: { withdraw?: boolean } = {}) => {
    const outcomes = await daemon.poll();
    stats.polls++;
    for (const [requestId, outcome] of outcomes) {
      stats.audited++;
      if (outcome.kind === "honest") stats.honest++;
      else if (outcome.kind === "skipped") stats.skipped++;
      else if (outcome.kind === "deferred") stats.deferred++;
      else if (outcome.kind === "gamePlayed" && outcome.ruling !== 2 && outcome.ruling !== 3) stats.gamesLost++;
      else stats.proven++;
      const level = outcome.kind === "skipped" || outcome.kind === "deferred" ? "debug" : outcome.kind === "honest" ? "info" : "warn";
      log[level]({ requestId, ...outcome }, `audit: ${outcome.kind}`);
    }
    if (opts.withdraw === true || stats.polls % config.withdrawEveryPolls === 0) await withdraw();
    return outcomes;
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = tick()
        .catch((error: unknown) => {
          stats.errors++;
          log.error({ err: error }, "challenger round failed; retrying next poll");
        })
        .finally(schedule);
    }, config.pollIntervalMs);
  };
  if (options.loop !== false) schedule();
  log.info({ address, config: redactChallengerConfig(config) }, "challenger ready");

  let stopping: Promise<void> | undefined;
  return {
    daemon,
    address,
    stats,
    tick,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        if (timer !== undefined) clearTimeout(timer);
        await inFlight;
        try {
          await withdraw();
        } finally {
          provider?.destroy();
        }
      })();
      return stopping;
    },
  };
}

/** A result's audit in the metrics: checks by outcome (ok, fault, skipped) and the time it took. */
function recordAudit(metrics: ChallengerMetrics, outcome: AuditOutcome, ms: number): void {
  // A deferred audit (blob store busy) is counted as skipped: it is counted again when it is re-run.
  const label = outcome.kind === "honest" ? "ok" : outcome.kind === "skipped" || outcome.kind === "deferred" ? "skipped" : "fault";
  metrics.checks.inc({ outcome: label });
  if (outcome.kind !== "skipped" && outcome.kind !== "deferred") metrics.checkSeconds.observe({ model: "all" }, ms / 1000);
  if (outcome.kind === "gamePlayed") metrics.disputes.inc({ outcome: outcome.ruling === 2 || outcome.ruling === 3 ? "won" : "lost" });
}

function recordTransaction(metrics: ChallengerMetrics, tx: { label: string; value: bigint }): void {
  if (tx.label === "challenge") {
    metrics.challengesOpened.inc();
    metrics.bondsPostedWei.inc(Number(tx.value));
  }
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<void> {
  const log = createLogger("challenger");
  const file = argv[0] === undefined ? {} : (JSON.parse(readFileSync(argv[0], "utf8")) as Record<string, unknown>);
  // No oracle named: the manifest of the chain at the RPC endpoint names the deployment.
  const rpcUrl = env.CHALLENGER_RPC_URL ?? (typeof file.rpcUrl === "string" ? file.rpcUrl : undefined);
  const found = await serviceManifest("challenger", rpcUrl, env, file);
  if (found !== undefined) log.info({ manifest: found.file, oracle: found.manifest.oracle }, "deployment read from the chain's manifest");
  const config = loadChallengerConfig(file, env);
  const metrics = new ChallengerMetrics({ defaultMetrics: true });
  const running = await startChallenger(config, { logger: log, metrics });
  let server: MetricsServer | undefined;
  let probe: JsonRpcProvider | undefined;
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== "") {
    probe = new JsonRpcProvider(config.rpcUrl, undefined, { staticNetwork: true });
    const chain = probe;
    server = await startMetricsServer({
      registry: metrics.registry,
      port: Number(env.METRICS_PORT),
      host: env.METRICS_HOST ?? "127.0.0.1",
      readiness: { chain: async () => ({ head: await chain.getBlockNumber() }) },
    });
    log.info({ url: server.url }, "metrics and health endpoints listening");
  }
  closeOnSignals(log, [() => running.stop(), () => server?.close(), () => probe?.destroy()], "challenger process exiting");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    createLogger("challenger").fatal({ err: error }, "challenger failed to start");
    process.exit(1);
  });
}
