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
 * Everything comes from the relayer's sqlite state and chain reads. ChainActivity follows the
 * oracle's dispute, refund, result and worker events up to the watcher's cursor (so the database
 * already reflects them) and feeds the counters and the worker table; a request's timeline is read
 * from its own logs (every oracle event indexes the request id first).
 */
import { batchItemLeaf, resultLeaf } from "../protocol/batch.js";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Express, type Request, type Response } from "express";
import type { Log } from "ethers";
import { IOracleTokenFees__factory } from "../protocol/contracts.js";
import { OracleError, DTYPES, QUEUES, RefundReason, Ruling, Tier, bundleEntries, decodeTensor, dtypeFromCode, isTensorBundle, type Logger, type Tensor } from "../protocol/index.js";
import { normalizeAddress, StreamGate } from "./limits.js";
import { healthRoutes, type ReadinessCheck, type RelayerMetrics } from "../protocol/metrics.js";
import type { JobQueue } from "../queue/index.js";
import type { BlobStore } from "./blobs.js";
import type { OracleChain, TxRecord } from "./chain.js";
import type { RelayerDb, RequestRow, RequestState } from "./db.js";

export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "dashboard");

const STATES: readonly RequestState[] = ["requested", "submitted", "challenged", "fulfilled", "refunded"];
/** Events ChainActivity follows (those not already reflected as a request's row state). */
const FOLLOWED = [
  "ResultSubmitted",
  "ResultSkipped",
  "RequestFulfilled",
  "RequestRefunded",
  "ChallengeOpened",
  "DisputeResolved",
  "WorkerRegistered",
  "SignerChanged",
  "WorkerSlashed",
] as const;

export interface DashboardDeps {
  db: RelayerDb;
  blobs: BlobStore;
  chain: OracleChain;
  queue: JobQueue;
  metrics: RelayerMetrics;
  log: Logger;
  /** The watcher's cursor: last block whose events are in the database. */
  cursor: () => number;
  /** First block of the oracle's history (the relayer's startBlock). */
  startBlock: number;
  logBlockRange: number;
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

interface WorkerInfo {
  operator: string;
  signer: string;
  registeredBlock: number;
  slashedWei: bigint;
  slashes: number;
}

/** Tallies oracle events into counters and the worker list; one refresh at a time. */
export class ChainActivity {
  private scanned: number;
  private refreshing: Promise<void> | undefined;
  private txSynced = 0;
  private relayerAddress: string | undefined;
  readonly workers = new Map<string, WorkerInfo>();
  readonly totals = { disputesOpened: 0, workerWon: 0, challengerWon: 0, refunds: 0, resultsSubmitted: 0, resultsSkipped: 0 };

  constructor(private readonly deps: DashboardDeps) {
    this.scanned = deps.startBlock - 1;
  }

