/**
 * EIP-712 typed data for worker signatures. Mirrors InferenceOracle.sol: the domain binds the chain
 * id and the oracle's address, so a signature is valid for exactly one deployment.
 */
import { Signature, TypedDataEncoder, verifyTypedData, type Signer, type TypedDataDomain } from "ethers";
import { BaseError } from "./errors.js";
import type { Hex, RequestId } from "./types.js";

export const EIP712_NAME = "VerifiableInferenceOracle";
export const EIP712_VERSION = "1";

export const RESULT_TYPES = {
  Result: [
    { name: "requestId", type: "bytes32" },
    { name: "modelHash", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
    { name: "traceRoot", type: "bytes32" },
    { name: "payee", type: "address" },
  ],
};

export const REJECTION_TYPES = {
  Rejection: [
    { name: "requestId", type: "bytes32" },
    { name: "reason", type: "uint16" },
  ],
};

/** The statement a worker signs: "for this request, this model on this input gave this output", and
 * who is paid the relayer share for carrying it (`payee`; the zero address: the worker itself). The
 * oracle pays `payee` whoever submits, so a result copied from the mempool steals nothing. */
export interface ResultStatement {
  requestId: RequestId;
  modelHash: Hex;
  inputHash: Hex;
  outputHash: Hex;
  traceRoot: Hex;
  payee: string;
}

export interface RejectionStatement {
  requestId: RequestId;
  reason: number;
}

export function oracleDomain(chainId: bigint | number, oracle: string): TypedDataDomain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId: BigInt(chainId), verifyingContract: oracle };
}

export function resultDigest(domain: TypedDataDomain, r: ResultStatement): Hex {
  return TypedDataEncoder.hash(domain, RESULT_TYPES, r) as Hex;
}

export async function signResult(signer: Signer, domain: TypedDataDomain, r: ResultStatement): Promise<Hex> {
  return (await signer.signTypedData(domain, RESULT_TYPES, r)) as Hex;
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
    throw new BaseError("SIGNATURE_INVALID", "signature cannot be recovered", { cause, details: { signature: sig } });
  }
}

export function recoverResultSigner(domain: TypedDataDomain, r: ResultStatement, signature: string): string {
  return recover(domain, RESULT_TYPES, r, signature);
}

export function recoverRejectionSigner(domain: TypedDataDomain, r: RejectionStatement, signature: string): string {
  return recover(domain, REJECTION_TYPES, r, signature);
}
