/**
 * Attacks on subscriptions paid in a token (InferenceSubscriptions.subscribeWithToken), each shown to fail:
 * a fee-on-transfer token, a token that re-enters while it is moved, cancelling twice, a refund taken by or
 * paid to the wrong party, and a keeper paid twice. The randomized funds conservation across token paths
 * is test/attacks/token-paths-conservation.test.ts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { events, expectRevert, now, send, MODEL_HASH, TOKEN_FEE, type Connection } from "../contracts/helpers.js";
import { subParams, trigger, deliver, REWARD, WINDOW, INTERVAL, type SubsFx } from "../contracts/subscriptions-helpers.js";
import { deploySubsToken, expectSubsTokenBooks, subscribeToken, tokenFor, tokenPrepay, SUB_CALLBACK_FEE, type SubsTokenFx } from "../contracts/token-features-helpers.js";

describe("attack: subscriptions paid in a token", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<SubsTokenFx> => conn.networkHelpers.loadFixture(deploySubsToken);

  it("test_subscribeWithToken_feeOnTransferToken_reverts", async () => {
    const fx = await fixture();
    const fot = await tokenFor(fx, [MODEL_HASH], "FeeOnTransferToken");
    const p = subParams(fx as unknown as SubsFx, { fee: TOKEN_FEE, maxDeliveries: 2 });
    const { tokens, wei } = tokenPrepay(p);
    await send(fot.connect(fx.requester).approve(fx.subsAddr, tokens));
    // The subscription would hold 1% less than it escrows: refused before anything is recorded.
    await expectRevert(
      fx.subs.connect(fx.requester).subscribeWithToken(p, fot.target, SUB_CALLBACK_FEE, "0x", { value: wei }),
      fx.subs, "TokenPullFeeOnTransfer", [fot.target, tokens, tokens - tokens / 100n],
    );
    expect(await fx.subs.subscriptionCount()).toBe(0n);
  });

  it("test_reentrantToken_duringPullOrPayout_cannotReenter", async () => {
    const fx = await fixture();
    const ret = await tokenFor(fx, [MODEL_HASH], "ReentrantToken");
    const guard = fx.subs.interface.getError("ReentrancyGuardReentrantCall")!.selector;
    const due = await subscribeToken(fx, { token: ret, maxDeliveries: 2 });
    // While the subscription pulls a new prepayment, the token tries to trigger a due round (and be paid).
    await send(ret.arm(fx.subsAddr, fx.subs.interface.encodeFunctionData("trigger", [due])));
    const second = await subscribeToken(fx, { token: ret, maxDeliveries: 2 });
    expect([await ret.reentered(), await ret.reentrySucceeded(), await ret.reentryResult()]).toEqual([true, false, guard]);
    expect((await fx.subs.getSubscription(due)).triggered).toBe(0n);
    // While cancel pays the unused tokens out, the token tries to sync and to cancel again.
    for (const call of ["cancel", "withdraw"] as const) {
      await send(ret.arm(fx.subsAddr, fx.subs.interface.encodeFunctionData(call, [second])));
      const id = await subscribeToken(fx, { token: ret, maxDeliveries: 1 });
      await send(ret.arm(fx.subsAddr, fx.subs.interface.encodeFunctionData(call, [id])));
      await send(fx.subs.connect(fx.requester).cancel(id));
      expect(await ret.reentryResult()).toBe(guard);
    }
    await expectSubsTokenBooks(fx, [due, second, 3n, 4n], ret);
  });

  it("test_cancelTwice_orByAnother_reverts_paidOnce", async () => {
    const fx = await fixture();
    const subId = await subscribeToken(fx, { maxDeliveries: 3 });
    await expectRevert(fx.subs.connect(fx.other).cancel(subId), fx.subs, "SubsNotOwner", [subId, fx.other.address]);
    await expectRevert(fx.subs.connect(fx.other).withdraw(subId), fx.subs, "SubsNotOwner", [subId, fx.other.address]);
    const before = await fx.token.balanceOf(fx.requester.address);
    await send(fx.subs.connect(fx.requester).cancel(subId));
    expect((await fx.token.balanceOf(fx.requester.address)) - before).toBe(3n * TOKEN_FEE);
    await expectRevert(fx.subs.connect(fx.requester).cancel(subId), fx.subs, "SubsCancelled", [subId]);
    // withdraw after cancel pays nothing more.
    const r = await send(fx.subs.connect(fx.requester).withdraw(subId));
    expect(events(r, fx.subs, "SubscriptionTokenWithdrawn")).toHaveLength(0);
    expect((await fx.token.balanceOf(fx.requester.address)) - before).toBe(3n * TOKEN_FEE);
    await expectSubsTokenBooks(fx, [subId]);
  });

  it("test_refundClaimedByAnother_stillReturnsToSubscription", async () => {
    const fx = await fixture();
    const a = await subscribeToken(fx, { maxDeliveries: 1 });
    const b = await subscribeToken(fx, { maxDeliveries: 1 }, fx.other);
    const { requestId: ra } = await trigger(fx, a);
    const { requestId: rb } = await trigger(fx, b);
    await conn.networkHelpers.time.increaseTo((await now(fx)) + BigInt(WINDOW) + 1n);
    await send(fx.oracle.refundExpired([ra]));
    // An attacker claims the oracle refund first: it is credited to the requester (the subscriptions
    // contract), never to the caller.
    await send(fx.oracle.connect(fx.challenger).claimTokenRefund(ra));
    expect(await fx.oracle.tokenBalanceOf(fx.challenger.address, fx.tokenAddr)).toBe(0n);
    expect(await fx.oracle.tokenBalanceOf(fx.subsAddr, fx.tokenAddr)).toBe(TOKEN_FEE);
    // b's round is still open: syncing it cannot take a's refund.
    await expectRevert(fx.subs.sync(rb), fx.subs, "SubsNotSettled");
    await send(fx.subs.connect(fx.challenger).sync(ra));
    expect((await fx.subs.getSubscription(a)).tokenBalance).toBe(TOKEN_FEE);
    expect((await fx.subs.getSubscription(b)).tokenBalance).toBe(0n);
    await expectSubsTokenBooks(fx, [a, b]);
    // Only a's owner takes it.
    await expectRevert(fx.subs.connect(fx.other).withdraw(a), fx.subs, "SubsNotOwner", [a, fx.other.address]);
    const before = await fx.token.balanceOf(fx.requester.address);
    await send(fx.subs.connect(fx.requester).withdraw(a));
    expect((await fx.token.balanceOf(fx.requester.address)) - before).toBe(TOKEN_FEE);
  });

  it("test_keeperDoubleReward_triggerOrSyncTwice_reverts", async () => {
    const fx = await fixture();
    const subId = await subscribeToken(fx, { maxDeliveries: 2 });
    const { requestId } = await trigger(fx, subId);
    await expectRevert(fx.subs.connect(fx.other).trigger(subId), fx.subs, "SubsNotDue");
    expect(await fx.subs.rewardsOf(fx.other.address)).toBe(REWARD);
    // A forged refund (not the oracle) is refused; a fulfilled round cannot be synced into a refund.
    await expectRevert(fx.subs.connect(fx.other).onInferenceRefunded(requestId, 0), fx.subs, "SubsOnlyOracle", [fx.other.address]);
    await deliver(fx, requestId!);
    await expectRevert(fx.subs.sync(requestId), fx.subs, "SubsUnknownRequest", [requestId]);
    await conn.networkHelpers.time.increase(INTERVAL);
    const { requestId: r2 } = await trigger(fx, subId);
    await conn.networkHelpers.time.increase(WINDOW + 1);
    await send(fx.oracle.refundExpired([r2]));
    await send(fx.subs.sync(r2));
    await expectRevert(fx.subs.sync(r2), fx.subs, "SubsUnknownRequest", [r2]);
    const s = await fx.subs.getSubscription(subId);
    // One reward per round; the refunded round's token fee back once.
    expect(await fx.subs.rewardsOf(fx.other.address)).toBe(2n * REWARD);
    expect([s.tokenBalance, s.balance]).toEqual([TOKEN_FEE, SUB_CALLBACK_FEE]);
    await expectSubsTokenBooks(fx, [subId]);
  });
});
