/** The detail view of one request (GET /api/requests/:id): commitments, previews, chain reads, timeline. */
import type { Log } from "ethers";
import {
  batchItemLeaf,
  resultLeaf,
  submittedFromLogs,
  IOracleTokenFees__factory,
  DTYPES,
  RefundReason,
  Ruling,
  Tier,
  bundleEntries,
  decodeTensor,
  dtypeFromCode,
  isTensorBundle,
  isZeroHex,
  type Tensor,
} from "../protocol/index.js";
import type { DashboardDeps } from "./dashboard.js";
import type { RequestRow } from "./db.js";

const TOKEN_FEES = IOracleTokenFees__factory.createInterface();
const TOKEN_EVENTS = new Set(["TokenFeeEscrowed", "TokenRefundClaimed"]);

/** The fee token of a request paid in an ERC-20 token (its TokenFeeEscrowed event), else null. */
function feeTokenOf(timeline: { event: string; args: Record<string, string> }[]): { token: string; amount: string; ownerFee: string } | null {
  const e = timeline.find((t) => t.event === "TokenFeeEscrowed");
  return e === undefined ? null : { token: e.args.token!, amount: e.args.tokenAmount!, ownerFee: e.args.tokenOwnerFee! };
}

export function summary(r: RequestRow) {
  return {
    id: r.id,
    state: r.state,
    tier: Tier[r.tier] ?? String(r.tier),
    modelHash: r.modelHash,
    requester: r.requester,
    fee: r.fee,
    block: r.block,
    observedAt: r.observedAt,
    submittedAt: r.submittedAt,
    finalAt: r.finalAt,
    submitMs: r.submittedAt === null ? null : Math.max(0, r.submittedAt - r.observedAt),
    finalMs: r.finalAt === null ? null : Math.max(0, r.finalAt - r.observedAt),
    worker: r.worker,
    refundReason: r.refundReason === null ? null : (RefundReason[r.refundReason] ?? String(r.refundReason)),
    note: r.note,
  };
}

/** A tensor as the dashboard shows it: type, statistics, first values, and a grayscale image when it looks like one. */
export function tensorPreview(t: Tensor, maxValues = 16) {
  const data = t.data as ArrayLike<number | bigint>;
  const n = data.length;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = Number(data[i]);
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const values: number[] = [];
  for (let i = 0; i < Math.min(n, maxValues); i++) values.push(Number(data[i]));
  let image: { width: number; height: number; gray: string } | undefined;
  const s = t.shape;
  // [1, C, H, W] with C 1 or 3 (NCHW, as the vision models take): mean over channels, scaled to 0..255.
  if (s.length === 4 && s[0] === 1 && (s[1] === 1 || s[1] === 3) && s[2]! * s[3]! <= 65_536 && n === s[1]! * s[2]! * s[3]!) {
    const [c, h, w] = [s[1]!, s[2]!, s[3]!];
    const gray = Buffer.alloc(h * w);
    const span = max - min || 1;
    for (let p = 0; p < h * w; p++) {
      let v = 0;
      for (let k = 0; k < c; k++) v += Number(data[k * h * w + p]);
      gray[p] = Math.round(((v / c - min) / span) * 255);
    }
    image = { width: w, height: h, gray: gray.toString("base64") };
  }
  return {
    dtype: t.dtype,
    shape: t.shape,
    elements: n,
    min: n === 0 ? null : min,
    max: n === 0 ? null : max,
    mean: n === 0 ? null : sum / n,
    values,
    argmax: n > 0 && n <= 1000 ? argmax(data) : null,
    ...(image === undefined ? {} : { image }),
  };
}

/** dtype, shape and the first values of a tensor, from a prefix of its encoding (nothing else is read). */
export function headerPreview(prefix: Uint8Array, maxValues = 16) {
  const buf = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (buf.byteLength < 8 || buf.toString("latin1", 0, 4) !== "VIOT") throw new Error("not a canonical tensor");
  const dtype = dtypeFromCode(buf[5]!);
  if (dtype === undefined) throw new Error(`unsupported dtype code ${buf[5]}`);
  const rank = buf[6]!;
  if (rank > 8 || buf.byteLength < 8 + 4 * rank) throw new Error("tensor header is malformed");
  const shape = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(8 + 4 * i));
  const spec = DTYPES[dtype];
  const offset = 8 + 4 * rank;
  const count = Math.min(maxValues, Math.floor((buf.byteLength - offset) / spec.size), shape.reduce((a, b) => a * b, 1));
  const aligned = new Uint8Array(count * spec.size);
  aligned.set(buf.subarray(offset, offset + count * spec.size));
  const data = new spec.array(aligned.buffer, 0, count) as ArrayLike<number | bigint>;
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(Number(data[i]));
  const elements = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, bytes: offset + elements * spec.size, elements, min: null, max: null, mean: null, values, argmax: null, partial: true as const };
}

