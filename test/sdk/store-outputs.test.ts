/**
 * `storeOutputs` (sdk/redundancy.ts): the `outputs` source of jobActions / countedOutputs reading a real
 * relayer blob store through the one blob client: the bytes of a stored output; nothing for a missing,
 * oversize or wrong blob (countedOutputs then leaves the job to its default outcome).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BlobClient, hashEncoded } from "../../protocol/index.js";
import { storeOutputs } from "../../sdk/index.js";
import { startRelayerStore, tensorBytes, type RelayerStore } from "../protocol/blob-store-fixture.js";

let store: RelayerStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe("storeOutputs", () => {
  it("reads a stored output, and gives nothing for a missing, oversize or wrong one", async () => {
    store = await startRelayerStore();
    const client = new BlobClient({ storeUrl: store.url });
    const small = tensorBytes(1, 64);
    const big = tensorBytes(2, 64 * 1024);
    const wrong = tensorBytes(3, 64);
    const [s, b, w] = [await client.upload(small), await client.upload(big), await client.upload(wrong)];
    writeFileSync(join(store.dir, "blobs", w.hash.slice(2)), tensorBytes(4, 64));
    const outputs = storeOutputs(store.url, 64 * 1024);
    expect(Buffer.compare(Buffer.from((await outputs(s.hash))!), small)).toBe(0);
    expect(await outputs(b.hash)).toBeUndefined();
    expect(await outputs(w.hash)).toBeUndefined();
    expect(await outputs(hashEncoded(tensorBytes(5, 64)))).toBeUndefined();
    expect((await storeOutputs(store.url)(b.hash))!.byteLength).toBe(big.byteLength);
  });
});
