/**
 * The relayer: follows the oracle's events, hands jobs to workers through the queue, checks and
 * batches their signed results on-chain, applies every deadline's default outcome (settle, refund,
 * default ruling), and serves the HTTP API with the blob store.
 */
import { clientAddress, createLimitedServer, normalizeAddress } from "./limits.js";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Provider, Signer } from "ethers";
import { OracleError, loadConfig, type Logger, RelayerMetrics } from "../protocol/index.js";
import type { JobQueue, Lease } from "../queue/index.js";
import { createApi } from "./api.js";
import { BlobStore } from "./blobs.js";
import { OracleChain, type TxRecord } from "./chain.js";
import { ResultCollector } from "./collector.js";
import { RelayerConfigSchema, type RelayerConfig, type RelayerConfigInput } from "./config.js";
import { RelayerDb } from "./db.js";
import { mountDashboard } from "./dashboard.js";
import { mountSubscriptionsApi } from "./dashboard-subscriptions.js";
import { mountFeaturesApi } from "./dashboard-features.js";
import { DeadlineEnforcer } from "./deadlines.js";
import { SubscriptionKeeper } from "./keeper.js";
import { ChainAdvancer } from "./chain-advancer.js";
import { RedundancyAttester } from "./redundancy-attester.js";
import { ResultSubmitter } from "./submitter.js";
import { EventWatcher } from "./watcher.js";
import { RequestLedger } from "./request-ledger.js";
import { JobDispatcher } from "./dispatcher.js";

/** The broker queue whose single active consumer is the leading relayer (namespaced like every queue). */
export const RELAYER_LEASE_QUEUE = "oracle.relayer-lease";

export interface RelayerDeps {
  provider: Provider;
  /** Pays for and sends the relayer's transactions. */
  signer: Signer;
  oracleAddress: string;
  queue: JobQueue;
  logger: Logger;
  config?: RelayerConfigInput;
  /** Prometheus series served on /metrics (protocol/metrics.ts); a registry of its own by default. */
  metrics?: RelayerMetrics;
}

export class Relayer {
  readonly config: RelayerConfig;
  readonly db: RelayerDb;
  readonly blobs: BlobStore;
  readonly chain: OracleChain;
  readonly metrics: RelayerMetrics;
  private dashboard: { close(): void } | undefined;
  private readonly watcher: EventWatcher;
  private readonly dispatcher: JobDispatcher;
  private readonly collector: ResultCollector;
  private readonly submitter: ResultSubmitter;
  private readonly deadlines: DeadlineEnforcer;
  /** Triggers due subscription rounds (config.subscriptions), when configured. */
  readonly keeper: SubscriptionKeeper | undefined;
  /** Advances the Ready chains of the ChainedInference contracts it watches (relayer/chain-advancer.ts). */
  readonly chainAdvancer: ChainAdvancer;
  readonly redundancyAttester: RedundancyAttester;
  private server: Server | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private lastGc = 0;
  private ticking: Promise<void> = Promise.resolve();
  private lease: Lease | undefined;
  /** Whether this relayer acts (publishes jobs, takes replies, sends transactions); always without leader election. */
  private leading = true;
  private leadership: Promise<void> = Promise.resolve();

