/**
 * The relayer API's limits: a per-client token bucket (429 RATE_LIMITED with Retry-After, exempt
 * addresses, bounded memory) and the body limit on routes that take no body (413 before reading).
 * These run against createApi alone (no chain): the limits answer before any route does.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../protocol/index.js";
import { createApi, TokenBuckets, type ApiDeps } from "../../relayer/api.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
});

async function serve(options: Partial<ApiDeps>): Promise<string> {
  const deps = { log: createLogger("test", { level: "silent" }), maxBlobBytes: 1024, publicUrl: () => "", ...options } as unknown as ApiDeps;
  const server = createApi(deps).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise<void>((r) => server.once("listening", () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("relayer API rate limit", () => {
  it("test_rateLimit_overBurst_answers429WithRetryAfter", async () => {
    let clock = 1_000_000;
    const url = await serve({ rateLimit: { perSecond: 10, burst: 5 }, now: () => clock });
    for (let i = 0; i < 5; i++) expect((await fetch(`${url}/nothing`)).status).toBe(404);
    const limited = await fetch(`${url}/nothing`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    const body = (await limited.json()) as { error: { code: string; details: { retryAfterMs: number } } };
    expect(body.error.code).toBe("RATE_LIMITED");
    expect(body.error.details.retryAfterMs).toBe(100);
    // 100 ms later one token has been refilled, and only one.
    clock += 100;
    expect((await fetch(`${url}/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/nothing`)).status).toBe(429);
    // A long pause refills the bucket to its size, not beyond.
    clock += 60_000;
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${url}/nothing`)).status);
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429]);
  });

  it("test_rateLimit_exemptAddress_neverLimited", async () => {
    const url = await serve({ rateLimit: { perSecond: 1, burst: 1, exempt: ["127.0.0.1", "::ffff:127.0.0.1"] } });
    for (let i = 0; i < 20; i++) expect((await fetch(`${url}/nothing`)).status).toBe(404);
  });

  it("test_rateLimit_zeroPerSecond_disabled", async () => {
    const url = await serve({ rateLimit: { perSecond: 0, burst: 1 } });
    for (let i = 0; i < 20; i++) expect((await fetch(`${url}/nothing`)).status).toBe(404);
  });

  it("test_tokenBuckets_manyClients_memoryBounded", () => {
    const buckets = new TokenBuckets({ perSecond: 1, burst: 2, maxClients: 100 });
    for (let i = 0; i < 50_000; i++) buckets.take(`10.0.${i >> 8}.${i & 255}`, 0);
    expect(buckets.size).toBe(100);
    // A client seen recently keeps its (empty) bucket; the least recently seen are forgotten.
    buckets.take("a", 0);
    buckets.take("a", 0);
    expect(buckets.take("a", 0)).toBe(1000);
    for (let i = 0; i < 99; i++) buckets.take(`b${i}`, 0);
    expect(buckets.take("a", 0)).toBe(1000);
  });
});

describe("relayer API body limit", () => {
  /** Sends a body with a declared length, returning the status and JSON without waiting to send it all. */
  function send(url: string, path: string, method: string, length: number, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: { code: string } }; connection?: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(path, url);
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method, headers: { "content-length": String(length), "content-type": "application/json", ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || "{}"), connection: res.headers.connection }));
      });
      req.on("error", reject);
      req.write(Buffer.alloc(Math.min(length, 1024), 0x5b)); // "[[[[..." and then never the rest
    });
  }

  it("test_bodyLimit_largeBodyOnNonBlobRoute_413BeforeReading", async () => {
    const url = await serve({ maxBodyBytes: 64 * 1024 });
    for (const [method, path] of [["POST", "/requests"], ["GET", "/health"], ["PUT", "/requests/0x12"], ["DELETE", "/x"]] as const) {
      const res = await send(url, path, method, 10 * 1024 * 1024);
      expect(res.status, `${method} ${path}`).toBe(413);
      expect(res.body.error?.code).toBe("PAYLOAD_TOO_LARGE");
      expect(res.connection).toBe("close");
    }
  });

  it("test_bodyLimit_blobRoute_usesMaxBlobBytes", async () => {
    const url = await serve({ maxBodyBytes: 16, maxBlobBytes: 1024 });
    const res = await send(url, "/blobs", "POST", 4096, { "content-type": "application/octet-stream" });
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe("PAYLOAD_TOO_LARGE");
  });
});
