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
 * - an ack without reply when its deadline has passed (nobody could use the answer).
 * Transient failures (a 503 from the input host, RPC trouble, blob store down) throw retryable
 * errors and the queue redelivers the job.
 */
import { getAddress, ZeroAddress, type TypedDataDomain } from "ethers";
import type { Logger } from "pino";
import { oracleDomain } from "../protocol/eip712.js";
import { OracleError, isError } from "../protocol/errors.js";
import { fetchBytes, type FetchBytesOptions } from "../protocol/fetch.js";
import { retry } from "../protocol/retry.js";
import { loadConfig } from "../protocol/config.js";
import { createLogger } from "../protocol/logger.js";
import { WorkerMetrics } from "../protocol/metrics.js";
import { bytesToHex } from "../protocol/merkle.js";
import { BatchItemSchema, JobSchema, MAX_INLINE_TENSOR_BYTES, QUEUES, isEmptyInline, RejectionMessageSchema, type BatchItem, type Job, type RejectionMessage } from "../protocol/messages.js";
import { InputCache } from "./input-cache.js";
import { checkSpec, decodeHeader, decodeTensor, DTYPES, encodeTensor, hashEncoded, tensorHashParts, type Tensor, type TensorData } from "../protocol/tensor.js";
import { bundleEntries, encodeBundleFor, hashBundleEncoded, isTensorBundle, matchBundle } from "../protocol/bundle.js";
import { RejectReason, RequestStatus, Tier, type Hex, type RequestId } from "../protocol/types.js";
import { z } from "zod";
import type { Delivery, JobQueue, Json, Subscription } from "../queue/types.js";
import { putBlob } from "./blobs.js";
import { sizeProof } from "../protocol/largeOutput.js";
import { bytesOf } from "../protocol/envelope.js";
import { BlobAuth } from "../protocol/blobAuth.js";
import { inputSpecsOf, isMultiTensor, outputSpecsOf, type ModelCatalog, type ModelEntry } from "./catalog.js";
import { batchPolicyFor, redactWorkerConfig, WorkerConfigSchema, WORKER_RETIRED_KEYS, type ProviderName, type WorkerConfig, type WorkerConfigInput } from "./config.js";
import { DomainNotAllowedError, InvalidJobError, JobRejection, publicRejectionMessage } from "./errors.js";
import { ModelStore, openPrivately } from "./models.js";
import { jobMismatches, type RequestLookup } from "./requests.js";
import { ProverPool } from "./prover.js";
import { ProviderProber, type BackendInfo } from "./providers.js";
import type { ModelProcessLimits } from "./model-process.js";
import { InferenceRunner } from "./runner.js";
import { SessionCache } from "./sessions.js";
import { Slots } from "./slots.js";
import { FastSigner } from "./signer.js";
import { ResultBatcher } from "./result-batcher.js";
import { noTrace, type TraceBuilder } from "./trace.js";
import { CanonicalOutputs } from "./canonical-output.js";

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

export type StageTimings = Record<"fetch" | "hash" | "decode" | "model" | "lane" | "infer" | "batch" | "trace" | "prove" | "sign" | "upload" | "total", number> &
  Partial<Record<"traceRun" | "traceHash" | "traceUpload", number>>;

/**
 * JobSchema with a cheap check of `input` (prefix and even length): a regex over a 220 KB hex
 * string costs ~0.3-0.5 ms a job. The charset is checked where the hex is decoded (a short decode
 * is the same dead letter with the same message), so the worker accepts exactly what JobSchema does.
 */
const HEX_BYTES_MESSAGE = "expected 0x-prefixed hex bytes";
/** Pause between tries of a transiently failing input fetch (times the attempt number). */
const INPUT_RETRY_DELAY_MS = 250;
/** Pause before passing on a job this worker is excluded from. */
const PASS_ON_DELAY_MS = 50;
/** The pause before passing on a job this worker's stake cannot back: while no worker can, the job circles slowly until one can (or its deadline). */
const UNBACKED_PASS_ON_DELAY_MS = 1000;

