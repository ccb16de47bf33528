/**
 * Follows the oracle's events with a confirmation depth and a persisted cursor. New requests become
 * jobs on the queue; every other event moves the request's row through its states. The cursor is
 * saved only after a block range is fully handled, and a job is (re)published whenever its row has
 * no publish time, so a crash at any point neither loses nor repeats work (duplicates are harmless:
 * jobs carry the request id as message id, and the contract accepts one result per request).
 *
 * Reorgs: the hash of the last block of every handled range (and of every block an event came
 * from) is kept for the last `reorgWindow` blocks. Each poll compares the stored hash at the cursor
 * with the chain's; on a mismatch it walks back to the highest stored block still on the chain (the
 * fork point), rewinds the cursor there and re-scans. Requests touched after the fork are first
 * reconciled with their state on-chain, so the re-scan is idempotent: a request whose event is gone
 * becomes "orphaned" (no job, no refund); one whose event moved keeps its job (not published twice);
 * a result whose transaction was undone is sent again by the nonce manager (which follows the
 * transaction again) or, when that transaction is not ours to resend, handed back to the submitter;
 * a result that still stands on-chain is never sent again.
 */
import type { Log } from "ethers";
import { OracleError, QUEUES, Tier, bytesOf, type Job, type Logger } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import type { OracleChain } from "./chain.js";
import { decodeBatchLog } from "../protocol/batch-wire.js";
import type { RelayerDb, RequestRow, RequestState } from "./db.js";

const CURSOR_KEY = "cursor";
/** The oracle's RequestStatus enum, as the watcher maps it to its own states. */
/** A request row's fields from its InferenceRequested event (first seen, or seen again in another history). */
function requestedFields(a: import("ethers").Result, log: Log) {
  return {
    requester: String(a.requester),
    modelHash: String(a.modelHash),
    inputHash: String(a.inputHash),
    inputURI: String(a.inputURI),
    tier: Number(a.tier),
    fee: String(a.fee),
    deadline: Number(a.deadline),
    callbackGasLimit: Number(a.callbackGasLimit),
    state: "requested" as const,
    block: log.blockNumber,
  };
}

const STATUS: Record<number, RequestState> = { 0: "orphaned", 1: "requested", 2: "submitted", 3: "challenged", 4: "fulfilled", 5: "refunded" };

export class EventWatcher {
  /** Inline inputs seen in events this run, until their job is published. */
  private readonly pendingInline = new Map<string, string>();
  /** Jobs published per request in this run, so a job handed out again gets a fresh message id. */
  private readonly published = new Map<string, number>();
  /** This relayer's address, named as payee in every job (read once). */
  private payee: string | undefined;

  constructor(
    private readonly chain: OracleChain,
    private readonly db: RelayerDb,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    private readonly options: { confirmations: number; logBlockRange: number; startBlock: number; reorgWindow?: number },
  ) {}

  /** Reorgs detected (for tests, logs and metrics). */
  readonly reorgs: { at: number; forkBlock: number; depth: number; reconciled: number }[] = [];
  /** Whether this relayer publishes jobs (false for a relayer that follows another one: leader election). */
  publishing = true;

  cursor(): number {
    const saved = this.db.getMeta(CURSOR_KEY);
    return saved === undefined ? this.options.startBlock - 1 : Number(saved);
  }

  /** Handles every confirmed block not yet handled. Returns the new cursor. */
  async poll(): Promise<number> {
    const head = await this.chain.provider.getBlockNumber();
    await this.checkReorg();
    const safe = head - this.options.confirmations;
    let from = this.cursor() + 1;
    const window = this.options.reorgWindow ?? 128;
    while (from <= safe) {
      const to = Math.min(safe, from + this.options.logBlockRange - 1);
      const logs = await this.chain.provider.getLogs({ address: this.chain.oracleAddress, fromBlock: from, toBlock: to });
      const last = await this.chain.provider.getBlock(to);
      if (last === null || last.hash === null) throw new OracleError("CHAIN_UNAVAILABLE", `the node returned no block ${to}`, { retryable: true });
      if (logs.some((l) => l.blockNumber === to && l.blockHash !== last.hash)) {
        throw new OracleError("CHAIN_UNAVAILABLE", `block ${to} changed while it was read (reorg); reading again`, { retryable: true });
      }
      logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
      for (const log of logs) await this.handle(log);
      this.db.transaction(() => {
        for (const log of logs) if (log.blockNumber > to - window) this.db.setBlockHash(log.blockNumber, log.blockHash);
        this.db.setBlockHash(to, last.hash!);
        this.db.setMeta(CURSOR_KEY, String(to));
        this.db.forgetBlocks({ below: to - window });
      });
      from = to + 1;
    }
    if (this.publishing) await this.publishUnpublished();
    return from - 1;
  }

