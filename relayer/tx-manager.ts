/**
 * The relayer's transaction manager (`TransactionManager`): one nonce stream per relayer key, tracked in the relayer's sqlite
 * database so it survives restarts.
 *
 * - Every transaction is recorded (nonce, request, fees, every hash it was sent under) before it is
 *   broadcast, so a crash between signing and broadcasting loses nothing.
 * - `wait(nonce)` follows a nonce until one of its hashes is mined, and on the way:
 *     * rebroadcasts a transaction the node no longer knows (dropped from the mempool, lost with an
 *       RPC answer, or undone by a reorg), so a dropped nonce never leaves a gap behind it;
 *     * fills a nonce below ours that nobody holds (a gap: e.g. a reorg undid a transaction this
 *       database never recorded) with a zero-value transfer to itself;
 *     * replaces a transaction pending longer than `bumpAfterMs` with the same call at fees raised
 *       by `bumpPercent` (at least the +10% nodes require for a replacement), at most `maxBumps`
 *       times and never above `maxFeePerGas`; after that it keeps the last one in the mempool.
 * - `start()` reconciles with the chain: nonces below the chain's latest count are settled (mined
 *   under one of our hashes, or taken by a transaction this database never saw), and the next nonce
 *   is the highest of the chain's latest count, its pending count and the database's own.
 *
 * Reverts are caught before a nonce is spent: every transaction is gas-estimated first.
 */
import { Transaction, type Provider, type Signer, type TransactionReceipt, type TransactionRequest, type TransactionResponse } from "ethers";
import { OracleError, type Logger } from "../protocol/index.js";
import type { RelayerDb } from "./db.js";
import { ONE_GWEI, ceilPercent, classify, errorText, lostError, responseOf, type BroadcastOutcome, type FeePolicy, type StoredCall, type TxRow, type TxState } from "./tx-records.js";

export type { FeePolicy, TxRow, TxState } from "./tx-records.js";

export class TransactionManager {
  private account: string | undefined;
  private next = 0;
  private starting: Promise<void> | undefined;
  /** Whether the signer signs locally (a Wallet) or only through the node (eth_sendTransaction). */
  private signsLocally: boolean | undefined;
  /** Replacements made and gaps healed, for tests, logs and metrics. */
  readonly stats = { sent: 0, bumps: 0, rebroadcasts: 0, fillers: 0, reconciled: 0 };

  constructor(
    private readonly provider: Provider,
    private readonly signer: Signer,
    private readonly db: RelayerDb,
    private readonly log: Logger,
    readonly policy: FeePolicy,
  ) {
  }

  /** Reconciles the database with the chain (once; retried on the next call if the node was down). */
  start(): Promise<void> {
    this.starting ??= this.reconcile().catch((error: unknown) => {
      this.starting = undefined;
      throw new OracleError("CHAIN_UNAVAILABLE", "could not reconcile nonces with the chain", { cause: error, retryable: true });
    });
    return this.starting;
  }

  get address(): string | undefined {
    return this.account;
  }

  /** The next nonce this manager will use. */
  get nextNonce(): number {
    return this.next;
  }

  rows(state?: TxState): TxRow[] {
    return this.db.txs.rows(this.account ?? "", state);
  }

  row(nonce: number): TxRow | undefined {
    return this.db.txs.row(this.account ?? "", nonce);
  }

  private async reconcile(): Promise<void> {
    this.account = (await this.signer.getAddress()).toLowerCase();
    const latest = await this.provider.getTransactionCount(this.account, "latest");
    const pending = await this.provider.getTransactionCount(this.account, "pending");
    for (const row of this.rows("pending")) {
      if (row.nonce >= latest) continue;
      await this.settleMined(row);
      this.stats.reconciled += 1;
    }
    const highestRecorded = this.db.txs.highestNonce(this.account);
    const stillPending = this.rows("pending").map((r) => r.nonce);
    this.next = Math.max(latest, pending, stillPending.length === 0 ? 0 : Math.max(...stillPending) + 1);
    this.log.info({ account: this.account, latest, pending, next: this.next, tracked: stillPending.length, highestRecorded }, "nonces reconciled with the chain");
  }

