/**
 * The serve stages of one job (worker/worker.ts runs them once its input is fetched): hash and cache the
 * input, decode it against the model's spec, run the model (or the canonical runtime for a request reopened
 * after an OutputMinor ruling), build the trace hook's output, prove (ZK tier), then put a large output in
 * the blob store and build the checked batch item. A request at fault becomes a JobRejection for a signed
 * rejection; anything else is thrown as is (retryable or not).
 */
import type { Logger } from "pino";
import {
  OracleError,
  sizeProof,
  bytesOf,
  type BlobClient,
  BatchItemSchema,
  MAX_INLINE_TENSOR_BYTES,
  type BatchItem,
  type Job,
  checkSpec,
  decodeHeader,
  decodeTensor,
  DTYPES,
  encodeTensor,
  hashEncoded,
  tensorHashParts,
  type Tensor,
  type TensorData,
  bundleEntries,
  encodeBundleFor,
  hashBundleEncoded,
  isTensorBundle,
  matchBundle,
  RejectReason,
  Tier,
  type Hex,
} from "../protocol/index.js";
import { inputSpecsOf, isMultiTensor, outputSpecsOf, type ModelCatalog, type ModelEntry } from "./catalog.js";
import type { ProviderName, WorkerConfig } from "./config.js";
import { JobRejection } from "./errors.js";
import type { InputCache } from "./input-cache.js";
import type { ModelStore } from "./models.js";
import type { RequestLookup } from "./requests.js";
import type { ProverPool } from "./prover.js";
import type { InferenceRunner } from "./runner.js";
import { noTrace, type TraceBuilder } from "./trace.js";
import type { CanonicalOutputs } from "./canonical-output.js";

export type StageTimings = Record<"fetch" | "hash" | "decode" | "model" | "lane" | "infer" | "batch" | "trace" | "prove" | "sign" | "upload" | "total", number> &
  Partial<Record<"traceRun" | "traceHash" | "traceUpload", number>>;

/** What the serve stages use of the worker. */
export interface ServeContext {
  readonly config: WorkerConfig;
  /** The inputs of OPTIMISTIC results, kept until they settle. */
  readonly inputs: InputCache;
  readonly catalog: ModelCatalog;
  readonly runner: InferenceRunner;
  readonly traceBuilder: TraceBuilder;
  readonly requests: RequestLookup | undefined;
  readonly models: ModelStore;
  readonly canonical: CanonicalOutputs;
  /** The blob store's client (protocol/blob-client.ts), signing as this worker; it has no store without a blobStoreUrl. */
  readonly blobs: BlobClient;
  readonly prover: ProverPool;
}

/** decodeTensor without its copy when the data already sits aligned for its element type. */
export function decodeTensorView(bytes: Buffer): Tensor {
  const h = decodeHeader(bytes);
  const spec = DTYPES[h.dtype];
  const offset = bytes.byteOffset + h.headerBytes;
  if (offset % spec.size !== 0) return decodeTensor(bytes);
  const data = new spec.array(bytes.buffer as ArrayBuffer, offset, h.dataBytes / spec.size) as TensorData;
  return { dtype: h.dtype, shape: h.shape, data };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function ms(since: number): number {
  return round3(performance.now() - since);
}

/**
 * A model that cannot be fetched, verified or loaded is unavailable; a run that fails is an inference failure.
 * A model process killed at its memory or time limit fails this request (InferenceFailed, MODEL_RESOURCE_LIMIT).
 */
function runFailure(e: OracleError): RejectReason {
  return e.code === "MODEL_RESOURCE_LIMIT" || (e.code === "INFERENCE_FAILED" && e.details.stage !== "load") ? RejectReason.InferenceFailed : RejectReason.ModelUnavailable;
}

/** Runs `fn`; a non-retryable OracleError from it becomes a signed rejection for `reason`. */
export async function rejectingAs<T>(reason: RejectReason | ((e: OracleError) => RejectReason), fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof OracleError && !error.retryable && !(error instanceof JobRejection)) {
      throw new JobRejection(typeof reason === "function" ? reason(error) : reason, error);
    }
    throw error;
  }
}

