/**
 * EIP-712 typed data for worker signatures (docs/V2.md §3). Mirrors InferenceOracle.sol (OpenZeppelin
 * EIP712, version "2"): the domain binds the chain id and the oracle's address, so a signature is valid
 * for exactly one deployment. A worker signs its results a batch at a time: one `ResultBatch(resultsRoot,
 * payee)` over the Merkle root of its items' leaves (protocol/batch.ts builds the root and the leaves).
 */
import { Signature, TypedDataEncoder, verifyTypedData, type Signer, type TypedDataDomain } from "ethers";
import { OracleError } from "./errors.js";
import type { Hex, RequestId } from "./types.js";

export const EIP712_NAME = "VerifiableInferenceOracle";
export const EIP712_VERSION = "2";

export const RESULT_BATCH_TYPES = {
  ResultBatch: [
    { name: "resultsRoot", type: "bytes32" },
    { name: "payee", type: "address" },
  ],
};

export const REJECTION_TYPES = {
  Rejection: [
    { name: "requestId", type: "bytes32" },
    { name: "reason", type: "uint16" },
  ],
};

/** The statement a worker signs for a batch: "each (requestId, outputHash) leaf under this root is my
 * result", and who is paid the relayer share of every fee in the batch for carrying it (`payee`; the zero
 * address: the worker itself). The oracle pays `payee` whoever submits, so a batch copied from the mempool
 * steals nothing. The requestId binds the model and the input (protocol/requestId.ts). */
export interface BatchStatement {
  resultsRoot: Hex;
  payee: string;
}

export interface RejectionStatement {
  requestId: RequestId;
  reason: number;
}

export function oracleDomain(chainId: bigint | number, oracle: string): TypedDataDomain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId: BigInt(chainId), verifyingContract: oracle };
}

export function batchDigest(domain: TypedDataDomain, b: BatchStatement): Hex {
  return TypedDataEncoder.hash(domain, RESULT_BATCH_TYPES, b) as Hex;
}

export async function signBatch(signer: Signer, domain: TypedDataDomain, b: BatchStatement): Promise<Hex> {
  return (await signer.signTypedData(domain, RESULT_BATCH_TYPES, b)) as Hex;
}

export async function signRejection(signer: Signer, domain: TypedDataDomain, r: RejectionStatement): Promise<Hex> {
  return (await signer.signTypedData(domain, REJECTION_TYPES, r)) as Hex;
}

function recover(domain: TypedDataDomain, types: Record<string, { name: string; type: string }[]>, value: object, sig: string): string {
  try {
    // Normalizes and rejects malleable (high-s) signatures the same way OpenZeppelin's ECDSA does.
    Signature.from(sig);
    return verifyTypedData(domain, types, value as Record<string, unknown>, sig);
  } catch (cause) {
    throw new OracleError("SIGNATURE_INVALID", "signature cannot be recovered", { cause, details: { signature: sig } });
  }
}

export function recoverBatchSigner(domain: TypedDataDomain, b: BatchStatement, signature: string): string {
  return recover(domain, RESULT_BATCH_TYPES, b, signature);
}

export function recoverRejectionSigner(domain: TypedDataDomain, r: RejectionStatement, signature: string): string {
  return recover(domain, REJECTION_TYPES, r, signature);
}
