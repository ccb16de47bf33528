/**
 * The subscription keeper: triggers every due round of InferenceSubscriptions (issue 18,
 * docs/FEATURES.md "Subscriptions"), for its keeper reward. Anyone may trigger a due round, so this is a
 * convenience, not a trust assumption: a relayer that stops keeping only delays rounds (missed slots are
 * skipped, never lost), and any other keeper can step in.
 *
 * Each tick asks `isDue` of the open subscriptions (at most `maxPerTick` of them, round-robin), simulates
 * each due trigger (a round the oracle would refuse, or whose reward is below `minKeeperReward`, costs
 * nothing) and sends the rest through the relayer's managed nonces. Finished and cancelled subscriptions
 * are remembered and never asked again.
 */
import type { Logger } from "../protocol/index.js";
import { isError } from "../protocol/index.js";
import { InferenceSubscriptions__factory, type InferenceSubscriptions } from "../types/ethers-contracts/index.js";
import type { OracleChain } from "./chain.js";

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

export class SubscriptionKeeper {
  readonly subs: InferenceSubscriptions;
  private readonly closed = new Set<bigint>();
  private cursor = 1n;
  /** Rounds this keeper triggered (skipped rounds included). */
  triggered = 0;

  constructor(
    private readonly chain: OracleChain,
    private readonly log: Logger,
    private readonly options: KeeperOptions,
  ) {
    this.subs = InferenceSubscriptions__factory.connect(options.address, chain.provider);
  }

  async tick(): Promise<void> {
    try {
      await this.collect();
    } catch (error) {
      this.log.warn({ err: error }, "could not withdraw keeper rewards; will retry");
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
