/**
 * Redundant jobs paid in an ERC-20 token (RedundantInference.requestWithToken; docs/FEATURES.md "ERC-20
 * fees across features"): the k + reserve fees pulled exactly (permit in one transaction), each answer an
 * oracle token request paying the model owner and worker in the token, the unused reserve credited back in
 * the token, and a refunded answer's token fee and callback wei collected back from the oracle
 * (collectTokenRefund) and credited to the requester. Real EVM, real oracle.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { events, expectRevert, send, INPUT as GOOD_INPUT, MODEL_HASH, PARAMS, TOKEN_FEE, TOKEN_OWNER_FEE, type Connection } from "./helpers.js";
import { answer, jobRequest, latest, rec, settle, AnswerStatus, GOOD, JobStatus } from "./redundancy-fixture.js";
import { deployRedundantToken, requestTokenJob, tokenJobPrepay, RED_CALLBACK_FEE, type RTokenFx } from "./redundancy-token-fixture.js";
import { tokenFor } from "./token-features-helpers.js";
import { signPermit, encodePermit } from "../../protocol/index.js";
import { advanceJob, jobActions, redundantContract, requestRedundant } from "../../sdk/index.js";

const REWARD = 10n ** 12n;

describe("RedundantInference: paid in an ERC-20 token", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<RTokenFx> => conn.networkHelpers.loadFixture(deployRedundantToken);

  it("test_tokenJob_twoWorkersAgree_paidInToken_reserveRefundedInToken", async () => {
    const fx = await fixture();
    const before = await fx.token.balanceOf(fx.requester.address);
    const { jobId, ids, receipt, tokens, wei } = await requestTokenJob(fx, { k: 2, reserve: 1, attestReward: REWARD });
    expect(before - (await fx.token.balanceOf(fx.requester.address))).toBe(3n * TOKEN_FEE);
    const [paid] = events(receipt, fx.redundant, "JobPaidWithToken");
    expect([paid!.args.token, paid!.args.totalFee, paid!.args.callbackFee]).toEqual([fx.tokenAddr, tokens, RED_CALLBACK_FEE]);
    const esc = events(receipt, fx.oracle, "TokenFeeEscrowed");
    expect(esc.map((e) => [e.args.token, e.args.amount])).toEqual([[fx.tokenAddr, TOKEN_FEE], [fx.tokenAddr, TOKEN_FEE]]);
    expect((await fx.oracle.getRequest(ids[0]!)).callbackFee).toBe(RED_CALLBACK_FEE);
    expect(await fx.token.allowance(fx.redundantAddr, fx.oracleAddr)).toBe(0n);
    // The reserve's fee stays here until the job ends.
    expect(await fx.token.balanceOf(fx.redundantAddr)).toBe(TOKEN_FEE);

    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, GOOD, 1);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 1, GOOD, false);
    await send(fx.redundant.connect(fx.other).attest(ids[0]!, rec(fx, 0, GOOD), []));
    const r = await send(fx.redundant.connect(fx.other).attest(ids[1]!, rec(fx, 1, GOOD), []));
    const [decided] = events(r, fx.redundant, "JobDecided");
    // The wei credited back: the reserve's callback fee and the unearned rewards (one reserve attestation, the decide).
    expect([decided!.args.agreed, decided!.args.reserveRefund]).toEqual([true, RED_CALLBACK_FEE + 2n * REWARD]);
    expect(await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(TOKEN_FEE);
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(RED_CALLBACK_FEE + 2n * REWARD);
    expect(await fx.redundant.balanceOf(fx.other.address)).toBe(2n * REWARD);
    // Each answer paid the model owner in the token.
    expect(await fx.oracle.tokenBalanceOf(fx.modelOwner.address, fx.tokenAddr)).toBe(2n * TOKEN_OWNER_FEE);

    await send(fx.redundant.connect(fx.requester).withdrawToken(fx.tokenAddr));
    await send(fx.redundant.connect(fx.requester).withdraw());
    await send(fx.redundant.connect(fx.other).withdraw());
    expect(before - (await fx.token.balanceOf(fx.requester.address))).toBe(2n * TOKEN_FEE);
    expect(await fx.token.balanceOf(fx.redundantAddr)).toBe(0n);
    // Every wei paid in went to the two callbacks, the two rewards earned, or back.
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
    expect(wei).toBe(3n * RED_CALLBACK_FEE + 4n * REWARD);
    await expectRevert(fx.redundant.connect(fx.requester).withdrawToken(fx.tokenAddr), fx.redundant, "RedundancyNothingToWithdraw", [fx.requester.address]);
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Agreed));
  });

  it("test_tokenJob_refundedAnswers_collectedInTokenAndWei_thenReplacedAndClosed", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestTokenJob(fx, { k: 2, reserve: 1, deadline: (await latest(fx)) + 1000n });
    await conn.networkHelpers.time.increase(1001);
    const rf = await send(fx.oracle.connect(fx.other).refundExpired([ids[0]!, ids[1]!]));
    // A token request's refund carries nothing: the answer is Refunded, its fee waits at the oracle.
    expect(events(rf, fx.redundant, "AnswerRefunded").map((e) => e.args.amount)).toEqual([0n, 0n]);
    expect((await fx.redundant.getAnswers(jobId))[0]!.status).toBe(BigInt(AnswerStatus.Refunded));

    for (const id of ids) {
      const c = await send(fx.redundant.connect(fx.other).collectTokenRefund(id));
      const [ev] = events(c, fx.redundant, "AnswerTokenRefunded");
      expect([ev!.args.amount, ev!.args.callbackFee]).toEqual([TOKEN_FEE, RED_CALLBACK_FEE]);
      await expectRevert(fx.redundant.collectTokenRefund(id), fx.redundant, "RedundancyNoTokenRefund", [id]);
    }
    expect(await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(2n * TOKEN_FEE);
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(2n * RED_CALLBACK_FEE);
    expect(await fx.redundant.tokenBalanceOf(fx.other.address, fx.tokenAddr)).toBe(0n);

    // Closed Incomplete: the reserve comes back in the token, its callback fee in wei.
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 3 * 86_400 + 1);
    const cl = await send(fx.redundant.close(jobId));
    expect(events(cl, fx.redundant, "JobClosed")[0]!.args.reserveRefund).toBe(RED_CALLBACK_FEE);
    expect(await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(3n * TOKEN_FEE);
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(3n * RED_CALLBACK_FEE);
    const before = await fx.token.balanceOf(fx.requester.address);
    await send(fx.redundant.connect(fx.requester).withdrawToken(fx.tokenAddr));
    await send(fx.redundant.connect(fx.requester).withdraw());
    expect((await fx.token.balanceOf(fx.requester.address)) - before).toBe(3n * TOKEN_FEE);
    expect(await fx.token.balanceOf(fx.redundantAddr)).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });

  it("test_tokenJob_duplicateWorker_replacedFromReserve_asTokenRequest", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestTokenJob(fx, { k: 2, reserve: 1 });
    // Worker 0 answers both requests: the second is a duplicate, replaced from the token reserve.
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, GOOD, 0);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 0, GOOD, false);
    await send(fx.redundant.connect(fx.other).attest(ids[0]!, rec(fx, 0, GOOD), []));
    await send(fx.redundant.connect(fx.other).attest(ids[1]!, rec(fx, 0, GOOD), []));
    expect((await fx.redundant.getAnswers(jobId))[1]!.status).toBe(BigInt(AnswerStatus.Duplicate));
    const r = await send(fx.redundant.connect(fx.other).replace(jobId, 1, GOOD_INPUT));
    const [esc] = events(r, fx.oracle, "TokenFeeEscrowed");
    expect([esc!.args.token, esc!.args.amount]).toEqual([fx.tokenAddr, TOKEN_FEE]);
    const id2 = events(r, fx.redundant, "AnswerRequested")[0]!.args.requestId as string;
    expect((await fx.oracle.getRequest(id2)).callbackFee).toBe(RED_CALLBACK_FEE);
    // The reserve is spent: the contract holds no token.
    expect(await fx.token.balanceOf(fx.redundantAddr)).toBe(0n);
    await answer(fx, id2, GOOD, 2);
    await settle(conn, fx, id2, 2, GOOD);
    await send(fx.redundant.connect(fx.other).attest(id2, rec(fx, 2, GOOD), []));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Agreed));
    expect(await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(0n);
    expect(await fx.oracle.tokenBalanceOf(fx.modelOwner.address, fx.tokenAddr)).toBe(3n * TOKEN_OWNER_FEE);
  });

  it("test_requestWithToken_permitInOneTransaction_succeeds", async () => {
    const fx = await fixture();
    const permit = await signPermit(fx.requester, fx.tokenAddr, fx.redundantAddr, 3n * TOKEN_FEE, (await latest(fx)) + 3600n);
    const { jobId } = await requestTokenJob(fx, { permit: encodePermit(permit) });
    expect(await fx.token.allowance(fx.requester.address, fx.redundantAddr)).toBe(0n);
    const j = await fx.redundant.getJob(jobId);
    expect([j.token, j.callbackFee, j.fee]).toEqual([fx.tokenAddr, RED_CALLBACK_FEE, TOKEN_FEE]);
  });

  it("test_requestWithToken_badRequests_revertWithClearErrors", async () => {
    const fx = await fixture();
    const r = await jobRequest(fx, { fee: TOKEN_FEE });
    const { tokens, wei } = tokenJobPrepay(r);
    const c = fx.redundant.connect(fx.requester);
    await send(fx.token.connect(fx.requester).approve(fx.redundantAddr, tokens));
    // The callbacks' wei must be paid exactly.
    await expectRevert(c.requestWithToken(r, fx.tokenAddr, RED_CALLBACK_FEE, "0x", { value: wei - 1n }), fx.redundant, "RedundancyFeeMismatch", [wei - 1n, wei]);
    // Not a token.
    await expectRevert(c.requestWithToken(r, fx.other.address, RED_CALLBACK_FEE, "0x", { value: wei }), fx.redundant, "TokenPullNotAToken", [fx.other.address]);
    // A token the model does not accept: the oracle refuses, the whole job reverts.
    const other = await tokenFor(fx, []);
    await send(other.connect(fx.requester).approve(fx.redundantAddr, tokens));
    await expectRevert(c.requestWithToken(r, other.target, RED_CALLBACK_FEE, "0x", { value: wei }), fx.oracle, "OracleTokenNotAccepted", [MODEL_HASH, other.target]);
    // A callback fee below the oracle's floor.
    const low = tokenJobPrepay(r, 1n);
    await expectRevert(c.requestWithToken(r, fx.tokenAddr, 1n, "0x", { value: low.wei }), fx.oracle, "OracleTokenCallbackFee");
    // No allowance: the token's own error.
    await send(fx.token.connect(fx.requester).approve(fx.redundantAddr, 0n));
    await expect(c.requestWithToken(r, fx.tokenAddr, RED_CALLBACK_FEE, "0x", { value: wei })).rejects.toThrow();
    expect(await fx.redundant.jobCount()).toBe(0n);
    // An ETH job's refund is not a token refund.
    await expectRevert(c.collectTokenRefund("0x" + "00".repeat(32)), fx.redundant, "RedundancyNoTokenRefund");
  });

  it("test_sdk_tokenJob_permitRequest_thenCollectActionsForRefundedAnswers", async () => {
    const fx = await fixture();
    const mine = redundantContract(fx.redundantAddr, fx.requester);
    const before = await fx.token.balanceOf(fx.requester.address);
    const { jobId } = await requestRedundant(mine, {
      modelHash: MODEL_HASH, input: GOOD_INPUT, k: 2, reserve: 1, fee: TOKEN_FEE, deadline: (await latest(fx)) + 1000n,
      token: { address: fx.tokenAddr, callbackFee: RED_CALLBACK_FEE },
    });
    expect(before - (await fx.token.balanceOf(fx.requester.address))).toBe(3n * TOKEN_FEE);
    expect((await fx.redundant.getJob(jobId)).token).toBe(fx.tokenAddr);
    const ids = (await fx.redundant.getAnswers(jobId)).map((a: any) => a.requestId as string);
    await conn.networkHelpers.time.increase(1001);
    await send(fx.oracle.connect(fx.other).refundExpired(ids));
    // What the relayer's attester does (jobActions): collect each refunded answer's token fee, once.
    const keeper = redundantContract(fx.redundantAddr, fx.other);
    expect((await jobActions(keeper, fx.oracleAddr, jobId)).map((a) => a.kind)).toEqual(["collect", "collect"]);
    expect(await advanceJob(keeper, fx.oracleAddr, jobId)).toEqual(["collect", "collect"]);
    expect(await jobActions(keeper, fx.oracleAddr, jobId)).toEqual([]);
    expect(await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(2n * TOKEN_FEE);
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(2n * RED_CALLBACK_FEE);
  });
});