  private constructor(
    private readonly deps: RelayerDeps,
    chainId: bigint,
  ) {
    this.config = loadConfig(RelayerConfigSchema, deps.config ?? {});
    const log = deps.logger;
    this.metrics = deps.metrics ?? new RelayerMetrics();
    this.db = new RelayerDb(this.config.dataDir);
    this.blobs = new BlobStore(this.config.dataDir, this.db, {
      maxBytes: this.config.api.maxBlobBytes,
      retentionSeconds: this.config.api.blobRetentionSeconds,
      unreferencedSeconds: this.config.api.unreferencedBlobSeconds,
    });
    const fees = this.config.fees;
    this.chain = new OracleChain(deps.provider, deps.signer, deps.oracleAddress, chainId, log.child({ layer: "chain" }), this.config.txRetries, this.db, {
      bumpAfterMs: fees.bumpAfterMs,
      maxBumps: fees.maxBumps,
      bumpPercent: fees.bumpPercent,
      maxFeePerGas: BigInt(Math.round(fees.maxFeePerGasGwei * 1e9)),
      pollMs: fees.pollMs,
    });
    // The request path: the watcher reads the logs, the ledger records them, the dispatcher hands out
    // jobs, the collector takes the replies, the submitter sends them, the deadline enforcer settles, refunds and rules what is due (docs/ARCHITECTURE.md).
    const watcher = (this.watcher = new EventWatcher(this.chain, this.db, log.child({ layer: "watcher" }), this.config));
    watcher.subscribe(new RequestLedger(this.chain, this.db, log.child({ layer: "ledger" })));
    this.dispatcher = new JobDispatcher(this.chain, this.db, deps.queue, log.child({ layer: "dispatcher" }), (id, block) => watcher.requestedEvent(id, block));
    watcher.subscribe(this.dispatcher);
    this.submitter = new ResultSubmitter(this.chain, this.db, log.child({ layer: "submitter" }), this.config, (id, note) => this.dispatcher.republish(id, note), this.blobs);
    this.collector = new ResultCollector(
      this.chain,
      this.db,
      this.blobs,
      deps.queue,
      log.child({ layer: "collector" }),
      () => {
        if (this.leading) this.submitter.kick();
      },
      this.config.resultsPrefetch,
    );
    this.deadlines = new DeadlineEnforcer(this.chain, this.db, this.blobs, log.child({ layer: "deadlines" }), this.config);
    const subs = this.config.subscriptions;
    this.keeper =
      subs.address !== undefined && subs.keeper
        ? new SubscriptionKeeper(this.chain, log.child({ layer: "keeper" }), {
            address: subs.address,
            minKeeperReward: subs.minKeeperRewardWei,
            maxPerTick: subs.maxPerTick,
            withdrawRewardsAbove: subs.withdrawRewardsAboveWei,
          }, this.db)
        : undefined;
    if (this.keeper !== undefined) watcher.subscribe(this.keeper);
    this.chainAdvancer = new ChainAdvancer(this.chain, this.config.chained, this.config.startBlock, (a, from) => watcher.follow("chained", a, from), log.child({ layer: "chained" }), () =>
      this.server === undefined ? undefined : this.url,
    );
    this.redundancyAttester = new RedundancyAttester(this.chain, this.config.redundant, this.config.startBlock, (a, from) => watcher.follow("redundant", a, from), log.child({ layer: "redundancy" }), this.blobs);
    this.dispatcher.groupsRequester = (requester) => this.redundancyAttester.watches(requester);
    watcher.subscribe(this.chainAdvancer);
    watcher.subscribe(this.redundancyAttester);
  }

  /** Starts the API, the result collector and the polling loop. */
  static async start(deps: RelayerDeps): Promise<Relayer> {
    const { chainId } = await deps.provider.getNetwork();
    const relayer = new Relayer(deps, chainId);
    await relayer.listen();
    // Transactions a previous run left pending are followed before any new one is sent.
    void relayer.chain.resumePending().catch((error: unknown) => deps.logger.warn({ err: error }, "could not resume pending transactions yet"));
    if (relayer.config.leaderElection) {
      if (deps.queue.lease === undefined) throw new OracleError("CONFIG_INVALID", "leaderElection needs a queue that can hold a lease (RabbitMqQueue, InProcessQueue)");
      relayer.follow();
      relayer.lease = await deps.queue.lease(RELAYER_LEASE_QUEUE, (held) => relayer.onLease(held));
      if (!relayer.leading) deps.logger.info("relayer follows: another relayer holds the lease");
    } else {
      await relayer.collector.start();
    }
    relayer.loop = relayer.run();
    return relayer;
  }

