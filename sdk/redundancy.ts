/**
 * Redundancy (contracts/redundancy/RedundantInference.sol): one request answered by k distinct
 * staked workers. This module requests a job, reads its state, and moves it on: it attests the worker of
 * every fulfilled answer (the record and Merkle proof of its committed batch leaf, rebuilt from the logs of
 * the transaction that submitted it), replaces duplicate or refunded answers from the reserve, and delivers
 * a decided job to the requester's consumer with the agreed output's bytes (read from the AnswerDelivered
 * event). A job whose answers differ by hash is Comparing: `decide` sends the counted answers' bytes (from
 * the AnswerDelivered events) for the contract to compare within the model's τ_out; nobody deciding, the
 * job closes as Disagreed after its decideBy. Anyone may do each of these (and is credited the job's
 * attestReward for each attestation and the decide); the relayer's attester (relayer/redundancy-attester.ts)
 * does them for the contracts it watches.
 *
 * A job may be paid in an ERC-20 token the model accepts (`token` in requestRedundant; RedundantInference's
 * requestWithToken): `fee` is then each answer's token amount, pulled after an EIP-2612 permit (or an
 * approval), and each answer's callback is paid `callbackFee` wei. A refunded token answer's fee is collected
 * back from the oracle (`collectTokenRefund`, a "collect" action of jobActions) and credited in the token
 * (`tokenBalanceOf`, `withdrawToken`).
 */
import { hexlify, getAddress, ZeroAddress, type ContractRunner, type Signer, type ContractTransaction, type Provider, type TransactionReceipt } from "ethers";
import { BlobClient } from "../protocol/blob-client.js";
import { hashBundleEncoded } from "../protocol/bundle.js";
import { DEFAULT_MAX_OUTPUT_BYTES } from "./client-types.js";
import { IInferenceOracle__factory } from "../protocol/contracts.js";
import { proofFromLogs, querySubmitted, type ResultProof } from "../protocol/batch.js";
import { RedundantInference__factory, type RedundantInference } from "../types/ethers-contracts/index.js";
import { OracleSdkError } from "./errors.js";
import { callbackGasPrice, permitDeadline, tokenPermitOrApprove, type TokenPayment } from "./token-pay.js";

export { RedundantInference__factory, type RedundantInference };

/** RedundantInference.JobStatus. */
export enum JobStatus {
  None = 0,
  Open = 1,
  Agreed = 2,
  Disagreed = 3,
  Incomplete = 4,
  /** The counted answers differ by hash: `decide` compares them within τ_out (default Disagreed after decideBy). */
  Comparing = 5,
}

/** RedundantInference.AnswerStatus. */
export enum AnswerStatus {
  None = 0,
  Requested = 1,
  Delivered = 2,
  Counted = 3,
  Duplicate = 4,
  Refunded = 5,
  Replaced = 6,
}

const ORACLE_EVENTS = IInferenceOracle__factory.createInterface();

export function redundantContract(address: string, runner: ContractRunner): RedundantInference {
  return RedundantInference__factory.connect(address, runner);
}

export interface RedundantRequestOptions {
  modelHash: string;
  /** Canonical tensor encoding of the input (inline), or empty with inputHash + inputURI. */
  input?: Uint8Array | string;
  inputHash?: string;
  inputURI?: string;
  k: number;
  reserve?: number;
  /** Wei per oracle request (model fee + worker fee + the answer callback's gas); with `token`, token units per request. */
  fee: bigint;
  deadline: bigint;
  consumerGas?: number;
  /** Wei credited to whoever makes each attestation and the decide (k + reserve + 1 prepaid; unused refunded). */
  attestReward?: bigint;
  /**
   * Pay the fees in this ERC-20 token (the model's owner must accept it; `fee` is then in the token, at least
   * its token terms' owner fee + minimum worker fee). `callbackFee` is the wei each answer's callback is paid
   * (default ANSWER_CALLBACK_GAS x today's callback gas price x 2).
   */
  token?: TokenPayment & { callbackFee?: bigint };
}

/**
 * The wei a job costs up front: (k + reserve) x fee + (k + reserve + 1) x attestReward; for a token job
 * (`callbackFee` given) (k + reserve) x callbackFee + (k + reserve + 1) x attestReward, the fees being in the token.
 */
