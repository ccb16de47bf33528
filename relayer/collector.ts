/**
 * Takes worker replies off the results queue and checks them before anything is spent on gas: the
 * domain is this oracle's, the signature recovers to a staked worker's signer (a result batch: ONE
 * signature over the root of every item, docs/V2.md §3), each item names exactly its request's model
 * and input, and its output bytes hash to the signed output hash. A checked batch is stored whole for
 * the submitter (it can only be submitted whole); of its items, the first valid reply per request wins
 * (an item whose request already has a live reply stays in the batch, and the oracle skips whichever
 * comes second).
 */
import {
  OracleError,
  QUEUES,
  WorkerReplySchema,
  fromHex,
  hexOf,
  isEmptyInline,
  hashBundleEncoded,
  oracleDomain,
  recoverRejectionSigner,
  type Logger,
  type RequestId,
  type Hex,
  type RejectionMessage,
  type ResultBatchMessage,
  recoverResultBatchSigner,
  isSizeProof,
  readSizeProof,
} from "../protocol/index.js";

/** A v2 result names no trace (trace on demand: the FraudGame asks for it in a dispute). */
const NO_TRACE = `0x${"00".repeat(32)}`;
import type { Delivery, JobQueue, Message, Subscription } from "../queue/index.js";
import type { BlobStore } from "./blobs.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb } from "./db.js";

export class ResultCollector {
  private subscription: Subscription | undefined;
  private readonly operatorCache = new Map<string, boolean>();

  constructor(
    private readonly chain: OracleChain,
    private readonly db: RelayerDb,
    private readonly blobs: BlobStore,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    private readonly onReply: () => void,
    private readonly prefetch: number,
  ) {}

  async start(): Promise<void> {
    this.subscription = await this.queue.consume<Message>(QUEUES.results, (d) => this.handle(d), { prefetch: this.prefetch });
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
  }