  /** Whether this relayer is the one acting (always true without leader election). */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Follower mode: keep the database in step with the chain, but publish, take and send nothing. */
  private follow(): void {
    this.leading = false;
  }

  private onLease(held: boolean): void {
    const log = this.deps.logger;
    this.leadership = this.leadership.then(async () => {
      if (this.stopping) return;
      if (held && !this.leading) {
        this.leading = true;
        await this.collector.start();
        log.info({ signer: await this.deps.signer.getAddress().catch(() => "?") }, "relayer leads");
        this.poke();
      } else if (!held && this.leading) {
        this.follow();
        await this.collector.stop();
        log.warn("relayer lost the lease; following");
      }
    }).catch((error: unknown) => log.error({ err: error }, "leadership change failed"));
  }

  /** Base URL of the HTTP API (and of the blob store: `${url}/blobs/<hash>`). */
  get url(): string {
    if (this.config.api.publicUrl !== undefined) return this.config.api.publicUrl;
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (address === null || address === undefined) return "";
    return `http://${this.config.api.host}:${address.port}`;
  }

  /** Transactions this relayer mined, for gas accounting. */
  get transactions(): readonly TxRecord[] {
    return this.chain.txs;
  }

  /** Who signed a blob-store request: a listed identity, a registered worker's signer (from the chain, cached), or nobody. */
  private readonly identities = new Map<string, { party: string | undefined; until: number }>();
  private async identify(address: string): Promise<string | undefined> {
    const key = address.toLowerCase();
    if (this.config.api.blobIdentities.some((a) => a.toLowerCase() === key)) return "listed";
    const cached = this.identities.get(key);
    if (cached !== undefined && cached.until > Date.now()) return cached.party;
    const operator = await this.chain.reader.operatorOf(address);
    const party = operator === "0x0000000000000000000000000000000000000000" ? undefined : "worker";
    // Known workers for 10 min, unknown addresses for 30 s; at most 10,000 remembered.
    if (this.identities.size >= 10_000) this.identities.delete(this.identities.keys().next().value!);
    this.identities.set(key, { party, until: Date.now() + (party === undefined ? 30_000 : 600_000) });
    return party;
  }

