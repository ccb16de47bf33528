/**
 * RedundantInference agreement within τ_out (issue 18): k counted answers that differ by hash make the job
 * Comparing; `decide` with their bytes compares them element by element (OutputAgreement.sol) within the
 * model's τ_out recorded at request time, both ways, against the first counted answer; nobody deciding, the
 * job closes as Disagreed after DECIDE_WINDOW. And the prepaid attester reward: each attestation and the
 * decide credit their sender, what is left goes back to the requester.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { hashEncoded, sizeProof, packBatch } from "../../protocol/index.js";
import { countedOutputs, jobActions, advanceJob, redundantContract } from "../../sdk/index.js";
import { batchSubmission, events, expectRevert, send, tensorF32, PARAMS, type Connection } from "./helpers.js";
import {
  answeredJob, deployRedundant, deployRedundantTau, f64, rec, requestJob, GOOD, GOOD_HASH, BAD, JOB_FEE, JobStatus, TAU, type RFx,
} from "./redundancy-fixture.js";

/** A float32 tensor from raw uint32 bit patterns (NaN payloads, signed zeros). */
function f32Bits(shape: number[], bits: number[]): Buffer {
  const t = tensorF32(shape, bits.map(() => 0));
  const data = t.subarray(t.length - 4 * bits.length);
  bits.forEach((b, i) => data.writeUInt32LE(b >>> 0, 4 * i));
  return t;
}

