/**
 * The challenger's errors: BaseErrors with the shared stable codes (protocol/errors.ts), so every
 * service matches them the same way (`isError(e, "TRACE_UNAVAILABLE")`).
 */
import { BaseError, isError, type ErrorCode } from "../protocol/errors.js";

export type ChallengerErrorCode = Extract<ErrorCode, "OP_UNSUPPORTED" | "TRACE_MALFORMED" | "TRACE_UNAVAILABLE" | "TRACE_PARTIAL">;

export class ChallengerError extends BaseError {
  override readonly name: string = "ChallengerError";

  constructor(code: ChallengerErrorCode, message: string, details: Record<string, unknown> = {}, options: { cause?: unknown } = {}) {
    // A trace that could not be fetched may be fetched later; a malformed one never becomes valid.
    super(code, message, { details, cause: options.cause, retryable: code === "TRACE_UNAVAILABLE" });
  }
}

export function isChallengerError(error: unknown, code?: ChallengerErrorCode): error is ChallengerError {
  return error instanceof ChallengerError && isError(error, code);
}
