/**
 * The blob client's uploads (protocol/blob-client.ts) against raw HTTP servers misbehaving as a store
 * can on the wire: a connection reset before the response (a kept-alive socket closed by the server as
 * it was reused) is sent again, since a content-addressed PUT is idempotent; a server that keeps
 * resetting, a refusal, a 429 and an answer naming another blob surface as clear errors.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BlobClient, hashEncoded } from "../../protocol/index.js";
import { tensorBytes } from "./blob-store-fixture.js";

let server: Server | undefined;
const BYTES = tensorBytes(1, 16);
const HASH = hashEncoded(BYTES);

/** A server whose PUTs `answer` decides (the request's number, counted from 1, and its body). */
async function store(answer: (n: number, body: Buffer, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; puts: () => number }> {
  let puts = 0;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => answer(++puts, Buffer.concat(chunks), req, res));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, puts: () => puts };
}

function stored(res: ServerResponse, url: string, hash = HASH): void {
  res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ hash, uri: `${url}/blobs/${hash}` }));
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

describe("BlobClient uploads on a misbehaving wire", () => {
  it("a connection reset once is sent again and stored", async () => {
    const got: Buffer[] = [];
    const s = await store((n, body, req, res) => (n === 1 ? req.socket.destroy() : (got.push(body), stored(res, s.url))));
    expect(await new BlobClient({ storeUrl: s.url, timeoutMs: 5_000, retry: { backoffMs: 10 } }).upload(BYTES, { hash: HASH })).toEqual({ hash: HASH, uri: `${s.url}/blobs/${HASH}` });
    expect(s.puts()).toBe(2);
    expect(got.map((b) => Buffer.compare(b, BYTES))).toEqual([0]);
  });

  it("a reset every time fails retryable after three tries", async () => {
    const s = await store((_n, _body, req) => req.socket.destroy());
    await expect(new BlobClient({ storeUrl: s.url, timeoutMs: 5_000, retry: { backoffMs: 10 } }).upload(BYTES)).rejects.toMatchObject({
      code: "BLOB_STORE_UNAVAILABLE",
      retryable: true,
      details: { attempts: 3 },
    });
    expect(s.puts()).toBe(3);
  });

  it("a refusal (413) is final and clear", async () => {
    const s = await store((_n, _body, _req, res) => res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "PAYLOAD_TOO_LARGE", message: "too big" } })));
    const e = await new BlobClient({ storeUrl: s.url, timeoutMs: 5_000 }).upload(BYTES).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "PAYLOAD_TOO_LARGE", retryable: false, details: { status: 413, storeCode: "PAYLOAD_TOO_LARGE" } });
    expect((e as Error).message).toMatch(/413.*too big/);
    expect(s.puts()).toBe(1);
  });

  it("a 429 waits as its Retry-After asks (capped) and sends again", async () => {
    const s = await store((n, _body, _req, res) => (n === 1 ? res.writeHead(429, { "retry-after": "0" }).end() : stored(res, s.url)));
    await new BlobClient({ storeUrl: s.url, timeoutMs: 5_000 }).upload(BYTES);
    expect(s.puts()).toBe(2);
  });

  it("an answer that names another blob, or none, is refused", async () => {
    const other = hashEncoded(tensorBytes(2, 16));
    const s = await store((n, _body, _req, res) => (n === 1 ? stored(res, s.url, other) : res.writeHead(201).end()));
    const client = new BlobClient({ storeUrl: s.url, timeoutMs: 5_000 });
    await expect(client.upload(BYTES)).rejects.toMatchObject({ code: "BLOB_STORE_UNAVAILABLE", retryable: false });
    await expect(client.upload(BYTES)).rejects.toMatchObject({ code: "BLOB_STORE_UNAVAILABLE", retryable: false });
    expect(s.puts()).toBe(2);
  });
});
