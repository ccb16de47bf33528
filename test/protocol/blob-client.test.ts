/**
 * The one blob-store client (protocol/blob-client.ts) against a real relayer API and blob store
 * (relayer/api.ts, relayer/blobs.ts): a round trip, hashes checked both ways, a size cap that refuses
 * before the body is read, signed requests, a transient 503 tried again, and the address policy.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { BlobAuth, BlobClient, fetchBytes, hashEncoded, isError, type FetchBytesOptions } from "../../protocol/index.js";
import { startRelayerStore, tensorBytes, type RelayerStore, type RelayerStoreOptions } from "./blob-store-fixture.js";

const worker = new BlobAuth(Wallet.createRandom().privateKey);
const stranger = new BlobAuth(Wallet.createRandom().privateKey);
const stores: RelayerStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function store(options: RelayerStoreOptions = {}): Promise<RelayerStore> {
  const s = await startRelayerStore(options);
  stores.push(s);
  return s;
}

/** The real fetchBytes, counted: how many reads the client made. */
function counted(): { fetch: (uri: string, o: FetchBytesOptions) => Promise<Buffer>; calls: () => number } {
  let calls = 0;
  return { fetch: (uri, o) => (calls++, fetchBytes(uri, o)), calls: () => calls };
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; retryable?: boolean; details?: Record<string, unknown> }> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof Error)) throw new Error("expected a failure");
  return e;
}

