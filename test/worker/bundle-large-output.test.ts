/**
 * Several named outputs above the worker's inline cap ("the dApp receives every output it asked
 * for, or their hashes plus URIs, above a size you choose"): the worker stores the whole output bundle in
 * the blob store under its bundle hash and signs its size proof, which names every output with its dtype
 * and shape. The contracts' side of a bundle's size proof is test/contracts/large-outputs.test.ts; the
 * single-tensor case is test/worker/worker.test.ts.
 */
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobAuth, bytesOf, decodeBundle, encodeBundle, hashBundleEncoded, isSizeProof, readSizeProof, bytesToHex } from "../../protocol/index.js";
import { attackJob, attackWorker, type AttackWorker } from "../attacks/harness.js";
import { SIGNER_KEY } from "./fixtures.js";
import { startRelayerStore, type RelayerStore } from "../protocol/blob-store-fixture.js";
import { frame, SR, VAD_FILE, VAD_HASH, VAD_MODEL, ZERO_STATE } from "./vad-fixtures.js";

describe("worker: a bundle of outputs above the inline cap", () => {
  let w: AttackWorker;
  let store: RelayerStore;

  beforeAll(async () => {
    // A real relayer blob store that requires signed uploads and knows this worker's signer.
    store = await startRelayerStore({ required: true, known: [new BlobAuth(SIGNER_KEY).address.toLowerCase()] });
    // The two outputs encode to well over 16 bytes: every result goes to the blob store.
    w = await attackWorker([VAD_MODEL], { modelSchemes: ["file"], blobStoreUrl: store.url, maxInlineOutputBytes: 16, fetchAllowedAddresses: ["127.0.0.0/8", "::1"] });
  });
  afterAll(async () => {
    await w?.close();
    await store?.close();
  });

  it("test_serve_bundleAboveCap_storedByBundleHash_sizeProofNamesEveryOutput", async () => {
    const input = encodeBundle({ input: frame(3), sr: SR, state: ZERO_STATE });
    const job = { ...attackJob(VAD_HASH, frame(3)), input: bytesToHex(input), inputHash: hashBundleEncoded(input) };
    const reply = await w.serve(job);
    expect(reply.kind, JSON.stringify(reply)).toBe("result");
    const signed = bytesOf(reply.output as string | Uint8Array);
    expect(isSizeProof(signed)).toBe(true);
    const proof = readSizeProof(signed);
    expect(proof.outputHash).toBe(reply.outputHash);
    expect(proof.entries).toEqual([
      { name: "output", dtype: "float32", shape: [1, 1] },
      { name: "stateN", dtype: "float32", shape: [1, 1, 8] },
    ]);
    // The blob store holds the bundle itself: it hashes to the signed outputHash and decodes to onnxruntime's outputs.
    const stored = await store.blobs.get(reply.outputHash as string);
    expect(stored).toBeDefined();
    expect(hashBundleEncoded(stored!)).toBe(reply.outputHash);
    expect(proof.encodedBytes).toBe(stored!.byteLength);
    const outputs = decodeBundle(stored!);
    const session = await ort.InferenceSession.create(VAD_FILE);
    const f = frame(3);
    const ref = await session.run({ input: new ort.Tensor("float32", f.data as Float32Array, [1, 64]), sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []), state: new ort.Tensor("float32", new Float32Array(8), [1, 1, 8]) });
    await session.release();
    expect(Array.from(outputs.get("output")!.data as Float32Array)).toEqual(Array.from(ref.output!.data as Float32Array));
    expect(Array.from(outputs.get("stateN")!.data as Float32Array)).toEqual(Array.from(ref.stateN!.data as Float32Array));
  }, 60_000);
});
