/**
 * The v1 trace manifest (a result's trace root in result format v1; v2 results sign none). Kept
 * for the reference checker's tests (test/challenger/checker.test.ts, test/protocol/commitment.test.ts:
 * the tolerance-drift analysis checks whole traces of reference operators); the FraudGame's trace trees are
 * canonical/trace.ts.
 *
 * A trace is the list of every operator output of the model, in the model commitment's operator
 * table order (protocol/commitment.ts), so its last tensor is the model's output. The worker
 * commits to it with the **trace manifest**: a canonical uint8 tensor of shape [n, 32] whose row i
 * is the tensor hash of trace tensor i, and
 *
 *   traceRoot = tensorHash(manifest)
 *             = sha256(0x02 || header(uint8, [n, 32]) || merkleRoot(1 KiB chunks of the n hashes))
 *
 * This is a Merkle root over the tensor hashes (32 per 1 KiB leaf), so hash i is provable on-chain
 * with one chunk and a path, using the same TensorHash library as any tensor element; and because
 * the root *is* a tensor hash, a challenger that only knows the signed traceRoot fetches the
 * manifest from the blob store as `GET /blobs/<traceRoot>`, then each tensor by its hash.
 */
import { OracleError } from "./errors.js";
import { fromHex, bytesToHex } from "./merkle.js";
import { hashTensor, type Tensor } from "./tensor.js";
import type { Hex, TensorHash } from "./types.js";

export const TRACE_HASH_BYTES = 32;

export interface TraceCommitment {
  /** Tensor hash of every trace tensor, in order. */
  hashes: TensorHash[];
  /** uint8 [n, 32]: the hashes, row by row. */
  manifest: Tensor;
  /** tensorHash(manifest): what the worker signs. */
  traceRoot: Hex;
}

/** The manifest tensor listing `hashes` in order. */
export function traceManifest(hashes: readonly Hex[]): Tensor {
  const data = new Uint8Array(hashes.length * TRACE_HASH_BYTES);
  hashes.forEach((h, i) => {
    const bytes = fromHex(h);
    if (bytes.byteLength !== TRACE_HASH_BYTES) throw new OracleError("TENSOR_MALFORMED", `trace hash ${i} is not 32 bytes`);
    data.set(bytes, i * TRACE_HASH_BYTES);
  });
  return { dtype: "uint8", shape: [hashes.length, TRACE_HASH_BYTES], data };
}

/** The tensor hashes a manifest lists (throws TENSOR_MALFORMED for anything but uint8 [n, 32]). */
export function manifestHashes(manifest: Tensor): TensorHash[] {
  if (manifest.dtype !== "uint8" || manifest.shape.length !== 2 || manifest.shape[1] !== TRACE_HASH_BYTES) {
    throw new OracleError("TENSOR_MALFORMED", `a trace manifest is uint8 [n, 32], got ${manifest.dtype} [${manifest.shape}]`);
  }
  const data = manifest.data as Uint8Array;
  const hashes: TensorHash[] = [];
  for (let i = 0; i < manifest.shape[0]!; i++) hashes.push(bytesToHex(data.subarray(i * TRACE_HASH_BYTES, (i + 1) * TRACE_HASH_BYTES)) as TensorHash);
  return hashes;
}

export function traceRootOf(hashes: readonly Hex[]): Hex {
  return hashTensor(traceManifest(hashes));
}

/** Hashes every trace tensor and builds the manifest and root. */
export function commitTrace(tensors: readonly Tensor[]): TraceCommitment {
  const hashes = tensors.map(hashTensor);
  const manifest = traceManifest(hashes);
  return { hashes, manifest, traceRoot: hashTensor(manifest) };
}
