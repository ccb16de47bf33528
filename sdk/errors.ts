/**
 * The SDK's errors: one class (an OracleError), stable codes (a subset of the protocol's). Match on
 * the code (`isSdkError(e, "TIMEOUT")`), never on the message. Reverts from the contracts keep their Solidity error name in `details.revert`.
 */
import { Interface, isCallException } from "ethers";
import { IInferenceOracle__factory, IModelRegistry__factory } from "../protocol/contracts.js";
import { errorChain, OracleError, type SdkErrorCode } from "../protocol/errors.js";

export type { SdkErrorCode };

/** The SDK's error: an OracleError whose code is one of SdkErrorCode. */
export class OracleSdkError extends OracleError {
  override readonly name = "OracleSdkError";
  declare readonly code: SdkErrorCode;
  constructor(code: SdkErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

export function isSdkError(error: unknown, code?: SdkErrorCode): error is OracleSdkError {
  return error instanceof OracleSdkError && (code === undefined || error.code === code);
}

const INTERFACES = [new Interface(IInferenceOracle__factory.abi), new Interface(IModelRegistry__factory.abi)];

/** The revert data (a selector at least) behind a failed call or transaction, or undefined. */
export function revertData(error: unknown): string | undefined {
  for (const o of errorChain(error) as Iterable<{ data?: unknown }>) {
    const candidate = typeof o.data === "object" && o.data !== null ? (o.data as { data?: unknown }).data : o.data;
    if (typeof candidate === "string" && candidate.startsWith("0x") && candidate.length >= 10) return candidate;
  }
  return isCallException(error) && typeof error.data === "string" ? error.data : undefined;
}

/** The contract error behind a failed call or transaction, decoded by name, or undefined. */
export function decodeRevert(error: unknown): { name: string; args: Record<string, string> } | undefined {
  const data = revertData(error);
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
