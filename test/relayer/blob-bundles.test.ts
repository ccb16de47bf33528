/** The relayer's streaming hash takes tensor bundles too, whatever the piece boundaries. */
import { describe, expect, it } from "vitest";
import { encodeBundle, hashBundleEncoded, isError } from "../../protocol/index.js";
import { StreamingTensorHash } from "../../relayer/blobs.js";

describe("StreamingTensorHash on bundles", () => {
  const bundle = encodeBundle({
    ab: { dtype: "float32", shape: [600], data: Float32Array.from({ length: 600 }, (_, i) => i / 7) },
    a: { dtype: "int64", shape: [], data: BigInt64Array.of(16000n) },
  });

  it.each([1, 3, 7, 8, 9, 1024, bundle.byteLength])("test_digest_piecesOf%i_equalsBundleHash", (size) => {
    const h = new StreamingTensorHash();
    for (let at = 0; at < bundle.byteLength; at += size) h.update(bundle.subarray(at, at + size));
    expect(h.total).toBe(bundle.byteLength);
    expect(h.digest()).toBe(hashBundleEncoded(bundle));
  });

  it("test_digest_truncatedBundle_malformed", () => {
    const h = new StreamingTensorHash();
    h.update(bundle.subarray(0, bundle.byteLength - 1));
    const e = (() => {
      try {
        h.digest();
      } catch (x) {
        return x;
      }
    })();
    expect(isError(e, "TENSOR_MALFORMED")).toBe(true);
  });
});