function argmax(data: ArrayLike<number | bigint>): number {
  let best = 0;
  for (let i = 1; i < data.length; i++) if (Number(data[i]) > Number(data[best])) best = i;
  return best;
}

/**
 * Blobs up to this size are decoded whole for a preview (the largest image the dashboard draws,
 * float32 [1, 3, 256, 256], is 768 KiB); larger ones give their header and first values only, read
 * from a prefix of the file. An anonymous GET /api/requests/:id decoded whole 64 MiB blobs before.
 */
export const FULL_PREVIEW_BYTES = 1024 * 1024;

async function preview(deps: DashboardDeps, hash: string | null, inline?: () => Promise<string | undefined>) {
  try {
    let bytes: Buffer | undefined;
    if (hash !== null && deps.blobs.has(hash)) {
      // An anonymous GET must not make the relayer read and decode a 64 MiB blob: read a prefix.
      const head = await deps.blobs.head(hash, FULL_PREVIEW_BYTES + 1);
      if (head.byteLength > FULL_PREVIEW_BYTES && isTensorBundle(head)) return { available: false as const, reason: `a bundle of several tensors larger than ${FULL_PREVIEW_BYTES} bytes: no preview` };
      if (head.byteLength > FULL_PREVIEW_BYTES) return { available: true as const, ...headerPreview(head) };
      bytes = head;
    } else if (inline !== undefined) {
      const hex = await inline();
      if (hex !== undefined && hex !== "0x") bytes = Buffer.from(hex.slice(2), "hex");
    }
    if (bytes === undefined) return { available: false as const, reason: "not held by this relayer" };
    if (isTensorBundle(bytes)) {
      // Several named tensors (a model with several inputs or outputs): a preview of each, by name;
      // the first also at the top level, for readers of one tensor.
      const bundle = bundleEntries(bytes).map((e) => ({ name: e.name, bytes: e.encoded.byteLength, ...tensorPreview(decodeTensor(e.encoded)) }));
      return { available: true as const, ...bundle[0]!, bytes: bytes.byteLength, bundle };
    }
    return { available: true as const, bytes: bytes.byteLength, ...tensorPreview(decodeTensor(bytes)) };
  } catch (error) {
    return { available: false as const, reason: error instanceof Error ? error.message.slice(0, 200) : "cannot decode" };
  }
}

export type ChainReads = (deps: DashboardDeps, row: RequestRow) => ReturnType<typeof requestChainReads>;

/** What a request's detail reads from the node: its events (with block times and receipts), getRequest, the open dispute. */
export async function requestChainReads(deps: DashboardDeps, row: RequestRow) {
  const { chain } = deps;
  // Every oracle event for this request (the id is the first indexed topic of each), with block times and gas.
  // Read in logBlockRange chunks (what RPC providers allow), stopping at the request's final event.
  const logs = await deps.requestLogs(row.id, row.block, row.finalTx);
  const blocks = new Map<number, number>();
  const receipts = new Map<string, { gasUsed: string; from: string; status: number | null }>();
  const timeline: { event: string; block: number; time: number; tx: string; args: Record<string, string> }[] = [];
  let inlineInput: string | undefined;
  /** Records the block time and the receipt of the log's transaction, once each. */
  const note = async (log: Log) => {
    if (!blocks.has(log.blockNumber)) blocks.set(log.blockNumber, (await chain.provider.getBlock(log.blockNumber))?.timestamp ?? 0);
    if (!receipts.has(log.transactionHash)) {
      const r = await chain.provider.getTransactionReceipt(log.transactionHash);
      if (r !== null) receipts.set(log.transactionHash, { gasUsed: r.gasUsed.toString(), from: r.from, status: r.status });
    }
  };
  for (const log of logs) {
    const record = submittedFromLogs([log], chain.oracleAddress).find((r) => r.requestId === row.id.toLowerCase());
    if (record !== undefined) {
      // This request's record in its batch's ResultBatchSubmitted, shown as the result it is.
      await note(log);
      const args = { worker: record.worker, relayer: record.relayer, outputHash: record.outputHash, [record.optimistic ? "challengeDeadline" : "submittedAt"]: String(record.time), attempt: String(record.attempt), resultsRoot: record.resultsRoot };
      timeline.push({ event: "ResultSubmitted", block: log.blockNumber, time: blocks.get(log.blockNumber)!, tx: log.transactionHash, args });
      continue;
    }
    // A request paid in an ERC-20 token also has its IOracleTokenFees events (docs/FEATURES.md, "ERC-20 fees").
    const parsed = chain.oracle.interface.parseLog({ topics: [...log.topics], data: log.data })
      ?? TOKEN_FEES.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) continue;
    await note(log);
    const args: Record<string, string> = {};
    parsed.fragment.inputs.forEach((input, i) => {
      if (input.name === "requestId") return;
      const v = parsed.args[i];
      if (input.name === "input") {
        inlineInput = String(v);
        args.input = `${(String(v).length - 2) / 2} bytes`;
        return;
      }
      // Token amounts are not wei: named so that no reader takes them for ETH.
      const name = TOKEN_EVENTS.has(parsed.name) && /^(amount|ownerFee)$/.test(input.name) ? `token${input.name[0]!.toUpperCase()}${input.name.slice(1)}` : input.name;
      args[name] = typeof v === "bigint" ? v.toString() : String(v);
    });
    if (parsed.name === "RequestRefunded") args.reason = RefundReason[Number(parsed.args.reason)] ?? args.reason!;
    timeline.push({ event: parsed.name, block: log.blockNumber, time: blocks.get(log.blockNumber)!, tx: log.transactionHash, args });
  }

  const view = await chain.reader.getRequest(row.id);
  const disputed = timeline.some((e) => e.event === "ChallengeOpened");
  // Disputes are kept per (request, attempt); the open one is on the request's current attempt.
  const open = disputed && row.state === "challenged" ? await chain.reader.getDispute(row.id, view.attempt) : undefined;
  const dispute = open !== undefined && isZeroHex(open.opener) ? undefined : open;
  return { timeline, receipts, inlineInput, view, dispute };
}