export function redundantJobValue(o: Pick<RedundantRequestOptions, "k" | "reserve" | "fee" | "attestReward">, callbackFee?: bigint): bigint {
  const n = BigInt(o.k) + BigInt(o.reserve ?? 0);
  return n * (callbackFee ?? o.fee) + (n + 1n) * (o.attestReward ?? 0n);
}

/** The wei each answer of a token job is paid for its callback by default: ANSWER_CALLBACK_GAS x today's callback gas price x 2. */
export async function redundantCallbackFee(contract: RedundantInference, provider: Provider): Promise<bigint> {
  const oracle = IInferenceOracle__factory.connect(await contract.oracle(), provider);
  const price = await callbackGasPrice(provider, (await oracle.params()).minGasPrice);
  return (await contract.ANSWER_CALLBACK_GAS()) * price * 2n;
}

/** Requests a job (msg.value = redundantJobValue); returns its id. */
export async function requestRedundant(contract: RedundantInference, o: RedundantRequestOptions): Promise<{ jobId: bigint; receipt: TransactionReceipt }> {
  const reserve = o.reserve ?? 0;
  if (!Number.isInteger(o.k) || o.k < 2 || o.k > 8) throw new OracleSdkError("INPUT_INVALID", `redundancy k must be 2..8, got ${o.k}`);
  if (!Number.isInteger(reserve) || reserve < 0 || reserve > 8) throw new OracleSdkError("INPUT_INVALID", `redundancy reserve must be 0..8, got ${reserve}`);
  const req = {
    modelHash: o.modelHash,
    inputHash: o.inputHash ?? "0x" + "00".repeat(32),
    input: o.input ?? "0x",
    inputURI: o.inputURI ?? "",
    k: o.k,
    reserve,
    fee: o.fee,
    deadline: o.deadline,
    consumerGas: o.consumerGas ?? 0,
    attestReward: o.attestReward ?? 0n,
  };
  let tx;
  if (o.token === undefined) {
    tx = await contract.request(req, { value: redundantJobValue(o) });
  } else {
    const signer = contract.runner as Signer | null;
    if (signer === null || !("sendTransaction" in signer) || signer.provider === null) throw new OracleSdkError("CONFIG_INVALID", "a token job needs a Signer with a provider");
    const callbackFee = o.token.callbackFee ?? (await redundantCallbackFee(contract, signer.provider));
    const tokens = (BigInt(o.k) + BigInt(reserve)) * o.fee;
    const permit = await tokenPermitOrApprove(signer, o.token, await contract.getAddress(), tokens, await permitDeadline(signer.provider));
    tx = await contract.requestWithToken(req, getAddress(o.token.address), callbackFee, permit, { value: redundantJobValue(o, callbackFee) });
  }
  const receipt = (await tx.wait())!;
  for (const log of receipt.logs) {
    const parsed = contract.interface.parseLog(log);
    if (parsed?.name === "JobRequested") return { jobId: parsed.args.jobId as bigint, receipt };
  }
  throw new OracleSdkError("REQUEST_NOT_FOUND", "no JobRequested event in the request's receipt");
}

/**
 * The record and Merkle proof of `requestId`'s accepted result at its current attempt: the logs of the
 * transaction whose ResultBatchSubmitted committed it at that attempt.
 */
export async function resultProof(provider: Provider, oracleAddress: string, requestId: string, attempt: number, fromBlock = 0): Promise<ResultProof> {
  const results = await querySubmitted(provider, oracleAddress, { fromBlock, requestId });
  for (const r of [...results].reverse()) {
    if (r.attempt !== attempt || !r.optimistic || r.transactionHash === undefined) continue;
    const receipt = await provider.getTransactionReceipt(r.transactionHash);
    if (receipt !== null) return proofFromLogs(receipt.logs, oracleAddress, requestId);
  }
  throw new OracleSdkError("REQUEST_NOT_FOUND", `no committed result of ${requestId} at attempt ${attempt}`);
}

/**
 * Where the bytes of an answer delivered as hash only (an output above the oracle's inline cap) are found: the
 * relayer's blob store (`storeOutputs`), or any other source. Whatever it returns is checked against the hash.
 */
export type OutputSource = (outputHash: string) => Promise<Uint8Array | undefined>;

