/**
 * Applies every default outcome whose deadline has passed, so nothing waits on a manual call:
 * results whose challenge window closed are settled (paid and called back), requests nobody served
 * by their deadline are refunded, and disputes nobody ruled on get their default ruling.
 */
import { isError, type IInferenceOracle, type Logger } from "../protocol/index.js";
import type { BlobStore } from "./blobs.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb, RequestRow } from "./db.js";

/** Reverted attempts after which a due item is left for an operator (and logged); transient RPC failures are retried without limit. */
const MAX_ATTEMPTS = 5;

export class Settler {
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly chain: OracleChain,
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
    // reason to give up on it, and used to strand settlements and refunds until a restart.
    if (!isError(error, "CHAIN_REVERTED")) return;
    for (const r of rows) {
      const n = (this.attempts.get(r.id) ?? 0) + 1;
      this.attempts.set(r.id, n);
      if (n === MAX_ATTEMPTS) this.log.error({ requestId: r.id, err: error }, `${what} keeps failing; left for an operator`);
    }
  }

  private async settleDue(now: number): Promise<void> {
    const rows = this.eligible(this.db.dueRequests("submitted", "challengeDeadline", now, this.options.maxSettleBatch));
    if (rows.length === 0) return;
    const settlements: IInferenceOracle.SettlementStruct[] = [];
    for (const r of rows) {
      settlements.push({
        requestId: r.id,
        record: { worker: r.worker!, relayer: r.relayer!, outputHash: r.outputHash!, traceRoot: r.traceRoot! },
        output: await this.outputFor(r),
      });
    }
    try {
      const receipt = await this.chain.send("settleMany", rows.length, () => this.chain.oracle.settleMany(settlements));
      this.log.info({ count: rows.length, requestIds: rows.map((r) => r.id), gasUsed: receipt.gasUsed.toString() }, "results settled");
    } catch (error) {
      this.failed(rows, error, "settlement");
      if (!isError(error, "CHAIN_REVERTED")) throw error;
    }
  }

  /** The output to deliver to the callback, when it is held and small enough; else hash only. */
  private async outputFor(row: RequestRow): Promise<string> {
    if (row.outputHash === null || !this.blobs.has(row.outputHash)) return "0x";
    const bytes = await this.blobs.get(row.outputHash);
    return bytes.byteLength <= this.options.maxInlineOutputBytes ? `0x${bytes.toString("hex")}` : "0x";
  }

  private async refundDue(now: number): Promise<void> {
    const rows = this.eligible(this.db.dueRequests("requested", "deadline", now, this.options.maxSettleBatch));
    if (rows.length === 0) return;
    try {
      await this.chain.send("refundExpired", rows.length, () => this.chain.oracle.refundExpired(rows.map((r) => r.id)));
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
        await this.chain.send("resolveDisputeByDefault", 1, () => this.chain.oracle.resolveDisputeByDefault(r.id));
        this.log.info({ requestId: r.id }, "dispute resolved by default");
      } catch (error) {
        this.failed([r], error, "default dispute ruling");
        if (!isError(error, "CHAIN_REVERTED")) throw error;
      }
    }
  }
}
