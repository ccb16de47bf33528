import { describe, expect, it } from "vitest";
import {
  CHUNK_BYTES,
  TensorFormatCode,
  checkSpec,
  chunkLeaves,
  chunkRoot,
  decodeHeader,
  decodeTensor,
  encodeTensor,
  hashEncoded,
  hashTensor,
  isError,
  merklePath,
  merkleRoot,
  rootFromPath,
  type Tensor,
} from "../../protocol/index.js";

function formatCode(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (isError(e, "TENSOR_MALFORMED")) return e.details.formatCode as number;
    throw e;
  }
  return undefined;
}

describe("canonical tensor encoding", () => {
  it("round-trips every dtype", () => {
    const cases: Tensor[] = [
      { dtype: "float32", shape: [2, 3], data: new Float32Array([1, -2, 3.5, Number.NaN, Infinity, -0]) },
      { dtype: "int8", shape: [4], data: new Int8Array([-128, -1, 0, 127]) },
      { dtype: "uint8", shape: [1, 1], data: new Uint8Array([255]) },
      { dtype: "int32", shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
      { dtype: "int64", shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
      { dtype: "float64", shape: [], data: new Float64Array([Math.PI]) },
      { dtype: "bool", shape: [3], data: new Uint8Array([0, 1, 1]) },
      { dtype: "float32", shape: [0, 4], data: new Float32Array(0) },
    ];
    for (const t of cases) {
      const bytes = encodeTensor(t);
      const back = decodeTensor(bytes);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength)).toEqual(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
      expect(hashEncoded(bytes)).toBe(hashTensor(t));
    }
  });

  it("lays out the header as documented", () => {
    const bytes = encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([1, 2]) });
    expect(bytes.subarray(0, 16).toString("hex")).toBe("56494f5401010200" + "00000001" + "00000002");
    expect(bytes.readFloatLE(16)).toBe(1);
  });

  it("refuses malformed encodings with a format code", () => {
    const good = encodeTensor({ dtype: "float32", shape: [2], data: new Float32Array([1, 2]) });
    const bad = (mutate: (b: Buffer) => Buffer) => formatCode(() => decodeTensor(mutate(Buffer.from(good))));
    expect(bad((b) => b.subarray(0, 5))).toBe(TensorFormatCode.TooShort);
    expect(bad((b) => ((b[0] = 0x41), b))).toBe(TensorFormatCode.BadMagic);
    expect(bad((b) => ((b[4] = 2), b))).toBe(TensorFormatCode.BadVersion);
    expect(bad((b) => ((b[5] = 8), b))).toBe(TensorFormatCode.BadDtype); // STRING is not supported
    expect(bad((b) => ((b[6] = 9), b))).toBe(TensorFormatCode.BadRank);
    expect(bad((b) => b.subarray(0, b.length - 1))).toBe(TensorFormatCode.BadLength);
    expect(bad((b) => Buffer.concat([b, Buffer.alloc(1)]))).toBe(TensorFormatCode.BadLength);
  });

  it("refuses a huge claimed shape before allocating anything", () => {
    const header = Buffer.from("56494f5401010400ffffffffffffffffffffffffffffffff", "hex");
    expect(formatCode(() => decodeHeader(header))).toBe(TensorFormatCode.BadLength);
  });

  it("refuses data that does not match the shape or dtype", () => {
    expect(formatCode(() => encodeTensor({ dtype: "float32", shape: [3], data: new Float32Array(2) }))).toBe(TensorFormatCode.BadLength);
    expect(formatCode(() => encodeTensor({ dtype: "float32", shape: [2], data: new Int8Array(2) }))).toBe(TensorFormatCode.BadDtype);
  });

  it("checks tensors against a model's spec, 0 meaning any size", () => {
    const spec = { dtype: "float32" as const, shape: [0, 3, 48, 0] };
    expect(() => checkSpec({ dtype: "float32", shape: [1, 3, 48, 192] }, spec)).not.toThrow();
    for (const actual of [
      { dtype: "int8" as const, shape: [1, 3, 48, 192] },
      { dtype: "float32" as const, shape: [1, 3, 48] },
      { dtype: "float32" as const, shape: [1, 1, 48, 192] },
      { dtype: "float32" as const, shape: [1, 3, 48, 0] },
    ]) {
      let err: unknown;
      try {
        checkSpec(actual, spec, "input");
      } catch (e) {
        err = e;
      }
      expect(isError(err, "TENSOR_SPEC_MISMATCH")).toBe(true);
    }
  });
});

describe("sha256 Merkle tree", () => {
  it("proves every leaf of odd-sized trees", () => {
    for (const n of [1, 2, 3, 5, 8, 13]) {
      const data = Buffer.from(Array.from({ length: n * CHUNK_BYTES - 7 }, (_, i) => (i * 7) % 251));
      const leaves = chunkLeaves(data);
      expect(leaves.length).toBe(n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        expect(rootFromPath(leaves[i]!, i, merklePath(leaves, i))).toEqual(root);
      }
      // A wrong index or a changed leaf does not prove.
      if (n > 1) expect(rootFromPath(leaves[0]!, 1, merklePath(leaves, 0))).not.toEqual(root);
    }
  });

  it("changes the tensor hash when any element changes", () => {
    const data = new Float32Array(1000).map((_, i) => i);
    const h0 = hashTensor({ dtype: "float32", shape: [1000], data });
    data[999] = 0;
    expect(hashTensor({ dtype: "float32", shape: [1000], data })).not.toBe(h0);
    expect(hashTensor({ dtype: "float32", shape: [10, 100], data })).not.toBe(hashTensor({ dtype: "float32", shape: [100, 10], data }));
  });
});

describe("chunkRoot (the one-pass data root of every tensor hash)", () => {
  it("test_chunkRoot_equalsTheLeafArrayRoot_forEverySizeAndOffset", () => {
    // Sizes around chunk and level boundaries (odd counts pair with zero at each level), and data viewed at
    // an odd offset of a larger buffer.
    for (const n of [0, 1, 1023, 1024, 1025, 2048, 3072, 3073, 5 * 1024 + 7, 8 * 1024, 9 * 1024, 33 * 1024 + 1, 110_592]) {
      const backing = new Uint8Array(n + 3).map((_, i) => (i * 131 + n) & 0xff);
      for (const data of [backing.subarray(0, n), backing.subarray(3)]) {
        expect(chunkRoot(data).toString("hex"), `${n} bytes at offset ${data.byteOffset}`).toBe(merkleRoot(chunkLeaves(data)).toString("hex"));
      }
    }
  });
});
