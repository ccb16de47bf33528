/**
 * Issue 13, finding 5: the relayer's blob store took anonymous uploads with no link to a request,
 * 64 MiB each, kept 7 days, no total quota (384 MiB in 4.3 s from one client); the per-address
 * bucket was bypassed from 127.0.0.2; any web page could make its visitors' browsers upload.
 * Now: a per-client byte budget over a rolling window (every loopback address one client, IPv6 per
 * /64) and a global quota on stored bytes, both answered 429 with Retry-After before anything is
 * stored; uploads an on-chain request or an allowlisted worker references are exempt and kept long,
 * the rest expire fast; uploads need a non-simple content type and are refused when a browser marks
 * them cross-site. Loopback only, against createApi with a real BlobStore and database.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, encodeTensor, hashEncoded } from "../../protocol/index.js";
import { createApi, type ApiDeps, type BlobQuotaOptions } from "../../relayer/api.js";
import { BlobStore } from "../../relayer/blobs.js";
import { RelayerDb } from "../../relayer/db.js";
import { ByteBudget, clientKey } from "../../relayer/quota.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Store {
  url: string;
  port: number;
  db: RelayerDb;
  blobs: BlobStore;
  dir: string;
  clock: { now: number };
}

async function store(quota: BlobQuotaOptions | undefined, retention = { retentionSeconds: 7 * 24 * 3600, unreferencedSeconds: 600 }): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "blob-attack-"));
  const db = new RelayerDb(dir);
  const blobs = new BlobStore(dir, db, { maxBytes: 1 << 20, ...retention });
  const clock = { now: Date.now() };
  const deps = {
    log: createLogger("test", { level: "silent" }),
    db,
    blobs,
    maxBlobBytes: 1 << 20,
    publicUrl: () => "http://relayer",
    blobQuota: quota,
    now: () => clock.now,
  } as unknown as ApiDeps;
  const server: Server = createApi(deps).listen(0, "127.0.0.1");
  await new Promise<void>((r) => server.once("listening", () => r()));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => db.close());
  cleanup.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, db, blobs, dir: join(dir, "blobs"), clock };
}

/** A distinct canonical tensor of `n` float32 values (about 4n bytes). */
function blob(seed: number, n = 4096): Buffer {
  const data = new Float32Array(n).map((_, i) => seed * 1_000_003 + i);
  return encodeTensor({ dtype: "float32", shape: [1, n], data });
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One upload over loopback from `from` (any 127/8 address). */
function upload(s: Store, bytes: Buffer, options: { from?: string; hash?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: s.port,
        localAddress: options.from ?? "127.0.0.1",
        method: options.hash === undefined ? "POST" : "PUT",
        path: options.hash === undefined ? "/blobs" : `/blobs/${options.hash}`,
        headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength), ...options.headers },
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(bytes);
  });
}

const storedFiles = (s: Store) => readdirSync(s.dir).filter((f) => !f.startsWith("."));

