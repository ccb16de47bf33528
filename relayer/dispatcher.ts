/**
 * JobDispatcher: the one part of the relayer that puts jobs on the queue. A request gets a job when
 * it is first seen, when it is reopened, after a crash (its row has no publish time) and when the
 * submitter asks for it again (`republish`: the oracle skipped a result or recorded a rejection
 * short of its quorum). A job carries the request id as its message id (the n-th republication
 * `id:n`), so a duplicate after a crash is harmless: the contract accepts one result per request.
 */
import { solidityPackedKeccak256 } from "ethers";
import { QUEUES, bytesOf, type Job, type Logger, type Tier } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb } from "./db.js";
import type { DomainEvent, EventOf, EventSubscriber } from "./events.js";

/** Times a request's job is handed out again after a skipped result or a rejection, before waiting for the deadline. */
export const MAX_REPUBLISH = 3;

export class JobDispatcher implements EventSubscriber {
  /** Inline inputs seen in events this run, until their job is published. */
  private readonly pendingInline = new Map<string, string>();
  /** Jobs published per request in this run, so a job handed out again gets a fresh message id. */
  private readonly published = new Map<string, number>();
  private readonly republished = new Map<string, number>();
  /** This relayer's address, named as payee in every job (read once). */
  private payee: string | undefined;
  private publishing: Promise<void> | undefined;
  /** Whether a requester's requests are siblings of redundant jobs (a watched RedundantInference): their jobs get a group. */
  groupsRequester: (requester: string) => boolean = () => false;

  constructor(
    private readonly chain: Pick<OracleChain, "chainId" | "oracleAddress" | "signer">,
    private readonly db: RelayerDb,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    /** The request's event read back from its block (the EventWatcher's `requestedEvent`), for an inline input this run did not see. */
    private readonly requestedEvent: (requestId: string, block: number) => Promise<EventOf<"requested"> | undefined>,
  ) {}

  /** Keeps the inline input of every new request (it travels in the event) until its job is out. */
  onEvents(events: readonly DomainEvent[]): void {
    for (const e of events) {
      if (e.kind !== "requested") continue;
      const row = this.db.getRequest(e.requestId);
      if (row?.state === "requested" && row.jobPublishedAt === null) this.pendingInline.set(e.requestId, e.input);
    }
  }

  /** Publishes a job for every open request that has none out (new, reopened, handed back, or after a crash). One run at a time. */
  publishPending(): Promise<void> {
    this.publishing ??= this.publishAll().finally(() => {
      this.publishing = undefined;
    });
    return this.publishing;
  }

  /**
   * Hands a request's job out again (a bounded number of times, and only while it is open); returns
   * whether it did. The request is marked unpublished first, so a crash or a failed publish leaves it
   * for the next `publishPending`.
   */
  async republish(requestId: string, note: string): Promise<boolean> {
    const times = this.republished.get(requestId) ?? 0;
    if (this.db.getRequest(requestId)?.state !== "requested" || times >= MAX_REPUBLISH) return false;
    this.republished.set(requestId, times + 1);
    this.db.markUnpublished(requestId, note);
    try {
      await this.publishPending();
      // A run already under way when it was marked may have read the rows before it: one more.
      if (this.db.getRequest(requestId)?.jobPublishedAt === null) await this.publishPending();
    } catch (error) {
      this.log.warn({ err: error, requestId }, "could not hand the job out again yet; the next tick will");
    }
    return true;
  }

  private async publishAll(): Promise<void> {
    for (const row of this.db.unpublishedRequests()) {
      const input = this.pendingInline.get(row.id) ?? (row.inputURI === "" ? (await this.requestedEvent(row.id, row.block))?.input : undefined);
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
        ...(this.groupsRequester(row.requester) ? { group: redundancyGroup(row) } : {}),
      };
      const attempt = this.published.get(row.id) ?? 0;
      await this.queue.publish(QUEUES.jobs, job, { messageId: attempt === 0 ? row.id : `${row.id}:${attempt}` });
      this.published.set(row.id, attempt + 1);
      this.db.updateRequest(row.id, { jobPublishedAt: Date.now() });
      this.pendingInline.delete(row.id);
      this.log.debug({ requestId: row.id }, "job published");
    }
  }
}

/**
 * The group of a redundant job's sibling requests: RedundantInference asks each of them with the same model,
 * input and deadline (replacements too), so those and the requester name the job without a chain read.
 */
export function redundancyGroup(r: { requester: string; modelHash: string; inputHash: string; deadline: number }): string {
  return solidityPackedKeccak256(["address", "bytes32", "bytes32", "uint64"], [r.requester, r.modelHash, r.inputHash, r.deadline]);
}
