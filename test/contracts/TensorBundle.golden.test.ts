/**
 * Golden vectors for tensor bundles (several named tensors as one encoding and one hash): computed by
 * protocol/bundle.ts, pinned in golden/bundle-vectors.json, recomputed here from the definition in
 * docs/PROTOCOL.md, and checked against TensorHash.tryHash (the oracle's hash of an inline input or
 * output) through TensorHashHarness. Regenerate with UPDATE_GOLDEN=1 (only when the encoding changes on purpose).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  encodeTensor,
  hashEncoded,
  type Tensor,
  bundleEntries,
  encodeBundle,
  hashBundleEncoded,
  isError,
  sha256,
  bytesToHex,
  seededRandom,
} from "../../protocol/index.js";

const GOLDEN = fileURLToPath(new URL("./golden/bundle-vectors.json", import.meta.url));
const TENSOR_GOLDEN = fileURLToPath(new URL("./golden/tensor-vectors.json", import.meta.url));

function floats(seed: number, n: number): Float32Array {
  const next = seededRandom(seed);
  return Float32Array.from({ length: n }, () => Math.fround(next() * 2 - 1));
}

const CASES: { name: string; tensors: Record<string, Tensor> }[] = [
  {
    name: "two-float32",
    tensors: { x: { dtype: "float32", shape: [1, 4], data: floats(1, 4) }, h: { dtype: "float32", shape: [1, 1, 8], data: floats(2, 8) } },
  },
  {
    // The stateful VAD model's input: audio frame, recurrent state, int64 sample-rate scalar.
    name: "audio-state-sr",
    tensors: {
      input: { dtype: "float32", shape: [1, 64], data: floats(3, 64) },
      state: { dtype: "float32", shape: [1, 1, 8], data: floats(4, 8) },
      sr: { dtype: "int64", shape: [], data: BigInt64Array.of(16000n) },
    },
  },
  {
    name: "input_ids-attention_mask-int64",
    tensors: {
      input_ids: { dtype: "int64", shape: [1, 5], data: BigInt64Array.of(101n, 7592n, 2088n, 999n, 102n) },
      attention_mask: { dtype: "int64", shape: [1, 5], data: BigInt64Array.of(1n, 1n, 1n, 1n, 0n) },
    },
  },
  {
    // One entry spans three 1024-byte chunks; names that share a prefix ("a" < "ab") and a bool.
    name: "multi-chunk-prefix-names",
    tensors: {
      ab: { dtype: "float32", shape: [600], data: floats(5, 600) },
      a: { dtype: "bool", shape: [3], data: Uint8Array.of(1, 0, 1) },
    },
  },
  {
    name: "utf8-names",
    tensors: { "é": { dtype: "int8", shape: [2], data: Int8Array.of(-1, 1) }, z: { dtype: "uint8", shape: [1], data: Uint8Array.of(9) } },
  },
];

const B = [0x56, 0x49, 0x4f, 0x42]; // "VIOB"
const t1 = encodeTensor({ dtype: "int8", shape: [1], data: Int8Array.of(5) });
function entry(name: string, t: Buffer, len = t.byteLength): Buffer {
  const n = Buffer.from(name, "utf8");
  const l = Buffer.alloc(4);
  l.writeUInt32BE(len);
  return Buffer.concat([Buffer.from([n.byteLength]), n, l, t]);
}
const MALFORMED: { name: string; encoded: Buffer }[] = [
  { name: "three-bytes", encoded: Buffer.from(B.slice(0, 3)) },
  { name: "header-only-seven", encoded: Buffer.from([...B, 1, 2, 0]) },
  { name: "count-0", encoded: Buffer.from([...B, 1, 0, 0, 0]) },
  { name: "count-1", encoded: Buffer.concat([Buffer.from([...B, 1, 1, 0, 0]), entry("x", t1)]) },
  { name: "bad-version", encoded: Buffer.concat([Buffer.from([...B, 2, 2, 0, 0]), entry("a", t1), entry("b", t1)]) },
  { name: "reserved-nonzero", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 1]), entry("a", t1), entry("b", t1)]) },
  { name: "empty-name", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("", t1), entry("b", t1)]) },
  { name: "names-descending", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("b", t1), entry("a", t1)]) },
  { name: "names-duplicate", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("a", t1), entry("a", t1)]) },
  { name: "missing-entry", encoded: Buffer.concat([Buffer.from([...B, 1, 3, 0, 0]), entry("a", t1), entry("b", t1)]) },
  { name: "entry-past-end", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("a", t1), entry("b", t1, t1.byteLength + 1)]) },
  { name: "trailing-byte", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("a", t1), entry("b", t1), Buffer.from([0])]) },
  { name: "entry-not-a-tensor", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("a", t1), entry("b", Buffer.from("VIOX0000"))]) },
  { name: "entry-bad-length", encoded: Buffer.concat([Buffer.from([...B, 1, 2, 0, 0]), entry("a", t1), entry("b", Buffer.concat([t1, Buffer.from([0])]))]) },
];

/** The bundle hash straight from its definition (docs/PROTOCOL.md), not through protocol/bundle.ts. */
function definitionHash(tensors: Record<string, Tensor>): string {
  const names = Object.keys(tensors).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const parts: Buffer[] = [Buffer.from([3, names.length])];
  for (const n of names) parts.push(Buffer.from([Buffer.byteLength(n)]), Buffer.from(n), Buffer.from(hashEncoded(encodeTensor(tensors[n]!)).slice(2), "hex"));
  return bytesToHex(sha256(...parts));
}

