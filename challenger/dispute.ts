/**
 * The challenger's on-chain side of a dispute: opening or joining it (the ONE place this code base calls
 * InferenceOracle.challenge, so a change to its arguments is made here only), and the calls to a
 * FraudProofResolver (contracts/resolvers/FraudProofResolver.sol) that settle it.
 *
 * Disputes are open to all (docs/V2.md §5): the first challenge of a result opens its dispute, later
 * ones join it with the same bond until its deadline, and every joiner may prove.
 */
import type { ContractTransactionResponse } from "ethers";
import { proofFromLogs, type LogLike } from "../protocol/batch.js";
import type { StepProofArgs } from "./onestep.js";

/** The oracle's ResultRecord: what the challenge names. */
export interface ResultRecordArgs {
  worker: string;
  relayer: string;
  outputHash: string;
}

/** The v1 record FraudProofResolver.bindTrace still takes (retired with the v1 trace path: it never binds a v2 result). */
interface V1RecordArgs extends ResultRecordArgs {
  traceRoot: string;
}

interface OracleLike {
  challenge(requestId: string, record: ResultRecordArgs, proof: string[], overrides: { value: bigint }): Promise<ContractTransactionResponse>;
}

/**
 * Opens a dispute on an OPTIMISTIC result, or joins the one already open on it, posting `bond` (exactly
 * the request's challengeBond). The only caller of oracle.challenge.
 * `submitLogs` are the logs of the transaction that submitted the result: the oracle commits each
 * submission's results as one Merkle root, and the leaf's proof is rebuilt from those logs
 * (protocol/batch.ts), which also yields the record the oracle committed to.
 */
export function openChallenge(
  oracle: OracleLike,
  oracleAddress: string,
  requestId: string,
  submitLogs: readonly LogLike[],
  bond: bigint,
): Promise<ContractTransactionResponse> {
  const p = proofFromLogs(submitLogs, oracleAddress, requestId);
  return oracle.challenge(requestId, p.record, p.proof, { value: bond });
}

interface ResolverLike {
  proveFraud(requestId: string, proof: StepProofArgs): Promise<ContractTransactionResponse>;
}

interface TraceBinder {
  bindTrace(requestId: string, record: V1RecordArgs, proof: string[]): Promise<ContractTransactionResponse>;
}

/**
 * Binds the disputed result's traceRoot in a FraudProofResolver (the oracle keeps only the result's
 * leaf; the record and its batch proof, rebuilt from the submitting transaction's logs, give it). Once
 * per dispute, by anyone; every proof needs it.
 */
export function bindTrace(resolver: TraceBinder, oracleAddress: string, requestId: string, submitLogs: readonly LogLike[]): Promise<ContractTransactionResponse> {
  const p = proofFromLogs(submitLogs, oracleAddress, requestId);
  return resolver.bindTrace(requestId, { ...p.record, traceRoot: `0x${"00".repeat(32)}` }, p.proof);
}

/** Submits a one-step proof to the model's FraudProofResolver (the sender must have joined the dispute). */
export function submitStepProof(resolver: ResolverLike, requestId: string, proof: StepProofArgs): Promise<ContractTransactionResponse> {
  return resolver.proveFraud(requestId, proof);
}
