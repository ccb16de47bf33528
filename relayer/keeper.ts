/**
 * The subscription keeper: triggers every due round of InferenceSubscriptions
 * (docs/FEATURES.md "Subscriptions"), for its keeper reward. Anyone may trigger a due round, so this is a
 * convenience, not a trust assumption: a relayer that stops keeping only delays rounds (missed slots are
 * skipped, never lost), and any other keeper can step in.
 *
 * Each tick asks `isDue` of the open subscriptions (at most `maxPerTick` of them, round-robin), simulates
 * each due trigger (a round the oracle would refuse, or whose reward is below `minKeeperReward`, costs
 * nothing) and sends the rest through the relayer's managed nonces. Finished and cancelled subscriptions
 * are remembered and never asked again.
 *
 * It also settles refunded rounds the oracle's push did not (`sync`, anyone may call it): the oracle's
 * refund of a round paid in a token carries no tokens (its amount and callback fee must be claimed, which
 * costs more than the refund's gas), and an ETH refund whose push failed waits in the oracle's pull
 * balance. It follows the oracle's refunds through the EventWatcher (those whose requester is the
 * subscriptions contract; at start, those the database already holds) and syncs every round still
 * Pending, so its fee returns to the subscription's balance.
 */
import type { Logger } from "../protocol/index.js";
import { isError } from "../protocol/index.js";
import { InferenceSubscriptions__factory, type InferenceSubscriptions } from "../types/ethers-contracts/index.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb } from "./db.js";
import type { DomainEvent, EventSubscriber } from "./events.js";

export interface KeeperOptions {
  /** The InferenceSubscriptions contract to keep. */
  address: string;
  /** Rounds whose keeper reward is below this (wei) are left to others. */
  minKeeperReward: bigint;
  /** Most subscriptions looked at per tick. */
  maxPerTick: number;
  /** The keeper's rewards are withdrawn once they reach this (wei). */
  withdrawRewardsAbove: bigint;
}

export class SubscriptionKeeper implements EventSubscriber {
  readonly subs: InferenceSubscriptions;
  private readonly closed = new Set<bigint>();
  private cursor = 1n;
  /** Rounds this keeper triggered (skipped rounds included). */
  triggered = 0;
  /** Refunded rounds this keeper synced (token rounds, failed pushes). */
  synced = 0;
  /** Refunded rounds seen but not synced yet (a transient failure): retried every tick. */
  private readonly toSync = new Set<string>();

  constructor(
    private readonly chain: OracleChain,
    private readonly log: Logger,
    private readonly options: KeeperOptions,
    db: RelayerDb,
  ) {
    this.subs = InferenceSubscriptions__factory.connect(options.address, chain.provider);
    // Refunds seen by an earlier run: the ones already synced drop out at the first tick.
    for (const id of db.refundedRequestsOf(options.address)) this.toSync.add(id);
  }

  /** A refund of one of the contract's rounds: synced from the next tick on. */
  onEvents(events: readonly DomainEvent[]): void {
    const address = this.options.address.toLowerCase();
    for (const e of events) if (e.kind === "refunded" && e.requester.toLowerCase() === address) this.toSync.add(e.requestId);
  }

  async tick(): Promise<void> {
    try {
      await this.collect();
    } catch (error) {
      this.log.warn({ err: error }, "could not withdraw keeper rewards; will retry");
    }
    try {
      await this.syncRefunds();
    } catch (error) {
      this.log.warn({ err: error }, "could not sync refunded rounds; will retry");
    }
    const count = await this.subs.subscriptionCount();
    if (count === 0n) return;
    let looked = 0;
    for (let n = 0n; n < count && looked < this.options.maxPerTick; n++) {
      const subId = this.cursor;
      this.cursor = this.cursor >= count ? 1n : this.cursor + 1n;
      if (this.closed.has(subId)) continue;
      looked++;
      await this.keep(subId);
    }
  }

  /** Syncs every refunded round of the subscriptions contract still Pending here (token rounds, failed pushes). */
  private async syncRefunds(): Promise<void> {
    for (const requestId of this.toSync) {
      const d = await this.subs.getDelivery(requestId);
      if (d.status !== 1n) {
        this.toSync.delete(requestId); // settled already (the push reached the contract, or someone synced)
        continue;
      }
      try {
        await this.chain.send("syncRound", 1, () => this.subs.sync.populateTransaction(requestId));
        this.toSync.delete(requestId);
        this.synced++;
        this.log.info({ subId: d.subId.toString(), round: d.round.toString(), requestId }, "refunded subscription round synced");
      } catch (error) {
        // Someone synced it first (SubsUnknownRequest), or the node failed: looked at again next tick.
        this.log[isError(error, "CHAIN_REVERTED") ? "debug" : "warn"]({ requestId, err: error }, "subscription sync failed; will retry");
      }
    }
  }

  /** Withdraws the keeper's rewards once they are worth a transaction. */
  private async collect(): Promise<void> {
    const owed = await this.subs.rewardsOf(await this.chain.signer.getAddress());
    if (owed === 0n || owed < this.options.withdrawRewardsAbove) return;
    await this.chain.send("withdrawRewards", 1, () => this.subs.withdrawRewards.populateTransaction());
    this.log.info({ amount: owed.toString() }, "keeper rewards withdrawn");
  }

  private async keep(subId: bigint): Promise<void> {
    if (!(await this.subs.isDue(subId))) {
      const s = await this.subs.getSubscription(subId);
      if (s.cancelled || s.triggered >= s.maxDeliveries) this.closed.add(subId);
      return;
    }
    const s = await this.subs.getSubscription(subId);
    if (s.keeperReward < this.options.minKeeperReward) return;
    const from = await this.chain.signer.getAddress();
    try {
      // Simulated first: a round the oracle refuses (fee below its minimum, model inactive) is not sent.
      await this.subs.trigger.staticCall(subId, { from });
    } catch (error) {
      this.log.debug({ subId: subId.toString(), err: error }, "subscription round due but not triggerable");
      return;
    }
    try {
      const receipt = await this.chain.send("trigger", 1, () => this.subs.trigger.populateTransaction(subId));
      this.triggered++;
      this.log.info({ subId: subId.toString(), round: s.triggered.toString(), tx: receipt.hash }, "subscription round triggered");
    } catch (error) {
      // Another keeper won the round (SubsNotDue), or the node failed: the next tick looks again.
      if (!isError(error, "CHAIN_REVERTED")) throw error;
      this.log.debug({ subId: subId.toString(), err: error }, "subscription trigger reverted");
    }
  }
}
