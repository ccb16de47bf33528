/**
 * The wire forms of result batches, the TypeScript twin of contracts/libraries/PackedBatch.sol
 * (docs/PROTOCOL.md, "Result batches"). The one codec every service uses:
 *
 * - in: `packBatch` lays a worker-signed batch out as `submitBatch(payee, signature, packed)` takes it, the
 *   items back to back, each requestId (32) | outputHash (32) | output length (uint24) | proof length
 *   (uint24) | output | proof;
 * - out: `submittedFromLogs` / `decodeBatchLog` read the oracle's one ResultBatchSubmitted per batch, whose
 *   `records` hold a 71-byte record per accepted result, requestId (32) | outputHash (32) | time (uint40)
 *   | attempt (uint8) | flags (uint8), back into one entry per accepted result.
 */
import { Interface, getBytes, hexlify, type BytesLike, type Log } from "ethers";
import { OracleError } from "./errors.js";
import type { Hex, RequestId } from "./types.js";

/** Bytes of an item before its output and proof (PackedBatch.ITEM_HEADER). */
export const ITEM_HEADER_BYTES = 70;
/** Bytes of one record of ResultBatchSubmitted (PackedBatch.RECORD). */
export const RECORD_BYTES = 71;
/** Most items the oracle takes in one batch (PackedBatch.MAX_ITEMS). */
export const MAX_PACKED_ITEMS = 1024;
/** Record flag: an OPTIMISTIC result, a leaf of the batch's accepted root (PackedBatch.FLAG_OPTIMISTIC). */
export const FLAG_OPTIMISTIC = 1;
/** An output or proof is at most this long in the packed form (its length is a uint24). */
const MAX_FIELD_BYTES = 0xffffff;

/** One item as submitted: the signed pair, and the bytes that travel with it (empty when absent). */
export interface WireItem {
  requestId: string;
  outputHash: string;
  /** The canonical output, its size proof, or empty ("0x" or undefined). */
  output?: BytesLike;
  /** A ZK request's proof, else empty. */
  proof?: BytesLike;
}

/** A worker-signed batch with its items' bytes, as a relayer holds it before submitting. */
export interface WireBatch {
  payee: string;
  signature: string;
  items: readonly WireItem[];
}

