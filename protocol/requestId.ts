/**
 * The request id, as contracts/types/RequestId.sol derives it (docs/V2.md §3):
 * keccak256(abi.encode(REQUEST_TAG, chainId, oracle, sequence, modelHash, inputHash)).
 * A signed request id binds the model and the input: a job forged with another input hash has another id.
 */
import { AbiCoder, keccak256, toUtf8Bytes } from "ethers";
import type { Hex, RequestId } from "./types.js";

export const REQUEST_TAG = keccak256(toUtf8Bytes("VerifiableInferenceOracle.RequestId.v2")) as Hex;

export function deriveRequestId(chainId: bigint, oracle: string, sequence: bigint, modelHash: Hex, inputHash: Hex): RequestId {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "uint256", "address", "uint256", "bytes32", "bytes32"],
      [REQUEST_TAG, chainId, oracle, sequence, modelHash, inputHash],
    ),
  ) as RequestId;
}
