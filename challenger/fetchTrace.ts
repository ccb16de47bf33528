/**
 * Fetches a worker's trace from the blob store knowing only the signed traceRoot: the root is the
 * tensor hash of the trace manifest (protocol/trace.ts), so `GET /blobs/<traceRoot>` returns the
 * manifest, and each row of it names one trace tensor by its hash. Every blob is checked against
 * the hash it was fetched by.
 */
import { isError } from "../protocol/errors.js";
import { fetchBytes } from "../protocol/fetch.js";
import { decodeTensor, hashEncoded, type Tensor } from "../protocol/tensor.js";
import { manifestHashes, UNCOMMITTED_HASH } from "../protocol/trace.js";
import type { Hex } from "../protocol/types.js";
import { ChallengerError } from "./errors.js";

export interface FetchTraceOptions {
  timeoutMs?: number;
  maxBytes?: number;
  /** Parallel downloads. */
  concurrency?: number;
  /** Tries per blob on transient failures (429, 5xx, resets), with backoff; default 5. */
  attempts?: number;
  /**
   * The row count the model's commitment fixes. A manifest with another count is returned at once with
   * no row downloaded (`tensors` empty): the count alone proves the fault, and a tiny manifest naming
   * thousands of 64 MiB rows must not make the challenger download them (issue 13, finding 7).
   */
  expectedRows?: number;
  signal?: AbortSignal;
}

async function fetchTensor(baseUrl: string, hash: Hex, options: FetchTraceOptions): Promise<Tensor> {
  const url = `${baseUrl.replace(/\/+$/, "")}/blobs/${hash}`;
  let bytes: Buffer | undefined;
  const attempts = Math.max(1, options.attempts ?? 5);
  for (let attempt = 1; bytes === undefined; attempt++) {
    try {
      bytes = await fetchBytes(url, {
        maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
        timeoutMs: options.timeoutMs ?? 30_000,
        schemes: ["http", "https"],
        // The caller configured this store: its origin is trusted; a redirect elsewhere is checked.
        addressPolicy: { trustedOrigins: [new URL(url).origin] },
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      // A transient failure (the store's rate limit answering 429, a reset connection, a 5xx) is not
      // a withheld trace: wait and ask again before anyone is challenged over it. A 404 is final.
      const retryable = isError(error) && error.retryable && error.code !== "BLOB_NOT_FOUND" && options.signal?.aborted !== true;
      if (retryable && attempt < attempts) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 250 * 2 ** (attempt - 1))));
        continue;
      }
      throw new ChallengerError("TRACE_UNAVAILABLE", `trace blob ${hash} could not be fetched`, { hash, attempts: attempt }, { cause: error });
    }
  }
  const actual = hashEncoded(bytes);
  if (actual.toLowerCase() !== hash.toLowerCase()) throw new ChallengerError("TRACE_MALFORMED", `blob ${hash} hashes to ${actual}`, { hash, actual });
  return decodeTensor(bytes);
}

/** The trace tensors committed by `traceRoot`, in order (none when `expectedRows` does not match the manifest). */
export async function fetchTrace(baseUrl: string, traceRoot: Hex, options: FetchTraceOptions = {}): Promise<{ hashes: Hex[]; tensors: Tensor[] }> {
  const hashes = manifestHashes(await fetchTensor(baseUrl, traceRoot, options));
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
  if (options.expectedRows !== undefined && hashes.length !== options.expectedRows) return { hashes, tensors: [] };
  const tensors = new Array<Tensor>(hashes.length);
  let next = 0;
  const lane = async () => {
    while (next < hashes.length) {
      const i = next++;
      tensors[i] = await fetchTensor(baseUrl, hashes[i]!, options);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, lane));
  return { hashes, tensors };
}