/** An OutputSource reading `<storeUrl>/blobs/<hash>` through the one blob client (capped, timed out, hash-checked); undefined where the store has none. */
export function storeOutputs(storeUrl: string, maxBytes = DEFAULT_MAX_OUTPUT_BYTES): OutputSource {
  const client = new BlobClient({ storeUrl });
  return (outputHash) => client.download(outputHash, { maxBytes }).catch(() => undefined);
}

/** One transaction that moves a job on (attest, replace or deliver). */
export interface JobAction {
  kind: "attest" | "replace" | "decide" | "deliver" | "close" | "collect";
  build: () => Promise<ContractTransaction>;
}

/**
 * What can be sent now to move `jobId` on: an attestation for every answer the oracle fulfilled and nobody
 * attested, a replacement for every duplicate or refunded answer while the reserve and the deadline last,
 * the decision of a Comparing job (its counted answers' bytes, when every one was delivered inline), the
 * delivery of a decided job, and `close` of an open job past its closeAt or a Comparing one past its decideBy;
 * for a token job, at any status, the collection of every refunded answer's token fee not yet collected.
 * Attestations decide the job, so a caller sends them, then asks again.
 */
export async function jobActions(contract: RedundantInference, oracleAddress: string, jobId: bigint, o: { fromBlock?: number; outputs?: OutputSource } = {}): Promise<JobAction[]> {
  const provider = contract.runner?.provider;
  if (!provider) throw new OracleSdkError("INPUT_INVALID", "the RedundantInference contract needs a runner with a provider");
  const oracle = IInferenceOracle__factory.connect(oracleAddress, provider);
  const job = await contract.getJob(jobId);
  const status = Number(job.status) as JobStatus;
  const actions: JobAction[] = [];
  const fromBlock = o.fromBlock ?? 0;
  const now = BigInt((await provider.getBlock("latest"))!.timestamp);
  if ((status === JobStatus.Open && now > job.closeAt) || (status === JobStatus.Comparing && now > job.decideBy)) {
    // The default outcomes: Incomplete (Open), Disagreed (Comparing); the unused reserve and rewards refunded.
    actions.push({ kind: "close", build: () => contract.close.populateTransaction(jobId) });
  } else if (status === JobStatus.Comparing) {
    const outputs = await countedOutputs(contract, jobId, fromBlock, o.outputs);
    if (outputs !== undefined) actions.push({ kind: "decide", build: () => contract.decide.populateTransaction(jobId, outputs) });
  } else if (status === JobStatus.Open) {
    const answers = await contract.getAnswers(jobId);
    let reserve = Number(job.reserveLeft);
    for (let i = 0; i < answers.length; i++) {
      const a = answers[i]!;
      const s = Number(a.status) as AnswerStatus;
      if ((s === AnswerStatus.Delivered || s === AnswerStatus.Requested) && Number(await oracle.state(a.requestId)) === 4 && now <= job.closeAt) {
        const attempt = Number((await oracle.getRequest(a.requestId)).attempt);
        const p = await resultProof(provider, oracleAddress, a.requestId, attempt, fromBlock);
        actions.push({ kind: "attest", build: () => contract.attest.populateTransaction(a.requestId, p.record, p.proof) });
      } else if ((s === AnswerStatus.Duplicate || s === AnswerStatus.Refunded) && reserve > 0 && now < job.deadline) {
        reserve--;
        const input = job.inputInline ? await jobInput(provider, oracleAddress, answers[0]!.requestId, fromBlock) : "0x";
        actions.push({ kind: "replace", build: () => contract.replace.populateTransaction(jobId, i, input) });
      }
    }
  } else if ((status === JobStatus.Agreed || status === JobStatus.Disagreed) && !job.delivered) {
    let output = "0x";
    if (status === JobStatus.Agreed) output = (await outputBytes(job.outputHash, await deliveredOutputs(contract, jobId, fromBlock), o.outputs)) ?? "0x";
    actions.push({ kind: "deliver", build: () => contract.deliver.populateTransaction(jobId, output) });
  }
  if (job.token !== ZeroAddress) actions.push(...(await tokenRefundActions(contract, oracle, jobId)));
  return actions;
}

