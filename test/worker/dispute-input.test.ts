/**
 * A disputed request's input read again (worker/input-fetch.ts fetchDisputeInput) through the worker's
 * blob client (protocol/blob-client.ts) against real relayer blob stores: its own store by hash (signed
 * as the worker), else the request's URI under the address policy; bytes that do not hash to the
 * request's inputHash are never taken, and what is found is cached for the rest of the game.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BlobAuth, BlobClient, fetchBytes, hashEncoded } from "../../protocol/index.js";
import { loadWorkerConfig } from "../../worker/index.js";
import { InputCache } from "../../worker/input-cache.js";
import { fetchDisputeInput, workerBlobClient, type InputContext } from "../../worker/input-fetch.js";
import { startRelayerStore, tensorBytes, type RelayerStore } from "../protocol/blob-store-fixture.js";
import { CHAIN_ID, ORACLE, SIGNER_KEY, randomHash, silentLogger, tempDir } from "./fixtures.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function context(store: RelayerStore | undefined, extra: Record<string, unknown> = {}): Promise<InputContext> {
  const tmp = await tempDir();
  cleanup.push(tmp.cleanup);
  const config = loadWorkerConfig({ signerKey: SIGNER_KEY, allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }], ...(store === undefined ? {} : { blobStoreUrl: store.url }), ...extra }, {});
  return { config, fetch: fetchBytes, inputs: new InputCache({ dir: tmp.dir }), log: silentLogger(), blobs: workerBlobClient(config, fetchBytes, new BlobAuth(SIGNER_KEY)) };
}

async function store(known: string[] = []): Promise<RelayerStore> {
  const s = await startRelayerStore({ known });
  cleanup.push(() => s.close());
  return s;
}

describe("fetchDisputeInput through the blob client", () => {
  it("reads the input from the worker's own store by hash, signed, checked and then cached", async () => {
    const worker = new BlobAuth(SIGNER_KEY).address.toLowerCase();
    const s = await store([worker]);
    const input = tensorBytes(1);
    const inputHash = (await new BlobClient({ storeUrl: s.url }).upload(input)).hash;
    const ctx = await context(s);
    const requestId = randomHash();
    s.identified.length = 0;
    const got = await fetchDisputeInput(ctx, requestId, inputHash, "");
    expect(Buffer.compare(got!, input)).toBe(0);
    expect(s.identified).toEqual([worker]);
    expect(Buffer.compare(ctx.inputs.get(requestId)!, input)).toBe(0);
  });

  it("takes no bytes that do not hash to the inputHash, from the store or the URI, and falls back to the URI", async () => {
    const s = await store();
    const elsewhere = await store();
    const input = tensorBytes(2);
    const inputHash = (await new BlobClient({ storeUrl: s.url }).upload(input)).hash;
    writeFileSync(join(s.dir, "blobs", inputHash.slice(2)), tensorBytes(3)); // the own store serves wrong bytes
    const uri = (await new BlobClient({ storeUrl: elsewhere.url }).upload(input)).uri;
    // The URI's host is loopback: not the worker's store, so only reached where the operator allows it.
    expect(await fetchDisputeInput(await context(s), randomHash(), inputHash, uri)).toBeUndefined();
    const allowed = await context(s, { fetchAllowedAddresses: ["127.0.0.1"] });
    expect(Buffer.compare((await fetchDisputeInput(allowed, randomHash(), inputHash, uri))!, input)).toBe(0);
    // A URI serving other bytes than the inputHash names: nothing taken.
    const wrong = (await new BlobClient({ storeUrl: elsewhere.url }).upload(tensorBytes(4))).uri;
    expect(wrong.endsWith(hashEncoded(tensorBytes(4)))).toBe(true);
    expect(await fetchDisputeInput(allowed, randomHash(), inputHash, wrong)).toBeUndefined();
  });

  it("without a blob store, reads the request's URI alone", async () => {
    const elsewhere = await store();
    const input = tensorBytes(5);
    const { hash, uri } = await new BlobClient({ storeUrl: elsewhere.url }).upload(input);
    const ctx = await context(undefined, { fetchAllowedAddresses: ["127.0.0.1"] });
    expect(Buffer.compare((await fetchDisputeInput(ctx, randomHash(), hash, uri))!, input)).toBe(0);
  });
});
