/**
 * Advances chained requests (contracts/chained/ChainedInference.sol): the oracle is nonReentrant, so
 * a chain's step result only records the output hash (the chain is Ready) and someone must send
 * `advance(chainId, output)` to request the next step. For every ChainedInference contract it is given
 * (`chained` in the config, or `watch`), the relayer does, paying the gas through its own nonce manager:
 * it follows their ChainStepDelivered events (subscribed to the EventWatcher, which reads their logs), reads the step's output from the transaction that delivered it (or
 * its blob store) and advances every chain still Ready on that step. A chain nobody advances ends by
 * default at its deadline (anyone's `reconcile`), so this is a service, not a duty.
 *
 * A chain paid in a token stays Running when the oracle refunds its current step (the refund of a token
 * request carries no tokens; ChainStepRefundPending): the advancer also follows those events and sends
 * `reconcile`, which claims the step's token fee back and ends the chain with every unused fee credited
 * to the requester in the token.
 */
import type { Logger } from "../protocol/index.js";
import { chainStatus, chainedContract, readStepOutput, ChainStatus } from "../sdk/index.js";
import type { OracleChain } from "./chain.js";
import type { DomainEvent, EventSubscriber } from "./events.js";

/** Has the EventWatcher follow a feature contract's logs from `fromBlock` (EventWatcher.follow). */
export type FollowContract = (address: string, fromBlock?: number) => void;

export class ChainAdvancer implements EventSubscriber {
  private readonly contracts = new Set<string>();
  /** Chains seen Ready whose advance failed (a fee spike, a transient error): retried every tick. */
  private readonly retry = new Map<string, { address: string; chainId: bigint }>();
  /** Token chains whose step the oracle refunded, waiting for `reconcile` (retried every tick until Ended). */
  private readonly toReconcile = new Map<string, { address: string; chainId: bigint }>();
  /** Chains this advancer reconciled. */
  reconciled = 0;

  constructor(
    private readonly chain: OracleChain,
    addresses: readonly string[],
    private readonly startBlock: number,
    private readonly follow: FollowContract,
    private readonly log: Logger,
    private readonly blobStoreUrl: () => string | undefined,
  ) {
    for (const a of addresses) this.watch(a);
  }

  /** The ChainedInference contracts watched. */
  get addresses(): string[] {
    return [...this.contracts];
  }

  /**
   * The latest `limit` chains of every watched contract, newest first (the dashboard's /api/chains):
   * status, step, requests, last output hash, escrow and deadline, read from the contracts.
   */
  async recent(limit = 50): Promise<Array<{ address: string; chains: Array<Record<string, unknown>> }>> {
    const out = [];
    for (const address of this.contracts) {
      const reader = chainedContract(address, this.chain.provider);
      const count = Number(await reader.chainCount());
      const chains = [];
      for (let id = count; id >= 1 && id > count - limit; id--) {
        const s = await chainStatus(reader, BigInt(id));
        chains.push({
          chainId: String(id),
          status: ChainStatus[s.status],
          step: s.current + 1,
          steps: s.stepCount,
          requester: s.requester,
          requestIds: s.requestIds,
          outputHash: s.outputHash,
          escrow: s.escrow.toString(),
          deadline: Number(s.deadline),
          callbackSucceeded: s.callbackSucceeded,
        });
      }
      out.push({ address, chains });
    }
    return out;
  }

  /** Starts advancing the chains of one more ChainedInference contract (from `fromBlock`, default startBlock). */
  watch(address: string, fromBlock = this.startBlock): void {
    const key = address.toLowerCase();
    if (this.contracts.has(key)) return;
    this.contracts.add(key);
    this.follow(key, fromBlock);
  }

  /** A delivered step may have left its chain Ready, a refunded token step needs `reconcile`: looked at from the next tick on. */
  onEvents(events: readonly DomainEvent[]): void {
    for (const e of events) {
      if ((e.kind !== "chainStepDelivered" && e.kind !== "chainStepRefundPending") || !this.contracts.has(e.contract)) continue;
      const pending = e.kind === "chainStepDelivered" ? this.retry : this.toReconcile;
      pending.set(`${e.contract}/${e.chainId}`, { address: e.contract, chainId: e.chainId });
    }
  }

  async tick(): Promise<void> {
    await this.reconcileRefunded();
    for (const [key, { address, chainId }] of this.retry) {
      const reader = chainedContract(address, this.chain.provider);
      try {
        const state = await chainStatus(reader, chainId);
        if (state.status !== ChainStatus.Ready) {
          this.retry.delete(key);
          continue;
        }
        const blobStoreUrl = this.blobStoreUrl();
        const output = await readStepOutput(reader, chainId, { ...(blobStoreUrl === undefined ? {} : { blobStoreUrl }), fromBlock: this.startBlock });
        await this.chain.send("advanceChain", 1, () => chainedContract(address, this.chain.provider).advance.populateTransaction(chainId, output));
        this.retry.delete(key);
        this.log.info({ chained: address, chainId: String(chainId), step: state.current + 1 }, "chain advanced");
      } catch (error) {
        this.log.warn({ err: error, chained: address, chainId: String(chainId) }, "could not advance the chain yet; will retry");
      }
    }
  }

  /** Ends every token chain whose running step the oracle refunded (`reconcile` claims the step's tokens back). */
  private async reconcileRefunded(): Promise<void> {
    for (const [key, { address, chainId }] of this.toReconcile) {
      const reader = chainedContract(address, this.chain.provider);
      try {
        const state = await chainStatus(reader, chainId);
        if (state.status !== ChainStatus.Running) {
          this.toReconcile.delete(key); // ended already (someone else reconciled it)
          continue;
        }
        await this.chain.send("reconcileChain", 1, () => chainedContract(address, this.chain.provider).reconcile.populateTransaction(chainId));
        this.toReconcile.delete(key);
        this.reconciled++;
        this.log.info({ chained: address, chainId: String(chainId) }, "refunded token chain step reconciled");
      } catch (error) {
        this.log.warn({ err: error, chained: address, chainId: String(chainId) }, "could not reconcile the chain yet; will retry");
      }
    }
  }
}
