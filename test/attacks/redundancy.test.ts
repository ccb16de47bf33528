/**
 * Attacks on redundancy (issue 18, contracts/redundancy/RedundantInference.sol), each shown to fail, and the
 * randomized funds-conservation test over jobs whose requests are answered by random workers (duplicates
 * included), replaced from the reserve, refunded after expiry, decided or closed:
 *
 *   periphery's ETH == credits (requesters', attesters') + the unused reserve and rewards of unfinished jobs
 *
 * and, per requester: what it paid == fees of the oracle requests not refunded + rewards paid to attesters and
 * deciders of its jobs + its credits (withdrawn or not). Jobs whose answers differ by hash go Comparing and are
 * decided (randomly) or closed as Disagreed by default.
 *
 * A k-Sybil (one party running k staked operators) is not stopped here: each operator is a distinct staked
 * worker, so its k answers count. It costs k stakes, and each wrong answer is still a slashable OPTIMISTIC
 * result (docs/FEATURES.md, "Redundancy").
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { hashEncoded, seededRandom, packBatch } from "../../protocol/index.js";
import { advanceJob, jobActions, redundantContract } from "../../sdk/index.js";
import { batchSubmission, events, expectRevert, modelInfo, record, send, INPUT, MODEL_HASH, PARAMS, Ruling, Status, type Connection } from "../contracts/helpers.js";
import {
  answer, attest, deployRedundant, latest, rec, requestJob, settle, AnswerStatus, BAD, BAD_HASH, GOOD, GOOD_HASH, JOB_FEE, JobStatus, type RFx,
} from "../contracts/redundancy-fixture.js";

describe("attack: redundancy", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<RFx> => conn.networkHelpers.loadFixture(deployRedundant);

  it("test_oneWorkerAnswersAllK_countedOnce_replacementFromReserve", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 2 });
    // Worker 0 answers both requests of the job in one signed batch (the cheap Sybil: one operator).
    const sub = await batchSubmission(fx, ids, fx.signers[0]!, { output: GOOD, outputHash: GOOD_HASH });
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 5_000_000 }));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
    const r = rec(fx, 0, GOOD);
    const leaves = await Promise.all(ids.map((id) => fx.oracle.resultLeaf(id, 0, r)));
    await send(fx.oracle.settle({ requestId: ids[0], record: r, output: GOOD, proof: [leaves[1]] }));
    await send(fx.oracle.settle({ requestId: ids[1], record: r, output: GOOD, proof: [leaves[0]] }));
    await send(fx.redundant.attest(ids[0], r, [leaves[1]]));
    const dup = await send(fx.redundant.attest(ids[1], r, [leaves[0]]));
    expect(events(dup, fx.redundant, "AnswerAttested")[0]!.args.counted).toBe(false);
    let job = await fx.redundant.getJob(jobId);
    expect(job.counted).toBe(1n);
    expect(job.status).toBe(BigInt(JobStatus.Open));
    // The duplicate is replaced from the reserve; worker 0 answers again and is again not counted.
    const rep = await send(fx.redundant.connect(fx.other).replace(jobId, 1, INPUT));
    const id2 = events(rep, fx.redundant, "AnswerRequested")[0]!.args.requestId as string;
    await expectRevert(fx.redundant.replace(jobId, 1, INPUT), fx.redundant, "RedundancyAnswerState");
    await answer(fx, id2, GOOD, 0);
    await settle(conn, fx, id2, 0, GOOD);
    await attest(fx, id2, 0, GOOD);
    expect((await fx.redundant.getAnswers(jobId))[2].status).toBe(BigInt(AnswerStatus.Duplicate));
    // A second replacement is served by a distinct worker: the job is decided with two distinct workers.
    const rep2 = await send(fx.redundant.replace(jobId, 2, INPUT));
    const id3 = events(rep2, fx.redundant, "AnswerRequested")[0]!.args.requestId as string;
    // The reserve is spent: no further replacement, whatever answer was a duplicate.
    await expectRevert(fx.redundant.replace(jobId, 1, INPUT), fx.redundant, "RedundancyAnswerState");
    await answer(fx, id3, GOOD, 1);
    await settle(conn, fx, id3, 1, GOOD);
    await attest(fx, id3, 1, GOOD);
    job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    expect(job.reserveLeft).toBe(0n);
    const workers = (await fx.redundant.getAnswers(jobId)).filter((a: any) => a.status === BigInt(AnswerStatus.Counted)).map((a: any) => a.worker);
    expect(workers).toEqual([fx.ops[0]!.address, fx.ops[1]!.address]);
  });

  it("test_reserveSpent_duplicateWorkerCannotCompleteJob_closedIncomplete", async () => {
    const fx = await fixture();
    const { jobId, ids, value } = await requestJob(fx, { k: 2, reserve: 0, deadline: (await latest(fx)) + 5000n });
    for (const id of ids) await answer(fx, id, GOOD, 2);
    await settle(conn, fx, ids[0]!, 2, GOOD);
    await settle(conn, fx, ids[1]!, 2, GOOD, false);
    await attest(fx, ids[0]!, 2, GOOD);
    await attest(fx, ids[1]!, 2, GOOD);
    await expectRevert(fx.redundant.replace(jobId, 1, INPUT), fx.redundant, "RedundancyReserveSpent", [jobId]);
    const job = await fx.redundant.getJob(jobId);
    await conn.networkHelpers.time.increaseTo(job.closeAt + 1n);
    await send(fx.redundant.close(jobId));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Incomplete));
    // Both requests were served (the worker was paid for its work), nothing is left to refund.
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(0n);
    expect(value).toBe(2n * JOB_FEE);
  });

  it("test_forgedAttestations_rejected", async () => {
    const fx = await fixture();
    const a = await requestJob(fx, { k: 2, reserve: 0 });
    const b = await requestJob(fx, { k: 2, reserve: 0 });
    await answer(fx, a.ids[0]!, GOOD, 0);
    // Before settlement (the result may still be overturned) no attestation counts.
    await expectRevert(attest(fx, a.ids[0]!, 0, GOOD), fx.redundant, "RedundancyNotFulfilled", [a.ids[0], BigInt(Status.Submitted)]);
    await answer(fx, b.ids[0]!, GOOD, 1);
    await settle(conn, fx, a.ids[0]!, 0, GOOD);
    await settle(conn, fx, b.ids[0]!, 1, GOOD, false);
    // A record naming another payee / output.
    await expectRevert(fx.redundant.attest(a.ids[0], record(fx.ops[0]!.address, fx.other.address, GOOD_HASH), []), fx.redundant, "RedundancyAttestationInvalid");
    await expectRevert(attest(fx, a.ids[0]!, 0, BAD), fx.redundant, "RedundancyAttestationInvalid");
    // Another worker than the one whose leaf was committed: worker 1's record, committed for job b's
    // request, attached to job a's request.
    await expectRevert(attest(fx, a.ids[0]!, 1, GOOD), fx.redundant, "RedundancyAttestationInvalid", [a.ids[0]]);
    // A leaf that is no committed root: a proof made up by the attacker.
    await expectRevert(fx.redundant.attest(a.ids[0], rec(fx, 1, GOOD), [await fx.oracle.resultLeaf(b.ids[0], 0, rec(fx, 1, GOOD))]), fx.redundant, "RedundancyAttestationInvalid");
    // A request that is no job's.
    await expectRevert(fx.redundant.attest("0x" + "12".repeat(32), rec(fx, 0, GOOD), []), fx.redundant, "RedundancyUnknownRequest");
    await attest(fx, a.ids[0]!, 0, GOOD);
    // The same answer twice.
    await expectRevert(attest(fx, a.ids[0]!, 0, GOOD), fx.redundant, "RedundancyAnswerState", [a.ids[0], BigInt(AnswerStatus.Counted)]);
    expect((await fx.redundant.getJob(a.jobId)).counted).toBe(1n);
  });

  it("test_dissentingWorker_challengedSlashed_answerReplaced_jobAgrees", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 0 });
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, BAD, 1);
    // A watcher challenges the dissenting answer; the game (here the arbiter) rules WorkerFault.
    const badRec = rec(fx, 1, BAD);
    const stakeBefore = (await fx.oracle.getWorker(fx.ops[1]!.address)).stake;
    await send(fx.oracle.connect(fx.challenger).challenge(ids[1], badRec, [], { value: PARAMS.challengeBond }));
    await send(fx.resolver.connect(fx.arbiter).rule(ids[1], Ruling.WorkerFault));
    expect((await fx.oracle.getWorker(fx.ops[1]!.address)).stake).toBe(stakeBefore - PARAMS.resultBond);
    // The oracle reopened the same request (attempt 1); the dissenter's committed leaf (attempt 0) no
    // longer attests anything, and it is not fulfilled.
    expect(await fx.oracle.state(ids[1])).toBe(BigInt(Status.Requested));
    await expectRevert(fx.redundant.attest(ids[1], badRec, []), fx.redundant, "RedundancyNotFulfilled");
    await answer(fx, ids[1]!, GOOD, 2);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 2, GOOD, false);
    await expectRevert(fx.redundant.attest(ids[1], badRec, []), fx.redundant, "RedundancyAttestationInvalid");
    await attest(fx, ids[0]!, 0, GOOD);
    await attest(fx, ids[1]!, 2, GOOD);
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    expect(job.outputHash).toBe(GOOD_HASH);
  });

  it("test_consumerRevertsOrBurnsGas_deliveryNotBlocked", async () => {
    const fx = await fixture();
    for (const mode of [0, 1]) {
      await send(fx.hostile.setMode(mode));
      const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 0, via: fx.hostile, consumerGas: 200_000 });
      await answer(fx, ids[0]!, GOOD, 0);
      await answer(fx, ids[1]!, GOOD, 1);
      await settle(conn, fx, ids[0]!, 0, GOOD);
      await settle(conn, fx, ids[1]!, 1, GOOD, false);
      await attest(fx, ids[0]!, 0, GOOD);
      await attest(fx, ids[1]!, 1, GOOD);
      // Too little gas for the consumer's exact allowance: the delivery reverts and can be retried.
      await expect(fx.redundant.deliver(jobId, GOOD, { gasLimit: 150_000 })).rejects.toThrow();
      expect((await fx.redundant.getJob(jobId)).delivered).toBe(false);
      const d = await send(fx.redundant.deliver(jobId, GOOD, { gasLimit: 1_000_000 }));
      expect(events(d, fx.redundant, "JobDelivered")[0]!.args.callbackSucceeded).toBe(false);
      const job = await fx.redundant.getJob(jobId);
      expect(job.delivered).toBe(true);
      expect(job.status).toBe(BigInt(JobStatus.Agreed));
    }
  });

  it("test_reentrantWithdraw_paysOnce", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 3, via: fx.hostile, deadline: (await latest(fx)) + 1000n });
    await conn.networkHelpers.time.increase(2000);
    await send(fx.oracle.connect(fx.other).refundExpired(ids));
    const job = await fx.redundant.getJob(jobId);
    await conn.networkHelpers.time.increaseTo(job.closeAt + 1n);
    await send(fx.redundant.close(jobId));
    const hostileAddr = await fx.hostile.getAddress();
    expect(await fx.redundant.balanceOf(hostileAddr)).toBe(5n * JOB_FEE);
    await send(fx.hostile.pull());
    expect(await fx.hostile.reentryFailed()).toBe(true);
    expect(await fx.ethers.provider.getBalance(hostileAddr)).toBe(5n * JOB_FEE);
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
    await expectRevert(fx.hostile.pull(), fx.redundant, "RedundancyNothingToWithdraw");
  });

  it("test_attestAfterCloseAt_rejected_jobClosedIncomplete", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 1 });
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, GOOD, 1);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 1, GOOD, false);
    await attest(fx, ids[0]!, 0, GOOD);
    const job = await fx.redundant.getJob(jobId);
    await conn.networkHelpers.time.increaseTo(job.closeAt + 1n);
    await expectRevert(attest(fx, ids[1]!, 1, GOOD), fx.redundant, "RedundancyAttestTooLate", [jobId, job.closeAt]);
    // The SDK offers no attestation any more, only the default outcome.
    const sdk = redundantContract(fx.redundantAddr, fx.other as any);
    expect((await jobActions(sdk, fx.oracleAddr, jobId)).map((a) => a.kind)).toEqual(["close"]);
    expect(await advanceJob(sdk, fx.oracleAddr, jobId)).toEqual(["close"]);
    await expectRevert(attest(fx, ids[1]!, 1, GOOD), fx.redundant, "RedundancyJobNotOpen", [jobId, BigInt(JobStatus.Incomplete)]);
    await expectRevert(fx.redundant.close(jobId), fx.redundant, "RedundancyJobNotOpen");
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(JOB_FEE);
  });

  it("test_modelOwnerSwitchesModelOff_replacementRefused_jobClosesWithRefund", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 2 });
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, GOOD, 0);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 0, GOOD, false);
    await attest(fx, ids[0]!, 0, GOOD);
    await attest(fx, ids[1]!, 0, GOOD);
    // The model owner switches the model off: the replacement is refused by the oracle, nothing changes.
    await send(fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ active: false, resolver: await fx.resolver.getAddress(), zkVerifier: await fx.zk.getAddress() })));
    await expectRevert(fx.redundant.replace(jobId, 1, INPUT), fx.oracle, "OracleModelInactive", [MODEL_HASH]);
    expect((await fx.redundant.getJob(jobId)).reserveLeft).toBe(2n);
    const job = await fx.redundant.getJob(jobId);
    await conn.networkHelpers.time.increaseTo(job.closeAt + 1n);
    await send(fx.redundant.close(jobId));
    // The requester gets the whole reserve back; the two served answers were paid.
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(2n * JOB_FEE);
  });

  it("test_conservation_randomized", async () => {
    const fx = await fixture();
    const rnd = seededRandom(18_0005);
    const int = (n: number) => Math.floor(rnd() * n);
    const reqs = [fx.requester, fx.other, fx.challenger];
    const paid = new Map<string, bigint>();
    const jobs: Array<{ jobId: bigint; from: any }> = [];
    const rewardsOf = new Map<bigint, bigint>();
    let comparing = 0;
    const tally = (receipt: any) => {
      for (const e of events(receipt, fx.redundant, "RewardPaid")) rewardsOf.set(e.args.jobId, (rewardsOf.get(e.args.jobId) ?? 0n) + e.args.amount);
    };
    const check = async () => {
      let credits = 0n;
      for (const r of [...reqs, fx.relayer]) credits += await fx.redundant.balanceOf(r.address);
      let reserve = 0n;
      for (const j of jobs) {
        const v = await fx.redundant.getJob(j.jobId);
        if (v.status === BigInt(JobStatus.Open) || v.status === BigInt(JobStatus.Comparing)) reserve += BigInt(v.reserveLeft) * BigInt(v.fee) + BigInt(v.rewardsLeft) * BigInt(v.attestReward);
      }
      expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(credits + reserve);
    };
    for (let n = 0; n < 6; n++) {
      const from = reqs[int(3)]!;
      const k = 2 + int(2);
      const reserve = int(3);
      const attestReward = BigInt(int(3)) * 10n ** 14n;
      const { jobId, ids, value } = await requestJob(fx, { k, reserve, from, attestReward, deadline: (await latest(fx)) + 20_000n });
      paid.set(from.address, (paid.get(from.address) ?? 0n) + value);
      jobs.push({ jobId, from });
      const served: Array<[string, number, Uint8Array]> = [];
      for (const id of ids) {
        if (int(4) === 0) continue; // left to expire
        const w = int(3);
        const out = int(3) === 0 ? BAD : GOOD;
        await answer(fx, id, out, w);
        served.push([id, w, out]);
      }
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
      for (const [id, w, out] of served) {
        await settle(conn, fx, id, w, out, false);
        tally(await send(fx.redundant.connect(fx.relayer).attest(id, rec(fx, w, out), [])));
      }
      // Replace duplicates and expired requests while the reserve lasts (answered by a random worker).
      await check();
      const answers = await fx.redundant.getAnswers(jobId);
      for (let i = 0; i < answers.length; i++) {
        const job = await fx.redundant.getJob(jobId);
        if (job.status !== BigInt(JobStatus.Open) || job.reserveLeft === 0n) break;
        if (answers[i].status !== BigInt(AnswerStatus.Duplicate)) continue;
        const rep = await send(fx.redundant.replace(jobId, i, INPUT));
        const id = events(rep, fx.redundant, "AnswerRequested")[0]!.args.requestId as string;
        const w = int(3);
        await answer(fx, id, GOOD, w);
        await settle(conn, fx, id, w, GOOD);
        tally(await send(fx.redundant.connect(fx.relayer).attest(id, rec(fx, w, GOOD), [])));
      }
      // A Comparing job (answers GOOD and BAD): decided now, or left to its default (Disagreed at decideBy).
      const comparingNow = (await fx.redundant.getJob(jobId)).status === BigInt(JobStatus.Comparing);
      if (comparingNow) comparing++;
      if (comparingNow && int(2) === 0) {
        const outputs = (await fx.redundant.countedHashes(jobId)).map((h: string) => (h === GOOD_HASH ? GOOD : BAD));
        tally(await send(fx.redundant.connect(fx.relayer).decide(jobId, outputs, { gasLimit: 3_000_000 })));
        expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Disagreed));
      }
      await check();
    }
    // Two more jobs whose answers differ by hash, so every seed covers Comparing: one decided, one left to its default.
    for (const decideIt of [true, false]) {
      const from = reqs[int(3)]!;
      const { jobId, ids, value } = await requestJob(fx, { k: 2, reserve: 1, from, attestReward: 10n ** 14n, deadline: (await latest(fx)) + 20_000n });
      paid.set(from.address, (paid.get(from.address) ?? 0n) + value);
      jobs.push({ jobId, from });
      const outs = [GOOD, BAD];
      for (const [i, id] of ids.entries()) await answer(fx, id, outs[i]!, i);
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
      for (const [i, id] of ids.entries()) {
        await settle(conn, fx, id, i, outs[i]!, false);
        tally(await send(fx.redundant.connect(fx.relayer).attest(id, rec(fx, i, outs[i]!), [])));
      }
      expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Comparing));
      comparing++;
      if (decideIt) tally(await send(fx.redundant.connect(fx.relayer).decide(jobId, outs, { gasLimit: 3_000_000 })));
      await check();
    }
    // Everything still open expires, is refunded, and every open job closes.
    await conn.networkHelpers.time.increase(30_000);
    for (const j of jobs) {
      const open = (await fx.redundant.getAnswers(j.jobId)).filter((a: any) => a.status === BigInt(AnswerStatus.Requested)).map((a: any) => a.requestId);
      const live = [];
      for (const id of open) if ((await fx.oracle.state(id)) === BigInt(Status.Requested)) live.push(id);
      if (live.length) await send(fx.oracle.refundExpired(live));
    }
    await check();
    const last = await fx.redundant.getJob(jobs[jobs.length - 1]!.jobId);
    await conn.networkHelpers.time.increaseTo(last.closeAt + 1n);
    for (const j of jobs) {
      const status = (await fx.redundant.getJob(j.jobId)).status;
      if (status === BigInt(JobStatus.Open) || status === BigInt(JobStatus.Comparing)) await send(fx.redundant.close(j.jobId));
    }
    await check();
    // Per requester: paid == fees of the requests the oracle kept (not refunded) + credits.
    for (const r of reqs) {
      let kept = 0n;
      for (const j of jobs.filter((x) => x.from === r)) {
        for (const a of await fx.redundant.getAnswers(j.jobId)) {
          if ((await fx.oracle.state(a.requestId)) !== BigInt(Status.Refunded)) kept += (await fx.redundant.getJob(j.jobId)).fee;
        }
      }
      let rewards = 0n;
      for (const j of jobs.filter((x) => x.from === r)) rewards += rewardsOf.get(j.jobId) ?? 0n;
      const credit = await fx.redundant.balanceOf(r.address);
      expect(paid.get(r.address) ?? 0n).toBe(kept + rewards + credit);
      if (credit > 0n) await send(fx.redundant.connect(r).withdraw());
    }
    // The seed exercises the Comparing path (answers differing by hash), decided or defaulted.
    expect(comparing).toBeGreaterThan(0);
    // The attester was paid exactly the rewards it earned.
    expect(await fx.redundant.balanceOf(fx.relayer.address)).toBe([...rewardsOf.values()].reduce((a, b) => a + b, 0n));
    if ((await fx.redundant.balanceOf(fx.relayer.address)) > 0n) await send(fx.redundant.connect(fx.relayer).withdraw());
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });
});
