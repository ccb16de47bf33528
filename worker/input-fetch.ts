/** Fetching inputs (worker/worker.ts): a job's input with its retries, a disputed request's input again, and the address policy every fetch obeys. */
import type { Logger } from "pino";
import { BlobClient, type BlobAuth, OracleError, isError, type FetchBytesOptions, retry, type Job } from "../protocol/index.js";
import type { WorkerConfig } from "./config.js";
import type { InputCache } from "./input-cache.js";

/** Pause between tries of a transiently failing input fetch (times the attempt number). */
const INPUT_RETRY_DELAY_MS = 250;

/** What the input fetches use of the worker. */
export interface InputContext {
  readonly config: WorkerConfig;
  readonly fetch: (uri: string, options: FetchBytesOptions) => Promise<Buffer>;
  /** The blob store's client (workerBlobClient); it has no store without a blobStoreUrl. */
  readonly blobs: BlobClient;
  readonly inputs: InputCache;
  readonly log: Logger;
}

/**
 * What every input and model fetch obeys (protocol/netPolicy.ts): public addresses only, plus the
 * operator's explicit exceptions and its own blob store's origin; redirects re-checked; slow hosts cut off.
 */
export function httpPolicy(c: WorkerConfig): Pick<FetchBytesOptions, "addressPolicy" | "firstByteTimeoutMs" | "minBytesPerSecond"> {
  return {
    addressPolicy: { allowedAddresses: c.fetchAllowedAddresses, trustedOrigins: c.blobStoreUrl === undefined ? [] : [new URL(c.blobStoreUrl).origin] },
    firstByteTimeoutMs: c.fetchFirstByteTimeoutMs,
    minBytesPerSecond: c.fetchMinBytesPerSecond,
  };
}

/** The worker's blob client (protocol/blob-client.ts): its store (when configured), signed as `auth`, reads under httpPolicy. */
export function workerBlobClient(c: WorkerConfig, fetch: InputContext["fetch"], auth?: BlobAuth): BlobClient {
  const http = httpPolicy(c);
  return new BlobClient({
    ...(c.blobStoreUrl === undefined ? {} : { storeUrl: c.blobStoreUrl }),
    ...(auth === undefined ? {} : { auth }),
    timeoutMs: c.fetchTimeoutMs,
    ...http,
    fetch,
  });
}

/**
 * The input of a request this worker answered, for a dispute on it: the cache, else refetched (its blob
 * store by hash, then the request's URI) and checked against `inputHash` (protocol/blob-client.ts);
 * undefined when none has it.
 */
export async function fetchDisputeInput(ctx: InputContext, requestId: string, inputHash: string, inputURI: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  const cached = ctx.inputs.get(requestId);
  if (cached !== undefined) return cached;
  const blobs = ctx.blobs;
  const options = { maxBytes: ctx.config.maxInputBytes, ...(signal === undefined ? {} : { signal }) };
  const sources: Array<{ uri: string; read: () => Promise<Buffer> }> = [
    ...(blobs.storeUrl === undefined ? [] : [{ uri: blobs.url(inputHash), read: () => blobs.download(inputHash, options) }]),
    ...(inputURI === "" ? [] : [{ uri: inputURI, read: () => blobs.downloadUri(inputURI, inputHash, { ...options, schemes: ctx.config.inputSchemes }) }]),
  ];
  for (const s of sources) {
    try {
      const bytes = await s.read();
      await ctx.inputs.put(requestId, inputHash, bytes).catch((error: unknown) => ctx.log.warn({ err: error, requestId }, "could not cache a refetched input"));
      return bytes;
    } catch (error) {
      const mismatch = isError(error, "BLOB_HASH_MISMATCH");
      ctx.log.warn({ err: error, requestId, uri: s.uri }, mismatch ? "a refetched input does not hash to the request's inputHash" : "refetching a disputed request's input failed");
    }
  }
  return undefined;
}

export async function fetchJobInput(ctx: InputContext, job: Job, inline: Buffer | undefined, signal: AbortSignal): Promise<Buffer> {
  const max = ctx.config.maxInputBytes;
  if (inline !== undefined) {
    const size = inline.byteLength;
    if (size > max) {
      throw new OracleError("PAYLOAD_TOO_LARGE", `the inline input is ${size} bytes, more than the limit of ${max}`, { details: { size, maxBytes: max } });
    }
    return inline;
  }
  if (job.inputURI === "") {
    throw new OracleError("INPUT_UNAVAILABLE", "the job has neither an inline input nor an inputURI");
  }
  // A transient failure (5xx, 429, refused, reset) is tried again here, a few times; a host too
  // slow for the limits (a tarpit) is not. Either way the outcome is one signed rejection, never
  // a redelivery that would hold a slot again for the same input. A shutdown
  // (signal aborted) is retried by redelivery: the input was never judged.
  return retry(() => ctx.fetch(job.inputURI, { ...httpPolicy(ctx.config), maxBytes: max, timeoutMs: ctx.config.fetchTimeoutMs, signal, schemes: ctx.config.inputSchemes }), {
    attempts: ctx.config.fetchAttempts,
    delayMs: (attempt) => INPUT_RETRY_DELAY_MS * attempt,
    retryIf: (error) => (error instanceof OracleError ? error.retryable && !isError(error, "TIMEOUT") : true),
    signal,
    giveUp: (error, attempts) => {
      if (signal.aborted || (error instanceof OracleError && !error.retryable)) return error;
      return new OracleError("INPUT_UNAVAILABLE", (error as Error).message, {
        cause: error,
        details: { ...(error instanceof OracleError ? error.details : {}), attempts },
        retryable: false,
      });
    },
  });
}