export async function serve(ctx: ServeContext, job: Job, bytes: Buffer, fetchMs: number, signal: AbortSignal, log: Logger, canonical = false): Promise<BatchItem> {
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
      cached = ctx.inputs.put(job.requestId, inputHash, bytes).catch(warn);
    } catch (error) {
      warn(error);
    }
  }
  const item = await serveChecked(ctx, job, bytes, timings, start, signal, log, canonical);
  await cached;
  return item;
}

/** serve, after the input hash check (and the input cache's write started). */
export async function serveChecked(ctx: ServeContext, job: Job, bytes: Buffer, timings: StageTimings, start: number, signal: AbortSignal, log: Logger, canonical: boolean): Promise<BatchItem> {
  let t = performance.now();
  const model: ModelEntry = await rejectingAs(RejectReason.ModelUnavailable, () => ctx.catalog.getModel(job.modelHash as Hex, signal));
  if (isMultiTensor(model)) return serveNamed(ctx, job, bytes, model, timings, start, signal, log);
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
  const zk = job.tier === Tier.ZK ? zkArtifacts(ctx, job.modelHash) : undefined;

  // No trace is built for any result (trace on demand: a dispute asks for it). The output hook
  // (worker/trace.ts, fault injection only) applies to OPTIMISTIC results.
  const traced = job.tier === Tier.OPTIMISTIC;
  const traceBuilder = traced ? ctx.traceBuilder : noTrace;
  // A standalone trace builder's traced run is the result (the plain run would be thrown away).
  if (canonical) {
    const t0 = performance.now();
    const computed = await rejectingAs(RejectReason.InferenceFailed, () => canonicalOutput(ctx, job, model, input, signal));
    timings.infer = ms(t0);
    await rejectingAs(RejectReason.InferenceFailed, () => checkSpec(computed, model.output, "canonical output"));
    // No fast runtime runs, so the output hook (fault injection standing in for a fast runtime's output) has nothing to alter.
    const encoded = encodeTensor(computed);
    return publish(ctx, job, encoded, hashEncoded(encoded), "cpu", undefined, timings, start, signal, log);
  }
  const run = traceBuilder.standalone === true
    ? undefined
    : await rejectingAs(runFailure, () =>
        // ZK-tier runs are computed alone (the circuit must reproduce the output bit for bit).
        ctx.runner.run(job.modelHash as Hex, input, signal, log, { batchable: job.tier !== Tier.ZK }),
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
    const proven = await prove(ctx, zk, bytes.subarray(bytes.byteLength - input.data.byteLength), encoded, signal);
    proof = proven.proof;
    timings.prove = Math.round(proven.ms * 1000) / 1000;
  }

  return publish(ctx, job, encoded, outputHash, run?.provider ?? "cpu", proof, timings, start, signal, log);
}

/**
 * Serves a model with several named inputs or outputs: the input is a bundle (or a bare
 * tensor for a one-input model) matched by name against the registry's specs, every input is fed and
 * every output returned, as a bundle (or bare for a one-output model). Served in NONE and OPTIMISTIC (a
 * dispute proves bundle members: FraudGame.openBundle); never ZK (no ZK registration is offered for them).
 */
export async function serveNamed(ctx: ServeContext, job: Job, bytes: Buffer, model: ModelEntry, timings: StageTimings, start: number, signal: AbortSignal, log: Logger): Promise<BatchItem> {
  let t = performance.now();
  const entries = await rejectingAs(RejectReason.MalformedInput, () => bundleEntries(bytes));
  const matched = await rejectingAs(RejectReason.SpecMismatch, () => matchBundle(entries, inputSpecsOf(model)));
  const feeds = await rejectingAs(RejectReason.MalformedInput, () => new Map([...matched].map(([name, e]) => [name, decodeTensorView(e.encoded)])));
  timings.decode = ms(t);
  if (job.tier === Tier.ZK) {
    throw new JobRejection(
      RejectReason.InferenceFailed,
      new OracleError("TIER_UNSUPPORTED", `model ${job.modelHash} has several inputs or outputs: it is served in NONE and OPTIMISTIC, not ZK (tier ${Tier[job.tier]} asked)`, { details: { tier: job.tier, servedIn: "NONE+OPTIMISTIC" } }),
    );
  }
  const run = await rejectingAs(runFailure, () => ctx.runner.runNamed(job.modelHash as Hex, feeds, signal, log));
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
  return publish(ctx, job, encoded, outputHash, run.provider, undefined, timings, start, signal, log);
}

