import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress, ZeroHash } from "ethers";
import {
  deploy, expectRevert, events, request, requestAndSubmit, send, submission, now, balance, modelInfo,
  FEE, PARAMS, Refund, RULE_WITHIN, Status, type Connection, type Fx,
} from "./helpers.js";

const BOND = PARAMS.challengeBond;

describe("InferenceOracle: challenges and disputes (ArbiterResolver)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);
  const challenge = (fx: Fx, id: string, rec: object, value = BOND) => fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value });

  it("test_challenge_inWindow_opensDispute", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    const receipt = await send(challenge(fx, id, rec));
    const t = await now(fx);
    const [ev] = events(receipt, fx.oracle, "ChallengeOpened");
    expect(ev!.args.challenger).toBe(fx.challenger.address);
    expect(ev!.args.worker).toBe(fx.ops[0]!.address);
    expect(ev!.args.bond).toBe(BOND);
    expect(ev!.args.deadline).toBe(t + BigInt(RULE_WITHIN));
    const [rec2] = events(receipt, fx.resolver, "DisputeRecorded");
    expect(rec2!.args.worker).toBe(fx.ops[0]!.address);
    expect(await fx.resolver.openedAt(id)).toBe(t);
    const d = await fx.oracle.getDispute(id);
    expect(d.challenger).toBe(fx.challenger.address);
    expect(d.worker).toBe(fx.ops[0]!.address);
    expect(d.resolver).toBe(await fx.resolver.getAddress());
    expect(d.bond).toBe(BOND);
    expect(d.deadline).toBe(t + BigInt(RULE_WITHIN));
    expect(d.workerAtFaultByDefault).toBe(false);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Challenged));
    expect(r.timeout).toBe(t + BigInt(RULE_WITHIN));
    await expectRevert(challenge(fx, id, rec), fx.oracle, "UnexpectedRequestState", [id, Status.Challenged, Status.Submitted]);
    await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "UnexpectedRequestState");
  });

  it("test_challenge_invalid_reverts", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await expectRevert(challenge(fx, id, rec, BOND - 1n), fx.oracle, "OracleChallengeBondTooLow", [BOND - 1n, BOND]);
    await expectRevert(challenge(fx, id, { ...rec, outputHash: ZeroHash }), fx.oracle, "OracleResultRecordMismatch", [id]);
    await expectRevert(fx.oracle.connect(fx.ops[0]).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    const { id: open } = await request(fx);
    await expectRevert(challenge(fx, open, rec), fx.oracle, "UnexpectedRequestState", [open, Status.Requested, Status.Submitted]);
    const huge = 1n << 96n;
    await conn.networkHelpers.setBalance(fx.challenger.address, huge * 2n);
    await expectRevert(challenge(fx, id, rec, huge), fx.oracle, "OracleFeeTooHigh", [huge]);
    // (A revoked resolver still rules on requests made before: test/attacks/oracle-live-resolver.test.ts.)
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await expectRevert(challenge(fx, id, rec), fx.oracle, "OracleDeadlinePassed");
  });

  it("test_resolveDispute_workerAtFaultBeforeDeadline_reopens", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    const deadline = (await fx.oracle.getRequest(id)).deadline;
    await send(challenge(fx, id, rec));
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, true));
    const [slash] = events(receipt, fx.oracle, "WorkerSlashed");
    expect(slash!.args.operator).toBe(fx.ops[0]!.address);
    expect(slash!.args.amount).toBe(PARAMS.resultBond);
    expect(slash!.args.beneficiary).toBe(fx.challenger.address);
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.workerAtFault).toBe(true);
    expect(res!.args.byDefault).toBe(false);
    expect(res!.args.winner).toBe(fx.challenger.address);
    expect(res!.args.payout).toBe(BOND + PARAMS.resultBond);
    const [reopen] = events(receipt, fx.oracle, "RequestReopened");
    expect(reopen!.args.disqualifiedWorker).toBe(fx.ops[0]!.address);
    expect(reopen!.args.deadline).toBe(deadline);
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(BOND + PARAMS.resultBond);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.stake).toBe(2n * 10n ** 18n - PARAMS.resultBond);
    expect(w.locked).toBe(0n);
    expect(w.openResults).toBe(0n);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Requested));
    expect(r.timeout).toBe(deadline);
    expect(r.attempt).toBe(1n);
    expect((await fx.oracle.getDispute(id)).challenger).toBe(ZeroAddress);
    // The slashed worker cannot serve or reject this request again; another worker can.
    await expectRevert(fx.oracle.connect(fx.relayer).submitResult(await submission(fx, id, fx.signers[0]!)), fx.oracle, "OracleWorkerDisqualified", [id, fx.ops[0]!.address]);
    await send(fx.oracle.connect(fx.relayer).submitResult(await submission(fx, id, fx.signers[1]!)));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(id, true), fx.resolver, "ArbiterUnknownDispute", [id]);
    // The overturned result's leaf (attempt 0) is still in its committed root, but it no longer names
    // the request's result: it can neither be challenged again nor settled.
    expect(await fx.oracle.isBatchRoot(await fx.oracle.resultLeaf(id, 0, rec))).toBe(true);
    await expectRevert(challenge(fx, id, rec), fx.oracle, "OracleResultRecordMismatch", [id]);
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "OracleResultRecordMismatch", [id]);
    await send(fx.oracle.settle({ requestId: id, record: { ...rec, worker: fx.ops[1]!.address }, output: "0x", proof: [] }));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
  });

  it("test_resolveDispute_workerAtFaultAfterDeadline_refunds", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const { id, rec } = await requestAndSubmit(fx, 0, { deadline: t + 300n });
    await send(challenge(fx, id, rec));
    await conn.networkHelpers.time.increase(400);
    const before = await balance(fx, fx.requester.address);
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, true));
    const [ref] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ref!.args.reason).toBe(BigInt(Refund.WorkerFaultAfterDeadline));
    expect(ref!.args.pushed).toBe(true);
    expect(events(receipt, fx.oracle, "RequestReopened")).toHaveLength(0);
    expect(await balance(fx, fx.requester.address)).toBe(before + FEE);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Refunded));
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(BOND + PARAMS.resultBond);
  });

  it("test_resolveDispute_workerRight_paysWorkerAndSettlesAtOnce", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 1);
    await send(challenge(fx, id, rec));
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, false));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.workerAtFault).toBe(false);
    expect(res!.args.winner).toBe(fx.ops[1]!.address);
    expect(res!.args.payout).toBe(BOND);
    expect(await fx.oracle.balanceOf(fx.ops[1]!.address)).toBe(BOND);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Submitted));
    expect(r.timeout).toBe(await now(fx));
    // The window is over: no second challenge, anyone settles at once.
    await expectRevert(challenge(fx, id, rec), fx.oracle, "OracleDeadlinePassed");
    await send(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: "0x", proof: [] }));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
    expect((await fx.oracle.getWorker(fx.ops[1]!.address)).locked).toBe(0n);
  });

  it("test_resolveDisputeByDefault_afterDeadline_appliesDefault", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await send(challenge(fx, id, rec));
    await expectRevert(fx.oracle.resolveDisputeByDefault(id), fx.oracle, "OracleDeadlineNotReached");
    await conn.networkHelpers.time.increase(RULE_WITHIN);
    // The arbiter is too late now.
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(id, true), fx.oracle, "OracleDeadlinePassed");
    const receipt = await send(fx.oracle.connect(fx.other).resolveDisputeByDefault(id));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.byDefault).toBe(true);
    expect(res!.args.workerAtFault).toBe(false);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    await expectRevert(fx.oracle.resolveDisputeByDefault(id), fx.oracle, "UnexpectedRequestState", [id, Status.Submitted, Status.Challenged]);
  });

  it("test_resolveDisputeByDefault_workerAtFaultDefault_slashes", async () => {
    const fx = await fixture();
    const strict = await fx.ethers.deployContract("ArbiterResolver", [fx.oracleAddr, fx.arbiter.address, 600, true]);
    await fx.registry.connect(fx.admin).setResolverApproval(await strict.getAddress(), true);
    const model = "0x" + "dd".repeat(32);
    await fx.registry.connect(fx.modelOwner).registerModel(model, modelInfo({ tiers: 2, resolver: await strict.getAddress() }));
    const { id, rec } = await requestAndSubmit(fx, 2, { modelHash: model });
    await send(challenge(fx, id, rec));
    expect((await fx.oracle.getDispute(id)).workerAtFaultByDefault).toBe(true);
    await conn.networkHelpers.time.increase(600);
    const receipt = await send(fx.oracle.resolveDisputeByDefault(id));
    expect(events(receipt, fx.oracle, "WorkerSlashed")).toHaveLength(1);
    expect(events(receipt, fx.oracle, "RequestReopened")).toHaveLength(1);
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(BOND + PARAMS.resultBond);
  });

  it("test_resolveDispute_notResolver_reverts", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await expectRevert(fx.oracle.connect(fx.other).resolveDispute(id, true), fx.oracle, "UnexpectedRequestState", [id, Status.Submitted, Status.Challenged]);
    await send(challenge(fx, id, rec));
    const resolver = await fx.resolver.getAddress();
    await expectRevert(fx.oracle.connect(fx.arbiter).resolveDispute(id, true), fx.oracle, "OracleNotResolver", [id, fx.arbiter.address, resolver]);
    await expectRevert(fx.resolver.connect(fx.other).rule(id, true), fx.resolver, "ArbiterOnlyArbiter", [fx.other.address]);
    const missing = "0x" + "05".repeat(32);
    await expectRevert(fx.oracle.resolveDisputeByDefault(missing), fx.oracle, "OracleRequestNotFound", [missing]);
  });

  it("test_arbiterResolver_guards", async () => {
    const fx = await fixture();
    const ctx = { requestId: ZeroHash, modelHash: ZeroHash, inputHash: ZeroHash, outputHash: ZeroHash, traceRoot: ZeroHash, worker: ZeroAddress, challenger: ZeroAddress };
    await expectRevert(fx.resolver.connect(fx.other).onDisputeOpened(ctx), fx.resolver, "ArbiterOnlyOracle", [fx.other.address]);
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(ZeroHash, true), fx.resolver, "ArbiterUnknownDispute");
    await expectRevert(fx.resolver.connect(fx.other).transferArbiter(fx.other.address), fx.resolver, "ArbiterOnlyArbiter");
    await expectRevert(fx.resolver.connect(fx.arbiter).transferArbiter(ZeroAddress), fx.resolver, "ArbiterZeroAddress");
    await fx.resolver.connect(fx.arbiter).transferArbiter(fx.other.address);
    expect(await fx.resolver.arbiter()).toBe(fx.other.address);
    const factory = await fx.ethers.getContractFactory("ArbiterResolver");
    await expectRevert(factory.deploy(ZeroAddress, fx.arbiter.address, 1, false), fx.resolver, "ArbiterZeroAddress");
  });
});
