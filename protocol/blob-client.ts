/**
 * The one client of the relayer's blob store (relayer/api.ts: `PUT /blobs/:hash`, `GET /blobs/:hash`), for
 * the worker (its large outputs, a disputed request's input read again), the challenger (the inputs and
 * outputs it audits, a withheld output it recomputed) and the SDK (large inputs, large outputs).
 *
 * - Content addressed both ways. An upload is hashed here first (a tensor's or a bundle's hash) and must
 *   match the hash it is sent under; the store's answer must name that very blob. A download is read under a
 *   size cap (the declared length, then the streamed bytes, before anything is hashed) and returned only if
 *   it hashes to the asked hash (BLOB_HASH_MISMATCH otherwise).
 * - Signed (protocol/blobAuth.ts) when given a BlobAuth: every upload, and every read of the store's origin.
 * - Reads go through fetchBytes (protocol/fetch.ts) under the address policy (protocol/netPolicy.ts): the
 *   store's origin is trusted (whoever configured it named it); any other host, a redirect's or a URI's, is
 *   reached only at a public address unless `addressPolicy` excepts it. Uploads go to the store only (a
 *   redirect is a refusal).
 * - Transient failures (5xx, 429, 408, connection resets, timeouts) are tried again through
 *   protocol/retry.ts, with backoff (a 429's Retry-After, capped), within `attempts` and the call's deadline;
 *   then BLOB_STORE_UNAVAILABLE, retryable. Refusals are final: BLOB_NOT_FOUND (404), PAYLOAD_TOO_LARGE (413,
 *   or over the cap), AUTH_INVALID (401), BLOB_HASH_MISMATCH, INPUT_UNAVAILABLE (an address the policy forbids).
 */
import type { BlobAuth } from "./blobAuth.js";
import { BLOB_AUTH_HEADER, signedGetHeaders } from "./blobAuth.js";
import { hashBundleEncoded } from "./bundle.js";
import { errorChain, isError, OracleError } from "./errors.js";
import { fetchBytes, redactUri, type FetchBytesOptions, type UriScheme } from "./fetch.js";
import { BYTES32_PATTERN } from "./hex.js";
import { DTYPES, HEADER_FIXED_BYTES, numel } from "./tensor.js";
import type { AddressPolicy } from "./netPolicy.js";
import { retry } from "./retry.js";
import type { TensorHash } from "./types.js";

export interface BlobClientOptions {
  /** The store's base URL (a relayer API's): blobs live at `<storeUrl>/blobs/<hash>`. Without one, only `downloadUri` works. */
  storeUrl?: string;
  /** Signs uploads and the store's reads as this identity (a worker's signer, a listed challenger). */
  auth?: BlobAuth;
  /** Longest one try may take. Default 30 s. */
  timeoutMs?: number;
  /** Tries in all for a transient failure (default 3), the first wait (default 250 ms, doubling) and the longest (default 2 s). */
  retry?: { attempts?: number; backoffMs?: number; maxBackoffMs?: number };
  /** Non-public addresses that reads of other hosts may reach (the store's origin is always trusted). */
  addressPolicy?: AddressPolicy;
  /** Slow-host limits for reads (protocol/fetch.ts). */
  firstByteTimeoutMs?: number;
  minBytesPerSecond?: number;
  /** The byte fetcher reads use (default protocol/fetch.ts fetchBytes): a service that counts or shares its fetches passes its own. */
  fetch?: (uri: string, options: FetchBytesOptions) => Promise<Buffer>;
}

export interface BlobCallOptions {
  signal?: AbortSignal;
  /** No try starts, and none runs, past this time (epoch ms): the call's deadline. */
  until?: number;
}

export interface BlobDownloadOptions extends BlobCallOptions {
  /** Refuse (PAYLOAD_TOO_LARGE, never retried) a blob larger than this. */
  maxBytes: number;
}

