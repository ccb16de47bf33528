/**
 * putBlob against a real HTTP server: a connection reset before the response (a kept-alive socket
 * closed by the server as it was reused) is sent again, since a content-addressed PUT is idempotent;
 * a server that keeps resetting, and refusals, surface as clear errors.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { fetchTrace } from "../../challenger/fetchTrace.js";
import { encodeTensor, type Tensor } from "../../protocol/tensor.js";
import { commitTrace } from "../../protocol/trace.js";
import type { Hex } from "../../protocol/types.js";
import { putBlob } from "../../worker/blobs.js";

const HASH = `0x${"ab".repeat(32)}` as Hex;
let server: Server | undefined;

/** A blob store whose first `resets` PUTs have their connection destroyed, then answer `status`. */
async function store(resets: number, status = 201): Promise<{ url: string; puts: () => number; stored: () => Buffer[] }> {
  let puts = 0;
  const stored: Buffer[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      puts++;
      if (puts <= resets) return req.socket.destroy();
      if (status < 300) stored.push(Buffer.concat(chunks));
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, puts: () => puts, stored: () => stored };
}

afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

describe("putBlob", () => {
  it("test_putBlob_connectionResetOnce_sendsAgainAndStores", async () => {
    const s = await store(1);
    const url = await putBlob(s.url, HASH, Buffer.from("tensor bytes"), { timeoutMs: 5_000 });
    expect(url).toBe(`${s.url}/blobs/${HASH}`);
    expect(s.puts()).toBe(2);
    expect(s.stored().map((b) => b.toString())).toEqual(["tensor bytes"]);
  });

  it("test_putBlob_resetEveryTime_failsRetryableAfterThreeAttempts", async () => {
    const s = await store(10);
    await expect(putBlob(s.url, HASH, Buffer.from("x"), { timeoutMs: 5_000 })).rejects.toMatchObject({
      code: "BLOB_STORE_UNAVAILABLE",
      retryable: true,
      details: { attempts: 3 },
    });
    expect(s.puts()).toBe(3);
  });

  it("test_putBlob_refused_notRetriedAndClear", async () => {
    const s = await store(0, 413);
    await expect(putBlob(s.url, HASH, Buffer.from("x"), { timeoutMs: 5_000 })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE", retryable: false });
    expect(s.puts()).toBe(1);
  });

  it("test_putBlob_rateLimited_waitsAndSendsAgain", async () => {
    let puts = 0;
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => (++puts === 1 ? res.writeHead(429, { "retry-after": "0" }).end() : res.writeHead(201).end()));
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    await putBlob(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, HASH, Buffer.from("x"), { timeoutMs: 5_000 });
    expect(puts).toBe(2);
  });
});

describe("fetchTrace", () => {
  it("test_fetchTrace_rateLimitedAndReset_retriesInsteadOfCallingTheTraceWithheld", async () => {
    const tensors: Tensor[] = [1, 2, 3].map((v) => ({ dtype: "float32", shape: [1, 2], data: Float32Array.from([v, -v]) }));
    const run = commitTrace(tensors);
    const blobs = new Map<string, Buffer>([[run.traceRoot.toLowerCase(), encodeTensor(run.manifest)]]);
    tensors.forEach((t, i) => blobs.set(run.hashes[i]!.toLowerCase(), encodeTensor(t)));
    const seen = new Map<string, number>();
    server = createServer((req, res) => {
      const hash = req.url!.replace(/^\/blobs\//, "").toLowerCase();
      const n = (seen.get(hash) ?? 0) + 1;
      seen.set(hash, n);
      // First ask of each blob: rate limited; second: the connection is dropped; then served.
      if (n === 1) return void res.writeHead(429, { "retry-after": "1" }).end();
      if (n === 2) return void req.socket.destroy();
      const blob = blobs.get(hash);
      res.writeHead(blob === undefined ? 404 : 200).end(blob);
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const fetched = await fetchTrace(url, run.traceRoot as Hex);
    expect(fetched.hashes).toEqual(run.hashes);
    expect(fetched.tensors.map((t) => [...(t.data as Float32Array)])).toEqual([[1, -1], [2, -2], [3, -3]]);
    // A blob that is not there (404) is final at once: that is what a data-availability challenge is for.
    await expect(fetchTrace(url, `0x${"cd".repeat(32)}` as Hex, { attempts: 5 })).rejects.toMatchObject({ code: "TRACE_UNAVAILABLE", details: { attempts: 3 } });
  });
});
