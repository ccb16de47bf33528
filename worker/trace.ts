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
 *
 * Batched traces: with a batch policy for the model (`batching`), concurrent traced jobs for it
 * with same-shape batch-1 inputs share one run of the trace session through an InferenceLane
 * (worker/batcher.ts). Each request's trace is item i of every batch-major float tensor (a view,
 * hashed and published from the batch's buffer); every other tensor (Shape outputs, shape
 * arithmetic, Reshape targets...) is taken from a batch-1 traced run of the same input shape, made
 * once per shape when the first batch of that shape runs (TraceBatchPlan). A trace the challenger
 * checks as honest (docs/OPTIMISTIC.md, "Batched traces"). A model whose trace does not split that
 * way is traced one request at a time from then on (logged once).
 */
import { readFile } from "node:fs/promises";
import ort from "onnxruntime-node";
import type { Logger } from "pino";
import { exposeTraceOutputs, type ModelGraph } from "../protocol/commitment.js";
import { BaseError } from "../protocol/errors.js";
import { withPrivateModelFile } from "../protocol/modelSafety.js";
import type { Job } from "../protocol/messages.js";
import { encodeTensor, numel, type DType, type Tensor, type TensorData } from "../protocol/tensor.js";
import { checkpointIndices, commitCheckpoints, commitTrace, type CheckpointPolicy, type TraceCommitment } from "../protocol/trace.js";
import type { Hex } from "../protocol/types.js";
import { putBlob } from "./blobs.js";
import type { ModelEntry } from "./catalog.js";
import type { ProviderName } from "./config.js";
import { LaneSet, NO_BATCHING, type BatchPolicy, type LaneBackend } from "./batcher.js";
import { ThreadedSession, type InferenceSessionLike } from "./ort-thread.js";
import { ProcessSession, type ModelProcessLimits } from "./model-process.js";
import { fromOrtTensor, toOrtTensor } from "./runner.js";
import type { BlobAuth } from "../protocol/blobAuth.js";

export const ZERO_TRACE_ROOT = `0x${"00".repeat(32)}` as Hex;

export interface TraceContext {
  job: Job;
  model: ModelEntry;
  input: Tensor;
  /** The plain run's output and provider; absent when the builder is `standalone` (no plain run). */
  output?: Tensor;
  provider?: ProviderName;
  /** May this request's traced run share a batch with others (false for the ZK tier)? Default true. */
  batchable?: boolean;
}

