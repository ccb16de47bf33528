/**
 * Redundancy (issue 18, contracts/redundancy/RedundantInference.sol): k ordinary OPTIMISTIC oracle requests
 * on one input, each answer counted once its worker is attested from the oracle's committed batch roots and
 * distinct from the others; k agreeing answers are delivered to the example dApp; disagreement, refunds,
 * the closing default and the request-time checks.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { events, expectRevert, send, tensorF32, PARAMS, Status, type Connection } from "./helpers.js";
import {
  answer, attest, deployRedundant, jobRequest, latest, requestJob, settle, AnswerStatus, BAD, BAD_HASH, GOOD, GOOD_HASH, JOB_FEE, JobStatus, type RFx,
} from "./redundancy-fixture.js";
import { INPUT, batchSubmission } from "./helpers.js";
import { advanceJob, jobActions, redundantContract } from "../../sdk/index.js";
import { packBatch } from "../../protocol/index.js";

const ZERO = "0x" + "00".repeat(32);

describe("RedundantInference: redundancy", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<RFx> => conn.networkHelpers.loadFixture(deployRedundant);

  it("test_redundancy_threeDistinctWorkersAgree_deliveredToDApp", async () => {
    const fx = await fixture();
    const deadline = (await latest(fx)) + 86_400n;
    const r = await send(fx.dapp.connect(fx.requester).classify(ZERO, INPUT, "", 3, 1, JOB_FEE, deadline, { value: 4n * JOB_FEE }));
    const reqs = events(r, fx.oracle, "InferenceRequested");
    expect(reqs).toHaveLength(3);
    for (const q of reqs) {
      expect(q.args.requester).toBe(fx.redundantAddr);
      expect(q.args.tier).toBe(1n);
    }
    const ids = reqs.map((q) => q.args.requestId as string);
    const jobId = 1n;
    for (let w = 0; w < 3; w++) await answer(fx, ids[w]!, GOOD, w);
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
    for (let w = 0; w < 3; w++) {
      const s = await settle(conn, fx, ids[w]!, w, GOOD, false);
      expect(events(s, fx.redundant, "AnswerDelivered")).toHaveLength(1);
    }
    // Fulfilled but not attested: nothing counts yet.
    expect((await fx.redundant.getJob(jobId)).counted).toBe(0n);
    for (let w = 0; w < 2; w++) await attest(fx, ids[w]!, w, GOOD);
    const a3 = await attest(fx, ids[2]!, 2, GOOD);
    const [decided] = events(a3, fx.redundant, "JobDecided");
    expect(decided!.args.agreed).toBe(true);
    expect(decided!.args.outputHash).toBe(GOOD_HASH);
    // The unused reserve is credited to the requester (the dApp).
    expect(decided!.args.reserveRefund).toBe(JOB_FEE);
    expect(await fx.redundant.balanceOf(await fx.dapp.getAddress())).toBe(JOB_FEE);
    const answers = await fx.redundant.getAnswers(jobId);
    expect(answers.map((a: any) => a.worker)).toEqual(fx.ops.map((o) => o.address));
    // Anyone delivers, with the output bytes (checked against the agreed hash).
    await expectRevert(fx.redundant.deliver(jobId, BAD), fx.redundant, "RedundancyOutputMismatch");
    const d = await send(fx.redundant.connect(fx.other).deliver(jobId, GOOD, { gasLimit: 3_000_000 }));
    expect(events(d, fx.redundant, "JobDelivered")[0]!.args.callbackSucceeded).toBe(true);
    const o = await fx.dapp.outcome(jobId);
    expect(o.received).toBe(true);
    expect(o.agreed).toBe(true);
    expect(o.outputHash).toBe(GOOD_HASH);
    expect(o.output).toBe("0x" + Buffer.from(GOOD).toString("hex"));
    expect([...o.outputHashes]).toEqual([GOOD_HASH, GOOD_HASH, GOOD_HASH]);
    await expectRevert(fx.redundant.deliver(jobId, "0x"), fx.redundant, "RedundancyAlreadyDelivered", [jobId]);
    // The dApp's owner pulls the credit; the periphery keeps nothing.
    await send(fx.dapp.connect(fx.requester).withdrawCredits());
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });

  it("test_redundancy_disagreement_deliveredWithEveryHash", async () => {
    const fx = await fixture();
    const deadline = (await latest(fx)) + 86_400n;
    await send(fx.dapp.connect(fx.requester).classify(ZERO, INPUT, "", 2, 0, JOB_FEE, deadline, { value: 2n * JOB_FEE }));
    const ids = (await fx.redundant.getAnswers(1n)).map((a: any) => a.requestId as string);
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, BAD, 1);
    // Nobody challenges (no watcher): both settle, both count; the hashes differ: Comparing, then decide
    // compares the bytes (beyond τ_out: 0.9 vs 0.1) and the job is Disagreed with both hashes.
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 1, BAD, false);
    await attest(fx, ids[0]!, 0, GOOD);
    const a = await attest(fx, ids[1]!, 1, BAD);
    expect(events(a, fx.redundant, "JobDecided")).toHaveLength(0);
    expect((await fx.redundant.getJob(1n)).status).toBe(BigInt(JobStatus.Comparing));
    await expectRevert(fx.redundant.deliver(1n, "0x"), fx.redundant, "RedundancyNotDecided", [1n, BigInt(JobStatus.Comparing)]);
    const d = await send(fx.redundant.decide(1n, [GOOD, BAD], { gasLimit: 3_000_000 }));
    expect(events(d, fx.redundant, "JobDecided")[0]!.args.agreed).toBe(false);
    expect((await fx.redundant.getJob(1n)).status).toBe(BigInt(JobStatus.Disagreed));
    // Bytes are refused for a disagreement; the push carries the hashes only.
    await expectRevert(fx.redundant.deliver(1n, GOOD), fx.redundant, "RedundancyOutputMismatch");
    await send(fx.redundant.deliver(1n, "0x", { gasLimit: 3_000_000 }));
    const o = await fx.dapp.outcome(1n);
    expect(o.agreed).toBe(false);
    expect(o.outputHash).toBe("0x" + "00".repeat(32));
    expect([...o.outputHashes]).toEqual([GOOD_HASH, BAD_HASH]);
  });

  it("test_redundancy_expiredRequests_refundedAndJobClosedIncomplete", async () => {
    const fx = await fixture();
    const { jobId, ids, value } = await requestJob(fx, { k: 3, reserve: 2, deadline: (await latest(fx)) + 1000n });
    await answer(fx, ids[0]!, GOOD, 0);
    await settle(conn, fx, ids[0]!, 0, GOOD);
    await attest(fx, ids[0]!, 0, GOOD);
    // The other two expire: the oracle refunds them to the job, credited to the requester.
    const rf = await send(fx.oracle.connect(fx.other).refundExpired([ids[1]!, ids[2]!]));
    expect(events(rf, fx.redundant, "AnswerRefunded")).toHaveLength(2);
    const answers = await fx.redundant.getAnswers(jobId);
    expect(answers[1].status).toBe(BigInt(AnswerStatus.Refunded));
    // Replacing needs a deadline still ahead: the oracle refuses, nothing changes.
    await expectRevert(fx.redundant.replace(jobId, 1, INPUT), fx.oracle, "OracleDeadlineInvalid");
    const job = await fx.redundant.getJob(jobId);
    await expectRevert(fx.redundant.close(jobId), fx.redundant, "RedundancyTooEarly", [jobId, job.closeAt]);
    await conn.networkHelpers.time.increaseTo(job.closeAt + 1n);
    const c = await send(fx.redundant.connect(fx.other).close(jobId));
    const [closed] = events(c, fx.redundant, "JobClosed");
    expect(closed!.args.counted).toBe(1n);
    expect(closed!.args.reserveRefund).toBe(2n * JOB_FEE);
    // The requester gets back everything but the one answer served: 2 refunds + 2 reserve.
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(value - JOB_FEE);
    await send(fx.redundant.connect(fx.requester).withdraw());
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });

  it("test_redundancy_requestChecks", async () => {
    const fx = await fixture();
    const r = await jobRequest(fx, { k: 1 });
    await expectRevert(fx.redundant.connect(fx.requester).request(r, { value: 2n * JOB_FEE }), fx.redundant, "RedundancyBadK", [1n, 1n]);
    const r9 = await jobRequest(fx, { k: 9 });
    await expectRevert(fx.redundant.connect(fx.requester).request(r9, { value: 10n * JOB_FEE }), fx.redundant, "RedundancyBadK");
    const r2 = await jobRequest(fx, { k: 2, reserve: 1 });
    await expectRevert(fx.redundant.connect(fx.requester).request(r2, { value: 2n * JOB_FEE }), fx.redundant, "RedundancyFeeMismatch", [2n * JOB_FEE, 3n * JOB_FEE]);
    // The attester rewards are prepaid too: k + reserve attestations and one decide.
    const rewarded = await jobRequest(fx, { k: 2, reserve: 1, attestReward: 10n });
    await expectRevert(fx.redundant.connect(fx.requester).request(rewarded, { value: 3n * JOB_FEE + 30n }), fx.redundant, "RedundancyFeeMismatch", [3n * JOB_FEE + 30n, 3n * JOB_FEE + 40n]);
    const past = await jobRequest(fx, { deadline: 1n });
    await expectRevert(fx.redundant.connect(fx.requester).request(past, { value: 3n * JOB_FEE }), fx.redundant, "RedundancyDeadlineInvalid");
    // A fee below the oracle's minimum: the oracle's refusal reverts the job.
    const low = await jobRequest(fx, { fee: 1000n });
    await expectRevert(fx.redundant.connect(fx.requester).request(low, { value: 3000n }), fx.oracle, "OracleFeeTooLow");
    // A consumer allowance above the oracle's callback maximum (a delivery nobody could afford).
    const greedy = await jobRequest(fx, { consumerGas: PARAMS.maxCallbackGasLimit + 1 });
    await expectRevert(fx.redundant.connect(fx.requester).request(greedy, { value: 3n * JOB_FEE }), fx.redundant, "RedundancyConsumerGasTooHigh", [BigInt(PARAMS.maxCallbackGasLimit + 1), BigInt(PARAMS.maxCallbackGasLimit)]);
    // Only the oracle calls back.
    await expectRevert(fx.redundant.onInferenceResult("0x" + "11".repeat(32), GOOD_HASH, "0x"), fx.redundant, "RedundancyOnlyOracle");
  });

  it("test_redundancy_gasPerDelivery", async () => {
    const fx = await fixture();
    const { jobId, ids } = await requestJob(fx, { k: 2, reserve: 0 });
    await answer(fx, ids[0]!, GOOD, 0);
    await answer(fx, ids[1]!, GOOD, 1);
    const s0 = await settle(conn, fx, ids[0]!, 0, GOOD);
    await settle(conn, fx, ids[1]!, 1, GOOD, false);
    const a0 = await attest(fx, ids[0]!, 0, GOOD);
    const a1 = await attest(fx, ids[1]!, 1, GOOD);
    const d = await send(fx.redundant.deliver(jobId, GOOD));
    console.log(`redundancy gas: settle+answer callback ${s0.gasUsed}, attest ${a0.gasUsed}, attest deciding ${a1.gasUsed}, deliver (no push) ${d.gasUsed}`);
    expect(a1.gasUsed).toBeLessThan(200_000n);
    expect(await fx.oracle.state(ids[0]!)).toBe(BigInt(Status.Fulfilled));
  });

  it("test_redundancy_sdkAdvanceJob_attestsReplacesDelivers", async () => {
    const fx = await fixture();
    const deadline = (await latest(fx)) + 86_400n;
    await send(fx.dapp.connect(fx.requester).classify(ZERO, INPUT, "", 2, 1, JOB_FEE, deadline, { value: 3n * JOB_FEE }));
    const ids = (await fx.redundant.getAnswers(1n)).map((a: any) => a.requestId as string);
    // Worker 0 answers both requests in one batch: two leaves, proofs of one sibling each.
    const sub = await batchSubmission(fx, ids, fx.signers[0]!, { output: GOOD, outputHash: GOOD_HASH });
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 5_000_000 }));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
    const rec0 = { worker: fx.ops[0]!.address, relayer: fx.relayer.address, outputHash: GOOD_HASH };
    const leaves = await Promise.all(ids.map((id: string) => fx.oracle.resultLeaf(id, 0, rec0)));
    await send(fx.oracle.settle({ requestId: ids[0], record: rec0, output: GOOD, proof: [leaves[1]] }));
    await send(fx.oracle.settle({ requestId: ids[1], record: rec0, output: GOOD, proof: [leaves[0]] }));
    const sdk = redundantContract(fx.redundantAddr, fx.other as any);
    // The SDK rebuilds the proofs from the logs, attests both (one duplicate), then replaces it with the job's input.
    expect(await advanceJob(sdk, fx.oracleAddr, 1n)).toEqual(["attest", "attest", "replace"]);
    const answers = await fx.redundant.getAnswers(1n);
    expect(answers.map((a: any) => Number(a.status))).toEqual([AnswerStatus.Counted, AnswerStatus.Replaced, AnswerStatus.Requested]);
    await answer(fx, answers[2].requestId, GOOD, 1);
    await settle(conn, fx, answers[2].requestId, 1, GOOD);
    expect(await advanceJob(sdk, fx.oracleAddr, 1n)).toEqual(["attest", "deliver"]);
    const o = await fx.dapp.outcome(1n);
    expect(o.agreed).toBe(true);
    // The SDK delivered the agreed output's bytes, read from the AnswerDelivered event.
    expect(o.output).toBe("0x" + Buffer.from(GOOD).toString("hex"));
    expect(await jobActions(sdk, fx.oracleAddr, 1n)).toEqual([]);
  });

  it("test_redundancy_answerCallback_fitsA4KiBOutput", async () => {
    const fx = await fixture();
    const { ids } = await requestJob(fx, { k: 2, reserve: 0 });
    // The largest inline output the oracle takes here (maxInlineOutputBytes 4096): 1,018 float32 values + header.
    const big = tensorF32([1, 1018], Array.from({ length: 1018 }, (_, i) => i / 1018));
    expect(big.byteLength).toBeLessThanOrEqual(PARAMS.maxInlineOutputBytes);
    await answer(fx, ids[0]!, big, 0);
    const s = await settle(conn, fx, ids[0]!, 0, big);
    const [f] = events(s, fx.oracle, "RequestFulfilled");
    // Recorded within ANSWER_CALLBACK_GAS, its bytes in the AnswerDelivered event.
    expect(f!.args.callbackSucceeded).toBe(true);
    const [d] = events(s, fx.redundant, "AnswerDelivered");
    expect(d!.args.output).toBe("0x" + Buffer.from(big).toString("hex"));
  });
});
