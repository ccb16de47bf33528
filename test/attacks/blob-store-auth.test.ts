/**
 * Issue 13, finding 5 (second half): the blob store knew workers and challengers only by network
 * address (`blobUploadAllowlist`), so anyone sharing that address (a NAT, a loopback neighbour) got
 * their exemptions, and a flood from a challenger's address turned honest traces into
 * "unavailable". Now workers and challengers sign their requests (protocol/blobAuth.ts: a worker
 * with its staked signer key, a challenger with a key the relayer lists); the relayer keys budgets
 * and rate limits by the verified identity, refuses a signature it cannot attribute (401), and with
 * `requireBlobAuth` refuses anonymous uploads that are not an on-chain request's input.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { BLOB_AUTH_HEADER, BlobAuth, BlobClient, createLogger, encodeTensor, hashEncoded, signedGetHeaders, type Hex } from "../../protocol/index.js";
import { createApi, type ApiDeps, type BlobAuthOptions, BlobStore, RelayerDb } from "../../relayer/index.js";
import { startLocalStack } from "../../stack/local-stack.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const worker = new BlobAuth(Wallet.createRandom().privateKey);
const challenger = new BlobAuth(Wallet.createRandom().privateKey);
const stranger = new BlobAuth(Wallet.createRandom().privateKey);

interface Store {
  url: string;
  db: RelayerDb;
  blobs: BlobStore;
  identified: string[];
}

/** A relayer API over a real blob store; `identify` knows the worker (as the chain would) and the listed challenger. */
async function store(options: { auth?: Partial<BlobAuthOptions>; perClientBytes?: number; rate?: { perSecond: number; burst: number }; frozenClock?: boolean } = {}): Promise<Store> {
  const frozenAt = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "blob-auth-"));
  const db = new RelayerDb(dir);
  const blobs = new BlobStore(dir, db, { maxBytes: 1 << 20, retentionSeconds: 7 * 24 * 3600, unreferencedSeconds: 600 });
  const identified: string[] = [];
  const deps = {
    log: createLogger("test", { level: "silent" }),
    db,
    blobs,
    maxBlobBytes: 1 << 20,
    publicUrl: () => "http://relayer",
    blobQuota: { perClientBytes: options.perClientBytes ?? 1 << 30, windowMs: 3_600_000, maxStoredBytes: 1 << 30 },
    ...(options.rate === undefined ? {} : { rateLimit: options.rate }),
    ...(options.frozenClock === true ? { now: () => frozenAt } : {}),
    blobAuth: {
      identify: async (address: string) => {
        identified.push(address);
        return address === worker.address.toLowerCase() ? "worker" : address === challenger.address.toLowerCase() ? "listed" : undefined;
      },
      rateLimit: { perSecond: 0, burst: 1 },
      bytesPerIdentity: 1 << 30,
      windowMs: 3_600_000,
      required: false,
      ...options.auth,
    },
  } as unknown as ApiDeps;
  const server: Server = createApi(deps).listen(0, "127.0.0.1");
  await new Promise<void>((r) => server.once("listening", () => r()));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => db.close());
  cleanup.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, db, blobs, identified };
}

function blob(seed: number, n = 4096): Buffer {
  return encodeTensor({ dtype: "float32", shape: [1, n], data: new Float32Array(n).map((_, i) => seed * 1_000_003 + i) });
}

