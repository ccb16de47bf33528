/**
 * Model files on local disk, each checked against its sha256 (the model hash) before first use:
 *
 * - the cache folder holds `<sha256>.onnx`; a cached file is re-hashed the first time this process
 *   uses it (disks rot, operators copy files by hand), and deleted if it no longer matches;
 * - otherwise each URI is fetched in turn and its bytes hashed; bytes that do not match are never
 *   written to the cache; matching bytes are written to a temp file and renamed into place;
 * - concurrent requests for one model share one download;
 * - a model that refers to external data anywhere is refused (MODEL_UNSAFE, protocol/modelSafety.ts)
 *   before it is cached or loaded, and `openPrivately` loads a cached model only from a copy in a
 *   fresh private empty folder, never from the cache folder (where other models lie) or from bytes.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import {
  OracleError,
  isBytes32,
  fetchBytes,
  redactUri,
  type FetchBytesOptions,
  type UriScheme,
  assertModelSafe,
  withPrivateModelFile,
  assertModelShapesBounded,
  DEFAULT_MAX_TENSOR_ELEMENTS,
  type Hex,
} from "../protocol/index.js";

export interface ModelStoreOptions {
  cacheDir: string;
  maxModelBytes: number;
  timeoutMs: number;
  /**
   * Shape bound (protocol/shapeBounds.ts): a model declaring or statically building a tensor of more
   * elements is refused (MODEL_TOO_LARGE) before it is cached or loaded. Default 2^28.
   */
  maxTensorElements?: number;
  /** URI schemes a model may be fetched with. */
  schemes: readonly UriScheme[];
  /** Address policy, redirects and slow-host limits for http(s) (protocol/fetch.ts); public addresses only by default. */
  http?: Pick<FetchBytesOptions, "addressPolicy" | "firstByteTimeoutMs" | "minBytesPerSecond" | "maxRedirects">;
  logger: Logger;
  /** Injected for tests; protocol's fetchBytes by default. */
  fetch?: (uri: string, options: FetchBytesOptions) => Promise<Buffer>;
}

