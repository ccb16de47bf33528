/**
 * Fetches a worker's trace from the blob store knowing only the signed traceRoot: the root is the
 * tensor hash of the trace manifest (protocol/trace.ts), so `GET /blobs/<traceRoot>` returns the
 * manifest, and each row of it names one trace tensor by its hash. Every blob is checked against
 * the hash it was fetched by.
 *
 * What a failure means (issue 13, finding 7): only a definitive answer makes a trace unavailable
 * (TRACE_UNAVAILABLE, which the daemon answers with a data-availability challenge): a 404/410 from
 * the configured store, or bytes that do not hash to what the worker signed. Everything else (429,
 * 5xx, 403, timeouts, resets, a refused redirect) is the store's problem or a flood, not the worker's:
 * it is retried here with backoff and, when the tries run out, reported as BLOB_STORE_UNAVAILABLE
 * ("retry later"), never as withheld.
 *
 * What it downloads is bounded: a row is read at most up to the encoded size of its committed
 * dtype x shape (the stream is aborted past it: TRACE_MALFORMED), the manifest up to
 * `maxManifestBytes` (or its committed size when the row count is known), and all of an audit's
 * blobs together up to `maxTotalBytes`.
 */
import { signedGetHeaders, type BlobAuth } from "../protocol/blobAuth.js";
import { isError } from "../protocol/errors.js";
import { fetchBytes } from "../protocol/fetch.js";
import type { TensorType } from "../protocol/commitment.js";
import { decodeTensor, DTYPES, HEADER_FIXED_BYTES, hashEncoded, numel, type Tensor } from "../protocol/tensor.js";
import { manifestHashes, UNCOMMITTED_HASH } from "../protocol/trace.js";
import type { Hex } from "../protocol/types.js";
import { ChallengerError } from "./errors.js";

/** Default cap on one blob when no committed type bounds it. */
export const DEFAULT_MAX_BLOB_BYTES = 64 << 20;
/** Default cap on the manifest when the row count is not known (8 MiB: 262,000 rows). */
export const DEFAULT_MAX_MANIFEST_BYTES = 8 << 20;
/** Default cap on all the blobs of one audit together (manifest, rows). */
export const DEFAULT_MAX_AUDIT_BYTES = 1 << 30;

export interface FetchTraceOptions {
  timeoutMs?: number;
  /** Signs each read (protocol/blobAuth.ts), so the store rate-limits this challenger on its own. */
  auth?: BlobAuth;
  /** Cap on one blob whose size no committed type bounds (default 64 MiB). */
  maxBytes?: number;
  /** Cap on the manifest when `expectedRows` is not given (default 8 MiB). */
  maxManifestBytes?: number;
  /** Cap on all blobs of this trace together (default 1 GiB). */
  maxTotalBytes?: number;
  /** Parallel downloads. */
  concurrency?: number;
  /** Tries per blob on transient failures (429, 5xx, resets), with backoff; default 5. */
  attempts?: number;
  /** First backoff between tries (doubles each try, at most 2 s); default 250 ms. */
  backoffMs?: number;
  /** Wall-clock time (ms since the epoch) after which no more tries are started (the challenge window). */
  retryUntil?: number;
  /**
   * The row count the model's commitment fixes. A manifest with another count is returned at once with
   * no row downloaded (`tensors` empty): the count alone proves the fault, and a tiny manifest naming
   * thousands of 64 MiB rows must not make the challenger download them (issue 13, finding 7).
   */
  expectedRows?: number;
  /**
   * The committed type of each row (the commitment's traceTypes): a row is downloaded only up to its
   * encoded size; a larger one is aborted mid-stream (TRACE_MALFORMED).
   */
  rowTypes?: readonly TensorType[];
  signal?: AbortSignal;
}

/** Encoded size (VIOT header + data) of a tensor of this dtype and shape. */
export function encodedSize(type: TensorType): number {
  return HEADER_FIXED_BYTES + 4 * type.shape.length + numel(type.shape) * (DTYPES[type.dtype]?.size ?? 1);
}

/**
 * The bytes an audit may still download. A fetch reserves its cap first (so parallel lanes together
 * never pass the total) and gives back what it did not use. A lane that wants more than is left waits
 * for the others to settle, then takes the remainder (a blob larger than that is aborted at it).
 */
