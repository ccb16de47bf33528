/**
 * Trace commitments (docs/OPTIMISTIC.md). A result commits to `traceRoot`: the tensor hash of the
 * trace manifest, which lists the tensor hash of every operator output in the model commitment's
 * operator order (protocol/trace.ts). `noTrace` commits to 32 zero bytes ("no trace");
 * `FullTraceBuilder` runs the model in a separate trace session with every operator output exposed
 * as a graph output, hashes the tensors, publishes them and the manifest to the blob store, and
 * returns the root together with the traced output: the result must carry the trace's last
 * tensor, which can differ in the last bits from a plain run's (exposing tensors blocks fusions).
 * With a `checkpoint` policy (`trace: "checkpoint"`) the same session fetches, hashes and publishes
 * only the checkpointed tensors; the manifest keeps a zero row for every other one, so checkpoint
 * tensors are byte-identical to the same rows of a full trace. The trace session runs in its own
 * inference thread (worker/ort-thread.ts) unless `threaded: false`.
 */
import { readFile } from "node:fs/promises";
import ort from "onnxruntime-node";
import type { Logger } from "pino";
import { exposeTraceOutputs, type ModelGraph } from "../protocol/commitment.js";
import { BaseError } from "../protocol/errors.js";
import type { Job } from "../protocol/messages.js";
import { encodeTensor, type Tensor } from "../protocol/tensor.js";
import { checkpointIndices, commitCheckpoints, commitTrace, type CheckpointPolicy, type TraceCommitment } from "../protocol/trace.js";
import type { Hex } from "../protocol/types.js";
import { putBlob } from "./blobs.js";
import type { ModelEntry } from "./catalog.js";
import type { ProviderName } from "./config.js";
import { ThreadedSession, type InferenceSessionLike } from "./ort-thread.js";
import { fromOrtTensor, toOrtTensor } from "./runner.js";

export const ZERO_TRACE_ROOT = `0x${"00".repeat(32)}` as Hex;

export interface TraceContext {
  job: Job;
  model: ModelEntry;
  input: Tensor;
  /** The plain run's output and provider; absent when the builder is `standalone` (no plain run). */
  output?: Tensor;
  provider?: ProviderName;
}

export interface TraceOutcome {
  /** The trace root to sign. */
  traceRoot: Hex;
  /** The output the trace commits to (its last tensor); when present, the result must carry it. */
  output?: Tensor;
  /** What the trace cost (ms) and what was committed and published. */
  stats?: { run: number; hash: number; upload: number; committed: number; tensors: number; bytes: number };
}

export interface TraceBuilder {
  /**
   * The builder computes the model output itself and the worker signs that one (a traced run), so
   * the worker skips its plain run: it would only be thrown away.
   */
  readonly standalone?: boolean;
  /** The trace root to sign for this result (after publishing the trace, when there is one). */
  build(context: TraceContext, signal?: AbortSignal): Promise<TraceOutcome>;
  /** Releases sessions; safe to call twice. */
  close?(): Promise<void>;
}

/** Commits to no trace (traceRoot = 0). */
export const noTrace: TraceBuilder = {
  async build() {
    return { traceRoot: ZERO_TRACE_ROOT };
  },
};

export interface TraceSessionSettings {
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "layout" | "all";
  intraOpNumThreads?: number;
  /** Run the trace session in its own inference thread (default true). */
  threaded?: boolean;
}

export interface TraceRun extends TraceCommitment {
  /** The committed trace tensors, in trace order (all of them for a full trace); the last is the model's output. */
  tensors: Tensor[];
  /** Trace index of each of `tensors`. */
  indices: number[];
  timings: { run: number; hash: number };
}

/** An onnxruntime session over the model with every trace tensor exposed (CPU). */
export class TraceSession {
  private constructor(
    readonly graph: ModelGraph,
    private readonly session: InferenceSessionLike,
  ) {}

