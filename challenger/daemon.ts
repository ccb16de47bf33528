/**
 * The challenger daemon (docs/OPTIMISTIC.md, "Challenger daemon"): watches ResultSubmitted, audits
 * every OPTIMISTIC result of a model it has the ONNX file of, and disputes what it can prove.
 *
 * Per result whose request's resolver is a FraudGame of this oracle: re-run the model canonically on the
 * request's input and compare with the signed output (challenger/canonical-audit.ts); beyond τ_out, open or
 * join the dispute with the oracle's bond and play the game to its ruling (trace on demand: the worker
 * commits its trace only once disputed). Results sign no trace root (docs/V2.md §3), so a result under any
 * other resolver is skipped: the v1 audit of published traces is retired. The total of bonds in open
 * disputes never exceeds `maxBondAtRisk`. Rewards are withdrawn with `withdraw()`.
 */
import { signedGetHeaders, type BlobAuth } from "../protocol/blobAuth.js";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { ContractRunner, ContractTransactionResponse, Signer } from "ethers";
import { tauFromBits } from "../canonical/descent.js";
import { PRECISIONS, type Precision } from "../canonical/float.js";
import { GameChallenger, type GameClientOptions, type PlayResult } from "../protocol/fraud-game-client.js";
import { auditResult, canonicalOutput, ProgramCache, type CanonicalAuditConfig } from "./canonical-audit.js";
import { putBlob } from "../worker/blobs.js";
import type { Logger } from "pino";
import { fetchBytes } from "../protocol/fetch.js";
import { retry, type RetryOptions } from "../protocol/retry.js";
import { decodeTensor, dtypeFromCode, encodeTensor, hashEncoded, hashTensor, type Tensor } from "../protocol/tensor.js";
import type { Hex } from "../protocol/types.js";
import { FraudGame__factory, IInferenceOracle__factory, IModelRegistry__factory } from "../types/ethers-contracts/index.js";
import { openChallenge } from "./dispute.js";
import { isError } from "../protocol/errors.js";
import { ChallengerError, isChallengerError } from "./errors.js";
import { DEFAULT_MAX_AUDIT_BYTES, encodedSize } from "./blob-limits.js";

const OPTIMISTIC = 1n;
/** IInferenceOracle.RequestStatus.Challenged: a dispute is open on the current result. */
const CHALLENGED = 3n;

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
   * Blob fetching (issue 13, finding 7). A 429, 5xx, timeout or reset is never taken for a missing
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
   * FraudGame play (issue 11): a result whose request's resolver is a FraudGame on this oracle (detected on-chain
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

interface Submitted {
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
interface SavedState {
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

interface Deferred {
  submitted: Submitted;
  tries: number;
  retryAt: number;
}

/** The store could not answer now: audit again later (not a fault of the worker). */
function isTransient(error: unknown): boolean {
  return isChallengerError(error, "BLOB_STORE_UNAVAILABLE");
}

export class ChallengerDaemon {
  private readonly oracle;
  private fromBlock = 0;
  private atRisk = 0n;
  /** Disputes this daemon opened or joined, not yet claimed or lost: requestId → attempt. */
  private readonly joined = new Map<string, number>();
  /** Audits the blob store could not serve yet, by requestId. */
  private readonly deferred = new Map<string, Deferred>();
  /** Results read from the chain and not audited yet (new, or deferred), by requestId. */
  private readonly pending = new Map<string, Submitted>();
  /** How often each pending audit was started (persisted: a crash mid-audit counts). */
  private readonly starts = new Map<string, number>();
  /** Audits in progress in this process, by requestId. */
  private readonly running = new Set<string>();
  private txLock: Promise<void> = Promise.resolve();
  private loaded = false;
  /** Canonical programs lowered for the FraudGame audits, by model. */
  private readonly programs = new ProgramCache();
  /** Resolver address (lowercase) → whether it is a FraudGame of this oracle. */
  private readonly gameResolvers = new Map<string, Promise<boolean>>();

  constructor(private readonly options: DaemonOptions) {
    this.oracle = IInferenceOracle__factory.connect(options.oracleAddress, options.runner);
    this.fromBlock = options.startBlock ?? 0;
  }