class ByteBudget {
  private outstanding = 0;
  private waiters: Array<() => void> = [];
  constructor(private left: number, readonly total: number) {}
  async reserve(hash: Hex, want: number): Promise<number> {
    while (want > this.left && this.outstanding > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.left <= 0) throw new ChallengerError("TRACE_MALFORMED", `the audit's byte cap of ${this.total} bytes is spent (blob ${hash} not fetched)`, { hash, maxTotalBytes: this.total });
    const n = Math.min(want, this.left);
    this.left -= n;
    this.outstanding++;
    return n;
  }
  settle(reserved: number, used: number) {
    this.left += reserved - used;
    this.outstanding--;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

async function fetchTensor(baseUrl: string, hash: Hex, options: FetchTraceOptions, budget: ByteBudget, cap: number): Promise<Tensor> {
  const url = `${baseUrl.replace(/\/+$/, "")}/blobs/${hash}`;
  let bytes: Buffer | undefined;
  const attempts = Math.max(1, options.attempts ?? 5);
  const reserved = await budget.reserve(hash, cap);
  try {
    for (let attempt = 1; bytes === undefined; attempt++) {
      try {
        bytes = await fetchBytes(url, {
          maxBytes: reserved,
          timeoutMs: options.timeoutMs ?? 30_000,
          schemes: ["http", "https"],
          // The caller configured this store: its origin is trusted; a redirect elsewhere is checked.
          addressPolicy: { trustedOrigins: [new URL(url).origin] },
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(options.auth === undefined ? {} : { headers: signedGetHeaders(options.auth, url)! }),
        });
      } catch (error) {
        if (options.signal?.aborted === true) throw error;
        // A definitive "not here" from the store the worker published to: what a DA challenge is for.
        if (isError(error, "BLOB_NOT_FOUND")) {
          throw new ChallengerError("TRACE_UNAVAILABLE", `trace blob ${hash} is not in the blob store`, { hash, attempts: attempt }, { cause: error });
        }
        // Larger than the committed type (or the audit's remaining budget): the stream was aborted at
        // the cap. Never retried (it would download the same bytes again), never a DA challenge.
        if (isError(error, "PAYLOAD_TOO_LARGE")) {
          throw new ChallengerError("TRACE_MALFORMED", `trace blob ${hash} is larger than ${reserved} bytes (its committed size or the audit's cap)`, { hash, maxBytes: reserved }, { cause: error });
        }
        // Anything else (the store's rate limit answering 429, a 5xx, a reset connection, a timeout, a
        // 403 from a proxy) is not a withheld trace: wait and ask again; when the tries or the window
        // run out, report "retry later", never "unavailable".
        const delay = Math.min(2_000, (options.backoffMs ?? 250) * 2 ** (attempt - 1));
        const inWindow = options.retryUntil === undefined || Date.now() + delay < options.retryUntil;
        if (attempt < attempts && inWindow) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        throw new ChallengerError("BLOB_STORE_UNAVAILABLE", `trace blob ${hash} could not be fetched now (retry later)`, { hash, attempts: attempt }, { cause: error });
      }
    }
  } finally {
    budget.settle(reserved, bytes?.byteLength ?? 0);
  }
  const actual = hashEncoded(bytes);
  // Bytes that are not what the worker signed: as good as none (the worker must reveal the real ones).
  if (actual.toLowerCase() !== hash.toLowerCase()) throw new ChallengerError("TRACE_UNAVAILABLE", `blob ${hash} hashes to ${actual}`, { hash, actual });
  return decodeTensor(bytes);
}

/** The trace tensors committed by `traceRoot`, in order (none when `expectedRows` does not match the manifest). */
export async function fetchTrace(baseUrl: string, traceRoot: Hex, options: FetchTraceOptions = {}): Promise<{ hashes: Hex[]; tensors: Tensor[] }> {
  const maxBlob = options.maxBytes ?? DEFAULT_MAX_BLOB_BYTES;
  const totalCap = options.maxTotalBytes ?? DEFAULT_MAX_AUDIT_BYTES;
  const budget = new ByteBudget(totalCap, totalCap);
  const expectedRows = options.expectedRows ?? options.rowTypes?.length;
  const manifestCap = Math.max(options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES, expectedRows === undefined ? 0 : encodedSize({ dtype: "uint8", shape: [expectedRows, 32] }));
  const hashes = manifestHashes(await fetchTensor(baseUrl, traceRoot, options, budget, manifestCap));
  // A checkpoint trace (worker `trace: "checkpoint"`) leaves uncommitted rows zero: those tensors
  // were never published, and single operators next to them cannot be checked from committed
  // inputs. Segment re-runs and the reveal round are not built (docs/OPTIMISTIC.md), so such a
  // trace is reported as partial rather than fetched: asking for a zero row would look like a
  // withheld trace and lead to a pointless availability challenge against an honest worker.
  const uncommitted = hashes.filter((h) => h.toLowerCase() === UNCOMMITTED_HASH).length;
  if (uncommitted > 0) {
    throw new ChallengerError("TRACE_PARTIAL", `checkpoint trace: ${uncommitted} of ${hashes.length} tensors are not committed`, {
      traceRoot,
      uncommitted,
      rows: hashes.length,
    });
  }
  if (expectedRows !== undefined && hashes.length !== expectedRows) return { hashes, tensors: [] };
  const caps = hashes.map((_, i) => {
    const type = options.rowTypes?.[i];
    return type === undefined ? maxBlob : encodedSize(type);
  });
  const tensors = new Array<Tensor>(hashes.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < hashes.length && !failed) {
      const i = next++;
      try {
        tensors[i] = await fetchTensor(baseUrl, hashes[i]!, options, budget, caps[i]!);
      } catch (error) {
        failed = true; // the other lanes stop taking rows: this audit ends here
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, lane));
  return { hashes, tensors };
}
