/**
 * Prometheus metrics (prom-client) and the health endpoints every service serves.
 *
 * Each service owns its own Registry (tests run several services in one process, and a shared
 * global registry would mix their series or throw on duplicate names). Series names start with
 * `oracle_<service>_`; `service` is also a default label so one Prometheus job can scrape a fleet.
 *
 *   WorkerMetrics      inference latency per model and execution provider, batch sizes, job outcomes
 *   RelayerMetrics     queue depth, pending transactions, gas, results submitted/skipped, disputes, refunds
 *   ChallengerMetrics  checks run, challenges opened, disputes won/lost, bonds posted
 *
 * `healthRoutes` answers GET /metrics, /healthz (the process is alive) and /readyz (every readiness
 * check passes within its timeout; 503 with the failing checks otherwise). `startMetricsServer`
 * serves them on their own port for services without an HTTP API (the worker, the challenger).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export { Registry } from "prom-client";

/** Latency buckets in seconds: 1 ms to 2 min (inference runs take ms; on-chain settlement takes minutes). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Batch-size buckets (requests per session.run or per transaction). */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export interface MetricsOptions {
  /** Also collect the process metrics (CPU, memory, event-loop lag, GC). Service entry points turn it on. */
  defaultMetrics?: boolean;
  /** Extra default labels (e.g. `{ worker: "0" }`). */
  labels?: Record<string, string>;
}

/** A registry of its own for one service, with `service` as a default label. */
export function createRegistry(service: string, options: MetricsOptions = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, ...options.labels });
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry, prefix: "oracle_" });
  return registry;
}

/** Seconds since `start` (a performance.now() reading), for histograms. */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

export type JobOutcome = "result" | "rejected" | "failed" | "expired" | "passed_on" | "invalid";

export class WorkerMetrics {
  readonly registry: Registry;
  /** session.run time per model and execution provider (the batch's run when batched). */
  readonly inferenceSeconds: Histogram<"model" | "provider">;
  /** Job from delivery to signed result, per model and provider. */
  readonly jobSeconds: Histogram<"model" | "provider">;
  /** Requests per session.run. */
  readonly batchSize: Histogram<"model">;
  readonly jobs: Counter<"outcome">;
  /** Jobs being served right now. */
  readonly inFlight: Gauge;
  /** Model processes killed (or dead) while serving, by reason: memory, timeout, crash. */
  readonly modelProcessKills: Counter<"reason">;

