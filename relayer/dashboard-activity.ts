/**
 * ChainActivity: subscribes to the EventWatcher's domain events (after the request ledger, so the
 * database already reflects them) and tallies results, skips, refunds and disputes into the
 * dashboard's counters and the relayer's Prometheus series; `refresh` brings the gauges (request
 * states, queue depths, pending transactions, cursor lag) up to date. Workers are listed from the
 * database (the ledger records their registrations). For the feature panels
 * (relayer/dashboard-features.ts) it records the fee token of each request paid in an ERC-20 token and
 * how each fulfilled output was delivered (inline or as its hash), through RelayerDb.features.
 */
import { QUEUES, RefundReason, Tier } from "../protocol/index.js";
import type { TxRecord } from "./chain.js";
import type { DashboardDeps } from "./dashboard.js";
import { countByState } from "./dashboard-health.js";
import type { DomainEvent, EventSubscriber } from "./events.js";

const TOTALS_KEY = "activity.totals";

/** Tallies events into counters; one gauge refresh at a time. */
export class ChainActivity implements EventSubscriber {
  private refreshing: Promise<void> | undefined;
  private txSynced = 0;
  private relayerAddress: string | undefined;
  /** Counted since the relayer's start block: kept in the database across restarts. */
  readonly totals = { disputesOpened: 0, workerWon: 0, challengerWon: 0, refunds: 0, resultsSubmitted: 0, resultsSkipped: 0 };

  constructor(private readonly deps: DashboardDeps) {
    const saved = deps.db.getMeta(TOTALS_KEY);
    if (saved !== undefined) Object.assign(this.totals, JSON.parse(saved) as Partial<ChainActivity["totals"]>);
  }

  /** Brings the gauges up to date; concurrent callers share one run. */
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
    metrics.pendingReplies.set(db.dashboard.pendingReplies());
    const [jobs, results] = await Promise.all([queue.depth(QUEUES.jobs), queue.depth(QUEUES.results)]);
    metrics.queueDepth.set({ queue: QUEUES.jobs }, jobs);
    metrics.queueDepth.set({ queue: QUEUES.results }, results);

    const [head, pending, mined] = await Promise.all([
      chain.provider.getBlockNumber(),
      chain.provider.getTransactionCount(this.relayerAddress, "pending"),
      chain.provider.getTransactionCount(this.relayerAddress, "latest"),
    ]);
    metrics.pendingTransactions.set(Math.max(0, pending - mined));
    metrics.cursorLag.set(Math.max(0, head - Math.min(head, this.deps.cursor())));
  }

  async onEvents(events: readonly DomainEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.relayerAddress ??= (await this.deps.chain.signer.getAddress()).toLowerCase();
    const mine = new Set(this.deps.chain.txs.map((t) => t.hash.toLowerCase()));
    for (const e of events) this.tally(e, mine);
    this.deps.db.setMeta(TOTALS_KEY, JSON.stringify(this.totals));
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

  private tally(e: DomainEvent, mine: Set<string>): void {
    const { metrics, db } = this.deps;
    const row = "requestId" in e ? db.getRequest(e.requestId) : undefined;
    const tier = row === undefined ? "unknown" : (Tier[row.tier] ?? String(row.tier)).toLowerCase();
    switch (e.kind) {
      case "resultSubmitted":
        if (e.relayer.toLowerCase() === this.relayerAddress) {
          metrics.resultsSubmitted.inc();
          this.totals.resultsSubmitted++;
          if (row?.submittedAt != null) metrics.submitSeconds.observe({ tier }, Math.max(0, row.submittedAt - row.observedAt) / 1000);
        }
        break;
      case "resultSkipped":
        if (mine.has(e.at.txHash.toLowerCase())) {
          metrics.resultsSkipped.inc({ reason: e.reason });
          this.totals.resultsSkipped++;
        }
        break;
      case "tokenFeeEscrowed":
        db.features.recordTokenFee({ requestId: e.requestId, token: e.token, amount: e.amount, ownerFee: e.ownerFee, block: e.at.block });
        break;
      case "tokenRefundClaimed":
        db.features.recordTokenRefund(e.requestId, e.amount);
        break;
      case "fulfilled":
        db.features.recordDelivery({ requestId: e.requestId, outputHash: e.outputHash, inline: e.outputDelivered, callbackOk: e.callbackSucceeded, block: e.at.block, tx: e.at.txHash });
        if (row?.finalAt != null) metrics.finalSeconds.observe({ tier, outcome: "fulfilled" }, Math.max(0, row.finalAt - row.observedAt) / 1000);
        break;
      case "refunded":
        metrics.refunds.inc({ reason: RefundReason[e.reason] ?? String(e.reason) });
        this.totals.refunds++;
        if (row?.finalAt != null) metrics.finalSeconds.observe({ tier, outcome: "refunded" }, Math.max(0, row.finalAt - row.observedAt) / 1000);
        break;
      case "challengeOpened":
        metrics.disputesOpened.inc();
        this.totals.disputesOpened++;
        break;
      case "disputeResolved":
        // WorkerRight: the worker won; WorkerFault / OutputMinor: the challengers did.
        metrics.disputesResolved.inc({ winner: e.workerRight ? "worker" : "challenger", by_default: String(e.byDefault) });
        if (e.workerRight) this.totals.workerWon++;
        else this.totals.challengerWon++;
        break;
      default:
        break;
    }
  }
}
