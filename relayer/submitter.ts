/**
 * Submits checked worker replies on-chain: result batches with `submitBatch` (one per worker-signed
 * ResultBatch, whole: the signature covers every item, so the relayer can neither split nor trim one;
 * the oracle accepts every valid item and reports each skipped one with the error it would have
 * raised), rejections one by one. A skipped item's job is handed out again to another worker by
 * the JobDispatcher (`republish`).
 */
import { Tier, hexOf, isError, type Logger, type ResultBatchMessage, type RejectionMessage, packBatch, type WireBatch } from "../protocol/index.js";
import type { TransactionReceipt } from "ethers";
import type { SenderChain } from "./chain.js";
import type { BlobStore } from "./blobs.js";
import { deliveryOutput } from "./delivery.js";
import type { BatchRow, RelayerDb, ReplyRow } from "./db.js";
import { decodeEvents, type DomainEvent, type EventOf } from "./events.js";

/** Hands a request's job out again (JobDispatcher.republish); resolves whether it did. */
export type Republish = (requestId: string, note: string) => Promise<boolean>;

export class ResultSubmitter {
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly chain: SenderChain,
    private readonly db: RelayerDb,
    private readonly log: Logger,
    /** maxBatchSize: rejections sent per flush round; maxBatchWaitMs: how long a rejection waits for others. */
    private readonly options: { maxBatchSize: number; maxBatchWaitMs: number; maxInlineOutputBytes: number },
    private readonly republish: Republish,
    private readonly blobs?: BlobStore,
  ) {}

  /**
   * Called when a reply arrives. A worker-signed batch is submitted at once (the worker's batcher already
   * waited for it to fill); rejections within maxBatchWaitMs.
   */
  kick(): void {
    if (this.closed) return;
    if (this.db.pendingBatches(1).length > 0 || this.db.pendingRejections(this.options.maxBatchSize).length >= this.options.maxBatchSize) {
      void this.flush();
    } else if (this.timer === undefined && this.db.pendingRejections(1).length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.options.maxBatchWaitMs);
    }
  }

  /** Submits everything pending; one flush at a time (a second caller joins the running one). */
  flush(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing;
    const run = this.drainPending().finally(() => {
      if (this.flushing === run) this.flushing = undefined;
    });
    this.flushing = run;
    return run;
  }

  private async drainPending(): Promise<void> {
    try {
      for (;;) {
        const rejections = this.db.pendingRejections(this.options.maxBatchSize);
        const batches = this.db.pendingBatches(1);
        if (rejections.length === 0 && batches.length === 0) break;
        for (const reply of rejections) {
          if (!this.stillOpen(reply)) continue;
          if (!(await this.submitRejection(reply))) return; // chain unavailable: leave them pending for the next tick
        }
        if (batches.length > 0 && !(await this.submitBatch(batches[0]!))) return;
      }
    } catch (error) {
      this.log.error({ err: error }, "result submission failed");
    }
  }

  /** Whether the reply's request is still open here; if not, the reply is done with. */
  private stillOpen(reply: ReplyRow): boolean {
    const state = this.db.getRequest(reply.requestId)?.state;
    if (state === undefined || state === "requested") return true;
    // The chain already moved on (this reply landed before a crash, or another relayer's did):
    // sending it again would only be skipped by the oracle.
    this.db.setReplyState(reply.requestId, "submitted", `request already ${state} on-chain`);
    return false;
  }

  /** The batch with the bytes submitBatch carries: every signed item, in the signed order. */
  private async toWire(m: ResultBatchMessage): Promise<WireBatch> {
    const items = await Promise.all(m.items.map(async (item) => {
      const row = this.db.getRequest(item.requestId);
      // The output is only needed when the request settles in this transaction (NONE and ZK tiers):
      // inline up to the request's maxInlineOutput, else its size proof (relayer/delivery.ts).
      const settlesNow = row !== undefined && row.tier !== Tier.OPTIMISTIC;
      // The collector stored the output as 0x-hex (relayer/collector.ts).
      const output = settlesNow
        ? await deliveryOutput(this.chain, this.blobs, { requestId: item.requestId, outputHash: item.outputHash, held: hexOf(item.output), callbackGasLimit: row.callbackGasLimit, cap: this.options.maxInlineOutputBytes })
        : "0x";
      return { requestId: item.requestId, outputHash: item.outputHash, output, proof: item.proof ?? "0x" };
    }));
    return { payee: m.payee, signature: m.signature, items };
  }

  /** Submits one worker-signed batch whole; false when the chain is unavailable (it stays pending). */
  private async submitBatch(batch: BatchRow): Promise<boolean> {
    // The replies this relayer holds from this batch (other items may be held from other batches).
    const held = this.db.batchReplies(batch.id).filter((r) => r.state === "pending" && this.stillOpen(r));
    if (held.length === 0) {
      // Nothing in it is still wanted here: no gas for a batch whose every item the oracle would skip.
      this.db.setBatchState(batch.id, "dropped", "no item of the batch is still open");
      return true;
    }
    const m = JSON.parse(batch.message) as ResultBatchMessage;
    const args = packBatch(await this.toWire(m));
    try {
      const receipt = await this.chain.send("submitBatch", m.items.length, () => this.chain.oracle.submitBatch.populateTransaction(...args));
      const skipped = new Map<string, string>();
      for (const e of this.eventsOf(receipt)) if (e.kind === "resultSkipped") skipped.set(e.requestId, e.reason);
      const now = Date.now();
      this.db.setBatchState(batch.id, "submitted", null, receipt.hash);
      for (const r of held) {
        const reason = skipped.get(r.requestId.toLowerCase());
        if (reason === undefined) {
          this.db.setReplyState(r.requestId, "submitted");
          this.db.updateRequest(r.requestId, { submittedAt: now, submitTx: receipt.hash });
        } else {
          await this.skipped(r.requestId, reason);
        }
      }
      this.log.info({ items: m.items.length, held: held.length, skipped: skipped.size, gasUsed: receipt.gasUsed.toString() }, "result batch submitted");
      return true;
    } catch (error) {
      if (isError(error, "CHAIN_REVERTED")) {
        // The batch as a whole is refused (its signer unstaked meanwhile, too little gas for a callback):
        // it cannot be split, so every item it holds goes back to the other workers.
        const reason = String(error.details.error ?? error.message);
        this.db.setBatchState(batch.id, "failed", reason);
        for (const r of held) await this.skipped(r.requestId, reason);
        return true;
      }
      this.log.warn({ err: error }, "chain unavailable; the batch stays pending");
      return false;
    }
  }

  /**
   * The oracle refused this result (the worker's stake is unbonding or too low, it was disqualified
   * for this request, ...). The request may still be open: hand its job out again so another worker
   * can serve it, a bounded number of times; after that it is refunded at its deadline.
   */
  private async skipped(requestId: string, reason: string): Promise<void> {
    const again = await this.handOutAgain(requestId, reason, `result skipped (${reason}); job handed out again`);
    this.log.warn({ requestId, reason, republished: again }, "result skipped by the oracle");
  }

  /**
   * Marks the request's reply as done with (`skipped`, so another worker's reply can replace it),
   * excludes its signer from the next job and, a bounded number of times, hands the job out again.
   */
  private async handOutAgain(requestId: string, reason: string, note: string): Promise<boolean> {
    const reply = this.db.getReply(requestId);
    this.db.setReplyState(requestId, "skipped", reason);
    const row = this.db.getRequest(requestId);
    // The next job names this signer, so its worker passes the job on instead of serving it again.
    const signer = reply === undefined ? undefined : (JSON.parse(reply.message) as { signer?: string }).signer;
    if (row !== undefined && signer !== undefined) {
      const excluded = new Set<string>(JSON.parse(row.excluded ?? "[]") as string[]);
      excluded.add(signer.toLowerCase());
      this.db.updateRequest(requestId, { excluded: JSON.stringify([...excluded]) });
    }
    return this.republish(requestId, note);
  }

  /**
   * Submits a worker's signed rejection. One that proves an input type mismatch goes through
   * `rejectRequestWithProof` (refunded at once); if the oracle finds no mismatch it is submitted as a
   * plain rejection. A plain rejection is recorded and refunds only at the request's rejection quorum
   * (docs/V2.md §4): until then the request stays open and its job goes to another worker.
   */
  private async submitRejection(reply: ReplyRow): Promise<boolean> {
    const m = JSON.parse(reply.message) as RejectionMessage;
    try {
      let receipt: TransactionReceipt | undefined;
      if (m.inputHeader !== undefined && m.inputDataRoot !== undefined) {
        try {
          receipt = await this.chain.send("rejectRequestWithProof", 1, () =>
            this.chain.oracle.rejectRequestWithProof.populateTransaction(m.requestId, m.reason, m.signature, m.inputHeader!, m.inputDataRoot!),
          );
        } catch (error) {
          if (!isError(error, "CHAIN_REVERTED")) throw error;
          this.log.warn({ requestId: m.requestId, error: String(error.details.error ?? error.message) }, "type-mismatch proof refused; submitting a plain rejection");
        }
      }
      receipt ??= await this.chain.send("rejectRequest", 1, () => this.chain.oracle.rejectRequest.populateTransaction(m.requestId, m.reason, m.signature));
      const events = this.eventsOf(receipt);
      const refunded = events.some((e) => e.kind === "refunded");
      const recorded = events.find((e): e is EventOf<"rejectionRecorded"> => e.kind === "rejectionRecorded");
      if (refunded) {
        this.db.setReplyState(m.requestId, "submitted");
        this.log.info({ requestId: m.requestId, reason: m.reason, code: m.code }, "rejection submitted; requester refunded");
      } else {
        const count = recorded === undefined ? "" : ` (${recorded.rejections} of ${recorded.quorum})`;
        const again = await this.handOutAgain(m.requestId, `rejection recorded${count}`, `rejected by ${m.signer}${count}; job handed out again`);
        this.log.info({ requestId: m.requestId, reason: m.reason, code: m.code, rejections: recorded?.rejections, quorum: recorded?.quorum, republished: again }, "rejection recorded; request stays open until the quorum");
      }
      return true;
    } catch (error) {
      if (isError(error, "CHAIN_REVERTED")) {
        this.db.setReplyState(m.requestId, "skipped", String(error.details.error ?? error.message));
        return true;
      }
      return false;
    }
  }

  /** The oracle's events in our own transaction's receipt, decoded as the watcher decodes them. */
  private eventsOf(receipt: TransactionReceipt): DomainEvent[] {
    return decodeEvents(receipt.logs, { oracle: this.chain.oracleAddress, chained: [], redundant: [] });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
  }
}

