/**
 * The challenger's on-chain side of a dispute: opening or joining it (the ONE place this code base calls
 * InferenceOracle.challenge, so a change to its arguments is made here only); the dispute itself is played
 * in the model's resolver (the FraudGame: protocol/fraud-game-client.ts).
 *
 * Disputes are open to all (docs/V2.md §5): the first challenge of a result opens its dispute, later
 * ones join it with the same bond until its deadline, and every joiner may prove.
 */
import type { ContractTransactionResponse } from "ethers";
import { proofFromLogs, type LogLike } from "../protocol/index.js";

/** The oracle's ResultRecord: what the challenge names. */
export interface ResultRecordArgs {
  worker: string;
  relayer: string;
  outputHash: string;
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
