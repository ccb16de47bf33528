import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import { expectRevert, events, send, now, FEE, OUTPUT_HASH, Status, type Connection } from "./helpers.js";
import {
  deploySubs, subscribe, subParams, prepay, trigger, deliver, booksBalance,
  CALLBACK_GAS, DeliveryStatus, INTERVAL, REWARD, WINDOW, type SubsFx,
} from "./subscriptions-helpers.js";

describe("InferenceSubscriptions", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploySubs);
  const books = async (fx: SubsFx, ids: bigint[]) => {
    const { held, owed } = await booksBalance(fx, ids, [fx.other.address, fx.challenger.address]);
    expect(held).toBe(owed);
  };

  it("test_subscribe_wrongValueOrParams_reverts", async () => {
    const fx = await fixture();
    const p = subParams(fx);
    await expectRevert(fx.subs.subscribe(p, { value: prepay(p) - 1n }), fx.subs, "SubsWrongValue", [prepay(p) - 1n, prepay(p)]);
    await expectRevert(fx.subs.subscribe(p, { value: prepay(p) + 1n }), fx.subs, "SubsWrongValue");
    await expectRevert(fx.subs.subscribe({ ...p, maxDeliveries: 0 }, { value: 0 }), fx.subs, "SubsInvalid", ["maxDeliveries"]);
    await expectRevert(fx.subs.subscribe({ ...p, interval: 0 }, { value: prepay(p) }), fx.subs, "SubsInvalid", ["interval"]);
    await expectRevert(fx.subs.subscribe({ ...p, deliveryWindow: 0 }, { value: prepay(p) }), fx.subs, "SubsInvalid", ["deliveryWindow"]);
    await expectRevert(fx.subs.subscribe({ ...p, inputHash: "0x" + "00".repeat(32) }, { value: prepay(p) }), fx.subs, "SubsInvalid", ["input"]);
    // A callback needs a contract to call; a consumer-made input needs one to ask.
    await expectRevert(fx.subs.subscribe({ ...p, consumer: fx.other.address }, { value: prepay(p) }), fx.subs, "SubsInvalid", ["consumer"]);
    await expectRevert(
      fx.subs.subscribe({ ...p, consumer: ZeroAddress, callbackGasLimit: 0, inputFromConsumer: true }, { value: prepay(p) }),
      fx.subs, "SubsInvalid", ["input"],
    );
    await expectRevert(fx.subs.subscribe({ ...p, callbackGasLimit: 990_000 }, { value: prepay(p) }), fx.subs, "SubsInvalid", ["callbackGasLimit"]);
    await expectRevert(fx.subs.subscribe({ ...p, inputURI: "x".repeat(513) }, { value: prepay(p) }), fx.subs, "SubsInvalid", ["inputURI"]);
  });

  it("test_rounds_fixedInput_deliverToConsumer_withExactGas", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { maxDeliveries: 3 });
    expect(await fx.subs.isDue(subId)).toBe(true);
    const t0 = await now(fx);
    for (let round = 0; round < 3; round++) {
      const { requestId, receipt } = await trigger(fx, subId);
      const [ev] = events(receipt, fx.subs, "RoundTriggered");
      expect(ev!.args.round).toBe(BigInt(round));
      expect(await fx.subs.requestOf(subId, round)).toBe(requestId);
      const req = await fx.oracle.getRequest(requestId);
      expect(req.requester).toBe(fx.subsAddr);
      expect(req.fee).toBe(FEE);
      expect(req.callbackGasLimit).toBe(await fx.subs.requestGasLimit(CALLBACK_GAS));
      expect(req.deadline).toBe(BigInt((await fx.ethers.provider.getBlock(receipt.blockNumber))!.timestamp) + BigInt(WINDOW));
      const delivered = await deliver(fx, requestId!);
      const [f] = events(delivered, fx.subs, "DeliveryFulfilled");
      expect(f!.args.callbackSucceeded).toBe(true);
      expect(f!.args.outputHash).toBe(OUTPUT_HASH);
      expect(await fx.subs.outputOf(subId, round)).toBe(OUTPUT_HASH);
      expect((await fx.subs.getDelivery(requestId)).status).toBe(BigInt(DeliveryStatus.Fulfilled));
      expect(await fx.consumer.results()).toBe(BigInt(round + 1));
      const atEntry: bigint = await fx.consumer.lastGasAtEntry();
      expect(atEntry).toBeLessThanOrEqual(BigInt(CALLBACK_GAS));
      expect(atEntry).toBeGreaterThan(BigInt(CALLBACK_GAS - 2_000));
      if (round < 2) {
        await expectRevert(fx.subs.connect(fx.other).trigger(subId), fx.subs, "SubsNotDue");
        await conn.networkHelpers.time.increaseTo(t0 + BigInt((round + 1) * INTERVAL));
      }
      await books(fx, [subId]);
    }
    await expectRevert(fx.subs.trigger(subId), fx.subs, "SubsFinished", [subId]);
    const s = await fx.subs.getSubscription(subId);
    expect([s.triggered, s.fulfilled, s.pending, s.balance]).toEqual([3n, 3n, 0n, 0n]);
    expect(await fx.subs.rewardsOf(fx.other.address)).toBe(3n * REWARD);
    const before = await fx.ethers.provider.getBalance(fx.other.address);
    const r = await send(fx.subs.connect(fx.other).withdrawRewards());
    expect(await fx.ethers.provider.getBalance(fx.other.address)).toBe(before + 3n * REWARD - r.gasUsed * r.gasPrice);
    expect(await fx.ethers.provider.getBalance(fx.subsAddr)).toBe(0n);
  });

  it("test_noConsumer_resultsAreKept", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { consumer: ZeroAddress, maxDeliveries: 1 });
    const { requestId } = await trigger(fx, subId);
    expect((await fx.oracle.getRequest(requestId)).callbackGasLimit).toBe(await fx.subs.requestGasLimit(0));
    const r = await deliver(fx, requestId!);
    expect(events(r, fx.subs, "DeliveryFulfilled")[0]!.args.callbackSucceeded).toBe(false);
    expect(await fx.subs.outputOf(subId, 0)).toBe(OUTPUT_HASH);
  });

  it("test_missedSlots_areSkipped_notCaughtUp", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { maxDeliveries: 5 });
    const t0 = (await fx.subs.getSubscription(subId)).nextDue as bigint;
    await trigger(fx, subId);
    // Keepers are away for 4.5 intervals: one round now, the next at the next slot boundary.
    await conn.networkHelpers.time.increaseTo(t0 + BigInt(INTERVAL * 4 + INTERVAL / 2));
    const { receipt } = await trigger(fx, subId);
    expect(events(receipt, fx.subs, "RoundTriggered")[0]!.args.nextDue).toBe(t0 + 5n * BigInt(INTERVAL));
    await expectRevert(fx.subs.trigger(subId), fx.subs, "SubsNotDue");
    expect(await fx.subs.isDue(subId)).toBe(false);
    await conn.networkHelpers.time.increaseTo(t0 + 5n * BigInt(INTERVAL));
    await trigger(fx, subId);
    expect((await fx.subs.getSubscription(subId)).triggered).toBe(3n);
  });

  it("test_blockInterval", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { interval: 5, intervalIsBlocks: true, maxDeliveries: 2 });
    // Slots are 5 blocks from the subscription's block; the first is due at once.
    const first = (await fx.subs.getSubscription(subId)).nextDue as bigint;
    const { receipt } = await trigger(fx, subId);
    expect(BigInt(receipt.blockNumber)).toBe(first + 1n);
    const due = first + 5n;
    expect((await fx.subs.getSubscription(subId)).nextDue).toBe(due);
    await conn.networkHelpers.mine(1);
    await expectRevert(fx.subs.trigger(subId), fx.subs, "SubsNotDue"); // estimated for block first + 3
    await conn.networkHelpers.mine(2);
    const r2 = await trigger(fx, subId); // mined in block `due`
    expect(BigInt(r2.receipt.blockNumber)).toBe(due);
  });

  it("test_expiredRound_refundsIntoBalance_thenCancelReturnsAll", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { maxDeliveries: 3 });
    const p = subParams(fx);
    const { requestId } = await trigger(fx, subId);
    await conn.networkHelpers.time.increase(WINDOW + 1);
    const r = await send(fx.oracle.refundExpired([requestId]));
    expect(events(r, fx.oracle, "RequestRefunded")[0]!.args.pushed).toBe(true);
    expect(events(r, fx.subs, "DeliveryRefunded")[0]!.args.amount).toBe(FEE);
    const s = await fx.subs.getSubscription(subId);
    expect(s.balance).toBe(prepay(p) - REWARD);
    expect([s.refunded, s.pending]).toEqual([1n, 0n]);
    await books(fx, [subId]);
    const before = await fx.ethers.provider.getBalance(fx.requester.address);
    const c = await send(fx.subs.connect(fx.requester).cancel(subId));
    expect(await fx.ethers.provider.getBalance(fx.requester.address)).toBe(before + prepay(p) - REWARD - c.gasUsed * c.gasPrice);
    await expectRevert(fx.subs.trigger(subId), fx.subs, "SubsCancelled", [subId]);
    await books(fx, [subId]);
  });

  it("test_refundExactlyWithinRefundGas", async () => {
    // The oracle pushes a refund with 50,000 gas; the subscription's books must fit in it.
    const fx = await fixture();
    const subId = await subscribe(fx, { maxDeliveries: 1 });
    const { requestId } = await trigger(fx, subId);
    await conn.networkHelpers.time.increase(WINDOW + 1);
    await send(fx.oracle.refundExpired([requestId]));
    expect(await fx.oracle.state(requestId)).toBe(BigInt(Status.Refunded));
    expect(await fx.oracle.balanceOf(fx.subsAddr)).toBe(0n);
    expect((await fx.subs.getDelivery(requestId)).status).toBe(BigInt(DeliveryStatus.Refunded));
  });

  it("test_sync_onlyForSettledPendingDeliveries", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { maxDeliveries: 1 });
    const { requestId } = await trigger(fx, subId);
    await expectRevert(fx.subs.sync(requestId), fx.subs, "SubsNotSettled", [requestId, BigInt(Status.Requested)]);
    await deliver(fx, requestId!);
    // The callback already recorded it: nothing left to sync, and no refund can be claimed for it.
    await expectRevert(fx.subs.sync(requestId), fx.subs, "SubsUnknownRequest", [requestId]);
  });
});
