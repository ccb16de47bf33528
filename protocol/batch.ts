/**
 * Result batches (docs/PROTOCOL.md, "Result batches"; docs/V2.md §3). Two Merkle trees, both sorted-pair
 * keccak with an odd node moving up (OpenZeppelin MerkleProof-compatible):
 *
 * - the **signed** tree: a worker signs one `ResultBatch(resultsRoot, payee)` (protocol/eip712.ts) over the
 *   root of `keccak256(abi.encode(RESULT_LEAF_TAG, requestId, outputHash))` leaves in batch order
 *   (`batchItemLeaf`, `resultsRoot`, `signResultBatch`, `recoverResultBatchSigner`);
 * - the **accepted** tree: the oracle commits each submitted batch's accepted OPTIMISTIC items as ONE
 *   Merkle root of `keccak256(abi.encode(ACCEPTED_LEAF_TAG, requestId, attempt, worker, relayer,
 *   outputHash))` leaves (`resultLeaf`), and settle / challenge name a result by its record plus the
 *   Merkle proof of its leaf. Skipped items are no accepted leaves.
 *
 * This module is the TypeScript twin of contracts/libraries/BatchMerkle.sol and RequestBook's leaves, and
 * rebuilds an accepted batch, and so any of its proofs, from nothing but the submitting transaction's
 * ResultBatchSubmitted log (stateless: no proof needs storing). The wire forms (packed items in, records
 * out) are protocol/batch-wire.ts.
 */
import { AbiCoder, keccak256, toUtf8Bytes, type Signer, type TypedDataDomain } from "ethers";
import { recoverBatchSigner, signBatch } from "./eip712.js";
import { OracleError } from "./errors.js";
import { batchesOfLogs, type LogLike } from "./batch-wire.js";
import type { Hex, RequestId } from "./types.js";

/** keccak256("VerifiableInferenceOracle.ResultLeaf.v2"): domain tag of a signed batch item's leaf. */
export const RESULT_LEAF_TAG = keccak256(toUtf8Bytes("VerifiableInferenceOracle.ResultLeaf.v2")) as Hex;
/** keccak256("VerifiableInferenceOracle.AcceptedResult.v2"): domain tag of an accepted result's leaf. */
export const ACCEPTED_LEAF_TAG = keccak256(toUtf8Bytes("VerifiableInferenceOracle.AcceptedResult.v2")) as Hex;

/** Mirrors IInferenceOracle.ResultRecord: `worker` is the operator, `relayer` the payee the worker signed. */
export interface ResultRecord {
  worker: string;
  relayer: string;
  outputHash: string;
}

/** What a worker signs per result: the request and the output hash (the requestId binds model and input). */
export interface BatchEntry {
  requestId: string;
  outputHash: string;
}

/** A worker-signed batch (IInferenceOracle.ResultBatch without the items' output and proof bytes). */
export interface SignedBatch {
  payee: string;
  signature: Hex;
  /** The signed entries, in the signed order. */
  entries: BatchEntry[];
  resultsRoot: Hex;
}

/** One leaf of a committed batch, as rebuilt from the logs. */
export interface BatchItem {
  requestId: RequestId;
  /** The request's count of overturned results when this one was accepted (bound into the leaf). */
  attempt: number;
  record: ResultRecord;
  leaf: Hex;
}

export interface CommittedBatch {
  root: Hex;
  items: BatchItem[];
}

/** What settle / challenge need to name a result: its record and the proof of its leaf. */
export interface ResultProof {
  requestId: RequestId;
  attempt: number;
  record: ResultRecord;
  leaf: Hex;
  root: Hex;
  proof: Hex[];
}

const coder = AbiCoder.defaultAbiCoder();