  /** `modelBytes` is the original file (its sha256 stays the model's identity; the traced bytes are derived). */
  static async open(modelBytes: Uint8Array, settings: TraceSessionSettings = {}): Promise<TraceSession> {
    const { bytes, graph } = exposeTraceOutputs(modelBytes);
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ["cpu"],
      graphOptimizationLevel: settings.graphOptimizationLevel ?? "all",
      ...(settings.intraOpNumThreads === undefined || settings.intraOpNumThreads === 0 ? {} : { intraOpNumThreads: settings.intraOpNumThreads }),
    };
    const session = settings.threaded === false ? await ort.InferenceSession.create(bytes, options) : await ThreadedSession.create(bytes, options);
    return new TraceSession(graph, session);
  }

  /**
   * Runs the traced model. `indices` (ascending, must include the last) selects the trace tensors
   * to fetch and commit (a checkpoint trace); all of them by default (a full trace).
   */
  async run(input: Tensor, indices?: readonly number[]): Promise<TraceRun> {
    const names = this.graph.traceNames;
    const n = names.length;
    const picked = indices === undefined ? names.map((_, i) => i) : [...indices];
    if (picked[picked.length - 1] !== n - 1) throw new RangeError("a checkpoint trace must commit the last trace tensor (the model output)");
    const t0 = performance.now();
    let out: Record<string, ort.Tensor>;
    try {
      out = await this.session.run({ [this.graph.input.name]: toOrtTensor(input) }, picked.map((i) => names[i]!));
    } catch (error) {
      throw new BaseError("INFERENCE_FAILED", `the trace run failed: ${(error as Error).message.slice(0, 1000)}`, { cause: error });
    }
    const t1 = performance.now();
    const tensors = picked.map((i) => fromOrtTensor(out[names[i]!]!));
    const commitment = indices === undefined ? commitTrace(tensors) : commitCheckpoints(n, picked, tensors);
    const t2 = performance.now();
    return { ...commitment, tensors, indices: picked, timings: { run: t1 - t0, hash: t2 - t1 } };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * Uploads every committed trace tensor, then the manifest (so a manifest in the store means its
 * tensors are too). `run.indices[j]` is the trace index of `run.tensors[j]` (all, in order, when absent).
 */
export async function publishTrace(
  blobStoreUrl: string,
  run: Pick<TraceRun, "tensors" | "hashes" | "manifest" | "traceRoot"> & { indices?: readonly number[] },
  options: { timeoutMs: number; concurrency?: number; signal?: AbortSignal },
): Promise<{ bytes: number; blobs: number }> {
  let next = 0;
  let bytes = 0;
  const put = { timeoutMs: options.timeoutMs, ...(options.signal === undefined ? {} : { signal: options.signal }) };
  const lane = async () => {
    while (next < run.tensors.length) {
      const i = next++;
      const encoded = encodeTensor(run.tensors[i]!);
      bytes += encoded.byteLength;
      await putBlob(blobStoreUrl, run.hashes[run.indices?.[i] ?? i]!, encoded, put);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, lane));
  const manifest = encodeTensor(run.manifest);
  await putBlob(blobStoreUrl, run.traceRoot, manifest, put);
  return { bytes: bytes + manifest.byteLength, blobs: run.tensors.length + 1 };
}

export interface FullTraceBuilderOptions {
  /** A verified local path of the model file (the worker's ModelStore.path). */
  modelPath: (modelHash: Hex, uris: readonly string[], signal?: AbortSignal) => Promise<string>;
  settings?: TraceSessionSettings;
  /** Where the trace is published; without one the root is still committed, with a warning. */
  blobStoreUrl?: string;
  timeoutMs?: number;
  uploadConcurrency?: number;
  /** Trace sessions kept open (by model). */
  cacheSize?: number;
  /** Commit only these checkpoints (`trace: "checkpoint"`); a full trace when absent. */
  checkpoint?: CheckpointPolicy;
  logger: Logger;
}

/** Traces every result in full (`trace: "full"`), or its checkpoints when `checkpoint` is set (`trace: "checkpoint"`). */
export class FullTraceBuilder implements TraceBuilder {
  readonly standalone = true;
  private readonly log: Logger;
  private readonly sessions = new Map<string, Promise<TraceSession>>();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: FullTraceBuilderOptions) {
    this.log = options.logger.child({ layer: "trace" });
  }

  private session(model: ModelEntry, signal?: AbortSignal): Promise<TraceSession> {
    const key = model.modelHash.toLowerCase();
    let pending = this.sessions.get(key);
    if (pending === undefined) {
      pending = (async () => TraceSession.open(await readFile(await this.options.modelPath(model.modelHash, model.uris, signal)), this.options.settings))();
      pending.catch(() => this.sessions.delete(key));
      this.sessions.set(key, pending);
      while (this.sessions.size > (this.options.cacheSize ?? 2)) {
        const [oldest, evicted] = this.sessions.entries().next().value as [string, Promise<TraceSession>];
        this.sessions.delete(oldest);
        // Runs hold no lease here: evict only after any run in flight on it has had time to finish.
        void evicted.then((s) => setTimeout(() => void s.release().catch(() => undefined), 60_000).unref()).catch(() => undefined);
      }
    }
    return pending;
  }

  async build(context: TraceContext, signal?: AbortSignal): Promise<TraceOutcome> {
    if (this.closing !== undefined) throw new BaseError("QUEUE_CLOSED", "the trace builder is closed");
    const session = await this.session(context.model, signal);
    signal?.throwIfAborted();
    const indices = this.options.checkpoint === undefined ? undefined : this.checkpoints(session);
    const run = await session.run(context.input, indices);
    const output = run.tensors[run.tensors.length - 1]!;
    let published = { bytes: 0, blobs: 0 };
    const t0 = performance.now();
    if (this.options.blobStoreUrl !== undefined) {
      published = await publishTrace(this.options.blobStoreUrl, run, {
        timeoutMs: this.options.timeoutMs ?? 30_000,
        ...(this.options.uploadConcurrency === undefined ? {} : { concurrency: this.options.uploadConcurrency }),
        ...(signal === undefined ? {} : { signal }),
      });
    } else {
      this.log.warn({ requestId: context.job.requestId }, "trace not published: no blobStoreUrl is set, so nobody can check it");
    }
    const upload = performance.now() - t0;
    this.log.debug(
      { requestId: context.job.requestId, traceRoot: run.traceRoot, tensors: run.tensors.length, runMs: run.timings.run, hashMs: run.timings.hash, uploadMs: upload, ...published },
      "trace committed",
    );
    const stats = { run: run.timings.run, hash: run.timings.hash, upload, committed: run.tensors.length, tensors: run.hashes.length, bytes: published.bytes };
    return { traceRoot: run.traceRoot, output, stats };
  }

  private readonly indexCache = new WeakMap<TraceSession, number[]>();

  private checkpoints(session: TraceSession): number[] {
    let indices = this.indexCache.get(session);
    if (indices === undefined) {
      indices = checkpointIndices(session.graph.traceNames, this.options.checkpoint!);
      this.indexCache.set(session, indices);
    }
    return indices;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const sessions = [...this.sessions.values()];
      this.sessions.clear();
      await Promise.allSettled(sessions.map(async (s) => (await s).release()));
    })();
    return this.closing;
  }
}