/** The input: raw bytes (binary envelope, issue 15: no decode at all) or 0x-hex (a JSON job from before it). */
const WorkerJobSchema = JobSchema.extend({
  input: z.union([
    z.string().refine((s) => s.startsWith("0x") && s.length % 2 === 0, HEX_BYTES_MESSAGE),
    z.custom<Uint8Array>((v) => v instanceof Uint8Array).refine((b) => b.byteLength <= MAX_INLINE_TENSOR_BYTES, `at most ${MAX_INLINE_TENSOR_BYTES} bytes inline`),
  ], { message: `${HEX_BYTES_MESSAGE} or raw bytes` }),
});

/** A Buffer over the same memory (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes 0x-hex; undefined unless every character is a hex digit. */
function decodeHexStrict(hex: string): Buffer | undefined {
  const bytes = Buffer.from(hex.length === 2 ? "" : hex.slice(2), "hex");
  return bytes.byteLength * 2 === hex.length - 2 ? bytes : undefined;
}

/** decodeTensor without its copy when the data already sits aligned for its element type. */
function decodeTensorView(bytes: Buffer): Tensor {
  const h = decodeHeader(bytes);
  const spec = DTYPES[h.dtype];
  const offset = bytes.byteOffset + h.headerBytes;
  if (offset % spec.size !== 0) return decodeTensor(bytes);
  const data = new spec.array(bytes.buffer as ArrayBuffer, offset, h.dataBytes / spec.size) as TensorData;
  return { dtype: h.dtype, shape: h.shape, data };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function ms(since: number): number {
  return round3(performance.now() - since);
}

/** Runs `fn`; a non-retryable OracleError from it becomes a signed rejection for `reason`. */
async function rejectingAs<T>(reason: RejectReason | ((e: OracleError) => RejectReason), fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof OracleError && !error.retryable && !(error instanceof JobRejection)) {
      throw new JobRejection(typeof reason === "function" ? reason(error) : reason, error);
    }
    throw error;
  }
}

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
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

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
    this.requests = options.requests;
    this.standing = options.standing;
    this.serveSlots = new Slots(config.prefetch);
    for (const d of config.allowedOracles) {
      this.domains.set(domainKey(d.chainId, d.oracle), oracleDomain(d.chainId, getAddress(d.oracle)));
    }
    this.canonical = new CanonicalOutputs(config.canonicalOutputMaxMs);
    this.inputs = new InputCache({ dir: config.inputCacheDir, maxBytes: config.inputCacheMaxBytes });
    this.models = new ModelStore({
      http: this.httpPolicy(),
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
  }

  /**
   * What every input and model fetch obeys (protocol/netPolicy.ts): public addresses only, plus the
   * operator's explicit exceptions and its own blob store's origin; redirects re-checked; slow hosts cut off.
   */
  private httpPolicy(): Pick<FetchBytesOptions, "addressPolicy" | "firstByteTimeoutMs" | "minBytesPerSecond"> {
    const c = this.config;
    return {
      addressPolicy: { allowedAddresses: c.fetchAllowedAddresses, trustedOrigins: c.blobStoreUrl === undefined ? [] : [new URL(c.blobStoreUrl).origin] },
      firstByteTimeoutMs: c.fetchFirstByteTimeoutMs,
      minBytesPerSecond: c.fetchMinBytesPerSecond,
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
      // The oracle already refused this worker's result for this request: hand the job to another
      // worker. The pause keeps a fleet of only excluded workers from spinning until the deadline.
      log.info("the oracle refused this worker's result for this request; passing the job on");
      await new Promise((r) => setTimeout(r, PASS_ON_DELAY_MS));
      await this.queue.publish(QUEUES.jobs, delivery.body, { messageId: delivery.messageId });
      this.metrics.jobs.inc({ outcome: "passed_on" });
      return;
    }
    if (this.standing !== undefined && !this.standing.canBack(BigInt(job.chainId), job.oracle)) {
      // The oracle would drop this worker's result (stake below the minimum or no free bond; the
      // stake watch has logged the fix): leave the job to a worker that can back it.
      log.info("this worker's stake cannot back a result; passing the job on");
      await new Promise((r) => setTimeout(r, UNBACKED_PASS_ON_DELAY_MS));
      await this.queue.publish(QUEUES.jobs, delivery.body, { messageId: delivery.messageId });
      this.metrics.jobs.inc({ outcome: "passed_on" });
      return;
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
    this.metrics.inFlight.inc();
    let releaseSlot: (() => void) | undefined;
    try {
      // The input is fetched first, outside the serve slots: a tarpit inputURI holds only its own job.
      const fetchStarted = performance.now();
      const bytes = await rejectingAs(RejectReason.InputUnavailable, () => this.inputBytes(job, inline, signal));
      const fetchMs = ms(fetchStarted);
      releaseSlot = await this.serveSlots.acquire();
      const result = await this.serve(job, bytes, fetchMs, signal, log, canonical !== undefined);
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

  private async serve(job: Job, bytes: Buffer, fetchMs: number, signal: AbortSignal, log: Logger, canonical = false): Promise<BatchItem> {
    const timings: StageTimings = { fetch: fetchMs, hash: 0, decode: 0, model: 0, lane: 0, infer: 0, batch: 0, trace: 0, prove: 0, sign: 0, upload: 0, total: 0 };
    const start = performance.now() - fetchMs;

    let t = performance.now();
    // A bare tensor's hash, or a bundle's (a model with several inputs, docs/PROTOCOL.md "Tensor bundles").
    const inputHash = await rejectingAs(RejectReason.MalformedInput, () => hashBundleEncoded(bytes));
    if (inputHash.toLowerCase() !== job.inputHash.toLowerCase()) {
      throw new JobRejection(
        RejectReason.InputHashMismatch,
        new OracleError("INPUT_HASH_MISMATCH", `the input hashes to ${inputHash}, the request says ${job.inputHash}`, {
          details: { expected: job.inputHash, actual: inputHash },
        }),
      );
    }
    timings.hash = ms(t);
    // An OPTIMISTIC result can be disputed until it settles: its input is kept to answer the game from.
    // The file is written beside the inference (off this thread) and awaited before the result leaves.
    let cached: Promise<void> = Promise.resolve();
    if (job.tier === Tier.OPTIMISTIC) {
      const warn = (error: unknown) => log.warn({ err: error }, "could not cache the input (a dispute would refetch it)");
      try {
        cached = this.inputs.put(job.requestId, inputHash, bytes).catch(warn);
      } catch (error) {
        warn(error);
      }
    }
    const item = await this.serveChecked(job, bytes, timings, start, signal, log, canonical);
    await cached;
    return item;
  }

  /** serve, after the input hash check (and the input cache's write started). */
  private async serveChecked(job: Job, bytes: Buffer, timings: StageTimings, start: number, signal: AbortSignal, log: Logger, canonical: boolean): Promise<BatchItem> {
    let t = performance.now();
    const model: ModelEntry = await rejectingAs(RejectReason.ModelUnavailable, () => this.catalog.getModel(job.modelHash as Hex, signal));
    if (isMultiTensor(model)) return this.serveNamed(job, bytes, model, timings, start, signal, log);
    // A bundle sent to a one-input model: not of the model's type (a bare tensor is).
    if (isTensorBundle(bytes)) await rejectingAs(RejectReason.SpecMismatch, () => matchBundle(bundleEntries(bytes), inputSpecsOf(model)));
    const input = await rejectingAs(RejectReason.MalformedInput, () => decodeTensorView(bytes));
    try {
      checkSpec(input, model.input, "input");
    } catch (error) {
      // The input's header and data root hash to the request's inputHash and show the mismatch: the
      // rejection carries them, so the oracle refunds at once instead of waiting for a quorum.
      if (error instanceof OracleError) throw new JobRejection(RejectReason.SpecMismatch, error, tensorHashParts(bytes));
      throw error;
    }
    timings.decode = ms(t);
    const zk = job.tier === Tier.ZK ? this.zkArtifacts(job.modelHash) : undefined;

    // A model that cannot be fetched, verified or loaded is unavailable; a run that fails is an inference failure.
    // A model process killed at its memory or time limit fails this request (InferenceFailed, MODEL_RESOURCE_LIMIT).
    const runFailure = (e: OracleError) =>
      e.code === "MODEL_RESOURCE_LIMIT" || (e.code === "INFERENCE_FAILED" && e.details.stage !== "load") ? RejectReason.InferenceFailed : RejectReason.ModelUnavailable;
    // No trace is built for any result (trace on demand: a dispute asks for it). The output hook
    // (worker/trace.ts, fault injection only) applies to OPTIMISTIC results.
    const traced = job.tier === Tier.OPTIMISTIC;
    const traceBuilder = traced ? this.traceBuilder : noTrace;
    // A standalone trace builder's traced run is the result (the plain run would be thrown away).
    if (canonical) {
      const t0 = performance.now();
      const computed = await rejectingAs(RejectReason.InferenceFailed, () => this.canonicalOutput(job, model, input, signal));
      timings.infer = ms(t0);
      await rejectingAs(RejectReason.InferenceFailed, () => checkSpec(computed, model.output, "canonical output"));
      // No fast runtime runs, so the output hook (fault injection standing in for a fast runtime's output) has nothing to alter.
      const encoded = encodeTensor(computed);
      return this.publish(job, encoded, hashEncoded(encoded), "cpu", undefined, timings, start, signal, log);
    }
    const run = traceBuilder.standalone === true
      ? undefined
      : await rejectingAs(runFailure, () =>
          // ZK-tier runs are computed alone (the circuit must reproduce the output bit for bit).
          this.runner.run(job.modelHash as Hex, input, signal, log, { batchable: job.tier !== Tier.ZK }),
        );
    let output: Tensor | undefined = run?.output;
    if (run !== undefined) {
      timings.model = run.timings.model;
      timings.lane = run.timings.lane;
      timings.infer = run.timings.infer;
      timings.batch = run.timings.batch;
      await rejectingAs(RejectReason.InferenceFailed, () => checkSpec(run.output, model.output, "output"));
    }

    t = performance.now();
    const trace = await rejectingAs(runFailure, () =>
      // A traced run may share a batch (its trace is then item i of the batch's); a ZK-tier one runs alone.
      traceBuilder.build({ job, model, input, batchable: job.tier !== Tier.ZK, ...(run === undefined ? {} : { output: run.output, provider: run.provider }) }, signal),
    );
    if (trace.output !== undefined) {
      output = trace.output;
      await rejectingAs(RejectReason.InferenceFailed, () => checkSpec(trace.output!, model.output, "traced output"));
    }
    if (output === undefined) throw new OracleError("INFERENCE_FAILED", "the standalone trace builder returned no output");
    timings.trace = ms(t);

    t = performance.now();
    const encoded = encodeTensor(output);
    const outputHash = hashEncoded(encoded);
    timings.hash += ms(t);

    let proof: Hex | undefined;
    if (zk !== undefined) {
      // timings.prove: the proof itself on its thread (waiting for a free prover thread is not counted).
      const proven = await this.prove(zk, bytes.subarray(bytes.byteLength - input.data.byteLength), encoded, signal);
      proof = proven.proof;
      timings.prove = Math.round(proven.ms * 1000) / 1000;
    }

    return this.publish(job, encoded, outputHash, run?.provider ?? "cpu", proof, timings, start, signal, log);
  }

  /**
   * Serves a model with several named inputs or outputs (issue 14): the input is a bundle (or a bare
   * tensor for a one-input model) matched by name against the registry's specs, every input is fed and
   * every output returned, as a bundle (or bare for a one-output model). Served in NONE only: such
   * models are not traced or proven (no OPTIMISTIC or ZK registration is offered for them).
   */
  private async serveNamed(job: Job, bytes: Buffer, model: ModelEntry, timings: StageTimings, start: number, signal: AbortSignal, log: Logger): Promise<BatchItem> {
    let t = performance.now();
    const entries = await rejectingAs(RejectReason.MalformedInput, () => bundleEntries(bytes));
    const matched = await rejectingAs(RejectReason.SpecMismatch, () => matchBundle(entries, inputSpecsOf(model)));
    const feeds = await rejectingAs(RejectReason.MalformedInput, () => new Map([...matched].map(([name, e]) => [name, decodeTensorView(e.encoded)])));
    timings.decode = ms(t);
    if (job.tier !== Tier.NONE) {
      throw new JobRejection(
        RejectReason.InferenceFailed,
        new OracleError("OP_UNSUPPORTED", `model ${job.modelHash} has several inputs or outputs: it is served in NONE only (tier ${Tier[job.tier]} asked)`, { details: { tier: job.tier, servedIn: "NONE" } }),
      );
    }
    const runFailure = (e: OracleError) =>
      e.code === "MODEL_RESOURCE_LIMIT" || (e.code === "INFERENCE_FAILED" && e.details.stage !== "load") ? RejectReason.InferenceFailed : RejectReason.ModelUnavailable;
    const run = await rejectingAs(runFailure, () => this.runner.runNamed(job.modelHash as Hex, feeds, signal, log));
    timings.model = run.timings.model;
    timings.lane = run.timings.lane;
    timings.infer = run.timings.infer;
    timings.batch = run.timings.batch;
    const specs = outputSpecsOf(model);
    // Every output the registry names, checked by name (one unnamed output: the model's only one).
    const outputs = new Map<string, Tensor>();
    for (const spec of specs) {
      const tensor = spec.name === "" && specs.length === 1 && run.outputs.size === 1 ? [...run.outputs.values()][0] : run.outputs.get(spec.name);
      if (tensor === undefined) {
        throw new JobRejection(RejectReason.InferenceFailed, new OracleError("INFERENCE_FAILED", `the model produced no output "${spec.name}" (it produced ${[...run.outputs.keys()].join(", ")})`));
      }
      await rejectingAs(RejectReason.InferenceFailed, () => checkSpec(tensor, spec, `output "${spec.name}"`));
      outputs.set(spec.name, tensor);
    }
    t = performance.now();
    const encoded = encodeBundleFor(outputs, specs);
    const outputHash = hashBundleEncoded(encoded);
    timings.hash += ms(t);
    return this.publish(job, encoded, outputHash, run.provider, undefined, timings, start, signal, log);
  }

  /**
   * Puts a large output in the blob store and builds the checked batch item. It is signed with the others
   * of its batch (worker/result-batcher.ts): timings.sign stays 0 per result.
   */
  /** The model's canonical output on `input` at its registered precision (a request reopened after an OutputMinor ruling). */
  private async canonicalOutput(job: Job, model: ModelEntry, input: Tensor, signal: AbortSignal): Promise<Tensor> {
    const precision = await this.requests!.history!.precision(job.oracle, job.modelHash);
    if (precision === undefined) throw new OracleError("OP_UNSUPPORTED", `model ${job.modelHash} has no canonical terms: its canonical output cannot be computed`);
    const path = await this.models.path(job.modelHash as Hex, model.uris, signal);
    return (await this.canonical.output(job.modelHash as Hex, path, input, precision)).output;
  }

  private async publish(job: Job, encoded: Buffer, outputHash: Hex, provider: ProviderName, proof: Hex | undefined, timings: StageTimings, start: number, signal: AbortSignal, log: Logger): Promise<BatchItem> {
    const t = performance.now();
    // The output travels as raw bytes (binary envelope, issue 15): no hex of it on the worker.
    let output: Buffer = encoded;
    if (encoded.byteLength > this.config.maxInlineOutputBytes) {
      if (this.config.blobStoreUrl !== undefined) {
        const url = await putBlob(this.config.blobStoreUrl, outputHash, encoded, { timeoutMs: this.config.fetchTimeoutMs, signal, auth: this.blobAuth });
        log.debug({ url, bytes: encoded.byteLength }, "output stored in the blob store");
        // Hash only: its size proof ("VIOH" || header || dataRoot, per tensor for a bundle) lets the relayer
        // deliver it as such to a request whose maxInlineOutput it exceeds (docs/PROTOCOL.md "Large outputs").
        output = bytesOf(sizeProof(encoded));
      } else {
        log.warn({ bytes: encoded.byteLength, max: this.config.maxInlineOutputBytes }, "output exceeds maxInlineOutputBytes but no blobStoreUrl is set; sending it inline");
      }
    }
    timings.upload = ms(t);
    timings.total = ms(start);

    // Checked against the schema like any reply, except the output bytes, which encodeTensor just
    // produced; only their size limit is checked here. The relayer validates the whole message on receipt.
    if (output.byteLength > MAX_INLINE_TENSOR_BYTES) {
      throw new OracleError("PAYLOAD_TOO_LARGE", `the output is ${encoded.byteLength} bytes, more than ${MAX_INLINE_TENSOR_BYTES} inline`);
    }
    const checked = BatchItemSchema.parse({
      requestId: job.requestId,
      modelHash: job.modelHash,
      inputHash: job.inputHash,
      outputHash,
      output: "0x",
      // The trace session runs on the CPU provider.
      provider,
      timings,
      observedAt: job.observedAt,
      ...(proof === undefined ? {} : { proof }),
    } satisfies BatchItem);
    return { ...checked, output };
  }

  /** The configured ZK artifacts for a ZK-tier job's model; without them the job is left for another worker. */
  private zkArtifacts(modelHash: string): { wasm: string; zkey: string } {
    const entry = this.config.zk.find((z) => z.modelHash.toLowerCase() === modelHash.toLowerCase());
    if (entry === undefined) {
      throw new OracleError("ZK_ARTIFACTS_MISSING", `this worker has no ZK artifacts for model ${modelHash}`, { retryable: true, details: { modelHash } });
    }
    return entry;
  }

  /**
   * Proves output = model(input) on the prover threads and checks that the circuit computed the very
   * output onnxruntime did (they agree bit for bit by construction; a mismatch is a failed inference).
   */
  private async prove(zk: { wasm: string; zkey: string }, inputData: Buffer, encodedOutput: Buffer, signal: AbortSignal): Promise<{ proof: Hex; ms: number }> {
    const header = decodeHeader(encodedOutput);
    const outputData = encodedOutput.subarray(header.headerBytes);
    const proven = await rejectingAs(RejectReason.InferenceFailed, () =>
      this.prover.prove({ ...zk, inputData, outputBytes: outputData.byteLength, signal }),
    );
    if (!Buffer.from(proven.outputData).equals(outputData)) {
      throw new JobRejection(
        RejectReason.InferenceFailed,
        new OracleError("INFERENCE_FAILED", "the circuit's output differs from onnxruntime's", { details: { stage: "prove" } }),
      );
    }
    return { proof: proven.proof as Hex, ms: proven.ms };
  }

  /**
   * The input of a request this worker answered, for a dispute on it: the cache, else refetched (its blob
   * store by hash, then the request's URI) and checked against `inputHash`; undefined when none has it.
   */
  async disputeInput(requestId: string, inputHash: string, inputURI: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const cached = this.inputs.get(requestId);
    if (cached !== undefined) return cached;
    const sources = [
      ...(this.config.blobStoreUrl === undefined ? [] : [{ uri: `${this.config.blobStoreUrl.replace(/\/+$/, "")}/blobs/${inputHash}`, schemes: ["http", "https"] as const }]),
      ...(inputURI === "" ? [] : [{ uri: inputURI, schemes: this.config.inputSchemes }]),
    ];
    for (const s of sources) {
      try {
        const bytes = await this.fetch(s.uri, { ...this.httpPolicy(), maxBytes: this.config.maxInputBytes, timeoutMs: this.config.fetchTimeoutMs, schemes: [...s.schemes], ...(signal === undefined ? {} : { signal }) });
        if (hashEncoded(bytes).toLowerCase() !== inputHash.toLowerCase()) {
          this.log.warn({ requestId, uri: s.uri }, "a refetched input does not hash to the request's inputHash");
          continue;
        }
        await this.inputs.put(requestId, inputHash, bytes).catch((error: unknown) => this.log.warn({ err: error, requestId }, "could not cache a refetched input"));
        return bytes;
      } catch (error) {
        this.log.warn({ err: error, requestId, uri: s.uri }, "refetching a disputed request's input failed");
      }
    }
    return undefined;
  }

  private async inputBytes(job: Job, inline: Buffer | undefined, signal: AbortSignal): Promise<Buffer> {
    const max = this.config.maxInputBytes;
    if (inline !== undefined) {
      const size = inline.byteLength;
      if (size > max) {
        throw new OracleError("PAYLOAD_TOO_LARGE", `the inline input is ${size} bytes, more than the limit of ${max}`, { details: { size, maxBytes: max } });
      }
      return inline;
    }
    if (job.inputURI === "") {
      throw new OracleError("INPUT_UNAVAILABLE", "the job has neither an inline input nor an inputURI");
    }
    // A transient failure (5xx, 429, refused, reset) is tried again here, a few times; a host too
    // slow for the limits (a tarpit) is not. Either way the outcome is one signed rejection, never
    // a redelivery that would hold a slot again for the same input (issue 13, finding 8). A shutdown
    // (signal aborted) is retried by redelivery: the input was never judged.
    return retry(() => this.fetch(job.inputURI, { ...this.httpPolicy(), maxBytes: max, timeoutMs: this.config.fetchTimeoutMs, signal, schemes: this.config.inputSchemes }), {
      attempts: this.config.fetchAttempts,
      delayMs: (attempt) => INPUT_RETRY_DELAY_MS * attempt,
      retryIf: (error) => (error instanceof OracleError ? error.retryable && !isError(error, "TIMEOUT") : true),
      signal,
      giveUp: (error, attempts) => {
        if (signal.aborted || (error instanceof OracleError && !error.retryable)) return error;
        return new OracleError("INPUT_UNAVAILABLE", (error as Error).message, {
          cause: error,
          details: { ...(error instanceof OracleError ? error.details : {}), attempts },
          retryable: false,
        });
      },
    });
  }

  private async reject(job: Job, domain: TypedDataDomain, rejection: JobRejection, log: Logger): Promise<void> {
    const reason = rejection.reason;
    const signature = this.signer.signRejection(domain, { requestId: job.requestId as RequestId, reason });
    const message: RejectionMessage = RejectionMessageSchema.parse({
      kind: "rejection",
      chainId: job.chainId,
      oracle: job.oracle,
      requestId: job.requestId,
      reason,
      code: rejection.error.code,
      // Public: generic where the detail would reflect the worker's files or internal hosts (worker/errors.ts).
      message: publicRejectionMessage(rejection.error, isEmptyInline(job.input) ? "fetched" : "inline"),
      signer: this.signer.address,
      signature,
      observedAt: job.observedAt,
      ...(rejection.inputProof === undefined ? {} : { inputHeader: rejection.inputProof.header, inputDataRoot: rejection.inputProof.dataRoot }),
    } satisfies RejectionMessage);
    await this.queue.publish(QUEUES.results, message as unknown as Json, { messageId: `${job.requestId}:rejection` });
    // The whole story stays here, in the operator's log.
    log.warn({ reason: RejectReason[reason], code: rejection.error.code, message: rejection.error.message, details: rejection.error.details }, "request rejected");
  }
}

/** The limits each model's process runs under (worker/model-process.ts), from the config. */
export function modelProcessLimits(config: WorkerConfig, onKill?: ModelProcessLimits["onKill"]): ModelProcessLimits {
  return {
    ...(onKill === undefined ? {} : { onKill }),
    memoryBytes: config.modelMemoryLimitMb * MiB,
    runTimeoutMs: config.modelRunTimeoutMs,
    loadTimeoutMs: config.modelLoadTimeoutMs,
    addressSpaceBytes: config.modelAddressSpaceLimitMb * MiB,
    // The same cap, enforced by the kernel (RLIMIT_DATA) where prlimit is installed.
    dataBytes: config.modelMemoryLimitMb * MiB,
    pollMs: config.modelMemoryPollMs,
  };
}

const MiB = 1024 * 1024;

function domainKey(chainId: bigint, oracle: string): string {
  return `${chainId}:${oracle.toLowerCase()}`;
}

