/** The challenger daemon's options, outcomes and saved state (challenger/daemon.ts). */
import type { Logger } from "pino";
import type { ContractRunner } from "ethers";
import type { BlobAuth } from "../protocol/index.js";
import type { GameClientOptions, PlayResult } from "../protocol/fraud-game-client.js";
import type { CanonicalAuditConfig } from "./canonical-audit.js";

export interface DaemonPolicy {
  /** The most wei of challenge bonds in open disputes at once. */
  maxBondAtRisk: bigint;
}

export interface DaemonOptions {
  oracleAddress: string;
  /** The challenger's signer (pays bonds, receives rewards). */
  runner: ContractRunner;
  blobStoreUrl: string;
  /** Signs every read from the blob store (protocol/blobAuth.ts); anonymous when absent. */
  blobAuth?: BlobAuth;
  policy: DaemonPolicy;
  /** The first block audited (default 0). */
  startBlock?: number;
  /** Called after each transaction the daemon sends is mined (timelines, metrics). */
  onTransaction?: (tx: DaemonTransaction) => void;
  /**
   * Blob fetching. A 429, 5xx, timeout or reset is never taken for a missing
   * blob: the blob is asked again `attempts` times with backoff from `backoffMs`, then the whole audit
   * is deferred and re-run at a later poll (after `retryBaseMs`, doubling up to `retryMaxMs`) until the
   * result's challenge window closes. `maxAuditBytes` caps what one audit downloads in all (each row is
   * also capped at its registered dtype x shape).
   */
  fetch?: { attempts?: number; backoffMs?: number; retryBaseMs?: number; retryMaxMs?: number; maxAuditBytes?: number; timeoutMs?: number };
  /** Audits run at once (downloads overlap; checks share the CPU); the nearest deadline first. Default 4. */
  concurrency?: number;
  /** A JSON file the cursor and pending audits are saved to (and read from at the first poll). */
  statePath?: string;
  /** An audit started this often without finishing (a crash, a hang) is given up. Default 2. */
  maxAuditStarts?: number;
  /** Called after each result's audit with its outcome and how long it took (metrics). */
  onAudit?: (audit: { requestId: string; modelHash?: string; outcome: AuditOutcome; ms: number }) => void;
  logger?: Logger;
  /**
   * FraudGame play: a result whose request's resolver is a FraudGame on this oracle (detected on-chain
   * and remembered per resolver; `games`, when given, restricts it to those deployments) is audited
   * canonically (challenger/canonical-audit.ts: the model's ONNX file from `models`, the input and the signed
   * output from the blob store, τ_out and precision from the registered CanonicalTerms) instead of from a
   * published trace, and beyond τ_out disputed through the game and played to the ruling
   * (protocol/fraud-game-client.ts GameChallenger), every move under the daemon's transaction lock.
   */
  fraudGames?: {
    /** Play only these FraudGame deployments (default: every FraudGame a model of this oracle is resolved by). */
    games?: readonly string[];
    /** ONNX bytes and committed input shape by modelHash (lowercase). */
    models: ReadonlyMap<string, { bytes: Uint8Array; inputShape: number[] }>;
    audit: CanonicalAuditConfig;
    client?: GameClientOptions;
  };
}

export interface DaemonTransaction {
  label: "challenge" | "gameMove" | "claimDispute" | "withdraw";
  requestId?: string;
  hash: string;
  gasUsed: bigint;
  /** Ether sent with it (the bond, for a challenge). */
  value: bigint;
  at: number;
}

export type AuditOutcome =
  | { kind: "skipped"; reason: string }
  /** The blob store did not answer definitively (429, 5xx, timeout): audited again at a later poll. */
  | { kind: "deferred"; reason: string; retryAt: number }
  | { kind: "honest"; checkedElements: number }
  /** A FraudGame result audited canonically and disputed beyond τ_out: the game played to its ruling (IDisputeGame.Ruling). */
  | { kind: "gamePlayed"; ruling: number; outcome: PlayResult["outcome"]; moves: number; rounds: number };

export interface Submitted {
  requestId: string;
  /** The transaction that submitted the result (its logs rebuild the batch proof). */
  txHash: string;
  worker: string;
  relayer: string;
  outputHash: string;
  /** End of the challenge window (chain time, seconds); unknown when audit() is called without it. */
  challengeDeadline?: bigint;
}

/** What `statePath` holds (JSON; bigints as decimal strings). */
export interface SavedState {
  version: 1;
  fromBlock: number;
  pending: Array<Omit<Submitted, "challengeDeadline"> & { challengeDeadline?: string }>;
  deferred: Array<[string, { tries: number; retryAt: number }]>;
  starts: Array<[string, number]>;
  /** v1 data-availability challenges (retired): an older state file may still hold it; it is ignored. */
  withheld?: unknown;
  atRisk: string;
  /** Disputes the daemon joined and has not claimed or seen lost yet: requestId → attempt. */
  joined?: Array<[string, number]>;
}

export interface Deferred {
  submitted: Submitted;
  tries: number;
  retryAt: number;
}
