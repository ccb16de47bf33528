/**
 * The relayer's domain events: every log the EventWatcher reads (the oracle's, and those of the
 * ChainedInference and RedundantInference contracts it serves) decoded once, here, into typed
 * values that its subscribers (request ledger, job dispatcher, dashboard, chain advancer,
 * redundancy attester) act on. No other part of the relayer parses logs of these contracts.
 */
import { Interface, type Log, type LogDescription } from "ethers";
import { IInferenceOracle__factory, IOracleTokenFees__factory, decodeRecords, FLAG_OPTIMISTIC } from "../protocol/index.js";
import { ChainedInference__factory, RedundantInference__factory } from "../sdk/index.js";

/** Where an event was emitted. */
export interface EventOrigin {
  block: number;
  blockHash: string;
  txHash: string;
  logIndex: number;
}

interface Base<K extends string> {
  kind: K;
  at: EventOrigin;
}

export type DomainEvent =
  | (Base<"requested"> & { requestId: string; requester: string; modelHash: string; inputHash: string; tier: number; fee: string; deadline: number; callbackGasLimit: number; input: string; inputURI: string })
  /**
   * One accepted result of a ResultBatchSubmitted (a record of the batch event). `optimistic`: it awaits
   * its challenge window, which ends at `challengeDeadline`; otherwise (NONE/ZK) it was final in the same
   * call (its `fulfilled` came first) and `challengeDeadline` is the submission time.
   */
  | (Base<"resultSubmitted"> & { requestId: string; worker: string; relayer: string; outputHash: string; challengeDeadline: number; attempt: number; optimistic: boolean })
  | (Base<"resultSkipped"> & { requestId: string; reason: string })
  /** `outputDelivered`: the output reached the callback inline (false: its hash only, a large output). */
  | (Base<"fulfilled"> & { requestId: string; outputHash: string; callbackSucceeded: boolean; outputDelivered: boolean })
  /** An ERC-20 fee escrowed for a request (IOracleTokenFees). */
  | (Base<"tokenFeeEscrowed"> & { requestId: string; token: string; amount: bigint; ownerFee: bigint })
  | (Base<"tokenRefundClaimed"> & { requestId: string; amount: bigint })
  | (Base<"refunded"> & { requestId: string; requester: string; reason: number })
  /** A worker's rejection was recorded: `rejections` of the `quorum` that refunds the request. */
  | (Base<"rejectionRecorded"> & { requestId: string; worker: string; rejections: number; quorum: number })
  | (Base<"challengeOpened"> & { requestId: string; deadline: number })
  /** `workerRight`: Ruling.WorkerRight, the result stands. */
  | (Base<"disputeResolved"> & { requestId: string; ruling: number; workerRight: boolean; byDefault: boolean })
  | (Base<"reopened"> & { requestId: string; deadline: number; disqualifiedWorker: string })
  | (Base<"workerRegistered"> & { operator: string; signer: string })
  | (Base<"signerChanged"> & { operator: string; newSigner: string })
  | (Base<"workerSlashed"> & { operator: string; amount: bigint })
  /** A ChainedInference step was delivered: the chain may be Ready for `advance`. */
  | (Base<"chainStepDelivered"> & { contract: string; chainId: bigint })
  /** The oracle refunded a token chain's running step: the chain waits for `reconcile`. */
  | (Base<"chainStepRefundPending"> & { contract: string; chainId: bigint })
  /** A RedundantInference job got an answer (delivered or refunded): it may need attesting or closing. */
  | (Base<"redundantAnswer"> & { contract: string; jobId: bigint });

export type DomainEventKind = DomainEvent["kind"];
export type EventOf<K extends DomainEventKind> = Extract<DomainEvent, { kind: K }>;

/** Ruling.WorkerRight in IInferenceOracle. */
const WORKER_RIGHT = 1;

/** The oracle's ABI with its ERC-20 fee events (IOracleTokenFees), which the same address emits. */
export const ORACLE_EVENTS = new Interface([
  ...IInferenceOracle__factory.abi,
  ...IOracleTokenFees__factory.abi.filter((f) => f.type === "event"),
]);
const CHAINED_EVENTS = new Interface(ChainedInference__factory.abi);
const REDUNDANT_EVENTS = new Interface(RedundantInference__factory.abi);

/** The contracts whose logs are read, by role. */
export interface EventSources {
  oracle: string;
  chained: Iterable<string>;
  redundant: Iterable<string>;
}

function originOf(log: Log): EventOrigin {
  return { block: log.blockNumber, blockHash: log.blockHash, txHash: log.transactionHash, logIndex: log.index };
}

function parse(iface: Interface, log: Log): LogDescription | null {
  try {
    return iface.parseLog({ topics: [...log.topics], data: log.data });
  } catch {
    return null;
  }
}

/** The name of the custom error a ResultSkipped reason selector stands for (the selector when unknown). */
export function skipReason(selector: string): string {
  return ORACLE_EVENTS.getError(selector)?.name ?? selector;
}

/**
 * The result events of one oracle log. The only place that knows how results appear on-chain: one
 * ResultBatchSubmitted per batch with a record per accepted result (protocol/batch-wire.ts), expanded
 * here into one `resultSubmitted` per result.
 */
