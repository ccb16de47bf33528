/**
 * The challenger daemon's use of the blob store (challenger/daemon.ts) through the one blob client
 * (protocol/blob-client.ts): reads capped by the committed types, hash-checked and retried, deferred
 * while the store cannot answer; a withheld output it recomputed, published.
 */
import { BlobClient, isError, decodeBundle, decodeTensor, type Tensor } from "../protocol/index.js";
import { ChallengerError } from "./errors.js";
import type { DaemonOptions } from "./daemon-types.js";

/** Cap on one download whose size no committed type bounds (a dynamic dimension): 1 GiB. */
export const DEFAULT_MAX_AUDIT_BYTES = 1 << 30;

/** The store could not answer now: audit again later (not a fault of the worker). */
export function isTransient(error: unknown): boolean {
  return isError(error, "BLOB_STORE_UNAVAILABLE");
}

export class DaemonBlobs {
  private readonly client: BlobClient;

  constructor(options: Pick<DaemonOptions, "blobStoreUrl" | "blobAuth" | "fetch">) {
    const f = options.fetch ?? {};
    // A 429/5xx/timeout is retried with backoff (until the audit's deadline), then BLOB_STORE_UNAVAILABLE.
    this.client = new BlobClient({
      storeUrl: options.blobStoreUrl,
      ...(options.blobAuth === undefined ? {} : { auth: options.blobAuth }),
      timeoutMs: f.timeoutMs ?? 30_000,
      retry: { attempts: f.attempts ?? 5, backoffMs: f.backoffMs ?? 250, maxBackoffMs: 2_000 },
    });
  }

  /**
   * The request's input, at most its registered encoded size. A store that cannot answer now is
   * BLOB_STORE_UNAVAILABLE (the audit is deferred); a 404 or wrong bytes end the audit (the input is
   * the requester's, not the worker's: nothing to challenge).
   */
  async fetchInput(inputHash: string, retryUntil: number | undefined, maxBytes: number): Promise<Tensor> {
    return decodeTensor(await this.read(inputHash, "input blob", maxBytes, retryUntil, (e) => isError(e, "BLOB_HASH_MISMATCH")));
  }

  /** A blob of the store by its hash (at most `maxBytes`), hash-checked and decoded; wrong bytes are deferred like an unavailable store. */
  async fetchBlob(hash: string, maxBytes: number, retryUntil: number | undefined): Promise<Tensor> {
    return decodeTensor(await this.read(hash, "blob", maxBytes, retryUntil, () => false));
  }

  /**
   * A tensor bundle (several named inputs or outputs, protocol/bundle.ts) of the store by its bundle hash, or
   * a bare tensor (keyed ""), hash-checked and decoded; deferred like `fetchBlob`.
   */
  async fetchNamed(hash: string, maxBytes: number, retryUntil: number | undefined): Promise<Map<string, Tensor>> {
    return decodeBundle(await this.read(hash, "blob", maxBytes, retryUntil, () => false));
  }

  /**
   * Publishes a canonical encoding (a withheld output or output bundle recomputed canonically) under the hash it
   * was just computed to have, signed as this challenger. The store checks the hash again and keeps one copy
   * per hash: a racing upload of the same bytes changes nothing, one of other bytes is refused there.
   */
  async publish(encoded: Uint8Array, hash: string): Promise<void> {
    await this.client.upload(encoded, { hash, verified: true });
  }

  /** A 404 or an oversize blob is final (and what `final` says); anything else is deferred (BLOB_STORE_UNAVAILABLE). */
  private async read(hash: string, what: string, maxBytes: number, retryUntil: number | undefined, final: (error: unknown) => boolean): Promise<Buffer> {
    try {
      return await this.client.download(hash, { maxBytes, ...(retryUntil === undefined ? {} : { until: retryUntil }) });
    } catch (error) {
      if (isError(error, "BLOB_NOT_FOUND") || isError(error, "PAYLOAD_TOO_LARGE") || final(error)) throw error;
      throw new ChallengerError("BLOB_STORE_UNAVAILABLE", `${what} ${hash} could not be fetched now (retry later)`, { hash, ...(isError(error) ? { attempts: error.details.attempts } : {}) }, { cause: error });
    }
  }
}
