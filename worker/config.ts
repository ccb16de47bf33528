/**
 * The worker's configuration: one zod schema, every setting described and defaulted where a default
 * is sensible. `loadWorkerConfig` merges a config object with WORKER_* environment variables and
 * reports every problem at once; `redactWorkerConfig` is what may be logged.
 */
import { z } from "zod";
import type { ModelProcessLimits } from "./model-process.js";
import {
  envOverrides,
  loadConfig,
  redactConfig,
  type RetiredKeys,
  AddressSchema,
  Bytes32Schema,
  PrivateKeySchema,
  DTYPES,
  type DType,
} from "../protocol/index.js";

export const PROVIDER_NAMES = ["cuda", "tensorrt", "webgpu", "cpu"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * WebGPU is left out of the default list. Measured on this (GPU-less, Vulkan-less) build host:
 * probing it fails in ~30 ms but Dawn prints native warnings straight to stderr (outside pino), and
 * on a headless host with a software Vulkan driver it would "succeed" on an adapter slower than the
 * CPU provider. Operators with a real GPU and no CUDA opt in: WORKER_PROVIDERS=webgpu,cpu.
 */
export const DEFAULT_PROVIDERS: readonly ProviderName[] = ["cuda", "tensorrt", "cpu"];

const MiB = 1024 * 1024;

const dtypeName = z.enum(Object.keys(DTYPES) as [DType, ...DType[]]);
const tensorSpec = z.object({
  dtype: dtypeName.describe("element type (protocol DType name, e.g. float32)"),
  shape: z.array(z.number().int().nonnegative()).max(8).describe("dimensions; 0 accepts any size"),
});

const batchPolicy = z.object({
  maxBatch: z.coerce.number().int().min(1).max(1024).describe("most requests in one run (1: no batching)"),
  maxWaitMs: z.coerce.number().nonnegative().max(60_000).default(0).describe("how long a free lane waits for more requests (0: takes what is waiting)"),
});

/** A model the operator pins in config (served without asking the registry). */
export const PinnedModelSchema = z.object({
  modelHash: Bytes32Schema.describe("sha256 of the ONNX file"),
  uris: z.array(z.string().min(1)).min(1).describe("where the file can be fetched (http(s)://, file://, absolute path, npm:<pkg>/<path>)"),
  input: tensorSpec.describe("the model's input spec"),
  output: tensorSpec.describe("the model's output spec"),
  inputs: z.array(tensorSpec.extend({ name: z.string().min(1) })).optional().describe("a model with several inputs: each by name (the registry's modelIO)"),
  outputs: z.array(tensorSpec.extend({ name: z.string().min(1) })).optional().describe("a model with several outputs: each by name"),
});
export type PinnedModel = z.infer<typeof PinnedModelSchema>;

/** Comma-separated strings (from the environment) become lists. */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter((s) => s !== "") : v), z.array(item));

const chainId = z
  .union([z.bigint().nonnegative(), z.number().int().nonnegative(), z.string().regex(/^[0-9]+$/, "expected a decimal chain id")])
  .transform((v) => BigInt(v));

