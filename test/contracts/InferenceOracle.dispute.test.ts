import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress, ZeroHash } from "ethers";
import {
  deploy, expectRevert, expectSkipped, events, request, requestAndSubmit, send, submission, now, balance, modelInfo,
  FEE, PARAMS, Refund, RULE_WITHIN, Ruling, Status, type Connection, type Fx,
} from "./helpers.js";
import { packBatch } from "../../protocol/index.js";

const BOND = PARAMS.challengeBond;
const BPS = 10_000n;
/** One joiner's WorkerFault share: the slash less its burn, plus its own bond back. */
const FAULT_SHARE = PARAMS.resultBond - (PARAMS.resultBond * BigInt(PARAMS.burnBps)) / BPS + BOND;

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
    const d = await fx.oracle.getDispute(id, 0);
    expect(d.opener).toBe(fx.challenger.address);
    expect(d.worker).toBe(fx.ops[0]!.address);
    expect(d.resolver).toBe(await fx.resolver.getAddress());
    expect(d.bond).toBe(BOND);
    expect(d.deadline).toBe(t + BigInt(RULE_WITHIN));
    expect(d.joiners).toBe(1n);
    expect(d.defaultRuling).toBe(BigInt(Ruling.WorkerRight));
    expect(d.ruling).toBe(BigInt(Ruling.None));
    expect(await fx.oracle.isChallenger(id, fx.challenger.address)).toBe(true);
    expect(await fx.oracle.isChallenger(id, fx.other.address)).toBe(false);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Challenged));
    expect(r.timeout).toBe(t + BigInt(RULE_WITHIN));
    // A second challenge joins (test_challenge_join_*); the same challenger cannot join twice.
    await expectRevert(challenge(fx, id, rec), fx.oracle, "OracleAlreadyJoined", [id, fx.challenger.address]);
    await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "UnexpectedRequestState");
  });

  it("test_challenge_invalid_reverts", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await expectRevert(challenge(fx, id, rec, BOND - 1n), fx.oracle, "OracleChallengeBondInvalid", [BOND - 1n, BOND]);
    await expectRevert(challenge(fx, id, rec, BOND + 1n), fx.oracle, "OracleChallengeBondInvalid", [BOND + 1n, BOND]);
    // The worker's signer key cannot challenge either.
    await conn.networkHelpers.setBalance(fx.signers[0]!.address, 10n ** 18n);
    await expectRevert(fx.oracle.connect(fx.signers[0]!.connect(fx.ethers.provider)).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    await expectRevert(challenge(fx, id, { ...rec, outputHash: ZeroHash }), fx.oracle, "OracleResultRecordMismatch", [id]);
    await expectRevert(fx.oracle.connect(fx.ops[0]).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    const { id: open } = await request(fx);
    await expectRevert(challenge(fx, open, rec), fx.oracle, "UnexpectedRequestState", [open, Status.Requested, Status.Submitted]);
    const huge = 1n << 96n;
    await conn.networkHelpers.setBalance(fx.challenger.address, huge * 2n);
    await expectRevert(challenge(fx, id, rec, huge), fx.oracle, "OracleChallengeBondInvalid", [huge, BOND]);
    // (A revoked resolver still rules on requests made before: test/attacks/oracle-live-resolver.test.ts.)
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await expectRevert(challenge(fx, id, rec), fx.oracle, "OracleDeadlinePassed");
  });

  it("test_resolveDispute_workerAtFaultBeforeDeadline_reopens", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    const deadline = (await fx.oracle.getRequest(id)).deadline;
    await send(challenge(fx, id, rec));
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerFault));
    const [slash] = events(receipt, fx.oracle, "WorkerSlashed");
    expect(slash!.args.operator).toBe(fx.ops[0]!.address);
    expect(slash!.args.amount).toBe(PARAMS.resultBond);
    expect(slash!.args.beneficiary).toBe(fx.challenger.address);
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerFault));
    expect(res!.args.byDefault).toBe(false);
    expect(res!.args.slashed).toBe(PARAMS.resultBond);
    expect(res!.args.burned).toBe((PARAMS.resultBond * BigInt(PARAMS.burnBps)) / BPS);
    expect(res!.args.share).toBe(FAULT_SHARE);
    expect(await fx.oracle.totalBurned()).toBe((PARAMS.resultBond * BigInt(PARAMS.burnBps)) / BPS);
    // Shares are pulled: nothing is credited until the joiner claims, once.
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(0n);
    await expectRevert(fx.oracle.connect(fx.other).claimDispute(id, 0), fx.oracle, "OracleNothingToClaim", [id, 0, fx.other.address]);
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    await expectRevert(fx.oracle.connect(fx.challenger).claimDispute(id, 0), fx.oracle, "OracleNothingToClaim", [id, 0, fx.challenger.address]);
    const [reopen] = events(receipt, fx.oracle, "RequestReopened");
    expect(reopen!.args.disqualifiedWorker).toBe(fx.ops[0]!.address);
    expect(reopen!.args.deadline).toBe(deadline);
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(FAULT_SHARE);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.stake).toBe(2n * 10n ** 18n - PARAMS.resultBond);
    expect(w.locked).toBe(0n);
    expect(w.openResults).toBe(0n);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Requested));
    expect(r.timeout).toBe(deadline);
    expect(r.attempt).toBe(1n);
    expect((await fx.oracle.getDispute(id, 1)).opener).toBe(ZeroAddress);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    // The slashed worker cannot serve or reject this request again; another worker can.
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))), fx.oracle, "OracleWorkerDisqualified");
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[1]!))));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerFault), fx.resolver, "ArbiterUnknownDispute", [id]);
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
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerFault));
    const [ref] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ref!.args.reason).toBe(BigInt(Refund.WorkerFaultAfterDeadline));
    expect(ref!.args.pushed).toBe(true);
    expect(events(receipt, fx.oracle, "RequestReopened")).toHaveLength(0);
    expect(await balance(fx, fx.requester.address)).toBe(before + FEE);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Refunded));
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(FAULT_SHARE);
  });

  it("test_resolveDispute_workerRight_paysWorkerAndSettlesAtOnce", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 1);
    await send(challenge(fx, id, rec));
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerRight));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerRight));
    const burn = (BOND * BigInt(PARAMS.burnBps)) / BPS;
    expect(res!.args.burned).toBe(burn);
    expect(await fx.oracle.balanceOf(fx.ops[1]!.address)).toBe(BOND - burn);
    expect(await fx.oracle.totalBurned()).toBe(burn);
    await expectRevert(fx.oracle.connect(fx.challenger).claimDispute(id, 0), fx.oracle, "OracleNothingToClaim", [id, 0, fx.challenger.address]);
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
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerFault), fx.oracle, "OracleDeadlinePassed");
    const receipt = await send(fx.oracle.connect(fx.other).resolveDisputeByDefault(id));
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.byDefault).toBe(true);
    expect(res!.args.ruling).toBe(BigInt(Ruling.WorkerRight));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    await expectRevert(fx.oracle.resolveDisputeByDefault(id), fx.oracle, "UnexpectedRequestState", [id, Status.Submitted, Status.Challenged]);
  });

  it("test_resolveDisputeByDefault_workerAtFaultDefault_slashes", async () => {
    const fx = await fixture();
    const strict = await fx.ethers.deployContract("ArbiterResolver", [fx.oracleAddr, fx.arbiter.address, 600, Ruling.WorkerFault]);
    await fx.registry.connect(fx.admin).setResolverApproval(await strict.getAddress(), true);
    const model = "0x" + "dd".repeat(32);
    await fx.registry.connect(fx.modelOwner).registerModel(model, modelInfo({ tiers: 2, resolver: await strict.getAddress() }));
    const { id, rec } = await requestAndSubmit(fx, 2, { modelHash: model });
    await send(challenge(fx, id, rec));
    expect((await fx.oracle.getDispute(id, 0)).defaultRuling).toBe(BigInt(Ruling.WorkerFault));
    await conn.networkHelpers.time.increase(600);
    const receipt = await send(fx.oracle.resolveDisputeByDefault(id));
    expect(events(receipt, fx.oracle, "WorkerSlashed")).toHaveLength(1);
    expect(events(receipt, fx.oracle, "RequestReopened")).toHaveLength(1);
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBe(FAULT_SHARE);
  });

  it("test_resolveDispute_outputMinor_slashesPenaltyAndUnlocksTheRest", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await send(challenge(fx, id, rec));
    const receipt = await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.OutputMinor));
    const slashed = (PARAMS.resultBond * BigInt(PARAMS.tolerancePenaltyBps)) / BPS;
    const burned = (slashed * BigInt(PARAMS.burnBps)) / BPS;
    const [res] = events(receipt, fx.oracle, "DisputeResolved");
    expect(res!.args.ruling).toBe(BigInt(Ruling.OutputMinor));
    expect(res!.args.slashed).toBe(slashed);
    expect(res!.args.burned).toBe(burned);
    expect(res!.args.share).toBe(slashed - burned + BOND);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.stake).toBe(2n * 10n ** 18n - slashed);
    expect(w.locked).toBe(0n);
    expect(events(receipt, fx.oracle, "RequestReopened")).toHaveLength(1);
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!))), fx.oracle, "OracleWorkerDisqualified");
  });

  it("test_challenge_join_sameBondUntilDeadline_movesNothing", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await send(challenge(fx, id, rec));
    const before = await fx.oracle.getDispute(id, 0);
    // A join names the disputed result too.
    await expectRevert(fx.oracle.connect(fx.other).challenge(id, { ...rec, outputHash: ZeroHash }, [], { value: BOND }), fx.oracle, "OracleResultRecordMismatch", [id]);
    const receipt = await send(fx.oracle.connect(fx.other).challenge(id, rec, [], { value: BOND }));
    const [joined] = events(receipt, fx.oracle, "DisputeJoined");
    expect(joined!.args.challenger).toBe(fx.other.address);
    expect(joined!.args.joiners).toBe(2n);
    expect(events(receipt, fx.resolver, "DisputeRecorded")).toHaveLength(0);
    const after = await fx.oracle.getDispute(id, 0);
    expect(after.deadline).toBe(before.deadline);
    expect(after.joiners).toBe(2n);
    expect((await fx.oracle.getRequest(id)).timeout).toBe(before.deadline);
    expect(await fx.oracle.isChallenger(id, fx.other.address)).toBe(true);
    await expectRevert(fx.oracle.connect(fx.relayer).challenge(id, rec, [], { value: BOND * 2n }), fx.oracle, "OracleChallengeBondInvalid", [BOND * 2n, BOND]);
    await expectRevert(fx.oracle.connect(fx.ops[0]).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleSelfChallenge", [id, fx.ops[0]!.address]);
    await conn.networkHelpers.time.increase(RULE_WITHIN);
    await expectRevert(fx.oracle.connect(fx.relayer).challenge(id, rec, [], { value: BOND }), fx.oracle, "OracleDeadlinePassed", [id, before.deadline]);
    await send(fx.oracle.resolveDisputeByDefault(id));
    // Resolved: nobody is a challenger of an open dispute any more.
    expect(await fx.oracle.isChallenger(id, fx.other.address)).toBe(false);
  });

  it("test_resolveDispute_notResolver_reverts", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    await expectRevert(fx.oracle.connect(fx.other).resolveDispute(id, Ruling.WorkerFault), fx.oracle, "UnexpectedRequestState", [id, Status.Submitted, Status.Challenged]);
    await send(challenge(fx, id, rec));
    const resolver = await fx.resolver.getAddress();
    await expectRevert(fx.oracle.connect(fx.arbiter).resolveDispute(id, Ruling.WorkerFault), fx.oracle, "OracleNotResolver", [id, fx.arbiter.address, resolver]);
    await expectRevert(fx.resolver.connect(fx.other).rule(id, Ruling.WorkerFault), fx.resolver, "ArbiterOnlyArbiter", [fx.other.address]);
    // A ruling must decide: None is refused.
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(id, Ruling.None), fx.oracle, "OracleInvalidRuling", [id]);
    const missing = "0x" + "05".repeat(32);
    await expectRevert(fx.oracle.resolveDisputeByDefault(missing), fx.oracle, "OracleRequestNotFound", [missing]);
  });

  it("test_arbiterResolver_guards", async () => {
    const fx = await fixture();
    const ctx = { requestId: ZeroHash, attempt: 0, modelHash: ZeroHash, inputHash: ZeroHash, outputHash: ZeroHash, worker: ZeroAddress, signer: ZeroAddress, paramsVersion: 1 };
    await expectRevert(fx.resolver.connect(fx.other).onDisputeOpened(ctx), fx.resolver, "ArbiterOnlyOracle", [fx.other.address]);
    await expectRevert(fx.resolver.connect(fx.arbiter).rule(ZeroHash, Ruling.WorkerFault), fx.resolver, "ArbiterUnknownDispute");
    await expectRevert(fx.resolver.connect(fx.other).transferArbiter(fx.other.address), fx.resolver, "ArbiterOnlyArbiter");
    await expectRevert(fx.resolver.connect(fx.arbiter).transferArbiter(ZeroAddress), fx.resolver, "ArbiterZeroAddress");
    await fx.resolver.connect(fx.arbiter).transferArbiter(fx.other.address);
    expect(await fx.resolver.arbiter()).toBe(fx.other.address);
    const factory = await fx.ethers.getContractFactory("ArbiterResolver");
    await expectRevert(factory.deploy(ZeroAddress, fx.arbiter.address, 1, Ruling.WorkerRight), fx.resolver, "ArbiterZeroAddress");
    await expectRevert(factory.deploy(fx.oracleAddr, fx.arbiter.address, 1, Ruling.None), fx.resolver, "ArbiterInvalidRuling");
  });
});
