/**
 * RequestLedger: keeps the database's request rows in step with the chain. It subscribes to the
 * EventWatcher's domain events (new requests, results, settlements, refunds, disputes, reopenings,
 * and the worker registry the dashboard lists) and, after a reorg, reconciles every request touched
 * after the fork with its state on-chain so the re-scan that follows is idempotent:
 * a request whose event is gone becomes "orphaned" (no job, no refund); one whose event moved keeps
 * its job (not published twice); a result whose transaction was undone is sent again by the
 * transaction manager (which follows our transaction again) or, when that transaction is not ours
 * to resend, handed back to the submitter; a result that still stands on-chain is never sent again.
 */
import type { Logger } from "../protocol/index.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb, RequestRow, RequestState } from "./db.js";
import type { DomainEvent, EventOf, EventSubscriber } from "./events.js";

/** The oracle's RequestStatus enum, as the ledger maps it to its own states. */
const STATUS: Record<number, RequestState> = { 0: "orphaned", 1: "requested", 2: "submitted", 3: "challenged", 4: "fulfilled", 5: "refunded" };

/** The fields a reorg clears from a request whose result is no longer on-chain. */
const NO_RESULT = { worker: null, relayer: null, outputHash: null, traceRoot: null, challengeDeadline: null, disputeDeadline: null } as const;

/** A request row's fields from its InferenceRequested event (first seen, or seen again in another history). */
function requestedFields(e: EventOf<"requested">) {
  const { requester, modelHash, inputHash, inputURI, tier, fee, deadline, callbackGasLimit } = e;
  return { requester, modelHash, inputHash, inputURI, tier, fee, deadline, callbackGasLimit, state: "requested" as const, block: e.at.block };
}

export class RequestLedger implements EventSubscriber {
  constructor(
    private readonly chain: Pick<OracleChain, "provider" | "reader" | "nonces" | "resumePending">,
    private readonly db: RelayerDb,
    private readonly log: Logger,
  ) {}

  async onEvents(events: readonly DomainEvent[]): Promise<void> {
    for (const event of events) await this.record(event);
  }

  private async record(e: DomainEvent): Promise<void> {
    const now = Date.now();
    switch (e.kind) {
      case "requested":
        if (!this.db.insertRequest({ id: e.requestId, ...requestedFields(e), observedAt: now })) this.reappeared(e);
        return;
      case "resultSubmitted":
        // A NONE/ZK result's `fulfilled` came first in the same call: its record adds who served it, not a state.
        this.db.updateRequest(e.requestId, {
          ...(e.optimistic ? { state: "submitted" as const, challengeDeadline: e.challengeDeadline } : {}),
          worker: e.worker,
          relayer: e.relayer,
          outputHash: e.outputHash,
          submittedAt: this.db.getRequest(e.requestId)?.submittedAt ?? now,
          submitTx: e.at.txHash,
        });
        break;
      case "fulfilled":
        this.db.updateRequest(e.requestId, { state: "fulfilled", outputHash: e.outputHash, callbackOk: e.callbackSucceeded ? 1 : 0, finalAt: now, finalTx: e.at.txHash });
        break;
      case "refunded":
        this.db.updateRequest(e.requestId, { state: "refunded", refundReason: e.reason, finalAt: now, finalTx: e.at.txHash });
        break;
      case "challengeOpened":
        this.db.updateRequest(e.requestId, { state: "challenged", disputeDeadline: e.deadline });
        break;
      case "disputeResolved":
        if (e.workerRight) {
          // The result stands and the window is closed: settle as soon as possible.
          const block = await this.chain.provider.getBlock(e.at.block);
          this.db.updateRequest(e.requestId, { state: "submitted", challengeDeadline: block?.timestamp ?? 0, disputeDeadline: null });
        }
        break;
      case "reopened":
        // The worker was proven wrong and the deadline allows another try: its job goes out again.
        this.db.reopenRequest(e.requestId, { deadline: e.deadline, note: `reopened after ${e.disqualifiedWorker} was slashed` });
        break;
      case "workerRegistered":
        this.db.workers.register(e.operator, e.signer, e.at.block);
        return;
      case "signerChanged":
        this.db.workers.changeSigner(e.operator, e.newSigner);
        return;
      case "workerSlashed":
        this.db.workers.slashed(e.operator, e.amount);
        return;
      default:
        return;
    }
    this.db.updateRequest(e.requestId, { lastBlock: e.at.block });
  }

  /**
   * A request event seen again (a re-scan after a reorg or a crash). The same request keeps its row
   * and its job (published once); one whose event moved to another block is revived if it was
   * orphaned; a different request under the same id (another history) replaces the row.
   */
  private reappeared(e: EventOf<"requested">): void {
    const row = this.db.getRequest(e.requestId);
    if (row === undefined) return;
    const same = row.inputHash.toLowerCase() === e.inputHash.toLowerCase() && row.modelHash.toLowerCase() === e.modelHash.toLowerCase() && row.requester.toLowerCase() === e.requester.toLowerCase();
    if (same) {
      if (row.block !== e.at.block || row.state === "orphaned") {
        this.db.updateRequest(e.requestId, {
          block: e.at.block,
          lastBlock: Math.max(row.lastBlock ?? 0, e.at.block),
          deadline: e.deadline,
          ...(row.state === "orphaned" ? { state: "requested" as const, note: `request event moved to block ${e.at.block}` } : {}),
        });
      }
      return;
    }
    this.log.warn({ requestId: e.requestId, block: e.at.block }, "request id reused by another request in the new history; serving the new one");
    this.db.deleteReply(e.requestId);
    this.db.updateRequest(e.requestId, { ...requestedFields(e), lastBlock: e.at.block, jobPublishedAt: null, excluded: null });
  }

  /** Reconciles every request touched after `fork` with its state on-chain; returns how many changed state. */
  async onRewind(fork: number): Promise<number> {
    // Our own transactions mined after the fork: the transaction manager follows (and resends) them.
    const resent = new Set(this.chain.nonces.reorged(fork).map((h) => h.toLowerCase()));
    if (resent.size > 0) void this.chain.resumePending().catch(() => undefined);
    const rows = this.db.requestsTouchedAfter(fork);
    let reconciled = 0;
    for (const row of rows) {
      const onChain = await this.chain.reader.getRequest(row.id);
      const state = STATUS[Number(onChain.status)] ?? "orphaned";
      const fields: Partial<RequestRow> = { state, lastBlock: Math.min(row.lastBlock ?? fork, fork) };
      if (state === "requested") {
        Object.assign(fields, NO_RESULT, { submittedAt: null });
        // Its result is no longer on-chain. If our transaction carrying it is being sent again, it
        // lands with it; otherwise the submitter sends it again.
        if (this.db.getReply(row.id)?.state === "submitted" && !resent.has(String(row.submitTx ?? "").toLowerCase())) {
          this.db.setReplyState(row.id, "pending");
          fields.submitTx = null;
        }
      }
      if (state !== row.state) reconciled += 1;
      this.db.updateRequest(row.id, { ...fields, note: `reorg at block ${fork + 1}: ${row.state} -> ${state}` });
    }
    this.log.warn({ forkBlock: fork, requests: rows.length, reconciled }, "requests reconciled after a reorg");
    return reconciled;
  }
}