export function decodeResults(parsed: LogDescription, at: EventOrigin): DomainEvent[] {
  const a = parsed.args;
  if (parsed.name === "ResultBatchSubmitted") {
    return decodeRecords(String(a.records)).map((r) => ({
      kind: "resultSubmitted", at, requestId: r.requestId.toLowerCase(), worker: String(a.worker), relayer: String(a.payee), outputHash: r.outputHash,
      challengeDeadline: r.time, attempt: r.attempt, optimistic: (r.flags & FLAG_OPTIMISTIC) !== 0,
    }));
  }
  if (parsed.name === "ResultSkipped") return [{ kind: "resultSkipped", at, requestId: String(a.requestId).toLowerCase(), reason: skipReason(String(a.reason)) }];
  return [];
}

function decodeOracle(parsed: LogDescription, at: EventOrigin): DomainEvent[] {
  const a = parsed.args;
  const requestId = a.requestId === undefined ? "" : String(a.requestId).toLowerCase();
  switch (parsed.name) {
    case "InferenceRequested":
      return [{
        kind: "requested", at, requestId, requester: String(a.requester), modelHash: String(a.modelHash), inputHash: String(a.inputHash), tier: Number(a.tier),
        fee: String(a.fee), deadline: Number(a.deadline), callbackGasLimit: Number(a.callbackGasLimit), input: String(a.input), inputURI: String(a.inputURI),
      }];
    case "RequestFulfilled":
      return [{ kind: "fulfilled", at, requestId, outputHash: String(a.outputHash), callbackSucceeded: Boolean(a.callbackSucceeded), outputDelivered: Boolean(a.outputDelivered) }];
    case "TokenFeeEscrowed":
      return [{ kind: "tokenFeeEscrowed", at, requestId, token: String(a.token), amount: BigInt(a.amount), ownerFee: BigInt(a.ownerFee) }];
    case "TokenRefundClaimed":
      return [{ kind: "tokenRefundClaimed", at, requestId, amount: BigInt(a.amount) }];
    case "RequestRefunded":
      return [{ kind: "refunded", at, requestId, requester: String(a.requester), reason: Number(a.reason) }];
    case "RejectionRecorded":
      return [{ kind: "rejectionRecorded", at, requestId, worker: String(a.worker), rejections: Number(a.rejections), quorum: Number(a.quorum) }];
    case "ChallengeOpened":
      return [{ kind: "challengeOpened", at, requestId, deadline: Number(a.deadline) }];
    case "DisputeResolved":
      return [{ kind: "disputeResolved", at, requestId, ruling: Number(a.ruling), workerRight: Number(a.ruling) === WORKER_RIGHT, byDefault: Boolean(a.byDefault) }];
    case "RequestReopened":
      return [{ kind: "reopened", at, requestId, deadline: Number(a.deadline), disqualifiedWorker: String(a.disqualifiedWorker) }];
    case "WorkerRegistered":
      return [{ kind: "workerRegistered", at, operator: String(a.operator), signer: String(a.signer) }];
    case "SignerChanged":
      return [{ kind: "signerChanged", at, operator: String(a.operator), newSigner: String(a.newSigner) }];
    case "WorkerSlashed":
      return [{ kind: "workerSlashed", at, operator: String(a.operator), amount: BigInt(a.amount) }];
    default:
      return decodeResults(parsed, at);
  }
}

/** Decodes logs (in chain order) into domain events; logs of other contracts or events are ignored. */
export function decodeEvents(logs: readonly Log[], sources: EventSources): DomainEvent[] {
  const oracle = sources.oracle.toLowerCase();
  const chained = new Set([...sources.chained].map((a) => a.toLowerCase()));
  const redundant = new Set([...sources.redundant].map((a) => a.toLowerCase()));
  const out: DomainEvent[] = [];
  for (const log of logs) {
    const address = log.address.toLowerCase();
    const at = originOf(log);
    if (address === oracle) {
      const parsed = parse(ORACLE_EVENTS, log);
      if (parsed !== null) out.push(...decodeOracle(parsed, at));
    } else if (chained.has(address)) {
      const parsed = parse(CHAINED_EVENTS, log);
      if (parsed?.name === "ChainStepDelivered") out.push({ kind: "chainStepDelivered", at, contract: address, chainId: BigInt(parsed.args.chainId) });
      else if (parsed?.name === "ChainStepRefundPending") out.push({ kind: "chainStepRefundPending", at, contract: address, chainId: BigInt(parsed.args.chainId) });
    } else if (redundant.has(address)) {
      const parsed = parse(REDUNDANT_EVENTS, log);
      if (parsed?.name === "AnswerDelivered" || parsed?.name === "AnswerRefunded") out.push({ kind: "redundantAnswer", at, contract: address, jobId: BigInt(parsed.args.jobId) });
    }
  }
  return out;
}

/** Whether an event concerns one request (and which). */
export function requestIdOf(event: DomainEvent): string | undefined {
  return "requestId" in event ? event.requestId : undefined;
}

/**
 * A part of the relayer that acts on events. `onEvents` gets every event of a confirmed block range
 * in chain order, before the watcher saves its cursor past it (so a crash hands them over again:
 * handlers must be idempotent); `onRewind` is told when a reorg rewinds the cursor to `forkBlock`
 * (it may return how many requests it found changed, for the watcher's reorg record).
 */
export interface EventSubscriber {
  onEvents(events: readonly DomainEvent[], range: { from: number; to: number }): Promise<void> | void;
  onRewind?(forkBlock: number): Promise<number | void> | number | void;
}
