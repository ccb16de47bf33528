/**
 * Subscriptions paid in an ERC-20 token (InferenceSubscriptions.subscribeWithToken; docs/FEATURES.md "ERC-20
 * fees across features"): the token prepayment pulled exactly (with a permit in one transaction), each
 * round an oracle token request paid out in the token, a refunded round's tokens and callback fee brought
 * back by `sync`, and cancel paying the unused tokens and wei to the owner. Real EVM, real oracle.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import { expectRevert, events, send, now, OUTPUT_HASH, Status, TOKEN_FEE, TOKEN_OWNER_FEE, type Connection } from "./helpers.js";
import { subParams, trigger, deliver, booksBalance, DeliveryStatus, REWARD, WINDOW, type SubsFx } from "./subscriptions-helpers.js";
import { deploySubsToken, expectSubsTokenBooks, subscribeToken, tokenPrepay, SUB_CALLBACK_FEE, type SubsTokenFx } from "./token-features-helpers.js";
import { signPermit, encodePermit } from "../../protocol/index.js";

describe("InferenceSubscriptions: paid in an ERC-20 token", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<SubsTokenFx> => conn.networkHelpers.loadFixture(deploySubsToken);
  const books = async (fx: SubsTokenFx, ids: bigint[]) => {
    const { held, owed } = await booksBalance(fx as unknown as SubsFx, ids, [fx.other.address, fx.challenger.address]);
    expect(held).toBe(owed);
    await expectSubsTokenBooks(fx, ids);
  };

  it("test_subscribeWithToken_roundsAreTokenRequests_paidOutInToken_succeeds", async () => {
    const fx = await fixture();
    const before = await fx.token.balanceOf(fx.requester.address);
    const subId = await subscribeToken(fx, { maxDeliveries: 2 });
    expect(before - (await fx.token.balanceOf(fx.requester.address))).toBe(2n * TOKEN_FEE);
    expect(await fx.token.balanceOf(fx.subsAddr)).toBe(2n * TOKEN_FEE);
    expect(await fx.ethers.provider.getBalance(fx.subsAddr)).toBe(2n * (SUB_CALLBACK_FEE + REWARD));
    const s = await fx.subs.getSubscription(subId);
    expect([s.token, s.callbackFee, s.tokenBalance, s.balance]).toEqual([fx.tokenAddr, SUB_CALLBACK_FEE, 2n * TOKEN_FEE, 2n * (SUB_CALLBACK_FEE + REWARD)]);

    const { requestId, receipt } = await trigger(fx, subId);
    const [esc] = events(receipt, fx.oracle, "TokenFeeEscrowed");
    expect([esc!.args.token, esc!.args.amount]).toEqual([fx.tokenAddr, TOKEN_FEE]);
    const req = await fx.oracle.getRequest(requestId);
    expect([req.requester, req.fee, req.callbackFee]).toEqual([fx.subsAddr, 0n, SUB_CALLBACK_FEE]);
    // The oracle pulled exactly the round's fee: no allowance left behind.
    expect(await fx.token.allowance(fx.subsAddr, fx.oracleAddr)).toBe(0n);
    await books(fx, [subId]);

    const delivered = await deliver(fx, requestId!);
    const [f] = events(delivered, fx.subs, "DeliveryFulfilled");
    expect([f!.args.outputHash, f!.args.callbackSucceeded]).toEqual([OUTPUT_HASH, true]);
    expect(await fx.oracle.tokenBalanceOf(fx.modelOwner.address, fx.tokenAddr)).toBe(TOKEN_OWNER_FEE);
    expect(await fx.consumer.results()).toBe(1n);
    await books(fx, [subId]);

    // Cancel: the unused round's tokens and its wei (callback fee + reward) go back to the owner.
    const tokensBefore = await fx.token.balanceOf(fx.requester.address);
    const r = await send(fx.subs.connect(fx.requester).cancel(subId));
    const [tw] = events(r, fx.subs, "SubscriptionTokenWithdrawn");
    expect([tw!.args.token, tw!.args.amount]).toEqual([fx.tokenAddr, TOKEN_FEE]);
    expect((await fx.token.balanceOf(fx.requester.address)) - tokensBefore).toBe(TOKEN_FEE);
    expect(events(r, fx.subs, "SubscriptionCancelled")[0]!.args.refunded).toBe(SUB_CALLBACK_FEE + REWARD);
    await books(fx, [subId]);
    expect(await fx.token.balanceOf(fx.subsAddr)).toBe(0n);
  });

  it("test_refundedTokenRound_syncReturnsTokensAndCallbackFee_succeeds", async () => {
    const fx = await fixture();
    const subId = await subscribeToken(fx, { maxDeliveries: 1 });
    const { requestId } = await trigger(fx, subId);
    await conn.networkHelpers.time.increaseTo((await now(fx)) + BigInt(WINDOW) + 1n);
    const r = await send(fx.oracle.refundExpired([requestId]));
    // The oracle's refund of a token request carries nothing: the round waits for sync.
    const [pending] = events(r, fx.subs, "TokenDeliveryRefundPending");
    expect(pending!.args.requestId).toBe(requestId);
    expect((await fx.subs.getDelivery(requestId)).status).toBe(BigInt(DeliveryStatus.Pending));
    await books(fx, [subId]);

    const synced = await send(fx.subs.connect(fx.other).sync(requestId));
    const [refunded] = events(synced, fx.subs, "DeliveryRefunded");
    expect(refunded!.args.amount).toBe(SUB_CALLBACK_FEE);
    const s = await fx.subs.getSubscription(subId);
    expect([s.tokenBalance, s.balance, s.refunded, s.pending]).toEqual([TOKEN_FEE, SUB_CALLBACK_FEE, 1n, 0n]);
    await books(fx, [subId]);
    await expectRevert(fx.subs.sync(requestId), fx.subs, "SubsUnknownRequest", [requestId]);

    // Finished: withdraw pays the refunded round's tokens and callback fee to the owner.
    const before = await fx.token.balanceOf(fx.requester.address);
    await send(fx.subs.connect(fx.requester).withdraw(subId));
    expect((await fx.token.balanceOf(fx.requester.address)) - before).toBe(TOKEN_FEE);
    expect(await fx.token.balanceOf(fx.subsAddr)).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.subsAddr)).toBe(await fx.subs.rewardsOf(fx.other.address));
  });

  it("test_subscribeWithToken_permitInOneTransaction_succeeds", async () => {
    const fx = await fixture();
    const p = subParams(fx as unknown as SubsFx, { fee: TOKEN_FEE, maxDeliveries: 3 });
    const { tokens } = tokenPrepay(p);
    const permit = await signPermit(fx.requester, fx.tokenAddr, fx.subsAddr, tokens, (await now(fx)) + 3600n);
    const subId = await subscribeToken(fx, { maxDeliveries: 3, permit: encodePermit(permit) });
    expect(await fx.token.allowance(fx.requester.address, fx.subsAddr)).toBe(0n);
    expect((await fx.subs.getSubscription(subId)).tokenBalance).toBe(tokens);
  });

  it("test_subscribeWithToken_invalid_reverts", async () => {
    const fx = await fixture();
    const p = subParams(fx as unknown as SubsFx, { fee: TOKEN_FEE });
    const { tokens, wei } = tokenPrepay(p);
    await send(fx.token.connect(fx.requester).approve(fx.subsAddr, tokens));
    const subs = fx.subs.connect(fx.requester);
    await expectRevert(subs.subscribeWithToken(p, ZeroAddress, SUB_CALLBACK_FEE, "0x", { value: wei }), fx.subs, "SubsInvalid", ["token"]);
    await expectRevert(subs.subscribeWithToken(p, fx.tokenAddr, 0n, "0x", { value: wei }), fx.subs, "SubsInvalid", ["callbackFee"]);
    await expectRevert(subs.subscribeWithToken(p, fx.tokenAddr, SUB_CALLBACK_FEE, "0x", { value: wei - 1n }), fx.subs, "SubsWrongValue", [wei - 1n, wei]);
    // An address without code is no token (a "transfer" from it would move nothing).
    await expectRevert(subs.subscribeWithToken(p, fx.other.address, SUB_CALLBACK_FEE, "0x", { value: wei }), fx.subs, "TokenPullNotAToken", [fx.other.address]);
    // A token the model does not accept: the round's request is refused, so its trigger reverts and nothing moves.
    const other: any = await fx.ethers.deployContract("TestPermitToken", []);
    await send(other.mint(fx.requester.address, tokens));
    await send(other.connect(fx.requester).approve(fx.subsAddr, tokens));
    const subId = await subscribeToken(fx, { token: other, approve: false });
    await expectRevert(fx.subs.connect(fx.other).trigger(subId), fx.oracle, "OracleTokenNotAccepted");
    expect(await fx.subs.rewardsOf(fx.other.address)).toBe(0n);
    // A callback fee below the callback's gas at today's price: refused by the oracle too.
    const cheap = await subscribeToken(fx, { callbackFee: 1n });
    await expectRevert(fx.subs.connect(fx.other).trigger(cheap), fx.oracle, "OracleTokenCallbackFee");
    expect(await fx.oracle.state(await fx.subs.requestOf(cheap, 0))).toBe(BigInt(Status.None));
  });
});
