/**
 * Submits checked worker replies on-chain: results in batches (`submitResults` accepts every valid
 * item and reports each skipped one with the error it would have raised), rejections one by one.
 * A batch that reverts as a whole is split and retried item by item, so one bad item never holds
 * the others back.
 */
import { Tier, fromHex, isError, type IInferenceOracle, type Logger, type ResultMessage, type RejectionMessage } from "../protocol/index.js";
import type { TransactionReceipt } from "ethers";
import type { OracleChain } from "./chain.js";
import type { RelayerDb, ReplyRow } from "./db.js";

type Submission = IInferenceOracle.ResultSubmissionStruct;

/** Times a request's job is handed out again after its result was skipped, before waiting for the deadline. */
const MAX_REPUBLISH = 3;

export class ResultSubmitter {
  private timer: NodeJS.Timeout | undefined;
  private readonly republished = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly chain: OracleChain,
    private readonly db: RelayerDb,
    private readonly log: Logger,
    private readonly options: { maxBatchSize: number; maxBatchWaitMs: number; maxInlineOutputBytes: number },
  ) {}

  /** Called when a reply arrives: flush now if a batch is full, else within maxBatchWaitMs. */
  kick(): void {
    if (this.closed) return;
    const pending = this.db.pendingReplies(this.options.maxBatchSize);
    if (pending.length >= this.options.maxBatchSize) {
      void this.flush();
    } else if (this.timer === undefined && pending.length > 0) {
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
        const replies = this.db.pendingReplies(this.options.maxBatchSize);
        if (replies.length === 0) break;
        const progressed = await this.submit(replies);
        if (!progressed) break; // chain unavailable: leave them pending for the next tick
      }
    } catch (error) {
      this.log.error({ err: error }, "result submission failed");
    }
  }

  private async submit(replies: ReplyRow[]): Promise<boolean> {
    const results: ReplyRow[] = [];
    for (const reply of replies) {
      const state = this.db.getRequest(reply.requestId)?.state;
      if (state !== undefined && state !== "requested") {
        // The chain already moved on (this reply landed before a crash, or another relayer's did):
        // sending it again would only be skipped by the oracle.
        this.db.setReplyState(reply.requestId, "submitted", `request already ${state} on-chain`);
        continue;
      }
      if (reply.kind === "rejection") {
        if (!(await this.submitRejection(reply))) return false;
      } else {
        results.push(reply);
      }
    }
    if (results.length === 0) return true;
    return this.submitBatch(results);
  }

  private toSubmission(reply: ReplyRow): Submission {
    const m = JSON.parse(reply.message) as ResultMessage;
    const row = this.db.getRequest(m.requestId);
    // The output is only needed when the request settles in this transaction (NONE and ZK tiers).
    const settlesNow = row !== undefined && row.tier !== Tier.OPTIMISTIC;
    const output = settlesNow && fromHex(m.output).byteLength <= this.options.maxInlineOutputBytes ? m.output : "0x";
    return { requestId: m.requestId, outputHash: m.outputHash, traceRoot: m.traceRoot, payee: m.payee, signature: m.signature, output, proof: m.proof ?? "0x" };
  }

  private async submitBatch(replies: ReplyRow[]): Promise<boolean> {
    const items = replies.map((r) => this.toSubmission(r));
    try {
      const receipt = await this.chain.send("submitResults", items.length, () => this.chain.oracle.submitResults(items));
      const skipped = new Map<string, string>();
      for (const log of receipt.logs) {
        const parsed = this.chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data });
        if (parsed?.name === "ResultSkipped") {
          const selector = String(parsed.args.reason);
          const name = this.chain.oracle.interface.getError(selector)?.name ?? selector;
          skipped.set(String(parsed.args.requestId).toLowerCase(), name);
        }
      }
      const now = Date.now();
      for (const r of replies) {
        const reason = skipped.get(r.requestId.toLowerCase());
        if (reason === undefined) {
          this.db.setReplyState(r.requestId, "submitted");
          this.db.updateRequest(r.requestId, { submittedAt: now, submitTx: receipt.hash });
        } else {
          this.skipped(r.requestId, reason);
        }
      }
      this.log.info({ count: replies.length, requestIds: replies.map((r) => r.requestId), skipped: skipped.size, gasUsed: receipt.gasUsed.toString() }, "results submitted");
      return true;
    } catch (error) {
      if (isError(error, "CHAIN_REVERTED")) {
        if (replies.length > 1) {
          for (const r of replies) await this.submitBatch([r]);
          return true;
        }
        this.skipped(replies[0]!.requestId, String(error.details.error ?? error.message));
        return true;
      }
      this.log.warn({ err: error }, "chain unavailable; results stay pending");
      return false;
    }
  }

  /**
   * The oracle refused this result (the worker's stake is unbonding or too low, it was disqualified
   * for this request, ...). The request may still be open: hand its job out again so another worker
   * can serve it, a bounded number of times; after that it is refunded at its deadline.
   */
  private skipped(requestId: string, reason: string): void {
    const again = this.handOutAgain(requestId, reason, `result skipped (${reason}); job handed out again`);
    this.log.warn({ requestId, reason, republished: again }, "result skipped by the oracle");
  }

  /**
   * Marks the request's reply as done with (`skipped`, so another worker's reply can replace it),
   * excludes its signer from the next job and, a bounded number of times, hands the job out again.
   */
  private handOutAgain(requestId: string, reason: string, note: string): boolean {
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
    const times = this.republished.get(requestId) ?? 0;
    const again = row?.state === "requested" && times < MAX_REPUBLISH;
    if (again) {
      this.republished.set(requestId, times + 1);
      this.db.updateRequest(requestId, { jobPublishedAt: null, note });
    }
    return again;
  }

  /**
   * Submits a worker's signed rejection. One that proves an input type mismatch goes through
   * `rejectRequestWithProof` (refunded at once); if the oracle finds no mismatch it is submitted as a
   * plain rejection. A plain rejection is recorded and refunds only at the request's rejection quorum
   * (issue 12, finding 3): until then the request stays open and its job goes to another worker.
   */
  private async submitRejection(reply: ReplyRow): Promise<boolean> {
    const m = JSON.parse(reply.message) as RejectionMessage;
    try {
      let receipt: TransactionReceipt | undefined;
      if (m.inputHeader !== undefined && m.inputDataRoot !== undefined) {
        try {
          receipt = await this.chain.send("rejectRequestWithProof", 1, () =>
            this.chain.oracle.rejectRequestWithProof(m.requestId, m.reason, m.signature, m.inputHeader!, m.inputDataRoot!),
          );
        } catch (error) {
          if (!isError(error, "CHAIN_REVERTED")) throw error;
          this.log.warn({ requestId: m.requestId, error: String(error.details.error ?? error.message) }, "type-mismatch proof refused; submitting a plain rejection");
        }
      }
      receipt ??= await this.chain.send("rejectRequest", 1, () => this.chain.oracle.rejectRequest(m.requestId, m.reason, m.signature));
      let refunded = false;
      let recorded: { rejections: bigint; quorum: bigint } | undefined;
      for (const log of receipt.logs) {
        const parsed = this.chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data });
        if (parsed?.name === "RequestRefunded") refunded = true;
        if (parsed?.name === "RejectionRecorded") recorded = { rejections: parsed.args.rejections as bigint, quorum: parsed.args.quorum as bigint };
      }
      if (refunded) {
        this.db.setReplyState(m.requestId, "submitted");
        this.log.info({ requestId: m.requestId, reason: m.reason, code: m.code }, "rejection submitted; requester refunded");
      } else {
        const count = recorded === undefined ? "" : ` (${recorded.rejections} of ${recorded.quorum})`;
        const again = this.handOutAgain(m.requestId, `rejection recorded${count}`, `rejected by ${m.signer}${count}; job handed out again`);
        this.log.info({ requestId: m.requestId, reason: m.reason, code: m.code, ...recorded, republished: again }, "rejection recorded; request stays open until the quorum");
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

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
  }
}

