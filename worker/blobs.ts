/**
 * Uploads outputs too large to inline to the blob store (`PUT /blobs/:hash`, body = canonical
 * bytes; the relayer's store answers GET /blobs/:hash). 5xx, 429 and network failures are
 * retryable; other refusals are not.
 */
import { errorChain, OracleError, redactUri, retry, type Hex, BLOB_AUTH_HEADER, type BlobAuth } from "../protocol/index.js";

export interface PutBlobOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Signs each upload as the worker's signer (protocol/blobAuth.ts): the store then keys its budgets by this identity. */
  auth?: BlobAuth;
}

export function blobUrl(baseUrl: string, hash: Hex): string {
  return `${baseUrl.replace(/\/+$/, "")}/blobs/${hash}`;
}

const PUT_ATTEMPTS = 3;

/** A 429 from the store, to be sent again after `waitMs` (its Retry-After, capped). */
class RateLimited extends Error {
  constructor(readonly waitMs: number) {
    super(`429: retry in ${waitMs} ms`);
  }
}

function isConnectionReset(error: unknown): boolean {
  return [...errorChain(error, 4)].some((e) => ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(String((e as { code?: unknown }).code)));
}

/** Stores `bytes` under `hash`; resolves with the blob's URL. */
export async function putBlob(baseUrl: string, hash: Hex, bytes: Uint8Array, options: PutBlobOptions): Promise<string> {
  const url = blobUrl(baseUrl, hash);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  const details = { url: redactUri(url), bytes: bytes.byteLength };
  const put = async (attempt: number): Promise<Response> => {
    const response = await fetch(url, {
      method: "PUT",
      // Node's fetch sends any Uint8Array; the DOM typing wants one over a plain ArrayBuffer.
      body: bytes as Uint8Array<ArrayBuffer>,
      headers: {
        "content-type": "application/octet-stream",
        ...(options.auth === undefined ? {} : { [BLOB_AUTH_HEADER]: options.auth.header() }),
      },
      signal,
    });
    await response.body?.cancel().catch(() => undefined);
    // The store's rate limit (429, shared by every client on one address): wait as asked (capped)
    // and send again, rather than failing the whole job over a burst of trace uploads.
    if (response.status === 429 && attempt < PUT_ATTEMPTS && !signal.aborted) {
      const retryAfter = Number(response.headers.get("retry-after") ?? "1");
      throw new RateLimited(Math.min(2_000, Math.max(100, (Number.isFinite(retryAfter) ? retryAfter : 1) * 1000)));
    }
    return response;
  };
  const response = await retry(put, {
    attempts: PUT_ATTEMPTS,
    delayMs: (_attempt, error) => (error instanceof RateLimited ? error.waitMs : 0),
    // A kept-alive socket the server closed just as it was reused fails with ECONNRESET / EPIPE
    // before anything was stored; the PUT is idempotent (content-addressed), so send it again.
    retryIf: (error) => error instanceof RateLimited || (!signal.aborted && isConnectionReset(error)),
    giveUp: (error, attempts) =>
      new OracleError(timeout.aborted ? "TIMEOUT" : "BLOB_STORE_UNAVAILABLE", `uploading the output to ${redactUri(url)} failed: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
        details: { ...details, attempts },
      }),
  });
  if (!response.ok) {
    const status = response.status;
    const retryable = status >= 500 || status === 429 || status === 408;
    const code = status === 413 ? "PAYLOAD_TOO_LARGE" : "BLOB_STORE_UNAVAILABLE";
    throw new OracleError(code, `the blob store refused the output: ${status} ${response.statusText}`.trim(), { retryable, details: { ...details, status } });
  }
  return url;
}
