/**
 * The relayer database's tables and row types (node:sqlite, in dataDir/relayer.db), and the quiet
 * loading of node:sqlite. Only RelayerDb (db.ts) and its table classes open or query it.
 */
import { createRequire } from "node:module";

// node:sqlite prints an ExperimentalWarning on load under Node 22; load it quietly, once.
const require = createRequire(import.meta.url);
export function loadSqlite(): typeof import("node:sqlite") {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (text.includes("SQLite")) return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return require("node:sqlite") as typeof import("node:sqlite");
  } finally {
    process.emitWarning = emit;
  }
}

/** "orphaned": its request event was in blocks a reorg replaced and the chain no longer has it. */
export type RequestState = "requested" | "submitted" | "challenged" | "fulfilled" | "refunded" | "orphaned";

export interface RequestRow {
  id: string;
  requester: string;
  modelHash: string;
  inputHash: string;
  inputURI: string;
  tier: number;
  fee: string;
  deadline: number;
  callbackGasLimit: number;
  state: RequestState;
  block: number;
  observedAt: number;
  jobPublishedAt: number | null;
  replyAt: number | null;
  submittedAt: number | null;
  submitTx: string | null;
  worker: string | null;
  relayer: string | null;
  outputHash: string | null;
  traceRoot: string | null;
  challengeDeadline: number | null;
  disputeDeadline: number | null;
  finalAt: number | null;
  finalTx: string | null;
  callbackOk: number | null;
  refundReason: number | null;
  note: string | null;
  /** JSON array of signers whose result for this request the oracle refused. */
  excluded: string | null;
  /** Block of the last event handled for this request (reorg reconciliation). */
  lastBlock: number | null;
}

export type ReplyState = "pending" | "submitted" | "skipped";

export interface ReplyRow {
  requestId: string;
  kind: "result" | "rejection";
  /** A result: JSON of its batch item plus `signer` and `batch` (the batch's signature); a rejection: the message. */
  message: string;
  state: ReplyState;
  reason: string | null;
  receivedAt: number;
  /** A result: the signature of the worker-signed batch it came in (BatchRow.id); a rejection: null. */
  batch?: string | null;
}

export type BatchState = "pending" | "submitted" | "failed" | "dropped";

/** A worker-signed ResultBatch as received (submitted whole: the signature covers every item). */
export interface BatchRow {
  /** The batch's signature (unique per signed root and payee). */
  id: string;
  /** The ResultBatchMessage JSON. */
  message: string;
  state: BatchState;
  reason: string | null;
  receivedAt: number;
  submitTx: string | null;
}

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY, requester TEXT NOT NULL, modelHash TEXT NOT NULL, inputHash TEXT NOT NULL,
  inputURI TEXT NOT NULL, tier INTEGER NOT NULL, fee TEXT NOT NULL, deadline INTEGER NOT NULL,
  callbackGasLimit INTEGER NOT NULL, state TEXT NOT NULL, block INTEGER NOT NULL, observedAt INTEGER NOT NULL,
  jobPublishedAt INTEGER, replyAt INTEGER, submittedAt INTEGER, submitTx TEXT, worker TEXT, relayer TEXT,
  outputHash TEXT, traceRoot TEXT, challengeDeadline INTEGER, disputeDeadline INTEGER, finalAt INTEGER,
  finalTx TEXT, callbackOk INTEGER, refundReason INTEGER, note TEXT, excluded TEXT
);
CREATE INDEX IF NOT EXISTS requests_state ON requests(state);
CREATE INDEX IF NOT EXISTS requests_input ON requests(inputHash);
CREATE TABLE IF NOT EXISTS replies (
  requestId TEXT PRIMARY KEY, kind TEXT NOT NULL, message TEXT NOT NULL, state TEXT NOT NULL,
  reason TEXT, receivedAt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_state ON replies(state);
CREATE TABLE IF NOT EXISTS batches (
  id TEXT PRIMARY KEY, message TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, receivedAt INTEGER NOT NULL, submitTx TEXT
);
CREATE INDEX IF NOT EXISTS batches_state ON batches(state);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, size INTEGER NOT NULL, createdAt INTEGER NOT NULL, expiresAt INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS workers (
  operator TEXT PRIMARY KEY, signer TEXT NOT NULL, registeredBlock INTEGER NOT NULL, slashedWei TEXT NOT NULL, slashes INTEGER NOT NULL
);
`;

