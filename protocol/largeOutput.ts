/**
 * Large outputs (issue 18; docs/PROTOCOL.md "Large outputs"): an output longer than the request's
 * `maxInlineOutput` reaches the dApp as its hash only, and its bytes live in a content-addressed blob
 * store. A delivery of such an output carries its size proof instead of the bytes:
 *
 *   sizeProof = "VIOH" || header || dataRoot        (tensor hash = sha256(0x02 || header || dataRoot))
 *
 * The oracle (OracleRequests.sizeProofError) checks that it hashes to the signed outputHash and that
 * the header declares an encoding longer than the request's maxInlineOutput, so nobody can deliver a
 * small output as hash only. A bundle (several named outputs) has no size proof: above the threshold
 * it is delivered as hash only only after OUTPUT_GRACE (OPTIMISTIC), never in a NONE/ZK submission.
 */
import { BaseError } from "./errors.js";
import { fromHex, sha256, toHex } from "./merkle.js";
import { DTYPES, dtypeFromCode, HEADER_FIXED_BYTES, MAX_RANK, tensorHashParts } from "./tensor.js";
import { isTensorBundle } from "./bundle.js";
import type { Hex, TensorHash } from "./types.js";

export const SIZE_PROOF_MAGIC = Buffer.from("VIOH", "ascii");

/** Whether `output` (bytes or 0x-hex) is a size proof rather than an encoding. */
export function isSizeProof(output: Uint8Array | string): boolean {
  const b = typeof output === "string" ? fromHex(output.slice(0, 10)) : output.subarray(0, 4);
  return b.byteLength >= 4 && Buffer.from(b.subarray(0, 4)).equals(SIZE_PROOF_MAGIC);
}

/** The size proof of a canonical tensor encoding. A bundle has none (TENSOR_MALFORMED). */
export function sizeProof(encoded: Uint8Array): Hex {
  if (isTensorBundle(encoded)) throw new BaseError("TENSOR_MALFORMED", "a bundle of several outputs has no size proof: deliver it inline or after OUTPUT_GRACE");
  const { header, dataRoot } = tensorHashParts(encoded);
  return toHex(Buffer.concat([SIZE_PROOF_MAGIC, fromHex(header), fromHex(dataRoot)]));
}

/** What a size proof declares: the tensor hash it opens and the encoding's length. Throws TENSOR_MALFORMED. */
export function readSizeProof(proof: Uint8Array | string): { outputHash: TensorHash; encodedBytes: number; dtype: string; shape: number[] } {
  const b = Buffer.from(typeof proof === "string" ? fromHex(proof) : proof);
  const rank = b[10] ?? 0;
  if (!isSizeProof(b) || rank > MAX_RANK || b.byteLength !== 4 + HEADER_FIXED_BYTES + 4 * rank + 32) {
    throw new BaseError("TENSOR_MALFORMED", `not a size proof ("VIOH" || header || dataRoot): ${b.byteLength} bytes`);
  }
  const header = b.subarray(4, b.byteLength - 32);
  const dtype = dtypeFromCode(header[5]!);
  if (dtype === undefined || header[4] !== 1 || header[7] !== 0 || !header.subarray(0, 4).equals(Buffer.from("VIOT"))) {
    throw new BaseError("TENSOR_MALFORMED", "the size proof's header is not a canonical tensor header");
  }
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    shape.push(header.readUInt32BE(HEADER_FIXED_BYTES + 4 * i));
    count *= shape[i]!;
  }
  const outputHash = toHex(sha256(Buffer.from([2]), header, b.subarray(b.byteLength - 32))) as TensorHash;
  return { outputHash, encodedBytes: header.byteLength + count * DTYPES[dtype].size, dtype, shape };
}

/**
 * The `output` field of a delivery (a NONE/ZK submission or a settlement with a callback) of `encoded` to a
 * request that takes at most `maxInline` bytes inline: the bytes themselves, or their size proof (hash
 * only). A bundle above the threshold has no delivery form: "0x".
 */
export function deliveryForm(encoded: Uint8Array, maxInline: number): Hex {
  if (encoded.byteLength <= maxInline) return toHex(encoded);
  return isTensorBundle(encoded) ? "0x" : sizeProof(encoded);
}

/**
 * Where an output's bytes are: content addressing makes the URI a function of the hash, so no event
 * carries it: `<relayer>/blobs/<outputHash>` on any relayer (or mirror) that holds it.
 */
export function outputUri(baseUrl: string, outputHash: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/blobs/${outputHash.toLowerCase()}`;
}