describe("RedundantInference: agreement within τ_out", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const tauFixture = (): Promise<RFx> => conn.networkHelpers.loadFixture(deployRedundantTau);
  const exactFixture = (): Promise<RFx> => conn.networkHelpers.loadFixture(deployRedundant);

  it("test_compare_withinTauOut_agreedOnFirstCountedAnswer", async () => {
    const fx = await tauFixture();
    // 0.9 + 5e-4 is within 1e-3 + 1e-2·0.9 of 0.9; a different hash, the same answer for the model.
    const near = tensorF32([1, 2], [0.9005, 0.0995]);
    const { jobId } = await answeredJob(conn, fx, [GOOD, near, GOOD]);
    let job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Comparing));
    expect(job.tauOutAbs).toBe(f64(TAU.abs));
    expect(job.tauOutRel).toBe(f64(TAU.rel));
    const decideBy = job.decideBy;
    expect(decideBy).toBeGreaterThan(0n);
    const d = await send(fx.redundant.connect(fx.other).decide(jobId, [GOOD, near, GOOD], { gasLimit: 3_000_000 }));
    const ev = events(d, fx.redundant, "JobDecided")[0]!;
    expect(ev.args.agreed).toBe(true);
    job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    expect(job.outputHash).toBe(GOOD_HASH);
    await send(fx.redundant.deliver(jobId, GOOD));
    expect((await fx.redundant.getJob(jobId)).delivered).toBe(true);
  });

  it("test_compare_beyondTauOut_disagreed", async () => {
    const fx = await tauFixture();
    // 0.9 vs 0.88: 0.02 > 1e-3 + 1e-2·0.9.
    const far = tensorF32([1, 2], [0.88, 0.12]);
    const { jobId } = await answeredJob(conn, fx, [GOOD, far]);
    const d = await send(fx.redundant.decide(jobId, [GOOD, far], { gasLimit: 3_000_000 }));
    expect(events(d, fx.redundant, "JobDecided")[0]!.args.agreed).toBe(false);
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Disagreed));
    expect(job.outputHash).toBe("0x" + "00".repeat(32));
    expect(await fx.redundant.countedHashes(jobId)).toEqual([GOOD_HASH, hashEncoded(far)]);
  });

  it("test_compare_relativeTermOneSided_checkedBothWays", async () => {
    const fx = await tauFixture();
    // τ: |w − c| ≤ 1e-3 + 1e-2·|c|. 1.0 vs 1.0108: 0.0108 ≤ 0.011 (against 1.0) and ≤ 0.011108 (against 1.0108).
    const a = tensorF32([1], [1.0]);
    const b = tensorF32([1], [1.0108]);
    const { jobId } = await answeredJob(conn, fx, [a, b]);
    await send(fx.redundant.decide(jobId, [a, b], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Agreed));
    // 1.0 vs 1.01105: 0.01105 ≤ 0.0111105 against 1.01105, but > 0.011 against 1.0: one way only → disagreed.
    const c = tensorF32([1], [1.01105]);
    const second = await answeredJob(conn, fx, [a, c]);
    await send(fx.redundant.decide(second.jobId, [a, c], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(second.jobId)).status).toBe(BigInt(JobStatus.Disagreed));
    // The same two answers the other way round: the same outcome.
    const third = await answeredJob(conn, fx, [c, a]);
    await send(fx.redundant.decide(third.jobId, [c, a], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(third.jobId)).status).toBe(BigInt(JobStatus.Disagreed));
  });

  it("test_compare_noCanonicalTerms_exactValues_nanPayloadsAgree", async () => {
    const fx = await exactFixture();
    // Without canonical terms τ_out is 0: numerically equal values only. NaN bits differ between honest
    // runtimes (7fc00000 vs ffc00000) and +0 / −0 differ by sign: different hashes, the same values.
    const x = f32Bits([1, 3], [0x7fc00000, 0x00000000, 0x3f000000]);
    const y = f32Bits([1, 3], [0xffc00000, 0x80000000, 0x3f000000]);
    const { jobId } = await answeredJob(conn, fx, [x, y]);
    const job = await fx.redundant.getJob(jobId);
    expect(job.tauOutAbs).toBe(0n);
    await send(fx.redundant.decide(jobId, [x, y], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Agreed));
    // One ulp apart is not equal without a tolerance.
    const z = f32Bits([1, 3], [0x7fc00000, 0x00000000, 0x3f000001]);
    const second = await answeredJob(conn, fx, [x, z]);
    await send(fx.redundant.decide(second.jobId, [x, z], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(second.jobId)).status).toBe(BigInt(JobStatus.Disagreed));
  });

  it("test_compare_shapeOrDtypeDiffers_disagreed", async () => {
    const fx = await tauFixture();
    const transposed = tensorF32([2, 1], [0.9, 0.1]);
    const { jobId } = await answeredJob(conn, fx, [GOOD, transposed]);
    await send(fx.redundant.decide(jobId, [GOOD, transposed], { gasLimit: 3_000_000 }));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Disagreed));
  });

  it("test_compare_sdkDecidesFromEvents_thenDelivers", async () => {
    const fx = await tauFixture();
    const near = tensorF32([1, 2], [0.9004, 0.0996]);
    const { jobId, receipt } = await answeredJob(conn, fx, [near, GOOD]);
    const sdk = redundantContract(fx.redundantAddr, fx.other as any);
    const outputs = await countedOutputs(sdk, jobId, receipt.blockNumber);
    expect(outputs!.map((o) => hashEncoded(Buffer.from(o.slice(2), "hex")))).toEqual([hashEncoded(near), GOOD_HASH]);
    expect((await jobActions(sdk, fx.oracleAddr, jobId)).map((a) => a.kind)).toEqual(["decide"]);
    expect(await advanceJob(sdk, fx.oracleAddr, jobId)).toEqual(["decide", "deliver"]);
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    // Agreed on the first counted answer's output.
    expect(job.outputHash).toBe(hashEncoded(near));
    expect(job.delivered).toBe(true);
  });

  it("test_compare_nobodyDecides_closedDisagreedAfterDecideBy", async () => {
    const fx = await tauFixture();
    const near = tensorF32([1, 2], [0.9005, 0.0995]);
    const { jobId } = await answeredJob(conn, fx, [GOOD, near]);
    const job = await fx.redundant.getJob(jobId);
    await expectRevert(fx.redundant.close(jobId), fx.redundant, "RedundancyTooEarly", [jobId, job.decideBy]);
    await conn.networkHelpers.time.increaseTo(job.decideBy + 1n);
    const sdk = redundantContract(fx.redundantAddr, fx.other as any);
    expect((await jobActions(sdk, fx.oracleAddr, jobId)).map((a) => a.kind)).toEqual(["close"]);
    await send(fx.redundant.close(jobId));
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Disagreed));
    // Decided by default: no later decide, and delivered (hash only) like any disagreement.
    await expectRevert(fx.redundant.decide(jobId, [GOOD, near]), fx.redundant, "RedundancyNotComparing", [jobId, BigInt(JobStatus.Disagreed)]);
    await send(fx.redundant.deliver(jobId, "0x"));
  });

  it("test_attestReward_paidPerAttestationAndDecide_restRefunded", async () => {
    const fx = await tauFixture();
    const reward = 10n ** 14n;
    const far = BAD;
    const { jobId, value } = await answeredJob(conn, fx, [GOOD, far], { attestReward: reward, reserve: 1, attester: fx.relayer });
    expect(value).toBe(3n * JOB_FEE + 4n * reward);
    // Two attestations by the relayer.
    expect(await fx.redundant.balanceOf(fx.relayer.address)).toBe(2n * reward);
    expect((await fx.redundant.getJob(jobId)).rewardsLeft).toBe(2n);
    const d = await send(fx.redundant.connect(fx.other).decide(jobId, [GOOD, far], { gasLimit: 3_000_000 }));
    expect(events(d, fx.redundant, "RewardPaid")[0]!.args.amount).toBe(reward);
    expect(await fx.redundant.balanceOf(fx.other.address)).toBe(reward);
    // The unused replacement and the one reward nobody earned go back to the requester.
    expect(await fx.redundant.balanceOf(fx.requester.address)).toBe(JOB_FEE + reward);
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(JOB_FEE + 4n * reward);
    for (const who of [fx.relayer, fx.other, fx.requester]) await send(fx.redundant.connect(who).withdraw());
    expect(await fx.ethers.provider.getBalance(fx.redundantAddr)).toBe(0n);
  });

  it("test_compare_hashOnlyOutputs_decidedFromAnOutputSource", async () => {
    const fx = await tauFixture();
    // 1,100 float32 values: above the oracle's inline cap (4,096 bytes), delivered as hash only (no bytes in
    // AnswerDelivered). The two differ in a few elements, within τ_out.
    const values = Array.from({ length: 1100 }, (_, i) => (i % 13) / 13);
    const a = tensorF32([1, 1100], values);
    const b = tensorF32([1, 1100], values.map((v, i) => (i % 100 === 0 ? v + 5e-4 : v)));
    expect(a.byteLength).toBeGreaterThan(PARAMS.maxInlineOutputBytes);
    const { jobId, ids, receipt } = await requestJob(fx, { k: 2, reserve: 0 });
    for (const [w, out] of [a, b].entries()) {
      const sub = await batchSubmission(fx, [ids[w]!], fx.signers[w]!, { output: sizeProof(out), outputHash: hashEncoded(out) });
      await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 5_000_000 }));
    }
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 1);
    for (const [w, out] of [a, b].entries()) {
      await send(fx.oracle.connect(fx.other).settle({ requestId: ids[w], record: rec(fx, w, out), output: sizeProof(out), proof: [] }));
      await send(fx.redundant.connect(fx.other).attest(ids[w], rec(fx, w, out), []));
    }
    expect((await fx.redundant.getJob(jobId)).status).toBe(BigInt(JobStatus.Comparing));
    const sdk = redundantContract(fx.redundantAddr, fx.other as any);
    // Without the bytes nothing can be decided (the default will be Disagreed).
    expect(await countedOutputs(sdk, jobId, receipt.blockNumber)).toBeUndefined();
    expect(await jobActions(sdk, fx.oracleAddr, jobId)).toEqual([]);
    // An output source (the relayer's blob store; here the workers' bytes) supplies them; a source returning
    // wrong bytes is ignored (checked against the hash).
    const store = new Map<string, Uint8Array>([[hashEncoded(a), a], [hashEncoded(b), b]]);
    const liar = async () => GOOD;
    expect(await countedOutputs(sdk, jobId, receipt.blockNumber, liar)).toBeUndefined();
    const outputs = async (h: string) => store.get(h);
    expect(await advanceJob(sdk, fx.oracleAddr, jobId, { outputs })).toEqual(["decide", "deliver"]);
    const job = await fx.redundant.getJob(jobId);
    expect(job.status).toBe(BigInt(JobStatus.Agreed));
    expect(job.outputHash).toBe(hashEncoded(a));
  });
});
