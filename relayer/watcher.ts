/**
 * Follows the oracle's events with a confirmation depth and a persisted cursor. New requests become
 * jobs on the queue; every other event moves the request's row through its states. The cursor is
 * saved only after a block range is fully handled, and a job is (re)published whenever its row has
 * no publish time, so a crash at any point neither loses nor repeats work (duplicates are harmless:
 * jobs carry the request id as message id, and the contract accepts one result per request).
 */
import type { Log } from "ethers";
import { QUEUES, Tier, type Job, type Logger } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb } from "./db.js";

const CURSOR_KEY = "cursor";

export class EventWatcher {
  /** Inline inputs seen in events this run, until their job is published. */
  private readonly pendingInline = new Map<string, string>();
  /** Jobs published per request in this run, so a job handed out again gets a fresh message id. */
  private readonly published = new Map<string, number>();

  constructor(
    private readonly chain: OracleChain,
    private readonly db: RelayerDb,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    private readonly options: { confirmations: number; logBlockRange: number; startBlock: number },
  ) {}

  cursor(): number {
    const saved = this.db.getMeta(CURSOR_KEY);
    return saved === undefined ? this.options.startBlock - 1 : Number(saved);
  }

  /** Handles every confirmed block not yet handled. Returns the new cursor. */
  async poll(): Promise<number> {
    const head = await this.chain.provider.getBlockNumber();
    const safe = head - this.options.confirmations;
    let from = this.cursor() + 1;
    while (from <= safe) {
      const to = Math.min(safe, from + this.options.logBlockRange - 1);
      const logs = await this.chain.provider.getLogs({ address: this.chain.oracleAddress, fromBlock: from, toBlock: to });
      logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
      for (const log of logs) await this.handle(log);
      this.db.setMeta(CURSOR_KEY, String(to));
      from = to + 1;
    }
    await this.publishUnpublished();
    return from - 1;
  }

  private async handle(log: Log): Promise<void> {
    const parsed = this.chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) return;
    const a = parsed.args;
    const id = String(a.requestId ?? "");
    const now = Date.now();
    switch (parsed.name) {
      case "InferenceRequested": {
        const inserted = this.db.insertRequest({
          id,
          requester: String(a.requester),
          modelHash: String(a.modelHash),
          inputHash: String(a.inputHash),
          inputURI: String(a.inputURI),
          tier: Number(a.tier),
          fee: String(a.fee),
          deadline: Number(a.deadline),
          callbackGasLimit: Number(a.callbackGasLimit),
          state: "requested",
          block: log.blockNumber,
          observedAt: now,
        });
        if (inserted) {
          // Inline inputs travel in the event; keep them as blobs so the API and workers can fetch them.
          this.pendingInline.set(id, String(a.input));
        }
        break;
      }
      case "ResultSubmitted":
        this.db.updateRequest(id, {
          state: "submitted",
          worker: String(a.worker),
          relayer: String(a.relayer),
          outputHash: String(a.outputHash),
          traceRoot: String(a.traceRoot),
          challengeDeadline: Number(a.challengeDeadline),
          submittedAt: this.db.getRequest(id)?.submittedAt ?? now,
          submitTx: log.transactionHash,
        });
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
        if (!a.workerAtFault) {
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
        input: input ?? "0x",
        inputURI: row.inputURI,
        tier: row.tier as Tier,
        deadline: row.deadline,
        observedAt: row.observedAt,
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
