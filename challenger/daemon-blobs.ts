/** The challenger daemon's reads of the blob store (challenger/daemon.ts): capped, hash-checked, retried, and deferred while the store cannot answer. */
import { signedGetHeaders, isError, fetchBytes, retry, type RetryOptions, decodeBundle, decodeTensor, hashBundleEncoded, hashEncoded, type Tensor } from "../protocol/index.js";
import { ChallengerError, isChallengerError } from "./errors.js";
import type { DaemonOptions } from "./daemon-types.js";

/** The store could not answer now: audit again later (not a fault of the worker). */
export function isTransient(error: unknown): boolean {
  return isChallengerError(error, "BLOB_STORE_UNAVAILABLE");
}

export class DaemonBlobs {
  constructor(private readonly options: Pick<DaemonOptions, "blobStoreUrl" | "blobAuth" | "fetch">) {}

  /** Headers that sign reads from the configured blob store (none elsewhere, none without a key). */
  private signedReads(): { headers?: (url: URL) => Record<string, string> } {
    const headers = signedGetHeaders(this.options.blobAuth, this.options.blobStoreUrl);
    return headers === undefined ? {} : { headers };
  }

  /**
   * The request's input, at most its registered encoded size. A 429/5xx/timeout is retried and then
   * BLOB_STORE_UNAVAILABLE (the audit is deferred); a 404 or wrong bytes end the audit (the input is
   * the requester's, not the worker's: nothing to challenge).
   */
  async fetchInput(inputHash: string, retryUntil: number | undefined, maxBytes: number): Promise<Tensor> {
    const bytes = await retry(() => this.storeBytes(inputHash, maxBytes), this.blobRetry(inputHash, "input blob", retryUntil));
    if (hashEncoded(bytes).toLowerCase() !== inputHash.toLowerCase()) throw new Error(`input blob ${inputHash} does not match its hash`);
    return decodeTensor(bytes);
  }

  /** A blob of the store by its hash (at most `maxBytes`), decoded and hash-checked; retried like the input. */
  async fetchBlob(hash: string, maxBytes: number, retryUntil: number | undefined): Promise<Tensor> {
    return retry(async () => {
      const bytes = await this.storeBytes(hash, maxBytes);
      if (hashEncoded(bytes).toLowerCase() !== hash.toLowerCase()) throw new Error(`blob ${hash} does not match its hash`);
      return decodeTensor(bytes);
    }, this.blobRetry(hash, "blob", retryUntil));
  }

  /**
   * A tensor bundle (several named inputs or outputs, protocol/bundle.ts) of the store by its bundle hash, or
   * a bare tensor (keyed ""), decoded and hash-checked; retried like `fetchBlob`.
   */
  async fetchNamed(hash: string, maxBytes: number, retryUntil: number | undefined): Promise<Map<string, Tensor>> {
    return retry(async () => {
      const bytes = await this.storeBytes(hash, maxBytes);
      if (hashBundleEncoded(bytes).toLowerCase() !== hash.toLowerCase()) throw new Error(`blob ${hash} does not match its hash`);
      return decodeBundle(bytes);
    }, this.blobRetry(hash, "blob", retryUntil));
  }

  /** One read of the configured blob store (its origin is trusted; a redirect elsewhere is checked). */
  private storeBytes(hash: string, maxBytes: number): Promise<Buffer> {
    return fetchBytes(`${this.options.blobStoreUrl.replace(/\/+$/, "")}/blobs/${hash}`, {
      maxBytes,
      timeoutMs: this.options.fetch?.timeoutMs ?? 30_000,
      schemes: ["http", "https"],
      addressPolicy: { trustedOrigins: [new URL(this.options.blobStoreUrl).origin] },
      ...this.signedReads(),
    });
  }

  /** Blob reads: a 429/5xx/timeout is retried with backoff (until `retryUntil`), then BLOB_STORE_UNAVAILABLE; a 404 or an oversize blob is final. */
  private blobRetry(hash: string, what: string, retryUntil: number | undefined): RetryOptions {
    const f = this.options.fetch ?? {};
    const final = (error: unknown) => isError(error, "BLOB_NOT_FOUND") || isError(error, "PAYLOAD_TOO_LARGE");
    return {
      attempts: Math.max(1, f.attempts ?? 5),
      delayMs: (attempt) => Math.min(2_000, (f.backoffMs ?? 250) * 2 ** (attempt - 1)),
      retryIf: (error) => !final(error),
      until: retryUntil,
      giveUp: (error, attempts) => (final(error) ? error : new ChallengerError("BLOB_STORE_UNAVAILABLE", `${what} ${hash} could not be fetched now (retry later)`, { hash, attempts }, { cause: error })),
    };
  }
}