export interface StoredBlob {
  hash: TensorHash;
  /** The URI the store answered: it names this blob (`…/blobs/<hash>`). */
  uri: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** The store's answer to an upload, and an error body, are read up to this many bytes. */
const MAX_ANSWER_BYTES = 16 * 1024;

/** The exact encoded size of a tensor of this dtype and shape (docs/PROTOCOL.md): the download cap a committed type gives. */
export function encodedSize(type: { dtype: string; shape: readonly number[] }): number {
  return HEADER_FIXED_BYTES + 4 * type.shape.length + numel(type.shape) * (DTYPES[type.dtype as keyof typeof DTYPES]?.size ?? 1);
}

/**
 * Where a blob is: content addressing makes the URI a function of the hash (so no event carries an
 * output's): `<storeUrl>/blobs/<hash>` on any store (a relayer, a mirror) that holds it.
 */
export function blobUrl(storeUrl: string, hash: string): string {
  return `${storeUrl.replace(/\/+$/, "")}/blobs/${hash.toLowerCase()}`;
}

/** Whether `uri` is an http(s) URL naming exactly the blob `hash` (`…/blobs/<hash>`, no query, no credentials). */
export function isBlobUri(uri: string, hash: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") return false;
  return url.pathname.toLowerCase().endsWith(`/blobs/${hash.toLowerCase()}`);
}

/** `bytes` if they hash (as a tensor or a bundle) to `hash`; BLOB_HASH_MISMATCH otherwise. */
export function verifyBlob(bytes: Buffer, hash: string, where = "the blob"): Buffer {
  let actual: string;
  try {
    actual = hashBundleEncoded(bytes);
  } catch (cause) {
    throw new OracleError("BLOB_HASH_MISMATCH", `${where} (${hash}) is not a canonical tensor or bundle: ${(cause as Error).message}`, { cause, details: { expected: hash } });
  }
  if (actual.toLowerCase() !== hash.toLowerCase()) {
    throw new OracleError("BLOB_HASH_MISMATCH", `${where} hashes to ${actual}, not ${hash}: refused`, { details: { expected: hash, actual } });
  }
  return bytes;
}

function checkedHash(hash: string): TensorHash {
  if (!BYTES32_PATTERN.test(hash)) throw new OracleError("MESSAGE_INVALID", `${JSON.stringify(hash).slice(0, 80)} is not a 0x-prefixed 32-byte hash`);
  return hash.toLowerCase() as TensorHash;
}

/** A transient failure, worth another try: a retryable OracleError, or a fetch that failed on the network. */
function transient(error: unknown): boolean {
  return error instanceof OracleError ? error.retryable : true;
}

export class BlobClient {
  readonly storeUrl: string | undefined;
  private readonly origin: string | undefined;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: BlobClientOptions) {
    if (options.storeUrl !== undefined) {
      let url: URL;
      try {
        url = new URL(options.storeUrl);
      } catch (cause) {
        throw new OracleError("CONFIG_INVALID", `the blob store URL ${JSON.stringify(options.storeUrl).slice(0, 120)} is not a URL`, { cause });
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new OracleError("CONFIG_INVALID", `the blob store URL must be http(s), not ${url.protocol}`);
      this.storeUrl = options.storeUrl.replace(/\/+$/, "");
      this.origin = url.origin;
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attempts = Math.max(1, options.retry?.attempts ?? 3);
    this.backoffMs = options.retry?.backoffMs ?? 250;
    this.maxBackoffMs = options.retry?.maxBackoffMs ?? 2_000;
  }

  /** Where the store keeps `hash`. */
  url(hash: string): string {
    if (this.storeUrl === undefined) throw new OracleError("CONFIG_INVALID", "this blob client has no store URL");
    return blobUrl(this.storeUrl, hash);
  }

  /**
   * Stores `bytes` (a canonical tensor or bundle). With `hash`, the bytes must hash to it (BLOB_HASH_MISMATCH,
   * before anything is sent). `verified`: the caller computed `hash` from these very bytes (the worker, its
   * output), so they are not hashed again here (about 9 ms per MiB); the store checks them all the same.
   * Resolves with the hash and the URI the store answered.
   */
  async upload(bytes: Uint8Array, options: BlobCallOptions & { hash?: string; verified?: boolean } = {}): Promise<StoredBlob> {
    const actual = options.verified === true && options.hash !== undefined ? checkedHash(options.hash) : hashBundleEncoded(bytes); // TENSOR_MALFORMED with the reason
    if (options.hash !== undefined && checkedHash(options.hash) !== actual) {
      throw new OracleError("BLOB_HASH_MISMATCH", `the bytes to upload hash to ${actual}, not ${options.hash}`, { details: { expected: options.hash, actual } });
    }
    const url = this.url(actual);
    const details = { url: redactUri(url), bytes: bytes.byteLength };
    return this.retried(url, details, options, (signal) => this.put(url, actual, bytes, signal, details));
  }

  /** The blob `hash` from the store, at most `maxBytes`, checked against the hash. */
  download(hash: string, options: BlobDownloadOptions): Promise<Buffer> {
    return this.downloadUri(this.url(checkedHash(hash)), hash, { ...options, schemes: ["http", "https"] });
  }

  /**
   * The blob `hash` from `uri` (the store, another store, or any URI `schemes` allows), at most `maxBytes`,
   * checked against the hash. Hosts other than the store's are reached under the address policy.
   */
  downloadUri(uri: string, hash: string, options: BlobDownloadOptions & { schemes?: readonly UriScheme[] }): Promise<Buffer> {
    const want = checkedHash(hash);
    const read = this.options.fetch ?? fetchBytes;
    const headers = this.storeUrl === undefined ? undefined : signedGetHeaders(this.options.auth, this.storeUrl);
    const base: FetchBytesOptions = {
      maxBytes: options.maxBytes,
      schemes: options.schemes ?? ["http", "https"],
      addressPolicy: { ...this.options.addressPolicy, trustedOrigins: [...(this.options.addressPolicy?.trustedOrigins ?? []), ...(this.origin === undefined ? [] : [this.origin])] },
      ...(this.options.firstByteTimeoutMs === undefined ? {} : { firstByteTimeoutMs: this.options.firstByteTimeoutMs }),
      ...(this.options.minBytesPerSecond === undefined ? {} : { minBytesPerSecond: this.options.minBytesPerSecond }),
      ...(headers === undefined ? {} : { headers }),
    };
    return this.retried(uri, { url: redactUri(uri), hash: want }, options, async (signal, timeoutMs) =>
      verifyBlob(await read(uri, { ...base, timeoutMs, signal }), want, `the blob served at ${redactUri(uri)}`),
    );
  }

  /** Runs `once` under the retry policy: per-try timeouts within the call's deadline, transient failures tried again. */
  private async retried<T>(url: string, details: Record<string, unknown>, o: BlobCallOptions, once: (signal: AbortSignal, timeoutMs: number) => Promise<T>): Promise<T> {
    const remaining = () => Math.min(this.timeoutMs, o.until === undefined ? Infinity : Math.max(1, o.until - Date.now()));
    const cancelled = (cause: unknown) => new OracleError("TIMEOUT", `${redactUri(url)}: cancelled`, { cause, retryable: true, details });
    return retry(
      async () => {
        const timeoutMs = remaining();
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = o.signal === undefined ? timeout : AbortSignal.any([o.signal, timeout]);
        try {
          return await once(signal, timeoutMs);
        } catch (error) {
          if (o.signal?.aborted === true) throw cancelled(error);
          if (timeout.aborted && !(error instanceof OracleError)) throw new OracleError("TIMEOUT", `${redactUri(url)} took longer than ${timeoutMs} ms`, { cause: error, retryable: true, details });
          throw error;
        }
      },
      {
        attempts: this.attempts,
        delayMs: (attempt, error) => {
          const asked = error instanceof OracleError ? error.details.retryAfterMs : undefined;
          return typeof asked === "number" ? Math.min(this.maxBackoffMs, Math.max(100, asked)) : Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        },
        // A cancel (the caller's signal) ends the tries: the next would fail at once as cancelled.
        retryIf: (error) => transient(error) && o.signal?.aborted !== true,
        ...(o.until === undefined ? {} : { until: o.until }),
        giveUp: (error, attempts) => {
          if (!transient(error) || o.signal?.aborted === true) return error;
          const e = error as Error & { code?: string; details?: Record<string, unknown> };
          return new OracleError(isError(error, "TIMEOUT") ? "TIMEOUT" : "BLOB_STORE_UNAVAILABLE", `${redactUri(url)} could not be reached now (${attempts} ${attempts === 1 ? "try" : "tries"}): ${e.message}`, {
            cause: error,
            retryable: true,
            details: { ...details, ...(error instanceof OracleError ? { ...error.details, last: error.code } : {}), attempts },
          });
        },
      },
    );
  }

  /** One PUT: the stored blob, or an OracleError saying why not (retryable for 5xx, 429, 408 and network failures). */
  private async put(url: string, hash: TensorHash, bytes: Uint8Array, signal: AbortSignal, details: Record<string, unknown>): Promise<StoredBlob> {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "PUT",
        // Node's fetch sends any Uint8Array; the DOM typing wants one over a plain ArrayBuffer.
        body: bytes as Uint8Array<ArrayBuffer>,
        headers: { "content-type": "application/octet-stream", ...(this.options.auth === undefined ? {} : { [BLOB_AUTH_HEADER]: this.options.auth.header() }) },
        redirect: "manual",
        signal,
      });
    } catch (cause) {
      if (signal.aborted) throw cause; // a timeout or a cancel: said so by the caller (retried)
      // Refused, reset (a kept-alive socket the server closed as it was reused), DNS: the PUT is
      // idempotent (content-addressed), so it is sent again.
      const reason = [...errorChain(cause, 4)].map((e) => (e as { code?: unknown }).code).find((c) => typeof c === "string") ?? (cause as Error).message;
      throw new OracleError("BLOB_STORE_UNAVAILABLE", `uploading to ${redactUri(url)} failed: ${String(reason)}`, { cause, retryable: true, details });
    }
    const answer = await readAnswer(response);
    const status = response.status;
    if (status >= 200 && status <= 299) {
      const body = answer as { hash?: unknown; uri?: unknown } | undefined;
      if (typeof body?.uri !== "string" || typeof body.hash !== "string" || body.hash.toLowerCase() !== hash || !isBlobUri(body.uri, hash)) {
        throw new OracleError("BLOB_STORE_UNAVAILABLE", `the store's answer to the upload of ${hash} does not name that blob`, { details: { ...details, answer: JSON.stringify(answer ?? null).slice(0, 256) } });
      }
      return { hash, uri: body.uri };
    }
    const error = (answer as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const said = typeof error?.message === "string" ? `: ${error.message.slice(0, 300)}` : "";
    const more = { ...details, status, ...(typeof error?.code === "string" ? { storeCode: error.code.slice(0, 40) } : {}) };
    if (status === 429) {
      const after = Number(response.headers.get("retry-after") ?? "1");
      throw new OracleError("RATE_LIMITED", `the blob store is busy (429)${said}`, { retryable: true, details: { ...more, retryAfterMs: (Number.isFinite(after) ? after : 1) * 1000 } });
    }
    const storeCode = typeof error?.code === "string" ? error.code : undefined;
    const code = status === 413 ? "PAYLOAD_TOO_LARGE" : status === 401 ? "AUTH_INVALID" : storeCode === "INPUT_HASH_MISMATCH" ? "BLOB_HASH_MISMATCH" : storeCode === "TENSOR_MALFORMED" ? "TENSOR_MALFORMED" : "BLOB_STORE_UNAVAILABLE";
    const what = status >= 300 && status <= 399 ? " (a redirect: uploads go to the store only)" : "";
    throw new OracleError(code, `the blob store refused the upload: ${status} ${response.statusText}${what}${said}`.trim(), { retryable: status >= 500 || status === 408, details: more });
  }
}

/** The store's JSON answer (at most MAX_ANSWER_BYTES of it), or undefined when there is none or it is not JSON. */
async function readAnswer(response: Response): Promise<unknown> {
  if (response.body === null) return undefined;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_ANSWER_BYTES) return undefined;
      chunks.push(value);
    }
  } catch {
    return undefined;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}
