/**
 * Worker-specific failures, with codes from protocol/errors.ts
 * so tools can still match on `code`; the class names and messages say exactly what happened.
 */
import { BaseError, type BaseErrorOptions } from "../protocol/errors.js";
import type { RejectReason } from "../protocol/types.js";

/** A queue message that is not a valid Job: dead-lettered at once with the schema's complaints. */
export class InvalidJobError extends BaseError {
  override readonly name = "InvalidJobError";
  constructor(message: string, options: BaseErrorOptions = {}) {
    super("MESSAGE_INVALID", `invalid job message: ${message}`, { ...options, retryable: false });
  }
}

/** A job for an EIP-712 domain (chainId, oracle) this worker is not configured to sign for. */
export class DomainNotAllowedError extends BaseError {
  override readonly name = "DomainNotAllowedError";
  constructor(chainId: string, oracle: string) {
    super("DOMAIN_MISMATCH", `domain not allowed: this worker does not sign for oracle ${oracle} on chain ${chainId}`, {
      details: { chainId, oracle },
      retryable: false,
    });
  }
}

/**
 * A request the worker refuses with a signed Rejection (the requester is refunded). Carries the
 * on-chain reason and the error that decided it.
 */
export class JobRejection extends Error {
  override readonly name = "JobRejection";
  constructor(
    readonly reason: RejectReason,
    readonly error: BaseError,
  ) {
    super(error.message, { cause: error });
  }
}
