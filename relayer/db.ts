/**
 * The relayer's embedded database (node:sqlite, in dataDir/relayer.db): the event cursor, what it
 * knows of every request, the signed results and rejections it holds, and through its table
 * classes the blob index (db-blobs.ts), the transaction manager's nonces (db-txs.ts), the workers
 * (db-workers.ts) and the dashboard's queries (db-dashboard.ts). It is what lets a restarted
 * relayer neither miss nor repeat work; no other file holds the sqlite handle.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { BlobIndex } from "./db-blobs.js";
import { DashboardQueries } from "./db-dashboard.js";
import { FeatureLedger } from "./db-features.js";
import { SCHEMA, loadSqlite, type BatchRow, type BatchState, type ReplyRow, type ReplyState, type RequestRow, type RequestState } from "./db-schema.js";
import { TxTable } from "./db-txs.js";
import { WorkerTable } from "./db-workers.js";

export type { BatchRow, BatchState, ReplyRow, ReplyState, RequestRow, RequestState } from "./db-schema.js";

export class RelayerDb {
  /** The sqlite handle: private, every query is a method here or of a table class below. */
  private readonly sql: DatabaseSync;
  private closed = false;
  /** The blob store's index. */
  readonly blobs: BlobIndex;
  /** The transaction manager's nonces. */
  readonly txs: TxTable;
  /** Registered workers, from the oracle's events. */
  readonly workers: WorkerTable;
  /** The dashboard's read-only queries. */
  readonly dashboard: DashboardQueries;
  /** Fee tokens and output deliveries of the dApp features (db-features.ts), for the dashboard. */
  readonly features: FeatureLedger;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    const { DatabaseSync } = loadSqlite();
    this.sql = new DatabaseSync(join(dataDir, "relayer.db"));
    this.sql.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    this.sql.exec(SCHEMA);
    // Columns added after the first release: databases created before get them here.
    const columns = new Set((this.sql.prepare("PRAGMA table_info(requests)").all() as { name: string }[]).map((c) => c.name));
    if (!columns.has("lastBlock")) this.sql.exec("ALTER TABLE requests ADD COLUMN lastBlock INTEGER");
    const replyColumns = new Set((this.sql.prepare("PRAGMA table_info(replies)").all() as { name: string }[]).map((c) => c.name));
    if (!replyColumns.has("batch")) this.sql.exec("ALTER TABLE replies ADD COLUMN batch TEXT");
    this.blobs = new BlobIndex(this.sql);
    this.txs = new TxTable(this.sql);
    this.workers = new WorkerTable(this.sql);
    this.dashboard = new DashboardQueries(this.sql);
    this.features = new FeatureLedger(this.sql);
  }

  /**
   * Saves the watcher's cursor at `to` with the hashes of the blocks it handled, forgetting hashes
   * below `forgetBelow`, in one transaction.
   */
  advanceCursor(key: string, to: number, hashes: ReadonlyMap<number, string>, forgetBelow: number): void {
    this.transaction(() => {
      for (const [number, hash] of hashes) this.setBlockHash(number, hash);
      this.setMeta(key, String(to));
      this.forgetBlocks({ below: forgetBelow });
    });
  }

  /** Rewinds the watcher's cursor to `fork` (a reorg), forgetting the hashes of the blocks above it. */
  rewindCursor(key: string, fork: number): void {
    this.transaction(() => {
      this.forgetBlocks({ above: fork });
      this.setMeta(key, String(fork));
    });
  }

  /** Hash of a handled block, kept for reorg detection. */
  private setBlockHash(number: number, hash: string): void {
    this.sql.prepare("INSERT INTO blocks(number, hash) VALUES(?, ?) ON CONFLICT(number) DO UPDATE SET hash = excluded.hash").run(number, hash);
  }

  /** Stored block hashes at or below `upTo`, highest first. */
  recentBlocks(upTo: number, limit: number): { number: number; hash: string }[] {
    return this.sql.prepare("SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC LIMIT ?").all(upTo, limit) as unknown as { number: number; hash: string }[];
  }

  /** Forgets stored block hashes above `number` (a reorg) or below `below` (pruning). */
  private forgetBlocks(options: { above?: number; below?: number }): void {
    if (options.above !== undefined) this.sql.prepare("DELETE FROM blocks WHERE number > ?").run(options.above);
    if (options.below !== undefined) this.sql.prepare("DELETE FROM blocks WHERE number < ?").run(options.below);
  }

  getMeta(key: string): string | undefined {
    const row = this.sql.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.sql.prepare("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** Runs `fn` in one transaction: a crash leaves all of it or none of it. */
  transaction<T>(fn: () => T): T {
    this.sql.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.sql.exec("COMMIT");
      return out;
    } catch (error) {
      this.sql.exec("ROLLBACK");
      throw error;
    }
  }

  /** Inserts a newly observed request; returns false if it was already known (a re-scan). */
  insertRequest(row: Omit<RequestRow, "jobPublishedAt" | "replyAt" | "submittedAt" | "submitTx" | "worker" | "relayer" | "outputHash" | "traceRoot" | "challengeDeadline" | "disputeDeadline" | "finalAt" | "finalTx" | "callbackOk" | "refundReason" | "note" | "excluded" | "lastBlock">): boolean {
    const res = this.sql
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
    this.sql.prepare(sql).run(...keys.map((k) => (fields[k] ?? null) as string | number | null), id);
  }

  getRequest(id: string): RequestRow | undefined {
    return this.sql.prepare("SELECT * FROM requests WHERE id = ?").get(id) as RequestRow | undefined;
  }

  listRequests(options: { state?: RequestState; limit?: number } = {}): RequestRow[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    if (options.state !== undefined) {
      return this.sql.prepare("SELECT * FROM requests WHERE state = ? ORDER BY block DESC, observedAt DESC LIMIT ?").all(options.state, limit) as unknown as RequestRow[];
    }
    return this.sql.prepare("SELECT * FROM requests ORDER BY block DESC, observedAt DESC LIMIT ?").all(limit) as unknown as RequestRow[];
  }

  /** Requests whose current state's deadline is at or before `now` (chain time, seconds). */
  dueRequests(state: RequestState, column: "deadline" | "challengeDeadline" | "disputeDeadline", now: number, limit: number): RequestRow[] {
    return this.sql
      .prepare(`SELECT * FROM requests WHERE state = ? AND ${column} IS NOT NULL AND ${column} <= ? ORDER BY ${column} LIMIT ?`)
      .all(state, now, limit) as unknown as RequestRow[];
  }

  /** Requests whose events after `fork` a reorg may have undone (or whose submitted reply may no longer be on-chain). */
  requestsTouchedAfter(fork: number): RequestRow[] {
    return this.sql
      .prepare(
        `SELECT * FROM requests WHERE block > ? OR lastBlock > ?
           OR (state = 'requested' AND id IN (SELECT requestId FROM replies WHERE state = 'submitted'))`,
      )
      .all(fork, fork) as unknown as RequestRow[];
  }

  /** A request reopened on-chain (its worker was proven wrong): open again, without result or reply, job not yet out. */
  reopenRequest(id: string, fields: { deadline: number; note: string }): void {
    this.transaction(() => {
      this.updateRequest(id, {
        ...fields,
        state: "requested",
        worker: null,
        relayer: null,
        outputHash: null,
        traceRoot: null,
        challengeDeadline: null,
        disputeDeadline: null,
        jobPublishedAt: null,
      });
      this.deleteReply(id);
    });
  }

  /** Open requests without a job out, oldest first (the dispatcher publishes them). */
  unpublishedRequests(): RequestRow[] {
    return this.sql.prepare("SELECT * FROM requests WHERE state = 'requested' AND jobPublishedAt IS NULL ORDER BY block").all() as unknown as RequestRow[];
  }

  /** Marks a request's job as to be published again (the dispatcher's `republish`). */
  markUnpublished(id: string, note: string): void {
    this.updateRequest(id, { jobPublishedAt: null, note });
  }

  /** Marks every open request's job as to be published again (the queue holding them is gone). */
  markAllUnpublished(): void {
    this.sql.prepare("UPDATE requests SET jobPublishedAt = NULL WHERE state = 'requested'").run();
  }

  /** Whether an on-chain request (as the relayer has seen it) names `hash` as its input. */
  isRequestInput(hash: string): boolean {
    // Event hashes are stored as ethers writes them (lowercase); the index answers at once.
    return this.sql.prepare("SELECT 1 FROM requests WHERE inputHash = ? LIMIT 1").get(hash.toLowerCase()) !== undefined;
  }

  countByState(): Record<string, number> {
    const rows = this.sql.prepare("SELECT state, COUNT(*) AS n FROM requests GROUP BY state").all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /**
   * Stores a worker reply unless a live one is already held for the request (a reply the oracle
   * skipped can be superseded by another worker's); returns whether it was stored.
   */
  insertReply(row: ReplyRow): boolean {
    const res = this.sql
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
    const res = this.sql
      .prepare("INSERT INTO batches(id, message, state, reason, receivedAt) VALUES(?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING")
      .run(row.id, row.message, row.state, row.reason, row.receivedAt);
    return Number(res.changes) > 0;
  }

  getBatch(id: string): BatchRow | undefined {
    return this.sql.prepare("SELECT * FROM batches WHERE id = ?").get(id) as BatchRow | undefined;
  }

  pendingBatches(limit: number): BatchRow[] {
    return this.sql.prepare("SELECT * FROM batches WHERE state = 'pending' ORDER BY receivedAt LIMIT ?").all(limit) as unknown as BatchRow[];
  }

  setBatchState(id: string, state: BatchState, reason: string | null = null, submitTx: string | null = null): void {
    this.sql.prepare("UPDATE batches SET state = ?, reason = ?, submitTx = COALESCE(?, submitTx) WHERE id = ?").run(state, reason, submitTx, id);
  }

  /** The replies held from batch `id` (its items this relayer took; others may be held from other batches). */
  batchReplies(id: string): ReplyRow[] {
    return this.sql.prepare("SELECT * FROM replies WHERE batch = ?").all(id) as unknown as ReplyRow[];
  }

  /** Pending rejections (results go through their batch: pendingBatches). */
  pendingRejections(limit: number): ReplyRow[] {
    return this.sql
      .prepare("SELECT * FROM replies WHERE state = 'pending' AND kind = 'rejection' ORDER BY receivedAt LIMIT ?")
      .all(limit) as unknown as ReplyRow[];
  }

  getReply(requestId: string): ReplyRow | undefined {
    return this.sql.prepare("SELECT * FROM replies WHERE requestId = ?").get(requestId) as ReplyRow | undefined;
  }

  pendingReplies(limit: number): ReplyRow[] {
    return this.sql.prepare("SELECT * FROM replies WHERE state = 'pending' ORDER BY receivedAt LIMIT ?").all(limit) as unknown as ReplyRow[];
  }

  setReplyState(requestId: string, state: ReplyState, reason: string | null = null): void {
    this.sql.prepare("UPDATE replies SET state = ?, reason = ? WHERE requestId = ?").run(state, reason, requestId);
  }

  /** Forgets a reply so another worker's can be taken (after the request was reopened). */
  deleteReply(requestId: string): void {
    this.sql.prepare("DELETE FROM replies WHERE requestId = ?").run(requestId);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sql.close();
  }
}
