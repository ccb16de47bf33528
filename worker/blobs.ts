/**
 * Uploads outputs too large to inline to the blob store (`PUT /blobs/:hash`, body = canonical
 * bytes; the relayer's store answers GET /blobs/:hash). 5xx, 429 and network failures are
 * retryable; other refusals are not.
 */
import { errorChain, OracleError } from "../protocol/errors.js";
import { redactUri } from "../protocol/fetch.js";
import type { Hex } from "../protocol/types.js";
import { BLOB_AUTH_HEADER, type BlobAuth } from "../protocol/blobAuth.js";

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

function isConnectionReset(error: unknown): boolean {
  return [...errorChain(error, 4)].some((e) => ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(String((e as { code?: unknown }).code)));
}

/** Stores `bytes` under `hash`; resolves with the blob's URL. */
export async function putBlob(baseUrl: string, hash: Hex, bytes: Uint8Array, options: PutBlobOptions): Promise<string> {
  const url = blobUrl(baseUrl, hash);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  const details = { url: redactUri(url), bytes: bytes.byteLength };
  let response: Response | undefined;
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= PUT_ATTEMPTS || signal.aborted;
    try {
      response = await fetch(url, {
        method: "PUT",
        // Node's fetch sends any Uint8Array; the DOM typing wants one over a plain ArrayBuffer.
        body: bytes as Uint8Array<ArrayBuffer>,
        headers: {
          "content-type": "application/octet-stream",
          ...(options.auth === undefined ? {} : { [BLOB_AUTH_HEADER]: options.auth.header() }),
        },
        signal,
      });
    } catch (error) {
      // A kept-alive socket the server closed just as it was reused fails with ECONNRESET / EPIPE
      // before anything was stored; the PUT is idempotent (content-addressed), so send it again.
      if (!last && isConnectionReset(error)) continue;
      const code = timeout.aborted ? "TIMEOUT" : "BLOB_STORE_UNAVAILABLE";
      throw new OracleError(code, `uploading the output to ${redactUri(url)} failed: ${(error as Error).message}`, { cause: error, retryable: true, details: { ...details, attempts: attempt } });
    }
    await response.body?.cancel().catch(() => undefined);
    // The store's rate limit (429, shared by every client on one address): wait as asked (capped)
    // and send again, rather than failing the whole job over a burst of trace uploads.
    if (response.status !== 429 || last) break;
    const retryAfter = Number(response.headers.get("retry-after") ?? "1");
    await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, Math.max(100, (Number.isFinite(retryAfter) ? retryAfter : 1) * 1000))));
  }
  if (!response.ok) {
    const status = response.status;
    const retryable = status >= 500 || status === 429 || status === 408;
    const code = status === 413 ? "PAYLOAD_TOO_LARGE" : "BLOB_STORE_UNAVAILABLE";
    throw new OracleError(code, `the blob store refused the output: ${status} ${response.statusText}`.trim(), { retryable, details: { ...details, status } });
  }
  return url;
}