export const WorkerConfigSchema = z.object({
  signerKey: PrivateKeySchema.describe("private key the worker signs results and rejections with (secret: redacted in logs)"),
  allowedOracles: z
    .array(z.object({ chainId: chainId.describe("EVM chain id"), oracle: AddressSchema.describe("InferenceOracle address") }))
    .min(1, "at least one (chainId, oracle) domain must be allowed")
    .describe("the EIP-712 domains this worker signs for; jobs for any other domain are dead-lettered unsigned"),
  modelCacheDir: z.string().min(1).default(".data/worker/models").describe("folder for verified model files, named by their sha256"),
  inputCacheDir: z.string().min(1).default(".data/worker/inputs").describe("folder the inputs of OPTIMISTIC results are kept in until they settle, to answer a FraudGame on a URI input (worker/input-cache.ts)"),
  inputCacheMaxBytes: z.coerce.number().int().positive().default(1024 ** 3).describe("most bytes of cached inputs kept on disk (the oldest go first; a missing one is refetched by hash or URI when a game needs it)"),
  providers: list(z.enum(PROVIDER_NAMES))
    .default([...DEFAULT_PROVIDERS])
    .describe("execution providers in order of preference; cpu is always the last resort. webgpu only when listed"),
  graphOptimizationLevel: z
    .enum(["disabled", "basic", "extended", "layout", "all"])
    .default("all")
    .describe("ONNX Runtime graph optimization level (float results depend on it: keep it the same across a fleet)"),
  intraOpNumThreads: z.coerce.number().int().nonnegative().default(0).describe("threads per operator on CPU; 0 lets ONNX Runtime choose"),
  canonicalOutputMaxMs: z.coerce
    .number()
    .int()
    .positive()
    .default(60_000)
    .describe(
      "longest canonical run (canonical/run.ts) this worker accepts for a request reopened after an OutputMinor ruling, which must be served with the canonical output (τ = 0); a model whose canonical run takes longer is refused with that reason (docs/OPTIMISTIC.md \"After an OutputMinor\")",
    ),
  cudaTf32: z
    .preprocess((v) => (v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v), z.boolean())
    .default(false)
    .describe(
      "let NVIDIA's libraries (cuda, tensorrt providers) multiply float32 in TF32, onnxruntime's CUDA default. false sets NVIDIA_TF32_OVERRIDE=0 before a GPU session opens (onnxruntime-node cannot pass use_tf32=0): an fp32 model's τ_out does not cover TF32 (docs/OPTIMISTIC.md, issue 11 scenario 10)",
    ),
  inferenceThread: z
    .preprocess((v) => (v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v), z.boolean())
    .default(true)
    .describe("run each model's session in its own worker thread, so inference overlaps with decoding, hashing, signing and publishing (false: on the JS thread)"),
  modelProcess: z
    .preprocess((v) => (v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v), z.boolean())
    .default(true)
    .describe(
      "run each model in a child process of its own, killed and restarted when it breaks modelMemoryLimitMb or modelRunTimeoutMs (models are untrusted: registration is permissionless). false runs them in the worker's process (inferenceThread), with no memory or time limit: only for models the operator trusts",
    ),
  modelMemoryLimitMb: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(4096)
    .describe(
      "memory one model's process may use (MiB): the kernel refuses its private writable memory beyond this (RLIMIT_DATA through prlimit, where util-linux is installed), and its resident set is sampled every modelMemoryPollMs while it loads or runs; either way the process is killed and the job rejected (MODEL_RESOURCE_LIMIT). 0: no cap",
    ),
  modelMemoryPollMs: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(20)
    .describe("how often a model process's resident memory is sampled while it loads or runs (ms). 0: no sampling, the kernel cap (RLIMIT_DATA) alone"),
  modelRunTimeoutMs: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(60_000)
    .describe("longest one run (one request or one batch) may take before the model's process is killed and the job rejected (MODEL_RESOURCE_LIMIT). 0: no limit"),
  modelLoadTimeoutMs: z.coerce.number().int().nonnegative().default(120_000).describe("longest opening a model (parse, optimize, load weights) may take in its process. 0: no limit"),
  modelAddressSpaceLimitMb: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe(
      "optional hard backstop: RLIMIT_AS for each model process through prlimit (MiB; 0: off). node + onnxruntime reserve ~0.9 GB of address space at rest and each intra-op thread more, so set it well above modelMemoryLimitMb + 1024",
    ),
  maxTensorElements: z.coerce
    .number()
    .int()
    .positive()
    .default(2 ** 28)
    .describe(
      "shape bound checked when a model is loaded: a model whose declared or statically inferable tensor (input, output, value_info, initializer, or the result of a shape-building operator with constant operands) has more elements than this is refused (MODEL_TOO_LARGE)",
    ),
  prefetch: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(8)
    .describe(
      "jobs this worker serves at once (decode, inference, sign, publish); inference runs one at a time per model (its lane), the others decode, hash, sign and publish beside it and fill batches. Fetching an input from its inputURI happens before, outside these slots (fetchSlots)",
    ),
  resultBatch: z
    .object({
      maxItems: z.coerce.number().int().min(1).max(256).default(32).describe("most results signed as one batch (1: one signature per result)"),
      maxWaitMs: z.coerce.number().int().min(0).max(60_000).default(20).describe("longest a served result waits for others before its batch is signed and published (ms)"),
    })
    .default({ maxItems: 32, maxWaitMs: 20 })
    .describe(
      "one signature per batch of results (docs/V2.md §3): results for the same oracle and payee are signed as one ResultBatch when maxItems wait or maxWaitMs after the first; the relayer submits each batch whole (WORKER_RESULT_BATCH as JSON)",
    ),
  fetchSlots: z.coerce
    .number()
    .int()
    .min(0)
    .max(4096)
    .default(16)
    .describe(
      "jobs this worker may hold beyond prefetch while their inputs are fetched from inputURI (the broker prefetch is prefetch + fetchSlots): a slow or tarpit input host delays only the jobs whose inputs it serves, until prefetch + fetchSlots such fetches hold every delivery. Jobs held here are not available to other workers of a fleet: keep it modest",
    ),
  fetchAttempts: z.coerce
    .number()
    .int()
    .min(1)
    .max(10)
    .default(3)
    .describe(
      "tries of a transient input fetch failure (5xx, 429, connection refused or reset) within the job, 250 ms apart, before one signed InputUnavailable rejection; a timeout is not retried. The job is never redelivered for its input",
    ),
  maxInputBytes: z.coerce.number().int().positive().default(16 * MiB).describe("largest canonical input accepted, inline or fetched"),
  maxInlineOutputBytes: z.coerce.number().int().nonnegative().default(4096).describe("larger outputs go to the blob store and the result carries their size proof (docs/PROTOCOL.md \"Large outputs\")"),
  maxModelBytes: z.coerce.number().int().positive().default(1024 * MiB).describe("largest model file fetched"),
  blobStoreUrl: z.url().optional().describe("base URL of the blob store (PUT /blobs/:hash) for outputs too large to inline"),
  sessionCacheSize: z.coerce.number().int().min(1).default(4).describe("inference sessions kept open (LRU by model)"),
  fetchTimeoutMs: z.coerce.number().int().positive().default(30_000).describe("timeout for one input, model or blob transfer"),
  inputSchemes: list(z.enum(["http", "https", "file", "npm"]))
    .default(["http", "https"])
    .describe("URI schemes allowed for request inputs (requesters must not make the worker read its own files)"),
  modelSchemes: list(z.enum(["http", "https", "file", "npm"]))
    .default(["http", "https"])
    .describe(
      "URI schemes allowed for model files (hash-verified before use; the verified cache folder, content-addressed by sha256, is always read first). file and npm let whoever registers a model make the worker read its local files: only when the operator opts in (oracle dev, the demo and the tests do)",
    ),
  fetchAllowedAddresses: list(z.string().min(1))
    .default([])
    .describe(
      "CIDRs or addresses an input or model fetch may reach although they are not public (loopback, private, link-local, CGNAT...). Empty by default: requesters name inputURIs, so the worker must not call its own network. For local development only (oracle dev sets 127.0.0.0/8,::1). The origin of blobStoreUrl is always trusted",
    ),
  fetchFirstByteTimeoutMs: z.coerce.number().int().positive().default(10_000).describe("an input or model host must send its response headers within this long"),
  fetchMinBytesPerSecond: z.coerce.number().int().nonnegative().default(16 * 1024).describe("after its headers, an input or model host must keep sending at least this fast (0: no minimum)"),
  models: z.array(PinnedModelSchema).default([]).describe("models pinned by the operator (StaticCatalog)"),
  zk: z
    .array(
      z.object({
        modelHash: Bytes32Schema.describe("sha256 of the ONNX file"),
        wasm: z.string().min(1).describe("the circuit's witness generator (circom --wasm output)"),
        zkey: z.string().min(1).describe("the circuit's Groth16 proving key (phase 2 done)"),
      }),
    )
    .default([])
    .describe("ZK artifacts per model (made by npm run zk:ready or circuits/zk.ts prepareZkModel); ZK-tier jobs for other models are left for other workers"),
  proverThreads: z.coerce.number().int().min(1).max(64).default(1).describe("worker_threads proving ZK-tier jobs in parallel (snarkjs runs single-threaded inside each)"),
  batching: z
    .record(z.union([z.literal("default"), Bytes32Schema]), batchPolicy)
    .default({})
    .describe(
      "dynamic batching per model hash (or \"default\" for every model): up to maxBatch waiting requests run as one session.run, a free lane waiting up to maxWaitMs for a batch to fill. Only for models whose first input and output dimensions are dynamic; never ZK-tier jobs. Off when absent (WORKER_BATCHING as JSON)",
    ),
});

