/**
 * The seam for trace commitments. A result commits to `traceRoot`, the Merkle root over the hashes
 * of every intermediate tensor the worker computed (docs: DESIGN.md "Trace commitment"). Building
 * it needs the intermediate tensors (extra graph outputs, a session opened for tracing) and a
 * place to publish the trace, which a later change adds behind this interface; until then the
 * worker commits to 32 zero bytes, which the contracts read as "no trace".
 */
import type { Job } from "../protocol/messages.js";
import type { Tensor } from "../protocol/tensor.js";
import type { Hex } from "../protocol/types.js";
import type { ModelEntry } from "./catalog.js";
import type { ProviderName } from "./config.js";

export const ZERO_TRACE_ROOT = `0x${"00".repeat(32)}` as Hex;

export interface TraceContext {
  job: Job;
  model: ModelEntry;
  input: Tensor;
  output: Tensor;
  provider: ProviderName;
}

export interface TraceBuilder {
  /** The trace root to sign for this result (after publishing the trace, when there is one). */
  build(context: TraceContext, signal?: AbortSignal): Promise<Hex>;
}

/** Commits to no trace (traceRoot = 0). */
export const noTrace: TraceBuilder = {
  async build() {
    return ZERO_TRACE_ROOT;
  },
};
