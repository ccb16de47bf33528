/**
 * What the relayer indexes of the dApp features (docs/FEATURES.md) for the dashboard (relayer/dashboard-features.ts), beside
 * the request rows of relayer/db.ts: the fee token of every request paid in an ERC-20 token (its
 * TokenFeeEscrowed event, and a TokenRefundClaimed), and how every fulfilled request's output reached the dApp
 * (RequestFulfilled.outputDelivered: inline, or as its hash with the bytes in a blob store). ChainActivity
 * (relayer/dashboard-activity.ts) records them from the EventWatcher's domain events;
 * a re-scan records the same rows again (keyed by request id).
 */
import type { DatabaseSync } from "node:sqlite";
import type { RequestState } from "./db.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS token_fees (
  requestId TEXT PRIMARY KEY, token TEXT NOT NULL, amount TEXT NOT NULL, ownerFee TEXT NOT NULL,
  refunded TEXT, block INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS token_fees_token ON token_fees(token);
CREATE TABLE IF NOT EXISTS deliveries (
  requestId TEXT PRIMARY KEY, outputHash TEXT NOT NULL, inline INTEGER NOT NULL, callbackOk INTEGER NOT NULL,
  block INTEGER NOT NULL, tx TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_inline ON deliveries(inline, block);
`;

/** One fee token: its requests and where their tokens are (amounts in the token's smallest unit). */
export interface TokenSummary {
  token: string;
  requests: number;
  byState: Record<string, number>;
  /** Held by the oracle for requests not yet final (requested, submitted, challenged). */
  escrowed: string;
  /** Of fulfilled requests: paid out (owner fee, worker and relayer shares). */
  paid: string;
  /** Of refunded requests (claimed or not yet claimed). */
  refunded: string;
  /** Refunds the requesters claimed (TokenRefundClaimed). */
  refundsClaimed: string;
  ownerFees: string;
}

export interface LargeOutputRow {
  requestId: string;
  outputHash: string;
  callbackOk: number;
  block: number;
  tx: string;
  modelHash: string | null;
  tier: number | null;
  state: RequestState | null;
  /** Size of the output's blob in this relayer's store; null when the store does not hold it. */
  size: number | null;
}

export interface RequestBrief {
  id: string;
  state: RequestState;
  tier: number;
  worker: string | null;
  outputHash: string | null;
}

const OPEN: readonly string[] = ["requested", "submitted", "challenged"];

export class FeatureLedger {
  constructor(private readonly db: DatabaseSync) {
    db.exec(SCHEMA);
  }

  /** A request paid in `token` (TokenFeeEscrowed). */
  recordTokenFee(row: { requestId: string; token: string; amount: bigint | string; ownerFee: bigint | string; block: number }): void {
    this.db
      .prepare(
        `INSERT INTO token_fees(requestId, token, amount, ownerFee, block) VALUES(?, ?, ?, ?, ?)
         ON CONFLICT(requestId) DO UPDATE SET token = excluded.token, amount = excluded.amount, ownerFee = excluded.ownerFee, block = excluded.block`,
      )
      .run(row.requestId.toLowerCase(), row.token.toLowerCase(), String(row.amount), String(row.ownerFee), row.block);
  }

  /** The requester claimed its token refund (TokenRefundClaimed). */
  recordTokenRefund(requestId: string, amount: bigint | string): void {
    this.db.prepare("UPDATE token_fees SET refunded = ? WHERE requestId = ?").run(String(amount), requestId.toLowerCase());
  }

  /** How a fulfilled request's output reached the dApp (RequestFulfilled). */
  recordDelivery(row: { requestId: string; outputHash: string; inline: boolean; callbackOk: boolean; block: number; tx: string }): void {
    this.db
      .prepare(
        `INSERT INTO deliveries(requestId, outputHash, inline, callbackOk, block, tx) VALUES(?, ?, ?, ?, ?, ?)
         ON CONFLICT(requestId) DO UPDATE SET outputHash = excluded.outputHash, inline = excluded.inline,
           callbackOk = excluded.callbackOk, block = excluded.block, tx = excluded.tx`,
      )
      .run(row.requestId.toLowerCase(), row.outputHash.toLowerCase(), row.inline ? 1 : 0, row.callbackOk ? 1 : 0, row.block, row.tx);
  }

  /** Every fee token seen, with its requests by state and the sums of their token amounts. */
  tokenSummaries(): TokenSummary[] {
    const rows = this.db
      .prepare("SELECT t.token, t.amount, t.ownerFee, t.refunded, r.state FROM token_fees t LEFT JOIN requests r ON r.id = t.requestId ORDER BY t.block")
      .all() as { token: string; amount: string; ownerFee: string; refunded: string | null; state: string | null }[];
    const out = new Map<string, { requests: number; byState: Record<string, number>; escrowed: bigint; paid: bigint; refunded: bigint; refundsClaimed: bigint; ownerFees: bigint }>();
    for (const r of rows) {
      const t = out.get(r.token) ?? { requests: 0, byState: {}, escrowed: 0n, paid: 0n, refunded: 0n, refundsClaimed: 0n, ownerFees: 0n };
      const state = r.state ?? "unknown";
      const amount = BigInt(r.amount);
      t.requests++;
      t.byState[state] = (t.byState[state] ?? 0) + 1;
      t.ownerFees += BigInt(r.ownerFee);
      if (OPEN.includes(state)) t.escrowed += amount;
      else if (state === "fulfilled") t.paid += amount;
      else if (state === "refunded") t.refunded += amount;
      if (r.refunded !== null) t.refundsClaimed += BigInt(r.refunded);
      out.set(r.token, t);
    }
    return [...out.entries()].map(([token, t]) => ({
      token,
      requests: t.requests,
      byState: t.byState,
      escrowed: t.escrowed.toString(),
      paid: t.paid.toString(),
      refunded: t.refunded.toString(),
      refundsClaimed: t.refundsClaimed.toString(),
      ownerFees: t.ownerFees.toString(),
    }));
  }

  /** The newest outputs delivered as their hash only (not inline), with their request and blob. */
  largeOutputs(limit = 50): LargeOutputRow[] {
    return this.db
      .prepare(
        `SELECT d.requestId, d.outputHash, d.callbackOk, d.block, d.tx, r.modelHash, r.tier, r.state, b.size
           FROM deliveries d LEFT JOIN requests r ON r.id = d.requestId LEFT JOIN blobs b ON b.hash = d.outputHash
          WHERE d.inline = 0 ORDER BY d.block DESC LIMIT ?`,
      )
      .all(Math.min(Math.max(limit, 1), 500)) as unknown as LargeOutputRow[];
  }

  /** Counts of delivered outputs: inline and as hash only. */
  deliveryCounts(): { inline: number; hashOnly: number } {
    const r = this.db.prepare("SELECT SUM(inline = 1) AS inline, SUM(inline = 0) AS hashOnly FROM deliveries").get() as { inline: number | null; hashOnly: number | null };
    return { inline: Number(r.inline ?? 0), hashOnly: Number(r.hashOnly ?? 0) };
  }

  /** What the relayer knows of the given requests (those it has not seen are absent). */
  requestBriefs(ids: readonly string[]): Map<string, RequestBrief> {
    const out = new Map<string, RequestBrief>();
    const lower = [...new Set(ids.map((id) => id.toLowerCase()))];
    for (let i = 0; i < lower.length; i += 200) {
      const chunk = lower.slice(i, i + 200);
      const rows = this.db
        .prepare(`SELECT id, state, tier, worker, outputHash FROM requests WHERE id IN (${chunk.map(() => "?").join(", ")})`)
        .all(...chunk) as unknown as RequestBrief[];
      for (const r of rows) out.set(r.id.toLowerCase(), r);
    }
    return out;
  }
}
