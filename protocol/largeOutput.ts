/**
 * Large outputs (docs/PROTOCOL.md "Large outputs"): an output longer than the request's
 * `maxInlineOutput` reaches the dApp as its hash only, and its bytes live in a content-addressed blob
 * store. A delivery of such an output carries its size proof instead of the bytes:
 *
 *   sizeProof = "VIOH" || header || dataRoot        (tensor hash = sha256(0x02 || header || dataRoot))
 *
 * The oracle (OracleRequests.sizeProofError) checks that it hashes to the signed outputHash and that
 * the header declares an encoding longer than the request's maxInlineOutput, so nobody can deliver a
 * small output as hash only. A bundle (several named outputs) has one too: each entry's tensor replaced
 * by its header || dataRoot.
 */
import { OracleError } from "./errors.js";
import { fromHex, sha256, bytesToHex } from "./merkle.js";
import { DTYPES, dtypeFromCode, HEADER_FIXED_BYTES, MAX_RANK, tensorHashParts } from "./tensor.js";
import { BUNDLE_HEADER_BYTES, bundleEntries, bundleHashOf, isTensorBundle } from "./bundle.js";
import type { Hex, TensorHash } from "./types.js";

export const SIZE_PROOF_MAGIC = Buffer.from("VIOH", "ascii");

/** Whether `output` (bytes or 0x-hex) is a size proof rather than an encoding. */
export function isSizeProof(output: Uint8Array | string): boolean {
  const b = typeof output === "string" ? fromHex(output.slice(0, 10)) : output.subarray(0, 4);
  return b.byteLength >= 4 && Buffer.from(b.subarray(0, 4)).equals(SIZE_PROOF_MAGIC);
}

/**
 * The size proof of a canonical encoding: for a tensor "VIOH" || header || dataRoot; for a bundle
 * "VIOH" || the bundle with each entry's tensor replaced by its header || dataRoot (same names, order
 * and framing), which the oracle hashes to the bundle hash (OracleRequests.sizeProofError).
 */
export function sizeProof(encoded: Uint8Array): Hex {
  return bytesToHex(Buffer.concat([SIZE_PROOF_MAGIC, proofBody(encoded)]));
}

function proofBody(encoded: Uint8Array): Buffer {
  if (!isTensorBundle(encoded)) {
    const { header, dataRoot } = tensorHashParts(encoded);
    return Buffer.concat([fromHex(header), fromHex(dataRoot)]);
  }
  const entries = bundleEntries(encoded);
  const parts: Buffer[] = [Buffer.from(encoded.subarray(0, BUNDLE_HEADER_BYTES))];
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const body = proofBody(e.encoded);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.byteLength);
    parts.push(Buffer.from([name.byteLength]), name, len, body);
  }
  return Buffer.concat(parts);
}

/** What a tensor proof body (header || dataRoot) declares. Throws TENSOR_MALFORMED. */
function readTensorProof(b: Buffer): { hash: TensorHash; encodedBytes: number; dtype: string; shape: number[] } {
  const rank = b[6] ?? 0;
  if (rank > MAX_RANK || b.byteLength !== HEADER_FIXED_BYTES + 4 * rank + 32) {
    throw new OracleError("TENSOR_MALFORMED", `not a size proof ("VIOH" || header || dataRoot): ${b.byteLength + 4} bytes`);
  }
  const header = b.subarray(0, b.byteLength - 32);
  const dtype = dtypeFromCode(header[5]!);
  if (dtype === undefined || header[4] !== 1 || header[7] !== 0 || !header.subarray(0, 4).equals(Buffer.from("VIOT"))) {
    throw new OracleError("TENSOR_MALFORMED", "the size proof's header is not a canonical tensor header");
  }
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    shape.push(header.readUInt32BE(HEADER_FIXED_BYTES + 4 * i));
    count *= shape[i]!;
  }
  const hash = bytesToHex(sha256(Buffer.from([2]), header, b.subarray(b.byteLength - 32))) as TensorHash;
  return { hash, encodedBytes: header.byteLength + count * DTYPES[dtype].size, dtype, shape };
}

/**
 * What a size proof declares: the hash it opens and the length of the encoding it stands for (a tensor's
 * dtype and shape; a bundle's entries by name). Throws TENSOR_MALFORMED.
 */
export function readSizeProof(proof: Uint8Array | string): { outputHash: TensorHash; encodedBytes: number; dtype?: string; shape?: number[]; entries?: { name: string; dtype: string; shape: number[] }[] } {
  const b = Buffer.from(typeof proof === "string" ? fromHex(proof) : proof);
  if (!isSizeProof(b)) throw new OracleError("TENSOR_MALFORMED", "not a size proof (no VIOH magic)");
  const body = b.subarray(4);
  if (!isTensorBundle(body)) {
    const t = readTensorProof(body);
    return { outputHash: t.hash, encodedBytes: t.encodedBytes, dtype: t.dtype, shape: t.shape };
  }
  const n = body[5] ?? 0;
  const entries: { name: string; hash: Hex; dtype: string; shape: number[] }[] = [];
  let at = BUNDLE_HEADER_BYTES;
  let size = BUNDLE_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const l = body[at];
    if (l === undefined || l === 0 || at + 1 + l + 4 > body.byteLength) throw new OracleError("TENSOR_MALFORMED", "bundle size proof: a truncated entry");
    const name = body.subarray(at + 1, at + 1 + l).toString("utf8");
    const len = body.readUInt32BE(at + 1 + l);
    const next = at + 1 + l + 4 + len;
    if (next > body.byteLength) throw new OracleError("TENSOR_MALFORMED", "bundle size proof: a truncated entry");
    const t = readTensorProof(body.subarray(at + 1 + l + 4, next));
    entries.push({ name, hash: t.hash, dtype: t.dtype, shape: t.shape });
    size += 1 + l + 4 + t.encodedBytes;
    at = next;
  }
  if (n < 2 || at !== body.byteLength) throw new OracleError("TENSOR_MALFORMED", "bundle size proof: bad count or trailing bytes");
  return { outputHash: bundleHashOf(entries), encodedBytes: size, entries: entries.map(({ name, dtype, shape }) => ({ name, dtype, shape })) };
}

/**
 * The `output` field of a delivery (a NONE/ZK submission or a settlement with a callback) of `encoded` to a
 * request that takes at most `maxInline` bytes inline: the bytes themselves, or their size proof (hash
 * only). A bundle above the threshold has no delivery form: "0x".
 */
export function deliveryForm(encoded: Uint8Array, maxInline: number): Hex {
  return encoded.byteLength <= maxInline ? bytesToHex(encoded) : sizeProof(encoded);
}