/** The model's canonical output on `input` at its registered precision (a request reopened after an OutputMinor ruling). */
export async function canonicalOutput(ctx: ServeContext, job: Job, model: ModelEntry, input: Tensor, signal: AbortSignal): Promise<Tensor> {
  const precision = await ctx.requests!.history!.precision(job.oracle, job.modelHash);
  if (precision === undefined) throw new OracleError("MODEL_NOT_DISPUTABLE", `model ${job.modelHash} has no canonical terms: its canonical output cannot be computed`);
  const path = await ctx.models.path(job.modelHash as Hex, model.uris, signal);
  return (await ctx.canonical.output(job.modelHash as Hex, path, input, precision)).output;
}

/**
 * Puts a large output in the blob store and builds the checked batch item. It is signed with the others
 * of its batch (worker/result-batcher.ts): timings.sign stays 0 per result.
 */
export async function publish(ctx: ServeContext, job: Job, encoded: Buffer, outputHash: Hex, provider: ProviderName, proof: Hex | undefined, timings: StageTimings, start: number, signal: AbortSignal, log: Logger): Promise<BatchItem> {
  const t = performance.now();
  // The output travels as raw bytes (binary envelope): no hex of it on the worker.
  let output: Buffer = encoded;
  if (encoded.byteLength > ctx.config.maxInlineOutputBytes) {
    if (ctx.blobs.storeUrl !== undefined) {
      const { uri } = await ctx.blobs.upload(encoded, { hash: outputHash, verified: true, signal });
      log.debug({ uri, bytes: encoded.byteLength }, "output stored in the blob store");
      // Hash only: its size proof ("VIOH" || header || dataRoot, per tensor for a bundle) lets the relayer
      // deliver it as such to a request whose maxInlineOutput it exceeds (docs/PROTOCOL.md "Large outputs").
      output = bytesOf(sizeProof(encoded));
    } else {
      log.warn({ bytes: encoded.byteLength, max: ctx.config.maxInlineOutputBytes }, "output exceeds maxInlineOutputBytes but no blobStoreUrl is set; sending it inline");
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
export function zkArtifacts(ctx: ServeContext, modelHash: string): { wasm: string; zkey: string } {
  const entry = ctx.config.zk.find((z) => z.modelHash.toLowerCase() === modelHash.toLowerCase());
  if (entry === undefined) {
    throw new OracleError("ZK_ARTIFACTS_MISSING", `this worker has no ZK artifacts for model ${modelHash}`, { retryable: true, details: { modelHash } });
  }
  return entry;
}

/**
 * Proves output = model(input) on the prover threads and checks that the circuit computed the very
 * output onnxruntime did (they agree bit for bit by construction; a mismatch is a failed inference).
 */
export async function prove(ctx: ServeContext, zk: { wasm: string; zkey: string }, inputData: Buffer, encodedOutput: Buffer, signal: AbortSignal): Promise<{ proof: Hex; ms: number }> {
  const header = decodeHeader(encodedOutput);
  const outputData = encodedOutput.subarray(header.headerBytes);
  const proven = await rejectingAs(RejectReason.InferenceFailed, () =>
    ctx.prover.prove({ ...zk, inputData, outputBytes: outputData.byteLength, signal }),
  );
  if (!Buffer.from(proven.outputData).equals(outputData)) {
    throw new JobRejection(
      RejectReason.InferenceFailed,
      new OracleError("INFERENCE_FAILED", "the circuit's output differs from onnxruntime's", { details: { stage: "prove" } }),
    );
  }
  return { proof: proven.proof as Hex, ms: proven.ms };
}