describe("attack: filling the relayer's blob store (finding 5)", () => {
  it("one client over its byte budget gets 429 with Retry-After, from 127.0.0.2 too, and nothing is stored", async () => {
    const size = blob(0).byteLength;
    const s = await store({ perClientBytes: 3 * size, windowMs: 60_000, maxStoredBytes: 1 << 30 });
    for (let i = 0; i < 3; i++) expect((await upload(s, blob(i))).status).toBe(201);
    // A fresh loopback address is the same client: no fresh budget.
    for (const from of ["127.0.0.2", "127.0.0.1", "127.9.8.7"]) {
      const refused = await upload(s, blob(10), { from });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers["retry-after"])).toBeLessThanOrEqual(60);
      expect(JSON.parse(refused.body).error.code).toBe("RATE_LIMITED");
    }
    expect(s.blobs.has(hashEncoded(blob(10)))).toBe(false);
    expect(storedFiles(s)).toHaveLength(3);
    expect(s.blobs.storedBytes()).toBe(3 * size);
    // The window rolls: a minute later the budget is back.
    s.clock.now += 60_001;
    expect((await upload(s, blob(10), { from: "127.0.0.2" })).status).toBe(201);
  });

  it("a store at its global quota refuses anonymous uploads (429, nothing stored)", async () => {
    const size = blob(0).byteLength;
    const s = await store({ perClientBytes: 1 << 30, windowMs: 60_000, maxStoredBytes: 2 * size });
    expect((await upload(s, blob(1))).status).toBe(201);
    expect((await upload(s, blob(2))).status).toBe(201);
    const refused = await upload(s, blob(3));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(refused.body).error.message).toMatch(/full/);
    expect(storedFiles(s)).toHaveLength(2);
  });

  it("referenced uploads are never refused: an on-chain request's input, an allowlisted worker", async () => {
    const size = blob(0).byteLength;
    const s = await store({ perClientBytes: size, windowMs: 60_000, maxStoredBytes: size, allowlist: ["127.0.0.5"] });
    expect((await upload(s, blob(1))).status).toBe(201);
    // Budget and quota both spent: anonymous uploads are refused ...
    expect((await upload(s, blob(2))).status).toBe(429);
    // ... but the input of a request the relayer has seen on-chain is accepted,
    const input = blob(3);
    const inputHash = hashEncoded(input);
    s.db.insertRequest({ id: "0x" + "11".repeat(32), requester: "0x" + "22".repeat(20), modelHash: "0x" + "33".repeat(32), inputHash, inputURI: "", tier: 0, fee: "1", deadline: 0, callbackGasLimit: 0, state: "requested", block: 1, observedAt: 0 });
    expect((await upload(s, input, { hash: inputHash })).status).toBe(201);
    // and so are the worker's outputs and traces (its address is allowlisted).
    const output = blob(4);
    expect((await upload(s, output, { from: "127.0.0.5", hash: hashEncoded(output) })).status).toBe(201);
    expect(storedFiles(s)).toHaveLength(3);
  });

  it("unreferenced blobs expire after the short TTL; referenced ones (and inputs named on-chain later) are kept", async () => {
    const s = await store({ perClientBytes: 1 << 30, windowMs: 60_000, maxStoredBytes: 1 << 30, allowlist: ["127.0.0.5"] }, { retentionSeconds: 7 * 24 * 3600, unreferencedSeconds: 600 });
    const junk = blob(1);
    const early = blob(2); // uploaded before its request is on-chain (what the SDK does)
    const output = blob(3);
    expect((await upload(s, junk)).status).toBe(201);
    expect((await upload(s, early, { hash: hashEncoded(early) })).status).toBe(201);
    expect((await upload(s, output, { from: "127.0.0.5", hash: hashEncoded(output) })).status).toBe(201);
    s.db.insertRequest({ id: "0x" + "44".repeat(32), requester: "0x" + "22".repeat(20), modelHash: "0x" + "33".repeat(32), inputHash: hashEncoded(early), inputURI: "", tier: 0, fee: "1", deadline: 0, callbackGasLimit: 0, state: "requested", block: 1, observedAt: 0 });
    const now = Date.now();
    expect(await s.blobs.collectGarbage(now + 599_000)).toBe(0);
    expect(await s.blobs.collectGarbage(now + 601_000)).toBe(1);
    expect(s.blobs.has(hashEncoded(junk))).toBe(false);
    expect(s.blobs.has(hashEncoded(early))).toBe(true);
    expect(s.blobs.has(hashEncoded(output))).toBe(true);
    expect(storedFiles(s)).toHaveLength(2);
    // Both are kept the full retention from their upload, then go.
    expect(await s.blobs.collectGarbage(now + 6 * 24 * 3600_000)).toBe(0);
    expect(await s.blobs.collectGarbage(now + 7 * 24 * 3600_000 + 5_000)).toBe(2);
    expect(storedFiles(s)).toHaveLength(0);
  });

  it("a web page of another origin cannot upload: simple content types and cross-site fetches are refused, no CORS", async () => {
    const s = await store(undefined);
    const bytes = blob(1);
    // What a cross-site <form> or a no-cors fetch can send: a simple content type.
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const refused = await upload(s, bytes, { headers: { "content-type": type } });
      expect(refused.status).toBe(400);
      expect(refused.headers["access-control-allow-origin"]).toBeUndefined();
    }
    // A binary body with no content type at all (what fetch sends for an ArrayBuffer) is refused too.
    expect((await fetch(`${s.url}/blobs`, { method: "POST", body: new Uint8Array(bytes) })).status).toBe(400);
    // A browser that marks the request cross-site (Fetch Metadata) is refused whatever its type.
    const cross = await upload(s, bytes, { headers: { "sec-fetch-site": "cross-site", origin: "https://evil.example" } });
    expect(cross.status).toBe(400);
    // The preflight a non-simple type needs is never granted.
    const preflight = await fetch(`${s.url}/blobs`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.headers.get("access-control-allow-methods")).toBeNull();
    expect(storedFiles(s)).toHaveLength(0);
    // Node clients (SDK, workers) send application/octet-stream and are accepted.
    expect((await upload(s, bytes)).status).toBe(201);
  });
});

describe("upload budget keys and windows", () => {
  it("loopback is one client, IPv6 counts per /64, IPv4-mapped as IPv4", () => {
    expect(clientKey("127.0.0.1")).toBe("loopback");
    expect(clientKey("127.0.0.2")).toBe("loopback");
    expect(clientKey("127.255.0.9")).toBe("loopback");
    expect(clientKey("::1")).toBe("loopback");
    expect(clientKey("::ffff:127.0.0.3")).toBe("loopback");
    expect(clientKey("::ffff:10.0.0.7")).toBe("10.0.0.7");
    expect(clientKey("10.0.0.7")).toBe("10.0.0.7");
    expect(clientKey("2001:db8:1:2::1")).toBe(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    expect(clientKey("2001:DB8:1:2:0:0:0:99%eth0")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8:1:3::1")).not.toBe(clientKey("2001:db8:1:2::1"));
  });

  it("a budget refuses what does not fit, says when it will, and forgets the oldest client first", () => {
    const b = new ByteBudget({ bytes: 100, windowMs: 1000, maxClients: 2 });
    expect(b.take("a", 60, 0)).toBe(0);
    expect(b.take("a", 30, 500)).toBe(0);
    expect(b.take("a", 20, 600)).toBe(400); // the 60 bytes leave the window at t=1000
    expect(b.used("a", 600)).toBe(90);
    expect(b.take("a", 101, 600)).toBe(1000);
    expect(b.take("a", 20, 1000)).toBe(0);
    b.take("b", 1, 1000);
    b.take("c", 1, 1000); // "a" is the least recently used: forgotten
    expect(b.used("a", 1000)).toBe(0);
  });
});
