/**
 * The chain's view of a request, which a worker checks every job against before it runs or rejects
 * anyone who can publish to the jobs queue could forge a job with a real request id and a
 * wrong input hash, and the honest worker's signed `Rejection(requestId, reason)`, which does not
 * bind the input, would refund the victim. A job that disagrees with `getRequest` (model,
 * input hash, deadline) is dead-lettered unsigned; a job for a request that is no longer open is
 * acked without reply.
 */
import type { Provider } from "ethers";
import { IInferenceOracle__factory, OracleError, RequestStatus, type Hex } from "../protocol/index.js";
import { OracleCanonicalHistory, type CanonicalHistory } from "./canonical-output.js";

export interface OnChainRequest {
  status: RequestStatus;
  modelHash: Hex;
  inputHash: Hex;
  /** Unix seconds. */
  deadline: number;
  /** Results overturned on this request so far (a reopened request has attempt > 0). */
  attempt: number;
}

export interface RequestLookup {
  /** The request as the oracle at `oracle` holds it now. Throws CHAIN_UNAVAILABLE (retryable) when the node does not answer. */
  request(oracle: string, requestId: string): Promise<OnChainRequest>;
  /** The earlier disputes' rulings and the model's canonical precision (worker/canonical-output.ts); without it a reopened request is served as any other. */
  readonly history?: CanonicalHistory;
}

/** Reads `getRequest` from the oracle contract through `provider`. */
export class OracleRequestLookup implements RequestLookup {
  readonly history: CanonicalHistory;
  constructor(private readonly provider: Provider) {
    this.history = new OracleCanonicalHistory(provider);
  }

  async request(oracle: string, requestId: string): Promise<OnChainRequest> {
    let view;
    try {
      view = await IInferenceOracle__factory.connect(oracle, this.provider).getRequest(requestId);
    } catch (cause) {
      throw new OracleError("CHAIN_UNAVAILABLE", `reading request ${requestId} from the oracle failed`, { cause, retryable: true });
    }
    return {
      status: Number(view.status) as RequestStatus,
      modelHash: String(view.modelHash).toLowerCase() as Hex,
      inputHash: String(view.inputHash).toLowerCase() as Hex,
      deadline: Number(view.deadline),
      attempt: Number(view.attempt),
    };
  }
}

/** What disagrees between a job and its on-chain request ([] when nothing does). */
export function jobMismatches(job: { modelHash: string; inputHash: string; deadline: number }, onChain: OnChainRequest): string[] {
  const problems: string[] = [];
  if (job.modelHash.toLowerCase() !== onChain.modelHash) problems.push("modelHash");
  if (job.inputHash.toLowerCase() !== onChain.inputHash) problems.push("inputHash");
  if (job.deadline !== onChain.deadline) problems.push("deadline");
  return problems;
}
