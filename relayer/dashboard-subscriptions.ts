/**
 * The dashboard's subscriptions panel (docs/FEATURES.md, "Subscriptions"):
 *
 *   GET /api/subscriptions    the newest subscriptions of the kept InferenceSubscriptions contract (at
 *                             most 50, chain reads) and this relayer's keeping: rounds triggered, rewards owed
 *
 * Without a subscriptions contract configured it answers `{ enabled: false }`. The panel itself is
 * dashboard/subscriptions.js.
 */
import type { Express } from "express";
import { ZeroAddress, type Provider } from "ethers";
import { InferenceSubscriptions__factory } from "../types/ethers-contracts/index.js";
import type { SubscriptionKeeper } from "./keeper.js";

const SHOWN = 50n;

export function mountSubscriptionsApi(
  app: Express,
  deps: { provider: Provider; address: string | undefined; keeper: SubscriptionKeeper | undefined; keeperAddress: () => Promise<string> },
): void {
  app.get("/api/subscriptions", async (_req, res) => {
    if (deps.address === undefined) return void res.json({ enabled: false, subscriptions: [] });
    const subs = InferenceSubscriptions__factory.connect(deps.address, deps.provider);
    const count = await subs.subscriptionCount();
    const ids: bigint[] = [];
    for (let id = count; id >= 1n && id > count - SHOWN; id--) ids.push(id);
    const subscriptions = await Promise.all(
      ids.map(async (id) => {
        const s = await subs.getSubscription(id);
        const due = await subs.isDue(id);
        return {
          subId: id.toString(),
          owner: s.owner,
          consumer: s.consumer,
          modelHash: s.modelHash,
          tier: Number(s.tier),
          interval: Number(s.interval),
          intervalIsBlocks: s.intervalIsBlocks,
          maxDeliveries: Number(s.maxDeliveries),
          triggered: Number(s.triggered),
          fulfilled: Number(s.fulfilled),
          refunded: Number(s.refunded),
          skipped: Number(s.skipped),
          pending: Number(s.pending),
          balance: s.balance.toString(),
          perDeliveryFee: s.perDeliveryFee.toString(),
          keeperReward: s.keeperReward.toString(),
          nextDue: s.nextDue.toString(),
          due,
          state: s.cancelled ? "cancelled" : s.triggered >= s.maxDeliveries ? "finished" : "open",
          // Paid in a token: perDeliveryFee is in it, tokenBalance its unspent part (balance stays wei).
          ...(s.token === ZeroAddress ? {} : { token: s.token, tokenBalance: s.tokenBalance.toString(), callbackFee: s.callbackFee.toString() }),
        };
      }),
    );
    const keeper = await deps.keeperAddress();
    res.json({
      enabled: true,
      address: deps.address,
      total: Number(count),
      keeper: { on: deps.keeper !== undefined, address: keeper, triggered: deps.keeper?.triggered ?? 0, synced: deps.keeper?.synced ?? 0, rewardsOwed: (await subs.rewardsOf(keeper)).toString() },
      subscriptions,
    });
  });
}