function buildVectors() {
  const vectors = CASES.map((c) => {
    const encoded = encodeBundle(c.tensors);
    return { name: c.name, names: bundleEntries(encoded).map((e) => e.name), encoded: bytesToHex(encoded), hash: hashBundleEncoded(encoded) as string };
  });
  const malformed = MALFORMED.map((m) => {
    let formatCode = 0;
    try {
      hashBundleEncoded(m.encoded);
    } catch (e) {
      if (!isError(e, "TENSOR_MALFORMED")) throw e;
      formatCode = e.details.formatCode as number;
    }
    return { name: m.name, encoded: bytesToHex(m.encoded), formatCode };
  });
  return { description: "Tensor bundle vectors (protocol/bundle.ts == TensorHash.tryHash). Float data from mulberry32(seed).", vectors, malformed };
}

describe("Tensor bundle golden vectors", () => {
  let harness: any;
  const computed = buildVectors();
  beforeAll(async () => {
    const { ethers } = await network.create();
    harness = await ethers.deployContract("TensorHashHarness", []);
    if (process.env.UPDATE_GOLDEN === "1" || !existsSync(GOLDEN)) writeFileSync(GOLDEN, JSON.stringify(computed, null, 2) + "\n");
  });

  it("test_goldenFile_matchesTypeScriptAndDefinition", () => {
    const file = JSON.parse(readFileSync(GOLDEN, "utf8"));
    expect(file).toEqual(computed);
    CASES.forEach((c, i) => expect(file.vectors[i].hash, c.name).toBe(definitionHash(c.tensors)));
    // Names in ascending byte order: "a" before "ab", "z" (0x7a) before "é" (0xc3 0xa9).
    expect(file.vectors.map((v: { names: string[] }) => v.names)).toEqual([["h", "x"], ["input", "sr", "state"], ["attention_mask", "input_ids"], ["a", "ab"], ["z", "é"]]);
  });

  it("test_bundleHash_goldenVectors_matchSolidity", async () => {
    const file = JSON.parse(readFileSync(GOLDEN, "utf8"));
    for (const v of file.vectors) {
      const [code, h] = await harness.tryHash(v.encoded);
      expect([code, h], v.name).toEqual([0n, v.hash]);
    }
  });

  it("test_singleTensor_encodingAndHashUnchanged_bothSides", async () => {
    // A single-tensor model's input and output stay exactly today's: the bundle of one IS the tensor.
    const tensors = JSON.parse(readFileSync(TENSOR_GOLDEN, "utf8"));
    for (const v of tensors.vectors) {
      const bytes = Buffer.from(v.encoded.slice(2), "hex");
      expect(hashBundleEncoded(bytes), v.name).toBe(v.hash);
      const [code, h] = await harness.tryHash(v.encoded);
      expect([code, h], v.name).toEqual([0n, v.hash]);
    }
    const t: Tensor = { dtype: "float32", shape: [1, 2], data: floats(9, 2) };
    expect(encodeBundle({ anyName: t }).equals(encodeTensor(t))).toBe(true);
  });

  it("test_tryHash_malformedBundles_sameCodeBothSides", async () => {
    const file = JSON.parse(readFileSync(GOLDEN, "utf8"));
    const seen = new Set<number>();
    for (const m of file.malformed) {
      expect(m.formatCode, m.name).toBeGreaterThan(0);
      seen.add(m.formatCode);
      const [code, h] = await harness.tryHash(m.encoded);
      expect([code, h], m.name).toEqual([BigInt(m.formatCode), bytesToHex(Buffer.alloc(32))]);
    }
    // too short, a bad entry's own codes (magic, length), and the three bundle codes.
    expect([...seen].sort()).toEqual([1, 2, 6, 7, 8, 9]);
  });
});
