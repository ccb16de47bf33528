/**
 * The worker service: takes jobs from the queue, runs the model, signs the result, and replies.
 *
 * Every job ends in exactly one of:
 * - its result in a signed ResultBatchMessage on QUEUES.results (acked once the batch is published;
 *   worker/result-batcher.ts signs one ResultBatch per flush, docs/V2.md §3);
 * - a signed RejectionMessage (acked) when the request itself is at fault (bad input, unknown model,
 *   a model whose files do not match its hash): retrying would never help, the requester is refunded;
 * - a dead letter (`oracle.jobs.dead`) when the message is not a valid job or names a domain this
 *   worker does not sign for, or after transient failures exhausted the queue's deliveries;
 * - an ack without reply when its deadline has passed (nobody could use the answer);
 *   passed on when this worker must not serve it (excluded, unbacked, a redundant sibling).
 * Transient failures (a 503 from the input host, RPC trouble, blob store down) throw retryable
 * errors and the queue redelivers the job.
 */
import { getAddress, ZeroAddress, type TypedDataDomain } from "ethers";
import type { Logger } from "pino";
import {
  oracleDomain,
  OracleError,
  fetchBytes,
  type FetchBytesOptions,
  loadConfig,
  createLogger,
  WorkerMetrics,
  QUEUES,
  isEmptyInline,
  type Job,
  RejectReason,
  RequestStatus,
  Tier,
  type Hex,
  BlobAuth,
  type BlobClient,
} from "../protocol/index.js";
import { InputCache } from "./input-cache.js";
import type { Delivery, JobQueue, Json, Subscription } from "../queue/index.js";
import type { ModelCatalog } from "./catalog.js";
import { batchPolicyFor, modelProcessLimits, redactWorkerConfig, WorkerConfigSchema, WORKER_RETIRED_KEYS, type WorkerConfig, type WorkerConfigInput } from "./config.js";
import { DomainNotAllowedError, InvalidJobError, JobRejection } from "./errors.js";
import { ModelStore, openPrivately } from "./models.js";
import { jobMismatches, type RequestLookup } from "./requests.js";
import { ProverPool } from "./prover.js";
import { ProviderProber, type BackendInfo } from "./providers.js";
import { InferenceRunner } from "./runner.js";
import { SessionCache } from "./sessions.js";
import { Slots } from "./slots.js";
import { ServedGroups } from "./groups.js";
import { FastSigner } from "./signer.js";
import { ResultBatcher } from "./result-batcher.js";
import { noTrace, type TraceBuilder } from "./trace.js";
import { CanonicalOutputs } from "./canonical-output.js";
import { fetchDisputeInput, fetchJobInput, httpPolicy, workerBlobClient, type InputContext } from "./input-fetch.js";
import { asBuffer, decodeHexStrict, HEX_BYTES_MESSAGE, signedRejection, WorkerJobSchema } from "./job-message.js";
import { ms, rejectingAs, serve, type ServeContext } from "./serve.js";

export type { StageTimings } from "./serve.js";

export interface WorkerOptions {
  /** Validated here (WorkerConfigSchema); an invalid config throws CONFIG_INVALID listing every problem. */
  config: WorkerConfigInput | WorkerConfig;
  queue: JobQueue;
  catalog: ModelCatalog;
  /** Root logger; the worker takes children per layer and per request. */
  logger?: Logger;
  /** FAULT INJECTION (tests and demos only; worker/trace.ts): the output an OPTIMISTIC result signs. */
  traceBuilder?: TraceBuilder;
  /** Clock in ms since the epoch (deadlines are unix seconds). */
  now?: () => number;
  /** Fetches inputs and models; protocol's fetchBytes by default. */
  fetch?: (uri: string, options: FetchBytesOptions) => Promise<Buffer>;
  /** What onnxruntime-node ships (tests pretend); the binding's list by default. */
  listBackends?: () => readonly BackendInfo[];
  /** Prometheus series (protocol/metrics.ts); a registry of its own by default. */
  metrics?: WorkerMetrics;
  /**
   * The chain's view of each request (worker/requests.ts): when given, every job is checked against
   * `getRequest` before it is run or rejected. Without it the queue is trusted (tests, pinned setups).
   */
  requests?: RequestLookup;
  /**
   * Whether this worker's stake backs a result for an oracle now (worker/stake-watch.ts): while it
   * does not, jobs for that oracle are passed on to other workers instead of signed and dropped.
   */
  standing?: { canBack(chainId: bigint, oracle: string): boolean };
}

