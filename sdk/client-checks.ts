/** Checks OracleClient (client.ts) applies to hashes and input/output bytes (blob URLs: protocol/blob-client.ts isBlobUri). */
import { decodeTensor, type Tensor } from "../protocol/tensor.js";
import { matchBundle, bundleEntries, type NamedTensorSpec } from "../protocol/bundle.js";
import type { Hex } from "../protocol/types.js";
import { isBytes32 } from "../protocol/hex.js";
import { OracleSdkError } from "./errors.js";
import type { Progress, RequestOutcome } from "./client-types.js";

export function strip(o: RequestOutcome): Progress {
  const { stage, requestId, outputHash, worker, challengeDeadline, txHash } = o;
  return { stage, requestId, ...(outputHash && { outputHash }), ...(worker && { worker }), ...(challengeDeadline && { challengeDeadline }), ...(txHash && { txHash }) };
}

export function checkHash(value: string): Hex {
  if (!isBytes32(value)) throw new OracleSdkError("CONFIG_INVALID", `${JSON.stringify(value).slice(0, 80)} is not a 0x-prefixed 32-byte hash`);
  return value.toLowerCase() as Hex;
}

/** Decodes a tensor or bundle against named specs (INPUT_INVALID with the reason). */
export function decodeBundleChecked(bytes: Uint8Array, specs: readonly NamedTensorSpec[], what = "input"): Map<string, Tensor> {
  try {
    const matched = matchBundle(bundleEntries(bytes), specs, what);
    return new Map([...matched].map(([name, e]) => [name, decodeTensor(e.encoded)]));
  } catch (error) {
    throw new OracleSdkError(what === "input" ? "INPUT_INVALID" : "OUTPUT_UNAVAILABLE", `the ${what} bytes do not fit the model: ${(error as Error).message}`, { cause: error });
  }
}

export function decodeInput(bytes: Uint8Array): Tensor {
  try {
    return decodeTensor(bytes);
  } catch (error) {
    throw new OracleSdkError("INPUT_INVALID", `the input bytes are not a canonical tensor: ${(error as Error).message}`, { cause: error });
  }
}