export async function requestDetail(deps: DashboardDeps, row: RequestRow, chainReads?: ChainReads) {
  const { db } = deps;
  const reply = db.getReply(row.id);
  let replyInfo: Record<string, unknown> | null = null;
  if (reply !== undefined) {
    const m = JSON.parse(reply.message) as Record<string, unknown>;
    replyInfo = {
      kind: reply.kind,
      state: reply.state,
      reason: reply.reason,
      receivedAt: reply.receivedAt,
      signer: m.signer,
      provider: m.provider ?? null,
      timings: m.timings ?? null,
      code: m.code ?? null,
      message: typeof m.message === "string" ? m.message.slice(0, 500) : null,
      rejectReason: m.kind === "rejection" ? m.reason : null,
    };
  }

  const { timeline, receipts, inlineInput, view, dispute } = await (chainReads ?? requestChainReads)(deps, row);
  return {
    request: summary(row),
    feeToken: feeTokenOf(timeline),
    commitments: {
      modelHash: row.modelHash,
      inputHash: row.inputHash,
      outputHash: row.outputHash,
      // The worker signed (requestId, outputHash) as a leaf of its ResultBatch; the oracle commits the
      // accepted results of each batch as one Merkle root, and this is the result's accepted leaf
      // (docs/PROTOCOL.md "Result batches"), bound to the request's attempt count. No trace is signed.
      signedLeaf: row.outputHash !== null ? batchItemLeaf(row.id, row.outputHash) : null,
      attempt: Number(view.attempt),
      resultLeaf:
        row.worker !== null && row.relayer !== null && row.outputHash !== null
          ? resultLeaf(row.id, Number(view.attempt), { worker: row.worker, relayer: row.relayer, outputHash: row.outputHash })
          : null,
    },
    chain: {
      status: Number(view.status),
      deadline: Number(view.deadline),
      challengeDeadline: row.challengeDeadline,
      disputeDeadline: row.disputeDeadline,
      callbackGasLimit: row.callbackGasLimit,
      callbackOk: row.callbackOk === null ? null : row.callbackOk === 1,
      // The largest output the callback gets inline; a longer one is delivered as its hash.
      maxInlineOutput: Number(view.maxInlineOutput),
    },
    // Content-addressed: the output's bytes are served under its hash (docs/PROTOCOL.md "Large outputs").
    outputURI: row.outputHash === null ? null : `/blobs/${row.outputHash.toLowerCase()}`,
    inputURI: row.inputURI,
    input: await preview(deps, row.inputHash, async () => inlineInput),
    output: await preview(deps, row.outputHash),
    reply: replyInfo,
    offchain: {
      observedAt: row.observedAt,
      jobPublishedAt: row.jobPublishedAt,
      replyAt: row.replyAt,
      submittedAt: row.submittedAt,
      finalAt: row.finalAt,
    },
    transactions: [...receipts.entries()].map(([hash, r]) => ({
      hash,
      ...r,
      events: timeline.filter((e) => e.tx === hash).map((e) => e.event),
    })),
    timeline,
    dispute:
      dispute === undefined
        ? null
        : {
            opener: dispute.opener,
            worker: dispute.worker,
            resolver: dispute.resolver,
            bond: dispute.bond.toString(),
            joiners: Number(dispute.joiners),
            deadline: Number(dispute.deadline),
            defaultRuling: Ruling[Number(dispute.defaultRuling)] ?? String(dispute.defaultRuling),
          },
    note: row.note,
  };
}