async function put(s: Store, bytes: Buffer, header?: string, hash = hashEncoded(bytes)): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${s.url}/blobs/${hash}`, {
    method: "PUT",
    body: bytes as Uint8Array<ArrayBuffer>,
    headers: { "content-type": "application/octet-stream", ...(header === undefined ? {} : { [BLOB_AUTH_HEADER]: header }) },
  });
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  return { status: res.status, ...(body.error?.code === undefined ? {} : { code: body.error.code }) };
}

describe("attack: the blob store's exemptions taken by whoever shares a worker's or challenger's address", () => {
  it("a worker's signed upload is its own: kept the full retention and outside the anonymous budget that the same address has spent", async () => {
    const s = await store({ perClientBytes: 20_000 });
    expect((await put(s, blob(1))).status).toBe(201); // 16 KiB of the 20 KB anonymous budget
    expect(await put(s, blob(2))).toEqual({ status: 429, code: "RATE_LIMITED" }); // same address, anonymous: spent
    // The worker's client (protocol/blob-client.ts, as worker/serve.ts uses it) signs with the worker's key: accepted, referenced.
    const bytes = blob(3);
    const hash = hashEncoded(bytes) as Hex;
    await new BlobClient({ storeUrl: s.url, timeoutMs: 10_000, auth: worker }).upload(bytes, { hash });
    expect(s.identified).toEqual([worker.address.toLowerCase()]);
    // Kept the referenced retention (7 days), where an anonymous upload gets 10 minutes.
    const row = s.db.blobs.get(hash)!;
    expect(row.expiresAt - row.createdAt).toBe(7 * 24 * 3600 * 1000);
    const anon = s.db.blobs.get(hashEncoded(blob(1)))!;
    expect(anon.expiresAt - anon.createdAt).toBe(600 * 1000);
    // Without its key the same upload is anonymous again, and refused.
    expect((await put(s, blob(4))).status).toBe(429);
  });

  it("a signature nobody can be held to is refused outright (401), never served as anonymous", async () => {
    const s = await store();
    const bytes = blob(5);
    // An unknown key.
    expect(await put(s, bytes, stranger.header())).toEqual({ status: 401, code: "AUTH_INVALID" });
    // The worker's address, signed by another key.
    const forged = stranger.header().replace(stranger.address, worker.address);
    expect(await put(s, bytes, forged)).toEqual({ status: 401, code: "AUTH_INVALID" });
    // Stale (2 minutes old), and malformed.
    expect(await put(s, bytes, worker.header(Date.now() - 120_000))).toEqual({ status: 401, code: "AUTH_INVALID" });
    expect(await put(s, bytes, "v1:nonsense")).toEqual({ status: 401, code: "AUTH_INVALID" });
    expect(s.blobs.has(hashEncoded(bytes))).toBe(false);
    // The genuine one passes.
    expect((await put(s, bytes, worker.header())).status).toBe(201);
  });

  it("a token is signed once and verified once: a client's requests for 30 s carry the same token; forged tokens are verified at most 20 at once per address", async () => {
    const s = await store({ frozenClock: true }); // the verification bucket refills at 5/s: no refill during the flood
    const auth = new BlobAuth(Wallet.createRandom().privateKey);
    expect(auth.header()).toBe(auth.header());
    const at = Date.now();
    expect(auth.header(at + 31_000)).not.toBe(auth.header(at));
    // A flood of distinct forged tokens (fresh keys each: each costs the relayer an ecrecover) is cut off.
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) {
      const b = blob(100 + i, 16);
      statuses.push((await put(s, b, new BlobAuth(Wallet.createRandom().privateKey).header())).status);
    }
    expect(statuses.slice(0, 20).every((x) => x === 401)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429, 429, 429]);
  });

  it("with requireBlobAuth, anonymous uploads are refused unless they are an on-chain request's input", async () => {
    const s = await store({ auth: { required: true } });
    expect(await put(s, blob(7))).toEqual({ status: 401, code: "AUTH_INVALID" });
    const input = blob(8);
    const inputHash = hashEncoded(input);
    s.db.insertRequest({ id: "0x" + "11".repeat(32), requester: "0x" + "22".repeat(20), modelHash: "0x" + "33".repeat(32), inputHash, inputURI: "", tier: 0, fee: "1", deadline: 0, callbackGasLimit: 0, state: "requested", block: 1, observedAt: 0 });
    expect((await put(s, input)).status).toBe(201);
    const mine = blob(9);
    expect((await put(s, mine, challenger.header())).status).toBe(201);
  });

  it("a flood that spends the challenger's address's rate limit does not starve its signed reads; its own bucket and byte budget still bind it", async () => {
    const s = await store({ rate: { perSecond: 0.001, burst: 3 }, auth: { rateLimit: { perSecond: 0.001, burst: 5 }, bytesPerIdentity: 40_000 } });
    const bytes = blob(10);
    const hash = hashEncoded(bytes);
    expect((await put(s, bytes, worker.header())).status).toBe(201);
    // The flood from the shared address: its bucket (3) is spent.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${s.url}/blobs/${hash}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // The challenger's signed reads (the daemon's blob client, challenger/daemon-blobs.ts) go through, first time.
    const headers = signedGetHeaders(challenger, s.url)!;
    const reader = new BlobClient({ storeUrl: s.url, auth: challenger, retry: { attempts: 1 } });
    for (let i = 0; i < 3; i++) {
      const got = await reader.download(hash, { maxBytes: 1 << 20 });
      expect(hashEncoded(got)).toBe(hash);
    }
    // A read signed by a key the relayer does not know is served as anonymous: the spent address bucket.
    const strangerRead = await fetch(`${s.url}/blobs/${hash}`, { headers: signedGetHeaders(stranger, s.url)!(new URL(`${s.url}/blobs/${hash}`)) });
    expect(strangerRead.status).toBe(429);
    // Its own bucket (5) binds it: 3 reads above, 2 more, then 429.
    const more: number[] = [];
    for (let i = 0; i < 3; i++) more.push((await fetch(`${s.url}/blobs/${hash}`, { headers: headers(new URL(`${s.url}/blobs/${hash}`)) })).status);
    expect(more).toEqual([200, 200, 429]);
    // The worker's byte budget (40 KB): 16 KiB stored above, one more fits, the third is refused.
    const b2 = blob(11);
    expect((await put(s, b2, worker.header())).status).toBe(201);
    const b3 = blob(12);
    expect(await put(s, b3, worker.header())).toEqual({ status: 429, code: "RATE_LIMITED" });
  });

  it("on a real relayer and chain: a registered worker's signer is known from the oracle, any other key is refused, and requireBlobAuth refuses anonymous uploads", async () => {
    const stack = await startLocalStack({ logger: createLogger("attack", { level: "silent" }), workers: 1, relayer: { api: { requireBlobAuth: true } } });
    cleanup.push(() => stack.close());
    const s = { url: stack.relayer.url } as Store;
    const staked = new BlobAuth(stack.workerSigners[0]!.privateKey);
    const a = blob(20);
    expect((await put(s, a, staked.header())).status).toBe(201);
    const b = blob(21);
    expect(await put(s, b, stranger.header())).toEqual({ status: 401, code: "AUTH_INVALID" });
    expect(await put(s, b)).toEqual({ status: 401, code: "AUTH_INVALID" });
  });
});
