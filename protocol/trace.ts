/**
 * Trace commitments for the OPTIMISTIC tier (docs/OPTIMISTIC.md).
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
import { BaseError } from "./errors.js";
import { fromHex, toHex } from "./merkle.js";
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
    if (bytes.byteLength !== TRACE_HASH_BYTES) throw new BaseError("TENSOR_MALFORMED", `trace hash ${i} is not 32 bytes`);
    data.set(bytes, i * TRACE_HASH_BYTES);
  });
  return { dtype: "uint8", shape: [hashes.length, TRACE_HASH_BYTES], data };
}

/** The tensor hashes a manifest lists (throws TENSOR_MALFORMED for anything but uint8 [n, 32]). */
export function manifestHashes(manifest: Tensor): TensorHash[] {
  if (manifest.dtype !== "uint8" || manifest.shape.length !== 2 || manifest.shape[1] !== TRACE_HASH_BYTES) {
    throw new BaseError("TENSOR_MALFORMED", `a trace manifest is uint8 [n, 32], got ${manifest.dtype} [${manifest.shape}]`);
  }
  const data = manifest.data as Uint8Array;
  const hashes: TensorHash[] = [];
  for (let i = 0; i < manifest.shape[0]!; i++) hashes.push(toHex(data.subarray(i * TRACE_HASH_BYTES, (i + 1) * TRACE_HASH_BYTES)) as TensorHash);
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

/**
 * Checkpoint traces (`trace: "checkpoint"`, docs/OPTIMISTIC.md). The manifest keeps one row per
 * trace tensor, so the root format and every index stay those of the full trace, but only the
 * checkpointed tensors are committed: the row of an uncommitted tensor is 32 zero bytes. No tensor
 * hash is zero (it is a sha256 output), so a zero row is an unambiguous "not committed" flag.
 */
export const UNCOMMITTED_HASH = `0x${"00".repeat(TRACE_HASH_BYTES)}` as TensorHash;

export interface CheckpointPolicy {
  /** Commit every k-th trace tensor (indices k-1, 2k-1, ...); 0: none by position. */
  every: number;
  /** Also commit the trace tensors with these names (operator output names of the model). */
  names?: readonly string[];
}

/**
 * The trace indices a checkpoint policy commits, ascending: every k-th, the named ones, and always
 * the last (the model's output, which the result's outputHash also binds).
 */
export function checkpointIndices(traceNames: readonly string[], policy: CheckpointPolicy): number[] {
  const n = traceNames.length;
  if (n === 0) return [];
  if (!Number.isInteger(policy.every) || policy.every < 0) throw new RangeError(`checkpoint every must be a non-negative integer, got ${policy.every}`);
  const named = new Set(policy.names ?? []);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i === n - 1 || (policy.every > 0 && (i + 1) % policy.every === 0) || named.has(traceNames[i]!)) out.push(i);
  }
  return out;
}

/** Indices of the committed rows of a manifest's hashes (the non-zero ones). */
export function committedIndices(hashes: readonly Hex[]): number[] {
  const out: number[] = [];
  hashes.forEach((h, i) => {
    if (h.toLowerCase() !== UNCOMMITTED_HASH) out.push(i);
  });
  return out;
}

/**
 * Commits to the trace tensors at `indices` (ascending, `tensors[j]` is trace tensor `indices[j]`)
 * out of `n`: the other rows are UNCOMMITTED_HASH. With every index it equals commitTrace.
 */
export function commitCheckpoints(n: number, indices: readonly number[], tensors: readonly Tensor[]): TraceCommitment {
  if (indices.length !== tensors.length) throw new RangeError(`${indices.length} checkpoint indices for ${tensors.length} tensors`);
  const hashes = new Array<TensorHash>(n).fill(UNCOMMITTED_HASH);
  indices.forEach((index, j) => {
    if (!Number.isInteger(index) || index < 0 || index >= n) throw new RangeError(`checkpoint index ${index} outside 0..${n - 1}`);
    hashes[index] = hashTensor(tensors[j]!);
  });
  const manifest = traceManifest(hashes);
  return { hashes, manifest, traceRoot: hashTensor(manifest) };
}