/** The items back to back, as `submitBatch` takes them. */
export function packItems(items: readonly WireItem[]): Hex {
  const parts: Uint8Array[] = [];
  for (const item of items) {
    const output = getBytes(item.output ?? "0x");
    const proof = getBytes(item.proof ?? "0x");
    if (output.length > MAX_FIELD_BYTES || proof.length > MAX_FIELD_BYTES) {
      throw new OracleError("MESSAGE_INVALID", `item ${item.requestId}: output or proof longer than ${MAX_FIELD_BYTES} bytes`);
    }
    const header = new Uint8Array(ITEM_HEADER_BYTES);
    header.set(getBytes(item.requestId), 0);
    header.set(getBytes(item.outputHash), 32);
    const view = new DataView(header.buffer);
    view.setUint8(64, output.length >>> 16);
    view.setUint16(65, output.length & 0xffff);
    view.setUint8(67, proof.length >>> 16);
    view.setUint16(68, proof.length & 0xffff);
    parts.push(header, output, proof);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return hexlify(out) as Hex;
}

/** `submitBatch`'s arguments for `batch`: `oracle.submitBatch(...packBatch(batch))`. */
export function packBatch(batch: WireBatch): [payee: string, signature: string, packed: Hex] {
  return [batch.payee, batch.signature, packItems(batch.items)];
}

/** The items of a packed batch (the inverse of packItems); throws INVALID_MESSAGE where the oracle reverts. */
export function unpackItems(packed: string): { requestId: string; outputHash: string; output: string; proof: string }[] {
  const bytes = getBytes(packed);
  const items: { requestId: string; outputHash: string; output: string; proof: string }[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < ITEM_HEADER_BYTES) throw new OracleError("MESSAGE_INVALID", `packed batch ends mid-item at byte ${at}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, ITEM_HEADER_BYTES);
    const outLen = (view.getUint8(64) << 16) | view.getUint16(65);
    const proofLen = (view.getUint8(67) << 16) | view.getUint16(68);
    const body = at + ITEM_HEADER_BYTES;
    if (bytes.length - body < outLen + proofLen) throw new OracleError("MESSAGE_INVALID", `packed batch ends mid-item at byte ${at}`);
    items.push({
      requestId: hexlify(bytes.subarray(at, at + 32)),
      outputHash: hexlify(bytes.subarray(at + 32, at + 64)),
      output: hexlify(bytes.subarray(body, body + outLen)),
      proof: hexlify(bytes.subarray(body + outLen, body + outLen + proofLen)),
    });
    at = body + outLen + proofLen;
  }
  return items;
}

/** The oracle's batch event, for parsing and filtering (topic 0). */
export const BATCH_EVENTS = new Interface([
  "event ResultBatchSubmitted(bytes32 indexed resultsRoot, address indexed worker, address indexed payee, uint256 items, bytes32 acceptedRoot, bytes records)",
]);
export const RESULT_BATCH_TOPIC = BATCH_EVENTS.getEvent("ResultBatchSubmitted")!.topicHash as Hex;

/** One accepted result of a submitted batch, as its record and its batch's event say. */
export interface SubmittedResult {
  requestId: RequestId;
  outputHash: Hex;
  /** The operator behind the batch's signer. */
  worker: string;
  /** The payee the worker signed (the operator when it signed none): who gets the relayer share. */
  relayer: string;
  /** OPTIMISTIC: the end of the challenge window; NONE/ZK: the submission time (unix seconds). */
  time: number;
  /** The request's count of overturned results when this one was accepted (bound into its leaf). */
  attempt: number;
  /** An OPTIMISTIC result, a leaf of `acceptedRoot` (NONE/ZK results are final at once). */
  optimistic: boolean;
  resultsRoot: Hex;
  /** The root the OPTIMISTIC results of the batch were committed under (zero hash: none). */
  acceptedRoot: Hex;
  blockNumber?: number;
  transactionHash?: string;
}

/** A decoded ResultBatchSubmitted. */
export interface SubmittedBatch {
  resultsRoot: Hex;
  worker: string;
  payee: string;
  /** Every item of the batch, accepted or skipped. */
  items: number;
  acceptedRoot: Hex;
  results: SubmittedResult[];
}

/** A log as ethers and JSON-RPC give it. */
export interface LogLike {
  address: string;
  topics: readonly string[];
  data: string;
  index?: number;
  logIndex?: number;
  blockNumber?: number;
  transactionHash?: string;
}

/** The records of one ResultBatchSubmitted, in batch order. */
export function decodeRecords(records: string): { requestId: RequestId; outputHash: Hex; time: number; attempt: number; flags: number }[] {
  const bytes = getBytes(records);
  if (bytes.length % RECORD_BYTES !== 0) {
    throw new OracleError("MESSAGE_INVALID", `batch records of ${bytes.length} bytes are not whole ${RECORD_BYTES}-byte records`);
  }
  const out = [];
  for (let at = 0; at < bytes.length; at += RECORD_BYTES) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, RECORD_BYTES);
    out.push({
      requestId: hexlify(bytes.subarray(at, at + 32)) as RequestId,
      outputHash: hexlify(bytes.subarray(at + 32, at + 64)) as Hex,
      time: view.getUint8(64) * 2 ** 32 + view.getUint32(65),
      attempt: view.getUint8(69),
      flags: view.getUint8(70),
    });
  }
  return out;
}

/** The records bytes of ResultBatchSubmitted for `records` (what PackedBatch.push writes; for tests and tools). */
export function encodeRecords(records: readonly { requestId: string; outputHash: string; time: number; attempt: number; optimistic: boolean }[]): Hex {
  const out = new Uint8Array(records.length * RECORD_BYTES);
  records.forEach((r, i) => {
    const at = i * RECORD_BYTES;
    out.set(getBytes(r.requestId), at);
    out.set(getBytes(r.outputHash), at + 32);
    const view = new DataView(out.buffer, at + 64, 7);
    view.setUint8(0, Math.floor(r.time / 2 ** 32));
    view.setUint32(1, r.time % 2 ** 32);
    view.setUint8(5, r.attempt);
    view.setUint8(6, r.optimistic ? FLAG_OPTIMISTIC : 0);
  });
  return hexlify(out) as Hex;
}

/** The batch a ResultBatchSubmitted log carries, or undefined for any other log. */
export function decodeBatchLog(log: LogLike): SubmittedBatch | undefined {
  if (log.topics[0]?.toLowerCase() !== RESULT_BATCH_TOPIC) return undefined;
  const parsed = BATCH_EVENTS.parseLog({ topics: [...log.topics], data: log.data });
  if (parsed === null) return undefined;
  const a = parsed.args;
  const batch = {
    resultsRoot: String(a.resultsRoot).toLowerCase() as Hex,
    worker: String(a.worker),
    payee: String(a.payee),
    items: Number(a.items),
    acceptedRoot: String(a.acceptedRoot).toLowerCase() as Hex,
  };
  const results = decodeRecords(String(a.records)).map((r) => ({
    requestId: r.requestId,
    outputHash: r.outputHash,
    worker: batch.worker,
    relayer: batch.payee,
    time: r.time,
    attempt: r.attempt,
    optimistic: (r.flags & FLAG_OPTIMISTIC) !== 0,
    resultsRoot: batch.resultsRoot,
    acceptedRoot: batch.acceptedRoot,
    ...(log.blockNumber === undefined ? {} : { blockNumber: log.blockNumber }),
    ...(log.transactionHash === undefined ? {} : { transactionHash: log.transactionHash }),
  }));
  return { ...batch, results };
}

/** Every batch the oracle at `oracleAddress` logged among `logs`, in log order. */
export function batchesOfLogs(logs: readonly LogLike[], oracleAddress: string): SubmittedBatch[] {
  const oracle = oracleAddress.toLowerCase();
  return logs
    .map((l, i) => ({ l, at: l.index ?? l.logIndex ?? i }))
    .filter(({ l }) => l.address.toLowerCase() === oracle)
    .sort((a, b) => a.at - b.at)
    .flatMap(({ l }) => decodeBatchLog(l) ?? []);
}

/** Every accepted result among `logs` (a receipt's, or a range's), one entry per result, in log order. */
export function submittedFromLogs(logs: readonly LogLike[], oracleAddress: string): SubmittedResult[] {
  return batchesOfLogs(logs, oracleAddress).flatMap((b) => b.results);
}

/** What queries ResultBatchSubmitted logs: an ethers provider (`getLogs`). */
export interface LogSource {
  getLogs(filter: { address: string; topics: string[]; fromBlock?: number | string; toBlock?: number | string }): Promise<readonly Log[]>;
}

/**
 * The accepted results in blocks [fromBlock, toBlock] (one query: one event per batch), optionally only
 * `requestId`'s (the latest last). Requests are not indexed per result: the batch event carries them.
 */
export async function querySubmitted(
  source: LogSource,
  oracleAddress: string,
  range: { fromBlock?: number | string; toBlock?: number | string; requestId?: string } = {},
): Promise<SubmittedResult[]> {
  const logs = await source.getLogs({ address: oracleAddress, topics: [RESULT_BATCH_TOPIC], fromBlock: range.fromBlock ?? 0, toBlock: range.toBlock ?? "latest" });
  const all = submittedFromLogs(logs, oracleAddress);
  const id = range.requestId?.toLowerCase();
  return id === undefined ? all : all.filter((r) => r.requestId === id);
}
