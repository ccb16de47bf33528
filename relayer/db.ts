/**
 * The relayer's embedded database (node:sqlite, in dataDir/relayer.db): the event cursor, what it
 * knows of every request, the signed results and rejections it holds, and the blob index. It is
 * what lets a restarted relayer neither miss nor repeat work.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync as DatabaseSyncType } from "node:sqlite";
import { createRequire } from "node:module";
import { FeatureLedger } from "./db-features.js";

// node:sqlite prints an ExperimentalWarning on load under Node 22; load it quietly, once.
const require = createRequire(import.meta.url);
function loadSqlite(): typeof import("node:sqlite") {
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

const SCHEMA = `
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
`;

export class RelayerDb {
  readonly db: DatabaseSyncType;
  /** Fee tokens and output deliveries of issue 18's features (relayer/db-features.ts), for the dashboard. */
  readonly features: FeatureLedger;
  private closed = false;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    const { DatabaseSync } = loadSqlite();
    this.db = new DatabaseSync(join(dataDir, "relayer.db"));
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    this.db.exec(SCHEMA);
    // Columns added after the first release: databases created before get them here.
    const columns = new Set((this.db.prepare("PRAGMA table_info(requests)").all() as { name: string }[]).map((c) => c.name));
    if (!columns.has("lastBlock")) this.db.exec("ALTER TABLE requests ADD COLUMN lastBlock INTEGER");
    const replyColumns = new Set((this.db.prepare("PRAGMA table_info(replies)").all() as { name: string }[]).map((c) => c.name));
    if (!replyColumns.has("batch")) this.db.exec("ALTER TABLE replies ADD COLUMN batch TEXT");
    this.features = new FeatureLedger(this.db);
  }

  /** Hash of a handled block, kept for reorg detection. */
  setBlockHash(number: number, hash: string): void {
    this.db.prepare("INSERT INTO blocks(number, hash) VALUES(?, ?) ON CONFLICT(number) DO UPDATE SET hash = excluded.hash").run(number, hash);
  }

  /** Stored block hashes at or below `upTo`, highest first. */
  recentBlocks(upTo: number, limit: number): { number: number; hash: string }[] {
    return this.db.prepare("SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC LIMIT ?").all(upTo, limit) as unknown as { number: number; hash: string }[];
  }

  /** Forgets stored block hashes above `number` (a reorg) or below `below` (pruning). */
  forgetBlocks(options: { above?: number; below?: number }): void {
    if (options.above !== undefined) this.db.prepare("DELETE FROM blocks WHERE number > ?").run(options.above);
    if (options.below !== undefined) this.db.prepare("DELETE FROM blocks WHERE number < ?").run(options.below);
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** Runs `fn` in one transaction: a crash leaves all of it or none of it. */
  transaction<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.db.exec("COMMIT");
      return out;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Inserts a newly observed request; returns false if it was already known (a re-scan). */
  insertRequest(row: Omit<RequestRow, "jobPublishedAt" | "replyAt" | "submittedAt" | "submitTx" | "worker" | "relayer" | "outputHash" | "traceRoot" | "challengeDeadline" | "disputeDeadline" | "finalAt" | "finalTx" | "callbackOk" | "refundReason" | "note" | "excluded" | "lastBlock">): boolean {
    const res = this.db
      .prepare(
        `INSERT OR IGNORE INTO requests(id, requester, modelHash, inputHash, inputURI, tier, fee, deadline, callbackGasLimit, state, block, observedAt, lastBlock)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(row.id, row.requester, row.modelHash, row.inputHash, row.inputURI, row.tier, row.fee, row.deadline, row.callbackGasLimit, row.state, row.block, row.observedAt, row.block);
    return Number(res.changes) > 0;
  }

  updateRequest(id: string, fields: Partial<RequestRow>): void {
    const keys = Object.keys(fields) as (keyof RequestRow)[];
    if (keys.length === 0) return;
    const sql = `UPDATE requests SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`;
    this.db.prepare(sql).run(...keys.map((k) => (fields[k] ?? null) as string | number | null), id);
  }

  getRequest(id: string): RequestRow | undefined {
    return this.db.prepare("SELECT * FROM requests WHERE id = ?").get(id) as RequestRow | undefined;
  }

  listRequests(options: { state?: RequestState; limit?: number } = {}): RequestRow[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    if (options.state !== undefined) {
      return this.db.prepare("SELECT * FROM requests WHERE state = ? ORDER BY block DESC, observedAt DESC LIMIT ?").all(options.state, limit) as unknown as RequestRow[];
    }
    return this.db.prepare("SELECT * FROM requests ORDER BY block DESC, observedAt DESC LIMIT ?").all(limit) as unknown as RequestRow[];
  }

  /** Requests whose current state's deadline is at or before `now` (chain time, seconds). */
  dueRequests(state: RequestState, column: "deadline" | "challengeDeadline" | "disputeDeadline", now: number, limit: number): RequestRow[] {
    return this.db
      .prepare(`SELECT * FROM requests WHERE state = ? AND ${column} IS NOT NULL AND ${column} <= ? ORDER BY ${column} LIMIT ?`)
      .all(state, now, limit) as unknown as RequestRow[];
  }

  countByState(): Record<string, number> {
    const rows = this.db.prepare("SELECT state, COUNT(*) AS n FROM requests GROUP BY state").all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /**
   * Stores a worker reply unless a live one is already held for the request (a reply the oracle
   * skipped can be superseded by another worker's); returns whether it was stored.
   */
  insertReply(row: ReplyRow): boolean {
    const res = this.db
      .prepare(
        `INSERT INTO replies(requestId, kind, message, state, reason, receivedAt, batch) VALUES(?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(requestId) DO UPDATE SET kind = excluded.kind, message = excluded.message, state = excluded.state,
           reason = excluded.reason, receivedAt = excluded.receivedAt, batch = excluded.batch
         WHERE replies.state = 'skipped'`,
      )
      .run(row.requestId, row.kind, row.message, row.state, row.reason, row.receivedAt, row.batch ?? null);
    return Number(res.changes) > 0;
  }

  /** Stores a worker-signed batch once (a redelivered message is a no-op); returns whether it was new. */
  insertBatch(row: Omit<BatchRow, "submitTx">): boolean {
    const res = this.db
      .prepare("INSERT INTO batches(id, message, state, reason, receivedAt) VALUES(?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING")
      .run(row.id, row.message, row.state, row.reason, row.receivedAt);
    return Number(res.changes) > 0;
  }

  getBatch(id: string): BatchRow | undefined {
    return this.db.prepare("SELECT * FROM batches WHERE id = ?").get(id) as BatchRow | undefined;
  }

  pendingBatches(limit: number): BatchRow[] {
    return this.db.prepare("SELECT * FROM batches WHERE state = 'pending' ORDER BY receivedAt LIMIT ?").all(limit) as unknown as BatchRow[];
  }

  setBatchState(id: string, state: BatchState, reason: string | null = null, submitTx: string | null = null): void {
    this.db.prepare("UPDATE batches SET state = ?, reason = ?, submitTx = COALESCE(?, submitTx) WHERE id = ?").run(state, reason, submitTx, id);
  }

  /** The replies held from batch `id` (its items this relayer took; others may be held from other batches). */
  batchReplies(id: string): ReplyRow[] {
    return this.db.prepare("SELECT * FROM replies WHERE batch = ?").all(id) as unknown as ReplyRow[];
  }

  /** Pending rejections (results go through their batch: pendingBatches). */
  pendingRejections(limit: number): ReplyRow[] {
    return this.db
      .prepare("SELECT * FROM replies WHERE state = 'pending' AND kind = 'rejection' ORDER BY receivedAt LIMIT ?")
      .all(limit) as unknown as ReplyRow[];
  }

  getReply(requestId: string): ReplyRow | undefined {
    return this.db.prepare("SELECT * FROM replies WHERE requestId = ?").get(requestId) as ReplyRow | undefined;
  }

  pendingReplies(limit: number): ReplyRow[] {
    return this.db.prepare("SELECT * FROM replies WHERE state = 'pending' ORDER BY receivedAt LIMIT ?").all(limit) as unknown as ReplyRow[];
  }

  setReplyState(requestId: string, state: ReplyState, reason: string | null = null): void {
    this.db.prepare("UPDATE replies SET state = ?, reason = ? WHERE requestId = ?").run(state, reason, requestId);
  }

  /** Forgets a reply so another worker's can be taken (after the request was reopened). */
  deleteReply(requestId: string): void {
    this.db.prepare("DELETE FROM replies WHERE requestId = ?").run(requestId);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