/** keccak256(abi.encode(RESULT_LEAF_TAG, requestId, outputHash)): a signed item's leaf (RequestBook.resultLeaf). */
export function batchItemLeaf(requestId: string, outputHash: string): Hex {
  // abi.encode of three bytes32 is their 96 bytes in a row: written directly (issue 15: ~4x less CPU than
  // the ABI coder, once per result on the worker's JS thread). Anything but two 0x-hex words goes through
  // the coder, which throws its usual error.
  if (!BYTES32.test(requestId) || !BYTES32.test(outputHash)) {
    return keccak256(coder.encode(["bytes32", "bytes32", "bytes32"], [RESULT_LEAF_TAG, requestId, outputHash])) as Hex;
  }
  const words = Buffer.allocUnsafe(96);
  RESULT_TAG_BYTES.copy(words, 0);
  words.write(requestId.slice(2), 32, "hex");
  words.write(outputHash.slice(2), 64, "hex");
  return keccak256(words) as Hex;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const RESULT_TAG_BYTES = Buffer.from(RESULT_LEAF_TAG.slice(2), "hex");

/** The root a worker signs over `entries` in this order (every item, valid or not, as the oracle rebuilds it). */
export function resultsRoot(entries: readonly BatchEntry[]): Hex {
  return batchRoot(entries.map((e) => batchItemLeaf(e.requestId, e.outputHash)));
}

/** Signs `entries` as one ResultBatch: the relayer share of every fee in it goes to `payee`. */
export async function signResultBatch(signer: Signer, domain: TypedDataDomain, entries: readonly BatchEntry[], payee: string): Promise<SignedBatch> {
  const root = resultsRoot(entries);
  const signature = await signBatch(signer, domain, { resultsRoot: root, payee });
  return { payee, signature, entries: [...entries], resultsRoot: root };
}

/** The address that signed `batch` (its root rebuilt from its entries); throws SIGNATURE_INVALID. */
export function recoverResultBatchSigner(domain: TypedDataDomain, batch: { payee: string; signature: string; entries: readonly BatchEntry[] }): string {
  return recoverBatchSigner(domain, { resultsRoot: resultsRoot(batch.entries), payee: batch.payee }, batch.signature);
}

/** keccak256(abi.encode(ACCEPTED_LEAF_TAG, requestId, attempt, worker, relayer, outputHash)): an accepted
 * OPTIMISTIC result's leaf (RequestBook.leaf, the oracle's `resultLeaf`). */
export function resultLeaf(requestId: string, attempt: number, record: ResultRecord): Hex {
  return keccak256(
    coder.encode(
      ["bytes32", "bytes32", "uint8", "address", "address", "bytes32"],
      [ACCEPTED_LEAF_TAG, requestId, attempt, record.worker, record.relayer, record.outputHash],
    ),
  ) as Hex;
}

/** keccak256(min(a, b) || max(a, b)), the commutative node hash (BatchMerkle.hashPair). */
export function hashPair(a: string, b: string): Hex {
  if (BYTES32.test(a) && BYTES32.test(b)) {
    // Equal-length lower-case hex compares as its number does: no BigInt.
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    const pair = Buffer.allocUnsafe(64);
    pair.write((x < y ? x : y).slice(2), 0, "hex");
    pair.write((x < y ? y : x).slice(2), 32, "hex");
    return keccak256(pair) as Hex;
  }
  const [lo, hi] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return keccak256(`0x${lo.slice(2)}${hi.slice(2)}`) as Hex;
}

/** The next level up: pairs hashed, an odd last node moved up unchanged. */
function nextLevel(level: Hex[]): Hex[] {
  const next: Hex[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i]!, level[i + 1]!));
  if (level.length % 2 === 1) next.push(level[level.length - 1]!);
  return next;
}

/** The root of `leaves` as the oracle computes it (a batch of one has root = leaf). */
export function batchRoot(leaves: readonly Hex[]): Hex {
  if (leaves.length === 0) throw new OracleError("BATCH_PROOF_UNAVAILABLE", "a batch has at least one leaf");
  let level = [...leaves];
  while (level.length > 1) level = nextLevel(level);
  return level[0]!;
}

/** The siblings from leaf `index` up to the root (empty for a batch of one). */
export function batchProof(leaves: readonly Hex[], index: number): Hex[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new OracleError("BATCH_PROOF_UNAVAILABLE", `leaf index ${index} outside a batch of ${leaves.length}`);
  }
  const proof: Hex[] = [];
  let level = [...leaves];
  let i = index;
  while (level.length > 1) {
    const sibling = i ^ 1;
    if (sibling < level.length) proof.push(level[sibling]!);
    level = nextLevel(level);
    i >>= 1;
  }
  return proof;
}

/** The root `proof` leads to from `leaf` (BatchMerkle.process). */
export function processProof(leaf: string, proof: readonly string[]): Hex {
  let h = leaf as Hex;
  for (const p of proof) h = hashPair(h, p);
  return h;
}

/** The wire forms (packed items, batch records) live in batch-wire.ts; importers of batch.js get them too. */
export * from "./batch-wire.js";

/**
 * Every accepted batch committed in one transaction, rebuilt from its logs (a receipt's `logs`): the leaves
 * of a batch are the OPTIMISTIC records of its ResultBatchSubmitted, in record order (NONE/ZK results are
 * final at once and are no leaves). Each rebuilt root is checked against the logged one.
 */
export function batchesFromLogs(logs: readonly LogLike[], oracleAddress: string): CommittedBatch[] {
  const batches: CommittedBatch[] = [];
  for (const b of batchesOfLogs(logs, oracleAddress)) {
    const items = b.results.filter((r) => r.optimistic).map((r) => {
      const record = { worker: r.worker, relayer: r.relayer, outputHash: r.outputHash };
      return { requestId: r.requestId, attempt: r.attempt, record, leaf: resultLeaf(r.requestId, r.attempt, record) };
    });
    if (items.length === 0) continue;
    const rebuilt = batchRoot(items.map((x) => x.leaf));
    if (rebuilt !== b.acceptedRoot) {
      throw new OracleError("BATCH_PROOF_UNAVAILABLE", "the logs do not rebuild the committed batch root", {
        details: { root: b.acceptedRoot, leaves: items.length, rebuilt },
      });
    }
    batches.push({ root: b.acceptedRoot, items });
  }
  return batches;
}

/** The proof for `requestId`'s result among the batches of one transaction's logs. */
export function proofFromLogs(logs: readonly LogLike[], oracleAddress: string, requestId: string): ResultProof {
  const id = requestId.toLowerCase();
  for (const batch of batchesFromLogs(logs, oracleAddress)) {
    const index = batch.items.findIndex((item) => item.requestId === id);
    if (index < 0) continue;
    const item = batch.items[index]!;
    return { ...item, root: batch.root, proof: batchProof(batch.items.map((x) => x.leaf), index) };
  }
  throw new OracleError("BATCH_PROOF_UNAVAILABLE", `no committed OPTIMISTIC result for ${requestId} in these logs`, {
    details: { requestId },
  });
}
