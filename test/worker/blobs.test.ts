/**
 * putBlob against a real HTTP server: a connection reset before the response (a kept-alive socket
 * closed by the server as it was reused) is sent again, since a content-addressed PUT is idempotent;
 * a server that keeps resetting, and refusals, surface as clear errors.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { encodeTensor, type Tensor, commitTrace, type Hex } from "../../protocol/index.js";
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