  constructor(options: MetricsOptions = {}) {
    const registers = [(this.registry = createRegistry("worker", options))];
    this.inferenceSeconds = new Histogram({
      name: "oracle_worker_inference_seconds",
      help: "ONNX Runtime session.run time per model and execution provider (of the whole batch when batched).",
      labelNames: ["model", "provider"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.jobSeconds = new Histogram({
      name: "oracle_worker_job_seconds",
      help: "Time from taking a job to its signed result: fetch, hash, decode, inference, trace, sign, upload.",
      labelNames: ["model", "provider"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: "oracle_worker_batch_size",
      help: "Size of the session.run batch each request was served in (1: unbatched), observed once per request.",
      labelNames: ["model"],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.jobs = new Counter({
      name: "oracle_worker_jobs_total",
      help: "Jobs handled, by outcome: result, rejected (signed rejection), failed (redelivered), expired, passed_on, invalid (dead-lettered).",
      labelNames: ["outcome"],
      registers,
    });
    this.inFlight = new Gauge({ name: "oracle_worker_jobs_in_flight", help: "Jobs being served now.", registers });
    this.modelProcessKills = new Counter({
      name: "oracle_worker_model_process_kills_total",
      help: "Model processes killed or dead while loading or running, by reason: memory (the kernel's RLIMIT_DATA or the sampled resident cap), timeout (run or load limit), crash (exited or failed otherwise).",
      labelNames: ["reason"],
      registers,
    });
    // Present at 0 from the start, so a rate() over them works before the first kill.
    for (const reason of ["memory", "timeout", "crash"]) this.modelProcessKills.inc({ reason }, 0);
  }

  /** Records one served job; `timings` in ms as the worker reports them in its result. */
  served(modelHash: string, provider: string, timings: Readonly<Record<string, number>>): void {
    const model = shortHash(modelHash);
    this.inferenceSeconds.observe({ model, provider }, (timings.infer ?? 0) / 1000);
    this.jobSeconds.observe({ model, provider }, (timings.total ?? 0) / 1000);
    this.batchSize.observe({ model }, Math.max(1, timings.batch ?? 1));
    this.jobs.inc({ outcome: "result" });
  }
}

export class RelayerMetrics {
  readonly registry: Registry;
  readonly queueDepth: Gauge<"queue">;
  /** Transactions sent by the relayer's account and not yet mined (pending nonce − mined nonce). */
  readonly pendingTransactions: Gauge;
  /** Checked worker replies not yet sent on-chain. */
  readonly pendingReplies: Gauge;
  readonly requests: Gauge<"state">;
  readonly transactions: Counter<"action">;
  readonly gasUsed: Counter<"action">;
  /** Items (results, settlements, refunds) per transaction. */
  readonly txItems: Histogram<"action">;
  readonly resultsSubmitted: Counter;
  readonly resultsSkipped: Counter<"reason">;
  readonly disputesOpened: Counter;
  /** Resolved disputes by who won: "worker" (result stood) or "challenger" (worker slashed). */
  readonly disputesResolved: Counter<"winner" | "by_default">;
  readonly refunds: Counter<"reason">;
  /** Request observed → result on-chain, and observed → final (fulfilled or refunded). */
  readonly submitSeconds: Histogram<"tier">;
  readonly finalSeconds: Histogram<"tier" | "outcome">;
  /** Blocks between the chain head and the relayer's event cursor. */
  readonly cursorLag: Gauge;

  constructor(options: MetricsOptions = {}) {
    const registers = [(this.registry = createRegistry("relayer", options))];
    this.queueDepth = new Gauge({ name: "oracle_relayer_queue_depth", help: "Messages waiting in a queue.", labelNames: ["queue"], registers });
    this.pendingTransactions = new Gauge({
      name: "oracle_relayer_pending_transactions",
      help: "Transactions from the relayer's account sent but not yet mined (pending minus latest nonce).",
      registers,
    });
    this.pendingReplies = new Gauge({ name: "oracle_relayer_pending_replies", help: "Checked worker replies waiting to be sent on-chain.", registers });
    this.requests = new Gauge({ name: "oracle_relayer_requests", help: "Requests in the relayer's database by state.", labelNames: ["state"], registers });
    this.transactions = new Counter({ name: "oracle_relayer_transactions_total", help: "Transactions mined, by action.", labelNames: ["action"], registers });
    this.gasUsed = new Counter({ name: "oracle_relayer_gas_used_total", help: "Gas used by the relayer's mined transactions, by action.", labelNames: ["action"], registers });
    this.txItems = new Histogram({
      name: "oracle_relayer_transaction_items",
      help: "Results, settlements or refunds carried by one transaction.",
      labelNames: ["action"],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.resultsSubmitted = new Counter({ name: "oracle_relayer_results_submitted_total", help: "Results this relayer got accepted on-chain.", registers });
    this.resultsSkipped = new Counter({
      name: "oracle_relayer_results_skipped_total",
      help: "Results the oracle refused in this relayer's batches, by the error it reported.",
      labelNames: ["reason"],
      registers,
    });
    this.disputesOpened = new Counter({ name: "oracle_disputes_opened_total", help: "Challenges opened against results.", registers });
    this.disputesResolved = new Counter({
      name: "oracle_disputes_resolved_total",
      help: "Disputes resolved, by winner (worker: the result stood; challenger: the worker was slashed) and whether by default.",
      labelNames: ["winner", "by_default"],
      registers,
    });
    this.refunds = new Counter({ name: "oracle_refunds_total", help: "Requests refunded, by reason.", labelNames: ["reason"], registers });
    this.submitSeconds = new Histogram({
      name: "oracle_relayer_submit_seconds",
      help: "From the request's event seen to its result accepted on-chain.",
      labelNames: ["tier"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.finalSeconds = new Histogram({
      name: "oracle_relayer_final_seconds",
      help: "From the request's event seen to its final state (fulfilled or refunded); includes the challenge window.",
      labelNames: ["tier", "outcome"],
      buckets: [...LATENCY_BUCKETS, 600, 1800, 3600, 86_400],
      registers,
    });
    this.cursorLag = new Gauge({ name: "oracle_relayer_cursor_lag_blocks", help: "Blocks between the chain head and the last block the relayer handled.", registers });
  }
}

export class ChallengerMetrics {
  readonly registry: Registry;
  readonly checks: Counter<"outcome">;
  readonly checkSeconds: Histogram<"model">;
  readonly challengesOpened: Counter;
  readonly disputes: Counter<"outcome">;
  readonly bondsPostedWei: Counter;

  constructor(options: MetricsOptions = {}) {
    const registers = [(this.registry = createRegistry("challenger", options))];
    this.checks = new Counter({
      name: "oracle_challenger_checks_total",
      help: "Results audited, by outcome: ok (honest), fault (a wrong result found and proven or DA-challenged), skipped (not audited: not OPTIMISTIC, no commitment, partial trace, bond budget, or the audit failed).",
      labelNames: ["outcome"],
      registers,
    });
    this.checkSeconds = new Histogram({
      name: "oracle_challenger_check_seconds",
      help: "Time to check one result's trace.",
      labelNames: ["model"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.challengesOpened = new Counter({ name: "oracle_challenger_challenges_opened_total", help: "Challenges this challenger opened.", registers });
    this.disputes = new Counter({
      name: "oracle_challenger_disputes_total",
      help: "This challenger's disputes once resolved, by outcome: won or lost.",
      labelNames: ["outcome"],
      registers,
    });
    this.bondsPostedWei = new Counter({ name: "oracle_challenger_bonds_posted_wei_total", help: "Challenge bonds posted, in wei.", registers });
  }
}

/** A readiness check: resolves when ready, throws (with a reason) when not. */
export type ReadinessCheck = () => Promise<unknown> | unknown;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; ms: number; error?: string; detail?: unknown }>;
}

/** Runs every check concurrently, each bounded by `timeoutMs` (a hung RPC is "not ready", not a hung probe). */
export async function checkReadiness(checks: Record<string, ReadinessCheck>, timeoutMs = 2000): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const start = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const detail = await Promise.race([
          Promise.resolve().then(check),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [name, { ok: true, ms: Math.round(performance.now() - start), ...(detail === undefined ? {} : { detail }) }] as const;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return [name, { ok: false, ms: Math.round(performance.now() - start), error: message.slice(0, 300) }] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const report: ReadinessReport = { ready: true, checks: {} };
  for (const [name, result] of entries) {
    report.checks[name] = result;
    if (!result.ok) report.ready = false;
  }
  return report;
}

export interface HealthRoutesOptions {
  registry: Registry;
  readiness: Record<string, ReadinessCheck>;
  /** Per-check timeout for /readyz (default 2000 ms). */
  readyTimeoutMs?: number;
  /** Runs before each /metrics scrape (gauges read from a database or the chain). */
  beforeScrape?: () => Promise<void>;
}

/**
 * Answers GET /metrics, /healthz and /readyz; returns false for any other request so a caller can
 * route it elsewhere. Plain node:http so it fits any server (express passes req/res through).
 */
export function healthRoutes(options: HealthRoutesOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path === "/healthz") {
      send(res, 200, "application/json", JSON.stringify({ ok: true, uptimeSeconds: Math.round(process.uptime()) }));
      return true;
    }
    if (path === "/readyz") {
      const report = await checkReadiness(options.readiness, options.readyTimeoutMs);
      send(res, report.ready ? 200 : 503, "application/json", JSON.stringify(report));
      return true;
    }
    if (path === "/metrics") {
      try {
        await options.beforeScrape?.();
      } catch {
        // A gauge that cannot be refreshed keeps its last value; the scrape still answers.
      }
      send(res, 200, options.registry.contentType, await options.registry.metrics());
      return true;
    }
    return false;
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `healthRoutes` on its own port (0: any free port); 404 for anything else. */
export async function startMetricsServer(options: HealthRoutesOptions & { port: number; host?: string }): Promise<MetricsServer> {
  const routes = healthRoutes(options);
  const server: Server = createServer((req, res) => {
    routes(req, res)
      .then((handled) => {
        if (!handled) send(res, 404, "application/json", JSON.stringify({ error: { code: "REQUEST_NOT_FOUND", message: "no such route" } }));
      })
      .catch(() => {
        if (!res.headersSent) send(res, 500, "application/json", JSON.stringify({ error: { code: "INTERNAL", message: "internal error" } }));
        else res.end();
      });
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** First 10 hex digits of a hash: a label value that stays readable and bounded. */
export function shortHash(hash: string): string {
  return hash.toLowerCase().slice(0, 10);
}
