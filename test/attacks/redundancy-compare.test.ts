/**
 * Attacks on redundancy's agreement within τ_out and its attester reward (issue 18,
 * contracts/redundancy/RedundantInference.sol `decide`, `close`, `attestReward`), each shown to fail:
 * outputs that do not match their hashes, deciding before every answer is counted, a dissenter trying to be
 * paid or to have its answer win, griefing by never deciding, and draining the attester reward twice.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { hashEncoded } from "../../protocol/index.js";
import { events, expectRevert, send, tensorF32, INPUT, PARAMS, Ruling, Status, type Connection } from "../contracts/helpers.js";
import {
  answer, answeredJob, attest, deployRedundantTau, rec, requestJob, settle, AnswerStatus, BAD, BAD_HASH, GOOD, GOOD_HASH, JOB_FEE, JobStatus, type RFx,
} from "../contracts/redundancy-fixture.js";

const NEAR = tensorF32([1, 2], [0.9005, 0.0995]);

describe("attack: redundancy agreement and attester reward", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<RFx> => conn.networkHelpers.loadFixture(deployRedundantTau);

  it("test_decide_outputsNotMatchingHashes_rejected", async () => {
    const fx = await fixture();
    const { jobId } = await answeredJob(conn, fx, [GOOD, BAD]);
    // Bytes within τ_out of each other but not what the workers signed: a decider cannot make them agree.
    await expectRevert(fx.redundant.decide(jobId, [GOOD, NEAR]), fx.redundant, "RedundancyOutputMismatch", [jobId, BAD_HASH, hashEncoded(NEAR)]);
    await expectRevert(fx.redundant.decide(jobId, [GOOD, GOOD]), fx.redundant, "RedundancyOutputMismatch", [jobId, BAD_HASH, GOOD_HASH]);
    // The right bytes in the wrong order (the first counted answer is the reference).
    await expectRevert(fx.redundant.decide(jobId, [BAD, GOOD]), fx.redundant, "RedundancyOutputMismatch", [jobId, GOOD_HASH, BAD_HASH]);
    // Malformed bytes, too few or too many outputs.
    await expectRevert(fx.redundant.decide(jobId, [GOOD, "0x1234"]), fx.redundant, "RedundancyOutputMismatch");
    await expectRevert(fx.redundant.decide(jobId, [GOOD]), fx.redundant, "RedundancyOutputCount", [jobId, 1n, 2n]);
    await expectRevert(fx.redundant.decide(jobId, [GOOD, BAD, BAD]), fx.redundant, "RedundancyOutputCount", [jobId, 3n, 2n]);
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Comparing));
  });

  it("test_decide_beforeAllAnswersCounted_rejected", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 0 });
    await expectRevert(fx.redundant.decide(jobId, [GOOD, NEAR]), fx.redundant, "RedundancyNotComparing", [jobId, BigInt(JobStatus.Open)]);
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, NEAR, 1);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 1, NEAR, false);
    await attest(fx, ids[0]!, 0, GOOD);
    // One of two counted: still Open, nothing to decide.
    await expectRevert(fx.redundant.decide(jobId, [GOOD, NEAR]), fx.redundant, "RedundancyNotComparing", [jobId, BigInt(JobStatus.Open)]);
    await expectRevert(fx.redundant.decide(jobId, [GOOD]), fx.redundant, "RedundancyNotComparing", [jobId, BigInt(JobStatus.Open)]);
    await attest(fx, ids[1]!, 1, NEAR);
    await send(fx.redundant.decide(jobId, [GOOD, NEAR], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Agreed));
    // A decided job is not decided again (nor a job agreed by hash).
    await expectRevert(fx.redundant.decide(jobId, [GOOD, NEAR]), fx.redundant, "RedundancyNotComparing", [jobId, BigInt(JobStatus.Agreed)]);
  });

  it("test_dissenter_tryingToBePaid_slashedNoFee_cannotWin", async () => {
    const fx = await fixture();
    const reward = 10n ** 14n;
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 0, attestReward: reward });
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, BAD, 1);
    // The dissenter's answer is beyond τ_out of the canonical one: a watcher disputes it in its window and
    // the game rules WorkerFault: its result bond is slashed and the request reopened (no fee for it).
    const dissenter = fx.ops[1]!.address;
    const before = await fx.oracle.getWorker(dissenter);
    await send(fx.oracle.connect(fx.challenger).challenge(ids[1], rec(fx, 1, BAD), [], { value: PARAMS.challengeBond }));
    await send(fx.resolver.connect(fx.arbiter).rule(ids[1], Ruling.WorkerFault));
    expect((await fx.oracle.getWorker(dissenter)).stake).toBe(before.stake - PARAMS.resultBond);
    expect(await fx.oracle.state(ids[1])).toBe(BigInt(Status.Requested));
    // Its record is no longer the request's result: it cannot be attested (and earns no attest reward).
    await expectRevert(fx.redundant.connect(fx.ops[1]!).attest(ids[1], rec(fx, 1, BAD), []), fx.redundant, "RedundancyNotFulfilled");
    await answer(fx, ids[1]!, NEAR, 2);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 2, NEAR, false);
    await expectRevert(fx.redundant.attest(ids[1], rec(fx, 1, BAD), []), fx.redundant, "RedundancyAttestationInvalid");
    await attest(fx, ids[0]!, 0, GOOD);
    await attest(fx, ids[1]!, 2, NEAR);
    // The dissenter's bytes cannot stand in for a counted answer in the comparison.
    await expectRevert(fx.redundant.decide(jobId, [BAD, NEAR]), fx.redundant, "RedundancyOutputMismatch");
    await send(fx.redundant.decide(jobId, [GOOD, NEAR], { gasLimit: 3_000_000 }));
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    expect(job.outputHash).toBe(GOOD_HASH);
    const workers = (await fx.redundant.getAnswers(jobId)).filter((a: any) => a.status === BigInt(AnswerStatus.Counted)).map((a: any) => a.worker);
    expect(workers).not.toContain(dissenter);
    expect(await fx.redundant.balanceOf(dissenter)).toBe(0n);
  });

  it("test_neverDeciding_griefing_defaultDisagreed_fundsReleased", async () => {
    const fx = await fixture();
    const reward = 10n ** 14n;
    const { jobId } = await answeredJob(conn, fx, [GOOD, NEAR], { attestReward: reward, reserve: 2 });
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Comparing));
    // Nobody (not the requester, not the workers) decides: the job does not stay stuck.
    // The close below is mined at decideBy exactly: still too early.
    await conn.networkHelpers.time.increaseTo(job.decideBy - 1n);
    await expectRevert(fx.redundant.close(jobId), fx.redundant, "RedundancyTooEarly", [jobId, job.decideBy]);
    await conn.networkHelpers.time.increase(1);
    const c = await send(fx.redundant.connect(fx.other).close(jobId));
    // The default is Disagreed (what the hashes show); reserve and unearned rewards (2 + 1 + 2 − 2) return.
    expect(events(c, fx.redundant, "JobDecided")[0]!.args.reserveRefund).toBe(2n * JOB_FEE + 3n * reward);
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Disagreed));
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(2n * JOB_FEE + 3n * reward);
    await expectRevert(fx.redundant.close(jobId), fx.redundant, "RedundancyJobNotOpen", [jobId, BigInt(JobStatus.Disagreed)]);
  });

  it("test_attestReward_drainedTwice_rejected", async () => {
    const fx = await fixture();
    const reward = 10n ** 15n;
    // One worker answers all three requests (k = 2, reserve 1): every attestation is paid once, however many.
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 1, attestReward: reward });
    for (const id of ids) await answer(fx, id, GOOD, 0);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 0, GOOD, false);
    const r0 = await send(fx.redundant.connect(fx.relayer).attest(ids[0], rec(fx, 0, GOOD), []));
    expect(events(r0, fx.redundant, "RewardPaid").length).toBe(1);
    await expectRevert(fx.redundant.connect(fx.relayer).attest(ids[0], rec(fx, 0, GOOD), []), fx.redundant, "RedundancyAnswerState", [ids[0], BigInt(AnswerStatus.Counted)]);
    await send(fx.redundant.connect(fx.relayer).attest(ids[1], rec(fx, 0, GOOD), []));
    await expectRevert(fx.redundant.connect(fx.relayer).attest(ids[1], rec(fx, 0, GOOD), []), fx.redundant, "RedundancyAnswerState", [ids[1], BigInt(AnswerStatus.Duplicate)]);
    expect(await fx.redundant.balanceOf(fx.relayer.address)).toBe(2n * reward);
    await send(fx.redundant.connect(fx.relayer).withdraw());
    await expectRevert(fx.redundant.connect(fx.relayer).withdraw(), fx.redundant, "RedundancyNothingToWithdraw", [fx.relayer.address]);
    // A replacement by a distinct worker decides the job (agreed by hash: no decide reward is spent).
    const rep = await send(fx.redundant.replace(jobId, 1, INPUT));
    const id3 = events(rep, fx.redundant, "AnswerRequested")[0]!.args.requestId as string;
    await answer(fx, id3, GOOD, 1);
    await settle(conn, fx, id3, 1, GOOD);
    await send(fx.redundant.connect(fx.relayer).attest(id3, rec(fx, 1, GOOD), []));
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    expect(job.rewardsLeft).toBe(0n);
    // Rewards paid: 3 of 4; the decide reward nobody earned returned to the requester with the job.
    expect(await fx.redundant.balanceOf(fx.relayer.address)).toBe(reward);
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(reward);
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(2n * reward);
  });
});
