/**
 * The relayer: follows the oracle's events, hands jobs to workers through the queue, checks and
 * batches their signed results on-chain, applies every deadline's default outcome (settle, refund,
 * default ruling), and serves the HTTP API with the blob store.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Provider, Signer } from "ethers";
import { loadConfig, type Logger } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import { RelayerMetrics } from "../protocol/metrics.js";
import { createApi } from "./api.js";
import { BlobStore } from "./blobs.js";
import { OracleChain, type TxRecord } from "./chain.js";
import { ResultCollector } from "./collector.js";
import { RelayerConfigSchema, type RelayerConfig, type RelayerConfigInput } from "./config.js";
import { RelayerDb } from "./db.js";
import { mountDashboard } from "./dashboard.js";
import { Settler } from "./settler.js";
import { ResultSubmitter } from "./submitter.js";
import { EventWatcher } from "./watcher.js";

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
  private readonly collector: ResultCollector;
  private readonly submitter: ResultSubmitter;
  private readonly settler: Settler;
  private server: Server | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private lastGc = 0;

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
    });
    this.chain = new OracleChain(deps.provider, deps.signer, deps.oracleAddress, chainId, log.child({ layer: "chain" }), this.config.txRetries);
    this.watcher = new EventWatcher(this.chain, this.db, deps.queue, log.child({ layer: "watcher" }), this.config);
    this.submitter = new ResultSubmitter(this.chain, this.db, log.child({ layer: "submitter" }), this.config);
    this.collector = new ResultCollector(
      this.chain,
      this.db,
      this.blobs,
      deps.queue,
      log.child({ layer: "collector" }),
      () => this.submitter.kick(),
      this.config.resultsPrefetch,
    );
    this.settler = new Settler(this.chain, this.db, this.blobs, log.child({ layer: "settler" }), this.config);
  }

  /** Starts the API, the result collector and the polling loop. */
  static async start(deps: RelayerDeps): Promise<Relayer> {
    const { chainId } = await deps.provider.getNetwork();
    const relayer = new Relayer(deps, chainId);
    await relayer.listen();
    await relayer.collector.start();
    relayer.loop = relayer.run();
    return relayer;
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

  private async listen(): Promise<void> {
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
      publicUrl: () => this.url,
      extend: (app) => {
        this.dashboard = mountDashboard(app, {
          db: this.db,
          blobs: this.blobs,
          chain: this.chain,
          queue: this.deps.queue,
          metrics: this.metrics,
          log: this.deps.logger.child({ layer: "dashboard" }),
          cursor: () => this.watcher.cursor(),
          startBlock: this.config.startBlock,
          logBlockRange: this.config.logBlockRange,
          maxCursorLag: this.config.confirmations + 50,
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      const server = app.listen(this.config.api.port, this.config.api.host, (error?: Error) => (error ? reject(error) : resolve()));
      this.server = server;
    });
  }

  /** One round of work: new events, pending submissions, due deadlines. Tests call it directly. */
  async tick(): Promise<void> {
    await this.watcher.poll();
    await this.submitter.flush();
    await this.settler.tick();
    if (Date.now() - this.lastGc > 60_000) {
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
      const steps: (() => Promise<unknown> | void)[] = [
        () => this.loop,
        () => this.collector.stop(),
        () => this.submitter.close(),
        () => this.chain.drain(),
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
      if (errors.length > 0) throw new AggregateError(errors, "relayer closed with errors");
    })();
    return this.closing;
  }
}
