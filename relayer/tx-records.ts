/**
 * What the transaction manager (tx-manager.ts) keeps and decides: its fee policy, the `txs` table
 * and its rows, and how a node's answer to a broadcast is read.
 */
import { TransactionResponse, type Provider, type Transaction } from "ethers";
import { errorChain, OracleError } from "../protocol/index.js";

export interface FeePolicy {
  /** A transaction still pending after this long is replaced with higher fees (ms). */
  bumpAfterMs: number;
  /** Most replacements of one transaction. */
  maxBumps: number;
  /** Fee increase per replacement, in percent (nodes need at least 10 on both fee fields). */
  bumpPercent: number;
  /** Highest maxFeePerGas ever offered (wei). */
  maxFeePerGas: bigint;
  /** How often a pending nonce is checked (ms). */
  pollMs: number;
}

export type TxState = "pending" | "mined" | "lost";

export interface TxRow {
  account: string;
  nonce: number;
  label: string;
  /** JSON of the call: to, data, value, gasLimit, chainId (fees and nonce are columns). */
  request: string;
  /** JSON array of every hash this nonce was sent under, oldest first. */
  hashes: string;
  maxFeePerGas: string;
  maxPriorityFeePerGas: string;
  bumps: number;
  sentAt: number;
  state: TxState;
  minedHash: string | null;
  minedBlock: number | null;
}

export const TXS_SCHEMA = `
CREATE TABLE IF NOT EXISTS txs (
  account TEXT NOT NULL, nonce INTEGER NOT NULL, label TEXT NOT NULL, request TEXT NOT NULL, hashes TEXT NOT NULL,
  maxFeePerGas TEXT NOT NULL, maxPriorityFeePerGas TEXT NOT NULL, bumps INTEGER NOT NULL, sentAt INTEGER NOT NULL,
  state TEXT NOT NULL, minedHash TEXT, minedBlock INTEGER, PRIMARY KEY (account, nonce)
);
CREATE INDEX IF NOT EXISTS txs_state ON txs(state);
`;

export interface StoredCall {
  to: string;
  data: string;
  value: string;
  gasLimit: string;
  chainId: string;
}

export const ONE_GWEI = 1_000_000_000n;

export function ceilPercent(value: bigint, percent: number): bigint {
  const basisPoints = BigInt(Math.round(percent * 100));
  return (value * (10_000n + basisPoints) + 9_999n) / 10_000n;
}

export function errorText(error: unknown): string {
  const parts: string[] = [];
  for (const o of errorChain(error, 5) as Iterable<{ message?: unknown; shortMessage?: unknown }>) {
    if (typeof o.message === "string") parts.push(o.message);
    if (typeof o.shortMessage === "string") parts.push(o.shortMessage);
  }
  return parts.join(" | ");
}

export type BroadcastOutcome = "sent" | "known" | "nonce-used" | "underpriced" | "failed";

export function lostError(row: TxRow): OracleError {
  return new OracleError("CHAIN_UNAVAILABLE", `nonce ${row.nonce} (${row.label}) was taken by another transaction`, {
    retryable: true,
    details: { nonce: row.nonce, label: row.label, lost: true },
  });
}

export function classify(error: unknown): BroadcastOutcome {
  const text = errorText(error).toLowerCase();
  if (/already known|known transaction|alreadyknown|already imported/.test(text)) return "known";
  if (/nonce too low|nonce has already been used|nonce_expired|nonce is too low/.test(text)) return "nonce-used";
  if (/underpriced|fee too low|less than (the )?block base fee|max fee per gas less than/.test(text)) return "underpriced";
  return "failed";
}

/** A TransactionResponse for a transaction we signed (before the node necessarily knows it). */
export function responseOf(tx: Transaction, provider: Provider, from?: string): TransactionResponse {
  return new TransactionResponse(
    {
      blockNumber: null,
      blockHash: null,
      hash: tx.hash ?? "0x",
      index: 0,
      type: tx.type ?? 2,
      to: tx.to,
      from: tx.from ?? from ?? "0x0000000000000000000000000000000000000000",
      nonce: tx.nonce,
      gasLimit: tx.gasLimit,
      gasPrice: tx.maxFeePerGas ?? 0n,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
      maxFeePerGas: tx.maxFeePerGas,
      maxFeePerBlobGas: null,
      data: tx.data,
      value: tx.value,
      chainId: tx.chainId,
      signature: tx.signature ?? ({ r: "0x", s: "0x", v: 27, networkV: null, yParity: 0 } as never),
      accessList: tx.accessList,
      blobVersionedHashes: null,
      authorizationList: null,
    },
    provider,
  );
}