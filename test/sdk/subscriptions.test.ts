/**
 * SubscriptionClient (sdk/subscriptions.ts) against the real contracts on the in-process EVM: subscribe,
 * get, rounds, list, trigger, cancel, withdraw, and its errors (bad input, reverts decoded by name).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { SubscriptionClient, isSdkError, Tier } from "../../sdk/index.js";
import { FEE, INPUT_HASH, MODEL_HASH, OUTPUT_HASH, type Connection } from "../contracts/helpers.js";
import { deploySubs, deliver, type SubsFx } from "../contracts/subscriptions-helpers.js";

describe("SubscriptionClient", () => {
  let conn: Connection;
  let fx: SubsFx;
  beforeAll(async () => {
    conn = await network.create();
    fx = await deploySubs(conn);
  });

  it("subscribes, follows rounds, lists, cancels with the unused part refunded, and withdraws", async () => {
    const subs = await SubscriptionClient.connect({ address: fx.subsAddr, runner: fx.requester });
    const reward = 10n ** 13n;
    const { subId, paid } = await subs.subscribe({
      modelHash: MODEL_HASH, tier: Tier.NONE, maxDeliveries: 3, interval: 600, perDeliveryFee: FEE, keeperReward: reward,
      consumer: fx.consumerAddr, callbackGasLimit: 100_000, input: { inputHash: INPUT_HASH, inputURI: "ipfs://input" },
    });
    expect(paid).toBe(3n * (FEE + reward));
    const keeper = await SubscriptionClient.connect({ address: fx.subsAddr, runner: fx.other });
    const { requestId } = await keeper.trigger(subId);
    expect(requestId).not.toBeNull();
    await deliver(fx, requestId!);
    const rounds = await subs.rounds(subId);
    expect(rounds).toEqual([{ round: 0, requestId, status: "fulfilled", outputHash: OUTPUT_HASH }]);
    const info = await subs.get(subId);
    expect([info.state, info.fulfilled, info.triggered, info.balance]).toEqual(["open", 1, 1, paid - FEE - reward]);
    expect((await subs.list({ owner: fx.requester.address })).map((s) => s.subId)).toContain(subId);
    expect(await subs.list({ owner: fx.admin.address })).toEqual([]);
    expect(await keeper.rewardsOf(fx.other.address)).toBe(reward);

    // A second trigger in the same slot: the revert is decoded by the subscriptions contract's errors.
    const early = await keeper.trigger(subId).catch((e: unknown) => e);
    expect(isSdkError(early, "TX_REVERTED")).toBe(true);
    expect((early as Error).message).toContain("SubsNotDue");
    // Not the owner.
    const stranger = await keeper.cancel(subId).catch((e: unknown) => e);
    expect((stranger as Error).message).toContain("SubsNotOwner");

    const c = await subs.cancel(subId);
    expect(c.refunded).toBe(paid - FEE - reward);
    expect((await subs.get(subId)).state).toBe("cancelled");
    expect((await subs.withdraw(subId)).amount).toBe(0n);
  });

  it("refuses bad options and a read-only runner's transactions with clear errors", async () => {
    const subs = await SubscriptionClient.connect({ address: fx.subsAddr, runner: fx.requester });
    const base = { modelHash: MODEL_HASH, maxDeliveries: 1, interval: 60, perDeliveryFee: FEE, input: { inputHash: INPUT_HASH, inputURI: "ipfs://x" } };
    await expect(subs.subscribe({ ...base, maxDeliveries: 0 })).rejects.toMatchObject({ code: "INPUT_INVALID" });
    await expect(subs.subscribe({ ...base, interval: 1.5 })).rejects.toMatchObject({ code: "INPUT_INVALID" });
    await expect(subs.subscribe({ ...base, input: "consumer" })).rejects.toMatchObject({ code: "INPUT_INVALID" });
    await expect(SubscriptionClient.connect({ address: "0x1234", runner: fx.requester })).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(SubscriptionClient.connect({ address: fx.requester.address, runner: fx.requester })).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    const reader = await SubscriptionClient.connect({ address: fx.subsAddr, runner: fx.ethers.provider });
    await expect(reader.cancel(1n)).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(reader.get(999n)).rejects.toMatchObject({ code: "REQUEST_NOT_FOUND" });
  });
});
