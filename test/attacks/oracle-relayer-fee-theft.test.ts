/**
 * Issue 12, finding 1 ("relayer fee theft"). Before: the worker's signature did not bind who carries
 * the result, and the oracle paid the relayer share to msg.sender, so anyone could copy a signed
 * result from the mempool, submit it first and take the relayer's fee.
 * Now: the worker signs a `payee` (the relayer that gave it the job) in Result(..., payee); the oracle
 * pays the relayer share to that payee whoever submits, and a copy with another payee does not verify.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress } from "ethers";
import {
  deploy, events, expectRevert, request, send, submission, record, FEE, MODEL_FEE, OUTPUT, PARAMS, Tier, type Connection,
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

  it("test_submitResult_copiedNoneResult_payeeStillPaid_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    // The honest relayer's transaction, as seen in the mempool ...
    const sub = await submission(fx, id, fx.signers[0]!, { output: OUTPUT });
    // ... copied and submitted first by a front-runner.
    const receipt = await send(fx.oracle.connect(fx.other).submitResult(sub));
    expect(events(receipt, fx.oracle, "RequestFulfilled")).toHaveLength(1);
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(0n);
    expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(share());
  });

  it("test_settle_copiedOptimisticResult_payeeStillPaid_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const sub = await submission(fx, id, fx.signers[0]!);
    await send(fx.oracle.connect(fx.other).submitResult(sub));
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

  it("test_submitResult_copyWithPayeeSwapped_reverts", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    const sub = await submission(fx, id, fx.signers[0]!);
    // Rewriting the payee breaks the signature: it recovers another (unregistered) signer.
    await expectRevert(fx.oracle.connect(fx.other).submitResult({ ...sub, payee: fx.other.address }), fx.oracle, "OracleUnknownSigner");
  });

  it("test_submitResult_zeroPayee_workerKeepsRelayerShare_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    const sub = await submission(fx, id, fx.signers[0]!, { payee: ZeroAddress });
    const receipt = await send(fx.oracle.connect(fx.other).submitResult(sub));
    expect(events(receipt, fx.oracle, "ResultSubmitted")[0]!.args.relayer).toBe(fx.ops[0]!.address);
    expect(await fx.oracle.balanceOf(fx.ops[0]!.address)).toBe(FEE - MODEL_FEE);
    expect(await fx.oracle.balanceOf(fx.other.address)).toBe(0n);
  });
});
