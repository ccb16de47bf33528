/**
 * The challenger's errors: OracleErrors with the shared stable codes (protocol/errors.ts), so every
 * service matches them the same way (`isError(e, "BLOB_STORE_UNAVAILABLE")`).
 */
import { OracleError, isError, type ErrorCode } from "../protocol/index.js";

export type ChallengerErrorCode = Extract<ErrorCode, "OP_UNSUPPORTED" | "TRACE_MALFORMED" | "BLOB_STORE_UNAVAILABLE" | "OUTPUT_UNAVAILABLE">;

export class ChallengerError extends OracleError {
  override readonly name: string = "ChallengerError";

  constructor(code: ChallengerErrorCode, message: string, details: Record<string, unknown> = {}, options: { cause?: unknown } = {}) {
    // BLOB_STORE_UNAVAILABLE (429, 5xx, timeouts) is "ask again later" and never grounds for a challenge.
    // TRACE_MALFORMED (the reference checker's, test/challenger) never becomes valid. OUTPUT_UNAVAILABLE (a
    // withheld output that is not the canonical one) is fetched again while the challenge window is open.
    super(code, message, { details, cause: options.cause, retryable: code === "BLOB_STORE_UNAVAILABLE" });
  }
}

export function isChallengerError(error: unknown, code?: ChallengerErrorCode): error is ChallengerError {
  return error instanceof ChallengerError && isError(error, code);
}