  /** Brings counters and gauges up to date; concurrent callers share one run. */
  refresh(): Promise<void> {
    this.refreshing ??= this.run().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async run(): Promise<void> {
    const { db, chain, metrics, queue } = this.deps;
    this.relayerAddress ??= (await chain.signer.getAddress()).toLowerCase();
    this.syncTransactions(chain.txs);

    for (const [state, n] of Object.entries(countByState(db))) metrics.requests.set({ state }, n);
    metrics.pendingReplies.set(Number((db.db.prepare("SELECT COUNT(*) AS n FROM replies WHERE state = 'pending'").get() as { n: number }).n));
    const [jobs, results] = await Promise.all([queue.depth(QUEUES.jobs), queue.depth(QUEUES.results)]);
    metrics.queueDepth.set({ queue: QUEUES.jobs }, jobs);
    metrics.queueDepth.set({ queue: QUEUES.results }, results);

    const [head, pending, mined] = await Promise.all([
      chain.provider.getBlockNumber(),
      chain.provider.getTransactionCount(this.relayerAddress, "pending"),
      chain.provider.getTransactionCount(this.relayerAddress, "latest"),
    ]);
    metrics.pendingTransactions.set(Math.max(0, pending - mined));
    const cursor = Math.min(head, this.deps.cursor());
    metrics.cursorLag.set(Math.max(0, head - cursor));

    const iface = chain.oracle.interface;
    const topics = FOLLOWED.map((name) => iface.getEvent(name)!.topicHash);
    let from = this.scanned + 1;
    while (from <= cursor) {
      const to = Math.min(cursor, from + this.deps.logBlockRange - 1);
      const logs = await chain.provider.getLogs({ address: chain.oracleAddress, fromBlock: from, toBlock: to, topics: [topics] });
      logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
      const mine = new Set(chain.txs.map((t) => t.hash.toLowerCase()));
      for (const log of logs) this.tally(log, mine);
      this.scanned = to;
      from = to + 1;
    }
  }

  private syncTransactions(txs: readonly TxRecord[]): void {
    const { metrics } = this.deps;
    for (; this.txSynced < txs.length; this.txSynced++) {
      const tx = txs[this.txSynced]!;
      metrics.transactions.inc({ action: tx.label });
      metrics.gasUsed.inc({ action: tx.label }, Number(tx.gasUsed));
      metrics.txItems.observe({ action: tx.label }, tx.items);
    }
  }

  private tally(log: Log, mine: Set<string>): void {
    const { metrics, db, chain } = this.deps;
    const parsed = chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) return;
    const a = parsed.args;
    const row = a.requestId === undefined ? undefined : db.getRequest(String(a.requestId).toLowerCase());
    const tier = row === undefined ? "unknown" : (Tier[row.tier] ?? String(row.tier)).toLowerCase();
    switch (parsed.name) {
      case "ResultSubmitted":
        if (String(a.relayer).toLowerCase() === this.relayerAddress) {
          metrics.resultsSubmitted.inc();
          this.totals.resultsSubmitted++;
          if (row?.submittedAt != null) metrics.submitSeconds.observe({ tier }, Math.max(0, row.submittedAt - row.observedAt) / 1000);
        }
        break;
      case "ResultSkipped":
        if (mine.has(log.transactionHash.toLowerCase())) {
          const selector = String(a.reason);
          metrics.resultsSkipped.inc({ reason: chain.oracle.interface.getError(selector)?.name ?? selector });
          this.totals.resultsSkipped++;
        }
        break;
      case "RequestFulfilled":
        if (row?.finalAt != null) metrics.finalSeconds.observe({ tier, outcome: "fulfilled" }, Math.max(0, row.finalAt - row.observedAt) / 1000);
        break;
      case "RequestRefunded": {
        const reason = RefundReason[Number(a.reason)] ?? String(a.reason);
        metrics.refunds.inc({ reason });
        this.totals.refunds++;
        if (row?.finalAt != null) metrics.finalSeconds.observe({ tier, outcome: "refunded" }, Math.max(0, row.finalAt - row.observedAt) / 1000);
        break;
      }
      case "ChallengeOpened":
        metrics.disputesOpened.inc();
        this.totals.disputesOpened++;
        break;
      case "DisputeResolved": {
        // Ruling.WorkerRight (1): the worker won; WorkerFault / OutputMinor: the challengers did.
        const workerRight = Number(a.ruling) === 1;
        const winner = workerRight ? "worker" : "challenger";
        metrics.disputesResolved.inc({ winner, by_default: String(Boolean(a.byDefault)) });
        if (!workerRight) this.totals.challengerWon++;
        else this.totals.workerWon++;
        break;
      }
      case "WorkerRegistered":
        this.workers.set(String(a.operator).toLowerCase(), {
          operator: String(a.operator),
          signer: String(a.signer),
          registeredBlock: log.blockNumber,
          slashedWei: 0n,
          slashes: 0,
        });
        break;
      case "SignerChanged": {
        const w = this.workers.get(String(a.operator).toLowerCase());
        if (w !== undefined) w.signer = String(a.newSigner);
        break;
      }
      case "WorkerSlashed": {
        const w = this.workers.get(String(a.operator).toLowerCase());
        if (w !== undefined) {
          w.slashedWei += BigInt(a.amount);
          w.slashes++;
        }
        break;
      }
      default:
        break;
    }
  }
}

function countByState(db: RelayerDb): Record<RequestState, number> {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<RequestState, number>;
  for (const [state, n] of Object.entries(db.countByState())) counts[state as RequestState] = n;
  return counts;
}

/** The readiness checks of the relayer: chain reachable, queue connected, cursor caught up. */
export function relayerReadiness(deps: DashboardDeps): Record<string, ReadinessCheck> {
  return {
    chain: async () => ({ head: await freshBlockNumber(deps.chain.provider) }),
    queue: async () => ({ jobs: await deps.queue.depth(QUEUES.jobs) }),
    cursor: async () => {
      const head = await freshBlockNumber(deps.chain.provider);
      const lag = head - deps.cursor();
      const max = deps.maxCursorLag ?? 50;
      if (lag > max) throw new Error(`the event cursor trails the head by ${lag} blocks (more than ${max})`);
      return { lag };
    },
  };
}

/**
 * The head asked of the node now: ethers answers getBlockNumber from a short-lived cache, which
 * would keep a probe "ready" for a moment after the node went away.
 */
async function freshBlockNumber(provider: OracleChain["provider"]): Promise<number> {
  const raw = provider as unknown as { send?: (method: string, params: unknown[]) => Promise<string> };
  if (typeof raw.send === "function") return Number(await raw.send("eth_blockNumber", []));
  return provider.getBlockNumber();
}

/** Mounts the health, metrics, dashboard and /api routes on the relayer's app. Returns a closer for SSE streams. */
export function mountDashboard(app: Express, deps: DashboardDeps): { activity: ChainActivity; close(): void } {
  const activity = new ChainActivity(deps);
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
      endpoints: ["/health", "/requests", "/requests/:id", "POST /blobs", "/blobs/:hash", "/api/stats", "/api/requests", "/api/requests/:id", "/api/workers", "/api/events", "/metrics", "/healthz", "/readyz"],
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
    const replies = Object.fromEntries(
      (db.db.prepare("SELECT state, COUNT(*) AS n FROM replies GROUP BY state").all() as { state: string; n: number }[]).map((r) => [r.state, Number(r.n)]),
    );
    const txs = chain.txs;
    const gasTotal = txs.reduce((sum, t) => sum + t.gasUsed, 0n);
    const latency = db.db
      .prepare("SELECT id, state, tier, observedAt, submittedAt, finalAt FROM requests WHERE submittedAt IS NOT NULL OR finalAt IS NOT NULL ORDER BY observedAt DESC LIMIT 300")
      .all() as { id: string; state: string; tier: number; observedAt: number; submittedAt: number | null; finalAt: number | null }[];
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
  // reads, so anonymous callers cannot multiply the node's load by asking in parallel (issue 13,
  // finding 6). Keyed by what the watcher knows of the request: a new event reads afresh. Previews and
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
    const served = new Map(
      (
        deps.db.db.prepare("SELECT lower(worker) AS worker, state, COUNT(*) AS n FROM requests WHERE worker IS NOT NULL GROUP BY lower(worker), state").all() as {
          worker: string;
          state: string;
          n: number;
        }[]
      ).reduce((m, r) => m.set(r.worker, { ...(m.get(r.worker) ?? {}), [r.state]: Number(r.n) }), new Map<string, Record<string, number>>()),
    );
    const workers = await Promise.all(
      [...activity.workers.values()].map(async (w) => {
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
    const r = deps.db.db
      .prepare("SELECT COUNT(*) AS n, MAX(observedAt) AS o, MAX(submittedAt) AS s, MAX(finalAt) AS f, MAX(replyAt) AS r, SUM(state = 'challenged') AS c FROM requests")
      .get() as Record<string, number | null>;
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

async function refreshOrUnavailable(activity: ChainActivity): Promise<void> {
  try {
    await activity.refresh();
  } catch (cause) {
    throw new OracleError("CHAIN_UNAVAILABLE", "the chain node does not answer", { cause, retryable: true });
  }
}

const TOKEN_FEES = IOracleTokenFees__factory.createInterface();
const TOKEN_EVENTS = new Set(["TokenFeeEscrowed", "TokenRefundClaimed"]);

/** The fee token of a request paid in an ERC-20 token (its TokenFeeEscrowed event), else null. */
function feeTokenOf(timeline: { event: string; args: Record<string, string> }[]): { token: string; amount: string; ownerFee: string } | null {
  const e = timeline.find((t) => t.event === "TokenFeeEscrowed");
  return e === undefined ? null : { token: e.args.token!, amount: e.args.tokenAmount!, ownerFee: e.args.tokenOwnerFee! };
}

function summary(r: RequestRow) {
  return {
    id: r.id,
    state: r.state,
    tier: Tier[r.tier] ?? String(r.tier),
    modelHash: r.modelHash,
    requester: r.requester,
    fee: r.fee,
    block: r.block,
    observedAt: r.observedAt,
    submittedAt: r.submittedAt,
    finalAt: r.finalAt,
    submitMs: r.submittedAt === null ? null : Math.max(0, r.submittedAt - r.observedAt),
    finalMs: r.finalAt === null ? null : Math.max(0, r.finalAt - r.observedAt),
    worker: r.worker,
    refundReason: r.refundReason === null ? null : (RefundReason[r.refundReason] ?? String(r.refundReason)),
    note: r.note,
  };
}

/** A tensor as the dashboard shows it: type, statistics, first values, and a grayscale image when it looks like one. */
export function tensorPreview(t: Tensor, maxValues = 16) {
  const data = t.data as ArrayLike<number | bigint>;
  const n = data.length;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = Number(data[i]);
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const values: number[] = [];
  for (let i = 0; i < Math.min(n, maxValues); i++) values.push(Number(data[i]));
  let image: { width: number; height: number; gray: string } | undefined;
  const s = t.shape;
  // [1, C, H, W] with C 1 or 3 (NCHW, as the vision models take): mean over channels, scaled to 0..255.
  if (s.length === 4 && s[0] === 1 && (s[1] === 1 || s[1] === 3) && s[2]! * s[3]! <= 65_536 && n === s[1]! * s[2]! * s[3]!) {
    const [c, h, w] = [s[1]!, s[2]!, s[3]!];
    const gray = Buffer.alloc(h * w);
    const span = max - min || 1;
    for (let p = 0; p < h * w; p++) {
      let v = 0;
      for (let k = 0; k < c; k++) v += Number(data[k * h * w + p]);
      gray[p] = Math.round(((v / c - min) / span) * 255);
    }
    image = { width: w, height: h, gray: gray.toString("base64") };
  }
  return {
    dtype: t.dtype,
    shape: t.shape,
    elements: n,
    min: n === 0 ? null : min,
    max: n === 0 ? null : max,
    mean: n === 0 ? null : sum / n,
    values,
    argmax: n > 0 && n <= 1000 ? argmax(data) : null,
    ...(image === undefined ? {} : { image }),
  };
}

/** dtype, shape and the first values of a tensor, from a prefix of its encoding (nothing else is read). */
export function headerPreview(prefix: Uint8Array, maxValues = 16) {
  const buf = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (buf.byteLength < 8 || buf.toString("latin1", 0, 4) !== "VIOT") throw new Error("not a canonical tensor");
  const dtype = dtypeFromCode(buf[5]!);
  if (dtype === undefined) throw new Error(`unsupported dtype code ${buf[5]}`);
  const rank = buf[6]!;
  if (rank > 8 || buf.byteLength < 8 + 4 * rank) throw new Error("tensor header is malformed");
  const shape = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(8 + 4 * i));
  const spec = DTYPES[dtype];
  const offset = 8 + 4 * rank;
  const count = Math.min(maxValues, Math.floor((buf.byteLength - offset) / spec.size), shape.reduce((a, b) => a * b, 1));
  const aligned = new Uint8Array(count * spec.size);
  aligned.set(buf.subarray(offset, offset + count * spec.size));
  const data = new spec.array(aligned.buffer, 0, count) as ArrayLike<number | bigint>;
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(Number(data[i]));
  const elements = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, bytes: offset + elements * spec.size, elements, min: null, max: null, mean: null, values, argmax: null, partial: true as const };
}

function argmax(data: ArrayLike<number | bigint>): number {
  let best = 0;
  for (let i = 1; i < data.length; i++) if (Number(data[i]) > Number(data[best])) best = i;
  return best;
}

/**
 * Blobs up to this size are decoded whole for a preview (the largest image the dashboard draws,
 * float32 [1, 3, 256, 256], is 768 KiB); larger ones give their header and first values only, read
 * from a prefix of the file. An anonymous GET /api/requests/:id decoded whole 64 MiB blobs before.
 */
export const FULL_PREVIEW_BYTES = 1024 * 1024;

async function preview(deps: DashboardDeps, hash: string | null, inline?: () => Promise<string | undefined>) {
  try {
    let bytes: Buffer | undefined;
    if (hash !== null && deps.blobs.has(hash)) {
      // An anonymous GET must not make the relayer read and decode a 64 MiB blob: read a prefix.
      const head = await deps.blobs.head(hash, FULL_PREVIEW_BYTES + 1);
      if (head.byteLength > FULL_PREVIEW_BYTES && isTensorBundle(head)) return { available: false as const, reason: `a bundle of several tensors larger than ${FULL_PREVIEW_BYTES} bytes: no preview` };
      if (head.byteLength > FULL_PREVIEW_BYTES) return { available: true as const, ...headerPreview(head) };
      bytes = head;
    } else if (inline !== undefined) {
      const hex = await inline();
      if (hex !== undefined && hex !== "0x") bytes = Buffer.from(hex.slice(2), "hex");
    }
    if (bytes === undefined) return { available: false as const, reason: "not held by this relayer" };
    if (isTensorBundle(bytes)) {
      // Several named tensors (a model with several inputs or outputs): a preview of each, by name;
      // the first also at the top level, for readers of one tensor.
      const bundle = bundleEntries(bytes).map((e) => ({ name: e.name, bytes: e.encoded.byteLength, ...tensorPreview(decodeTensor(e.encoded)) }));
      return { available: true as const, ...bundle[0]!, bytes: bytes.byteLength, bundle };
    }
    return { available: true as const, bytes: bytes.byteLength, ...tensorPreview(decodeTensor(bytes)) };
  } catch (error) {
    return { available: false as const, reason: error instanceof Error ? error.message.slice(0, 200) : "cannot decode" };
  }
}

type ChainReads = (deps: DashboardDeps, row: RequestRow) => ReturnType<typeof requestChainReads>;

/** What a request's detail reads from the node: its events (with block times and receipts), getRequest, the open dispute. */
async function requestChainReads(deps: DashboardDeps, row: RequestRow) {
  const { chain } = deps;
  // Every oracle event for this request (the id is the first indexed topic of each), with block times and gas.
  // Read in logBlockRange chunks (what RPC providers allow), stopping at the request's final event.
  const logs: Log[] = [];
  const head = await chain.provider.getBlockNumber();
  for (let from = row.block; from <= head; from += deps.logBlockRange) {
    const chunk = await chain.provider.getLogs({ address: chain.oracleAddress, fromBlock: from, toBlock: Math.min(head, from + deps.logBlockRange - 1), topics: [null, row.id] });
    logs.push(...chunk);
    if (row.finalTx !== null && chunk.some((l) => l.transactionHash.toLowerCase() === row.finalTx!.toLowerCase())) break;
  }
  logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const blocks = new Map<number, number>();
  const receipts = new Map<string, { gasUsed: string; from: string; status: number | null }>();
  const timeline: { event: string; block: number; time: number; tx: string; args: Record<string, string> }[] = [];
  let inlineInput: string | undefined;
  for (const log of logs) {
    // A request paid in an ERC-20 token also has its IOracleTokenFees events (docs/FEATURES.md, "ERC-20 fees").
    const parsed = chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data })
      ?? TOKEN_FEES.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) continue;
    if (!blocks.has(log.blockNumber)) blocks.set(log.blockNumber, (await chain.provider.getBlock(log.blockNumber))?.timestamp ?? 0);
    if (!receipts.has(log.transactionHash)) {
      const r = await chain.provider.getTransactionReceipt(log.transactionHash);
      if (r !== null) receipts.set(log.transactionHash, { gasUsed: r.gasUsed.toString(), from: r.from, status: r.status });
    }
    const args: Record<string, string> = {};
    parsed.fragment.inputs.forEach((input, i) => {
      if (input.name === "requestId") return;
      const v = parsed.args[i];
      if (input.name === "input") {
        inlineInput = String(v);
        args.input = `${(String(v).length - 2) / 2} bytes`;
        return;
      }
      // Token amounts are not wei: named so that no reader takes them for ETH.
      const name = TOKEN_EVENTS.has(parsed.name) && /^(amount|ownerFee)$/.test(input.name) ? `token${input.name[0]!.toUpperCase()}${input.name.slice(1)}` : input.name;
      args[name] = typeof v === "bigint" ? v.toString() : String(v);
    });
    if (parsed.name === "RequestRefunded") args.reason = RefundReason[Number(parsed.args.reason)] ?? args.reason!;
    timeline.push({ event: parsed.name, block: log.blockNumber, time: blocks.get(log.blockNumber)!, tx: log.transactionHash, args });
  }

