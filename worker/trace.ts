/**
 * The worker's output hook. Result format v2 (docs/V2.md §3): a result signs no trace root, so the
 * happy path builds, hashes and uploads no trace at all; the worker computes its canonical trace only
 * when a dispute asks for it (worker/dispute.ts, worker/game-answerer.ts: the FraudGame's `commitTrace`,
 * trace on demand). The v1 trace modes (`trace: full | checkpoint`, traces published to the blob store
 * and signed as `traceRoot`) are gone with the v1 one-step resolver.
 *
 * What remains is the hook a test or a demo builds a lying worker with (scripts/fault-injection.ts
 * GameCheater): given the plain run's output of an OPTIMISTIC job, it returns the output the worker
 * signs. Nothing in the worker's config can select one: only code that constructs a Worker with
 * `traceBuilder` gets one.
 */
import type { Job, Tensor } from "../protocol/index.js";
import type { ModelEntry } from "./catalog.js";
import type { ProviderName } from "./config.js";

export interface TraceContext {
  job: Job;
  model: ModelEntry;
  input: Tensor;
  /** The plain run's output and provider; absent when the builder is `standalone` (no plain run). */
  output?: Tensor;
  provider?: ProviderName;
  /** May this request's run share a batch with others (false for the ZK tier)? Default true. */
  batchable?: boolean;
}

export interface TraceOutcome {
  /** The output to sign instead of the plain run's (fault injection); absent: the plain run's. */
  output?: Tensor;
}

export interface TraceBuilder {
  /** The builder computes the model output itself, so the worker skips its plain run. */
  readonly standalone?: boolean;
  build(context: TraceContext, signal?: AbortSignal): Promise<TraceOutcome>;
  /** Releases sessions; safe to call twice. */
  close?(): Promise<void>;
}

/** The honest worker's hook: the plain run's output is the one signed. */
export const noTrace: TraceBuilder = {
  async build() {
    return {};
  },
};
