/**
 * Messages that cross the job queue. Both directions are validated with these schemas on receipt:
 * a queue is a trust boundary (another machine, another version), and a malformed message must be
 * dead-lettered with a clear reason rather than crash a consumer.
 */
import { z } from "zod";
import { AddressSchema as address, Bytes32Schema as hex32, HexBytesSchema as hexBytes } from "./schemas.js";

/**
 * Largest inline tensor a message may carry (16 MiB, the worker's default maxInputBytes); bigger
 * ones travel through the blob store.
 */
export const MAX_INLINE_TENSOR_BYTES = 16 * 1024 * 1024;
const inlineTensorHex = hexBytes.max(2 + 2 * MAX_INLINE_TENSOR_BYTES, `at most ${MAX_INLINE_TENSOR_BYTES} bytes inline`);
/** Raw bytes: a byte field of a binary envelope (protocol/envelope.ts), or the in-process queue's Buffer. */
const inlineTensorBytes = z
  .custom<Uint8Array>((v) => v instanceof Uint8Array, "expected 0x-prefixed hex bytes or raw bytes")
  .refine((b) => b.byteLength <= MAX_INLINE_TENSOR_BYTES, `at most ${MAX_INLINE_TENSOR_BYTES} bytes inline`);
/**
 * An inline tensor: raw bytes (the binary envelope) or 0x-hex (a JSON message, as a publisher without
 * the envelope sends it): both are accepted, so jobs and results queued during an upgrade are served.
 * Empty ("0x" or zero bytes): not inline.
 */
const inlineTensor = z.union([inlineTensorHex, inlineTensorBytes]);

/** Whether an inline tensor field is empty ("0x" or no bytes: the tensor travels by reference). */
export function isEmptyInline(value: string | Uint8Array): boolean {
  return typeof value === "string" ? value === "0x" : value.byteLength === 0;
}
/** An ECDSA signature: 65 bytes (64 in the compact form). */
const signatureHex = hexBytes.max(2 + 2 * 65, "a signature is at most 65 bytes");

/** Relayer -> worker: one request to serve. */
export const JobSchema = z.object({
  kind: z.literal("job"),
  chainId: z.string().regex(/^[0-9]+$/),
  oracle: address,
  requestId: hex32,
  modelHash: hex32,
  inputHash: hex32,
  /** Inline canonical input, or "0x" when it must be fetched from inputURI. */
  input: inlineTensor,
  inputURI: z.string().max(2048),
  tier: z.number().int().min(0).max(2),
  deadline: z.number().int().nonnegative(),
  /** When the relayer saw the request event (ms since epoch), for latency accounting. */
  observedAt: z.number().nonnegative(),
  /**
   * Who the worker names as payee in its signed result (the relayer share of the fee goes there,
   * whoever submits it): the publishing relayer's address. Absent: the zero address (the worker
   * keeps the share).
   */
  payee: address.optional(),
  /**
   * Signers whose result for this request the oracle refused (stake unbonding or too low,
   * disqualified): such a worker passes the job on instead of serving it again.
   */
  excludedSigners: z.array(address).max(64).optional(),
  /**
   * Sibling requests (one redundant job's k requests, contracts/redundancy/RedundantInference.sol) share a
   * group: a worker that served one of them passes the others on, so k distinct workers answer.
   */
  group: hex32.optional(),
});
export type Job = z.infer<typeof JobSchema>;

const timingsSchema = z.record(z.string(), z.number().nonnegative());

/** Most results in one signed batch message (the worker's result batcher flushes at its maxItems first). */
export const MAX_BATCH_ITEMS = 256;

/** One result of a signed batch: what the worker signed (requestId, outputHash) and what the relayer needs. */
export const BatchItemSchema = z.object({
  requestId: hex32,
  modelHash: hex32,
  inputHash: hex32,
  outputHash: hex32,
  /** Canonical output encoding, or "0x" when too large to deliver inline (then in the blob store). */
  output: inlineTensor,
  provider: z.string().max(64),
  timings: timingsSchema,
  observedAt: z.number().nonnegative(),
  /** ZK tier: the proof bytes the oracle's IZkVerifier checks (docs/ZK.md), passed into submitBatch. */
  proof: hexBytes.max(2 + 2 * 64 * 1024, "at most 64 KiB of proof").optional(),
});
export type BatchItem = z.infer<typeof BatchItemSchema>;

/**
 * Worker -> relayer: a batch of results under ONE signature (docs/V2.md §3): `ResultBatch(resultsRoot,
 * payee)`, resultsRoot the Merkle root of the items' (requestId, outputHash) leaves in this order
 * (protocol/batch.ts). The relayer submits it whole (`submitBatch`): an item it drops or reorders voids
 * the signature.
 */
export const ResultBatchMessageSchema = z.object({
  kind: z.literal("batch"),
  chainId: z.string().regex(/^[0-9]+$/),
  oracle: address,
  /** The payee bound by the signature (see JobSchema.payee): every item's job named it. */
  payee: address,
  signer: address,
  signature: signatureHex,
  items: z.array(BatchItemSchema).min(1).max(MAX_BATCH_ITEMS),
});
export type ResultBatchMessage = z.infer<typeof ResultBatchMessageSchema>;

/** Worker -> relayer: a signed refusal of an invalid request (the requester is refunded). */
export const RejectionMessageSchema = z.object({
  kind: z.literal("rejection"),
  chainId: z.string().regex(/^[0-9]+$/),
  oracle: address,
  requestId: hex32,
  reason: z.number().int().min(0).max(65535),
  message: z.string().max(2048),
  code: z.string().max(64),
  signer: address,
  signature: signatureHex,
  observedAt: z.number().nonnegative(),
  /** Present when the input is not of the model's committed input type: the input's tensor header and
   * data root (they hash to the request's inputHash), so the relayer can prove the mismatch on-chain
   * (`rejectRequestWithProof`) and the request is refunded at once instead of waiting for a quorum. */
  inputHeader: hexBytes.max(2 + 2 * (8 + 4 * 8), "a tensor header is at most 40 bytes").optional(),
  inputDataRoot: hex32.optional(),
});
export type RejectionMessage = z.infer<typeof RejectionMessageSchema>;

export const WorkerReplySchema = z.discriminatedUnion("kind", [ResultBatchMessageSchema, RejectionMessageSchema]);
export type WorkerReply = z.infer<typeof WorkerReplySchema>;

/** Queue names shared by relayer and workers. */
export const QUEUES = {
  jobs: "oracle.jobs",
  results: "oracle.results",
} as const;