/** Pause before passing on a job this worker is excluded from. */
const PASS_ON_DELAY_MS = 50;
/** The pause before passing on a job this worker's stake cannot back (or a redundant sibling of one it served): while no worker can, the job circles slowly until one can (or its deadline). */
const UNBACKED_PASS_ON_DELAY_MS = 1000;

export class Worker {
  readonly config: WorkerConfig;
  readonly runner: InferenceRunner;
  readonly models: ModelStore;
  /** The inputs of this worker's OPTIMISTIC results, kept until they settle (a FraudGame on one is answered from it). */
  readonly inputs: InputCache;
  readonly sessions: SessionCache;
  readonly metrics: WorkerMetrics;
  private readonly queue: JobQueue;
  readonly catalog: ModelCatalog;
  private readonly log: Logger;
  private readonly signer: FastSigner;
  private readonly blobAuth: BlobAuth;
  private readonly blobs: BlobClient;
  /** Collects served results and signs them one batch at a time (docs/V2.md §3). */
  private readonly results: ResultBatcher;
  private readonly traceBuilder: TraceBuilder;
  /** Canonical runs for requests reopened after an OutputMinor ruling (worker/canonical-output.ts). */
  private readonly canonical: CanonicalOutputs;
  /** Proves ZK-tier jobs on worker_threads (started on the first ZK job). */
  readonly prover: ProverPool;
  private readonly now: () => number;
  private readonly fetch: (uri: string, options: FetchBytesOptions) => Promise<Buffer>;
  private readonly domains = new Map<string, TypedDataDomain>();
  private readonly requests: RequestLookup | undefined;
  private readonly standing: WorkerOptions["standing"];
  /** Jobs in the serve stage (decode, inference, sign, publish): `prefetch`; input fetches wait outside. */
  private readonly serveSlots: Slots;
  private readonly groups = new ServedGroups();
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** What the serve stages (worker/serve.ts) and the input fetches (worker/input-fetch.ts) use of this worker. */
  private readonly parts: ServeContext & InputContext;

