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
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { request, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, encodeTensor, hashEncoded, isError, traceManifest } from "../../protocol/index.js";
import {
  createApi,
  type ApiDeps,
  type BlobQuotaOptions,
  type UploadLimits,
  BlobStore,
  StreamingTensorHash,
  RelayerDb,
  ByteBudget,
  clientKey,
} from "../../relayer/index.js";

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

async function store(
  quota: BlobQuotaOptions | undefined,
  retention = { retentionSeconds: 7 * 24 * 3600, unreferencedSeconds: 600 },
  uploadLimits: Partial<UploadLimits> = {},
): Promise<Store> {
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
    uploadLimits,
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

  it("a verified result keeps its output, manifest and trace rows even when its worker uploaded them anonymously", async () => {
    const s = await store({ perClientBytes: 1 << 30, windowMs: 60_000, maxStoredBytes: 1 << 30 });
    const rows = [blob(21, 64), blob(22, 64)];
    const output = blob(23, 64);
    const manifest = encodeTensor(traceManifest(rows.map((r) => hashEncoded(r))));
    const junk = blob(24, 64);
    for (const b of [...rows, output, manifest, junk]) expect((await upload(s, b, { hash: hashEncoded(b) })).status).toBe(201);
    // What the collector does once a staked worker's signed result names them.
    expect(await s.blobs.keepResult(hashEncoded(output), hashEncoded(manifest))).toBe(4);
    const now = Date.now();
    expect(await s.blobs.collectGarbage(now + 601_000)).toBe(1);
    expect(s.blobs.has(hashEncoded(junk))).toBe(false);
    for (const b of [...rows, output, manifest]) expect(s.blobs.has(hashEncoded(b))).toBe(true);
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

/** An upload whose body the test sends itself: headers and `first` bytes now, the rest when asked. */
function slowUpload(s: Store, total: number, first: Buffer): { socket: Socket; reply: () => string; closed: () => boolean } {
  let reply = "";
  let closed = false;
  const socket = connect(s.port, "127.0.0.1", () => {
    socket.write(`POST /blobs HTTP/1.1\r\nHost: relayer\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
    socket.write(first);
  });
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (reply += d));
  socket.on("error", () => undefined);
  socket.on("close", () => (closed = true));
  cleanup.push(() => void socket.destroy());
  return { socket, reply: () => reply, closed: () => closed };
}

const tempFiles = (s: Store) => readdirSync(s.dir).filter((f) => f.endsWith(".tmp"));
const until = async (what: () => boolean, ms: number, label: string) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("attack: stalled and parallel uploads (finding 5: 24 stalled uploads pinned 1.1 GiB)", () => {
  it("an upload is streamed to a temp file, and a stalled one is cut off by the minimum rate with its partial file removed", async () => {
    const s = await store(undefined, undefined, { minBytesPerSecond: 4096, rateWindowMs: 400 });
    const bytes = blob(7, 64 * 1024); // 256 KiB
    const up = slowUpload(s, bytes.byteLength, bytes.subarray(0, 100 * 1024));
    // Streamed: the first 100 KiB are on disk while the rest has not been sent.
    await until(() => tempFiles(s).length === 1 && statSync(join(s.dir, tempFiles(s)[0]!)).size >= 100 * 1024, 3_000, "the partial upload on disk");
    // Then the client stalls: cut off within a window or two, with a 408 and the socket closed.
    const started = Date.now();
    await until(() => up.closed(), 5_000, "the stalled upload to be cut off");
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(up.reply()).toMatch(/^HTTP\/1\.1 408/);
    expect(up.reply()).toMatch(/"code":"TIMEOUT"/);
    await until(() => tempFiles(s).length === 0, 2_000, "the partial file to be removed");
    expect(storedFiles(s)).toHaveLength(0);
    expect(s.blobs.has(hashEncoded(bytes))).toBe(false);
  });

  it("a client that aborts mid-upload leaves nothing behind", async () => {
    const s = await store(undefined);
    const bytes = blob(8, 64 * 1024);
    const up = slowUpload(s, bytes.byteLength, bytes.subarray(0, 50 * 1024));
    await until(() => tempFiles(s).length === 1, 3_000, "the partial upload on disk");
    up.socket.destroy();
    await until(() => tempFiles(s).length === 0, 3_000, "the partial file to be removed");
    expect(storedFiles(s)).toHaveLength(0);
  });

  it("concurrent anonymous uploads are capped per client (all loopback) and overall: 429 at once", async () => {
    const s = await store(undefined, undefined, { maxConcurrentPerClient: 2, maxConcurrent: 3, minBytesPerSecond: 0 });
    const bytes = blob(9, 64 * 1024);
    const held = [slowUpload(s, bytes.byteLength, bytes.subarray(0, 1024)), slowUpload(s, bytes.byteLength, bytes.subarray(0, 1024))];
    await until(() => tempFiles(s).length === 2, 3_000, "two uploads in progress");
    const third = await upload(s, blob(10), { from: "127.0.0.2" });
    expect(third.status).toBe(429);
    expect(third.headers["retry-after"]).toBe("1");
    // Finishing one frees its slot.
    held[0]!.socket.write(bytes.subarray(1024));
    await until(() => held[0]!.reply().startsWith("HTTP/1.1 201"), 3_000, "the first upload to be stored");
    expect((await upload(s, blob(10), { from: "127.0.0.2" })).status).toBe(201);
    expect(tempFiles(s)).toHaveLength(1);
  });
});

describe("streamed tensor hash", () => {
  it("equals hashEncoded whatever the pieces, and refuses what hashEncoded refuses", () => {
    for (const n of [0, 1, 255, 256, 257, 1000, 3 * 256 + 7]) {
      const bytes = encodeTensor({ dtype: "float32", shape: [n], data: new Float32Array(n).map((_, i) => i * 0.5 - 3) });
      for (const piece of [1, 3, 7, 1024, 1500, 1 << 20]) {
        const h = new StreamingTensorHash();
        for (let at = 0; at < bytes.byteLength; at += piece) h.update(bytes.subarray(at, at + piece));
        expect(h.digest()).toBe(hashEncoded(bytes));
      }
    }
    const good = blob(1, 300);
    for (const bad of [good.subarray(0, good.byteLength - 1), Buffer.concat([good, Buffer.from([0])]), Buffer.from("nope"), Buffer.alloc(0)]) {
      const h = new StreamingTensorHash();
      h.update(bad);
      let code: string | undefined;
      try {
        h.digest();
      } catch (error) {
        code = isError(error) ? error.code : "other";
      }
      expect(code).toBe("TENSOR_MALFORMED");
    }
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