  async handle(delivery: Delivery<Message>): Promise<void> {
    const parsed = WorkerReplySchema.safeParse(delivery.body);
    if (!parsed.success) {
      throw new OracleError("MESSAGE_INVALID", `invalid worker reply: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    }
    const reply = parsed.data;
    // Outputs arrive as raw bytes (binary envelope) or 0x-hex (JSON from a worker before it): the
    // relayer keeps 0x-hex (its database rows are JSON, and calldata is hex anyway).
    if (reply.kind === "batch") reply.items = reply.items.map((i) => (typeof i.output === "string" ? i : { ...i, output: hexOf(i.output) }));
    const log = this.log.child(reply.kind === "batch" ? { batch: reply.signature.slice(0, 18), kind: reply.kind } : { requestId: reply.requestId, kind: reply.kind });
    if (BigInt(reply.chainId) !== this.chain.chainId || reply.oracle.toLowerCase() !== this.chain.oracleAddress.toLowerCase()) {
      throw new OracleError("DOMAIN_MISMATCH", `reply is for oracle ${reply.oracle} on chain ${reply.chainId}, not this relayer's`);
    }
    if (reply.kind === "batch") {
      await this.takeBatch(reply, log);
      return;
    }
    const row = this.db.getRequest(reply.requestId);
    if (row === undefined) {
      // The dispatcher publishes jobs only after the ledger recorded the request, so this is a reply from before a
      // database reset or for another deployment; let the queue retry a few times, then dead-letter.
      throw new OracleError("REQUEST_NOT_FOUND", `unknown request ${reply.requestId}`, { retryable: true });
    }
    if (row.state !== "requested") {
      log.debug({ state: row.state }, "reply for a request that is no longer open; dropped");
      return;
    }
    await this.verifyRejection(reply);
    const fresh = this.db.insertReply({
      requestId: reply.requestId,
      kind: reply.kind,
      message: JSON.stringify(reply),
      state: "pending",
      reason: null,
      receivedAt: Date.now(),
      batch: null,
    });
    if (!fresh) {
      log.debug("a reply for this request is already held; dropped");
      return;
    }
    this.db.updateRequest(reply.requestId, { replyAt: Date.now() });
    log.debug("reply accepted");
    this.onReply();
  }

  /**
   * Checks a worker-signed batch (signature over every item, staked signer, every item's model, input
   * and output bytes) and stores it with a reply row for each item whose request is open here.
   */
  private async takeBatch(batch: ResultBatchMessage, log: Logger): Promise<void> {
    const domain = oracleDomain(this.chain.chainId, this.chain.oracleAddress);
    const signer = recoverResultBatchSigner(domain, { payee: batch.payee, signature: batch.signature, entries: batch.items });
    if (signer.toLowerCase() !== batch.signer.toLowerCase()) {
      throw new OracleError("SIGNATURE_INVALID", `signature recovers to ${signer}, the batch claims ${batch.signer}`);
    }
    if (!(await this.isStakedSigner(signer))) {
      throw new OracleError("SIGNATURE_INVALID", `${signer} is not the signer of a registered worker`);
    }
    const taken: { requestId: string; message: string }[] = [];
    for (const item of batch.items) {
      const row = this.db.getRequest(item.requestId);
      // Unknown or no longer open here: the item stays in the batch (it is signed), nobody waits for it.
      if (row === undefined || row.state !== "requested") continue;
      if (item.modelHash.toLowerCase() !== row.modelHash.toLowerCase() || item.inputHash.toLowerCase() !== row.inputHash.toLowerCase()) {
        // The requestId binds model and input on-chain: such an item can never be accepted; keep none of it.
        log.warn({ requestId: item.requestId }, "batch item names another model or input than its request; not held");
        continue;
      }
      if (isSizeProof(item.output)) {
        // Hash only ("VIOH" || header || dataRoot): it must open the signed hash, the bytes be uploaded.
        const declared = readSizeProof(item.output).outputHash;
        if (declared !== item.outputHash.toLowerCase()) {
          throw new OracleError("OUTPUT_HASH_MISMATCH", `size proof of ${item.requestId} opens ${declared}, the signature says ${item.outputHash}`);
        }
        if (!this.blobs.has(item.outputHash)) {
          throw new OracleError("BLOB_NOT_FOUND", `output ${item.outputHash} is neither inline nor in the blob store`, { retryable: true });
        }
      } else if (!isEmptyInline(item.output)) {
        const output = fromHex(hexOf(item.output));
        const hash = hashBundleEncoded(output);
        if (hash !== item.outputHash.toLowerCase()) {
          throw new OracleError("OUTPUT_HASH_MISMATCH", `output of ${item.requestId} hashes to ${hash}, the signature says ${item.outputHash}`);
        }
        await this.blobs.put(output, hash);
      } else if (!this.blobs.has(item.outputHash)) {
        throw new OracleError("BLOB_NOT_FOUND", `output ${item.outputHash} is neither inline nor in the blob store`, { retryable: true });
      }
      // A staked worker's signed result references its output: keep it the full retention even when the
      // worker uploaded it anonymously.
      await this.blobs.keepResult(item.outputHash, NO_TRACE).catch(() => 0);
      const { output: _output, ...rest } = item;
      taken.push({ requestId: item.requestId, message: JSON.stringify({ ...rest, signer: batch.signer, payee: batch.payee, batch: batch.signature }) });
    }
    const now = Date.now();
    let held = 0;
    const stored = this.db.transaction(() => {
      const fresh = this.db.insertBatch({ id: batch.signature, message: JSON.stringify(batch), state: "pending", reason: null, receivedAt: now });
      for (const t of taken) {
        if (this.db.insertReply({ requestId: t.requestId, kind: "result", message: t.message, state: "pending", reason: null, receivedAt: now, batch: batch.signature })) {
          held++;
          this.db.updateRequest(t.requestId, { replyAt: now });
        }
      }
      // The same signed batch again (signatures are deterministic: a worker that served the same jobs again
      // with the same outputs, e.g. a reopened request): submitted again for the items it is now wanted for.
      if (!fresh && held > 0) this.db.setBatchState(batch.signature, "pending");
      return fresh || held > 0;
    });
    if (!stored) {
      log.debug("batch already held; dropped");
      return;
    }
    log.debug({ items: batch.items.length, held }, "result batch accepted");
    this.onReply();
  }

  private async verifyRejection(reply: RejectionMessage): Promise<void> {
    const domain = oracleDomain(this.chain.chainId, this.chain.oracleAddress);
    const signer = recoverRejectionSigner(domain, { requestId: reply.requestId as RequestId, reason: reply.reason }, reply.signature);
    if (signer.toLowerCase() !== reply.signer.toLowerCase()) {
      throw new OracleError("SIGNATURE_INVALID", `signature recovers to ${signer}, the reply claims ${reply.signer}`);
    }
    if (!(await this.isStakedSigner(signer))) {
      throw new OracleError("SIGNATURE_INVALID", `${signer} is not the signer of a registered worker`);
    }
  }

  private async isStakedSigner(signer: string): Promise<boolean> {
    const key = signer.toLowerCase();
    const cached = this.operatorCache.get(key);
    if (cached === true) return true;
    try {
      const operator = await this.chain.reader.operatorOf(signer);
      const ok = operator !== "0x0000000000000000000000000000000000000000";
      if (ok) this.operatorCache.set(key, true);
      return ok;
    } catch (cause) {
      throw new OracleError("CHAIN_UNAVAILABLE", "could not read the worker registry", { cause, retryable: true });
    }
  }
}