  private async listen(): Promise<void> {
    const proxies = new Set(this.config.api.trustProxy.map(normalizeAddress));
    const app = createApi({
      db: this.db,
      blobs: this.blobs,
      chain: this.chain,
      queue: this.deps.queue,
      watcher: this.watcher,
      log: this.deps.logger.child({ layer: "api" }),
      maxBlobBytes: this.config.api.maxBlobBytes,
      maxBodyBytes: this.config.api.maxBodyBytes,
      rateLimit: this.config.api.rateLimit,
      trustProxy: this.config.api.trustProxy,
      blobQuota: {
        perClientBytes: this.config.api.blobUploadBytesPerClient,
        windowMs: this.config.api.blobUploadWindowSeconds * 1000,
        maxStoredBytes: this.config.api.maxStoredBlobBytes,
        allowlist: this.config.api.blobUploadAllowlist,
      },
      blobAuth: {
        identify: (address) => this.identify(address),
        rateLimit: this.config.api.identityRateLimit,
        bytesPerIdentity: this.config.api.blobUploadBytesPerIdentity,
        windowMs: this.config.api.blobUploadWindowSeconds * 1000,
        required: this.config.api.requireBlobAuth,
      },
      uploadLimits: {
        maxConcurrent: this.config.api.maxConcurrentUploads,
        maxConcurrentPerClient: this.config.api.maxConcurrentUploadsPerClient,
        minBytesPerSecond: this.config.api.minUploadBytesPerSecond,
        rateWindowMs: this.config.api.uploadRateWindowMs,
      },
      publicUrl: () => this.url,
      extend: (app) => {
        const dashboard = mountDashboard(app, {
          db: this.db,
          blobs: this.blobs,
          chain: this.chain,
          queue: this.deps.queue,
          metrics: this.metrics,
          log: this.deps.logger.child({ layer: "dashboard" }),
          subscribe: (s) => this.watcher.subscribe(s),
          cursor: () => this.watcher.cursor(),
          requestLogs: (id, from, finalTx) => this.watcher.requestLogs(id, from, finalTx),
          maxCursorLag: this.config.confirmations + 50,
          maxEventStreams: this.config.api.maxEventStreams,
          maxEventStreamsPerAddress: this.config.api.maxEventStreamsPerAddress,
          clientAddress: (req) => clientAddress(req, proxies),
        });
        this.dashboard = dashboard;
        // The feature panels: redundancy jobs, fee tokens, large outputs, chained requests.
        mountFeaturesApi(app, {
          db: this.db,
          blobs: this.blobs,
          provider: this.deps.provider,
          activity: dashboard.activity,
          chainAdvancer: this.chainAdvancer,
          redundancyAttester: this.redundancyAttester,
          publicUrl: () => this.url,
        });
        mountSubscriptionsApi(app, {
          provider: this.deps.provider,
          address: this.config.subscriptions.address,
          keeper: this.keeper,
          keeperAddress: () => this.deps.signer.getAddress(),
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      // Slow loris, socket floods: timeouts and connection caps (relayer/limits.ts).
      const { maxConnections, maxConnectionsPerAddress, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, trustProxy } = this.config.api;
      const server = createLimitedServer(app, { maxConnections, maxConnectionsPerAddress, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, trustProxy });
      server.once("error", reject);
      server.listen(this.config.api.port, this.config.api.host, () => resolve());
      this.server = server;
    });
  }

  /**
   * One round of work: new events, pending submissions, due deadlines. Tests call it directly; a call
   * made while the loop's round runs waits for it (rounds never overlap: two keepers of one relayer
   * would race for the same subscription round).
   */
  tick(): Promise<void> {
    const run = this.ticking.then(() => this.round());
    this.ticking = run.catch(() => undefined);
    return run;
  }

  private async round(): Promise<void> {
    await this.watcher.poll();
    if (!this.leading) return;
    await this.dispatcher.publishPending();
    await this.submitter.flush();
    await this.deadlines.tick();
    await this.keeper?.tick();
    await this.chainAdvancer.tick();
    await this.redundancyAttester.tick();
    if (Date.now() - this.lastGc > Math.min(60_000, this.config.api.unreferencedBlobSeconds * 250)) {
      this.lastGc = Date.now();
      await this.blobs.collectGarbage();
    }
  }

  /** Runs a tick now instead of at the next poll interval. */
  poke(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    const log = this.deps.logger.child({ layer: "loop" });
    while (!this.stopping) {
      try {
        await this.tick();
      } catch (error) {
        log.warn({ err: error }, "relayer tick failed; will retry");
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.config.pollIntervalMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Stops taking work, finishes in-flight work, and releases everything. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      this.wake?.();
      // A transaction stuck in the mempool must not hold the shutdown: stop following it after a
      // grace period (it stays recorded, and the next run follows it again).
      const grace = setTimeout(() => this.chain.stop(), 5_000);
      const steps: (() => Promise<unknown> | void)[] = [
        () => this.loop,
        () => this.leadership,
        () => this.collector.stop(),
        () => this.submitter.close(),
        () => this.chain.drain(),
        // Only now, with its work finished, may another relayer take over.
        () => this.lease?.release(),
        () =>
          new Promise<void>((resolve) => {
            this.dashboard?.close();
            if (this.server === undefined) return resolve();
            this.server.close(() => resolve());
            this.server.closeAllConnections();
          }),
        () => this.db.close(),
      ];
      const errors: unknown[] = [];
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          errors.push(error);
        }
      }
      clearTimeout(grace);
      if (errors.length > 0) throw new AggregateError(errors, "relayer closed with errors");
    })();
    return this.closing;
  }
}