export function sha256Hex(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}` as Hex;
}

export async function sha256File(path: string): Promise<Hex> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `0x${h.digest("hex")}` as Hex;
}

function checkHash(modelHash: string): Hex {
  if (!isBytes32(modelHash)) {
    throw new OracleError("MODEL_UNKNOWN", `model hash ${modelHash} is not a 32-byte hex string`, { details: { modelHash } });
  }
  return modelHash.toLowerCase() as Hex;
}

export class ModelStore {
  private readonly log: Logger;
  private readonly fetch: (uri: string, options: FetchBytesOptions) => Promise<Buffer>;
  /** Models verified (or being verified or fetched) by this process, by hash. */
  private readonly ready = new Map<string, Promise<string>>();

  constructor(private readonly options: ModelStoreOptions) {
    this.log = options.logger.child({ layer: "models" });
    this.fetch = options.fetch ?? fetchBytes;
  }

  /** The cache file a model lives in once verified. */
  cachePath(modelHash: Hex): string {
    return join(this.options.cacheDir, `${checkHash(modelHash).slice(2)}.onnx`);
  }

  /**
   * A local file whose sha256 is `modelHash`. Throws MODEL_HASH_MISMATCH when every URI served other
   * bytes, MODEL_FETCH_FAILED (retryable when some URI failed transiently) when none could be read.
   */
  async path(modelHash: Hex, uris: readonly string[], signal?: AbortSignal): Promise<string> {
    const key = checkHash(modelHash);
    let ready = this.ready.get(key);
    if (ready === undefined) {
      ready = this.obtain(key, uris);
      this.ready.set(key, ready);
      // A failure is not remembered: the next job tries again (URIs may recover).
      ready.catch(() => {
        if (this.ready.get(key) === ready) this.ready.delete(key);
      });
    }
    if (signal === undefined) return ready;
    // The shared download goes on for other callers; this caller stops waiting.
    return abortable(ready, signal);
  }

  /** Forgets that a model was verified, so its next use re-hashes the cache file. */
  forget(modelHash: Hex): void {
    this.ready.delete(checkHash(modelHash));
  }

  private async obtain(modelHash: Hex, uris: readonly string[]): Promise<string> {
    const file = this.cachePath(modelHash);
    const log = this.log.child({ modelHash });
    const cached = await this.verifyCached(file, modelHash, log);
    if (cached) return file;
    if (uris.length === 0) {
      throw new OracleError("MODEL_FETCH_FAILED", `model ${modelHash} has no URIs to fetch it from`, { details: { modelHash } });
    }
    const failures: { uri: string; error: OracleError | Error }[] = [];
    for (const uri of uris) {
      const started = performance.now();
      let bytes: Buffer;
      try {
        bytes = await this.fetch(uri, { ...this.options.http, maxBytes: this.options.maxModelBytes, timeoutMs: this.options.timeoutMs, schemes: this.options.schemes });
      } catch (error) {
        log.warn({ uri: redactUri(uri), err: error }, "model fetch failed");
        failures.push({ uri, error: error as Error });
        continue;
      }
      const actual = sha256Hex(bytes);
      if (actual !== modelHash) {
        // Never cached: the next job must not find these bytes under this name.
        const mismatch = new OracleError("MODEL_HASH_MISMATCH", `${redactUri(uri)} served a file with sha256 ${actual}, expected ${modelHash}`, {
          details: { modelHash, actual, uri: redactUri(uri) },
        });
        log.warn({ uri: redactUri(uri), actual }, "model file does not match its hash");
        failures.push({ uri, error: mismatch });
        continue;
      }
      // Same hash, same bytes from every URI: an unsafe model is refused at once, never cached.
      try {
        this.assertLoadable(bytes);
      } catch (error) {
        log.warn({ uri: redactUri(uri), err: error }, "model refused: external data, malformed, or tensors beyond the shape bound");
        throw error;
      }
      await this.writeAtomically(file, bytes);
      log.info({ uri: redactUri(uri), bytes: bytes.byteLength, ms: Math.round(performance.now() - started) }, "model fetched and verified");
      return file;
    }
    throw combineFailures(modelHash, failures);
  }

  /** MODEL_UNSAFE (external data, malformed) or MODEL_TOO_LARGE (shape bound): never cached, never loaded. */
  private assertLoadable(bytes: Uint8Array): void {
    assertModelSafe(bytes);
    assertModelShapesBounded(bytes, this.options.maxTensorElements ?? DEFAULT_MAX_TENSOR_ELEMENTS);
  }

  private async verifyCached(file: string, modelHash: Hex, log: Logger): Promise<boolean> {
    try {
      await stat(file);
    } catch {
      return false;
    }
    const started = performance.now();
    const bytes = await readFile(file);
    const actual = sha256Hex(bytes);
    if (actual === modelHash) {
      try {
        this.assertLoadable(bytes);
      } catch (error) {
        log.warn({ file, err: error }, "cached model refused: external data, malformed, or tensors beyond the shape bound; deleting it");
        await rm(file, { force: true });
        throw error;
      }
      log.debug({ file, ms: Math.round(performance.now() - started) }, "cached model verified");
      return true;
    }
    log.warn({ file, actual }, "cached model file does not match its hash; deleting it");
    await rm(file, { force: true });
    return false;
  }

  private async writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.options.cacheDir, { recursive: true });
    const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temp, bytes, { flush: true });
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw new OracleError("MODEL_FETCH_FAILED", `writing ${file} failed: ${(error as Error).message}`, { cause: error, retryable: true });
    }
  }
}

function combineFailures(modelHash: Hex, failures: { uri: string; error: Error }[]): OracleError {
  const details = { modelHash, failures: failures.map((f) => ({ uri: redactUri(f.uri), code: (f.error as OracleError).code, message: f.error.message })) };
  const transient = failures.some((f) => !(f.error instanceof OracleError) || f.error.retryable);
  const summary = failures.map((f) => f.error.message).join("; ");
  if (!transient && failures.every((f) => f.error instanceof OracleError && f.error.code === "MODEL_HASH_MISMATCH")) {
    return new OracleError("MODEL_HASH_MISMATCH", `no URI served model ${modelHash}: ${summary}`, { details });
  }
  return new OracleError("MODEL_FETCH_FAILED", `model ${modelHash} could not be fetched: ${summary}`, { details, retryable: transient });
}

/**
 * Runs `open` on a private copy of the model file at `path`: the bytes are read, checked
 * (MODEL_UNSAFE) and written to `model.onnx` in a fresh 0700 temp folder that holds nothing else and
 * is removed once `open` settles (protocol/modelSafety.ts). onnxruntime confines external data to
 * that folder, so even a model the check missed finds nothing to read.
 */
export async function openPrivately<T>(path: string, open: (privatePath: string) => Promise<T>): Promise<T> {
  return withPrivateModelFile(await readFile(path), open);
}

/** Settles with `promise`, or rejects with the signal's reason as soon as it aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e as Error);
      },
    );
  });
}
