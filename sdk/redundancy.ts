/**
 * Redundancy (issue 18, contracts/redundancy/RedundantInference.sol): one request answered by k distinct
 * staked workers. This module requests a job, reads its state, and moves it on: it attests the worker of
 * every fulfilled answer (the record and Merkle proof of its committed batch leaf, rebuilt from the logs of
 * the transaction that submitted it), replaces duplicate or refunded answers from the reserve, and delivers
 * a decided job to the requester's consumer with the agreed output's bytes (read from the AnswerDelivered
 * event). Anyone may do each of these; the relayer's attester (relayer/redundancy-attester.ts) does them
 * for the contracts it watches.
 */
import { type ContractRunner, type ContractTransaction, type Provider, type TransactionReceipt } from "ethers";
import { IInferenceOracle__factory } from "../protocol/contracts.js";
import { proofFromLogs, querySubmitted, type ResultProof } from "../protocol/batch.js";
import { RedundantInference__factory, type RedundantInference } from "../types/ethers-contracts/index.js";
import { OracleSdkError } from "./errors.js";

export { RedundantInference__factory, type RedundantInference };

/** RedundantInference.JobStatus. */
export enum JobStatus {
  None = 0,
  Open = 1,
  Agreed = 2,
  Disagreed = 3,
  Incomplete = 4,
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
  /** Wei per oracle request (model fee + worker fee + the answer callback's gas). */
  fee: bigint;
  deadline: bigint;
  consumerGas?: number;
}

/** Requests a job (msg.value = (k + reserve) x fee); returns its id. */
export async function requestRedundant(contract: RedundantInference, o: RedundantRequestOptions): Promise<{ jobId: bigint; receipt: TransactionReceipt }> {
  const reserve = o.reserve ?? 0;
  if (!Number.isInteger(o.k) || o.k < 2 || o.k > 8) throw new OracleSdkError("INPUT_INVALID", `redundancy k must be 2..8, got ${o.k}`);
  if (!Number.isInteger(reserve) || reserve < 0 || reserve > 8) throw new OracleSdkError("INPUT_INVALID", `redundancy reserve must be 0..8, got ${reserve}`);
  const tx = await contract.request(
    {
      modelHash: o.modelHash,
      inputHash: o.inputHash ?? "0x" + "00".repeat(32),
      input: o.input ?? "0x",
      inputURI: o.inputURI ?? "",
      k: o.k,
      reserve,
      fee: o.fee,
      deadline: o.deadline,
      consumerGas: o.consumerGas ?? 0,
    },
    { value: (BigInt(o.k) + BigInt(reserve)) * o.fee },
  );
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

/** One transaction that moves a job on (attest, replace or deliver). */
export interface JobAction {
  kind: "attest" | "replace" | "deliver" | "close";
  build: () => Promise<ContractTransaction>;
}

/**
 * What can be sent now to move `jobId` on: an attestation for every answer the oracle fulfilled and nobody
 * attested, a replacement for every duplicate or refunded answer while the reserve and the deadline last,
 * the delivery of a decided job, and `close` of an open job past its closeAt. Attestations decide the job, so a caller sends them, then asks again.
 */
export async function jobActions(contract: RedundantInference, oracleAddress: string, jobId: bigint, o: { fromBlock?: number } = {}): Promise<JobAction[]> {
  const provider = contract.runner?.provider;
  if (!provider) throw new OracleSdkError("INPUT_INVALID", "the RedundantInference contract needs a runner with a provider");
  const address = await contract.getAddress();
  const oracle = IInferenceOracle__factory.connect(oracleAddress, provider);
  const job = await contract.getJob(jobId);
  const status = Number(job.status) as JobStatus;
  const actions: JobAction[] = [];
  const fromBlock = o.fromBlock ?? 0;
  const iface = RedundantInference__factory.createInterface();
  const now = BigInt((await provider.getBlock("latest"))!.timestamp);
  if (status === JobStatus.Open && now > job.closeAt) {
    // The default outcome: Incomplete, the unused reserve refunded.
    actions.push({ kind: "close", build: () => contract.close.populateTransaction(jobId) });
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
    if (status === JobStatus.Agreed) {
      const logs = await provider.getLogs({ address, topics: [iface.getEvent("AnswerDelivered").topicHash, "0x" + jobId.toString(16).padStart(64, "0")], fromBlock, toBlock: "latest" });
      for (const log of logs) {
        const e = iface.parseLog(log)!;
        if (e.args.outputHash === job.outputHash && e.args.output !== "0x") output = e.args.output as string;
      }
    }
    actions.push({ kind: "deliver", build: () => contract.deliver.populateTransaction(jobId, output) });
  }
  return actions;
}

/** The job's inline input, from the oracle's InferenceRequested event of one of its requests. */
async function jobInput(provider: Provider, oracleAddress: string, requestId: string, fromBlock: number): Promise<string> {
  const topic = ORACLE_EVENTS.getEvent("InferenceRequested").topicHash;
  const [log] = await provider.getLogs({ address: oracleAddress, topics: [topic, requestId], fromBlock, toBlock: "latest" });
  if (!log) throw new OracleSdkError("REQUEST_NOT_FOUND", `no InferenceRequested event for ${requestId}`);
  return ORACLE_EVENTS.parseLog(log)!.args.input as string;
}

/** Sends every action `jobActions` finds (from `contract`'s signer), until none is left; returns what was sent. */
export async function advanceJob(contract: RedundantInference, oracleAddress: string, jobId: bigint, o: { fromBlock?: number } = {}): Promise<Array<JobAction["kind"]>> {
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