export interface TraceOutcome {
  /** The trace root to sign. */
  traceRoot: Hex;
  /** The output the trace commits to (its last tensor); when present, the result must carry it. */
  output?: Tensor;
  /** What the trace cost (ms) and what was committed and published. */
  stats?: { run: number; hash: number; upload: number; committed: number; tensors: number; bytes: number; batch?: number; queued?: number };
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
  /** Run the trace session in a model process of its own under these limits (worker/model-process.ts); takes precedence over `threaded`. */
  process?: ModelProcessLimits;
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
    // From a path in a private empty folder, never from bytes: onnxruntime resolves a model's relative
    // paths against the working directory of a model loaded from bytes (protocol/modelSafety.ts).
    const session = await withPrivateModelFile<InferenceSessionLike>(bytes, async (path) =>
      settings.process !== undefined
        ? await ProcessSession.create(path, options, settings.process)
        : settings.threaded === false
          ? await ort.InferenceSession.create(path, options)
          : await ThreadedSession.create(path, options),
    );
    return new TraceSession(graph, session);
  }

  /**
   * Runs the traced model. `indices` (ascending, must include the last) selects the trace tensors
   * to fetch and commit (a checkpoint trace); all of them by default (a full trace).
   */
  async run(input: Tensor, indices?: readonly number[]): Promise<TraceRun> {
    const fetched = await this.fetch(input, indices);
    const t1 = performance.now();
    const commitment = this.commit(fetched.tensors, indices === undefined ? undefined : fetched.indices);
    const t2 = performance.now();
    return { ...commitment, tensors: fetched.tensors, indices: fetched.indices, timings: { run: fetched.run, hash: t2 - t1 } };
  }

  /** False once its model process was killed (a memory or time limit): the builder opens a new one. */
  get alive(): boolean {
    return this.session.alive !== false;
  }

  /** Runs the traced model on `input` (one request or a batch) and returns the selected trace tensors, unhashed. */
  async fetch(input: Tensor, indices?: readonly number[]): Promise<FetchedTrace> {
    const names = this.graph.traceNames;
    const n = names.length;
    const picked = indices === undefined ? names.map((_, i) => i) : [...indices];
    if (picked[picked.length - 1] !== n - 1) throw new RangeError("a checkpoint trace must commit the last trace tensor (the model output)");
    const t0 = performance.now();
    let out: Record<string, ort.Tensor>;
    try {
      out = await this.session.run({ [this.graph.input.name]: toOrtTensor(input) }, picked.map((i) => names[i]!));
    } catch (error) {
      if (error instanceof BaseError && error.code === "MODEL_RESOURCE_LIMIT") throw error;
      throw new BaseError("INFERENCE_FAILED", `the trace run failed: ${(error as Error).message.slice(0, 1000)}`, { cause: error });
    }
    const t1 = performance.now();
    return { tensors: picked.map((i) => fromOrtTensor(out[names[i]!]!)), indices: picked, run: t1 - t0 };
  }

  /** Commits `tensors` (trace tensors `indices`; all of them, a full trace, when absent). */
  commit(tensors: readonly Tensor[], indices?: readonly number[]): TraceCommitment {
    return indices === undefined ? commitTrace(tensors) : commitCheckpoints(this.graph.traceNames.length, indices, tensors);
  }

  private derived: boolean[] | undefined;

  /**
   * Per trace tensor: does its value depend on the input's shape alone (not its values)? True for
   * Shape and Size outputs and for any operator whose inputs are all weights or such tensors
   * (shape arithmetic, Reshape targets, Concat of shape pieces, Cast of those, constants).
   */
  get shapeDerived(): readonly boolean[] {
    if (this.derived === undefined) {
      const derived = new Array<boolean>(this.graph.traceNames.length).fill(false);
      for (const op of this.graph.operators) {
        const fromShape =
          op.domain === "" && (op.opType === "Shape" || op.opType === "Size")
            ? true
            : op.inputs.every((i) => i.source.kind === "absent" || i.source.kind === "weight" || (i.source.kind === "trace" && derived[i.source.index] === true));
        for (const o of op.outputs) derived[o.trace] = fromShape;
      }
      this.derived = derived;
    }
    return this.derived;
  }

  /** Whether the model's input has a dynamic first dimension (a batch can be fed). */
  get dynamicBatch(): boolean {
    const d0 = this.graph.input.shape[0];
    return typeof d0 === "string" || d0 === -1;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The selected trace tensors of one run, before hashing. */
export interface FetchedTrace {
  tensors: Tensor[];
  /** Trace index of each of `tensors`, ascending. */
  indices: number[];
  /** session.run (ms). */
  run: number;
}

const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(["float32", "float16", "float64"]);

/**
 * How a batched trace splits into per-request traces, for one input shape: per selected trace
 * tensor, "slice" (item i along axis 0, a view) or the batch-1 trace's tensor (its value depends on
 * the input shape alone). `refused` says why this model's traces cannot be split.
 */
export type TraceBatchPlan = { kinds: Array<"slice" | Tensor>; refused?: undefined } | { refused: string; kinds?: undefined };

function sameDims(a: readonly number[], b: readonly number[], from = 0): boolean {
  if (a.length !== b.length) return false;
  for (let i = from; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Classifies each tensor of a batch-`n` trace against the batch-1 trace of the same input shape:
 * a float tensor with batch-1 shape [1, ...s] and batched shape [n, ...s] is sliced; any other must
 * be shape-derived (`shapeDerived[index]`), keep its dtype and its dimensions beyond axis 0, and is
 * the batch-1 trace's. Anything else refuses batching for the model.
 */
export function planTraceBatch(batched: FetchedTrace, single: FetchedTrace, n: number, shapeDerived: readonly boolean[]): TraceBatchPlan {
  const kinds: Array<"slice" | Tensor> = [];
  for (let j = 0; j < batched.tensors.length; j++) {
    const b = batched.tensors[j]!;
    const r = single.tensors[j]!;
    const index = batched.indices[j]!;
    if (b.dtype !== r.dtype) return { refused: `trace tensor ${index} is ${b.dtype} in a batch, ${r.dtype} alone` };
    if (FLOAT_DTYPES.has(b.dtype) && r.shape.length > 0 && r.shape[0] === 1 && b.shape[0] === n && sameDims(b.shape, r.shape, 1)) {
      // Batch-major by shape is not enough: an operator may mix the items (a reduction or a
      // Softmax over axis 0 keeps the shape). `single` is the batch's first input run alone, so
      // item 0 must match it up to float reordering; anything more means the items interact.
      const drift = itemDrift(batchItem(b, 0, n).data as ArrayLike<number>, r.data as ArrayLike<number>);
      if (!(drift <= ITEM_DRIFT_TOLERANCE)) {
        return { refused: `trace tensor ${index}: item 0 of a batch of ${n} differs from its run alone by ${drift.toExponential(2)} of its magnitude (the items interact)` };
      }
      kinds.push("slice");
    } else if (shapeDerived[index] === true && sameDims(b.shape, r.shape, 1)) {
      kinds.push(r);
    } else {
      return { refused: `trace tensor ${index} (${b.dtype} [${b.shape}] in a batch of ${n}, [${r.shape}] alone) is neither batch-major float nor shape-derived` };
    }
  }
  return { kinds };
}

/**
 * Largest |a_i - b_i| relative to max |b| (NaN where NaNs disagree). Honest batched float32 runs
 * differ from single runs by reordered sums only: relative differences around 1e-6 per element
 * (docs/OPTIMISTIC.md measures them); 1e-3 leaves a wide margin while any cross-item mixing of
 * real data shows up far above it.
 */
function itemDrift(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Number.NaN;
      continue;
    }
    scale = Math.max(scale, Math.abs(y));
    if (x !== y) worst = Math.max(worst, Math.abs(x - y));
  }
  return worst === 0 ? 0 : worst / Math.max(scale, Number.MIN_VALUE);
}
const ITEM_DRIFT_TOLERANCE = 1e-3;

/** Item `item` of `t` along axis 0, as a batch-1 tensor viewing `t`'s buffer (no copy). */
export function batchItem(t: Tensor, item: number, n: number): Tensor {
  const per = numel(t.shape) / n;
  return { dtype: t.dtype, shape: [1, ...t.shape.slice(1)], data: t.data.subarray(item * per, (item + 1) * per) as TensorData };
}

/** Splits a batch-`n` trace into `n` per-request traces by `plan` (throws when the batch does not fit the plan). */
export function splitTraceBatch(batched: FetchedTrace, plan: TraceBatchPlan, n: number): Tensor[][] {
  if (plan.refused !== undefined) throw new BaseError("INFERENCE_FAILED", `batched traces cannot be split: ${plan.refused}`);
  batched.tensors.forEach((t, j) => {
    const kind = plan.kinds[j]!;
    const fits = kind === "slice" ? t.shape[0] === n : t.dtype === kind.dtype && sameDims(t.shape, kind.shape, 1);
    if (!fits) throw new BaseError("INFERENCE_FAILED", `trace tensor ${batched.indices[j]} [${t.shape}] of a batch of ${n} does not fit its plan`);
  });
  return Array.from({ length: n }, (_, i) => batched.tensors.map((t, j) => (plan.kinds[j] === "slice" ? batchItem(t, i, n) : (plan.kinds[j] as Tensor))));
}

/** What a trace lane's run yields: the (possibly batched) run and, for a batch, its split plan. */
interface LaneTrace extends FetchedTrace {
  rows: number;
  plan?: TraceBatchPlan;
}

interface LaneContext {
  session: TraceSession;
  indices: number[] | undefined;
}

/**
 * Uploads every committed trace tensor, then the manifest (so a manifest in the store means its
 * tensors are too). `run.indices[j]` is the trace index of `run.tensors[j]` (all, in order, when absent).
 */
export async function publishTrace(
  blobStoreUrl: string,
  run: Pick<TraceRun, "tensors" | "hashes" | "manifest" | "traceRoot"> & { indices?: readonly number[] },
  options: { timeoutMs: number; concurrency?: number; signal?: AbortSignal; auth?: BlobAuth },
): Promise<{ bytes: number; blobs: number }> {
  let next = 0;
  let bytes = 0;
  const put = { timeoutMs: options.timeoutMs, ...(options.signal === undefined ? {} : { signal: options.signal }), ...(options.auth === undefined ? {} : { auth: options.auth }) };
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
  /** Signs the uploads as the worker's signer (protocol/blobAuth.ts). */
  blobAuth?: BlobAuth;
  timeoutMs?: number;
  uploadConcurrency?: number;
  /** Trace sessions kept open (by model). */
  cacheSize?: number;
  /** Commit only these checkpoints (`trace: "checkpoint"`); a full trace when absent. */
  checkpoint?: CheckpointPolicy;
  /** Batch policy per model hash (lowercase) for traced runs; one request per run when absent. */
  batching?: (modelHash: string) => BatchPolicy;
  logger: Logger;
}

/** Input shapes whose batch plans a trace session keeps. */
const PLAN_CACHE_SIZE = 16;

/** Traces every result in full (`trace: "full"`), or its checkpoints when `checkpoint` is set (`trace: "checkpoint"`). */
export class FullTraceBuilder implements TraceBuilder {
  readonly standalone = true;
  private readonly log: Logger;
  private readonly sessions = new Map<string, Promise<TraceSession>>();
  private closing: Promise<void> | undefined;
  private readonly lanes: LaneSet<LaneContext, LaneTrace>;
  /** Batch plans per trace session, by input shape beyond axis 0. */
  private readonly plans = new WeakMap<TraceSession, Map<string, TraceBatchPlan>>();

  constructor(private readonly options: FullTraceBuilderOptions) {
    this.log = options.logger.child({ layer: "trace" });
    const batching = options.batching ?? (() => NO_BATCHING);
    this.lanes = new LaneSet<LaneContext, LaneTrace>(
      (): LaneBackend<LaneContext, LaneTrace> => ({
        run: (input, context, owned) => this.runLane(input, context, owned === true),
        batchable: (context) => context.session.dynamicBatch,
        split: (output, rows) => this.splitLane(output, rows),
      }),
      (modelHash) => ({ depth: 1, ...batching(modelHash) }),
      (modelHash, reason, error) =>
        this.log.warn({ modelHash, reason, err: error }, "traced runs of this model cannot be batched; tracing one request at a time from now on"),
    );
  }

  /** Runs the trace session on one input or a batch; for a batch, also the plan that splits it. */
  private async runLane(input: Tensor, { session, indices }: LaneContext, batch: boolean): Promise<LaneTrace> {
    const rows = input.shape[0]!;
    const fetched = await session.fetch(input, indices);
    if (!batch) return { ...fetched, rows: 1 };
    let byShape = this.plans.get(session);
    if (byShape === undefined) this.plans.set(session, (byShape = new Map()));
    const key = `${input.dtype}:${input.shape.slice(1).join(",")}`;
    let plan = byShape.get(key);
    if (plan === undefined) {
      // Shape-derived tensors are a function of the input shape: a batch-1 run of the first row gives them.
      const per = input.data.length / rows;
      const single = await session.fetch({ dtype: input.dtype, shape: [1, ...input.shape.slice(1)], data: input.data.subarray(0, per) as TensorData }, indices);
      plan = planTraceBatch(fetched, single, rows, session.shapeDerived);
      byShape.set(key, plan);
      while (byShape.size > PLAN_CACHE_SIZE) byShape.delete(byShape.keys().next().value!);
    }
    return { ...fetched, rows, plan };
  }

  private splitLane(output: LaneTrace, rows: readonly number[]): LaneTrace[] {
    if (rows.some((r) => r !== 1) || output.plan === undefined) throw new BaseError("INFERENCE_FAILED", "only batch-1 requests share a traced run");
    return splitTraceBatch(output, output.plan, rows.length).map((tensors) => ({ tensors, indices: output.indices, run: output.run, rows: 1 }));
  }

  /** The trace lane of `modelHash`, once a traced job has used it (tests, bench). */
  lane(modelHash: string) {
    return this.lanes.get(modelHash);
  }

  private async session(model: ModelEntry, signal?: AbortSignal): Promise<TraceSession> {
    const key = model.modelHash.toLowerCase();
    const cached = this.sessions.get(key);
    if (cached !== undefined && (await cached.catch(() => undefined))?.alive === false && this.sessions.get(key) === cached) {
      this.sessions.delete(key); // its model process was killed: open a fresh one
    }
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
    const batchable = context.batchable !== false && context.input.shape.length > 0 && context.input.shape[0] === 1;
    const traced = await this.lanes.lane(context.model.modelHash).submit(context.input, { session, indices }, { batchable });
    signal?.throwIfAborted();
    const th = performance.now();
    const commitment = session.commit(traced.output.tensors, indices);
    const run: TraceRun = { ...commitment, tensors: traced.output.tensors, indices: traced.output.indices, timings: { run: traced.infer, hash: performance.now() - th } };
    const output = run.tensors[run.tensors.length - 1]!;
    let published = { bytes: 0, blobs: 0 };
    const t0 = performance.now();
    if (this.options.blobStoreUrl !== undefined) {
      published = await publishTrace(this.options.blobStoreUrl, run, {
        timeoutMs: this.options.timeoutMs ?? 30_000,
        ...(this.options.uploadConcurrency === undefined ? {} : { concurrency: this.options.uploadConcurrency }),
        ...(signal === undefined ? {} : { signal }),
        ...(this.options.blobAuth === undefined ? {} : { auth: this.options.blobAuth }),
      });
    } else {
      this.log.warn({ requestId: context.job.requestId }, "trace not published: no blobStoreUrl is set, so nobody can check it");
    }
    const upload = performance.now() - t0;
    this.log.debug(
      { requestId: context.job.requestId, traceRoot: run.traceRoot, tensors: run.tensors.length, batch: traced.batch, runMs: run.timings.run, hashMs: run.timings.hash, uploadMs: upload, ...published },
      "trace committed",
    );
    const stats = { run: run.timings.run, hash: run.timings.hash, upload, committed: run.tensors.length, tensors: run.hashes.length, bytes: published.bytes, batch: traced.batch, queued: traced.queued };
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
