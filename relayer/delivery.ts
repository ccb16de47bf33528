/**
 * The `output` field the relayer sends with a delivery (a NONE/ZK submission or a settlement), per the
 * request's threshold (docs/PROTOCOL.md "Large outputs"): the bytes when they are at most the request's
 * maxInlineOutput (its callback wants them inline), else their size proof (hash only). The bytes come
 * from the worker's item or the blob store; when neither has them (withheld), a size proof the worker
 * sent goes on as it is, else nothing ("0x": an OPTIMISTIC request then settles only after OUTPUT_GRACE).
 */
import { deliveryForm, fromHex, isSizeProof, readSizeProof, type Hex } from "../protocol/index.js";
import type { BlobStore } from "./blobs.js";
import type { SenderChain } from "./chain.js";

export interface DeliveryArgs {
  requestId: string;
  outputHash: string | null;
  /** What the worker's batch item carried: the bytes, a size proof or "0x". */
  held: string;
  callbackGasLimit: number;
  /** The relayer's own cap (config maxInlineOutputBytes) for requests without a callback. */
  cap: number;
}

/** Requests' maxInlineOutput already read (fixed at request time, so never stale), at most LIMITS_KEPT. */
const limits = new Map<string, number>();
const LIMITS_KEPT = 65_536;

/**
 * The request's maxInlineOutput (the oracle resolves 0 to its params' cap): read when a callback waits,
 * once per request (a settlement batch of N rows must not need N good RPC answers in the same tick).
 */
export async function inlineLimit(chain: Pick<SenderChain, "oracle" | "oracleAddress">, requestId: string, callbackGasLimit: number, cap: number): Promise<number> {
  if (callbackGasLimit === 0) return cap;
  const key = `${chain.oracleAddress.toLowerCase()}:${requestId.toLowerCase()}`;
  const known = limits.get(key);
  if (known !== undefined) return known;
  const limit = Number((await chain.oracle.getRequest(requestId)).maxInlineOutput);
  if (limits.size >= LIMITS_KEPT) limits.delete(limits.keys().next().value!);
  limits.set(key, limit);
  return limit;
}

export async function deliveryOutput(chain: Pick<SenderChain, "oracle" | "oracleAddress">, blobs: BlobStore | undefined, a: DeliveryArgs): Promise<Hex> {
  const limit = await inlineLimit(chain, a.requestId, a.callbackGasLimit, a.cap);
  let bytes: Uint8Array | undefined;
  if (a.held !== "0x" && !isSizeProof(a.held)) bytes = fromHex(a.held);
  else if (a.outputHash !== null && blobs?.has(a.outputHash)) bytes = await blobs.get(a.outputHash);
  if (bytes !== undefined) return deliveryForm(bytes, limit);
  return isSizeProof(a.held) && readSizeProof(a.held).encodedBytes > limit ? (a.held as Hex) : "0x";
}
