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
  /** Bytes served or signed for an output do not hash to its output hash (refused, never returned). */
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
  /** Bytes served or given for a blob do not hash to the hash they were asked or sent under (protocol/blob-client.ts). */
  | "BLOB_HASH_MISMATCH"
  | "REQUEST_NOT_FOUND"
  | "TIMEOUT"
  | "OP_UNSUPPORTED"
  /** A ZK-tier job for a model this worker has no proving artifacts (wasm, zkey) for: left for another worker. */
  | "ZK_ARTIFACTS_MISSING"
  /** The model does not offer the tier asked for (a worker: a model with several inputs or outputs is served in NONE only). */
  | "TIER_UNSUPPORTED"
  /** The model cannot be served or offered in the OPTIMISTIC tier (`oracle model check`: an operator without a canonical definition, a dynamic input shape; a worker: no canonical terms registered). */
  | "MODEL_NOT_DISPUTABLE"
  | "CANONICAL_TOO_SLOW"
  | "TRACE_MALFORMED"
  | "TRACE_UNAVAILABLE"
  | "TRACE_PARTIAL"
  | "BATCH_PROOF_UNAVAILABLE"
  /** A deterministic deployment does not match: other code at the CREATE2 factory address, or a contract or manifest that differs from what is deployed. */
  | "DEPLOYMENT_MISMATCH"
  | "INTERNAL"
  | ClientErrorCode;

/** Codes only the SDK and the CLI throw. */
type ClientErrorCode =
  /** No model with this hash in the registry. */
  | "MODEL_NOT_FOUND"
  /** The model is registered but switched off by its owner. */
  | "MODEL_INACTIVE"
  /** The input cannot be read or does not fit the model's input spec. */
  | "INPUT_INVALID"
  /** An input file format the SDK cannot read (e.g. an arithmetic-coded JPEG). */
  | "INPUT_FORMAT_UNSUPPORTED"
  /** The input is too large to go inline and no relayer URL was given to upload it to. */
  | "INPUT_UPLOAD_FAILED"
  /** The fee offered is below the model's fee plus the minimum worker fee. */
  | "FEE_TOO_LOW"
  /** A transaction reverted; details.revert names the contract error. */
  | "TX_REVERTED"
  /** The request was refunded (expired, rejected by a quorum of workers or with a proven input type
   * mismatch, cancelled by its requester after a rejection, worker at fault). */
  | "REQUEST_REFUNDED"
  /** The output could not be fetched, or it does not hash to the on-chain output hash. */
  | "OUTPUT_UNAVAILABLE"
  /** (CLI) A port to listen on is taken by another process. */
  | "PORT_IN_USE"
  /** (CLI) Another running `oracle dev` holds this data folder or deployment file. */
  | "DEV_STACK_RUNNING"
  /** (CLI) The chain an `oracle dev` data folder keeps cannot be resumed as asked (other flags, a journal that does not replay): `dev --fresh` wipes it. */
  | "DEV_STATE_UNUSABLE";

/** The codes the SDK and the CLI throw (OracleSdkError, sdk/errors.ts): a subset of ErrorCode. */
export type SdkErrorCode = ClientErrorCode | "TIER_UNSUPPORTED" | "MODEL_NOT_DISPUTABLE" | "OUTPUT_HASH_MISMATCH" | "CHAIN_UNAVAILABLE" | "TIMEOUT" | "REQUEST_NOT_FOUND" | "CONFIG_INVALID" | "MODEL_UNSAFE" | "MODEL_TOO_LARGE";

export interface OracleErrorOptions {
  /** Extra facts for logs and API responses (never secrets). */
  details?: Record<string, unknown>;
  cause?: unknown;
  /** Whether retrying the same operation may succeed (RPC backpressure) or never will (bad input). */
  retryable?: boolean;
}

export class OracleError extends Error {
  override readonly name: string = "OracleError";
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: OracleErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isError(error: unknown, code?: ErrorCode): error is OracleError {
  return error instanceof OracleError && (code === undefined || error.code === code);
}

/** True for failures worth retrying (timeouts, RPC errors), false for bad input and mismatches. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof OracleError) return error.retryable;
  return true; // unknown failures (network, crashes) are retried a bounded number of times
}

/**
 * The errors behind `error`, itself first: each one's `error`, `info.error` (ethers wraps a node's
 * JSON-RPC error so) or `cause`, at most `depth` deep. The one walker for every "what is behind this
 * failure" question (a connection reset, revert data, the node's message).
 */
export function* errorChain(error: unknown, depth = 6): Generator<object> {
  let e: unknown = error;
  for (let i = 0; i < depth && e !== null && typeof e === "object"; i++) {
    yield e;
    const o = e as { error?: unknown; info?: { error?: unknown }; cause?: unknown };
    e = o.error ?? o.info?.error ?? o.cause;
  }
}
