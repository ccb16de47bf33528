/**
 * The challenger's on-chain side of a dispute: opening it (the ONE place this code base calls
 * InferenceOracle.challenge, so a change to its arguments is made here only), and the calls to a
 * FraudProofResolver (contracts/resolvers/FraudProofResolver.sol) that settle it.
 */
import type { ContractTransactionResponse } from "ethers";
import type { StepProofArgs } from "./onestep.js";

/** The oracle's ResultRecord: what the challenge names. */
export interface ResultRecordArgs {
  worker: string;
  relayer: string;
  outputHash: string;
  traceRoot: string;
}

interface OracleLike {
  challenge(requestId: string, record: ResultRecordArgs, overrides: { value: bigint }): Promise<ContractTransactionResponse>;
}

/** Opens a dispute on an OPTIMISTIC result, posting `bond`. The only caller of oracle.challenge. */
export function openChallenge(oracle: OracleLike, requestId: string, record: ResultRecordArgs, bond: bigint): Promise<ContractTransactionResponse> {
  return oracle.challenge(requestId, record, { value: bond });
}

interface ResolverLike {
  proveFraud(requestId: string, proof: StepProofArgs): Promise<ContractTransactionResponse>;
}

/** Submits a one-step proof to the model's FraudProofResolver (the challenger must send it). */
export function submitStepProof(resolver: ResolverLike, requestId: string, proof: StepProofArgs): Promise<ContractTransactionResponse> {
  return resolver.proveFraud(requestId, proof);
}