  constructor(options: WorkerOptions) {
    const config = loadConfig(WorkerConfigSchema, options.config, WORKER_RETIRED_KEYS);
    this.config = config;
    this.queue = options.queue;
    this.catalog = options.catalog;
    this.metrics = options.metrics ?? new WorkerMetrics();
    const root = options.logger ?? createLogger("worker");
    this.log = root.child({ layer: "worker" });
    this.signer = new FastSigner(config.signerKey);
    // Blob-store uploads are signed as this worker's signer: the relayer knows it from the chain.
    this.blobAuth = new BlobAuth(config.signerKey);
    this.results = new ResultBatcher({
      maxItems: config.resultBatch.maxItems,
      maxWaitMs: config.resultBatch.maxWaitMs,
      signer: this.signer.address,
      sign: (domain, statement) => this.signer.signBatch(domain, statement),
      publish: (message) => this.queue.publish(QUEUES.results, message as unknown as Json, { messageId: `batch:${message.signature.slice(0, 66)}` }),
      onBatch: (message, signMs) => this.log.debug({ items: message.items.length, payee: message.payee, signMs: Math.round(signMs * 1000) / 1000 }, "result batch signed and published"),
    });
    this.now = options.now ?? Date.now;
    this.prover = new ProverPool(config.proverThreads);
    this.fetch = options.fetch ?? fetchBytes;
    // Uploads (large outputs) and reads (a disputed input) of the blob store, signed as this worker.
    this.blobs = workerBlobClient(config, this.fetch, this.blobAuth);
    this.requests = options.requests;
    this.standing = options.standing;
    this.serveSlots = new Slots(config.prefetch);
    for (const d of config.allowedOracles) {
      this.domains.set(domainKey(d.chainId, d.oracle), oracleDomain(d.chainId, getAddress(d.oracle)));
    }
    this.canonical = new CanonicalOutputs(config.canonicalOutputMaxMs);
    this.inputs = new InputCache({ dir: config.inputCacheDir, maxBytes: config.inputCacheMaxBytes });
    this.models = new ModelStore({
      http: httpPolicy(config),
      cacheDir: config.modelCacheDir,
      maxModelBytes: config.maxModelBytes,
      maxTensorElements: config.maxTensorElements,
      timeoutMs: config.fetchTimeoutMs,
      schemes: config.modelSchemes,
      logger: root,
      fetch: this.fetch,
    });
    const prober = new ProviderProber({
      preferences: config.providers,
      settings: {
        graphOptimizationLevel: config.graphOptimizationLevel,
        intraOpNumThreads: config.intraOpNumThreads,
        inferenceThread: config.inferenceThread,
        cudaTf32: config.cudaTf32,
        ...(config.modelProcess ? { process: modelProcessLimits(config, (reason) => this.metrics.modelProcessKills.inc({ reason })) } : {}),
      },
      logger: root,
      ...(options.listBackends === undefined ? {} : { listBackends: options.listBackends }),
    });
    this.sessions = new SessionCache({
      capacity: config.sessionCacheSize,
      // Never from the cache folder or from bytes: from a private copy (worker/models.ts openPrivately).
      open: (path, context) => openPrivately(path, (privatePath) => prober.open(privatePath, context)),
      providerKey: prober.preferences.join(","),
      logger: root,
    });
    this.runner = new InferenceRunner({
      catalog: this.catalog,
      models: this.models,
      sessions: this.sessions,
      logger: root,
      batching: (modelHash) => batchPolicyFor(config, modelHash),
      depth: config.inferenceThread ? 2 : 1,
    });
    this.traceBuilder = options.traceBuilder ?? noTrace;
    this.parts = {
      config, inputs: this.inputs, catalog: this.catalog, runner: this.runner, traceBuilder: this.traceBuilder, requests: this.requests, models: this.models,
      canonical: this.canonical, blobs: this.blobs, prover: this.prover, fetch: this.fetch, log: this.log,
    };
  }

  /** The address results are signed with. */
  /** Signs a digest with the worker's result key (the FraudGame TraceCommitment, worker/game-answerer.ts). */
  get digestSigner(): { signDigest(digest: Uint8Array): Hex } {
    return { signDigest: (digest) => this.signer.signDigest(digest) };
  }

  get address(): string {
    return this.signer.address;
  }