  /**
   * A reorg replaced the blocks after `forkBlock`: transactions recorded as mined there are followed
   * again (sent again if the node lost them, as a real node's mempool would take them back).
   * Returns the hashes they were mined under.
   */
  reorged(forkBlock: number): string[] {
    const rows = this.db.txs.unmineAfter(this.account ?? "", forkBlock, Date.now());
    if (rows.length > 0) this.log.warn({ forkBlock, nonces: rows.map((r) => r.nonce) }, "reorg: transactions mined after the fork are followed again");
    return rows.map((r) => r.minedHash!).filter((h) => h !== null);
  }

  /** Nonces this database still follows (sent, not yet mined), lowest first. */
  pendingNonces(): number[] {
    return this.rows("pending").map((r) => r.nonce);
  }

  /**
   * Sends a call at the next nonce: estimates gas first (a revert throws here and spends no nonce),
   * records the signed transaction, then broadcasts it. Callers serialize their calls.
   */
  async send(label: string, tx: TransactionRequest): Promise<TransactionResponse> {
    await this.start();
    const account = this.account!;
    const { chainId } = await this.provider.getNetwork();
    const request: TransactionRequest = { to: tx.to, data: tx.data ?? "0x", value: tx.value ?? 0n, from: account };
    const estimate = tx.gasLimit ?? (await this.provider.estimateGas(request));
    const call: StoredCall = {
      to: String(await Promise.resolve(tx.to)),
      data: String(tx.data ?? "0x"),
      value: BigInt(tx.value ?? 0n).toString(),
      gasLimit: (tx.gasLimit === undefined || tx.gasLimit === null ? (BigInt(estimate) * 12n) / 10n + 10_000n : BigInt(tx.gasLimit)).toString(),
      chainId: chainId.toString(),
    };
    const fees = await this.initialFees();
    const nonce = this.next;
    this.next += 1;
    const now = Date.now();
    this.db.txs.record(account, nonce, label, call, fees, now);
    this.stats.sent += 1;
    const { response, outcome } = await this.broadcast(nonce, call, fees);
    if (outcome === "nonce-used") {
      // Someone else (another process with this key?) took the nonce: learn the chain's count again.
      this.starting = undefined;
      this.log.error({ nonce, label }, "the nonce was already used on-chain by a transaction this relayer did not record; does another process share this key?");
    }
    return response;
  }