  /**
   * Audits every ResultSubmitted since the last poll, and the deferred audits that are due; returns the
   * outcomes by requestId. Audits run `concurrency` at a time, the nearest challenge deadline first.
   * With `statePath`, the block cursor, the pending and deferred audits, the joined disputes and
   * how often each audit was started are saved before and after every audit: a restart resumes where
   * it stopped, and an audit that was started `maxAuditStarts` times without finishing (it crashed or
   * hung the challenger) is not started again.
   */
  async poll(): Promise<Map<string, AuditOutcome>> {
    this.load();
    const provider = this.options.runner.provider!;
    const latest = await provider.getBlockNumber();
    const outcomes = new Map<string, AuditOutcome>();
    const logs = latest < this.fromBlock ? [] : await this.oracle.queryFilter(this.oracle.filters.ResultSubmitted(), this.fromBlock, latest);
    for (const log of logs) {
      const [requestId, worker, relayer, outputHash, challengeDeadline] = log.args;
      this.pending.set(requestId, { requestId, txHash: log.transactionHash, worker, relayer, outputHash, challengeDeadline });
    }
    this.fromBlock = Math.max(this.fromBlock, latest + 1);
    this.save(); // the cursor moves on; what it passed is in `pending` until audited
    const now = Date.now();
    // Unknown deadlines last; an audit still running (a poll() called while another is in flight) is left to it.
    const deadline = (r: Submitted) => r.challengeDeadline ?? 2n ** 64n;
    const due = [...this.pending.values()]
      .filter((r) => !this.running.has(r.requestId) && (this.deferred.get(r.requestId)?.retryAt ?? 0) <= now)
      .sort((a, b) => (deadline(a) < deadline(b) ? -1 : deadline(a) > deadline(b) ? 1 : 0));
    const maxStarts = Math.max(1, this.options.maxAuditStarts ?? 2);
    let next = 0;
    const lane = async () => {
      while (next < due.length) {
        const submitted = due[next++]!;
        const requestId = submitted.requestId;
        const started = performance.now();
        const starts = (this.starts.get(requestId) ?? 0) + 1;
        let outcome: AuditOutcome;
        if (starts > maxStarts) {
          outcome = { kind: "skipped", reason: `the audit was started ${starts - 1} times without finishing (the challenger crashed or was stopped): not started again` };
          this.options.logger?.warn({ requestId, starts: starts - 1 }, "audit abandoned: it never finished");
          this.pending.delete(requestId);
          this.deferred.delete(requestId);
        } else {
          this.starts.set(requestId, starts);
          this.save();
          this.running.add(requestId);
          outcome = await this.audit(submitted)
            .catch((error: unknown) => {
              this.options.logger?.warn({ err: error, requestId }, "audit failed");
              return { kind: "skipped", reason: (error as Error).message } as AuditOutcome;
            })
            .finally(() => this.running.delete(requestId));
          if (outcome.kind !== "deferred") this.pending.delete(requestId);
        }
        this.starts.delete(requestId);
        this.save();
        outcomes.set(requestId, outcome);
        this.options.onAudit?.({ requestId, outcome, ms: performance.now() - started });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency ?? 4) }, lane));
    return outcomes;
  }

  /** Reads the saved state once (statePath), if there is one. */
  private load() {
    if (this.loaded) return;
    this.loaded = true;
    const path = this.options.statePath;
    if (path === undefined || !existsSync(path)) return;
    const state = JSON.parse(readFileSync(path, "utf8")) as SavedState;
    if (state.version !== 1) throw new Error(`${path}: unknown challenger state version ${String(state.version)}`);
    this.fromBlock = Math.max(this.fromBlock, state.fromBlock);
    for (const r of state.pending) this.pending.set(r.requestId, { ...r, ...(r.challengeDeadline === undefined ? {} : { challengeDeadline: BigInt(r.challengeDeadline) }) } as Submitted);
    for (const [id, d] of state.deferred) {
      const submitted = this.pending.get(id);
      if (submitted !== undefined) this.deferred.set(id, { submitted, tries: d.tries, retryAt: d.retryAt });
    }
    for (const [id, n] of state.starts) this.starts.set(id, n);
    for (const [id, attempt] of state.joined ?? []) this.joined.set(id, attempt);
    this.atRisk = BigInt(state.atRisk);
  }

