/**
 * Attacks on chained requests (issue 18, contracts/chained/ChainedInference.sol), each shown to fail, and
 * the randomized funds-conservation test over chains whose steps are answered, refunded, expired or left
 * Ready past the deadline:
 *
 *   chain contract's ETH + its oracle pull balance == escrow of the live chains + requesters' pull balances
 *
 * and, per chain: what the requester paid == fees of its fulfilled steps + what was credited back + escrow.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { Wallet, ZeroHash } from "ethers";
import { tensorHashParts, seededRandom } from "../../protocol/index.js";
import { events, expectRevert, record, rejection, send, tensorF32, ETH, PARAMS, Refund, Ruling, Status, Tier, type Connection } from "../contracts/helpers.js";
import {
  answer, chainRequest, current, deployChained, latest, requestChain, ChainStatus, EndReason, LOGITS, LOGITS_HASH, MNIST_HASH, PRE_HASH,
  SMALL, SMALL_HASH, SMOOTH_HASH, STEP_FEE, type ChainFx,
} from "../contracts/chained-fixture.js";

const TWO_NONE: Array<[string, number, bigint]> = [[PRE_HASH, Tier.NONE, STEP_FEE], [MNIST_HASH, Tier.NONE, STEP_FEE]];
const Mode = { Honest: 0, Revert: 1, BurnGas: 2, ReturnBomb: 3, Reenter: 4, ReenterWithdraw: 5 } as const;

describe("attack: chained requests", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = (): Promise<ChainFx> => conn.networkHelpers.loadFixture(deployChained);

  it("test_forgedCallback_notOracle_orNotCurrentRequest_reverts", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, TWO_NONE);
    // Anyone but the oracle: refused, for results, refunds and plain ether alike.
    await expectRevert(fx.chained.connect(fx.other).onInferenceResult(id0, SMALL_HASH, SMALL), fx.chained, "ChainOnlyOracle", [fx.other.address]);
    await expectRevert(fx.chained.connect(fx.other).onInferenceRefunded(id0, 0, { value: 1n }), fx.chained, "ChainOnlyOracle", [fx.other.address]);
    await expectRevert(fx.other.sendTransaction({ to: fx.chainedAddr, value: 1n }), fx.chained, "ChainOnlyOracle", [fx.other.address]);
    await answer(fx, id0, SMALL);
    await send(fx.chained.advance(chainId, SMALL));
    // Even the oracle's own address (impersonated here) cannot call back for a step that is not the
    // chain's current one (step 0, already delivered) or for a request of no chain.
    const oracle = await fx.ethers.getImpersonatedSigner(fx.oracleAddr);
    await conn.networkHelpers.setBalance(fx.oracleAddr, (await fx.ethers.provider.getBalance(fx.oracleAddr)) + ETH);
    await expectRevert(fx.chained.connect(oracle).onInferenceResult(id0, LOGITS_HASH, LOGITS), fx.chained, "ChainUnknownRequest", [id0]);
    await expectRevert(fx.chained.connect(oracle).onInferenceRefunded(id0, 0, { value: 1n }), fx.chained, "ChainUnknownRequest", [id0]);
    const stray = "0x" + "ab".repeat(32);
    await expectRevert(fx.chained.connect(oracle).onInferenceResult(stray, LOGITS_HASH, LOGITS), fx.chained, "ChainUnknownRequest", [stray]);
    await conn.networkHelpers.stopImpersonatingAccount(fx.oracleAddr);
    // The real path still works: step 1 completes.
    const id1 = await current(fx, chainId, ChainStatus.Running);
    const r = await answer(fx, id1, LOGITS);
    expect(events(r, fx.chained, "ChainCompleted")).toHaveLength(1);
  });

  it("test_craftedOutputBreakingNextStep_isDisputable_andWorkerFaultReopensStep", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, [[PRE_HASH, Tier.OPTIMISTIC, STEP_FEE], [MNIST_HASH, Tier.OPTIMISTIC, STEP_FEE]], {
      deadline: (await latest(fx)) + 40_000n,
    });
    // Worker 0 answers step 0 with a float32 [1,2] tensor: no input the MNIST step takes. It is just a
    // wrong result: a challenger disputes it inside the window and the resolver rules WorkerFault.
    const bad = tensorF32([1, 2], [1, 2]);
    await answer(fx, id0, bad, 0);
    const rec = record(fx.ops[0]!.address, fx.relayer.address, (await import("../../protocol/tensor.js")).hashEncoded(bad));
    await send(fx.oracle.connect(fx.challenger).challenge(id0, rec, [], { value: PARAMS.challengeBond }));
    await send(fx.resolver.connect(fx.arbiter).rule(id0, Ruling.WorkerFault));
    // The step is reopened (same request, same chain); an honest worker answers and the chain goes on.
    expect(await fx.oracle.state(id0)).toBe(BigInt(Status.Requested));
    expect(await current(fx, chainId, ChainStatus.Running)).toBe(id0);
    await answer(fx, id0, SMALL, 1);
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await send(fx.oracle.settle({ requestId: id0, record: record(fx.ops[1]!.address, fx.relayer.address, SMALL_HASH), output: SMALL, proof: [] }));
    await send(fx.chained.advance(chainId, SMALL));
    await current(fx, chainId, ChainStatus.Running);
  });

  it("test_craftedOutputUnchallenged_nextStepRejectedInputTypeMismatch_refundsRest", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, TWO_NONE);
    const bad = tensorF32([1, 2], [1, 2]);
    await answer(fx, id0, bad, 0);
    await send(fx.chained.advance(chainId, bad));
    const id1 = await current(fx, chainId, ChainStatus.Running);
    // Step 1's input is not of the MNIST model's committed type: one worker proves it, the oracle refunds
    // step 1 at once, and the chain ends with step 1's fee credited to the requester.
    const { header, dataRoot } = tensorHashParts(bad);
    const r = await send(fx.oracle.connect(fx.other).rejectRequestWithProof(id1, 2, await rejection(fx, id1, fx.signers[2]!, 2), header, dataRoot));
    expect(events(r, fx.oracle, "RequestRefunded")[0]!.args.pushed).toBe(true);
    const [ended] = events(r, fx.chained, "ChainEnded");
    expect(ended!.args.reason).toBe(BigInt(EndReason.StepRefunded));
    expect(ended!.args.oracleReason).toBe(BigInt(Refund.InputTypeMismatch));
    expect(ended!.args.step).toBe(1n);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(STEP_FEE);
  });

  for (const [name, mode] of [["Revert", Mode.Revert], ["BurnGas", Mode.BurnGas], ["ReturnBomb", Mode.ReturnBomb], ["Reenter", Mode.Reenter]] as const) {
    it(`test_consumerCallback_${name}_recordedNeverBlocks`, async () => {
      const fx = await fixture();
      const consumer: any = await fx.ethers.deployContract("MaliciousChainConsumer", [fx.chainedAddr, mode]);
      const req = await chainRequest(fx, TWO_NONE, { consumerGas: 200_000 });
      await send(consumer.connect(fx.requester).requestChain(req, { value: 2n * STEP_FEE }));
      const id0 = await current(fx, 1n, ChainStatus.Running);
      await answer(fx, id0, SMALL);
      await send(fx.chained.advance(1n, SMALL));
      const id1 = await current(fx, 1n, ChainStatus.Running);
      // The oracle's submission needs no more than the chain's callback gas limit, whatever the consumer does.
      const r = await answer(fx, id1, LOGITS);
      const [fulfilled] = events(r, fx.oracle, "RequestFulfilled");
      expect(fulfilled!.args.callbackSucceeded).toBe(true);
      const [done] = events(r, fx.chained, "ChainCompleted");
      expect(done!.args.callbackSucceeded).toBe(mode === Mode.Reenter);
      expect(await fx.oracle.state(id1)).toBe(BigInt(Status.Fulfilled));
      const v = await fx.chained.getChain(1n);
      expect(v.status).toBe(BigInt(ChainStatus.Completed));
      expect(v.outputHash).toBe(LOGITS_HASH);
      // Reentry from the callback gets nothing (advance: not Ready; reconcile: nothing; withdraw: nothing).
      expect(await consumer.reentrySucceeded()).toBe(false);
    });
  }

  it("test_refundReentrancy_withdrawPaysOnce_andRevertingRequesterKeepsItsCredit", async () => {
    const fx = await fixture();
    const reenter: any = await fx.ethers.deployContract("MaliciousChainConsumer", [fx.chainedAddr, Mode.ReenterWithdraw]);
    const refuser: any = await fx.ethers.deployContract("MaliciousChainConsumer", [fx.chainedAddr, Mode.Revert]);
    const deadline = (await latest(fx)) + 1000n;
    for (const c of [reenter, refuser]) await send(c.requestChain(await chainRequest(fx, TWO_NONE, { deadline }), { value: 2n * STEP_FEE }));
    await conn.networkHelpers.time.increase(600);
    const r = await send(fx.oracle.refundExpired([await current(fx, 1n, ChainStatus.Running), await current(fx, 2n, ChainStatus.Running)]));
    expect(events(r, fx.chained, "ChainEnded")).toHaveLength(2);
    await send(reenter.withdraw());
    expect(await reenter.received()).toBe(2n * STEP_FEE);
    expect(await reenter.reentrySucceeded()).toBe(false);
    expect(await fx.chained.balanceOf(await reenter.getAddress())).toBe(0n);
    // A requester that refuses ether only keeps its own credit waiting.
    await expectRevert(refuser.withdraw(), fx.chained, "ChainTransferFailed");
    expect(await fx.chained.balanceOf(await refuser.getAddress())).toBe(2n * STEP_FEE);
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(2n * STEP_FEE);
  });

  it("test_stepDeadlinePast_chainRefusedOrEndedByDefault", async () => {
    const fx = await fixture();
    const t = await latest(fx);
    await expectRevert(fx.chained.requestChain(await chainRequest(fx, TWO_NONE, { deadline: t - 1n }), { value: 2n * STEP_FEE }), fx.chained, "ChainDeadlineInvalid");
    const { chainId, requestId: id0 } = await requestChain(fx, TWO_NONE, { deadline: t + 50n });
    await answer(fx, id0, SMALL);
    await conn.networkHelpers.time.increase(100);
    // Nobody advanced in time: anyone applies the default outcome, and no late step is ever requested.
    const r = await send(fx.chained.connect(fx.other).reconcile(chainId));
    expect(events(r, fx.chained, "ChainEnded")[0]!.args.reason).toBe(BigInt(EndReason.DeadlinePassed));
    await expectRevert(fx.chained.advance(chainId, SMALL), fx.chained, "ChainNotReady", [chainId, BigInt(ChainStatus.Ended)]);
    await expectRevert(fx.chained.reconcile(chainId), fx.chained, "ChainNothingToReconcile", [chainId, BigInt(ChainStatus.Ended)]);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(STEP_FEE);
  });

  it("test_advanceGriefing_wrongBytesOrTooLittleGas_cannotEndOrCorruptChain", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, TWO_NONE);
    await answer(fx, id0, SMALL);
    // Other bytes than the delivered output: refused (the next step's input is the output, bit for bit).
    const forged = Buffer.from(SMALL);
    forged.writeUInt8(forged.readUInt8(forged.length - 1) ^ 1, forged.length - 1);
    await expectRevert(fx.chained.connect(fx.other).advance(chainId, forged), fx.chained, "ChainOutputMismatch");
    await expectRevert(fx.chained.connect(fx.other).advance(chainId, "0x"), fx.chained, "ChainOutputMismatch");
    // Too little gas for the oracle's request: the advance reverts, the chain stays Ready.
    let threw = false;
    try {
      await (await fx.chained.connect(fx.other).advance(chainId, SMALL, { gasLimit: 150_000 })).wait();
    } catch {
      threw = true;
    }
    expect(threw).toBe(true);
    await current(fx, chainId, ChainStatus.Ready);
    for (const gasLimit of [420_000, 440_000, 470_000]) {
      try {
        await (await fx.chained.connect(fx.other).advance(chainId, SMALL, { gasLimit })).wait();
      } catch {
        /* reverted: must leave the chain Ready */
      }
      const v = await fx.chained.getChain(chainId);
      expect([BigInt(ChainStatus.Ready), BigInt(ChainStatus.Running)]).toContain(v.status);
    }
    await send(fx.chained.advance(chainId, SMALL)).catch(() => undefined);
    await current(fx, chainId, ChainStatus.Running);
  });

  it("test_modelOwnerSwitchesNextModelOff_chainEndsWithRefund_noFeeLost", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, TWO_NONE);
    await answer(fx, id0, SMALL);
    // Between the steps, the MLP's owner switches it off: the oracle refuses step 1's request (with revert
    // data), and the chain ends with step 1's fee credited; nothing is stranded in the chain contract.
    const resolver = await fx.resolver.getAddress();
    const { modelInfo } = await import("../contracts/helpers.js");
    await send(fx.registry.connect(fx.modelOwner).updateModel(MNIST_HASH, modelInfo({ resolver, tiers: 3, active: false, input: { dtype: 3, shape: [1, 7, 7] }, output: { dtype: 3, shape: [1, 10] }, uris: ["ipfs://m"] })));
    const r = await send(fx.chained.connect(fx.other).advance(chainId, SMALL));
    const [ended] = events(r, fx.chained, "ChainEnded");
    expect(ended!.args.reason).toBe(BigInt(EndReason.StepRequestFailed));
    expect(ended!.args.refund).toBe(STEP_FEE);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(STEP_FEE);
    expect(await fx.chained.refundOf(chainId)).toBe(STEP_FEE);
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(STEP_FEE);
  });

  it("test_modelOwnerRaisesFeeMidChain_advanceRevertsRetryable_thenDeadlineRefunds", async () => {
    const fx = await fixture();
    const { chainId, requestId: id0 } = await requestChain(fx, TWO_NONE, { deadline: (await latest(fx)) + 1000n });
    await answer(fx, id0, SMALL);
    // The owner raises the MLP's fee above what the chain escrowed for it: OracleFeeTooLow may pass (the
    // owner may lower it again, a gas price spike may pass), so advance reverts and the chain stays Ready ...
    const resolver = await fx.resolver.getAddress();
    const { modelInfo } = await import("../contracts/helpers.js");
    const info = (fee: bigint) => modelInfo({ resolver, tiers: 3, fee, input: { dtype: 3, shape: [1, 7, 7] }, output: { dtype: 3, shape: [1, 10] }, uris: ["ipfs://m"] });
    await send(fx.registry.connect(fx.modelOwner).updateModel(MNIST_HASH, info(STEP_FEE)));
    await expectRevert(fx.chained.connect(fx.other).advance(chainId, SMALL), fx.chained, "ChainAdvanceFailed");
    await current(fx, chainId, ChainStatus.Ready);
    // ... and by its deadline it ends with the fee refunded (the owner cannot take a fee it did not earn).
    await conn.networkHelpers.time.increase(1001);
    const r = await send(fx.chained.connect(fx.other).reconcile(chainId));
    expect(events(r, fx.chained, "ChainEnded")[0]!.args.refund).toBe(STEP_FEE);
    expect(await fx.chained.balanceOf(fx.requester.address)).toBe(STEP_FEE);
  });

  it("test_chains_randomOutcomes_fundsConserved", async () => {
    const fx = await fixture();
    const rnd = seededRandom(0xc4a1);
    const int = (n: number) => Math.floor(rnd() * n);
    const requesters = [fx.requester, fx.other, fx.challenger];
    const paid = new Map<bigint, bigint>();
    const credited = new Map<bigint, bigint>();
    const chains: bigint[] = [];
    const check = async (where: string) => {
      let escrow = 0n;
      for (const id of chains) escrow += (await fx.chained.getChain(id)).escrow;
      let pulls = 0n;
      for (const a of requesters) pulls += await fx.chained.balanceOf(a.address);
      const held = (await fx.ethers.provider.getBalance(fx.chainedAddr)) + (await fx.oracle.balanceOf(fx.chainedAddr));
      expect(held, `conservation ${where}`).toBe(escrow + pulls);
      for (const id of chains) {
        const v = await fx.chained.getChain(id);
        let spent = 0n;
        for (const rid of v.requestIds) {
          const r = await fx.oracle.getRequest(rid);
          if (r.status !== BigInt(Status.Refunded)) spent += r.fee;
        }
        expect(spent + (credited.get(id) ?? 0n) + v.escrow, `chain ${id} accounting ${where}`).toBe(paid.get(id));
        if (v.status === BigInt(ChainStatus.Ended)) expect(await fx.chained.refundOf(id), `chain ${id} refundOf`).toBe(credited.get(id) ?? 0n);
      }
    };
    const noteEnded = (receipt: any) => {
      // Every refund of a step reaches the chain within the oracle's REFUND_GAS (never left in its pull balance).
      for (const e of events(receipt, fx.oracle, "RequestRefunded")) expect(e.args.pushed, "refund pushed").toBe(true);
      for (const e of events(receipt, fx.chained, "ChainEnded")) credited.set(e.args.chainId, (credited.get(e.args.chainId) ?? 0n) + e.args.refund);
    };
    const seen = { completed: 0, ended: 0, advanced: 0, expired: 0, rejected: 0, lapsed: 0 };
    const ROUNDS = Number(process.env.CHAIN_ROUNDS ?? 12);
    for (let round = 0; round < ROUNDS; round++) {
      // PRE, then 0..2 smoothing steps, then the MLP (or PRE alone): registered types that chain.
      const n = 1 + int(4);
      const fee = () => STEP_FEE + BigInt(int(1000));
      const usable: Array<[string, number, bigint]> = [[PRE_HASH, Tier.NONE, fee()]];
      for (let i = 1; i < n; i++) usable.push([i + 1 === n ? MNIST_HASH : SMOOTH_HASH, Tier.NONE, fee()]);
      const from = requesters[int(requesters.length)]!;
      const { chainId } = await requestChain(fx, usable, { from, deadline: (await latest(fx)) + 1000n + BigInt(int(2000)) });
      chains.push(chainId);
      paid.set(chainId, usable.reduce((a, s) => a + s[2], 0n));
      await check(`round ${round} requested`);
      for (;;) {
        const v = await fx.chained.getChain(chainId);
        if (v.status === BigInt(ChainStatus.Completed)) seen.completed++;
        if (v.status === BigInt(ChainStatus.Ended)) seen.ended++;
        if (v.status === BigInt(ChainStatus.Completed) || v.status === BigInt(ChainStatus.Ended)) break;
        const action = int(10);
        if (v.status === BigInt(ChainStatus.Ready)) {
          if (action < 2) {
            await conn.networkHelpers.time.increase(3000);
            noteEnded(await send(fx.chained.connect(fx.other).reconcile(chainId)));
            seen.lapsed++;
          } else {
            noteEnded(await send(fx.chained.connect(from).advance(chainId, SMALL)));
            seen.advanced++;
          }
        } else if (action < 6) {
          const last = Number(v.current) + 1 === usable.length;
          noteEnded(await answer(fx, v.requestId, last ? LOGITS : SMALL, int(3)));
        } else if (action < 8) {
          await conn.networkHelpers.time.increase(3000);
          noteEnded(await send(fx.oracle.connect(fx.other).refundExpired([v.requestId])));
          seen.expired++;
        } else {
          // Two distinct staked workers reject (the quorum): the oracle refunds the step.
          for (const w of [0, 1]) noteEnded(await send(fx.oracle.rejectRequest(v.requestId, 1, await rejection(fx, v.requestId, fx.signers[w]!, 1))));
          seen.rejected++;
        }
        await check(`round ${round} step ${v.current}`);
      }
      if (int(2) === 0) {
        const bal = await fx.chained.balanceOf(from.address);
        if (bal > 0n) await send(fx.chained.connect(from).withdraw());
        await check(`round ${round} withdrawn`);
      }
    }
    // The seeded run covers every outcome.
    expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
    // Every requester withdraws: the contract holds nothing.
    for (const a of requesters) if ((await fx.chained.balanceOf(a.address)) > 0n) await send(fx.chained.connect(a).withdraw());
    await check("end");
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(0n);
    void ZeroHash;
    void Wallet;
  });

  it("test_chains_randomOptimisticOutcomes_disputesAndSettlements_fundsConserved", async () => {
    const fx = await fixture();
    const rnd = seededRandom(0x0c4a);
    const int = (n: number) => Math.floor(rnd() * n);
    const requesters = [fx.requester, fx.other];
    const chains: bigint[] = [];
    const paid = new Map<bigint, bigint>();
    const credited = new Map<bigint, bigint>();
    const { hashEncoded } = await import("../../protocol/tensor.js");
    const note = (receipt: any) => {
      for (const e of events(receipt, fx.oracle, "RequestRefunded")) expect(e.args.pushed, "refund pushed").toBe(true);
      for (const e of events(receipt, fx.chained, "ChainEnded")) credited.set(e.args.chainId, (credited.get(e.args.chainId) ?? 0n) + e.args.refund);
    };
    const check = async (where: string) => {
      let escrow = 0n;
      for (const id of chains) escrow += (await fx.chained.getChain(id)).escrow;
      let pulls = 0n;
      for (const a of requesters) pulls += await fx.chained.balanceOf(a.address);
      const held = (await fx.ethers.provider.getBalance(fx.chainedAddr)) + (await fx.oracle.balanceOf(fx.chainedAddr));
      expect(held, `conservation ${where}`).toBe(escrow + pulls);
      for (const id of chains) {
        const v = await fx.chained.getChain(id);
        let spent = 0n;
        for (const rid of v.requestIds) {
          const r = await fx.oracle.getRequest(rid);
          if (r.status !== BigInt(Status.Refunded)) spent += r.fee;
        }
        expect(spent + (credited.get(id) ?? 0n) + v.escrow, `chain ${id} accounting ${where}`).toBe(paid.get(id));
      }
    };
    const seen = { completed: 0, ended: 0, disputes: 0, settled: 0 };
    const ROUNDS = Number(process.env.CHAIN_ROUNDS ?? 10);
    for (let round = 0; round < ROUNDS; round++) {
      const steps: Array<[string, number, bigint]> = [[PRE_HASH, Tier.OPTIMISTIC, STEP_FEE + BigInt(int(999))], [MNIST_HASH, Tier.OPTIMISTIC, STEP_FEE + BigInt(int(999))]];
      const from = requesters[int(2)]!;
      const { chainId } = await requestChain(fx, steps, { from, deadline: (await latest(fx)) + 6000n + BigInt(int(12_000)) });
      chains.push(chainId);
      paid.set(chainId, steps.reduce((a, x) => a + x[2], 0n));
      for (let guard = 0; guard < 20; guard++) {
        const v = await fx.chained.getChain(chainId);
        if (v.status === BigInt(ChainStatus.Completed)) seen.completed++;
        if (v.status === BigInt(ChainStatus.Ended)) seen.ended++;
        if (v.status === BigInt(ChainStatus.Completed) || v.status === BigInt(ChainStatus.Ended)) break;
        if (v.status === BigInt(ChainStatus.Ready)) {
          note(await send(int(4) === 0 ? (await conn.networkHelpers.time.increase(20_000), fx.chained.reconcile(chainId)) : fx.chained.advance(chainId, SMALL)));
        } else {
          const rid = v.requestId as string;
          const st = Number(await fx.oracle.state(rid));
          const out = Number(v.current) + 1 === steps.length ? LOGITS : SMALL;
          if (st === Status.Requested) {
            if (int(5) === 0) {
              await conn.networkHelpers.time.increase(20_000);
              note(await send(fx.oracle.refundExpired([rid])));
            } else {
              const w = int(3);
              await answer(fx, rid, out, w);
              const rec = record(fx.ops[w]!.address, fx.relayer.address, hashEncoded(out));
              if (int(3) === 0) {
                // Disputed: the arbiter rules at random; WorkerFault reopens the step (the chain waits on it).
                await send(fx.oracle.connect(fx.challenger).challenge(rid, rec, [], { value: PARAMS.challengeBond }));
                seen.disputes++;
                note(await send(fx.resolver.connect(fx.arbiter).rule(rid, int(2) === 0 ? Ruling.WorkerFault : Ruling.WorkerRight)));
              }
              if (Number(await fx.oracle.state(rid)) === Status.Submitted) {
                await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
                note(await send(fx.oracle.settle({ requestId: rid, record: rec, output: out, proof: [] })));
                seen.settled++;
              }
            }
          } else {
            // A step reopened past its deadline is refunded by the oracle's own rules; expire whatever is left.
            await conn.networkHelpers.time.increase(20_000);
            note(await send(fx.oracle.refundExpired([rid])));
          }
        }
        await check(`round ${round} step ${v.current}`);
      }
    }
    // The seeded run covers every outcome: completed and ended chains, disputes, settlements.
    expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
    for (const a of requesters) if ((await fx.chained.balanceOf(a.address)) > 0n) await send(fx.chained.connect(a).withdraw());
    await check("end");
    expect(await fx.ethers.provider.getBalance(fx.chainedAddr)).toBe(0n);
  });
});
