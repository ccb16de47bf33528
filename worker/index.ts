/**
 * The worker: serves inference jobs from the queue with onnxruntime-node (GPU execution providers
 * probed, CPU as the fallback) and signs every result and rejection (EIP-712).
 *
 *   const config = loadWorkerConfig(fileConfig);
 *   const worker = new Worker({ config, queue, catalog: new StaticCatalog(config.models) });
 *   await worker.start();
 *   ...
 *   await worker.close();
 */
export { Worker, type WorkerOptions, type StageTimings } from "./worker.js";
export {
  WorkerConfigSchema,
  PinnedModelSchema,
  loadWorkerConfig,
  redactWorkerConfig,
  DEFAULT_PROVIDERS,
  PROVIDER_NAMES,
  WORKER_ENV_PREFIX,
  type WorkerConfig,
  type WorkerConfigInput,
  type PinnedModel,
  type ProviderName,
} from "./config.js";
export { StaticCatalog, RegistryCatalog, type ModelCatalog, type ModelEntry, type RegistryCatalogOptions } from "./catalog.js";
export { ModelStore, sha256File, sha256Hex, type ModelStoreOptions } from "./models.js";
export { ProviderProber, probeOrder, type BackendInfo, type OpenedSession, type ProbeAttempt, type ProviderProberOptions, type SessionSettings } from "./providers.js";
export { SessionCache, type SessionCacheOptions, type SessionInfo, type SessionLease } from "./sessions.js";
export { ThreadedSession, type InferenceSessionLike, type RunFlags } from "./ort-thread.js";
export { InferenceRunner, toOrtTensor, fromOrtTensor, type InferenceRunnerOptions, type RunResult, type RunTimings } from "./runner.js";
export { noTrace, type TraceBuilder, type TraceContext, type TraceOutcome } from "./trace.js";
export { InvalidJobError, DomainNotAllowedError, JobRejection } from "./errors.js";
export { OracleRequestLookup, jobMismatches, type OnChainRequest, type RequestLookup } from "./requests.js";
export { prepareDispute, answerReveal, claimsFrom, type DisputeResponder, type PrepareDisputeOptions, type RevealAnswer, type RevealRequest, type TraceCommitmentPayload } from "./dispute.js";
export { concatBatch } from "./batcher.js";
export { CanonicalOutputs } from "./canonical-output.js";
export { responderFor, requestInputOf, programInputsOf, inputHashOf, type RequestInput } from "./dispute.js";
export { FraudGameAnswerer, pinnedPrograms, workerGameAnswerer } from "./game-answerer.js";
export { hostCheckMode, workerHostProblems } from "./host-check.js";
export { KERNEL_CAP_AVAILABLE, ProcessSession } from "./model-process.js";
export { ZkChallengeAnswerer } from "./prover-answerer.js";
export { ProverPool } from "./prover.js";
export { TF32_OVERRIDE, gpuFloatPolicy } from "./providers.js";
export { FastSigner } from "./signer.js";
export { StakeWatch, stakeProblem } from "./stake-watch.js";
