/**
 * Chained requests (issue 18, contracts/chained/ChainedInference.sol): a two-step chain through the real
 * oracle, NONE and OPTIMISTIC, an intermediate output delivered as hash only, refunds ending a chain,
 * the checks made at request time, and the gas of each step's callback (measured against the constants
 * the contract requests them with).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { hashEncoded } from "../../protocol/index.js";
import { events, expectRevert, modelInfo, record, send, ETH, PARAMS, Refund, Status, Tier, type Connection } from "./helpers.js";
import {
  answer, chainRequest, current, deployChained, latest, requestChain, ChainStatus, EndReason, LOGITS, LOGITS_HASH, MNIST_HASH,
  OTHER_HASH, PICTURE, PRE_HASH, SMALL, SMALL_HASH, SMOOTH_HASH, STEP_FEE, type ChainFx,
} from "./chained-fixture.js";

describe("ChainedInference: chained requests", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<ChainFx> => conn.networkHelpers.loadFixture(deployChained);

  it("test_chain_none_twoSteps_deliversBofAtoConsumer", async () => {
    const fx = await fixture();
    const deadline = (await latest(fx)) + 1000n;
    const receipt = await send(fx.dappNone.connect(fx.requester).classify(PICTURE, deadline, [STEP_FEE, STEP_FEE], "", { value: 2n * STEP_FEE }));
    const [req] = events(receipt, fx.oracle, "InferenceRequested");
    // Step 0 is a normal oracle request made by the chain contract, with the chain's input.
    expect(req!.args.requester).toBe(fx.chainedAddr);
    expect(req!.args.modelHash).toBe(PRE_HASH);
    expect(req!.args.callbackGasLimit).toBe(await fx.chained.STEP_CALLBACK_GAS());
    // Half of the time left: deadline split evenly over the steps left.
    const t0 = BigInt((await fx.ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
    expect(req!.args.deadline).toBe(t0 + (deadline - t0) / 2n);
    const chainId = 1n;
    const id0 = await current(fx, chainId, ChainStatus.Running);
    expect((await fx.chained.getChain(chainId)).escrow).toBe(STEP_FEE);

    const r0 = await answer(fx, id0, SMALL);
    const [delivered] = events(r0, fx.chained, "ChainStepDelivered");
    expect(delivered!.args.outputHash).toBe(SMALL_HASH);
    expect(delivered!.args.outputInline).toBe(true);
    await current(fx, chainId, ChainStatus.Ready);

    // Anyone advances with the output bytes; the next request's input is step 0's output, bit for bit.
    const r1 = await send(fx.chained.connect(fx.other).advance(chainId, SMALL));
    const [req1] = events(r1, fx.oracle, "InferenceRequested");
    expect(req1!.args.modelHash).toBe(MNIST_HASH);
    expect(req1!.args.inputHash).toBe(SMALL_HASH);
    expect(req1!.args.input).toBe("0x" + SMALL.toString("hex"));
    expect(req1!.args.deadline).toBe(deadline);
    const id1 = await current(fx, chainId, ChainStatus.Running);
    expect((await fx.chained.getChain(chainId)).escrow).toBe(0n);

    const r2 = await answer(fx, id1, LOGITS);
    const [done] = events(r2, fx.chained, "ChainCompleted");
    expect(done!.args.outputHash).toBe(LOGITS_HASH);
    expect(done!.args.callbackSucceeded).toBe(true);
    const p = await fx.dappNone.prediction(chainId);
    expect(p.received).toBe(true);
    expect(p.decoded).toBe(true);
    expect(p.digit).toBe(7n);
    const v = await fx.chained.getChain(chainId);
    expect(v.status).toBe(BigInt(ChainStatus.Completed));
    expect([...v.requestIds]).toEqual([id0, id1]);
    // Every wei went to the oracle: nothing stays in the chain contract.
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(0n);
  });

  it("test_chain_optimistic_eachStepDisputableThenSettled", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.OPTIMISTIC, STEP_FEE], [MNIST_HASH, Tier.OPTIMISTIC, STEP_FEE]], { deadline: (await latest(fx)) + 30_000n });
    await answer(fx, id0, SMALL, 0);
    // Each step is an ordinary OPTIMISTIC request: a challenger can dispute it inside its window.
    const rec0 = record(fx.ops[0]!.address, fx.relayer.address, SMALL_HASH);
    await send(fx.oracle.connect(fx.challenger).challenge(id0, rec0, [], { value: PARAMS.challengeBond }));
    expect(await fx.oracle.state(id0)).toBe(BigInt(Status.Challenged));
    // The arbiter finds the worker right; the result settles after its window; the chain is Ready.
    await send(fx.resolver.connect(fx.arbiter).rule(id0, 1));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const s = await send(fx.oracle.connect(fx.other).settle({ requestId: id0, record: rec0, output: SMALL, proof: [] }));
    expect(events(s, fx.chained, "ChainStepDelivered")).toHaveLength(1);
    await send(fx.chained.advance(chainId, SMALL));
    const id1 = await current(fx, chainId, ChainStatus.Running);
    await answer(fx, id1, LOGITS, 1);
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const rec1 = record(fx.ops[1]!.address, fx.relayer.address, LOGITS_HASH);
    const s1 = await send(fx.oracle.settle({ requestId: id1, record: rec1, output: LOGITS, proof: [] }));
    const [done] = events(s1, fx.chained, "ChainCompleted");
    expect(done!.args.outputHash).toBe(LOGITS_HASH);
    // An EOA requester with consumerGas 0: no push, the hash is recorded.
    expect(done!.args.callbackSucceeded).toBe(false);
    expect((await fx.chained.getChain(chainId)).outputHash).toBe(LOGITS_HASH);
  });

  it("test_chain_outputDeliveredAsHashOnly_nextInputByHashAndBlobURI", async () => {
    const fx = await fixture();
    const base = "http://relayer.example/blobs/";
    const { chainId, requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.OPTIMISTIC, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]], {
      deadline: (await latest(fx)) + 10n * 86_400n,
      blobBaseURI: base,
    });
    // The worker signs the output hash only (too large to inline); nobody delivers the bytes before
    // the oracle's OUTPUT_GRACE, so the result settles without them.
    await answer(fx, id0, "0x", 0, { outputHash: SMALL_HASH });
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow + 86_400 + 10);
    const rec0 = record(fx.ops[0]!.address, fx.relayer.address, SMALL_HASH);
    await send(fx.oracle.settle({ requestId: id0, record: rec0, output: "0x", proof: [] }));
    const v = await fx.chained.getChain(chainId);
    expect(v.status).toBe(BigInt(ChainStatus.Ready));
    expect(v.outputInline).toBe(false);
    // Bytes are refused for an output that was not delivered inline (the next input is by hash).
    await expectRevert(fx.chained.advance(chainId, SMALL), fx.chained, "ChainOutputNotInline", [chainId]);
    const r = await send(fx.chained.advance(chainId, "0x"));
    const [req] = events(r, fx.oracle, "InferenceRequested");
    expect(req!.args.inputHash).toBe(SMALL_HASH);
    expect(req!.args.input).toBe("0x");
    expect(req!.args.inputURI).toBe(base + SMALL_HASH.toLowerCase());
  });

  it("test_chain_stepExpired_endsAndRefundsUnusedFees", async () => {
    const fx = await fixture();
    const fees: bigint[] = [STEP_FEE, STEP_FEE + 7n, STEP_FEE + 11n];
    const { chainId, requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.NONE, fees[0]!], [SMOOTH_HASH, Tier.NONE, fees[1]!], [MNIST_HASH, Tier.NONE, fees[2]!]], {
      deadline: (await latest(fx)) + 3000n,
    });
    // Nobody answers step 0 by its deadline (a third of the chain's time): anyone refunds it at the oracle,
    // the oracle pushes the refund here within REFUND_GAS, and the chain ends with every fee credited.
    await conn.networkHelpers.time.increase(1001);
    const r = await send(fx.oracle.connect(fx.other).refundExpired([id0]));
    const [refunded] = events(r, fx.oracle, "RequestRefunded");
    expect(refunded!.args.pushed).toBe(true);
    const [ended] = events(r, fx.chained, "ChainEnded");
    expect(ended!.args.reason).toBe(BigInt(EndReason.StepRefunded));
    expect(ended!.args.oracleReason).toBe(BigInt(Refund.Expired));
    expect(ended!.args.refund).toBe(fees[0]! + fees[1]! + fees[2]!);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(fees[0]! + fees[1]! + fees[2]!);
    const before = await fx.ethers.provider.getBalance(fx.requester.address);
    const w = await send(fx.chained.connect(fx.requester).withdraw());
    const after = await fx.ethers.provider.getBalance(fx.requester.address);
    expect(after - before + w.gasUsed * w.gasPrice).toBe(fees[0]! + fees[1]! + fees[2]!);
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(0n);
    await expectRevert(fx.chained.connect(fx.requester).withdraw(), fx.chained, "ChainNothingToWithdraw", [fx.requester.address]);
  });

  it("test_dapp_chainEnded_claimRefundForwardsUnusedFeesToRequester", async () => {
    const fx = await fixture();
    await send(fx.dappNone.connect(fx.requester).classify(PICTURE, (await latest(fx)) + 1000n, [STEP_FEE, STEP_FEE + 5n], "", { value: 2n * STEP_FEE + 5n }));
    const id0 = await current(fx, 1n, ChainStatus.Running);
    await answer(fx, id0, SMALL);
    await conn.networkHelpers.time.increase(2000);
    await send(fx.chained.reconcile(1n));
    // Step 0 was spent (fulfilled); step 1's fee is the refund.
    expect(await fx.chained.refundOf(1n)).toBe(STEP_FEE + 5n);
    const before = await fx.ethers.provider.getBalance(fx.requester.address);
    await send(fx.dappNone.connect(fx.other).claimRefund(1n));
    expect((await fx.ethers.provider.getBalance(fx.requester.address)) - before).toBe(STEP_FEE + 5n);
    await expectRevert(fx.dappNone.claimRefund(1n), fx.dappNone, "DigitNothingToClaim", [1n]);
  });

  it("test_chain_readyPastDeadline_endsByReconcileOrAdvance", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]], { deadline: (await latest(fx)) + 100n });
    await answer(fx, id0, SMALL);
    await expectRevert(fx.chained.reconcile(chainId), fx.chained, "ChainNothingToReconcile", [chainId, BigInt(ChainStatus.Ready)]);
    await conn.networkHelpers.time.increase(200);
    // Past the deadline, advancing ends the chain (its default outcome) instead of requesting step 1.
    const r = await send(fx.chained.connect(fx.other).advance(chainId, SMALL));
    expect(events(r, fx.oracle, "InferenceRequested")).toHaveLength(0);
    const [ended] = events(r, fx.chained, "ChainEnded");
    expect(ended!.args.reason).toBe(BigInt(EndReason.DeadlinePassed));
    expect(ended!.args.refund).toBe(STEP_FEE);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(STEP_FEE);
  });

  it("test_requestChain_badRequests_revertWithClearErrors", async () => {
    const fx = await fixture();
    const two: Array<[string, number, bigint]> = [[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]];
    const send2 = async (steps: Array<[string, number, bigint]>, o: Parameters<typeof chainRequest>[2] = {}, value?: bigint) =>
      fx.chained.connect(fx.requester).requestChain(await chainRequest(fx, steps, o), { value: value ?? steps.reduce((a, s) => a + s[2], 0n) });
    await expectRevert(send2([]), fx.chained, "ChainStepCount", [0n, 8n]);
    await expectRevert(send2(Array(9).fill(two[1])), fx.chained, "ChainStepCount", [9n, 8n]);
    await expectRevert(send2(two, {}, 2n * STEP_FEE - 1n), fx.chained, "ChainFeeMismatch", [2n * STEP_FEE - 1n, 2n * STEP_FEE]);
    // Registry I/O types: the preprocessing's int8 [1,7,7] is not OTHER's float32 [1,2].
    await expectRevert(send2([[PRE_HASH, Tier.NONE, STEP_FEE], [OTHER_HASH, Tier.NONE, STEP_FEE]]), fx.chained, "ChainTypeMismatch", [0n, PRE_HASH, OTHER_HASH]);
    await expectRevert(send2([[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.ZK, STEP_FEE]]), fx.chained, "ChainModelUnavailable", [1n, MNIST_HASH, 2n]);
    // A model with two named outputs (a bundle) feeds no one-input model, whatever its first output.
    const TWO_OUT = "0x" + "77".repeat(32);
    await send(fx.registry.connect(fx.modelOwner).registerModelIO(TWO_OUT, modelInfo({ resolver: await fx.resolver.getAddress(), tiers: 1, uris: ["ipfs://two"] }), [{ name: "x", dtype: 1, shape: [1, 1, 28, 28] }], [{ name: "a", dtype: 3, shape: [1, 7, 7] }, { name: "b", dtype: 3, shape: [1, 7, 7] }]));
    await expectRevert(send2([[TWO_OUT, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]]), fx.chained, "ChainTypeMismatch", [0n, TWO_OUT, MNIST_HASH]);
    const [, , minimum] = await expectRevert(send2([[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, 1000n]]), fx.chained, "ChainStepFeeTooLow");
    expect(minimum as bigint).toBeGreaterThan(PARAMS.minWorkerFee);
    await expectRevert(send2(two, { consumerGas: 2_000_000 }), fx.chained, "ChainCallbackGasTooHigh");
    const t = await latest(fx);
    await expectRevert(send2(two, { deadline: t }), fx.chained, "ChainDeadlineInvalid");
    // One second left for two steps: the first step's share would already be past.
    await expectRevert(send2(two, { deadline: t + 2n }), fx.chained, "ChainDeadlineInvalid");
  });

  it("test_chain_callbackGas_measuredWithinConstants", async () => {
    const fx = await fixture();
    // Impersonate the oracle to measure each callback alone (the constants are what the chain requests).
    const oracleSigner = await fx.ethers.getImpersonatedSigner(fx.oracleAddr);
    await conn.networkHelpers.setBalance(fx.oracleAddr, ETH * 100n + (await fx.ethers.provider.getBalance(fx.oracleAddr)));
    const { chainId, requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]]);
    const intrinsic = (data: string) => {
      const bytes = Buffer.from(data.slice(2), "hex");
      return 21_000 + [...bytes].reduce((a, b) => a + (b === 0 ? 4 : 16), 0);
    };
    const stepData = fx.chained.interface.encodeFunctionData("onInferenceResult", [id0, SMALL_HASH, SMALL]);
    const stepGas = Number(await fx.ethers.provider.estimateGas({ from: fx.oracleAddr, to: fx.chainedAddr, data: stepData })) - intrinsic(stepData);
    const refundData = fx.chained.interface.encodeFunctionData("onInferenceRefunded", [id0, 0]);
    const refundGas = Number(await fx.ethers.provider.estimateGas({ from: fx.oracleAddr, to: fx.chainedAddr, data: refundData, value: STEP_FEE })) - intrinsic(refundData);
    console.log(`chained callback gas: intermediate step ${stepGas}, refund ${refundGas}`);
    expect(stepGas).toBeLessThan(Number(await fx.chained.STEP_CALLBACK_GAS()));
    expect(refundGas).toBeLessThan(50_000);
    void oracleSigner;
    void chainId;
  });

  it("test_chain_stepFeeSplit_perStepAsAnyRequest", async () => {
    const fx = await fixture();
    const { requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]]);
    const view = await fx.oracle.getRequest(id0);
    expect(view.fee).toBe(STEP_FEE);
    expect(view.requester).toBe(fx.chainedAddr);
    expect(hashEncoded(PICTURE)).toBe(view.inputHash);
  });
});
