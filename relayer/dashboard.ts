/**
 * Observability on the relayer's HTTP API:
 *
 *   GET /metrics              Prometheus (protocol/metrics.ts RelayerMetrics), refreshed at each scrape
 *   GET /healthz              the process is alive
 *   GET /readyz               chain reachable, queue connected, event cursor caught up (503 otherwise)
 *   GET /                     a browser is sent to the dashboard; other clients get the list of endpoints (JSON)
 *   GET /dashboard/           the live dashboard (static files in dashboard/, no build step, no CDN)
 *   GET /api/stats            totals, queue depth, chain head, gas and latency series for the charts
 *   GET /api/requests         recent requests (?state=&limit=) with their timings
 *   GET /api/requests/:id     one request: commitments, input/output preview, transactions, timeline
 *   GET /api/workers          registered workers: stake, bond in use, results served, slashes
 *   GET /api/events           server-sent events: `change` whenever requests or transactions change
 *
 * Routes here; ChainActivity (dashboard-activity.ts), readiness (dashboard-health.ts) and the
 * request detail view (dashboard-detail.ts) beside it; the feature panels' routes (redundancy, fee tokens,
 * large outputs, chains) in dashboard-features.ts, subscriptions in dashboard-subscriptions.ts.
 *
 * Everything comes from the relayer's sqlite state and chain reads. ChainActivity subscribes to
 * the EventWatcher's domain events (after the request ledger, so the database already reflects
 * them) and feeds the counters; the worker table is the ledger's; a request's timeline is read on
 * demand from its own logs (every oracle event indexes the request id first).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Express, type Request, type Response } from "express";
import type { Log } from "ethers";
import { OracleError, QUEUES, Tier, type Logger, healthRoutes, type RelayerMetrics } from "../protocol/index.js";
import { normalizeAddress, StreamGate } from "./limits.js";
import type { JobQueue } from "../queue/index.js";
import type { BlobStore } from "./blobs.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb, RequestState } from "./db.js";
import { ChainActivity } from "./dashboard-activity.js";
import type { EventSubscriber } from "./events.js";
import { STATES, countByState, relayerReadiness } from "./dashboard-health.js";
import { requestChainReads, requestDetail, summary, type ChainReads } from "./dashboard-detail.js";

export { ChainActivity } from "./dashboard-activity.js";
export { relayerReadiness } from "./dashboard-health.js";
export { FULL_PREVIEW_BYTES, headerPreview, tensorPreview } from "./dashboard-detail.js";

export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "dashboard");

export interface DashboardDeps {
  db: RelayerDb;
  blobs: BlobStore;
  chain: OracleChain;
  queue: JobQueue;
  metrics: RelayerMetrics;
  log: Logger;
  /** Subscribes to the EventWatcher's domain events (the dashboard's counters follow them). */
  subscribe: (subscriber: EventSubscriber) => void;
  /** The watcher's cursor: last block whose events are in the database. */
  cursor: () => number;
  /** Every oracle log of one request, from its block to its final transaction (EventWatcher.requestLogs). */
  requestLogs: (requestId: string, fromBlock: number, finalTx: string | null) => Promise<Log[]>;
  /** Blocks the cursor may trail the head by and still be ready (default: confirmations + 50). */
  maxCursorLag?: number;
  /** How often /api/events checks for changes (ms, default 500). */
  eventsIntervalMs?: number;
  /** Open /api/events streams, all clients together (default 256) and per client address (default 4). */
  maxEventStreams?: number;
  maxEventStreamsPerAddress?: number;
  /** Who a request comes from (relayer/limits.ts clientAddress); the socket's peer by default. */
  clientAddress?: (req: Request) => string;
  /** How long a request's chain reads for `GET /api/requests/:id` are shared by callers (ms, default 2000; 0: none). */
  detailCacheMs?: number;
}

