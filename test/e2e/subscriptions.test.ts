/**
 * Subscriptions end to end on the in-process stack (issue 18): the relayer's keeper triggers each due
 * round of a PeriodicTextDirectionDApp subscription, the worker serves it with the real PP-OCR
 * classifier, the dApp's callback records each verdict, and cancelling refunds the unused round
 * (scripts/features/subscription.ts, as `npm run demo:features` runs it). Then a relayer started with
 * the keeper off leaves a due round alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEther } from "ethers";
import { createLogger, Tier } from "../../protocol/index.js";
import { startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { subscription } from "../../scripts/features/subscription.js";

describe("subscriptions on the in-process stack", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 1, logger: createLogger("oracle", { level: "error" }) });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("delivers 3 keeper-triggered rounds to the dApp and refunds the unused round on cancel", async () => {
    const report = await subscription.run(stack, () => undefined);
    expect(report.delivered, JSON.stringify(report)).toBe(true);
    expect(report.callbacks).toBe(3);
    expect(report.rotated180).toEqual([true, true, true]);
    expect(report.keeperTriggers).toBe(3);
    expect(report.refundedOnCancel).toBe(report.expectedRefund);
    expect(await stack.subscriptions.rewardsOf(await stack.accounts.relayer.getAddress())).toBe(3n * parseEther("0.0001"));
    // The dashboard's subscriptions panel reads the same from the chain.
    const api = (await (await fetch(`${stack.relayer.url}/api/subscriptions`)).json()) as any;
    expect(api.enabled).toBe(true);
    expect(api.keeper).toMatchObject({ on: true, triggered: 3, rewardsOwed: (3n * parseEther("0.0001")).toString() });
    expect(api.subscriptions[0]).toMatchObject({ subId: report.subId, state: "cancelled", fulfilled: 3, maxDeliveries: 4, balance: "0" });
    const panel = await fetch(`${stack.relayer.url}/dashboard/subscriptions.js`);
    expect(panel.status).toBe(200);
  }, 180_000);

  it("the keeper withdraws its rewards once they reach withdrawRewardsAboveWei", async () => {
    const low = await startLocalStack({
      tier: Tier.NONE,
      workers: 0,
      relayer: { subscriptions: { withdrawRewardsAboveWei: parseEther("0.00025") } },
      logger: createLogger("oracle", { level: "error" }),
    });
    try {
      const keeper = await low.accounts.relayer.getAddress();
      const reward = parseEther("0.0001");
      const p = {
        modelHash: low.modelHash, tier: Tier.NONE, consumer: "0x0000000000000000000000000000000000000000", interval: 60, intervalIsBlocks: false,
        maxDeliveries: 3, perDeliveryFee: parseEther("0.01"), keeperReward: reward, callbackGasLimit: 0, deliveryWindow: 600,
        inputFromConsumer: false, inputHash: "0x" + "ab".repeat(32), inputURI: "http://example.invalid/x",
      };
      await (await low.subscriptions.connect(low.accounts.user).subscribe(p, { value: 3n * (p.perDeliveryFee + reward) })).wait();
      await low.relayer.tick(); // round 0 triggered: one reward owed, below the threshold
      expect(await low.subscriptions.rewardsOf(keeper)).toBe(reward);
      await low.networkHelpers.time.increase(60);
      await low.relayer.tick(); // round 1: two rewards owed, still below
      expect(await low.subscriptions.rewardsOf(keeper)).toBe(2n * reward);
      await low.networkHelpers.time.increase(60);
      await low.relayer.tick(); // round 2: three rewards owed, over the threshold: the next tick withdraws them
      await waitFor(async () => (await low.subscriptions.rewardsOf(keeper)) === 0n, 30_000, "rewards withdrawn");
      expect(await low.subscriptions.queryFilter(low.subscriptions.filters.RewardsWithdrawn(keeper))).toHaveLength(1);
    } finally {
      await low.close();
    }
  }, 120_000);

  it("a relayer with the keeper off triggers nothing", async () => {
    const off = await startLocalStack({ tier: Tier.NONE, workers: 0, relayer: { subscriptions: { keeper: false } }, logger: createLogger("oracle", { level: "error" }) });
    try {
      expect(off.relayer.keeper).toBeUndefined();
      expect(((await (await fetch(`${off.relayer.url}/api/subscriptions`)).json()) as any).keeper.on).toBe(false);
      const p = {
        modelHash: off.modelHash, tier: Tier.NONE, consumer: "0x0000000000000000000000000000000000000000", interval: 60, intervalIsBlocks: false,
        maxDeliveries: 1, perDeliveryFee: parseEther("0.01"), keeperReward: 0n, callbackGasLimit: 0, deliveryWindow: 600,
        inputFromConsumer: false, inputHash: "0x" + "ab".repeat(32), inputURI: "http://example.invalid/x",
      };
      await (await off.subscriptions.connect(off.accounts.user).subscribe(p, { value: p.perDeliveryFee })).wait();
      expect(p.keeperReward).toBe(0n);
      for (let i = 0; i < 5; i++) await off.relayer.tick();
      expect(await off.subscriptions.isDue(1n)).toBe(true);
      expect((await off.subscriptions.getSubscription(1n)).triggered).toBe(0n);
    } finally {
      await off.close();
    }
  }, 120_000);
});
