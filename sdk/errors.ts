/**
 * The SDK's errors: one class, stable codes. Match on the code (`isSdkError(e, "TIMEOUT")`), never on
 * the message. Reverts from the contracts keep their Solidity error name in `details.revert`.
 */
import { Interface, isCallException } from "ethers";
import { IInferenceOracle__factory, IModelRegistry__factory } from "../protocol/contracts.js";

export type SdkErrorCode =
  /** No model with this hash in the registry. */
  | "MODEL_NOT_FOUND"
  /** The model is registered but switched off by its owner. */
  | "MODEL_INACTIVE"
  /** The model does not offer the tier asked for. */
  | "TIER_UNSUPPORTED"
  /** The input cannot be read or does not fit the model's input spec. */
  | "INPUT_INVALID"
  /** An input file format the SDK cannot read (e.g. a progressive JPEG). */
  | "INPUT_FORMAT_UNSUPPORTED"
  /** The input is too large to go inline and no relayer URL was given to upload it to. */
  | "INPUT_UPLOAD_FAILED"
  /** The fee offered is below the model's fee plus the minimum worker fee. */
  | "FEE_TOO_LOW"
  /** A transaction reverted; details.revert names the contract error. */
  | "TX_REVERTED"
  /** The chain node did not answer. */
  | "CHAIN_UNAVAILABLE"
  /** Waited longer than the timeout for a request to reach the stage asked for. */
  | "TIMEOUT"
  /** The request was refunded (expired, rejected by a quorum of workers or with a proven input type
   * mismatch, cancelled by its requester after a rejection, worker at fault). */
  | "REQUEST_REFUNDED"
  /** The request id is unknown to the oracle. */
  | "REQUEST_NOT_FOUND"
  /** The output could not be fetched, or it does not hash to the on-chain output hash. */
  | "OUTPUT_UNAVAILABLE"
  /** The bytes served for an output do not hash to its on-chain output hash (refused, never returned). */
  | "OUTPUT_HASH_MISMATCH"
  /** A required setting (oracle address, signer, relayer URL) is missing or malformed. */
  | "CONFIG_INVALID"
  /** (CLI) A port to listen on is taken by another process. */
  | "PORT_IN_USE"
  /** (CLI) Another running `oracle dev` holds this data folder or deployment file. */
  | "DEV_STACK_RUNNING"
  /** (CLI) The chain an `oracle dev` data folder keeps cannot be resumed as asked (other flags, a journal that does not replay): `dev --fresh` wipes it. */
  | "DEV_STATE_UNUSABLE"
  /** The model refers to external data (files beside it) or is not well-formed: never registered or served. */
  | "MODEL_UNSAFE"
  /** The model declares or implies a tensor larger than workers accept (shape bounds): never registered or served. */
  | "MODEL_TOO_LARGE"
  /** (CLI) The model cannot be offered in the OPTIMISTIC tier (`oracle model check`: an operator without a canonical definition, a dynamic input shape, an output above the inline cap). */
  | "MODEL_NOT_DISPUTABLE";

export class OracleSdkError extends Error {
  override readonly name = "OracleSdkError";
  readonly code: SdkErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: SdkErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
  toJSON(): { code: SdkErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isSdkError(error: unknown, code?: SdkErrorCode): error is OracleSdkError {
  return error instanceof OracleSdkError && (code === undefined || error.code === code);
}

const INTERFACES = [new Interface(IInferenceOracle__factory.abi), new Interface(IModelRegistry__factory.abi)];

/** The contract error behind a failed call or transaction, decoded by name, or undefined. */
export function decodeRevert(error: unknown): { name: string; args: Record<string, string> } | undefined {
  let data: string | undefined;
  const e = error as { data?: unknown; info?: { error?: { data?: unknown } }; error?: { data?: unknown } } | null;
  for (const candidate of [e?.data, e?.info?.error?.data, e?.error?.data, (e?.info?.error?.data as { data?: unknown } | undefined)?.data]) {
    if (typeof candidate === "string" && candidate.startsWith("0x") && candidate.length >= 10) {
      data = candidate;
      break;
    }
  }
  if (data === undefined && isCallException(error) && typeof error.data === "string") data = error.data;
  if (data === undefined) return undefined;
  for (const iface of INTERFACES) {
    try {
      const parsed = iface.parseError(data);
      if (parsed === null) continue;
      const args: Record<string, string> = {};
      parsed.fragment.inputs.forEach((input, i) => {
        args[input.name || String(i)] = String(parsed.args[i]);
      });
      return { name: parsed.name, args };
    } catch {
      // not this interface's error
    }
  }
  return { name: "unknown", args: { data } };
}

/** Wraps an ethers failure as TX_REVERTED (with the decoded contract error) or CHAIN_UNAVAILABLE. */
export function chainError(what: string, error: unknown): OracleSdkError {
  if (error instanceof OracleSdkError) return error;
  const revert = decodeRevert(error);
  if (revert !== undefined) {
    const args = Object.entries(revert.args).map(([k, v]) => `${k}=${v}`).join(", ");
    return new OracleSdkError("TX_REVERTED", `${what} reverted: ${revert.name}(${args})`, { details: { revert: revert.name, args: revert.args }, cause: error });
  }
  const code = (error as { code?: string } | null)?.code;
  if (code === "CALL_EXCEPTION") {
    return new OracleSdkError("TX_REVERTED", `${what} reverted: ${(error as Error).message}`, { cause: error });
  }
  return new OracleSdkError("CHAIN_UNAVAILABLE", `${what} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
