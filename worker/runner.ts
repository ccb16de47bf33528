/**
 * Runs one model on one tensor: catalog entry → verified model file → cached session → run.
 * Protocol tensors and ort.Tensors share their typed arrays (no copies either way).
 */
import ort from "onnxruntime-node";
import type { Logger } from "pino";
import { OracleError, DTYPES, type DType, type Tensor, type TensorData, type Hex } from "../protocol/index.js";
import type { ModelCatalog } from "./catalog.js";
import type { ProviderName } from "./config.js";
import type { ModelStore } from "./models.js";
import type { SessionCache, SessionLease } from "./sessions.js";
import { dynamicBatchDim, InferenceBatchers, NO_BATCHING, type BatchPolicy, type InferenceBatcher } from "./batcher.js";

export interface RunTimings {
  /** Catalog lookup, model file and session (0-ish once warm). */
  model: number;
  /** session.run (of the whole batch when batched) */
  infer: number;
  /** Waiting in the model's lane for the run to start. */
  lane: number;
  /** Requests in the run (1: unbatched). */
  batch: number;
}

export interface RunResult {
  output: Tensor;
  provider: ProviderName;
  timings: RunTimings;
}

export interface InferenceRunnerOptions {
  catalog: ModelCatalog;
  models: ModelStore;
  sessions: SessionCache;
  logger: Logger;
  /** Batch policy per model hash (lowercase); no batching when absent. */
  batching?: (modelHash: string) => BatchPolicy;
  /** Runs handed to a model's session at once (BatchPolicy.depth; 2 for sessions in their own thread). */
  depth?: number;
}

/** A run of a model with several named inputs or outputs (runNamed): every output, by name. */
export interface NamedRunResult {
  outputs: Map<string, Tensor>;
  provider: ProviderName;
  timings: RunTimings;
}

export interface RunOptions {
  /** May this request share a run with others (false for traced and ZK-tier runs)? Default true. */
  batchable?: boolean;
}

/** Wraps a protocol tensor's typed array in an ort.Tensor without copying. */
export function toOrtTensor(tensor: Tensor): ort.Tensor {
  // Protocol dtype names are ONNX Runtime's names; bool and float16 travel as Uint8Array/Uint16Array, as ORT expects.
  return new ort.Tensor(tensor.dtype, tensor.data as never, tensor.shape);
}

/** Views an ort.Tensor as a protocol tensor without copying. */
export function fromOrtTensor(tensor: ort.Tensor): Tensor {
  const dtype = tensor.type as string;
  if (!(dtype in DTYPES)) {
    throw new OracleError("INFERENCE_FAILED", `the model produced a ${dtype} tensor, which the protocol cannot encode`, { details: { dtype } });
  }
  const spec = DTYPES[dtype as DType];
  let data = tensor.data as TensorData;
  if (data.BYTES_PER_ELEMENT !== spec.size || ArrayBuffer.isView(data) === false) {
    throw new OracleError("INFERENCE_FAILED", `the model's ${dtype} output has unexpected storage`, { details: { dtype } });
  }
  if (!(data instanceof spec.array)) {
    // Same element size, other view class (e.g. Float16Array for float16): re-view, no copy.
    data = new spec.array(data.buffer as ArrayBuffer, data.byteOffset, data.length) as TensorData;
  }
  return { dtype: dtype as DType, shape: [...tensor.dims], data };
}

/** ORT failures that say nothing about the input (memory, device) are worth another try. */
function isTransientRunFailure(message: string): boolean {
  return /out of memory|failed to allocate|CUDA(?: error|_ERROR)|device lost|cudnn/i.test(message);
}

export class InferenceRunner {
  private readonly log: Logger;
  private readonly lanes: InferenceBatchers<SessionLease>;

  constructor(private readonly options: InferenceRunnerOptions) {
    this.log = options.logger.child({ layer: "runner" });
    const batching = options.batching ?? (() => NO_BATCHING);
    const policy = (modelHash: string): BatchPolicy => ({ depth: options.depth ?? 1, ...batching(modelHash) });
    this.lanes = new InferenceBatchers<SessionLease>(
      (modelHash) => ({
        run: (input, lease, owned) => this.runSession(modelHash as Hex, lease, input, owned === true),
        batchable: (lease) => dynamicBatchDim(lease.session.inputMetadata) && dynamicBatchDim(lease.session.outputMetadata),
      }),
      policy,
      (modelHash, reason) => this.log.warn({ modelHash, reason }, "batching turned off for this model; one request per run from now on"),
    );
  }

  /** The lane of `modelHash`, once a job has used it (tests, bench). */
  lane(modelHash: string): InferenceBatcher<SessionLease> | undefined {
    return this.lanes.get(modelHash);
  }

  /** One session.run (the lane guarantees at most one per model at a time). */
  private async runSession(modelHash: Hex, lease: SessionLease, input: Tensor, owned: boolean): Promise<Tensor> {
    const inputName = lease.inputNames[0]!;
    const outputName = lease.outputNames[0]!;
    let results: Record<string, ort.Tensor>;
    try {
      results = await lease.session.run({ [inputName]: toOrtTensor(input) }, [outputName], { transferInputs: owned });
    } catch (error) {
      // A model process killed at its memory or time limit: final for this request, generic in public.
      if (error instanceof OracleError && error.code === "MODEL_RESOURCE_LIMIT") throw error;
      const message = (error as Error).message ?? String(error);
      const retryable = isTransientRunFailure(message);
      throw new OracleError("INFERENCE_FAILED", `inference failed: ${message.slice(0, 1000)}`, {
        cause: error,
        retryable,
        details: { modelHash, provider: lease.provider, input: { dtype: input.dtype, shape: input.shape } },
      });
    }
    const raw = results[outputName];
    if (raw === undefined) throw new OracleError("INFERENCE_FAILED", `the model returned no ${outputName} output`);
    return fromOrtTensor(raw);
  }

