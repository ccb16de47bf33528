/**
 * Takes worker replies off the results queue and checks them before anything is spent on gas: the
 * domain is this oracle's, the signature recovers to a staked worker's signer for exactly the
 * request's model and input, and the output bytes hash to the signed output hash. Checked replies
 * are stored for the submitter; the first valid reply per request wins.
 */
import {
  BaseError,
  QUEUES,
  WorkerReplySchema,
  fromHex,
  hashBundleEncoded,
  oracleDomain,
  recoverRejectionSigner,
  recoverResultSigner,
  type Logger,
  type RequestId,
  type Hex,
  type WorkerReply,
} from "../protocol/index.js";
import type { Delivery, JobQueue, Json, Subscription } from "../queue/index.js";
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
    this.subscription = await this.queue.consume<Json>(QUEUES.results, (d) => this.handle(d), { prefetch: this.prefetch });
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
  }

  async handle(delivery: Delivery<Json>): Promise<void> {
    const parsed = WorkerReplySchema.safeParse(delivery.body);
    if (!parsed.success) {
      throw new BaseError("MESSAGE_INVALID", `invalid worker reply: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    }
    const reply = parsed.data;
    const log = this.log.child({ requestId: reply.requestId, kind: reply.kind });
    if (BigInt(reply.chainId) !== this.chain.chainId || reply.oracle.toLowerCase() !== this.chain.oracleAddress.toLowerCase()) {
      throw new BaseError("DOMAIN_MISMATCH", `reply is for oracle ${reply.oracle} on chain ${reply.chainId}, not this relayer's`);
    }
    const row = this.db.getRequest(reply.requestId);
    if (row === undefined) {
      // The watcher publishes jobs only after recording the request, so this is a reply from before a
      // database reset or for another deployment; let the queue retry a few times, then dead-letter.
      throw new BaseError("REQUEST_NOT_FOUND", `unknown request ${reply.requestId}`, { retryable: true });
    }
    if (row.state !== "requested") {
      log.debug({ state: row.state }, "reply for a request that is no longer open; dropped");
      return;
    }
    await this.verify(reply, row.modelHash as Hex, row.inputHash as Hex);
    const fresh = this.db.insertReply({
      requestId: reply.requestId,
      kind: reply.kind,
      message: JSON.stringify(reply),
      state: "pending",
      reason: null,
      receivedAt: Date.now(),
    });
    if (!fresh) {
      log.debug("a reply for this request is already held; dropped");
      return;
    }
    this.db.updateRequest(reply.requestId, { replyAt: Date.now() });
    log.debug("reply accepted");
    this.onReply();
  }

  private async verify(reply: WorkerReply, modelHash: Hex, inputHash: Hex): Promise<void> {
    const domain = oracleDomain(this.chain.chainId, this.chain.oracleAddress);
    let signer: string;
    if (reply.kind === "result") {
      if (reply.modelHash.toLowerCase() !== modelHash.toLowerCase() || reply.inputHash.toLowerCase() !== inputHash.toLowerCase()) {
        throw new BaseError("INPUT_HASH_MISMATCH", "the result names another model or input than the request");
      }
      signer = recoverResultSigner(
        domain,
        { requestId: reply.requestId as RequestId, modelHash, inputHash, outputHash: reply.outputHash as Hex, traceRoot: reply.traceRoot as Hex, payee: reply.payee },
        reply.signature,
      );
      if (reply.output !== "0x") {
        const output = fromHex(reply.output);
        const hash = hashBundleEncoded(output);
        if (hash !== reply.outputHash.toLowerCase()) {
          throw new BaseError("OUTPUT_HASH_MISMATCH", `output hashes to ${hash}, the signature says ${reply.outputHash}`);
        }
        await this.blobs.put(output, hash);
      } else if (!this.blobs.has(reply.outputHash)) {
        throw new BaseError("BLOB_NOT_FOUND", `output ${reply.outputHash} is neither inline nor in the blob store`, { retryable: true });
      }
    } else {
      signer = recoverRejectionSigner(domain, { requestId: reply.requestId as RequestId, reason: reply.reason }, reply.signature);
    }
    if (signer.toLowerCase() !== reply.signer.toLowerCase()) {
      throw new BaseError("SIGNATURE_INVALID", `signature recovers to ${signer}, the reply claims ${reply.signer}`);
    }
    if (!(await this.isStakedSigner(signer))) {
      throw new BaseError("SIGNATURE_INVALID", `${signer} is not the signer of a registered worker`);
    }
    // A staked worker's signed result references its output and trace: keep them the full
    // retention even when the worker uploaded them anonymously (issue 13, finding 5).
    if (reply.kind === "result") await this.blobs.keepResult(reply.outputHash, reply.traceRoot).catch(() => 0);
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
      throw new BaseError("CHAIN_UNAVAILABLE", "could not read the worker registry", { cause, retryable: true });
    }
  }
}
