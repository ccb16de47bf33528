import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { AbiCoder, ZeroAddress, ZeroHash, keccak256, toUtf8Bytes } from "ethers";
import {
  deploy, expectRevert, events, request, requestParams, rejection, requestAndSubmit, send, balance, now, modelInfo, record, submission,
  ETH, FEE, INPUT, INPUT_HASH, MODEL_FEE, MODEL_HASH, PARAMS, Refund, Status, Tier, tensorF32, type Connection,
} from "./helpers.js";
import { hashEncoded, resultLeaf, deployOracleLibraries, inferenceOracleFactory, deriveRequestId } from "../../protocol/index.js";

const OTHER_MODEL = "0x" + "cc".repeat(32);

describe("InferenceOracle: requests, refunds, rejections, admin", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  it("test_constructor_invalidParams_reverts", async () => {
    const fx = await fixture();
    const factory = inferenceOracleFactory(fx.admin, await deployOracleLibraries(fx.admin));
    const registry = await fx.registry.getAddress();
    await expectRevert(factory.deploy(registry, fx.admin.address, { ...PARAMS, relayerFeeBps: 10_001 }), fx.oracle, "OracleInvalidParams", ["relayerFeeBps above 10000"]);
    // A worker must never break even on its own proven fault: some of every slash is burned.
    await expectRevert(factory.deploy(registry, fx.admin.address, { ...PARAMS, burnBps: 0 }), fx.oracle, "OracleInvalidParams", ["burnBps not in 1..10000"]);
    await expectRevert(factory.deploy(registry, fx.admin.address, { ...PARAMS, burnBps: 10_001 }), fx.oracle, "OracleInvalidParams", ["burnBps not in 1..10000"]);
    await expectRevert(factory.deploy(registry, fx.admin.address, { ...PARAMS, tolerancePenaltyBps: 10_001 }), fx.oracle, "OracleInvalidParams", ["tolerancePenaltyBps above 10000"]);
    await expectRevert(fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, burnBps: 0 }), fx.oracle, "OracleInvalidParams", ["burnBps not in 1..10000"]);
    const p = await fx.oracle.params();
    expect([p.burnBps, p.tolerancePenaltyBps].map(Number)).toEqual([PARAMS.burnBps, PARAMS.tolerancePenaltyBps]);
    await expectRevert(factory.deploy(ZeroAddress, fx.admin.address, PARAMS), fx.oracle, "OracleInvalidParams", ["registry is zero"]);
    await expectRevert(factory.deploy(registry, ZeroAddress, PARAMS), fx.oracle, "OwnableInvalidOwner", [ZeroAddress]);
  });

  it("test_requestInference_uriInput_succeeds", async () => {
    const fx = await fixture();
    const deadline = (await now(fx)) + 1000n;
    const before = await balance(fx, fx.oracleAddr);
    const { id, receipt } = await request(fx, { deadline, callbackGasLimit: 1234, tier: Tier.OPTIMISTIC });
    const [ev] = events(receipt, fx.oracle, "InferenceRequested");
    expect(ev!.args.requester).toBe(fx.requester.address);
    expect(ev!.args.modelHash).toBe(MODEL_HASH);
    expect(ev!.args.inputHash).toBe(INPUT_HASH);
    expect(ev!.args.fee).toBe(FEE);
    expect(ev!.args.inputURI).toBe("ipfs://input");
    expect(ev!.args.input).toBe("0x");
    // requestId = keccak256(abi.encode(REQUEST_TAG, chainid, oracle, sequence, modelHash, inputHash)) (docs/V2.md §3)
    const tag = keccak256(toUtf8Bytes("VerifiableInferenceOracle.RequestId.v2"));
    const types = ["bytes32", "uint256", "address", "uint256", "bytes32", "bytes32"];
    expect(id).toBe(keccak256(AbiCoder.defaultAbiCoder().encode(types, [tag, fx.chainId, fx.oracleAddr, 1n, MODEL_HASH, INPUT_HASH])));
    expect(id).toBe(deriveRequestId(fx.chainId, fx.oracleAddr, 1n, MODEL_HASH, INPUT_HASH));
    // The id binds the input: the same sequence with another input hash is another id.
    expect(deriveRequestId(fx.chainId, fx.oracleAddr, 1n, MODEL_HASH, ZeroHash as never)).not.toBe(id);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Requested));
    expect(r.fee).toBe(FEE);
    expect(r.ownerFee).toBe(MODEL_FEE);
    expect(r.deadline).toBe(deadline);
    expect(r.timeout).toBe(deadline);
    expect(r.callbackGasLimit).toBe(1234n);
    expect(r.attempt).toBe(0n);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    expect(await balance(fx, fx.oracleAddr)).toBe(before + FEE);
    const second = await request(fx);
    expect(second.id).not.toBe(id);
  });

  it("test_requestInference_inlineInput_succeeds", async () => {
    const fx = await fixture();
    // Zero hash: the oracle computes it.
    const a = await request(fx, { input: INPUT, inputHash: ZeroHash });
    expect((await fx.oracle.getRequest(a.id)).inputHash).toBe(INPUT_HASH);
    expect(events(a.receipt, fx.oracle, "InferenceRequested")[0]!.args.input).toBe("0x" + INPUT.toString("hex"));
    // Matching hash is accepted as declared.
    const b = await request(fx, { input: INPUT, inputHash: INPUT_HASH });
    expect((await fx.oracle.getRequest(b.id)).inputHash).toBe(INPUT_HASH);
  });

  it("test_requestInference_inlineInputHashMismatch_reverts", async () => {
    const fx = await fixture();
    const wrong = "0x" + "12".repeat(32);
    const p = await requestParams(fx, { input: INPUT, inputHash: wrong });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleInputHashMismatch", [wrong, INPUT_HASH]);
  });

  it("test_requestInference_inlineInputTooLarge_reverts", async () => {
    const fx = await fixture();
    const big = tensorF32([1100], new Array(1100).fill(0));
    const p = await requestParams(fx, { input: big });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleInputTooLarge", [big.length, PARAMS.maxInlineInputBytes]);
  });

  it("test_requestInference_malformedInlineInput_reverts", async () => {
    const fx = await fixture();
    const bad = Buffer.from(INPUT);
    bad[0] = 0x58; // not "VIOT"
    const p = await requestParams(fx, { input: bad });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleMalformedTensor", [2]);
    const short = await requestParams(fx, { input: INPUT.subarray(0, INPUT.length - 1) });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(short, { value: FEE }), fx.oracle, "OracleMalformedTensor", [6]);
  });

  it("test_requestInference_inputMissing_reverts", async () => {
    const fx = await fixture();
    const noHash = await requestParams(fx, { inputHash: ZeroHash });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(noHash, { value: FEE }), fx.oracle, "OracleInputMissing");
    const noUri = await requestParams(fx, { inputURI: "" });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(noUri, { value: FEE }), fx.oracle, "OracleInputMissing");
  });

  it("test_requestInference_unknownOrInactiveModel_reverts", async () => {
    const fx = await fixture();
    const unknown = await requestParams(fx, { modelHash: OTHER_MODEL });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(unknown, { value: FEE }), fx.oracle, "OracleModelNotFound", [OTHER_MODEL]);
    const resolver = await fx.resolver.getAddress();
    const zk = await fx.zk.getAddress();
    await fx.registry.connect(fx.modelOwner).updateModel(MODEL_HASH, modelInfo({ active: false, resolver, zkVerifier: zk }));
    const p = await requestParams(fx);
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleModelInactive", [MODEL_HASH]);
  });

  it("test_requestInference_tierUnsupported_reverts", async () => {
    const fx = await fixture();
    await fx.registry.connect(fx.modelOwner).registerModel(OTHER_MODEL, modelInfo({ tiers: 1 }));
    for (const tier of [Tier.OPTIMISTIC, Tier.ZK]) {
      const p = await requestParams(fx, { modelHash: OTHER_MODEL, tier });
      await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleTierUnsupported", [OTHER_MODEL, tier]);
    }
    await request(fx, { modelHash: OTHER_MODEL, tier: Tier.NONE });
    // Revoking the resolver disables the optimistic tier at once.
    await fx.registry.connect(fx.admin).setResolverApproval(await fx.resolver.getAddress(), false);
    const p = await requestParams(fx, { tier: Tier.OPTIMISTIC });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleTierUnsupported", [MODEL_HASH, Tier.OPTIMISTIC]);
  });

  it("test_requestInference_feeTooLowOrTooHigh_reverts", async () => {
    const fx = await fixture();
    const p = await requestParams(fx);
    const minimum = MODEL_FEE + PARAMS.minWorkerFee;
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: minimum - 1n }), fx.oracle, "OracleFeeTooLow", [minimum - 1n, minimum]);
    await request(fx, { fee: minimum });
    const huge = 1n << 96n;
    await conn.networkHelpers.setBalance(fx.requester.address, huge * 2n);
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: huge }), fx.oracle, "OracleFeeTooHigh", [huge]);
  });

  it("test_requestInference_deadlineInvalid_reverts", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const past = await requestParams(fx, { deadline: t });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(past, { value: FEE }), fx.oracle, "OracleDeadlineInvalid");
    const far = await requestParams(fx, { deadline: 1n << 40n });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(far, { value: FEE }), fx.oracle, "OracleDeadlineInvalid");
  });

  it("test_requestInference_callbackGasTooHigh_reverts", async () => {
    const fx = await fixture();
    const p = await requestParams(fx, { callbackGasLimit: PARAMS.maxCallbackGasLimit + 1 });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleCallbackGasTooHigh", [PARAMS.maxCallbackGasLimit + 1, PARAMS.maxCallbackGasLimit]);
  });

  it("test_refundExpired_afterDeadline_succeeds", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const { id } = await request(fx, { deadline: t + 100n });
    const { id: later } = await request(fx, { deadline: t + 10_000n });
    // Not yet expired: skipped.
    expect(await fx.oracle.refundExpired.staticCall([id])).toBe(0n);
    await conn.networkHelpers.time.increase(200);
    const before = await balance(fx, fx.requester.address);
    const receipt = await send(fx.oracle.connect(fx.other).refundExpired([id, later, id, "0x" + "00".repeat(32)]));
    const refunds = events(receipt, fx.oracle, "RequestRefunded");
    expect(refunds).toHaveLength(1);
    expect(refunds[0]!.args.reason).toBe(BigInt(Refund.Expired));
    expect(refunds[0]!.args.pushed).toBe(true);
    expect(refunds[0]!.args.amount).toBe(FEE);
    expect(await balance(fx, fx.requester.address)).toBe(before + FEE);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Refunded));
    expect(await fx.oracle.state(later)).toBe(BigInt(Status.Requested));
    // Refunded once only.
    expect(await fx.oracle.refundExpired.staticCall([id])).toBe(0n);
  });

  it("test_refundExpired_consumerRejectsPush_creditsPullBalance", async () => {
    const fx = await fixture();
    const consumer = await fx.ethers.deployContract("MaliciousConsumer", [fx.oracleAddr, 1]); // Revert
    const t = await now(fx);
    const { id } = await request(fx, { via: consumer, deadline: t + 100n });
    await conn.networkHelpers.time.increase(200);
    const receipt = await send(fx.oracle.refundExpired([id]));
    const [ev] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ev!.args.pushed).toBe(false);
    expect(ev!.args.requester).toBe(await consumer.getAddress());
    expect(await fx.oracle.balanceOf(await consumer.getAddress())).toBe(FEE);
    // The consumer cannot take ether while reverting, so the pull fails loudly and nothing is lost.
    await expectRevert(consumer.withdrawFromOracle(), fx.oracle, "OracleTransferFailed", [await consumer.getAddress(), FEE]);
    await consumer.setMode(0);
    await consumer.withdrawFromOracle();
    expect(await fx.oracle.balanceOf(await consumer.getAddress())).toBe(0n);
    expect(await balance(fx, await consumer.getAddress())).toBe(FEE);
  });

  it("test_rejectRequest_quorumOfWorkers_refunds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const sig = await rejection(fx, id, fx.signers[1]!, 3);
    expect(await fx.oracle.rejectionDigest(id, 3)).toBe(
      (await import("ethers")).TypedDataEncoder.hash(fx.domain, { Rejection: [{ name: "requestId", type: "bytes32" }, { name: "reason", type: "uint16" }] }, { requestId: id, reason: 3 }),
    );
    const before = await balance(fx, fx.requester.address);
    // The first rejection is recorded; the request stays open (rejectionQuorum is 2).
    const first = await send(fx.oracle.connect(fx.other).rejectRequest(id, 3, sig));
    const [rej] = events(first, fx.oracle, "RequestRejected");
    expect(rej!.args.worker).toBe(fx.ops[1]!.address);
    expect(rej!.args.reason).toBe(3n);
    const [rec] = events(first, fx.oracle, "RejectionRecorded");
    expect([rec!.args.rejections, rec!.args.quorum]).toEqual([1n, 2n]);
    expect(events(first, fx.oracle, "RequestRefunded")).toHaveLength(0);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    expect(await fx.oracle.hasRejected(id, fx.ops[1]!.address)).toBe(true);
    expect([...(await fx.oracle.rejections(id))]).toEqual([1n, 2n]);
    // The same operator again counts nothing.
    await expectRevert(fx.oracle.rejectRequest(id, 3, sig), fx.oracle, "OracleAlreadyRejected", [id, fx.ops[1]!.address]);
    // A second, distinct staked operator reaches the quorum: refunded.
    const receipt = await send(fx.oracle.connect(fx.other).rejectRequest(id, 2, await rejection(fx, id, fx.signers[2]!, 2)));
    const [ref] = events(receipt, fx.oracle, "RequestRefunded");
    expect(ref!.args.reason).toBe(BigInt(Refund.RejectedByWorker));
    expect(await balance(fx, fx.requester.address)).toBe(before + FEE);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Refunded));
    await expectRevert(fx.oracle.rejectRequest(id, 3, sig), fx.oracle, "UnexpectedRequestState", [id, Status.Refunded, Status.Requested]);
  });

  it("test_rejectRequest_invalid_reverts", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const { id } = await request(fx, { deadline: t + 100n });
    const stranger = (await import("ethers")).Wallet.createRandom();
    await expectRevert(fx.oracle.rejectRequest(id, 1, await rejection(fx, id, stranger as any)), fx.oracle, "OracleUnknownSigner", [stranger.address]);
    await expectRevert(fx.oracle.rejectRequest(id, 1, "0x1234"), fx.oracle, "OracleInvalidSignature");
    // Signed for another reason: recovers to someone else.
    await expectRevert(fx.oracle.rejectRequest(id, 2, await rejection(fx, id, fx.signers[0]!, 1)), fx.oracle, "OracleUnknownSigner");
    const missing = "0x" + "01".repeat(32);
    await expectRevert(fx.oracle.rejectRequest(missing, 1, await rejection(fx, missing, fx.signers[0]!)), fx.oracle, "OracleRequestNotFound", [missing]);
    // A worker whose active stake fell below the minimum cannot cancel requests.
    await fx.oracle.connect(fx.ops[0]).requestUnbond(2n * ETH);
    await expectRevert(fx.oracle.rejectRequest(id, 1, await rejection(fx, id, fx.signers[0]!)), fx.oracle, "StakeBelowMinimum", [fx.ops[0]!.address, 0n, PARAMS.minStake]);
    await conn.networkHelpers.time.increase(200);
    await expectRevert(fx.oracle.rejectRequest(id, 1, await rejection(fx, id, fx.signers[1]!)), fx.oracle, "OracleDeadlinePassed");
  });

  it("test_scheduleParams_owner_succeeds", async () => {
    const fx = await fixture();
    const next = { ...PARAMS, challengeWindow: 60, relayerFeeBps: 0 };
    await expectRevert(fx.oracle.connect(fx.other).scheduleParams(next), fx.oracle, "OwnableUnauthorizedAccount", [fx.other.address]);
    for (const [bad, reason] of [
      [{ minStake: 0n }, "minStake is zero"],
      [{ resultBond: 0n }, "resultBond is zero"],
      [{ challengeBond: 0n }, "challengeBond is zero"],
      [{ challengeWindow: 0 }, "challengeWindow is zero"],
      [{ relayerFeeBps: 10_001 }, "relayerFeeBps above 10000"],
      [{ maxCallbackGasLimit: 10_000_001 }, "maxCallbackGasLimit too high"],
      [{ paramsDelay: 90 * 86400 + 1 }, "paramsDelay too long"],
      [{ rejectionQuorum: 0 }, "rejectionQuorum not in 1..64"],
      [{ rejectionQuorum: 65 }, "rejectionQuorum not in 1..64"],
    ] as const) {
      await expectRevert(fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, ...bad }), fx.oracle, "OracleInvalidParams", [reason]);
    }
    const receipt = await send(fx.oracle.connect(fx.admin).scheduleParams(next));
    const [ev] = events(receipt, fx.oracle, "ParamsScheduled");
    const t = await now(fx);
    expect(ev!.args.version).toBe(2n);
    expect(ev!.args.effectiveAt).toBe(t + BigInt(PARAMS.paramsDelay));
    // Nothing changes before the delay is over.
    expect(await fx.oracle.paramsVersion()).toBe(1n);
    expect((await fx.oracle.params()).challengeWindow).toBe(BigInt(PARAMS.challengeWindow));
    expect((await fx.oracle.paramsAt(2)).challengeWindow).toBe(60n);
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    expect(await fx.oracle.paramsVersion()).toBe(2n);
    const p = await fx.oracle.params();
    expect(p.challengeWindow).toBe(60n);
    expect(p.relayerFeeBps).toBe(0n);
    expect(p.minStake).toBe(PARAMS.minStake);
    expect(p.maxCallbackGasLimit).toBe(BigInt(PARAMS.maxCallbackGasLimit));
    expect(p.paramsDelay).toBe(BigInt(PARAMS.paramsDelay));
    expect(await fx.oracle.registry()).toBe(await fx.registry.getAddress());
  });

  it("test_scheduleParams_whilePending_replacesPendingVersion_succeeds", async () => {
    const fx = await fixture();
    await fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, relayerFeeBps: 9000 });
    const receipt = await send(fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, relayerFeeBps: 500 }));
    expect(events(receipt, fx.oracle, "ParamsScheduled")[0]!.args.version).toBe(2n);
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    expect((await fx.oracle.params()).relayerFeeBps).toBe(500n);
    // Once in effect, the next change gets the next version.
    const third = await send(fx.oracle.connect(fx.admin).scheduleParams(PARAMS));
    expect(events(third, fx.oracle, "ParamsScheduled")[0]!.args.version).toBe(3n);
    expect(await fx.oracle.paramsVersion()).toBe(2n);
  });

  it("test_transferOwnership_twoStep_succeeds", async () => {
    const fx = await fixture();
    await expectRevert(fx.oracle.connect(fx.other).transferOwnership(fx.other.address), fx.oracle, "OwnableUnauthorizedAccount", [fx.other.address]);
    await send(fx.oracle.connect(fx.admin).transferOwnership(fx.other.address));
    // Until the new owner accepts, the old one stays in charge.
    expect(await fx.oracle.owner()).toBe(fx.admin.address);
    expect(await fx.oracle.pendingOwner()).toBe(fx.other.address);
    await expectRevert(fx.oracle.connect(fx.requester).acceptOwnership(), fx.oracle, "OwnableUnauthorizedAccount", [fx.requester.address]);
    await send(fx.oracle.connect(fx.other).acceptOwnership());
    expect(await fx.oracle.owner()).toBe(fx.other.address);
    await fx.oracle.connect(fx.other).scheduleParams(PARAMS);
    await expectRevert(fx.oracle.connect(fx.admin).scheduleParams(PARAMS), fx.oracle, "OwnableUnauthorizedAccount", [fx.admin.address]);
    await expectRevert(fx.oracle.connect(fx.other).renounceOwnership(), fx.oracle, "OracleInvalidParams", ["owner cannot be renounced"]);
  });

  it("test_scheduleParams_resultBondChange_appliesToNewRequestsOnly_succeeds", async () => {
    const fx = await fixture();
    const { id, rec } = await requestAndSubmit(fx, 0);
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).locked).toBe(PARAMS.resultBond);
    await fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, resultBond: PARAMS.resultBond * 3n });
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    const second = await requestAndSubmit(fx, 0);
    expect((await fx.oracle.getRequest(id)).paramsVersion).toBe(1n);
    expect((await fx.oracle.getRequest(second.id)).paramsVersion).toBe(2n);
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).locked).toBe(PARAMS.resultBond * 4n);
    await fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] });
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).locked).toBe(PARAMS.resultBond * 3n);
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await fx.oracle.settle({ requestId: second.id, record: second.rec, output: "0x", proof: [] });
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.locked).toBe(0n);
    expect(w.openResults).toBe(0n);
  });

  it("test_views_unknownRequest_readEmpty", async () => {
    const fx = await fixture();
    const missing = "0x" + "02".repeat(32);
    expect(await fx.oracle.state(missing)).toBe(0n);
    expect((await fx.oracle.getRequest(missing)).requester).toBe(ZeroAddress);
    expect((await fx.oracle.getDispute(missing, 0)).opener).toBe(ZeroAddress);
    // The accepted-result leaf: the oracle and protocol/batch.ts agree, and it is the documented encoding.
    const rec = record(fx.ops[0]!.address, fx.relayer.address);
    const leaf = keccak256(
      AbiCoder.defaultAbiCoder().encode(
        ["bytes32", "bytes32", "uint8", "address", "address", "bytes32"],
        [keccak256(Buffer.from("VerifiableInferenceOracle.AcceptedResult.v2")), missing, 3, ...Object.values(rec)],
      ),
    );
    expect(await fx.oracle.resultLeaf(missing, 3, rec)).toBe(leaf);
    expect(resultLeaf(missing, 3, rec)).toBe(leaf);
    expect(await fx.oracle.isBatchRoot(leaf)).toBe(false);
    void submission;
    void hashEncoded;
  });
});