  /** Starts consuming jobs. Safe to call twice. */
  start(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new OracleError("QUEUE_CLOSED", "the worker is closed"));
    this.starting ??= (async () => {
      this.log.info({ signer: this.address, config: redactWorkerConfig(this.config) }, "worker starting");
      this.subscription = await this.queue.consume<Json>(QUEUES.jobs, (delivery, signal) => this.handle(delivery, signal), {
        // Jobs fetching their inputs hold a delivery but no serve slot (this.serveSlots).
        prefetch: this.config.prefetch + this.config.fetchSlots,
      });
    })();
    return this.starting;
  }

  /**
   * Stops taking jobs, waits for the ones in flight, then releases every session. Safe to call
   * twice; every step runs even if an earlier one fails.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const errors: unknown[] = [];
      await this.starting?.catch(() => undefined);
      try {
        await this.subscription?.cancel();
      } catch (error) {
        errors.push(error);
      }
      try {
        // Results of jobs that finished serving are signed and published before the sessions go.
        await this.results.close();
      } catch (error) {
        errors.push(error);
      }
      try {
        await this.sessions.close();
      } catch (error) {
        errors.push(error);
      }
      try {
        await this.traceBuilder.close?.();
      } catch (error) {
        errors.push(error);
      }
      try {
        await this.prover.close();
      } catch (error) {
        errors.push(error);
      }
      await this.inputs.close().catch((error: unknown) => errors.push(error)); // its log's pending records written
      this.log.info("worker closed");
      if (errors.length > 0) throw new AggregateError(errors, "closing the worker failed");
    })();
    return this.closing;
  }

  /** Handles one delivery; exported for tests and for transports that call it directly. */
  async handle(delivery: Delivery<Json>, signal: AbortSignal): Promise<void> {
    const parsed = WorkerJobSchema.safeParse(delivery.body);
    let inline: Buffer | undefined;
    if (parsed.success && !isEmptyInline(parsed.data.input)) {
      const input = parsed.data.input;
      inline = typeof input === "string" ? decodeHexStrict(input) : asBuffer(input);
    }
    if (!parsed.success || (!isEmptyInline(parsed.data.input) && inline === undefined)) {
      const problems = parsed.success ? [`input: ${HEX_BYTES_MESSAGE}`] : parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      const claimed = typeof delivery.body === "object" && delivery.body !== null && !Array.isArray(delivery.body) ? delivery.body.requestId : undefined;
      // A hostile message can claim anything: log at most a request id's worth of it.
      const requestId = typeof claimed === "string" ? claimed.slice(0, 66) : typeof claimed;
      this.log.warn({ messageId: String(delivery.messageId).slice(0, 128), requestId, problems: problems.slice(0, 10) }, "invalid job message dead-lettered");
      this.metrics.jobs.inc({ outcome: "invalid" });
      throw new InvalidJobError(problems.join("; "), { details: { problems, messageId: delivery.messageId } });
    }
    const job = parsed.data;
    const log = this.log.child({ requestId: job.requestId, delivery: delivery.deliveryCount });
    const domain = this.domains.get(domainKey(BigInt(job.chainId), job.oracle));
    if (domain === undefined) {
      log.warn({ chainId: job.chainId, oracle: job.oracle }, "job for a domain this worker does not sign for; dead-lettered");
      this.metrics.jobs.inc({ outcome: "invalid" });
      throw new DomainNotAllowedError(job.chainId, job.oracle);
    }
    if (this.now() >= job.deadline * 1000) {
      log.warn({ deadline: job.deadline }, "deadline passed; job skipped");
      this.metrics.jobs.inc({ outcome: "expired" });
      return;
    }
    if (job.excludedSigners?.some((a) => a.toLowerCase() === this.address.toLowerCase())) {
      // The oracle already refused this worker's result for this request: another worker serves it.
      return this.passOn(delivery, PASS_ON_DELAY_MS, log, "the oracle refused this worker's result for this request; passing the job on");
    }
    if (this.standing !== undefined && !this.standing.canBack(BigInt(job.chainId), job.oracle)) {
      // The oracle would drop this worker's result (stake below the minimum or no free bond).
      return this.passOn(delivery, UNBACKED_PASS_ON_DELAY_MS, log, "this worker's stake cannot back a result; passing the job on");
    }
    /** Set for a request reopened after an OutputMinor ruling: its output must be the canonical one. */
    let canonical: { afterAttempt: number } | undefined;
    if (this.requests !== undefined) {
      // Nothing is signed for a job the chain does not back (a forged job names a real request id).
      const onChain = await this.requests.request(job.oracle, job.requestId);
      if (onChain.status !== RequestStatus.Requested) {
        log.info({ status: RequestStatus[onChain.status] ?? onChain.status }, "the request is not open on-chain; job skipped");
        this.metrics.jobs.inc({ outcome: "expired" });
        return;
      }
      const problems = jobMismatches(job, onChain);
      if (problems.length > 0) {
        log.warn({ problems }, "job disagrees with the on-chain request; dead-lettered unsigned");
        this.metrics.jobs.inc({ outcome: "invalid" });
        throw new InvalidJobError(`the job's ${problems.join(", ")} does not match the on-chain request`, { details: { problems } });
      }
      // An earlier result on this request was ruled OutputMinor (its fast output beyond τ_out, its canonical
      // trace right): the input drives fast runtimes off the canonical output, so this worker signs the
      // canonical output itself (worker/canonical-output.ts) and the same input cannot cost it the same.
      if (job.tier === Tier.OPTIMISTIC && onChain.attempt > 0 && this.requests.history !== undefined) {
        const afterAttempt = await this.requests.history.outputMinorAttempt(job.oracle, job.requestId, onChain.attempt);
        if (afterAttempt !== undefined) {
          canonical = { afterAttempt };
          log.info({ attempt: onChain.attempt, outputMinorAttempt: afterAttempt }, "reopened after an OutputMinor ruling: serving the canonical output");
        }
      }
    }
    if (!this.groups.claim(job.group, job.requestId)) {
      // A sibling of a redundant job this worker answered (worker/groups.ts): its answer would not count.
      return this.passOn(delivery, UNBACKED_PASS_ON_DELAY_MS, log, "already served a sibling of this redundant job; passing the job on");
    }
    this.metrics.inFlight.inc();
    let releaseSlot: (() => void) | undefined;
    try {
      // The input is fetched first, outside the serve slots: a tarpit inputURI holds only its own job.
      const fetchStarted = performance.now();
      const bytes = await rejectingAs(RejectReason.InputUnavailable, () => fetchJobInput(this.parts, job, inline, signal));
      const fetchMs = ms(fetchStarted);
      releaseSlot = await this.serveSlots.acquire();
      const result = await serve(this.parts, job, bytes, fetchMs, signal, log, canonical !== undefined);
      // The slot is free while the result waits for its batch: other jobs are served meanwhile and join it.
      releaseSlot();
      releaseSlot = undefined;
      await this.results.add(domain, job.chainId, job.oracle, job.payee ?? ZeroAddress, result);
      log.info({ outputHash: result.outputHash, provider: result.provider, timings: result.timings, inline: !isEmptyInline(result.output) }, "result published");
      this.metrics.served(job.modelHash, result.provider, result.timings);
    } catch (error) {
      if (signal.aborted) {
        log.info("job interrupted by shutdown; it will be redelivered");
        throw new OracleError("TIMEOUT", "the worker stopped while serving the job", { cause: error, retryable: true });
      }
      if (error instanceof JobRejection) {
        await this.reject(job, domain, error, log);
        this.metrics.jobs.inc({ outcome: "rejected" });
        return;
      }
      log.warn({ err: error, retryable: !(error instanceof OracleError) || error.retryable }, "job failed");
      this.metrics.jobs.inc({ outcome: "failed" });
      throw error;
    } finally {
      releaseSlot?.();
      this.metrics.inFlight.dec();
    }
  }

  /**
   * The input of a request this worker answered, for a dispute on it: the cache, else refetched (its blob
   * store by hash, then the request's URI) and checked against `inputHash`; undefined when none has it.
   */
  disputeInput(requestId: string, inputHash: string, inputURI: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    return fetchDisputeInput(this.parts, requestId, inputHash, inputURI, signal);
  }

  /** Hands the job to another worker after `delayMs` (the pause keeps a fleet that all pass it from spinning). */
  private async passOn(delivery: Delivery<Json>, delayMs: number, log: Logger, why: string): Promise<void> {
    log.info(why);
    await new Promise((r) => setTimeout(r, delayMs));
    await this.queue.publish(QUEUES.jobs, delivery.body, { messageId: delivery.messageId });
    this.metrics.jobs.inc({ outcome: "passed_on" });
  }

  private async reject(job: Job, domain: TypedDataDomain, rejection: JobRejection, log: Logger): Promise<void> {
    const reason = rejection.reason;
    const message = signedRejection(this.signer, domain, job, rejection);
    await this.queue.publish(QUEUES.results, message as unknown as Json, { messageId: `${job.requestId}:rejection` });
    // The whole story stays here, in the operator's log.
    log.warn({ reason: RejectReason[reason], code: rejection.error.code, message: rejection.error.message, details: rejection.error.details }, "request rejected");
  }
}

const domainKey = (chainId: bigint, oracle: string): string => `${chainId}:${oracle.toLowerCase()}`;

