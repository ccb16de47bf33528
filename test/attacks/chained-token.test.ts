/**
 * Attacks on chains paid in a token (ChainedInference.requestChainWith), each shown to fail: a
 * fee-on-transfer token, a token that re-enters while it is moved, a refund claimed by or withdrawn to
 * the wrong party, ending a chain twice, and a griefer advancing during a gas-price spike to end the chain
 * (the step's callback share falls short: the advance is refused and retryable). The randomized funds
 * conservation across token paths is test/attacks/token-paths-conservation.test.ts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { expectRevert, send, Tier, TOKEN_FEE, type Connection } from "../contracts/helpers.js";
import { answer, chainRequest, current, latest, ChainStatus, MNIST_HASH, PRE_HASH, SMALL } from "../contracts/chained-fixture.js";
import { deployChainedToken, requestTokenChain, tokenFor, CHAIN_CALLBACK_ESCROW, type ChainTokenFx } from "../contracts/token-features-helpers.js";

const TWO: Array<[string, number, bigint]> = [[PRE_HASH, Tier.NONE, TOKEN_FEE], [MNIST_HASH, Tier.NONE, TOKEN_FEE]];

describe("attack: chains paid in a token", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<ChainTokenFx> => conn.networkHelpers.loadFixture(deployChainedToken);

  it("test_requestChainWith_feeOnTransferToken_reverts", async () => {
    const fx = await fixture();
    const fot = await tokenFor(fx, [PRE_HASH, MNIST_HASH], "FeeOnTransferToken");
    const req = await chainRequest(fx, TWO);
    await send(fot.connect(fx.requester).approve(fx.chainedAddr, 2n * TOKEN_FEE));
    await expectRevert(
      fx.chained.connect(fx.requester).requestChainWith(req, fot.target, "0x", { value: CHAIN_CALLBACK_ESCROW }),
      fx.chained, "TokenPullFeeOnTransfer", [fot.target, 2n * TOKEN_FEE, 2n * TOKEN_FEE - (2n * TOKEN_FEE) / 100n],
    );
    expect(await fx.chained.chainCount()).toBe(0n);
  });

  it("test_reentrantToken_duringPullOrWithdraw_cannotReenter", async () => {
    const fx = await fixture();
    const ret = await tokenFor(fx, [PRE_HASH, MNIST_HASH], "ReentrantToken");
    const guard = fx.chained.interface.getError("ReentrancyGuardReentrantCall")!.selector;
    // While the chain contract pulls the fees, the token tries to request another chain with them.
    const req = await chainRequest(fx, TWO);
    await send(ret.arm(fx.chainedAddr, fx.chained.interface.encodeFunctionData("requestChainWith", [req, ret.target, "0x"])));
    const { chainId, requestId } = await requestTokenChain(fx, TWO, { token: ret, deadline: (await latest(fx)) + 1000n });
    expect([await ret.reentrySucceeded(), await ret.reentryResult()]).toEqual([false, guard]);
    expect(await fx.chained.chainCount()).toBe(1n);
    // End the chain (step 0 expires), then re-enter withdrawToken while the refund is paid out.
    await conn.networkHelpers.time.increase(600);
    await send(fx.oracle.refundExpired([requestId]));
    await send(fx.chained.reconcile(chainId));
    const owed = await fx.chained.tokenBalanceOf(fx.requester.address, ret.target);
    expect(owed).toBe(2n * TOKEN_FEE);
    await send(ret.arm(fx.chainedAddr, fx.chained.interface.encodeFunctionData("withdrawToken", [ret.target])));
    const before = await ret.balanceOf(fx.requester.address);
    await send(fx.chained.connect(fx.requester).withdrawToken(ret.target));
    expect(await ret.reentryResult()).toBe(guard);
    expect((await ret.balanceOf(fx.requester.address)) - before).toBe(owed);
    expect(await ret.balanceOf(fx.chainedAddr)).toBe(0n);
  });

  it("test_refundClaimedByAnother_creditedToRequesterOnly_once", async () => {
    const fx = await fixture();
    const { chainId, requestId } = await requestTokenChain(fx, TWO, { deadline: (await latest(fx)) + 1000n });
    await conn.networkHelpers.time.increase(600);
    await send(fx.oracle.refundExpired([requestId]));
    // The attacker claims the oracle refund first: it goes to the chain contract's pull balance.
    await send(fx.oracle.connect(fx.challenger).claimTokenRefund(requestId));
    expect(await fx.oracle.tokenBalanceOf(fx.challenger.address, fx.tokenAddr)).toBe(0n);
    await send(fx.chained.connect(fx.challenger).reconcile(chainId));
    expect(await fx.chained.tokenBalanceOf(fx.challenger.address, fx.tokenAddr)).toBe(0n);
    expect(await fx.chained.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(2n * TOKEN_FEE);
    expect(await fx.token.balanceOf(fx.chainedAddr)).toBe(2n * TOKEN_FEE);
    await expectRevert(fx.chained.connect(fx.challenger).withdrawToken(fx.tokenAddr), fx.chained, "ChainNothingToWithdraw", [fx.challenger.address]);
    // Ending twice credits nothing more.
    await expectRevert(fx.chained.reconcile(chainId), fx.chained, "ChainNothingToReconcile", [chainId, BigInt(ChainStatus.Ended)]);
    await send(fx.chained.connect(fx.requester).withdrawToken(fx.tokenAddr));
    await expectRevert(fx.chained.connect(fx.requester).withdrawToken(fx.tokenAddr), fx.chained, "ChainNothingToWithdraw", [fx.requester.address]);
    expect(await fx.token.balanceOf(fx.chainedAddr)).toBe(0n);
  });

  it("test_advanceDuringGasSpike_refusedRetryable_chainNotEnded", async () => {
    const fx = await fixture();
    // Just enough callback escrow at today's price: a spike leaves step 1's share short.
    const g0 = await fx.chained.callbackGasOf(0, 2, 0);
    const g1 = await fx.chained.callbackGasOf(1, 2, 0);
    const { chainId, requestId: id0 } = await requestTokenChain(fx, TWO, { value: (g0 + g1) * 2_000_000_000n });
    await answer(fx, id0, SMALL);
    await conn.networkHelpers.setNextBlockBaseFeePerGas(50_000_000_000n);
    await expectRevert(
      fx.chained.connect(fx.other).advance(chainId, SMALL, { maxFeePerGas: 100_000_000_000n }),
      fx.chained, "ChainAdvanceFailed",
    );
    await current(fx, chainId, ChainStatus.Ready);
    // Once the price is back, anyone advances.
    await conn.networkHelpers.setNextBlockBaseFeePerGas(1_000_000_000n);
    await send(fx.chained.connect(fx.other).advance(chainId, SMALL));
    await current(fx, chainId, ChainStatus.Running);
  });
});