/** Mounts the health, metrics, dashboard and /api routes on the relayer's app. Returns a closer for SSE streams. */
export function mountDashboard(app: Express, deps: DashboardDeps): { activity: ChainActivity; close(): void } {
  const activity = new ChainActivity(deps);
  deps.subscribe(activity);
  const routes = healthRoutes({
    registry: deps.metrics.registry,
    readiness: relayerReadiness(deps),
    beforeScrape: async () => {
      try {
        await activity.refresh();
      } catch (error) {
        deps.log.warn({ err: error }, "metrics refresh failed; serving the last values");
        throw error;
      }
    },
  });
  app.use((req, res, next) => {
    if (req.path !== "/metrics" && req.path !== "/healthz" && req.path !== "/readyz") return next();
    routes(req, res).then((handled) => (handled ? undefined : next()), next);
  });

  // The address printed by `oracle dev` and `relayer start` opens the dashboard in a browser.
  app.get("/", (req, res) => {
    if (req.accepts(["json", "html"]) === "html") return res.redirect(302, "dashboard/");
    res.json({
      dashboard: "/dashboard/",
      endpoints: ["/health", "/requests", "/requests/:id", "POST /blobs", "/blobs/:hash", "/api/stats", "/api/requests", "/api/requests/:id", "/api/workers", "/api/events", "/api/subscriptions", "/api/redundancy", "/api/tokens", "/api/large-outputs", "/api/chains", "/metrics", "/healthz", "/readyz"],
    });
  });
  app.get("/dashboard", (req, res, next) => (req.path === "/dashboard" ? res.redirect(301, "dashboard/") : next()));
  app.use(
    "/dashboard",
    (_req, res, next) => {
      // Nothing outside the relayer is loaded: no CDN, no inline script.
      res.set("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'");
      next();
    },
    express.static(DASHBOARD_DIR, { index: "index.html", fallthrough: true, maxAge: 0 }),
  );

  app.get("/api/stats", async (_req, res) => {
    await refreshOrUnavailable(activity);
    const { db, chain } = deps;
    const replies = db.dashboard.repliesByState();
    const txs = chain.txs;
    const gasTotal = txs.reduce((sum, t) => sum + t.gasUsed, 0n);
    const latency = db.dashboard.latency(300);
    res.json({
      chainId: chain.chainId.toString(),
      oracle: chain.oracleAddress,
      relayer: await chain.signer.getAddress(),
      head: await chain.provider.getBlockNumber(),
      cursor: deps.cursor(),
      now: Date.now(),
      requests: countByState(db),
      replies,
      queue: { jobs: await deps.queue.depth(QUEUES.jobs), results: await deps.queue.depth(QUEUES.results) },
      totals: { ...activity.totals, transactions: txs.length, gasUsed: gasTotal.toString() },
      gas: txs.slice(-300).map((t) => ({ at: t.at, action: t.label, gasUsed: Number(t.gasUsed), items: t.items, hash: t.hash })),
      latency: latency.reverse().map((r) => ({
        id: r.id,
        state: r.state,
        tier: Tier[r.tier] ?? String(r.tier),
        at: r.observedAt,
        submitMs: r.submittedAt === null ? null : Math.max(0, r.submittedAt - r.observedAt),
        finalMs: r.finalAt === null ? null : Math.max(0, r.finalAt - r.observedAt),
      })),
    });
  });

  app.get("/api/requests", (req, res) => {
    const state = typeof req.query.state === "string" && req.query.state !== "" ? req.query.state : undefined;
    if (state !== undefined && !STATES.includes(state as RequestState)) {
      throw new OracleError("MESSAGE_INVALID", `unknown state "${state.slice(0, 40)}"`, { details: { allowed: STATES } });
    }
    const limit = typeof req.query.limit === "string" ? Number.parseInt(req.query.limit, 10) : 100;
    const rows = deps.db.listRequests({ state: state as RequestState | undefined, limit: Number.isFinite(limit) ? limit : 100 });
    res.json({ requests: rows.map(summary), now: Date.now() });
  });

  // A request's detail reads the node several times (logs, blocks, receipts, getRequest, the dispute): the
  // same request asked again within detailCacheMs, or while it is being read, is answered from one set of
  // reads, so anonymous callers cannot multiply the node's load by asking in parallel.
  // Keyed by what the watcher knows of the request: a new event reads afresh. Previews and
  // the reply are read each time (local).
  const reads = new Map<string, { at: number; value: ReturnType<typeof requestChainReads> }>();
  const detailCacheMs = deps.detailCacheMs ?? 2000;
  const cachedReads: ChainReads = (d, row) => {
    const key = `${row.id}|${row.state}|${row.outputHash ?? ""}|${row.finalTx ?? ""}`;
    const now = Date.now();
    let entry = reads.get(key);
    if (entry === undefined || now - entry.at > detailCacheMs) {
      for (const [k, e] of reads) if (now - e.at > detailCacheMs) reads.delete(k);
      while (reads.size >= 1024) reads.delete(reads.keys().next().value!);
      entry = { at: now, value: requestChainReads(d, row) };
      entry.value.catch(() => reads.delete(key));
      reads.set(key, entry);
    }
    return entry.value;
  };
  app.get("/api/requests/:id", async (req, res) => {
    const id = String(req.params.id).toLowerCase();
    const row = deps.db.getRequest(id);
    if (row === undefined) throw new OracleError("REQUEST_NOT_FOUND", `no request ${id.slice(0, 80)}`);
    res.json(await requestDetail(deps, row, detailCacheMs > 0 ? cachedReads : undefined));
  });

  app.get("/api/workers", async (_req, res) => {
    await refreshOrUnavailable(activity);
    const served = deps.db.dashboard.servedByWorker();
    const workers = await Promise.all(
      deps.db.workers.list().map(async (w) => {
        const v = await deps.chain.reader.getWorker(w.operator);
        const states = served.get(w.operator.toLowerCase()) ?? {};
        return {
          operator: w.operator,
          signer: v.signer,
          stake: v.stake.toString(),
          bondInUse: v.locked.toString(),
          unbonding: v.unbonding.toString(),
          openResults: Number(v.openResults),
          served: Object.values(states).reduce((a, b) => a + b, 0),
          servedByState: states,
          slashes: w.slashes,
          slashed: w.slashedWei.toString(),
          registeredBlock: w.registeredBlock,
        };
      }),
    );
    res.json({ workers });
  });

  // Server-sent events: one timer for every client, a `change` event when the fingerprint moves.
  const clients = new Set<Response>();
  let last = "";
  let timer: NodeJS.Timeout | undefined;
  const fingerprint = (): string => {
    const r = deps.db.dashboard.requestsFingerprint();
    return JSON.stringify({ ...r, states: deps.db.countByState(), txs: deps.chain.txs.length });
  };
  const tick = (): void => {
    let now: string;
    try {
      now = fingerprint();
    } catch {
      return; // database closed while shutting down
    }
    if (now === last) return;
    last = now;
    for (const res of clients) res.write(`event: change\ndata: ${now}\n\n`);
  };
  const gate = new StreamGate(deps.maxEventStreams ?? 256, deps.maxEventStreamsPerAddress ?? 4);
  app.get("/api/events", (req: Request, res: Response) => {
    const address = deps.clientAddress?.(req) ?? normalizeAddress(req.socket.remoteAddress ?? "unknown");
    const release = gate.admit(address);
    if (release === "global") {
      res.set("retry-after", "10");
      throw new OracleError("RATE_LIMITED", "too many event streams are open; poll /api/requests instead", { details: { limit: "global" } });
    }
    if (release === "address") {
      res.set("retry-after", "10");
      throw new OracleError("RATE_LIMITED", "too many event streams are open from this address", { details: { limit: "address" } });
    }
    req.on("close", release);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write(`retry: 2000\nevent: change\ndata: ${fingerprint()}\n\n`);
    clients.add(res);
    timer ??= setInterval(tick, deps.eventsIntervalMs ?? 500);
    timer.unref();
    req.on("close", () => {
      clients.delete(res);
      if (clients.size === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    });
  });

  return {
    activity,
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}

/** Brings ChainActivity up to date; a node that does not answer is CHAIN_UNAVAILABLE (503, retryable). */
export async function refreshOrUnavailable(activity: ChainActivity): Promise<void> {
  try {
    await activity.refresh();
  } catch (cause) {
    throw new OracleError("CHAIN_UNAVAILABLE", "the chain node does not answer", { cause, retryable: true });
  }
}
