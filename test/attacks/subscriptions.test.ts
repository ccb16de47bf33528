/**
 * Attacks on InferenceSubscriptions (issue 18): each way a keeper, a subscriber, a stranger or a hostile
 * consumer could steal, censor, grief or escape, shown to fail. The randomized funds-conservation case is
 * test/attacks/subscriptions-conservation.test.ts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { expectRevert, events, modelInfo, send, FEE, MODEL_HASH, Status, type Connection } from "../contracts/helpers.js";
import {
  deploySubs, subscribe, subParams, prepay, trigger, deliver, booksBalance,
  DeliveryStatus, REWARD, SubMode, WINDOW, type SubsFx,
} from "../contracts/subscriptions-helpers.js";

describe("attacks on subscriptions", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploySubs);
  const books = async (fx: SubsFx, ids: bigint[]) => {
    const { held, owed } = await booksBalance(fx, ids, [fx.other.address, fx.challenger.address, fx.relayer.address]);
    expect(held).toBe(owed);
  };

  it("keeper: triggering early or twice in a round pays nothing and makes no request", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx);
    await trigger(fx, subId, fx.other);
    // Twice in the same slot, by the same keeper and by another.
    await expectRevert(fx.subs.connect(fx.other).trigger(subId), fx.subs, "SubsNotDue");
    await expectRevert(fx.subs.connect(fx.challenger).trigger(subId), fx.subs, "SubsNotDue");
    // One second before the next slot.
    const due = (await fx.subs.getSubscription(subId)).nextDue as bigint;
    await conn.networkHelpers.time.setNextBlockTimestamp(due - 1n);
    await expectRevert(fx.subs.connect(fx.challenger).trigger(subId), fx.subs, "SubsNotDue", [subId, due, due - 1n]);
    const s = await fx.subs.getSubscription(subId);
    expect(s.triggered).toBe(1n);
    expect(await fx.subs.rewardsOf(fx.other.address)).toBe(REWARD);
    expect(await fx.subs.rewardsOf(fx.challenger.address)).toBe(0n);
    await books(fx, [subId]);
  });

  it("keeper: starving the consumer's input view of gas cannot burn a round", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { inputFromConsumer: true });
    // Just enough gas for everything but the input view's full budget: the trigger reverts whole.
    await expect(fx.subs.connect(fx.other).trigger(subId, { gasLimit: 120_000 })).rejects.toThrow();
    const s = await fx.subs.getSubscription(subId);
    expect([s.triggered, s.skipped]).toEqual([0n, 0n]);
    expect(await fx.subs.rewardsOf(fx.other.address)).toBe(0n);
    const { requestId } = await trigger(fx, subId, fx.other);
    expect(requestId).not.toBeNull();
  });

  for (const [name, mode, reason] of [
    ["reverting", SubMode.Revert, "reverted"],
    ["gas-burning", SubMode.BurnGas, "reverted"],
    ["huge (64 kB)", SubMode.HugeAnswer, "answer size"],
    ["malformed", SubMode.BadEncoding, "answer encoding"],
  ] as const) {
    it(`subscriber: a ${name} input view cannot grief the keeper (paid, bounded gas, round skipped)`, async () => {
      const fx = await fixture();
      await send(fx.consumer.setModes(mode, SubMode.Honest));
      const p = subParams(fx, { inputFromConsumer: true });
      const subId = await subscribe(fx, { inputFromConsumer: true });
      const { requestId, receipt } = await trigger(fx, subId, fx.other, 1_000_000);
      expect(requestId).toBeNull();
      const skipped = events(receipt, fx.subs, "RoundSkipped");
      expect(skipped).toHaveLength(1);
      expect(Buffer.from(skipped[0]!.args.reason.slice(2), "hex").toString()).toBe(reason);
      expect(receipt.gasUsed).toBeLessThan(250_000n);
      expect(await fx.subs.rewardsOf(fx.other.address)).toBe(REWARD);
      const s = await fx.subs.getSubscription(subId);
      expect([s.triggered, s.skipped, s.pending]).toEqual([1n, 1n, 0n]);
      // The skipped round's fee stays the subscriber's.
      expect(s.balance).toBe(prepay(p) - REWARD);
      await books(fx, [subId]);
    });
  }

  for (const [name, mode] of [["reverting", SubMode.Revert], ["gas-burning", SubMode.BurnGas], ["return-bombing", SubMode.ReturnBomb]] as const) {
    it(`consumer: a ${name} result callback cannot block delivery`, async () => {
      const fx = await fixture();
      await send(fx.consumer.setModes(SubMode.Honest, mode));
      const subId = await subscribe(fx);
      const { requestId } = await trigger(fx, subId);
      const r = await deliver(fx, requestId!);
      expect(await fx.oracle.state(requestId)).toBe(BigInt(Status.Fulfilled));
      expect(events(r, fx.subs, "DeliveryFulfilled")[0]!.args.callbackSucceeded).toBe(false);
      expect((await fx.subs.getSubscription(subId)).fulfilled).toBe(1n);
      expect(r.gasUsed).toBeLessThan(600_000n);
    });
  }

  for (const [name, mode] of [["trigger", SubMode.ReenterTrigger], ["cancel", SubMode.ReenterCancel]] as const) {
    it(`consumer: re-entering ${name} from the result callback is refused`, async () => {
      const fx = await fixture();
      // The consumer owns its own subscription, so a re-entered cancel would otherwise be allowed.
      await send(fx.consumer.setModes(SubMode.Honest, mode));
      const p = subParams(fx, { interval: 1 });
      const r0 = await send(fx.consumer.subscribe(p, { value: prepay(p) }));
      const subId = events(r0, fx.subs, "Subscribed")[0]!.args.subId as bigint;
      const { requestId } = await trigger(fx, subId);
      await conn.networkHelpers.time.increase(5); // the next round is due: only the guard stops it
      await deliver(fx, requestId!);
      expect(await fx.consumer.reentrySucceeded()).toBe(false);
      expect(await fx.consumer.reentryError()).toBe(fx.subs.interface.getError("ReentrancyGuardReentrantCall")!.selector);
      const s = await fx.subs.getSubscription(subId);
      expect([s.triggered, s.cancelled, s.fulfilled]).toEqual([1n, false, 1n]);
      await books(fx, [subId]);
    });
  }

  it("model owner: deactivating the model stalls rounds without burning them; the subscriber takes everything unused back", async () => {
    const fx = await fixture();
    const p = subParams(fx, { maxDeliveries: 3 });
    const subId = await subscribe(fx, { maxDeliveries: 3 });
    const { requestId } = await trigger(fx, subId);
    await deliver(fx, requestId!);
    const resolver = await fx.resolver.getAddress();
    await send(fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ active: false, resolver, zkVerifier: await fx.zk.getAddress() })));
    await conn.networkHelpers.time.increase(3600);
    // The oracle refuses the round: the trigger reverts whole, no reward is paid, no round is used up.
    await expectRevert(fx.subs.connect(fx.other).trigger(subId), fx.oracle, "OracleModelInactive", [MODEL_HASH]);
    const s = await fx.subs.getSubscription(subId);
    expect([s.triggered, s.skipped]).toEqual([1n, 0n]);
    expect(await fx.subs.isDue(subId)).toBe(true);
    const before = await fx.ethers.provider.getBalance(fx.requester.address);
    const r = await send(fx.subs.connect(fx.requester).cancel(subId));
    expect(await fx.ethers.provider.getBalance(fx.requester.address)).toBe(before + prepay(p) - FEE - REWARD - r.gasUsed * r.gasPrice);
    await books(fx, [subId]);
  });

  it("stranger: cannot cancel or withdraw someone else's subscription", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx);
    await expectRevert(fx.subs.connect(fx.other).cancel(subId), fx.subs, "SubsNotOwner", [subId, fx.other.address]);
    await expectRevert(fx.subs.connect(fx.other).withdraw(subId), fx.subs, "SubsNotOwner", [subId, fx.other.address]);
    await expectRevert(fx.subs.connect(fx.other).cancel(999n), fx.subs, "SubsNotFound", [999n]);
    // The owner cannot withdraw an open subscription's prepaid rounds without cancelling it.
    await expectRevert(fx.subs.connect(fx.requester).withdraw(subId), fx.subs, "SubsStillOpen", [subId]);
    expect((await fx.subs.getSubscription(subId)).cancelled).toBe(false);
  });

  it("subscriber: cancel while a round is in flight, then its refund arrives: paid once, never twice", async () => {
    const fx = await fixture();
    const p = subParams(fx, { maxDeliveries: 3 });
    const subId = await subscribe(fx, { maxDeliveries: 3 });
    const { requestId } = await trigger(fx, subId);
    const paid: bigint[] = [];
    const ownerBal = () => fx.ethers.provider.getBalance(fx.requester.address);
    let before = await ownerBal();
    let r = await send(fx.subs.connect(fx.requester).cancel(subId));
    paid.push((await ownerBal()) - before + r.gasUsed * r.gasPrice);
    // Unused now: two rounds' fees and rewards (the in-flight round's fee is at the oracle).
    expect(paid[0]).toBe(prepay(p) - REWARD - FEE);
    await expectRevert(fx.subs.connect(fx.requester).cancel(subId), fx.subs, "SubsCancelled", [subId]);
    await expectRevert(fx.subs.trigger(subId), fx.subs, "SubsCancelled", [subId]);
    // The round expires; its refund lands in the cancelled subscription's balance.
    await conn.networkHelpers.time.increase(WINDOW + 1);
    await send(fx.oracle.refundExpired([requestId]));
    expect((await fx.subs.getSubscription(subId)).balance).toBe(FEE);
    await books(fx, [subId]);
    // A refund cannot be credited again (no second push, no sync of a settled delivery).
    await expectRevert(fx.subs.sync(requestId), fx.subs, "SubsUnknownRequest", [requestId]);
    before = await ownerBal();
    r = await send(fx.subs.connect(fx.requester).withdraw(subId));
    paid.push((await ownerBal()) - before + r.gasUsed * r.gasPrice);
    expect(paid[1]).toBe(FEE);
    before = await ownerBal();
    r = await send(fx.subs.connect(fx.requester).withdraw(subId));
    expect((await ownerBal()) - before + r.gasUsed * r.gasPrice).toBe(0n);
    expect(paid[0]! + paid[1]! + REWARD).toBe(prepay(p));
    expect(await fx.ethers.provider.getBalance(fx.subsAddr)).toBe(REWARD); // the keeper's, until withdrawn
  });

  it("subscriber: cancel while a round is in flight, then it is delivered: the delivery still lands", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx, { maxDeliveries: 2 });
    const { requestId } = await trigger(fx, subId);
    await send(fx.subs.connect(fx.requester).cancel(subId));
    const r = await deliver(fx, requestId!);
    expect(events(r, fx.subs, "DeliveryFulfilled")[0]!.args.callbackSucceeded).toBe(true);
    expect((await fx.subs.getSubscription(subId)).balance).toBe(0n);
    await books(fx, [subId]);
  });

  it("anyone: a refund or result not from the oracle, or for a request that is not a subscription's, is refused", async () => {
    const fx = await fixture();
    const subId = await subscribe(fx);
    const { requestId } = await trigger(fx, subId);
    // Forged callbacks straight to the contract.
    await expectRevert(fx.subs.connect(fx.other).onInferenceRefunded(requestId, 0, { value: FEE }), fx.subs, "SubsOnlyOracle", [fx.other.address]);
    await expectRevert(fx.subs.connect(fx.other).onInferenceResult(requestId, "0x" + "11".repeat(32), "0x"), fx.subs, "SubsOnlyOracle");
    await expect(fx.other.sendTransaction({ to: fx.subsAddr, value: 1n })).rejects.toThrow();
    // Someone else's request, refunded by the oracle, is refunded to its own requester, never here;
    // and a request id the contract never made cannot be synced into a balance.
    const other = await fx.oracle.connect(fx.other).requestInference(
      { modelHash: (await fx.oracle.getRequest(requestId)).modelHash, inputHash: (await fx.oracle.getRequest(requestId)).inputHash, input: "0x", inputURI: "ipfs://x", tier: 0, callbackGasLimit: 0, deadline: BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp) + 60n, maxInlineOutput: 0 },
      { value: FEE },
    );
    const otherId = events(await other.wait(), fx.oracle, "InferenceRequested")[0]!.args.requestId as string;
    await conn.networkHelpers.time.increase(61);
    await send(fx.oracle.refundExpired([otherId]));
    await expectRevert(fx.subs.sync(otherId), fx.subs, "SubsUnknownRequest", [otherId]);
    expect((await fx.subs.getDelivery(requestId)).status).toBe(BigInt(DeliveryStatus.Pending));
    await books(fx, [subId]);
  });
});
