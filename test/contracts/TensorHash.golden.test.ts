/**
 * Golden vectors for the canonical tensor encoding and hash: computed by protocol/tensor.ts and
 * protocol/merkle.ts, pinned in golden/tensor-vectors.json, and checked against TensorHash.sol through
 * TensorHashHarness. Regenerate the file with UPDATE_GOLDEN=1 (only when the encoding changes on purpose).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  encodeTensor,
  decodeHeader,
  hashEncoded,
  type DType,
  type TensorData,
  DTYPES,
  chunkLeaves,
  merkleRoot,
  merklePath,
  rootFromPath,
  bytesToHex,
  sha256,
  isError,
  seededRandom,
} from "../../protocol/index.js";
import { Interface } from "ethers";
import { expectRevert } from "./helpers.js";

const GOLDEN = fileURLToPath(new URL("./golden/tensor-vectors.json", import.meta.url));

function randomBytes(seed: number, n: number): Uint8Array {
  const next = seededRandom(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

const CASES: { name: string; dtype: DType; shape: number[]; seed: number }[] = [
  { name: "empty-rank1-float32", dtype: "float32", shape: [0], seed: 1 },
  { name: "scalar-rank0-float32", dtype: "float32", shape: [], seed: 2 },
  { name: "one-chunk-int8", dtype: "int8", shape: [10], seed: 3 },
  { name: "exactly-1024-bytes-float32", dtype: "float32", shape: [256], seed: 4 },
  { name: "1025-bytes-int8", dtype: "int8", shape: [1025], seed: 5 },
  { name: "three-chunks-int64", dtype: "int64", shape: [384], seed: 6 },
  { name: "five-chunks-float32", dtype: "float32", shape: [2, 600], seed: 7 },
  { name: "cls-output-float32", dtype: "float32", shape: [1, 2], seed: 8 },
];

function header(bytes: number[], dims: number[] = []): Buffer {
  const dimBytes = Buffer.alloc(4 * dims.length);
  dims.forEach((d, i) => dimBytes.writeUInt32BE(d, 4 * i));
  return Buffer.concat([Buffer.from(bytes), dimBytes]);
}
const V = [0x56, 0x49, 0x4f, 0x54]; // "VIOT"

const MALFORMED: { name: string; encoded: Buffer }[] = [
  { name: "empty", encoded: Buffer.alloc(0) },
  { name: "seven-bytes", encoded: Buffer.from([...V, 1, 1, 0]) },
  { name: "bad-magic", encoded: header([0x56, 0x49, 0x4f, 0x55, 1, 1, 0, 0]) },
  { name: "bad-version", encoded: header([...V, 2, 1, 0, 0], []) },
  { name: "nonzero-reserved-byte", encoded: header([...V, 1, 1, 0, 1]) },
  { name: "unsupported-dtype-8-string", encoded: header([...V, 1, 8, 0, 0]) },
  { name: "unsupported-dtype-0", encoded: header([...V, 1, 0, 0, 0]) },
  { name: "rank-9", encoded: header([...V, 1, 1, 9, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1]) },
  { name: "truncated-dims", encoded: Buffer.concat([header([...V, 1, 1, 2, 0], [1]), Buffer.from([0, 0])]) },
  { name: "missing-data", encoded: header([...V, 1, 1, 1, 0], [2]) },
  { name: "extra-byte", encoded: Buffer.concat([header([...V, 1, 3, 1, 0], [2]), Buffer.from([1, 2, 3])]) },
  { name: "huge-dims", encoded: header([...V, 1, 1, 2, 0], [0xffffffff, 0xffffffff]) },
  { name: "scalar-without-data", encoded: header([...V, 1, 1, 0, 0]) },
];

function tensorData(dtype: DType, bytes: Uint8Array): TensorData {
  const Ctor = DTYPES[dtype].array;
  return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / DTYPES[dtype].size) as TensorData;
}

function buildVectors() {
  const vectors = CASES.map((c) => {
    const n = c.shape.reduce((a, b) => a * b, 1) * DTYPES[c.dtype].size;
    const encoded = encodeTensor({ dtype: c.dtype, shape: c.shape, data: tensorData(c.dtype, randomBytes(c.seed, n)) });
    const h = decodeHeader(encoded);
    const leaves = chunkLeaves(encoded.subarray(h.headerBytes));
    const index = leaves.length - 1;
    return {
      name: c.name,
      dtype: c.dtype,
      shape: c.shape,
      headerBytes: h.headerBytes,
      encoded: bytesToHex(encoded),
      leaves: leaves.map(bytesToHex),
      dataRoot: bytesToHex(merkleRoot(leaves)),
      hash: hashEncoded(encoded) as string,
      proof: { index, path: merklePath(leaves, index).map(bytesToHex) },
    };
  });
  const malformed = MALFORMED.map((m) => {
    let formatCode = 0;
    try {
      decodeHeader(m.encoded);
    } catch (e) {
      if (!isError(e, "TENSOR_MALFORMED")) throw e;
      formatCode = e.details.formatCode as number;
    }
    return { name: m.name, encoded: bytesToHex(m.encoded), formatCode };
  });
  return { description: "Canonical tensor encoding vectors (protocol/tensor.ts == TensorHash.sol). Data bytes from mulberry32(seed).", vectors, malformed };
}

describe("TensorHash golden vectors", () => {
  let harness: any;
  const computed = buildVectors();
  beforeAll(async () => {
    const { ethers } = await network.create();
    harness = await ethers.deployContract("TensorHashHarness", []);
    if (process.env.UPDATE_GOLDEN === "1" || !existsSync(GOLDEN)) writeFileSync(GOLDEN, JSON.stringify(computed, null, 2) + "\n");
  });

  it("test_goldenFile_matchesTypeScript", () => {
    const file = JSON.parse(readFileSync(GOLDEN, "utf8"));
    expect(file).toEqual(computed);
  });

  it("test_hash_goldenVectors_matchSolidity", async () => {
    const file = JSON.parse(readFileSync(GOLDEN, "utf8"));
    for (const v of file.vectors) {
      expect(await harness.check(v.encoded), v.name).toBe(0n);
      expect(await harness.hash(v.encoded), v.name).toBe(v.hash);
      const [code, h] = await harness.tryHash(v.encoded);
      expect([code, h], v.name).toEqual([0n, v.hash]);
      expect(await harness.dataRoot(v.encoded, v.headerBytes), v.name).toBe(v.dataRoot);
      expect(await harness.merkleRoot(v.leaves), v.name).toBe(v.dataRoot);
      expect(await harness.rootFromPath(v.leaves[v.proof.index], v.proof.index, v.proof.path), v.name).toBe(v.dataRoot);
    }
    // The chunk boundaries really are where the names say.
    const byName = Object.fromEntries(file.vectors.map((v: any) => [v.name, v.leaves.length]));
    expect(byName).toMatchObject({ "empty-rank1-float32": 1, "exactly-1024-bytes-float32": 1, "1025-bytes-int8": 2, "three-chunks-int64": 3, "five-chunks-float32": 5 });
  });

  it("test_merkleRoot_leafCounts_matchTypeScript", async () => {
    expect(await harness.merkleRoot([])).toBe(bytesToHex(Buffer.alloc(32)));
    for (let n = 1; n <= 9; n++) {
      const leaves = Array.from({ length: n }, (_, i) => sha256(Buffer.from([n, i])));
      const root = bytesToHex(merkleRoot(leaves));
      expect(await harness.merkleRoot(leaves.map(bytesToHex)), `n=${n}`).toBe(root);
      for (const i of [0, n - 1]) {
        const path = merklePath(leaves, i);
        expect(bytesToHex(rootFromPath(leaves[i]!, i, path))).toBe(root);
        expect(await harness.rootFromPath(bytesToHex(leaves[i]!), i, path.map(bytesToHex)), `n=${n} i=${i}`).toBe(root);
      }
    }
  });

  it("test_check_malformed_sameCodeBothSides", async () => {
    const file = JSON.parse(readFileSync(GOLDEN, "utf8"));
    const seen = new Set<number>();
    for (const m of file.malformed) {
      expect(m.formatCode, m.name).toBeGreaterThan(0);
      seen.add(m.formatCode);
      expect(await harness.check(m.encoded), m.name).toBe(BigInt(m.formatCode));
      const [code] = await harness.tryHash(m.encoded);
      expect(code, m.name).toBe(BigInt(m.formatCode));
      await expectRevert(harness.hash(m.encoded), harnessWithTensorError(), "TensorMalformed", [m.formatCode]);
    }
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  function harnessWithTensorError() {
    // TensorMalformed lives in the library; decode it with a one-error interface.
    return { interface: new Interface(["error TensorMalformed(uint256 code)"]) } as any;
  }
});