/** The batch policy for `modelHash`: its own entry, else "default", else none. */
export function batchPolicyFor(config: Pick<WorkerConfig, "batching">, modelHash: string): { maxBatch: number; maxWaitMs: number } {
  const key = modelHash.toLowerCase();
  for (const [k, v] of Object.entries(config.batching)) if (k.toLowerCase() === key) return v;
  return config.batching.default ?? { maxBatch: 1, maxWaitMs: 0 };
}

export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;
export type WorkerConfig = z.output<typeof WorkerConfigSchema>;

export const WORKER_ENV_PREFIX = "WORKER";
export const WORKER_SECRET_KEYS = ["signerKey"] as const;

/** The v1 trace settings (removed with the result format v2: results sign no trace root; a disputed worker commits its canonical trace on demand). */
export const WORKER_RETIRED_KEYS: RetiredKeys = {
  trace: "v1 trace modes: a worker publishes no trace, it commits its canonical trace only when its result is disputed",
  traceCheckpoints: "v1 checkpoint traces",
  traceBatching: "v1 traced batches",
};

/** Validates `input` overlaid with WORKER_* variables; throws CONFIG_INVALID listing every problem. */
export function loadWorkerConfig(input: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return loadConfig(WorkerConfigSchema, { ...input, ...envOverrides(WORKER_ENV_PREFIX, env) }, WORKER_RETIRED_KEYS);
}

/** The config as it may be logged: secrets replaced, bigints as strings. */
export function redactWorkerConfig(config: WorkerConfig): Record<string, unknown> {
  const copy = redactConfig(config as unknown as Record<string, unknown>, WORKER_SECRET_KEYS);
  copy.allowedOracles = config.allowedOracles.map((d) => ({ chainId: d.chainId.toString(), oracle: d.oracle }));
  return copy;
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