  /**
   * Compares the stored hashes of handled blocks with the chain's; on a mismatch rewinds to the
   * highest stored block still on the chain and reconciles what happened after it.
   */
  private async checkReorg(): Promise<void> {
    const cursor = this.cursor();
    const stored = this.db.recentBlocks(cursor, this.options.reorgWindow ?? 128);
    if (stored.length === 0) return;
    let fork: number | undefined;
    let mismatched = false;
    for (const b of stored) {
      const block = await this.chain.provider.getBlock(b.number);
      if (block !== null && block.hash === b.hash) {
        fork = b.number;
        break;
      }
      mismatched = true;
    }
    if (!mismatched) return;
    if (fork === undefined) {
      fork = stored[stored.length - 1]!.number - 1;
      this.log.error({ deepest: fork + 1, window: this.options.reorgWindow ?? 128 }, "reorg deeper than the stored window; re-scanning from its bottom");
    }
    await this.rewind(fork, cursor);
  }

  private async rewind(fork: number, cursor: number): Promise<void> {
    // Our own transactions mined after the fork: the nonce manager follows (and resends) them.
    const resent = new Set(this.chain.nonces.reorged(fork).map((h) => h.toLowerCase()));
    if (resent.size > 0) void this.chain.resumePending().catch(() => undefined);
    const rows = this.db.db
      .prepare(
        `SELECT * FROM requests WHERE block > ? OR lastBlock > ?
           OR (state = 'requested' AND id IN (SELECT requestId FROM replies WHERE state = 'submitted'))`,
      )
      .all(fork, fork) as unknown as RequestRow[];
    let reconciled = 0;
    for (const row of rows) {
      const onChain = await this.chain.reader.getRequest(row.id);
      const state = STATUS[Number(onChain.status)] ?? "orphaned";
      const reply = this.db.getReply(row.id);
      const fields: Partial<RequestRow> = { state, lastBlock: Math.min(row.lastBlock ?? fork, fork) };
      if (state === "requested") {
        Object.assign(fields, { worker: null, relayer: null, outputHash: null, traceRoot: null, challengeDeadline: null, disputeDeadline: null, submittedAt: null });
        // Its result is no longer on-chain. If our transaction carrying it is being sent again, it
        // lands with it; otherwise the submitter sends it again.
        if (reply?.state === "submitted" && !resent.has(String(row.submitTx ?? "").toLowerCase())) {
          this.db.setReplyState(row.id, "pending");
          fields.submitTx = null;
        }
      }
      if (state !== row.state) reconciled += 1;
      this.db.updateRequest(row.id, { ...fields, note: `reorg at block ${fork + 1}: ${row.state} -> ${state}` });
    }
    this.db.transaction(() => {
      this.db.forgetBlocks({ above: fork });
      this.db.setMeta(CURSOR_KEY, String(fork));
    });
    this.reorgs.push({ at: Date.now(), forkBlock: fork, depth: cursor - fork, reconciled });
    this.log.warn({ forkBlock: fork, depth: cursor - fork, requests: rows.length, reconciled }, "reorg detected; re-scanning from the fork");
  }

