/**
 * Chains paid in an ERC-20 token (ChainedInference.requestChainWith; docs/FEATURES.md "ERC-20 fees across
 * features"): the steps' fees pulled exactly (permit in one transaction), each step an oracle token
 * request paid out in the token, the wei callback escrow shared out by callback gas and spent to the last
 * wei on completion, and a refunded token step reconciled (its token fee claimed back) with every unused
 * fee credited in the token. Real EVM, real oracle.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { events, expectRevert, send, Refund, Tier, TOKEN_FEE, TOKEN_OWNER_FEE, TOKEN_MIN_WORKER_FEE, type Connection } from "./helpers.js";
import { answer, chainRequest, current, latest, ChainStatus, EndReason, LOGITS, MNIST_HASH, OTHER_HASH, PRE_HASH, SMALL, SMOOTH_HASH } from "./chained-fixture.js";
import { deployChainedToken, requestTokenChain, CHAIN_CALLBACK_ESCROW, type ChainTokenFx } from "./token-features-helpers.js";
import { signPermit, encodePermit } from "../../protocol/index.js";

describe("ChainedInference: paid in an ERC-20 token", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<ChainTokenFx> => conn.networkHelpers.loadFixture(deployChainedToken);

  it("test_tokenChain_twoSteps_paidInToken_callbackEscrowSpent_succeeds", async () => {
    const fx = await fixture();
    const before = await fx.token.balanceOf(fx.requester.address);
    const { chainId, requestId: id0, receipt } = await requestTokenChain(fx, [[PRE_HASH, Tier.NONE, TOKEN_FEE], [MNIST_HASH, Tier.NONE, TOKEN_FEE + 3n]]);
    expect(before - (await fx.token.balanceOf(fx.requester.address))).toBe(2n * TOKEN_FEE + 3n);
    const [paid] = events(receipt, fx.chained, "ChainPaidWithToken");
    expect([paid!.args.token, paid!.args.totalFee, paid!.args.callbackEscrow]).toEqual([fx.tokenAddr, 2n * TOKEN_FEE + 3n, CHAIN_CALLBACK_ESCROW]);
    const [esc] = events(receipt, fx.oracle, "TokenFeeEscrowed");
    expect([esc!.args.token, esc!.args.amount]).toEqual([fx.tokenAddr, TOKEN_FEE]);
    // Step 0's callback share is in proportion to its callback gas among all steps.
    const g0 = Number(await fx.chained.callbackGasOf(0, 2, 0));
    const g1 = Number(await fx.chained.callbackGasOf(1, 2, 0));
    const share0 = (CHAIN_CALLBACK_ESCROW * BigInt(g0)) / BigInt(g0 + g1);
    expect((await fx.oracle.getRequest(id0)).callbackFee).toBe(share0);
    let v = await fx.chained.getChain(chainId);
    expect([v.token, v.escrow, v.callbackEscrow]).toEqual([fx.tokenAddr, TOKEN_FEE + 3n, CHAIN_CALLBACK_ESCROW - share0]);
    expect(await fx.token.allowance(fx.chainedAddr, fx.oracleAddr)).toBe(0n);

    await answer(fx, id0, SMALL);
    await send(fx.chained.connect(fx.other).advance(chainId, SMALL));
    const id1 = await current(fx, chainId, ChainStatus.Running);
    // The last step takes the rest of the callback escrow.
    expect((await fx.oracle.getRequest(id1)).callbackFee).toBe(CHAIN_CALLBACK_ESCROW - share0);
    await answer(fx, id1, LOGITS);
    v = await fx.chained.getChain(chainId);
    expect([v.status, v.escrow, v.callbackEscrow]).toEqual([BigInt(ChainStatus.Completed), 0n, 0n]);
    // Each step paid the model owner in the token; the chain contract holds nothing.
    expect(await fx.oracle.tokenBalanceOf(fx.modelOwner.address, fx.tokenAddr)).toBe(2n * TOKEN_OWNER_FEE);
    expect(await fx.token.balanceOf(fx.chainedAddr)).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(0n);
  });

  it("test_tokenChain_stepRefunded_reconcileClaimsTokenFee_refundsAllInToken", async () => {
    const fx = await fixture();
    const fees = [TOKEN_FEE, TOKEN_FEE + 7n, TOKEN_FEE + 11n];
    const { chainId, requestId: id0 } = await requestTokenChain(fx, [[PRE_HASH, Tier.NONE, fees[0]!], [SMOOTH_HASH, Tier.NONE, fees[1]!], [MNIST_HASH, Tier.NONE, fees[2]!]], {
      deadline: (await latest(fx)) + 3000n,
    });
    await conn.networkHelpers.time.increase(1001);
    const r = await send(fx.oracle.connect(fx.other).refundExpired([id0]));
    const [pending] = events(r, fx.chained, "ChainStepRefundPending");
    expect([pending!.args.chainId, pending!.args.oracleReason]).toEqual([chainId, BigInt(Refund.Expired)]);
    await current(fx, chainId, ChainStatus.Running);

    const rec = await send(fx.chained.connect(fx.other).reconcile(chainId));
    const [ended] = events(rec, fx.chained, "ChainEnded");
    const total = fees[0]! + fees[1]! + fees[2]!;
    expect([ended!.args.reason, ended!.args.refund]).toEqual([BigInt(EndReason.StepRefunded), total]);
    const [tr] = events(rec, fx.chained, "ChainTokenRefunded");
    expect([tr!.args.refund, tr!.args.callbackRefund]).toEqual([total, CHAIN_CALLBACK_ESCROW]);
    expect(await fx.chained.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(total);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(CHAIN_CALLBACK_ESCROW);
    expect(await fx.chained.refundOf(chainId)).toBe(total);

    const before = await fx.token.balanceOf(fx.requester.address);
    await send(fx.chained.connect(fx.requester).withdrawToken(fx.tokenAddr));
    expect((await fx.token.balanceOf(fx.requester.address)) - before).toBe(total);
    await send(fx.chained.connect(fx.requester).withdraw());
    expect(await fx.token.balanceOf(fx.chainedAddr)).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(0n);
    await expectRevert(fx.chained.connect(fx.requester).withdrawToken(fx.tokenAddr), fx.chained, "ChainNothingToWithdraw", [fx.requester.address]);
    await expectRevert(fx.chained.reconcile(chainId), fx.chained, "ChainNothingToReconcile", [chainId, BigInt(ChainStatus.Ended)]);
  });

  it("test_tokenChain_readyPastDeadline_refundsLaterStepsInToken", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestTokenChain(fx, [[PRE_HASH, Tier.NONE, TOKEN_FEE], [MNIST_HASH, Tier.NONE, TOKEN_FEE + 5n]], {
      deadline: (await latest(fx)) + 1000n,
    });
    const escrowAfterStep0 = (await fx.chained.getChain(chainId)).callbackEscrow;
    await answer(fx, id0, SMALL);
    await conn.networkHelpers.time.increase(2000);
    await send(fx.chained.reconcile(chainId));
    expect(await fx.chained.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(TOKEN_FEE + 5n);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(escrowAfterStep0);
  });

  it("test_requestChainWith_permitInOneTransaction_succeeds", async () => {
    const fx = await fixture();
    const total = 2n * TOKEN_FEE;
    const permit = await signPermit(fx.requester, fx.tokenAddr, fx.chainedAddr, total, (await latest(fx)) + 3600n);
    const { chainId } = await requestTokenChain(fx, [[PRE_HASH, Tier.NONE, TOKEN_FEE], [MNIST_HASH, Tier.NONE, TOKEN_FEE]], { permit: encodePermit(permit) });
    expect(await fx.token.allowance(fx.requester.address, fx.chainedAddr)).toBe(0n);
    expect((await fx.chained.getChain(chainId)).escrow).toBe(TOKEN_FEE);
  });

  it("test_requestChainWith_badRequests_revertWithClearErrors", async () => {
    const fx = await fixture();
    const steps: Array<[string, number, bigint]> = [[PRE_HASH, Tier.NONE, TOKEN_FEE], [MNIST_HASH, Tier.NONE, TOKEN_FEE]];
    const req = await chainRequest(fx, steps);
    await send(fx.token.connect(fx.requester).approve(fx.chainedAddr, 10n ** 12n));
    const c = fx.chained.connect(fx.requester);
    // The callbacks' wei must be prepaid.
    await expectRevert(c.requestChainWith(req, fx.tokenAddr, "0x", { value: 0n }), fx.chained, "ChainCallbackEscrow");
    // A step below the model's token terms.
    const low = await chainRequest(fx, [[PRE_HASH, Tier.NONE, TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE - 1n], steps[1]!]);
    await expectRevert(c.requestChainWith(low, fx.tokenAddr, "0x", { value: CHAIN_CALLBACK_ESCROW }), fx.chained, "ChainStepFeeTooLow", [
      0n, TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE - 1n, TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE,
    ]);
    // A model that does not accept the token.
    const other = await chainRequest(fx, [[OTHER_HASH, Tier.NONE, TOKEN_FEE]]);
    await expectRevert(c.requestChainWith(other, fx.tokenAddr, "0x", { value: CHAIN_CALLBACK_ESCROW }), fx.chained, "ChainTokenNotAccepted", [0n, OTHER_HASH, fx.tokenAddr]);
    // No allowance: the token's own error, nothing requested.
    await send(fx.token.connect(fx.requester).approve(fx.chainedAddr, 0n));
    await expect(c.requestChainWith(req, fx.tokenAddr, "0x", { value: CHAIN_CALLBACK_ESCROW })).rejects.toThrow();
    expect(await fx.chained.chainCount()).toBe(0n);
  });
});
