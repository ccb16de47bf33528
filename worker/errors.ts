/**
 * Worker-specific failures, with codes from protocol/errors.ts
 * so tools can still match on `code`; the class names and messages say exactly what happened.
 */
import { OracleError, type OracleErrorOptions, type Hex, type RejectReason } from "../protocol/index.js";

/** A queue message that is not a valid Job: dead-lettered at once with the schema's complaints. */
export class InvalidJobError extends OracleError {
  override readonly name = "InvalidJobError";
  constructor(message: string, options: OracleErrorOptions = {}) {
    super("MESSAGE_INVALID", `invalid job message: ${message}`, { ...options, retryable: false });
  }
}

/** A job for an EIP-712 domain (chainId, oracle) this worker is not configured to sign for. */
export class DomainNotAllowedError extends OracleError {
  override readonly name = "DomainNotAllowedError";
  constructor(chainId: string, oracle: string) {
    super("DOMAIN_MISMATCH", `domain not allowed: this worker does not sign for oracle ${oracle} on chain ${chainId}`, {
      details: { chainId, oracle },
      retryable: false,
    });
  }
}

/**
 * The text a signed rejection carries in public (the relayer shows it to anyone at
 * `/api/requests/:id`). It never reflects what only the worker can see: the hash, path or size of a
 * local file, an internal host's status code, size or port, or the bytes behind an inputURI. Those
 * stay in the worker's log. Details survive only where the requester supplied the thing judged: an
 * inline input's own shape, dtype or size, and the model's declared spec.
 */
export function publicRejectionMessage(error: OracleError, input: "inline" | "fetched"): string {
  switch (error.code) {
    case "MODEL_UNKNOWN":
      return "the model is not among the models this worker serves";
    case "MODEL_HASH_MISMATCH":
      return "no URI of the model served a file matching the model hash";
    case "MODEL_FETCH_FAILED":
      return "the model could not be fetched from its URIs";
    case "MODEL_UNSAFE":
      return "the model refers to external data or is not a well-formed ONNX file; workers refuse to load it";
    case "MODEL_TOO_LARGE":
      return "the model declares or implies a tensor larger than workers accept";
    case "MODEL_RESOURCE_LIMIT":
      // Which limit, and by how much, stays in the worker's log.
      return "the model exceeded the worker's resource limits for one run";
    case "INFERENCE_FAILED":
      if (error.details.stage === "load") return "the model cannot be loaded by onnxruntime";
      return input === "inline" ? redactPaths(error.message) : "inference failed on this input";
    case "INPUT_HASH_MISMATCH":
      return input === "inline" ? redactPaths(error.message) : "the input fetched from inputURI does not match the request's input hash";
    case "TENSOR_MALFORMED":
    case "TENSOR_SPEC_MISMATCH":
    case "PAYLOAD_TOO_LARGE":
      return input === "inline" ? redactPaths(error.message) : "the input at inputURI is unavailable, too large, or not a valid tensor for this model";
    case "INPUT_UNAVAILABLE":
    case "BLOB_NOT_FOUND":
    case "TIMEOUT":
      return "the input at inputURI is unavailable, too large, or not a valid tensor for this model";
    case "TIER_UNSUPPORTED":
      if (error.details.servedIn === "NONE+OPTIMISTIC") return "the model has several inputs or outputs: it is served in the NONE and OPTIMISTIC tiers, not ZK";
      return "the worker refused the request";
    default:
      return "the worker refused the request";
  }
}

/** Absolute paths (two or more segments) replaced: they name the worker's own files. */
function redactPaths(message: string): string {
  return message.replace(/(?:\/[\w.@+-]+){2,}/g, "<path>").slice(0, 512);
}

/**
 * A request the worker refuses with a signed Rejection (the requester is refunded). Carries the
 * on-chain reason and the error that decided it.
 */
export class JobRejection extends OracleError {
  override readonly name = "JobRejection";
  constructor(
    readonly reason: RejectReason,
    readonly error: OracleError,
    /** The input's tensor header and data root, when they prove it is not of the model's input type. */
    readonly inputProof?: { header: Hex; dataRoot: Hex },
  ) {
    // The deciding error's code and details; final (a signed rejection is never retried).
    super(error.code, error.message, { cause: error, details: error.details, retryable: false });
  }
}
