/**
 * The challenger's errors: BaseErrors with the shared stable codes (protocol/errors.ts), so every
 * service matches them the same way (`isError(e, "TRACE_UNAVAILABLE")`).
 */
import { BaseError, isError, type ErrorCode } from "../protocol/errors.js";

export type ChallengerErrorCode = Extract<ErrorCode, "OP_UNSUPPORTED" | "TRACE_MALFORMED" | "TRACE_UNAVAILABLE" | "TRACE_PARTIAL" | "BLOB_STORE_UNAVAILABLE">;

export class ChallengerError extends BaseError {
  override readonly name: string = "ChallengerError";

  constructor(code: ChallengerErrorCode, message: string, details: Record<string, unknown> = {}, options: { cause?: unknown } = {}) {
    // TRACE_UNAVAILABLE is the store's definitive answer (404, or bytes that are not the signed ones):
    // the worker must reveal the data (a data-availability challenge), so it is retryable in the sense
    // that the data may appear later. BLOB_STORE_UNAVAILABLE (429, 5xx, timeouts) is "ask again later"
    // and never grounds for a challenge. A malformed trace never becomes valid.
    super(code, message, { details, cause: options.cause, retryable: code === "TRACE_UNAVAILABLE" || code === "BLOB_STORE_UNAVAILABLE" });
  }
}

export function isChallengerError(error: unknown, code?: ChallengerErrorCode): error is ChallengerError {
  return error instanceof ChallengerError && isError(error, code);
}
