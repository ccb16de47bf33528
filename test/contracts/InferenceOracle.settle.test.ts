/**
 * InferenceOracle settlement: paying out after the challenge window (the fee split, the bond released,
 * the current model owner), settleMany skipping what is not ready, one batch root proving each item
 * alone, bond locks within one batch, pull withdrawals; mixed batches and the gas report. Submissions
 * and their signatures: InferenceOracle.submit.test.ts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroHash } from "ethers";
import {
  deploy, expectRevert, events, submittedOf, request, requestAndSubmit, send, submission, batchSubmission, record, now, zkProof, tensorF32, rejection,
  ETH, FEE, MODEL_FEE, OUTPUT, OUTPUT_HASH, PARAMS, Status, Tier, type Connection, type Fx,
} from "./helpers.js";
import { tensorHashParts, proofFromLogs, resultsRoot, packBatch, type RequestId } from "../../protocol/index.js";

function split(fee: bigint) {
  const rest = fee - MODEL_FEE;
  const relayer = (rest * BigInt(PARAMS.relayerFeeBps)) / 10_000n;
  return { owner: MODEL_FEE, relayer, worker: rest - relayer };
}

describe("InferenceOracle: submissions, signatures, settlement", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);
  const submit = (fx: Fx, sub: object) => fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub as never));


  describe("settle", () => {
    it("test_settle_afterWindow_paysAndReleasesBond", async () => {
      const fx = await fixture();
      const { id, rec } = await requestAndSubmit(fx, 2);
      await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "OracleDeadlineNotReached");
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      await expectRevert(fx.oracle.settle({ requestId: id, record: { ...rec, relayer: fx.other.address }, output: "0x", proof: [] }), fx.oracle, "OracleResultRecordMismatch", [id]);
      await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: tensorF32([1, 2], [0, 1]), proof: [] }), fx.oracle, "OracleOutputHashMismatch");
      const receipt = await send(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: OUTPUT, proof: [] }));
      const [ev] = events(receipt, fx.oracle, "RequestFulfilled");
      expect(ev!.args.outputDelivered).toBe(true);
      expect(ev!.args.outputHash).toBe(OUTPUT_HASH);
      const s = split(FEE);
      expect(await fx.oracle.balanceOf(fx.modelOwner.address)).toBe(s.owner);
      expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(s.relayer);
      expect(await fx.oracle.balanceOf(fx.ops[2]!.address)).toBe(s.worker);
      const w = await fx.oracle.getWorker(fx.ops[2]!.address);
      expect(w.locked).toBe(0n);
      expect(w.openResults).toBe(0n);
      const r = await fx.oracle.getRequest(id);
      expect(r.status).toBe(BigInt(Status.Fulfilled));
      expect(r.attempt).toBe(0n);
      await expectRevert(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "UnexpectedRequestState", [id, Status.Fulfilled, Status.Submitted]);
    });

    it("test_settle_modelOwnerChanged_paysCurrentOwner", async () => {
      const fx = await fixture();
      const { id, rec } = await requestAndSubmit(fx, 0);
      await fx.registry.connect(fx.modelOwner).transferModelOwnership(await fx.registry.model(ZeroHash).catch(() => undefined) ? ZeroHash : (await fx.oracle.getRequest(id)).modelHash, fx.other.address);
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      await fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] });
      expect(await fx.oracle.balanceOf(fx.other.address)).toBe(MODEL_FEE);
      expect(await fx.oracle.balanceOf(fx.modelOwner.address)).toBe(0n);
    });

    it("test_settleMany_mixed_skipsNotReady", async () => {
      const fx = await fixture();
      const a = await requestAndSubmit(fx, 0);
      const b = await requestAndSubmit(fx, 1);
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      const c = await requestAndSubmit(fx, 2); // window still open
      const items = [a, b, c, a].map((x) => ({ requestId: x.id, record: x.rec, output: "0x", proof: [] }));
      items.push({ requestId: a.id, record: { ...a.rec, worker: fx.other.address }, output: "0x", proof: [] });
      expect(await fx.oracle.settleMany.staticCall(items)).toBe(2n);
      const receipt = await send(fx.oracle.settleMany(items));
      expect(events(receipt, fx.oracle, "RequestFulfilled")).toHaveLength(2);
      expect(await fx.oracle.state(c.id)).toBe(BigInt(Status.Submitted));
    });

    it("test_submitBatch_oneRootEachItemProvenAlone", async () => {
      const fx = await fixture();
      // Five OPTIMISTIC results (an odd count: a node moves up unchanged), a NONE result (final at once,
      // no leaf) and a duplicate (skipped, no leaf), all in one signed batch of worker 0.
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await request(fx)).id);
      const none = (await request(fx, { tier: Tier.NONE })).id;
      const order = [ids[0]!, ids[1]!, none, ids[2]!, ids[3]!, ids[4]!, ids[0]!];
      const sub = await batchSubmission(fx, order, fx.signers[0]!);
      const receipt = await send(submit(fx, sub));
      const batches = events(receipt, fx.oracle, "ResultBatchSubmitted");
      expect(batches).toHaveLength(1);
      // One record per accepted item, in batch order: the NONE result flagged final, the duplicate absent.
      const accepted = submittedOf(receipt, fx.oracle);
      expect(accepted.map((r) => [r.requestId, r.optimistic])).toEqual([[ids[0], true], [ids[1], true], [none, false], [ids[2], true], [ids[3], true], [ids[4], true]]);
      expect(events(receipt, fx.oracle, "ResultSkipped")).toHaveLength(1);
      const signed = batches[0]!;
      expect(signed.args.resultsRoot).toBe(resultsRoot(order.map((requestId) => ({ requestId, outputHash: OUTPUT_HASH }))));
      expect([signed.args.worker, signed.args.payee, signed.args.items]).toEqual([fx.ops[0]!.address, fx.relayer.address, 7n]);
      const root = String(signed.args.acceptedRoot).toLowerCase();
      expect(await fx.oracle.isBatchRoot(root)).toBe(true);
      // The signed root is no accepted root: a proof against it names nothing.
      expect(await fx.oracle.isBatchRoot(signed.args.resultsRoot)).toBe(false);
      // Proofs come from the transaction's logs alone (the rebuilt root is checked against the logged one).
      const proofs = ids.map((id) => proofFromLogs(receipt.logs, fx.oracleAddr, id));
      for (const p of proofs) expect(p.root).toBe(root);
      expect(proofs.map((p) => p.proof.length)).toEqual([3, 3, 3, 3, 1]);
      expect(() => proofFromLogs(receipt.logs, fx.oracleAddr, none)).toThrow(/no committed OPTIMISTIC result/);

      // A challenge names one item by its proof; another item's proof or none at all is refused.
      const challenge = (i: number, proof: string[]) =>
        fx.oracle.connect(fx.challenger).challenge(ids[i], proofs[i]!.record, proof, { value: PARAMS.challengeBond });
      await expectRevert(challenge(1, proofs[2]!.proof), fx.oracle, "OracleResultRecordMismatch", [ids[1]]);
      await expectRevert(challenge(1, []), fx.oracle, "OracleResultRecordMismatch", [ids[1]]);
      await send(challenge(1, proofs[1]!.proof));
      expect(await fx.oracle.state(ids[1])).toBe(BigInt(Status.Challenged));

      // Settlement: each item alone; a wrong proof is skipped in settleMany and reverts in settle.
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      const items = proofs.map((p) => ({ requestId: p.requestId, record: p.record, output: "0x", proof: p.proof }));
      const wrong = { ...items[3]!, proof: proofs[4]!.proof };
      const many = [items[0]!, items[1]!, items[2]!, wrong, items[4]!];
      expect(await fx.oracle.settleMany.staticCall(many)).toBe(3n);
      await send(fx.oracle.settleMany(many));
      await expectRevert(fx.oracle.settle(wrong), fx.oracle, "OracleResultRecordMismatch", [ids[3]]);
      await send(fx.oracle.settle(items[3]!));
      for (const i of [0, 2, 3, 4]) expect(await fx.oracle.state(ids[i]!)).toBe(BigInt(Status.Fulfilled));
      expect(await fx.oracle.state(ids[1]!)).toBe(BigInt(Status.Challenged));
      // Every item is worker 0's: only the challenged one keeps its bond locked.
      expect((await fx.oracle.getWorker(fx.ops[0]!.address)).openResults).toBe(1n);
    });

    it("test_submitBatch_bondLocksAccumulateWithinOneBatch", async () => {
      const fx = await fixture();
      // Worker 0 has 2 ETH free: exactly 20 result bonds. A batch of 22 of its results locks 20 bonds
      // (one write of its stake word) and skips the last 2 for want of free stake.
      const ids: string[] = [];
      for (let i = 0; i < 22; i++) ids.push((await request(fx)).id);
      const sub = await batchSubmission(fx, ids, fx.signers[0]!);
      const bond = PARAMS.resultBond;
      expect(await fx.oracle.connect(fx.relayer).submitBatch.staticCall(...packBatch(sub))).toBe(20n);
      const receipt = await send(submit(fx, sub));
      const skipped = events(receipt, fx.oracle, "ResultSkipped");
      expect(skipped.map((e) => e.args.requestId)).toEqual(ids.slice(20));
      const selector = fx.oracle.interface.getError("StakeInsufficientFree")!.selector;
      for (const e of skipped) expect(e.args.reason).toBe(selector);
      expect(submittedOf(receipt, fx.oracle).filter((r) => r.optimistic)).toHaveLength(20);
      const w0 = await fx.oracle.getWorker(fx.ops[0]!.address);
      expect(w0.locked).toBe(20n * bond);
      expect(w0.openResults).toBe(20n);
    });

    it("test_withdraw_pullBalance_succeeds", async () => {
      const fx = await fixture();
      await expectRevert(fx.oracle.connect(fx.relayer).withdraw(), fx.oracle, "OracleNothingToWithdraw", [fx.relayer.address]);
      const { id } = await request(fx, { tier: Tier.NONE });
      await send(submit(fx, await submission(fx, id, fx.signers[0]!)));
      const owed = await fx.oracle.balanceOf(fx.relayer.address);
      const before = await fx.ethers.provider.getBalance(fx.relayer.address);
      const receipt = await send(fx.oracle.connect(fx.relayer).withdraw());
      const cost = receipt.gasUsed * receipt.gasPrice;
      expect(await fx.ethers.provider.getBalance(fx.relayer.address)).toBe(before + owed - cost);
      expect(events(receipt, fx.oracle, "Withdrawn")[0]!.args.amount).toBe(owed);
      await expectRevert(fx.oracle.connect(fx.relayer).withdraw(), fx.oracle, "OracleNothingToWithdraw");
    });
  });

  describe("batches", () => {
    it("test_submitBatch_mixedBatch_acceptsGoodSkipsBad", async () => {
      const fx = await fixture();
      const t = await now(fx);
      const good1 = await request(fx);
      const good2 = await request(fx, { tier: Tier.NONE });
      const late = await request(fx, { deadline: t + 50n });
      const bad = await request(fx);
      const good3 = await request(fx);
      await conn.networkHelpers.time.increase(60);
      const other = tensorF32([1, 2], [1, 0]);
      // Worker 2 signs one batch: good, late, a wrong inline output, a duplicate, good.
      const order = [good1.id, late.id, bad.id, good2.id, good1.id, good3.id];
      const sub = await batchSubmission(fx, order, fx.signers[2]!);
      sub.items[2] = { ...sub.items[2]!, output: "0x" + Buffer.from(other).toString("hex") };
      expect(await fx.oracle.connect(fx.relayer).submitBatch.staticCall(...packBatch(sub))).toBe(3n);
      const receipt = await send(submit(fx, sub));
      const sel = (name: string) => fx.oracle.interface.getError(name)!.selector;
      const skipped = events(receipt, fx.oracle, "ResultSkipped").map((e) => [e.args.requestId, e.args.reason]);
      expect(skipped).toEqual([
        [late.id, sel("OracleDeadlinePassed")],
        [bad.id, sel("OracleOutputHashMismatch")],
        [good1.id, sel("UnexpectedRequestState")],
      ]);
      expect(await fx.oracle.state(good1.id)).toBe(BigInt(Status.Submitted));
      expect(await fx.oracle.state(good2.id)).toBe(BigInt(Status.Fulfilled));
      expect(await fx.oracle.state(good3.id)).toBe(BigInt(Status.Submitted));
      expect(await fx.oracle.state(bad.id)).toBe(BigInt(Status.Requested));
      // Skipped items left no trace: only the two accepted optimistic results are locked.
      expect((await fx.oracle.getWorker(fx.ops[2]!.address)).openResults).toBe(2n);
    });

    it("test_gas_report", async () => {
      const fx = await fixture();
      const gas: Record<string, bigint | string> = {};
      await fx.oracle.connect(fx.ops[0]).addStake({ value: 10n * ETH });
      // Warm-up so storage slots of the first request do not skew the figures.
      await requestAndSubmit(fx, 1);
      await requestAndSubmit(fx, 0, { tier: Tier.NONE });
      const req = await request(fx);
      gas["requestInference (URI input)"] = req.receipt.gasUsed;
      const inline = await request(fx, { input: (await import("./helpers.js")).INPUT, inputHash: ZeroHash });
      gas["requestInference (16 B inline input)"] = inline.receipt.gasUsed;
      const opt = await send(submit(fx, await submission(fx, req.id, fx.signers[0]!)));
      gas["submitBatch x1 OPTIMISTIC"] = opt.gasUsed;
      const none = await request(fx, { tier: Tier.NONE });
      gas["submitBatch x1 NONE (settles, no callback)"] = (await send(submit(fx, await submission(fx, none.id, fx.signers[0]!)))).gasUsed;
      const noneOut = await request(fx, { tier: Tier.NONE });
      gas["submitBatch x1 NONE + 24 B output"] = (await send(submit(fx, await submission(fx, noneOut.id, fx.signers[0]!, { output: OUTPUT })))).gasUsed;
      const zk = await request(fx, { tier: Tier.ZK });
      const zr = await fx.oracle.getRequest(zk.id);
      gas["submitBatch x1 ZK (test verifier)"] = (await send(submit(fx, await submission(fx, zk.id, fx.signers[0]!, { proof: zkProof(zr.modelHash, zr.inputHash, OUTPUT_HASH) })))).gasUsed;
      for (const n of [1, 8, 32]) {
        const ids = [];
        for (let i = 0; i < n; i++) ids.push((await request(fx)).id);
        const receipt = await send(submit(fx, await batchSubmission(fx, ids, fx.signers[0]!)));
        expect(submittedOf(receipt, fx.oracle)).toHaveLength(n);
        gas[`submitBatch OPTIMISTIC x${n} (per result)`] = receipt.gasUsed / BigInt(n);
      }
      const c = await requestAndSubmit(fx, 2);
      gas["challenge: open (ArbiterResolver)"] = (await send(fx.oracle.connect(fx.challenger).challenge(c.id, c.rec, [], { value: PARAMS.challengeBond }))).gasUsed;
      gas["challenge: join"] = (await send(fx.oracle.connect(fx.other).challenge(c.id, c.rec, [], { value: PARAMS.challengeBond }))).gasUsed;
      gas["rule WorkerFault, 2 joiners (reopen)"] = (await send(fx.resolver.connect(fx.arbiter).rule(c.id, 2))).gasUsed;
      gas["claimDispute"] = (await send(fx.oracle.connect(fx.other).claimDispute(c.id, 0))).gasUsed;
      const right = await requestAndSubmit(fx, 2);
      await send(fx.oracle.connect(fx.challenger).challenge(right.id, right.rec, [], { value: PARAMS.challengeBond }));
      await send(fx.oracle.connect(fx.other).challenge(right.id, right.rec, [], { value: PARAMS.challengeBond }));
      gas["rule WorkerRight, 2 joiners"] = (await send(fx.resolver.connect(fx.arbiter).rule(right.id, 1))).gasUsed;
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      const rec = record(fx.ops[0]!.address, fx.relayer.address);
      gas["settle"] = (await send(fx.oracle.settle({ requestId: req.id, record: rec, output: "0x", proof: [] }))).gasUsed;
      const withOutput = await send(submit(fx, await submission(fx, inline.id, fx.signers[0]!)));
      void withOutput;
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      gas["settle + 24 B output"] = (await send(fx.oracle.settle({ requestId: inline.id, record: rec, output: OUTPUT, proof: [] }))).gasUsed;
      const batch = [];
      for (let i = 0; i < 8; i++) {
        const r = await requestAndSubmit(fx, 0);
        batch.push({ requestId: r.id, record: r.rec, output: "0x", proof: [] });
      }
      await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
      gas["settleMany x8 (per result)"] = (await send(fx.oracle.settleMany(batch))).gasUsed / 8n;
      gas["withdraw"] = (await send(fx.oracle.connect(fx.relayer).withdraw())).gasUsed;
      // Rejections (issue 12, finding 3): recorded below the quorum, refunded at it, a proven type
      // mismatch, a requester's cancel.
      const rj = await request(fx);
      gas["rejectRequest (recorded, 1 of 2)"] = (await send(fx.oracle.rejectRequest(rj.id, 3, await rejection(fx, rj.id, fx.signers[0]!, 3)))).gasUsed;
      gas["rejectRequest (quorum: refund push)"] = (await send(fx.oracle.rejectRequest(rj.id, 3, await rejection(fx, rj.id, fx.signers[1]!, 3)))).gasUsed;
      const pr = await request(fx);
      const parts = tensorHashParts((await import("./helpers.js")).INPUT);
      gas["rejectRequestWithProof (refund push)"] = (await send(fx.oracle.rejectRequestWithProof(pr.id, 2, await rejection(fx, pr.id, fx.signers[0]!, 2), parts.header, parts.dataRoot))).gasUsed;
      const cr = await request(fx);
      await send(fx.oracle.rejectRequest(cr.id, 3, await rejection(fx, cr.id, fx.signers[0]!, 3)));
      gas["cancelRequest (refund push)"] = (await send(fx.oracle.connect(fx.requester).cancelRequest(cr.id))).gasUsed;
      console.log("gas report\n" + Object.entries(gas).map(([k, v]) => `  ${k.padEnd(44)} ${v}`).join("\n"));
      void (0 as unknown as RequestId);
    });
  });
});