describe("BlobClient against a real relayer", () => {
  it("uploads a tensor and downloads it again, by hash and by the URI the store answered", async () => {
    const s = await store();
    const client = new BlobClient({ storeUrl: s.url });
    const bytes = tensorBytes(1);
    const hash = hashEncoded(bytes);
    const stored = await client.upload(bytes, { hash });
    expect(stored).toEqual({ hash, uri: `${s.url}/blobs/${hash}` });
    expect(s.blobs.has(hash)).toBe(true);
    expect(Buffer.compare(await client.download(hash, { maxBytes: bytes.byteLength }), bytes)).toBe(0);
    expect(Buffer.compare(await client.downloadUri(stored.uri, hash, { maxBytes: 1 << 20 }), bytes)).toBe(0);
    // Without a hash the client computes it; the same blob again is idempotent.
    expect((await client.upload(bytes)).hash).toBe(hash);
    // A blob the store does not have: BLOB_NOT_FOUND, final.
    const reads = counted();
    const missing = await failure(new BlobClient({ storeUrl: s.url, fetch: reads.fetch }).download(hashEncoded(tensorBytes(2)), { maxBytes: 1 << 20 }));
    expect([missing.code, missing.retryable, reads.calls()]).toEqual(["BLOB_NOT_FOUND", false, 1]);
  });

  it("refuses bytes that do not hash to the hash: an upload before it is sent, a download the store serves wrong", async () => {
    const s = await store();
    const client = new BlobClient({ storeUrl: s.url });
    const bytes = tensorBytes(3);
    const other = hashEncoded(tensorBytes(4));
    const up = await failure(client.upload(bytes, { hash: other }));
    expect([up.code, up.retryable]).toEqual(["BLOB_HASH_MISMATCH", false]);
    expect(s.blobs.storedBytes()).toBe(0);
    const notATensor = await failure(client.upload(Buffer.from("not a tensor")));
    expect(notATensor.code).toBe("TENSOR_MALFORMED");
    // A caller that vouches for its hash (`verified`, not hashed again here) is still checked by the store.
    const vouched = await failure(client.upload(bytes, { hash: other, verified: true }));
    expect([vouched.code, vouched.retryable, vouched.details?.status, vouched.details?.storeCode]).toEqual(["BLOB_HASH_MISMATCH", false, 400, "INPUT_HASH_MISMATCH"]);

    // The store's file for a blob replaced by another tensor (a corrupt disk, a tampered store).
    const hash = (await client.upload(bytes)).hash;
    writeFileSync(join(s.dir, "blobs", hash.slice(2)), tensorBytes(5));
    const reads = counted();
    const down = await failure(new BlobClient({ storeUrl: s.url, fetch: reads.fetch }).download(hash, { maxBytes: 1 << 20 }));
    expect([down.code, down.retryable, down.details?.actual, reads.calls()]).toEqual(["BLOB_HASH_MISMATCH", false, hashEncoded(tensorBytes(5)), 1]);
  });

  it("refuses a blob over the cap from its declared length, before reading the body, and never tries again", async () => {
    const s = await store();
    const big = tensorBytes(6, 256 * 1024); // 1 MiB
    const hash = (await new BlobClient({ storeUrl: s.url }).upload(big)).hash;
    const reads = counted();
    const started = performance.now();
    const e = await failure(new BlobClient({ storeUrl: s.url, fetch: reads.fetch }).download(hash, { maxBytes: 64 * 1024 }));
    expect([e.code, e.retryable, reads.calls()]).toEqual(["PAYLOAD_TOO_LARGE", false, 1]);
    // The size it names is the declared Content-Length: the refusal came with the headers.
    expect(e.details).toMatchObject({ size: big.byteLength, maxBytes: 64 * 1024 });
    expect(performance.now() - started).toBeLessThan(2_000);
    // At the cap exactly it is read.
    expect((await new BlobClient({ storeUrl: s.url }).download(hash, { maxBytes: big.byteLength })).byteLength).toBe(big.byteLength);
  });

  it("signs uploads and the store's reads: a store that requires it refuses anonymous and unknown uploads and takes the worker's", async () => {
    const s = await store({ required: true, known: [worker.address.toLowerCase()] });
    const bytes = tensorBytes(7);
    const anonymous = await failure(new BlobClient({ storeUrl: s.url }).upload(bytes));
    expect([anonymous.code, anonymous.retryable, anonymous.details?.status]).toEqual(["AUTH_INVALID", false, 401]);
    const unknown = await failure(new BlobClient({ storeUrl: s.url, auth: stranger }).upload(bytes));
    expect([unknown.code, unknown.details?.storeCode]).toEqual(["AUTH_INVALID", "AUTH_INVALID"]);
    expect(s.blobs.storedBytes()).toBe(0);

    const signed = new BlobClient({ storeUrl: s.url, auth: worker });
    const { hash } = await signed.upload(bytes);
    // Kept the referenced retention (an hour here), where anonymous uploads get ten minutes.
    const row = s.db.blobs.get(hash)!;
    expect(row.expiresAt - row.createdAt).toBe(3600 * 1000);
    s.identified.length = 0;
    await signed.download(hash, { maxBytes: 1 << 20 });
    expect(s.identified).toEqual([worker.address.toLowerCase()]);
  });

  it("tries a transient 503 again, for uploads and reads, and reports a store that stays down as BLOB_STORE_UNAVAILABLE", async () => {
    // The relayer answers 503 while it cannot look up who signed (its chain RPC is down).
    const s = await store({ unavailable: 1, known: [worker.address.toLowerCase()] });
    const client = new BlobClient({ storeUrl: s.url, auth: worker, retry: { backoffMs: 20 } });
    const bytes = tensorBytes(8);
    const { hash } = await client.upload(bytes);
    expect(s.identified.length).toBe(2); // the 503, then the try that stored it
    expect(s.blobs.has(hash)).toBe(true);

    const down = await store({ unavailable: 100, known: [worker.address.toLowerCase()] });
    const reads = counted();
    const reader = new BlobClient({ storeUrl: down.url, auth: worker, retry: { attempts: 3, backoffMs: 20 }, fetch: reads.fetch });
    const e = await failure(reader.download(hash, { maxBytes: 1 << 20 }));
    expect([e.code, e.retryable, e.details?.attempts, e.details?.status, reads.calls()]).toEqual(["BLOB_STORE_UNAVAILABLE", true, 3, 503, 3]);
    const up = await failure(new BlobClient({ storeUrl: down.url, auth: worker, retry: { attempts: 2, backoffMs: 20 } }).upload(bytes));
    expect([up.code, up.retryable, up.details?.attempts]).toEqual(["BLOB_STORE_UNAVAILABLE", true, 2]);
    // A deadline stops the tries early: no try whose wait would end past it.
    const patient = new BlobClient({ storeUrl: down.url, auth: worker, retry: { attempts: 5, backoffMs: 1_000 }, fetch: reads.fetch });
    const until = await failure(patient.download(hash, { maxBytes: 1 << 20, until: Date.now() + 500 }));
    expect([isError(until, "BLOB_STORE_UNAVAILABLE"), until.details?.attempts, reads.calls()]).toEqual([true, 1, 4]);
  });

  it("reaches other hosts only under the address policy: a loopback URI that is not the store's is refused unless allowed", async () => {
    const mine = await store();
    const other = await store({ known: [worker.address.toLowerCase()] });
    const bytes = tensorBytes(9);
    const { hash, uri } = await new BlobClient({ storeUrl: other.url }).upload(bytes);
    const client = new BlobClient({ storeUrl: mine.url, auth: worker });
    const refused = await failure(client.downloadUri(uri, hash, { maxBytes: 1 << 20 }));
    expect([refused.code, refused.retryable, refused.details?.reason]).toEqual(["INPUT_UNAVAILABLE", false, "address-not-allowed"]);
    const allowed = new BlobClient({ storeUrl: mine.url, auth: worker, addressPolicy: { allowedAddresses: ["127.0.0.1"] } });
    other.identified.length = 0;
    expect(Buffer.compare(await allowed.downloadUri(uri, hash, { maxBytes: 1 << 20 }), bytes)).toBe(0);
    // The worker's token goes to its own store only, never to another host.
    expect(other.identified).toEqual([]);
    // Schemes other than http(s) are refused unless asked for.
    const file = await failure(client.downloadUri("/etc/hostname", hash, { maxBytes: 1 << 20 }));
    expect(file.code).toBe("INPUT_UNAVAILABLE");
  });
});