  /** Writes the state (statePath) atomically: a temporary file renamed over the old one. */
  private save() {
    const path = this.options.statePath;
    if (path === undefined) return;
    const state: SavedState = {
      version: 1,
      fromBlock: this.fromBlock,
      pending: [...this.pending.values()].map(({ challengeDeadline, ...r }) => ({ ...r, ...(challengeDeadline === undefined ? {} : { challengeDeadline: challengeDeadline.toString() }) })),
      deferred: [...this.deferred].map(([id, d]) => [id, { tries: d.tries, retryAt: d.retryAt }]),
      starts: [...this.starts],
      atRisk: this.atRisk.toString(),
      joined: [...this.joined],
    };
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, path);
  }

  /** Audits waiting for the blob store to answer (deferred), by requestId with when they are retried. */
  pendingRetries(): Map<string, number> {
    return new Map([...this.deferred].map(([id, d]) => [id, d.retryAt]));
  }

  /** Chain time now (seconds). */
  private async chainNow(): Promise<bigint> {
    return BigInt((await this.options.runner.provider!.getBlock("latest"))!.timestamp);
  }

  /**
   * The audit, with a transient blob-store failure turned into a deferral: retried at a later poll with
   * backoff while the challenge window is open, then given up (skipped), never a challenge.
   */
  async audit(r: Submitted): Promise<AuditOutcome> {
    const chainNow = r.challengeDeadline === undefined ? undefined : await this.chainNow();
    // Past the challenge window a result can still be joined while a dispute someone else opened on it
    // is open (docs/V2.md §5): the daemon audits it and joins instead of skipping it.
    const joinable = r.challengeDeadline !== undefined && chainNow! >= r.challengeDeadline && (await this.openDisputeDeadline(r.requestId)) > chainNow!;
    if (r.challengeDeadline !== undefined && chainNow! >= r.challengeDeadline && !joinable) {
      this.deferred.delete(r.requestId);
      this.pending.delete(r.requestId);
      return { kind: "skipped", reason: "the challenge window has closed" };
    }
    // No try is started later than the window allows (wall clock, from the chain's remaining time).
    const until = joinable ? await this.openDisputeDeadline(r.requestId) : r.challengeDeadline;
    const retryUntil = until === undefined ? undefined : Date.now() + Number(until - chainNow!) * 1000;
    try {
      const outcome = await this.auditOnce(r, retryUntil);
      this.deferred.delete(r.requestId);
      this.pending.delete(r.requestId);
      return outcome;
    } catch (error) {
      if (!isTransient(error)) {
        this.deferred.delete(r.requestId);
        this.pending.delete(r.requestId);
        throw error;
      }
      const tries = (this.deferred.get(r.requestId)?.tries ?? 0) + 1;
      const f = this.options.fetch ?? {};
      const delay = Math.min(f.retryMaxMs ?? 300_000, (f.retryBaseMs ?? 15_000) * 2 ** (tries - 1));
      const retryAt = Date.now() + delay;
      if (retryUntil !== undefined && retryAt >= retryUntil) {
        this.deferred.delete(r.requestId);
        this.pending.delete(r.requestId);
        this.options.logger?.warn({ err: error, requestId: r.requestId, tries }, "the blob store did not serve this trace within the challenge window; no challenge");
        return { kind: "skipped", reason: "the blob store was unavailable until the challenge window closed" };
      }
      this.deferred.set(r.requestId, { submitted: r, tries, retryAt });
      this.pending.set(r.requestId, r);
      this.options.logger?.info({ err: error, requestId: r.requestId, tries, retryAt }, "blob store unavailable: audit deferred");
      return { kind: "deferred", reason: (error as Error).message, retryAt };
    }
  }

  /** The deadline of the dispute open on the request's current result, or 0 when none is open. */
  private async openDisputeDeadline(requestId: string): Promise<bigint> {
    const request = await this.oracle.getRequest(requestId);
    return request.status === CHALLENGED ? request.timeout : 0n;
  }

  /** The request's dispute resolver, fixed when the request was made (not the model's current one). */
  /**
   * Whether `resolver` is a FraudGame of this oracle: its `oracle()` is this oracle and it answers the game's
   * views (`responseTime`, `maxAttacks`). Remembered per address (a resolver's code never changes).
   */
  private isGame(resolver: string): Promise<boolean> {
    const key = resolver.toLowerCase();
    let known = this.gameResolvers.get(key);
    if (known === undefined) {
      const game = FraudGame__factory.connect(resolver, this.options.runner);
      known = Promise.all([game.oracle(), game.responseTime(), game.maxAttacks()])
        .then(([oracle]) => oracle.toLowerCase() === this.options.oracleAddress.toLowerCase())
        .catch((error: unknown) => {
          // A contract without the game's views reverts or returns nothing: not a game. The node unreachable or
          // failing: asked again next time.
          const code = (error as { code?: unknown }).code;
          if (code !== "NETWORK_ERROR" && code !== "TIMEOUT" && code !== "SERVER_ERROR") return false;
          this.gameResolvers.delete(key);
          throw error;
        });
      this.gameResolvers.set(key, known);
    }
    return known;
  }

  /** The challenge bond of the params version the request was made under. */
  private async bondOf(requestId: string): Promise<bigint> {
    const { paramsVersion } = await this.oracle.getRequest(requestId);
    return (await this.oracle.paramsAt(paramsVersion)).challengeBond;
  }

  /** Headers that sign reads from the configured blob store (none elsewhere, none without a key). */
  private signedReads(): { headers?: (url: URL) => Record<string, string> } {
    const headers = signedGetHeaders(this.options.blobAuth, this.options.blobStoreUrl);
    return headers === undefined ? {} : { headers };
  }

  /**
   * The request's input, at most its registered encoded size. A 429/5xx/timeout is retried and then
   * BLOB_STORE_UNAVAILABLE (the audit is deferred); a 404 or wrong bytes end the audit (the input is
   * the requester's, not the worker's: nothing to challenge).
   */
  private async fetchInput(inputHash: string, retryUntil: number | undefined, maxBytes: number): Promise<Tensor> {
    const bytes = await retry(() => this.storeBytes(inputHash, maxBytes), this.blobRetry(inputHash, "input blob", retryUntil));
    if (hashEncoded(bytes).toLowerCase() !== inputHash.toLowerCase()) throw new Error(`input blob ${inputHash} does not match its hash`);
    return decodeTensor(bytes);
  }

  /**
   * Opens a dispute, or joins the one already open on the result (someone else's, perhaps a sock of the
   * worker's that will never prove: any joiner may prove), if the bond budget allows; false when it does
   * not.
   */
  private async challenge(r: Submitted): Promise<boolean> {
    const me = await (this.options.runner as unknown as { getAddress(): Promise<string> }).getAddress();
    const receipt = await this.options.runner.provider!.getTransactionReceipt(r.txHash);
    if (receipt === null) throw new Error(`no receipt for the submitting transaction ${r.txHash}`);
    const oracle = await this.oracle.getAddress();
    if (!(await this.oracle.isChallenger(r.requestId, me))) {
      const bond = await this.bondOf(r.requestId);
      if (this.atRisk + bond > this.options.policy.maxBondAtRisk) return false;
      // Reserved before any await: concurrent audits never pass maxBondAtRisk together.
      this.atRisk += bond;
      try {
        await this.mined("challenge", r.requestId, () => openChallenge(this.oracle as never, oracle, r.requestId, receipt.logs, bond) as Promise<ContractTransactionResponse>);
      } catch (error) {
        this.released(bond);
        throw error;
      }
    }
    const request = await this.oracle.getRequest(r.requestId);
    this.joined.set(r.requestId, Number(request.attempt));
    return true;
  }

  /**
   * Claims the daemon's share of a dispute the worker lost (WorkerFault/OutputMinor), read from the
   * ruling transaction's DisputeResolved event; the share lands in the oracle balance (`withdraw`).
   */
  private async claimFrom(requestId: string, receipt: { logs: readonly { topics: readonly string[]; data: string }[] } | null): Promise<void> {
    for (const log of receipt?.logs ?? []) {
      let parsed;
      try {
        parsed = this.oracle.interface.parseLog(log as { topics: string[]; data: string });
      } catch {
        continue;
      }
      if (parsed?.name !== "DisputeResolved" || Number(parsed.args.ruling) < 2) continue;
      const attempt = Number(parsed.args.attempt);
      await this.mined("claimDispute", requestId, () => this.oracle.claimDispute(requestId, attempt));
      this.joined.delete(requestId);
    }
  }

  /**
   * Claims the shares of every joined dispute that another joiner (or a timeout) won, and forgets
   * those the worker won; open ones are kept for a later sweep.
   */
  private async claimWon(): Promise<void> {
    for (const [requestId, attempt] of [...this.joined]) {
      const ruling = (await this.oracle.getDispute(requestId, attempt)).ruling;
      if (ruling === 0n) continue;
      if (ruling >= 2n) {
        try {
          await this.mined("claimDispute", requestId, () => this.oracle.claimDispute(requestId, attempt));
        } catch (error) {
          this.options.logger?.warn({ err: error, requestId, attempt }, "claiming a dispute share failed");
          continue;
        }
      }
      this.joined.delete(requestId);
    }
  }

  /**
   * The canonical audit of a FraudGame result and, beyond τ_out, the game played to its ruling.
   */
  private async auditGame(r: Submitted, request: { modelHash: string; inputHash: string; resolver: string }, bond: bigint, retryUntil: number | undefined): Promise<AuditOutcome> {
    const fg = this.options.fraudGames!;
    const model = fg.models.get(request.modelHash.toLowerCase());
    if (model === undefined) {
      this.options.logger?.error({ requestId: r.requestId, modelHash: request.modelHash }, "a FraudGame result on a model this daemon has no ONNX file for: not audited");
      return { kind: "skipped", reason: "no ONNX file for the canonical audit of this model" };
    }
    const registry = IModelRegistry__factory.connect(await this.oracle.registry(), this.options.runner);
    // Download caps from the registered specs (the committed input shape where the spec's is dynamic).
    const registered = await registry.model(request.modelHash);
    const typeOf = (spec: { dtype: bigint; shape: bigint[] }, fallbackShape?: number[]) => {
      const shape = spec.shape.map(Number);
      return { dtype: dtypeFromCode(Number(spec.dtype)) ?? "float32", shape: shape.some((d) => d <= 0) && fallbackShape !== undefined ? fallbackShape : shape };
    };
    const inputType = typeOf(registered.input, model.inputShape);
    const outputType = typeOf(registered.output);
    const cap = (t: { dtype: string; shape: number[] }) => (t.shape.some((d) => d <= 0) ? DEFAULT_MAX_AUDIT_BYTES : encodedSize(t as Parameters<typeof encodedSize>[0]));
    const input = await this.fetchInput(request.inputHash, retryUntil, cap(inputType));
    const terms = await registry.canonicalTerms(request.modelHash);
    const precision = (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === Number(terms.precision));
    if (precision === undefined) return { kind: "skipped", reason: `unknown precision ${terms.precision}` };
    let output: Tensor;
    try {
      output = await this.fetchBlob(r.outputHash, cap(outputType), retryUntil);
    } catch (error) {
      if (!isError(error, "BLOB_NOT_FOUND")) throw error;
      return this.withheld(r, { key: request.modelHash.toLowerCase(), bytes: model.bytes, inputShape: model.inputShape }, input, precision);
    }
    const verdict = auditResult(
      { requestId: r.requestId as Hex, model: { key: request.modelHash.toLowerCase(), bytes: model.bytes, inputShape: model.inputShape }, precision, tau: tauFromBits(terms.tauOutAbs, terms.tauOutRel), input, output },
      fg.audit,
      this.programs,
    );
    if (verdict.status === "notSampled" || verdict.status === "unsupported") return { kind: "skipped", reason: verdict.status === "unsupported" ? verdict.reason : "not sampled" };
    if (verdict.status === "within") return { kind: "honest", checkedElements: output.data.length };
    if (!(await this.challenge(r))) return { kind: "skipped", reason: "bond budget exhausted" };
    const player = new GameChallenger(request.resolver, this.options.runner as unknown as Signer, {
      ...fg.client,
      serialize: (send) => this.locked(send),
      onMove: (m) => {
        fg.client?.onMove?.(m);
        this.options.onTransaction?.({ label: "gameMove", requestId: r.requestId, hash: "", gasUsed: m.gas, value: 0n, at: Date.now() });
      },
    });
    const result = await player.play(r.requestId as Hex, verdict.trace, output);
    this.released(bond);
    // Won (WorkerFault or OutputMinor): the share is claimed at once, as after a v1 proof.
    const attempt = this.joined.get(r.requestId);
    if (attempt !== undefined && (await this.oracle.getDispute(r.requestId, attempt)).ruling >= 2n) {
      try {
        await this.mined("claimDispute", r.requestId, () => this.oracle.claimDispute(r.requestId, attempt));
        this.joined.delete(r.requestId);
      } catch (error) {
        this.options.logger?.warn({ err: error, requestId: r.requestId, attempt }, "claiming the game's share failed; retried at the next withdraw");
      }
    }
    return { kind: "gamePlayed", ruling: result.ruling, outcome: result.outcome, moves: player.moves.length, rounds: result.descent?.rounds ?? 0 };
  }

  /**
   * A result whose output bytes nobody published (issue 18, docs/PROTOCOL.md "Large outputs": the worker
   * committed the hash and withheld the bytes). The canonical output is recomputed: when it hashes to the
   * committed hash the result is honest, and its bytes are published to the blob store (content-addressed,
   * checked there) so the requester can fetch them; otherwise the result cannot be audited within τ_out
   * without the worker's bytes, and is reported, never passed as honest.
   */
  private async withheld(r: Submitted, model: { key: string; bytes: Uint8Array; inputShape: number[] }, input: Tensor, precision: Precision): Promise<AuditOutcome> {
    const canonical = canonicalOutput(model, input, precision, this.programs);
    if ("reason" in canonical) return { kind: "skipped", reason: `output ${r.outputHash} withheld, and the canonical runtime cannot run the model: ${canonical.reason}` };
    const hash = hashTensor(canonical);
    if (hash.toLowerCase() !== r.outputHash.toLowerCase()) {
      this.options.logger?.error({ requestId: r.requestId, committed: r.outputHash, canonical: hash }, "output withheld and not the canonical output: cannot audit it within τ_out");
      return { kind: "skipped", reason: `output withheld: the worker committed ${r.outputHash}, the canonical output hashes to ${hash}` };
    }
    try {
      await putBlob(this.options.blobStoreUrl, hash as Hex, encodeTensor(canonical), { timeoutMs: this.options.fetch?.timeoutMs ?? 30_000, ...(this.options.blobAuth === undefined ? {} : { auth: this.options.blobAuth }) });
      this.options.logger?.info({ requestId: r.requestId, outputHash: hash }, "withheld output recomputed canonically and published");
    } catch (error) {
      this.options.logger?.warn({ err: error, requestId: r.requestId }, "publishing the recomputed output failed");
    }
    return { kind: "honest", checkedElements: canonical.data.length };
  }

  /** A blob of the store by its hash (at most `maxBytes`), decoded and hash-checked; retried like the input. */
  private async fetchBlob(hash: string, maxBytes: number, retryUntil: number | undefined): Promise<Tensor> {
    return retry(async () => {
      const bytes = await this.storeBytes(hash, maxBytes);
      if (hashEncoded(bytes).toLowerCase() !== hash.toLowerCase()) throw new Error(`blob ${hash} does not match its hash`);
      return decodeTensor(bytes);
    }, this.blobRetry(hash, "blob", retryUntil));
  }

  /** One read of the configured blob store (its origin is trusted; a redirect elsewhere is checked). */
  private storeBytes(hash: string, maxBytes: number): Promise<Buffer> {
    return fetchBytes(`${this.options.blobStoreUrl.replace(/\/+$/, "")}/blobs/${hash}`, {
      maxBytes,
      timeoutMs: this.options.fetch?.timeoutMs ?? 30_000,
      schemes: ["http", "https"],
      addressPolicy: { trustedOrigins: [new URL(this.options.blobStoreUrl).origin] },
      ...this.signedReads(),
    });
  }

  /** Blob reads: a 429/5xx/timeout is retried with backoff (until `retryUntil`), then BLOB_STORE_UNAVAILABLE; a 404 or an oversize blob is final. */
  private blobRetry(hash: string, what: string, retryUntil: number | undefined): RetryOptions {
    const f = this.options.fetch ?? {};
    const final = (error: unknown) => isError(error, "BLOB_NOT_FOUND") || isError(error, "PAYLOAD_TOO_LARGE");
    return {
      attempts: Math.max(1, f.attempts ?? 5),
      delayMs: (attempt) => Math.min(2_000, (f.backoffMs ?? 250) * 2 ** (attempt - 1)),
      retryIf: (error) => !final(error),
      until: retryUntil,
      giveUp: (error, attempts) => (final(error) ? error : new ChallengerError("BLOB_STORE_UNAVAILABLE", `${what} ${hash} could not be fetched now (retry later)`, { hash, attempts }, { cause: error })),
    };
  }

  /** Runs one transaction (send and mine) under the daemon's lock: one signer, one nonce sequence. */
  private async locked<T>(send: () => Promise<T>): Promise<T> {
    const previous = this.txLock;
    let release!: () => void;
    this.txLock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await send();
    } finally {
      release();
    }
  }

  /** Waits for a sent transaction and reports it to onTransaction. */
  private async mined(label: DaemonTransaction["label"], requestId: string | undefined, send: () => Promise<ContractTransactionResponse>) {
    // Concurrent audits send one transaction at a time (one signer, one nonce sequence).
    const previous = this.txLock;
    let release!: () => void;
    this.txLock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    let tx: ContractTransactionResponse;
    let receipt;
    try {
      tx = await send();
      receipt = await tx.wait();
    } finally {
      release();
    }
    if (receipt !== null) {
      this.options.onTransaction?.({ label, ...(requestId === undefined ? {} : { requestId }), hash: receipt.hash, gasUsed: receipt.gasUsed, value: tx.value, at: Date.now() });
    }
    return receipt;
  }

  private released(bond: bigint) {
    this.atRisk = this.atRisk > bond ? this.atRisk - bond : 0n;
  }

  private async auditOnce(r: Submitted, retryUntil: number | undefined): Promise<AuditOutcome> {
    const request = await this.oracle.getRequest(r.requestId);
    if (request.tier !== OPTIMISTIC) return { kind: "skipped", reason: "not an OPTIMISTIC result" };
    const bond = (await this.oracle.paramsAt(request.paramsVersion)).challengeBond;
    if (await this.isGame(request.resolver)) {
      // A game-resolved result is never audited from a published trace (there is none): played, or skipped loudly.
      if (this.options.fraudGames === undefined) {
        this.options.logger?.error({ requestId: r.requestId, resolver: request.resolver }, "a FraudGame result, but this daemon has no fraudGames models to audit it canonically");
        return { kind: "skipped", reason: "a FraudGame result, but the daemon has no ONNX files for the canonical audit (fraudGames)" };
      }
      const games = this.options.fraudGames.games;
      if (games !== undefined && !games.some((g) => g.toLowerCase() === request.resolver.toLowerCase())) return { kind: "skipped", reason: `the resolver ${request.resolver} is not one of the FraudGames this daemon plays` };
      return this.auditGame(r, request, bond, retryUntil);
    }
    // Result format v2 (docs/V2.md §3): a result signs no trace root, so nothing can be audited from a
    // published trace; the v1 one-step path (FraudProofResolver) is retired. Only FraudGame results are played.
    return { kind: "skipped", reason: `the resolver ${request.resolver} is not a FraudGame of this oracle: nothing to audit (results sign no trace)` };
  }

  /** Claims the shares of won disputes, then withdraws the daemon's oracle balance. */
  async withdraw(): Promise<bigint> {
    await this.claimWon();
    this.save();
    const address = await (this.options.runner as unknown as { getAddress(): Promise<string> }).getAddress();
    const amount = await this.oracle.balanceOf(address);
    if (amount > 0n) await this.mined("withdraw", undefined, () => this.oracle.withdraw());
    return amount;
  }

  bondAtRisk(): bigint {
    return this.atRisk;
  }
}