  const view = await chain.reader.getRequest(row.id);
  const disputed = timeline.some((e) => e.event === "ChallengeOpened");
  // Disputes are kept per (request, attempt); the open one is on the request's current attempt.
  const open = disputed && row.state === "challenged" ? await chain.reader.getDispute(row.id, view.attempt) : undefined;
  const dispute = open !== undefined && /^0x0{40}$/i.test(open.opener) ? undefined : open;
  return { timeline, receipts, inlineInput, view, dispute };
}

async function requestDetail(deps: DashboardDeps, row: RequestRow, chainReads?: ChainReads) {
  const { db } = deps;
  const reply = db.getReply(row.id);
  let replyInfo: Record<string, unknown> | null = null;
  if (reply !== undefined) {
    const m = JSON.parse(reply.message) as Record<string, unknown>;
    replyInfo = {
      kind: reply.kind,
      state: reply.state,
      reason: reply.reason,
      receivedAt: reply.receivedAt,
      signer: m.signer,
      provider: m.provider ?? null,
      timings: m.timings ?? null,
      code: m.code ?? null,
      message: typeof m.message === "string" ? m.message.slice(0, 500) : null,
      rejectReason: m.kind === "rejection" ? m.reason : null,
    };
  }

  const { timeline, receipts, inlineInput, view, dispute } = await (chainReads ?? requestChainReads)(deps, row);
  return {
    request: summary(row),
    feeToken: feeTokenOf(timeline),
    commitments: {
      modelHash: row.modelHash,
      inputHash: row.inputHash,
      outputHash: row.outputHash,
      // The worker signed (requestId, outputHash) as a leaf of its ResultBatch; the oracle commits the
      // accepted results of each batch as one Merkle root, and this is the result's accepted leaf
      // (docs/PROTOCOL.md "Result batches"), bound to the request's attempt count. No trace is signed.
      signedLeaf: row.outputHash !== null ? batchItemLeaf(row.id, row.outputHash) : null,
      attempt: Number(view.attempt),
      resultLeaf:
        row.worker !== null && row.relayer !== null && row.outputHash !== null
          ? resultLeaf(row.id, Number(view.attempt), { worker: row.worker, relayer: row.relayer, outputHash: row.outputHash })
          : null,
    },
    chain: {
      status: Number(view.status),
      deadline: Number(view.deadline),
      challengeDeadline: row.challengeDeadline,
      disputeDeadline: row.disputeDeadline,
      callbackGasLimit: row.callbackGasLimit,
      callbackOk: row.callbackOk === null ? null : row.callbackOk === 1,
      // The largest output the callback gets inline; a longer one is delivered as its hash (issue 18).
      maxInlineOutput: Number(view.maxInlineOutput),
    },
    // Content-addressed: the output's bytes are served under its hash (docs/PROTOCOL.md "Large outputs").
    outputURI: row.outputHash === null ? null : `/blobs/${row.outputHash.toLowerCase()}`,
    inputURI: row.inputURI,
    input: await preview(deps, row.inputHash, async () => inlineInput),
    output: await preview(deps, row.outputHash),
    reply: replyInfo,
    offchain: {
      observedAt: row.observedAt,
      jobPublishedAt: row.jobPublishedAt,
      replyAt: row.replyAt,
      submittedAt: row.submittedAt,
      finalAt: row.finalAt,
    },
    transactions: [...receipts.entries()].map(([hash, r]) => ({
      hash,
      ...r,
      events: timeline.filter((e) => e.tx === hash).map((e) => e.event),
    })),
    timeline,
    dispute:
      dispute === undefined
        ? null
        : {
            opener: dispute.opener,
            worker: dispute.worker,
            resolver: dispute.resolver,
            bond: dispute.bond.toString(),
            joiners: Number(dispute.joiners),
            deadline: Number(dispute.deadline),
            defaultRuling: Ruling[Number(dispute.defaultRuling)] ?? String(dispute.defaultRuling),
          },
    note: row.note,
  };
}