  private async initialFees(): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }> {
    const [block, data] = await Promise.all([this.provider.getBlock("latest"), this.provider.getFeeData()]);
    const base = block?.baseFeePerGas ?? data.gasPrice ?? ONE_GWEI;
    const tip = data.maxPriorityFeePerGas ?? ONE_GWEI;
    let maxFee = base * 2n + tip;
    if (maxFee > this.policy.maxFeePerGas) {
      this.log.warn({ wanted: maxFee.toString(), cap: this.policy.maxFeePerGas.toString() }, "fees capped by maxFeePerGas");
      maxFee = this.policy.maxFeePerGas;
    }
    return { maxFeePerGas: maxFee, maxPriorityFeePerGas: tip < maxFee ? tip : maxFee };
  }

  /** Signs the call at `nonce` with `fees`, records its hash, and sends it. */
  private async broadcast(
    nonce: number,
    call: StoredCall,
    fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
  ): Promise<{ response: TransactionResponse; outcome: BroadcastOutcome }> {
    const account = this.account!;
    const req: TransactionRequest = {
      type: 2,
      to: call.to,
      data: call.data,
      value: BigInt(call.value),
      gasLimit: BigInt(call.gasLimit),
      chainId: BigInt(call.chainId),
      nonce,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    };
    if (this.signsLocally !== false) {
      let raw: string | undefined;
      try {
        raw = await this.signer.signTransaction({ ...req, from: account });
        this.signsLocally = true;
      } catch (error) {
        if (this.signsLocally === true) throw error;
        this.signsLocally = false;
      }
      if (raw !== undefined) {
        const signed = Transaction.from(raw);
        this.addHash(nonce, signed.hash!, fees);
        const outcome = await this.sendRaw(raw);
        return { response: responseOf(signed, this.provider), outcome };
      }
    }
    // A signer that only signs through its node (Hardhat's unlocked accounts): it broadcasts too.
    try {
      const response = await this.signer.sendTransaction(req);
      this.addHash(nonce, response.hash, fees);
      return { response, outcome: "sent" };
    } catch (error) {
      const outcome = classify(error);
      if (outcome === "failed") throw new OracleError("CHAIN_UNAVAILABLE", `broadcast of nonce ${nonce} failed`, { cause: error, retryable: true });
      const signed = Transaction.from({ ...req, from: undefined } as never);
      return { response: responseOf(signed, this.provider, account), outcome };
    }
  }

  private addHash(nonce: number, hash: string, fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }): void {
    const row = this.row(nonce);
    const hashes = row === undefined ? [] : (JSON.parse(row.hashes) as string[]);
    if (!hashes.includes(hash)) hashes.push(hash);
    this.db.txs.setSent(this.account!, nonce, hashes, fees, Date.now());
  }

  private async sendRaw(raw: string): Promise<BroadcastOutcome> {
    try {
      await this.provider.broadcastTransaction(raw);
      return "sent";
    } catch (error) {
      const outcome = classify(error);
      if (outcome === "failed") this.log.warn({ err: errorText(error) }, "broadcast failed; the nonce is followed and sent again");
      return outcome;
    }
  }

  /**
   * Follows `nonce` until it is mined, healing and bumping on the way, and returns the receipt of
   * whichever of its hashes was mined. Throws CHAIN_REVERTED if that transaction reverted, and
   * CHAIN_UNAVAILABLE if a transaction this database never saw took the nonce.
   */
  async wait(nonce: number, options: { signal?: AbortSignal } = {}): Promise<TransactionReceipt> {
    await this.start();
    for (;;) {
      const row = this.row(nonce);
      if (row === undefined) throw new OracleError("INTERNAL", `nonce ${nonce} is not tracked`);
      if (row.state === "mined" && row.minedHash !== null) {
        const receipt = await this.provider.getTransactionReceipt(row.minedHash);
        if (receipt !== null) return this.finish(row, receipt);
        // Mined once, gone now (a reorg): follow it again.
        this.db.txs.setPending(this.account!, nonce);
        continue;
      }
      if (row.state === "lost") throw lostError(row);
      try {
        const receipt = await this.step(row);
        if (receipt !== undefined) return this.finish(row, receipt);
      } catch (error) {
        if (error instanceof OracleError && !error.retryable) throw error;
        if (error instanceof OracleError && error.details.lost === true) throw error;
        this.log.warn({ err: errorText(error), nonce }, "following a pending transaction failed; retrying");
      }
      if (options.signal?.aborted) throw new OracleError("TIMEOUT", `stopped waiting for nonce ${nonce}`, { retryable: true });
      await new Promise((r) => setTimeout(r, this.policy.pollMs));
    }
  }

  private finish(row: TxRow, receipt: TransactionReceipt): TransactionReceipt {
    if (receipt.status !== 1) {
      throw new OracleError("CHAIN_REVERTED", `${row.label} (nonce ${row.nonce}) reverted on-chain`, { details: { label: row.label, hash: receipt.hash } });
    }
    return receipt;
  }

  /** One look at a pending nonce: returns its receipt once mined; rebroadcasts, fills or bumps otherwise. */
  private async step(row: TxRow): Promise<TransactionReceipt | undefined> {
    const account = this.account!;
    const latest = await this.provider.getTransactionCount(account, "latest");
    if (latest > row.nonce) {
      // Settle the rows below too (gap fillers, nonces nobody waited on).
      for (const other of this.rows("pending")) if (other.nonce < row.nonce) await this.settleMined(other);
      const settled = await this.settleMined(row);
      if (settled.state === "lost") throw lostError(settled.row);
      return settled.receipt;
    }
    // Heal gaps below this nonce first: the node mines nothing of ours above a missing nonce.
    for (let n = latest; n < row.nonce; n++) {
      const below = this.row(n);
      if (below === undefined || below.state === "lost") {
        await this.fill(n);
        continue;
      }
      if (below.state === "mined") {
        // Recorded as mined, yet the chain's count is below it: a reorg undid it. Follow it again.
        this.db.txs.setPending(account, n);
      }
      await this.ensureKnown(this.row(n)!);
    }
    await this.ensureKnown(row);
    const fresh = this.row(row.nonce)!;
    if (Date.now() - fresh.sentAt >= this.policy.bumpAfterMs) await this.bump(fresh);
    return undefined;
  }

  /** Rebroadcasts a pending transaction none of whose hashes the node knows. */
  private async ensureKnown(row: TxRow): Promise<void> {
    const hashes = JSON.parse(row.hashes) as string[];
    for (const h of [...hashes].reverse()) {
      if ((await this.provider.getTransaction(h)) !== null) return;
    }
    this.stats.rebroadcasts += 1;
    this.log.warn({ nonce: row.nonce, label: row.label, hashes }, "pending transaction unknown to the node (dropped?); sending it again");
    const fees = { maxFeePerGas: BigInt(row.maxFeePerGas), maxPriorityFeePerGas: BigInt(row.maxPriorityFeePerGas) };
    const { outcome } = await this.broadcast(row.nonce, JSON.parse(row.request) as StoredCall, fees);
    if (outcome === "underpriced") await this.bump(this.row(row.nonce)!, true);
  }

  /** Sends a zero-value transfer to ourselves at a nonce nobody holds, so the nonces above it can be mined. */
  private async fill(nonce: number): Promise<void> {
    const { chainId } = await this.provider.getNetwork();
    const call: StoredCall = { to: this.account!, data: "0x", value: "0", gasLimit: "21000", chainId: chainId.toString() };
    const fees = await this.initialFees();
    this.db.txs.recordFiller(this.account!, nonce, call, fees, Date.now());
    this.stats.fillers += 1;
    this.log.warn({ nonce }, "nonce gap: nobody holds this nonce; filling it with a zero-value transfer");
    await this.broadcast(nonce, call, fees);
  }

  /** Replaces a stuck transaction with the same call at higher fees (bounded, capped). */
  private async bump(row: TxRow, force = false): Promise<void> {
    if (row.bumps >= this.policy.maxBumps) return;
    const oldMax = BigInt(row.maxFeePerGas);
    const oldTip = BigInt(row.maxPriorityFeePerGas);
    const pct = Math.max(10, this.policy.bumpPercent);
    const block = await this.provider.getBlock("latest");
    const base = block?.baseFeePerGas ?? 0n;
    let tip = ceilPercent(oldTip, pct);
    let maxFee = ceilPercent(oldMax, pct);
    if (base * 2n + tip > maxFee) maxFee = base * 2n + tip;
    if (maxFee > this.policy.maxFeePerGas) maxFee = this.policy.maxFeePerGas;
    if (maxFee < ceilPercent(oldMax, 10) || tip > maxFee) {
      // At the cap: a replacement would be refused as underpriced. Stop bumping; keep it in the mempool.
      this.db.txs.setBumps(this.account!, row.nonce, this.policy.maxBumps, Date.now());
      this.log.error({ nonce: row.nonce, label: row.label, maxFeePerGas: oldMax.toString(), cap: this.policy.maxFeePerGas.toString() }, "stuck transaction at the fee cap; no more replacements");
      return;
    }
    if (tip < oldTip) tip = oldTip;
    this.db.txs.addBump(this.account!, row.nonce);
    this.stats.bumps += 1;
    this.log.warn(
      { nonce: row.nonce, label: row.label, attempt: row.bumps + 1, maxFeePerGas: maxFee.toString(), maxPriorityFeePerGas: tip.toString(), forced: force },
      "transaction stuck; replacing it with higher fees",
    );
    await this.broadcast(row.nonce, JSON.parse(row.request) as StoredCall, { maxFeePerGas: maxFee, maxPriorityFeePerGas: tip });
  }

  /** The nonce is below the chain's count: find which of our hashes was mined, or mark it lost. */
  private async settleMined(row: TxRow): Promise<{ state: TxState; receipt?: TransactionReceipt; row: TxRow }> {
    const hashes = JSON.parse(row.hashes) as string[];
    for (const h of [...hashes].reverse()) {
      const receipt = await this.provider.getTransactionReceipt(h);
      if (receipt !== null) {
        this.db.txs.setMined(this.account!, row.nonce, receipt.hash, receipt.blockNumber);
        return { state: "mined", receipt, row };
      }
    }
    this.db.txs.setLost(this.account!, row.nonce);
    this.log.error({ nonce: row.nonce, label: row.label, hashes }, "nonce taken by a transaction this relayer did not record");
    return { state: "lost", row: { ...row, state: "lost" } };
  }
}
