/**
 * ChainActivity: follows the oracle's dispute, refund, result and worker events up to the watcher's
 * cursor (so the database already reflects them) and tallies them into the dashboard's counters,
 * the relayer's gauges and the worker table.
 */
import type { Log } from "ethers";
import { QUEUES, RefundReason, Ruling, Tier } from "../protocol/index.js";
import type { TxRecord } from "./chain.js";
import type { DashboardDeps } from "./dashboard.js";
import { countByState } from "./dashboard-health.js";
import { decodeBatchLog } from "../protocol/batch-wire.js";

/** Events ChainActivity follows (those not already reflected as a request's row state). */
const FOLLOWED = [
  "ResultBatchSubmitted",
  "ResultSkipped",
  "RequestFulfilled",
  "RequestRefunded",
  "ChallengeOpened",
  "DisputeResolved",
  "WorkerRegistered",
  "SignerChanged",
  "WorkerSlashed",
] as const;

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
      case "ResultBatchSubmitted":
        // One event per batch, a record per accepted result (protocol/batch-wire.ts); the payee is the relayer.
        if (String(a.payee).toLowerCase() !== this.relayerAddress) break;
        for (const r of decodeBatchLog(log)?.results ?? []) {
          metrics.resultsSubmitted.inc();
          this.totals.resultsSubmitted++;
          const own = db.getRequest(r.requestId);
          const ownTier = own === undefined ? "unknown" : (Tier[own.tier] ?? String(own.tier)).toLowerCase();
          if (own?.submittedAt != null) metrics.submitSeconds.observe({ tier: ownTier }, Math.max(0, own.submittedAt - own.observedAt) / 1000);
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
