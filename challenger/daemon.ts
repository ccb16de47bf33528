/**
 * The challenger daemon (docs/OPTIMISTIC.md, "Challenger daemon"): watches the results of ResultBatchSubmitted, audits
 * every OPTIMISTIC result of a model it has the ONNX file of, and disputes what it can prove.
 *
 * Per result whose request's resolver is a FraudGame of this oracle: re-run the model canonically on the
 * request's input and compare with the signed output (challenger/canonical-audit.ts); beyond τ_out, open or
 * join the dispute with the oracle's bond and play the game to its ruling (trace on demand: the worker
 * commits its trace only once disputed). Results sign no trace root (docs/V2.md §3), so a result under any
 * other resolver is skipped: the v1 audit of published traces is retired. The total of bonds in open
 * disputes never exceeds `maxBondAtRisk`. Rewards are withdrawn with `withdraw()`.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { ContractTransactionResponse } from "ethers";
import { IInferenceOracle__factory, FraudGame__factory } from "../types/ethers-contracts/index.js";
import { ProgramCache } from "./canonical-audit.js";
import { openChallenge } from "./dispute.js";
import { querySubmitted } from "../protocol/index.js";
import { DaemonBlobs, isTransient } from "./daemon-blobs.js";
import { isChallengerError } from "./errors.js";
import { auditGame, type GameAuditHost } from "./daemon-game.js";
import type { AuditOutcome, DaemonOptions, DaemonTransaction, Deferred, SavedState, Submitted } from "./daemon-types.js";

export type { AuditOutcome, DaemonOptions, DaemonPolicy, DaemonTransaction } from "./daemon-types.js";

const OPTIMISTIC = 1n;
/** IInferenceOracle.RequestStatus.Challenged: a dispute is open on the current result. */
const CHALLENGED = 3n;

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
  /** Withheld outputs found not canonical, by requestId, while their audit is deferred (challenger/daemon-game.ts). */
  private readonly notCanonical = new Map<string, { committed: string; canonical: string }>();
  /** Resolver address (lowercase) → whether it is a FraudGame of this oracle. */
  private readonly gameResolvers = new Map<string, Promise<boolean>>();
  private readonly blobs: DaemonBlobs;
  /** What the FraudGame audit (challenger/daemon-game.ts) uses of this daemon. */
  private readonly game: GameAuditHost;

  constructor(private readonly options: DaemonOptions) {
    this.oracle = IInferenceOracle__factory.connect(options.oracleAddress, options.runner);
    this.fromBlock = options.startBlock ?? 0;
    this.blobs = new DaemonBlobs(options);
    this.game = {
      options,
      oracle: this.oracle,
      blobs: this.blobs,
      programs: this.programs,
      joined: this.joined,
      notCanonical: this.notCanonical,
      challenge: (r) => this.challenge(r),
      locked: (send) => this.locked(send),
      released: (bond) => this.released(bond),
      mined: (label, requestId, send) => this.mined(label, requestId, send),
    };
  }

  /**
   * Audits every accepted result (ResultBatchSubmitted records) since the last poll, and the deferred audits that are due; returns the
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
    // One ResultBatchSubmitted per batch, a record per accepted result (protocol/batch-wire.ts).
    const results = latest < this.fromBlock ? [] : await querySubmitted(provider, await this.oracle.getAddress(), { fromBlock: this.fromBlock, toBlock: latest });
    for (const r of results) {
      const { requestId, worker, relayer, outputHash } = r;
      this.pending.set(requestId, { requestId, txHash: r.transactionHash!, worker, relayer, outputHash, challengeDeadline: BigInt(r.time) });
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
   * The audit, with a transient blob-store failure or a withheld non-canonical output (OUTPUT_UNAVAILABLE)
   * turned into a deferral: retried at a later poll with backoff while the challenge window is open, then
   * given up (skipped, with the reason), never a challenge.
   */
  async audit(r: Submitted): Promise<AuditOutcome> {
    let deferred = false;
    try {
      const outcome = await this.auditOrDefer(r);
      deferred = outcome.kind === "deferred";
      return outcome;
    } finally {
      if (!deferred) this.notCanonical.delete(r.requestId);
    }
  }

  private async auditOrDefer(r: Submitted): Promise<AuditOutcome> {
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
      // A withheld output that is not the canonical one (daemon-game.ts `withheld`) is looked for again like
      // an unavailable store: bytes published later in the window are audited, and disputed beyond τ_out.
      const withheld = isChallengerError(error, "OUTPUT_UNAVAILABLE");
      if (!isTransient(error) && !withheld) {
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
        this.options.logger?.warn({ err: error, requestId: r.requestId, tries }, withheld ? "the output was withheld until the challenge window closed; no challenge" : "the blob store did not serve this output within the challenge window; no challenge");
        return { kind: "skipped", reason: withheld ? `${(error as Error).message} (until the challenge window closed)` : "the blob store was unavailable until the challenge window closed" };
      }
      this.deferred.set(r.requestId, { submitted: r, tries, retryAt });
      this.pending.set(r.requestId, r);
      this.options.logger?.info({ err: error, requestId: r.requestId, tries, retryAt }, withheld ? "output withheld: audit deferred" : "blob store unavailable: audit deferred");
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
    const { tx, receipt } = await this.locked(async () => {
      const tx = await send();
      return { tx, receipt: await tx.wait() };
    });
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
      return auditGame(this.game, r, request, bond, retryUntil);
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