  private async handle(log: Log): Promise<void> {
    const parsed = this.chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) return;
    const a = parsed.args;
    const id = String(a.requestId ?? "");
    const now = Date.now();
    switch (parsed.name) {
      case "InferenceRequested": {
        const inserted = this.db.insertRequest({ id, ...requestedFields(a, log), observedAt: now });
        if (inserted) {
          // Inline inputs travel in the event; keep them as blobs so the API and workers can fetch them.
          this.pendingInline.set(id, String(a.input));
        } else {
          this.reappeared(id, log, a);
        }
        break;
      }
      case "ResultBatchSubmitted":
        // One event per batch, a record per accepted result (protocol/batch-wire.ts). A NONE/ZK result's
        // RequestFulfilled came first in the same call: its record adds who served it, not a state.
        for (const r of decodeBatchLog(log)?.results ?? []) {
          this.db.updateRequest(r.requestId, {
            ...(r.optimistic ? { state: "submitted" as const, challengeDeadline: r.time } : {}),
            worker: r.worker,
            relayer: r.relayer,
            outputHash: r.outputHash,
            submittedAt: this.db.getRequest(r.requestId)?.submittedAt ?? now,
            submitTx: log.transactionHash,
          });
        }
        break;
      case "RequestFulfilled":
        this.db.updateRequest(id, {
          state: "fulfilled",
          outputHash: String(a.outputHash),
          callbackOk: a.callbackSucceeded ? 1 : 0,
          finalAt: now,
          finalTx: log.transactionHash,
        });
        break;
      case "RequestRefunded":
        this.db.updateRequest(id, { state: "refunded", refundReason: Number(a.reason), finalAt: now, finalTx: log.transactionHash });
        break;
      case "ChallengeOpened":
        this.db.updateRequest(id, { state: "challenged", disputeDeadline: Number(a.deadline) });
        break;
      case "DisputeResolved":
        // Ruling.WorkerRight (1): the worker was right.
        if (Number(a.ruling) === 1) {
          // The result stands and the window is closed: settle as soon as possible.
          const block = await this.chain.provider.getBlock(log.blockNumber);
          this.db.updateRequest(id, { state: "submitted", challengeDeadline: block?.timestamp ?? 0, disputeDeadline: null });
        }
        break;
      case "RequestReopened":
        // The worker was proven wrong and the deadline allows another try: serve it again.
        this.db.updateRequest(id, {
          state: "requested",
          deadline: Number(a.deadline),
          worker: null,
          relayer: null,
          outputHash: null,
          traceRoot: null,
          challengeDeadline: null,
          disputeDeadline: null,
          jobPublishedAt: null,
          note: `reopened after ${String(a.disqualifiedWorker)} was slashed`,
        });
        this.db.deleteReply(id);
        break;
      default:
        break;
    }
    if (parsed.name !== "InferenceRequested" && id !== "") this.db.updateRequest(id, { lastBlock: log.blockNumber });
  }

  /**
   * A request event seen again (a re-scan after a reorg or a crash). The same request keeps its row
   * and its job (published once); one whose event moved to another block is revived if it was
   * orphaned; a different request under the same id (another history) replaces the row.
   */
  private reappeared(id: string, log: Log, a: import("ethers").Result): void {
    const row = this.db.getRequest(id);
    if (row === undefined) return;
    const same = row.inputHash.toLowerCase() === String(a.inputHash).toLowerCase() && row.modelHash.toLowerCase() === String(a.modelHash).toLowerCase() && row.requester.toLowerCase() === String(a.requester).toLowerCase();
    if (same) {
      if (row.block !== log.blockNumber || row.state === "orphaned") {
        this.db.updateRequest(id, {
          block: log.blockNumber,
          lastBlock: Math.max(row.lastBlock ?? 0, log.blockNumber),
          deadline: Number(a.deadline),
          ...(row.state === "orphaned" ? { state: "requested" as const, note: `request event moved to block ${log.blockNumber}` } : {}),
        });
      }
      return;
    }
    this.log.warn({ requestId: id, block: log.blockNumber }, "request id reused by another request in the new history; serving the new one");
    this.db.deleteReply(id);
    this.db.updateRequest(id, {
      ...requestedFields(a, log),
      lastBlock: log.blockNumber,
      jobPublishedAt: null,
      excluded: null,
    });
    this.pendingInline.set(id, String(a.input));
  }

  /** Publishes a job for every open request that has none out (new, reopened, skipped result, or after a crash). */
  private async publishUnpublished(): Promise<void> {
    const rows = this.db.db
      .prepare("SELECT * FROM requests WHERE state = 'requested' AND jobPublishedAt IS NULL ORDER BY block")
      .all() as unknown as import("./db.js").RequestRow[];
    for (const row of rows) {
      let input = this.pendingInline.get(row.id);
      if (input === undefined && row.inputURI === "") {
        // Inline input lost to a restart: read it back from the request's event.
        input = await this.inlineInputFromChain(row);
      }
      const job: Job = {
        kind: "job",
        chainId: this.chain.chainId.toString(),
        oracle: this.chain.oracleAddress,
        requestId: row.id,
        modelHash: row.modelHash,
        inputHash: row.inputHash,
        // Raw bytes: the job travels as a binary envelope (protocol/envelope.ts), no hex on the worker.
        input: bytesOf(input ?? "0x"),
        inputURI: row.inputURI,
        tier: row.tier as Tier,
        deadline: row.deadline,
        observedAt: row.observedAt,
        // Workers sign this relayer as payee: the relayer share is ours whoever submits the result.
        payee: (this.payee ??= await this.chain.signer.getAddress()),
        ...(row.excluded === null ? {} : { excludedSigners: JSON.parse(row.excluded) as string[] }),
      };
      const attempt = this.published.get(row.id) ?? 0;
      await this.queue.publish(QUEUES.jobs, job, { messageId: attempt === 0 ? row.id : `${row.id}:${attempt}` });
      this.published.set(row.id, attempt + 1);
      this.db.updateRequest(row.id, { jobPublishedAt: Date.now() });
      this.pendingInline.delete(row.id);
      this.log.debug({ requestId: row.id }, "job published");
    }
  }

  private async inlineInputFromChain(row: import("./db.js").RequestRow): Promise<string | undefined> {
    const filter = this.chain.oracle.filters.InferenceRequested(row.id);
    const events = await this.chain.oracle.queryFilter(filter, row.block, row.block);
    const input = events[0]?.args.input;
    return input === undefined ? undefined : String(input);
  }
}
