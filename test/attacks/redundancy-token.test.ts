/**
 * Attacks on redundant jobs paid in a token (RedundantInference.requestWithToken), each shown to fail: a
 * fee-on-transfer token, a token that re-enters while it is moved (pull, refund collection, withdrawal),
 * a refund claimed at the oracle by an outsider first or collected twice or for another's request, a
 * withdrawal made twice or by someone owed nothing, wei pushed at the contract. Then randomized funds
 * conservation in the token: seeded random token jobs whose answers are given by distinct or duplicate
 * workers or expire, refunds pre-claimed by an outsider or not; in the end every token and wei the
 * requesters paid is accounted for (fees of fulfilled answers, attester rewards, or back to them) and
 * the contract holds nothing.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { seededRandom } from "../../protocol/index.js";
import { expectRevert, send, PARAMS, TOKEN_FEE, type Connection } from "../contracts/helpers.js";
import { answer, jobRequest, latest, rec, settle, AnswerStatus, GOOD, JobStatus } from "../contracts/redundancy-fixture.js";
import { deployRedundantToken, expectRedundantBooks, requestTokenJob, tokenJobPrepay, RED_CALLBACK_FEE, type RTokenFx } from "../contracts/redundancy-token-fixture.js";
import { tokenFor } from "../contracts/token-features-helpers.js";
import { MODEL_HASH } from "../contracts/helpers.js";

const JOBS = Number(process.env.REDUNDANT_TOKEN_JOBS ?? 6);

describe("attack: redundant jobs paid in a token", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<RTokenFx> => conn.networkHelpers.loadFixture(deployRedundantToken);

  it("test_requestWithToken_feeOnTransferToken_reverts", async () => {
    const fx = await fixture();
    const fot = await tokenFor(fx, [MODEL_HASH], "FeeOnTransferToken");
    const r = await jobRequest(fx, { fee: TOKEN_FEE });
    const { tokens, wei } = tokenJobPrepay(r);
    await send(fot.connect(fx.requester).approve(fx.redundantAddr, tokens));
    await expectRevert(
      fx.redundant.connect(fx.requester).requestWithToken(r, fot.target, RED_CALLBACK_FEE, "0x", { value: wei }),
      fx.redundant, "TokenPullFeeOnTransfer", [fot.target, tokens, tokens - tokens / 100n],
    );
    expect(await fx.redundant.jobCount()).toBe(0n);
  });

  it("test_reentrantToken_duringPullCollectOrWithdraw_cannotReenter", async () => {
    const fx = await fixture();
    const ret = await tokenFor(fx, [MODEL_HASH], "ReentrantToken");
    const guard = fx.redundant.interface.getError("ReentrancyGuardReentrantCall")!.selector;
    // While the contract pulls the fees, the token tries to request another job with them.
    const r = await jobRequest(fx, { fee: TOKEN_FEE });
    await send(ret.arm(fx.redundantAddr, fx.redundant.interface.encodeFunctionData("requestWithToken", [r, ret.target, RED_CALLBACK_FEE, "0x"])));
    const { ids } = await requestTokenJob(fx, { token: ret, reserve: 0, deadline: (await latest(fx)) + 1000n });
    expect([await ret.reentrySucceeded(), await ret.reentryResult()]).toEqual([false, guard]);
    expect(await fx.redundant.jobCount()).toBe(1n);
    // Both answers expire; while the oracle pays the first refund out, the token re-enters to collect the second.
    await conn.networkHelpers.time.increase(1001);
    await send(fx.oracle.refundExpired(ids));
    await send(ret.arm(fx.redundantAddr, fx.redundant.interface.encodeFunctionData("collectTokenRefund", [ids[1]!])));
    await send(fx.redundant.connect(fx.other).collectTokenRefund(ids[0]!));
    expect(await ret.reentryResult()).toBe(guard);
    await send(fx.redundant.connect(fx.other).collectTokenRefund(ids[1]!));
    const owed = await fx.redundant.tokenBalanceOf(fx.requester.address, ret.target);
    expect(owed).toBe(2n * TOKEN_FEE);
    // Re-entering withdrawToken while the refund is paid out.
    await send(ret.arm(fx.redundantAddr, fx.redundant.interface.encodeFunctionData("withdrawToken", [ret.target])));
    const before = await ret.balanceOf(fx.requester.address);
    await send(fx.redundant.connect(fx.requester).withdrawToken(ret.target));
    expect(await ret.reentryResult()).toBe(guard);
    expect((await ret.balanceOf(fx.requester.address)) - before).toBe(owed);
    expect(await ret.balanceOf(fx.redundantAddr)).toBe(0n);
  });

  it("test_refundClaimedByOutsiderFirst_creditedToRequesterOnly_once", async () => {
    const fx = await fixture();
    const { ids } = await requestTokenJob(fx, { reserve: 0, deadline: (await latest(fx)) + 1000n });
    // Answer 0 is fulfilled: no refund to collect for it.
    await answer(fx, ids[0]!, GOOD, 0);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await send(fx.oracle.refundExpired([ids[1]!]));
    await expectRevert(fx.redundant.connect(fx.challenger).collectTokenRefund(ids[0]!), fx.redundant, "RedundancyNoTokenRefund", [ids[0]!]);
    // The attacker claims the oracle refund first: it goes to the contract's pull balance at the oracle.
    await send(fx.oracle.connect(fx.challenger).claimTokenRefund(ids[1]!));
    expect(await fx.oracle.tokenBalanceOf(fx.challenger.address, fx.tokenAddr)).toBe(0n);
    await send(fx.redundant.connect(fx.challenger).collectTokenRefund(ids[1]!));
    expect(await fx.redundant.tokenBalanceOf(fx.challenger.address, fx.tokenAddr)).toBe(0n);
    expect(await fx.redundant.balanceOf(fx.challenger.address)).toBe(0n);
    expect(await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)).toBe(TOKEN_FEE);
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(RED_CALLBACK_FEE);
    // Collecting twice credits nothing more.
    await expectRevert(fx.redundant.connect(fx.challenger).collectTokenRefund(ids[1]!), fx.redundant, "RedundancyNoTokenRefund", [ids[1]!]);
    await expectRevert(fx.redundant.connect(fx.challenger).withdrawToken(fx.tokenAddr), fx.redundant, "RedundancyNothingToWithdraw", [fx.challenger.address]);
    await send(fx.redundant.connect(fx.requester).withdrawToken(fx.tokenAddr));
    await expectRevert(fx.redundant.connect(fx.requester).withdrawToken(fx.tokenAddr), fx.redundant, "RedundancyNothingToWithdraw", [fx.requester.address]);
    await send(fx.redundant.connect(fx.requester).withdraw());
    await expectRevert(fx.redundant.connect(fx.requester).withdraw(), fx.redundant, "RedundancyNothingToWithdraw", [fx.requester.address]);
    expect(await fx.token.balanceOf(fx.redundantAddr)).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });

  it("test_weiPushedAtContract_byOutsider_refused", async () => {
    const fx = await fixture();
    await expectRevert(fx.other.sendTransaction({ to: fx.redundantAddr, value: 1n }), fx.redundant, "RedundancyUnexpectedValue", [fx.other.address]);
  });

  it("test_randomTokenJobs_fundsConserved_inTokenAndWei", async () => {
    const fx = await fixture();
    const rand = seededRandom(18);
    const pick = (n: number) => Math.floor(rand() * n);
    const reward = 10n ** 12n;
    const start = { tokens: await fx.token.balanceOf(fx.requester.address) };
    let paidWei = 0n;
    let fulfilledFees = 0n;
    let callbacks = 0n;
    const deadline = (await latest(fx)) + 2000n;
    const jobs: Array<{ jobId: bigint; ids: string[]; workers: Array<number | undefined> }> = [];
    for (let n = 0; n < JOBS; n++) {
      const k = 2 + pick(2);
      const fee = TOKEN_FEE + BigInt(pick(1000));
      const job = await requestTokenJob(fx, { k, reserve: pick(3), fee, deadline, attestReward: pick(2) === 0 ? 0n : reward });
      paidWei += job.wei;
      // Each answer: a distinct worker, a duplicate of worker 0, or none (it expires).
      const workers = job.ids.map((_, i) => [i, 0, undefined][pick(3)]);
      for (const [i, id] of job.ids.entries()) {
        const w = workers[i];
        if (w === undefined) continue;
        await answer(fx, id, GOOD, w);
        fulfilledFees += fee;
        callbacks += RED_CALLBACK_FEE;
      }
      jobs.push({ jobId: job.jobId, ids: job.ids, workers });
      await expectRedundantBooks(fx, [fx.requester.address, fx.other.address]);
    }
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 2001);
    for (const j of jobs) {
      for (const [i, id] of j.ids.entries()) {
        const w = j.workers[i];
        if (w === undefined) {
          await send(fx.oracle.refundExpired([id]));
          // An outsider sometimes claims at the oracle first.
          if (pick(2) === 0) await send(fx.oracle.connect(fx.challenger).claimTokenRefund(id));
          await send(fx.redundant.connect(fx.challenger).collectTokenRefund(id));
          expect((await fx.redundant.getAnswers(j.jobId))[i]!.status).toBe(BigInt(AnswerStatus.Refunded));
        } else {
          await settle(conn, fx, id, w, GOOD, false);
          // A duplicate worker's second answer is attested too (not counted); the job may already be decided.
          if (Number((await fx.redundant.getJob(j.jobId)).status) === JobStatus.Open) await send(fx.redundant.connect(fx.other).attest(id, rec(fx, w, GOOD), []));
        }
        await expectRedundantBooks(fx, [fx.requester.address, fx.other.address]);
      }
    }
    await conn.networkHelpers.time.increase(3 * 86_400 + 1);
    for (const j of jobs) if (Number((await fx.redundant.getJob(j.jobId)).status) === JobStatus.Open) await send(fx.redundant.close(j.jobId));
    const earned = (await fx.redundant.balanceOf(fx.other.address)) as bigint;
    const refundWei = (await fx.redundant.balanceOf(fx.requester.address)) as bigint;
    await expectRedundantBooks(fx, [fx.requester.address, fx.other.address]);
    if ((await fx.redundant.tokenBalanceOf(fx.requester.address, fx.tokenAddr)) !== 0n) await send(fx.redundant.connect(fx.requester).withdrawToken(fx.tokenAddr));
    if (refundWei !== 0n) await send(fx.redundant.connect(fx.requester).withdraw());
    if (earned !== 0n) await send(fx.redundant.connect(fx.other).withdraw());
    // In the token: the requester lost exactly the fees of the answers served.
    expect(start.tokens - (await fx.token.balanceOf(fx.requester.address))).toBe(fulfilledFees);
    // In wei: paid = the served answers' callback fees + the rewards earned + what came back.
    expect(paidWei).toBe(callbacks + earned + refundWei);
    expect(await fx.token.balanceOf(fx.redundantAddr)).toBe(0n);
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });
});
