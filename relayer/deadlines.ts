/**
 * Applies every default outcome whose deadline has passed, so nothing waits on a manual call:
 * results whose challenge window closed are settled (paid and called back), requests nobody served
 * by their deadline are refunded, and disputes nobody ruled on get their default ruling.
 *
 * A result is settled by its record and the Merkle proof of its leaf in the batch root it was
 * committed in. Both are rebuilt from the submitting transaction's logs (protocol/batch.ts), so
 * nothing but the transaction hash needs keeping, and a restart loses nothing.
 */
import { isError, type IInferenceOracle, type Logger, proofFromLogs, type ResultProof } from "../protocol/index.js";
import type { BlobStore } from "./blobs.js";
import { deliveryOutput } from "./delivery.js";
import type { SenderChain } from "./chain.js";
import type { RelayerDb, RequestRow } from "./db.js";

/** Reverted attempts after which a due item is left for an operator (and logged); transient RPC failures are retried without limit. */
const MAX_ATTEMPTS = 5;

export class DeadlineEnforcer {
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly chain: SenderChain,
    private readonly db: RelayerDb,
    private readonly blobs: BlobStore,
    private readonly log: Logger,
    private readonly options: { maxSettleBatch: number; maxInlineOutputBytes: number },
  ) {}

  async tick(): Promise<void> {
    const now = await this.chain.chainTime();
    await this.settleDue(now);
    await this.refundDue(now);
    await this.resolveDue(now);
  }

  private eligible(rows: RequestRow[]): RequestRow[] {
    return rows.filter((r) => (this.attempts.get(r.id) ?? 0) < MAX_ATTEMPTS);
  }

  private failed(rows: RequestRow[], error: unknown, what: string): void {
    // Only a revert counts against an item: a flaky or unreachable node (CHAIN_UNAVAILABLE) is no
    // reason to give up on it: giving up would strand settlements and refunds until a restart.
    if (!isError(error, "CHAIN_REVERTED")) return;
    for (const r of rows) {
      const n = (this.attempts.get(r.id) ?? 0) + 1;
      this.attempts.set(r.id, n);
      if (n === MAX_ATTEMPTS) this.log.error({ requestId: r.id, err: error }, `${what} keeps failing; left for an operator`);
    }
  }

  private async settleDue(now: number): Promise<void> {
    let rows = this.eligible(this.db.dueRequests("submitted", "challengeDeadline", now, this.options.maxSettleBatch));
    if (rows.length === 0) return;
    const proofs = await this.proofsFor(rows);
    const settlements: IInferenceOracle.SettlementStruct[] = [];
    const settling: RequestRow[] = [];
    for (const r of rows) {
      const p = proofs.get(r.id);
      if (p === undefined) continue;
      let output: string;
      try {
        output = await this.outputFor(r);
      } catch (error) {
        // A failed read (a flaky node) holds back this row only, until a later tick: the rest settle now.
        this.log.debug({ requestId: r.id, err: error }, "cannot read the request's output threshold yet");
        continue;
      }
      settling.push(r);
      settlements.push({ requestId: r.id, record: p.record, output, proof: p.proof });
    }
    rows = settling;
    if (rows.length === 0) return;
    try {
      const receipt = await this.chain.send("settleMany", rows.length, () => this.chain.oracle.settleMany.populateTransaction(settlements));
      this.log.info({ count: rows.length, requestIds: rows.map((r) => r.id), gasUsed: receipt.gasUsed.toString() }, "results settled");
    } catch (error) {
      this.failed(rows, error, "settlement");
      if (!isError(error, "CHAIN_REVERTED")) throw error;
    }
  }

  /**
   * The record and batch proof of each row's result, rebuilt from its submitting transaction's logs
   * (one receipt per transaction). A row whose proof cannot be rebuilt (no transaction hash yet, or
   * logs that do not hold its result) counts as a failed attempt and is logged.
   */
  private async proofsFor(rows: RequestRow[]): Promise<Map<string, ResultProof>> {
    const byTx = new Map<string, RequestRow[]>();
    for (const r of rows) {
      if (r.submitTx === null) {
        this.unprovable(r, "no submitting transaction recorded");
        continue;
      }
      const group = byTx.get(r.submitTx) ?? [];
      group.push(r);
      byTx.set(r.submitTx, group);
    }
    const proofs = new Map<string, ResultProof>();
    for (const [hash, group] of byTx) {
      const receipt = await this.chain.provider.getTransactionReceipt(hash);
      if (receipt === null) {
        for (const r of group) this.unprovable(r, `no receipt for ${hash}`);
        continue;
      }
      for (const r of group) {
        try {
          proofs.set(r.id, proofFromLogs(receipt.logs, this.chain.oracleAddress, r.id));
        } catch (error) {
          this.unprovable(r, error instanceof Error ? error.message : String(error));
        }
      }
    }
    return proofs;
  }

  private unprovable(row: RequestRow, why: string): void {
    const n = (this.attempts.get(row.id) ?? 0) + 1;
    this.attempts.set(row.id, n);
    const level = n === MAX_ATTEMPTS ? "error" : "warn";
    this.log[level]({ requestId: row.id, submitTx: row.submitTx, why }, "cannot rebuild the result's batch proof");
  }

  /** The output to deliver: inline up to the request's maxInlineOutput, else its size proof (hash only). */
  private async outputFor(row: RequestRow): Promise<string> {
    return deliveryOutput(this.chain, this.blobs, { requestId: row.id, outputHash: row.outputHash, held: "0x", callbackGasLimit: row.callbackGasLimit, cap: this.options.maxInlineOutputBytes });
  }

  private async refundDue(now: number): Promise<void> {
    const rows = this.eligible(this.db.dueRequests("requested", "deadline", now, this.options.maxSettleBatch));
    if (rows.length === 0) return;
    try {
      await this.chain.send("refundExpired", rows.length, () => this.chain.oracle.refundExpired.populateTransaction(rows.map((r) => r.id)));
      this.log.info({ count: rows.length, requestIds: rows.map((r) => r.id) }, "expired requests refunded");
    } catch (error) {
      this.failed(rows, error, "refund");
      if (!isError(error, "CHAIN_REVERTED")) throw error;
    }
  }

  private async resolveDue(now: number): Promise<void> {
    const rows = this.eligible(this.db.dueRequests("challenged", "disputeDeadline", now, this.options.maxSettleBatch));
    for (const r of rows) {
      try {
        await this.chain.send("resolveDisputeByDefault", 1, () => this.chain.oracle.resolveDisputeByDefault.populateTransaction(r.id));
        this.log.info({ requestId: r.id }, "dispute resolved by default");
      } catch (error) {
        this.failed([r], error, "default dispute ruling");
        if (!isError(error, "CHAIN_REVERTED")) throw error;
      }
    }
  }
}
