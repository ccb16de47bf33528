/**
 * Errors with stable codes, shared by every service. A code is part of the public API: tools and
 * tests match on it (`isError(e, "MODEL_HASH_MISMATCH")`), never on the message.
 */
export type ErrorCode =
  | "TENSOR_MALFORMED"
  | "WORKER_TIMED_OUT"
  | "TENSOR_SPEC_MISMATCH"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED"
  | "MODEL_UNKNOWN"
  | "MODEL_HASH_MISMATCH"
  | "MODEL_FETCH_FAILED"
  | "MODEL_UNSAFE"
  | "MODEL_TOO_LARGE"
  | "MODEL_RESOURCE_LIMIT"
  | "INPUT_UNAVAILABLE"
  | "INPUT_HASH_MISMATCH"
  | "OUTPUT_HASH_MISMATCH"
  | "MESSAGE_INVALID"
  | "DOMAIN_MISMATCH"
  | "INFERENCE_FAILED"
  | "PROVIDER_UNAVAILABLE"
  | "SIGNATURE_INVALID"
  | "CONFIG_INVALID"
  | "QUEUE_CLOSED"
  | "QUEUE_UNAVAILABLE"
  | "QUEUE_ACCESS_REFUSED"
  | "AUTH_INVALID"
  | "CHAIN_REVERTED"
  | "CHAIN_UNAVAILABLE"
  | "BLOB_NOT_FOUND"
  | "BLOB_STORE_UNAVAILABLE"
  | "REQUEST_NOT_FOUND"
  | "TIMEOUT"
  | "OP_UNSUPPORTED"
  | "CANONICAL_TOO_SLOW"
  | "TRACE_MALFORMED"
  | "TRACE_UNAVAILABLE"
  | "TRACE_PARTIAL"
  | "BATCH_PROOF_UNAVAILABLE"
  /** A deterministic deployment does not match: other code at the CREATE2 factory address, or a contract or manifest that differs from what is deployed. */
  | "DEPLOYMENT_MISMATCH"
  | "INTERNAL";

export interface BaseErrorOptions {
  /** Extra facts for logs and API responses (never secrets). */
  details?: Record<string, unknown>;
  cause?: unknown;
  /** Whether retrying the same operation may succeed (RPC backpressure) or never will (bad input). */
  retryable?: boolean;
}

export class BaseError extends Error {
  override readonly name: string = "OracleError";
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: BaseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isError(error: unknown, code?: ErrorCode): error is BaseError {
  return error instanceof BaseError && (code === undefined || error.code === code);
}

/** True for failures worth retrying (timeouts, RPC errors), false for bad input and mismatches. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof BaseError) return error.retryable;
  return true; // unknown failures (network, crashes) are retried a bounded number of times
}