  /** Named runs of one model, one at a time (as the lane does for single-tensor runs). */
  private readonly namedTails = new Map<string, Promise<unknown>>();

  /**
   * Runs a model with several named inputs or outputs: feeds every input by name and returns every
   * output by name (never batched: each request runs alone). `feeds` must name exactly the model's
   * inputs; a single unnamed ("") feed goes to a one-input model's only input.
   */
  async runNamed(modelHash: Hex, feeds: ReadonlyMap<string, Tensor>, signal?: AbortSignal, logger?: Logger): Promise<NamedRunResult> {
    const log = logger?.child({ layer: "runner" }) ?? this.log;
    const t0 = performance.now();
    const entry = await this.options.catalog.getModel(modelHash, signal);
    const path = await this.options.models.path(modelHash, entry.uris, signal);
    const lease = await this.options.sessions.acquire(modelHash, path);
    try {
      const t1 = performance.now();
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of feeds) {
        const target = name === "" && feeds.size === 1 && lease.inputNames.length === 1 ? lease.inputNames[0]! : name;
        ortFeeds[target] = toOrtTensor(tensor);
      }
      const given = Object.keys(ortFeeds).sort();
      const wanted = [...lease.inputNames].sort();
      if (given.length !== wanted.length || given.some((n, i) => n !== wanted[i])) {
        throw new OracleError("INFERENCE_FAILED", `the model file's inputs are ${wanted.join(", ")}; the registry's are ${given.join(", ")}`, {
          details: { stage: "load", fileInputs: wanted, registryInputs: given },
        });
      }
      const key = modelHash.toLowerCase();
      const previous = this.namedTails.get(key) ?? Promise.resolve();
      let queued = 0;
      const run = previous.catch(() => undefined).then(async () => {
        queued = performance.now() - t1;
        signal?.throwIfAborted();
        const started = performance.now();
        try {
          return { results: await lease.session.run(ortFeeds, lease.outputNames), infer: performance.now() - started };
        } catch (error) {
          if (error instanceof OracleError && error.code === "MODEL_RESOURCE_LIMIT") throw error;
          const message = (error as Error).message ?? String(error);
          throw new OracleError("INFERENCE_FAILED", `inference failed: ${message.slice(0, 1000)}`, {
            cause: error,
            retryable: isTransientRunFailure(message),
            details: { modelHash, provider: lease.provider, inputs: Object.fromEntries([...feeds].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape }])) },
          });
        }
      });
      this.namedTails.set(key, run);
      const { results, infer } = await run.finally(() => {
        if (this.namedTails.get(key) === run) this.namedTails.delete(key);
      });
      signal?.throwIfAborted();
      const outputs = new Map<string, Tensor>();
      for (const name of lease.outputNames) {
        const raw = results[name];
        if (raw === undefined) throw new OracleError("INFERENCE_FAILED", `the model returned no ${name} output`);
        outputs.set(name, fromOrtTensor(raw));
      }
      const timings = { model: round(t1 - t0), infer: round(infer), lane: round(queued), batch: 1 };
      log.debug({ modelHash, provider: lease.provider, outputs: [...outputs.keys()], ...timings }, "inference done");
      return { outputs, provider: lease.provider, timings };
    } finally {
      lease.release();
    }
  }

  /** Fetches, verifies and opens a model ahead of its first job. */
  async warm(modelHash: Hex, signal?: AbortSignal): Promise<ProviderName> {
    const entry = await this.options.catalog.getModel(modelHash, signal);
    const path = await this.options.models.path(modelHash, entry.uris, signal);
    const lease = await this.options.sessions.acquire(modelHash, path);
    lease.release();
    return lease.provider;
  }

  /**
   * Runs `modelHash` on `input`. ONNX Runtime cannot interrupt a run, so `signal` is honoured before
   * and after it. Errors: the catalog's and the model store's, INFERENCE_FAILED (not retryable unless
   * the failure looks like memory or device trouble).
   */
  async run(modelHash: Hex, input: Tensor, signal?: AbortSignal, logger?: Logger, options: RunOptions = {}): Promise<RunResult> {
    const log = logger?.child({ layer: "runner" }) ?? this.log;
    const t0 = performance.now();
    const entry = await this.options.catalog.getModel(modelHash, signal);
    const path = await this.options.models.path(modelHash, entry.uris, signal);
    // The lease pins the session while the request waits in the lane.
    const lease = await this.options.sessions.acquire(modelHash, path);
    try {
      const t1 = performance.now();
      if (lease.inputNames.length !== 1 || lease.outputNames.length < 1) {
        throw new OracleError(
          "INFERENCE_FAILED",
          `the model has ${lease.inputNames.length} inputs and ${lease.outputNames.length} outputs; the oracle serves models with one input and reads the first output`,
          { details: { inputNames: lease.inputNames, outputNames: lease.outputNames } },
        );
      }
      signal?.throwIfAborted();
      // The consumer's signal is shared by every delivery: not handed to the lane (one listener per
      // queued request would pile up); it is checked before and after instead.
      const r = await this.lanes.lane(modelHash).submit(input, lease, { batchable: options.batchable ?? true });
      signal?.throwIfAborted();
      const timings = { model: round(t1 - t0), infer: round(r.infer), lane: round(r.queued), batch: r.batch };
      log.debug({ modelHash, provider: lease.provider, shape: r.output.shape, ...timings }, "inference done");
      return { output: r.output, provider: lease.provider, timings };
    } finally {
      lease.release();
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