/** A `collect` for each answer of a token job the oracle refunded whose token fee was not collected yet. */
async function tokenRefundActions(contract: RedundantInference, oracle: ReturnType<typeof IInferenceOracle__factory.connect>, jobId: bigint): Promise<JobAction[]> {
  const out: JobAction[] = [];
  for (const a of await contract.getAnswers(jobId)) {
    const s = Number(a.status) as AnswerStatus;
    if (s !== AnswerStatus.Refunded && s !== AnswerStatus.Replaced && s !== AnswerStatus.Requested) continue;
    // RequestStatus.Refunded = 5.
    if (Number(await oracle.state(a.requestId)) !== 5 || (await contract.tokenRefundCollected(a.requestId))) continue;
    out.push({ kind: "collect", build: () => contract.collectTokenRefund.populateTransaction(a.requestId) });
  }
  return out;
}

/** The inline outputs the job's AnswerDelivered events carried, by output hash. */
async function deliveredOutputs(contract: RedundantInference, jobId: bigint, fromBlock: number): Promise<Map<string, string>> {
  const iface = contract.interface;
  const topics = [iface.getEvent("AnswerDelivered").topicHash, "0x" + jobId.toString(16).padStart(64, "0")];
  const logs = await contract.runner!.provider!.getLogs({ address: await contract.getAddress(), topics, fromBlock, toBlock: "latest" });
  const out = new Map<string, string>();
  for (const log of logs) {
    const e = iface.parseLog(log)!;
    if (e.args.output !== "0x") out.set(e.args.outputHash as string, e.args.output as string);
  }
  return out;
}

/**
 * The bytes of the job's counted answers in countedHashes order: from the AnswerDelivered events, else (an answer
 * delivered as hash only) from `source`; undefined when one cannot be found.
 */
export async function countedOutputs(contract: RedundantInference, jobId: bigint, fromBlock = 0, source?: OutputSource): Promise<string[] | undefined> {
  const byHash = await deliveredOutputs(contract, jobId, fromBlock);
  const outputs: string[] = [];
  for (const h of await contract.countedHashes(jobId)) {
    const o = await outputBytes(h, byHash, source);
    if (o === undefined) return undefined;
    outputs.push(o);
  }
  return outputs;
}

/** An output's bytes (0x-hex): inline from the events, else from `source` if they hash to `outputHash`. */
async function outputBytes(outputHash: string, inline: Map<string, string>, source?: OutputSource): Promise<string | undefined> {
  const known = inline.get(outputHash);
  if (known !== undefined || source === undefined) return known;
  const bytes = await source(outputHash).catch(() => undefined);
  if (bytes === undefined) return undefined;
  try {
    return hashBundleEncoded(bytes).toLowerCase() === outputHash.toLowerCase() ? hexlify(bytes) : undefined;
  } catch {
    return undefined; // not a tensor at all
  }
}

/** The job's inline input, from the oracle's InferenceRequested event of one of its requests. */
async function jobInput(provider: Provider, oracleAddress: string, requestId: string, fromBlock: number): Promise<string> {
  const topic = ORACLE_EVENTS.getEvent("InferenceRequested").topicHash;
  const [log] = await provider.getLogs({ address: oracleAddress, topics: [topic, requestId], fromBlock, toBlock: "latest" });
  if (!log) throw new OracleSdkError("REQUEST_NOT_FOUND", `no InferenceRequested event for ${requestId}`);
  return ORACLE_EVENTS.parseLog(log)!.args.input as string;
}

/** Sends every action `jobActions` finds (from `contract`'s signer), until none is left; returns what was sent. */
export async function advanceJob(contract: RedundantInference, oracleAddress: string, jobId: bigint, o: { fromBlock?: number; outputs?: OutputSource } = {}): Promise<Array<JobAction["kind"]>> {
  const signer = contract.runner as { sendTransaction?: (tx: ContractTransaction) => Promise<{ wait(): Promise<unknown> }> } | null;
  if (!signer?.sendTransaction) throw new OracleSdkError("INPUT_INVALID", "advanceJob needs a contract connected to a signer");
  const sent: Array<JobAction["kind"]> = [];
  for (let round = 0; round < 4; round++) {
    const actions = await jobActions(contract, oracleAddress, jobId, o);
    if (actions.length === 0) break;
    for (const a of actions) {
      await (await signer.sendTransaction(await a.build())).wait();
      sent.push(a.kind);
    }
  }
  return sent;
}
