/**
 * Issue 12, finding 1 ("relayer fee theft"). Before: the worker's signature did not bind who carries
 * the result, and the oracle paid the relayer share to msg.sender, so anyone could copy a signed
 * result from the mempool, submit it first and take the relayer's fee.
 * Now (result format v2, docs/V2.md §3): the worker signs a `payee` (the relayer that gave it the jobs) in
 * ResultBatch(resultsRoot, payee); the oracle pays the relayer share of every fee in the batch to that
 * payee whoever submits, and a copy with another payee does not verify.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import { proofFromLogs, packBatch } from "../../protocol/index.js";
import {
  deploy, events, submittedOf, expectRevert, request, send, submission, batchSubmission, record, FEE, MODEL_FEE, OUTPUT, PARAMS, Tier, type Connection,
} from "../contracts/helpers.js";

const share = () => {
  const rest = FEE - MODEL_FEE;
  return (rest * BigInt(PARAMS.relayerFeeBps)) / 10_000n;
};

describe("attack: relayer fee theft by front-running (finding 1)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_submitBatch_copiedNoneResult_payeeStillPaid_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    // The honest relayer's transaction, as seen in the mempool ...
    const sub = await submission(fx, id, fx.signers[0]!, { output: OUTPUT });
    // ... copied and submitted first by a front-runner.
    const receipt = await send(fx.oracle.connect(fx.other).submitBatch(...packBatch(sub)));
    expect(events(receipt, fx.oracle, "RequestFulfilled")).toHaveLength(1);
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(0n);
    expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(share());
  });

  it("test_settle_copiedOptimisticResult_payeeStillPaid_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const sub = await submission(fx, id, fx.signers[0]!);
    await send(fx.oracle.connect(fx.other).submitBatch(...packBatch(sub)));
    // The leaf names the signed payee, not the front-runner: a record naming the front-runner fails.
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await expectRevert(
      fx.oracle.connect(fx.other).settle({ requestId: id, record: record(fx.ops[0]!.address, fx.other.address), output: "0x", proof: [] }),
      fx.oracle,
      "OracleResultRecordMismatch",
      [id],
    );
    await send(fx.oracle.connect(fx.other).settle({ requestId: id, record: record(fx.ops[0]!.address, fx.relayer.address), output: "0x", proof: [] }));
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(0n);
    expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(share());
  });

  it("test_submitBatch_copyWithPayeeSwapped_reverts", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    const sub = await submission(fx, id, fx.signers[0]!);
    // Rewriting the payee breaks the signature: it recovers another (unregistered) signer.
    await expectRevert(fx.oracle.connect(fx.other).submitBatch(...packBatch({ ...sub, payee: fx.other.address })), fx.oracle, "OracleUnknownSigner");
  });

  it("test_submitBatch_zeroPayee_workerKeepsRelayerShare_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    const sub = await submission(fx, id, fx.signers[0]!, { payee: ZeroAddress });
    const receipt = await send(fx.oracle.connect(fx.other).submitBatch(...packBatch(sub)));
    expect(submittedOf(receipt, fx.oracle)[0]!.relayer).toBe(fx.ops[0]!.address);
    expect(await fx.oracle.balanceOf(fx.ops[0]!.address)).toBe(FEE - MODEL_FEE);
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(0n);
  });

  it("test_submitBatch_copiedBatchFrontRun_payeePaidForEveryItem_succeeds", async () => {
    const fx = await fixture();
    // A worker's signed batch of 8: 4 NONE (paid at once) and 4 OPTIMISTIC (paid at settlement).
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await request(fx, { tier: i % 2 === 0 ? Tier.NONE : Tier.OPTIMISTIC })).id);
    const sub = await batchSubmission(fx, ids, fx.signers[0]!, { output: OUTPUT });
    // The front-runner submits the copy first; the relayer's own transaction then finds nothing to take.
    const copy = await send(fx.oracle.connect(fx.other).submitBatch(...packBatch(sub)));
    expect(submittedOf(copy, fx.oracle)).toHaveLength(8);
    const late = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub)));
    expect(events(late, fx.oracle, "ResultSkipped")).toHaveLength(8);
    expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(4n * share());
    // The OPTIMISTIC ones settle with the records the copy's logs give: still the signed payee's share.
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const settlements = ids.filter((_, i) => i % 2 === 1).map((id) => {
      const p = proofFromLogs(copy.logs, fx.oracleAddr, id);
      return { requestId: id, record: p.record, output: OUTPUT, proof: p.proof };
    });
    for (const st of settlements) expect(st.record.relayer).toBe(fx.relayer.address);
    await send(fx.oracle.connect(fx.other).settleMany(settlements));
    expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(8n * share());
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(0n);
  });
});
