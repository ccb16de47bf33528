import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { Signature, TypedDataEncoder, Wallet, ZeroHash } from "ethers";
import {
  deploy, expectRevert, events, request, requestAndSubmit, send, submission, record, now, zkProof, tensorF32, rejection,
  ETH, FEE, MODEL_FEE, OUTPUT, OUTPUT_HASH, PARAMS, Status, Tier, TRACE_ROOT, type Connection, type Fx,
} from "./helpers.js";
import { oracleDomain, resultDigest, RESULT_TYPES } from "../../protocol/eip712.js";
import { hashEncoded, tensorHashParts } from "../../protocol/tensor.js";
import { proofFromLogs, resultLeaf } from "../../protocol/batch.js";
import type { Hex, RequestId } from "../../protocol/types.js";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

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
  const submit = (fx: Fx, sub: object) => fx.oracle.connect(fx.relayer).submitResult(sub);

  it("test_submitResult_optimistic_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const sub = await submission(fx, id, fx.signers[0]!, { output: OUTPUT });
    const receipt = await send(submit(fx, sub));
    const t = await now(fx);
    const [ev] = events(receipt, fx.oracle, "ResultSubmitted");
    expect(ev!.args.worker).toBe(fx.ops[0]!.address);
    expect(ev!.args.relayer).toBe(fx.relayer.address);
    expect(ev!.args.outputHash).toBe(OUTPUT_HASH);
    expect(ev!.args.challengeDeadline).toBe(t + BigInt(PARAMS.challengeWindow));
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Submitted));
    expect(r.timeout).toBe(t + BigInt(PARAMS.challengeWindow));
    expect(r.attempt).toBe(0n);
    // A batch of one: its root is the result's leaf, and the leaf is what protocol/batch.ts computes.
    const [batch] = events(receipt, fx.oracle, "BatchCommitted");
    const leaf = resultLeaf(id, 0, record(fx.ops[0]!.address, fx.relayer.address));
    expect(await fx.oracle.resultLeaf(id, 0, record(fx.ops[0]!.address, fx.relayer.address))).toBe(leaf);
    expect(batch!.args.root).toBe(leaf);
    expect(batch!.args.count).toBe(1n);
    expect(await fx.oracle.isBatchRoot(leaf)).toBe(true);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.locked).toBe(PARAMS.resultBond);
    expect(w.openResults).toBe(1n);
  });

  it("test_submitResult_none_settlesAtOnce", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.NONE });
    const receipt = await send(submit(fx, await submission(fx, id, fx.signers[1]!)));
    const [ev] = events(receipt, fx.oracle, "RequestFulfilled");
    expect(ev!.args.callbackSucceeded).toBe(false); // callbackGasLimit 0: no call
    expect(ev!.args.outputDelivered).toBe(false);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
    const s = split(FEE);
    expect(await fx.oracle.balanceOf(fx.modelOwner.address)).toBe(s.owner);
    expect(await fx.oracle.balanceOf(fx.relayer.address)).toBe(s.relayer);
    expect(await fx.oracle.balanceOf(fx.ops[1]!.address)).toBe(s.worker);
    expect((await fx.oracle.getWorker(fx.ops[1]!.address)).locked).toBe(0n);
  });

  it("test_submitResult_zk_validProof_settlesAtOnce", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.ZK });
    const r = await fx.oracle.getRequest(id);
    await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!)), fx.oracle, "OracleProofRequired", [id]);
    await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!, { proof: ZeroHash })), fx.oracle, "OracleProofInvalid", [id]);
    const proof = zkProof(r.modelHash, r.inputHash, OUTPUT_HASH);
    await send(submit(fx, await submission(fx, id, fx.signers[0]!, { proof, output: OUTPUT })));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
    // Revoking the verifier stops the ZK tier for results not yet accepted.
    const { id: id2 } = await request(fx, { tier: Tier.ZK });
    await fx.registry.connect(fx.admin).setResolverApproval(await fx.zk.getAddress(), false);
    await expectRevert(submit(fx, await submission(fx, id2, fx.signers[0]!, { proof })), fx.oracle, "OracleTierUnsupported");
  });

  it("test_submitResult_inlineOutputChecks_revert", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const other = tensorF32([1, 2], [0.5, 0.5]);
    await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!, { output: other })), fx.oracle, "OracleOutputHashMismatch", [OUTPUT_HASH, hashEncoded(other)]);
    const malformed = Buffer.concat([OUTPUT, Buffer.from([0])]);
    await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!, { output: malformed })), fx.oracle, "OracleMalformedTensor", [6]);
    const big = tensorF32([1100], new Array(1100).fill(1));
    await expectRevert(
      submit(fx, await submission(fx, id, fx.signers[0]!, { output: big, outputHash: hashEncoded(big) })),
      fx.oracle,
      "OracleOutputTooLarge",
      [big.length, PARAMS.maxInlineOutputBytes],
    );
  });

  it("test_submitResult_wrongStateOrLate_reverts", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const { id } = await request(fx, { deadline: t + 100n });
    const missing = "0x" + "03".repeat(32);
    await expectRevert(submit(fx, { ...(await submission(fx, id, fx.signers[0]!)), requestId: missing }), fx.oracle, "OracleRequestNotFound", [missing]);
    await conn.networkHelpers.time.increase(100);
    await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!)), fx.oracle, "OracleDeadlinePassed", [id, t + 100n]);
  });

  it("test_submitResult_insufficientStake_reverts", async () => {
    const fx = await fixture();
    // Free stake 2 ETH < a 3 ETH bond (params version 2, in effect after the delay).
    await fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, resultBond: 3n * ETH });
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    const big = await request(fx);
    await expectRevert(submit(fx, await submission(fx, big.id, fx.signers[0]!)), fx.oracle, "StakeInsufficientFree", [fx.ops[0]!.address, 2n * ETH, 3n * ETH]);
    await fx.oracle.connect(fx.admin).scheduleParams(PARAMS);
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    const { id } = await request(fx);
    // Unbonding stake no longer counts towards the minimum.
    await fx.oracle.connect(fx.ops[0]).requestUnbond(ETH + 1n);
    await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!)), fx.oracle, "StakeBelowMinimum", [fx.ops[0]!.address, ETH - 1n, ETH]);
  });

  describe("signature binding", () => {
    it("test_resultDigest_matchesTypeScript", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const r = await fx.oracle.getRequest(id);
      const statement = { requestId: id, modelHash: r.modelHash as Hex, inputHash: r.inputHash as Hex, outputHash: OUTPUT_HASH as Hex, traceRoot: TRACE_ROOT, payee: fx.relayer.address };
      expect(await fx.oracle.resultDigest(id, r.modelHash, r.inputHash, OUTPUT_HASH, TRACE_ROOT, fx.relayer.address)).toBe(resultDigest(fx.domain, statement));
      expect(await fx.oracle.domainSeparator()).toBe(TypedDataEncoder.hashDomain(fx.domain));
      void RESULT_TYPES;
    });

    it("test_submitResult_otherChainId_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!, { domain: oracleDomain(fx.chainId + 1n, fx.oracleAddr) });
      await expectRevert(submit(fx, sub), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitResult_otherOracleAddress_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!, { domain: oracleDomain(fx.chainId, fx.relayer.address) });
      await expectRevert(submit(fx, sub), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitResult_signatureForOtherRequest_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const { id: other } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!, { signedId: other });
      await expectRevert(submit(fx, sub), fx.oracle, "OracleUnknownSigner");
      // Signed over other model / input hashes than the request's.
      await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!, { inputHash: ZeroHash })), fx.oracle, "OracleUnknownSigner");
      await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!, { modelHash: ZeroHash })), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitResult_alteredOutputHash_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!);
      await expectRevert(submit(fx, { ...sub, outputHash: "0x" + "ab".repeat(32) }), fx.oracle, "OracleUnknownSigner");
      await expectRevert(submit(fx, { ...sub, traceRoot: ZeroHash }), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitResult_replayedSignature_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!);
      await send(submit(fx, sub));
      await expectRevert(submit(fx, sub), fx.oracle, "UnexpectedRequestState", [id, Status.Submitted, Status.Requested]);
    });

    it("test_submitResult_malleatedOrMalformedSignature_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!);
      const sig = Signature.from(sub.signature);
      const highS = "0x" + (SECP256K1_N - BigInt(sig.s)).toString(16).padStart(64, "0");
      const flippedV = sig.v === 27 ? 28 : 27;
      const malleated = sig.r + highS.slice(2) + flippedV.toString(16);
      // The malleated twin is a valid ECDSA signature by the same key; only the low-s rule refuses it.
      const r = await fx.oracle.getRequest(id);
      const digest = await fx.oracle.resultDigest(id, r.modelHash, r.inputHash, sub.outputHash, sub.traceRoot, sub.payee);
      const ecrecover = await fx.ethers.provider.call({
        to: "0x0000000000000000000000000000000000000001",
        data: digest + flippedV.toString(16).padStart(64, "0") + sig.r.slice(2) + highS.slice(2),
      });
      expect("0x" + ecrecover.slice(26)).toBe(fx.signers[0]!.address.toLowerCase());
      await expectRevert(submit(fx, { ...sub, signature: malleated }), fx.oracle, "OracleInvalidSignature");
      await expectRevert(submit(fx, { ...sub, signature: sub.signature.slice(0, 130) + "1d" }), fx.oracle, "OracleInvalidSignature");
      await expectRevert(submit(fx, { ...sub, signature: sub.signature.slice(0, 130) }), fx.oracle, "OracleInvalidSignature");
      await expectRevert(submit(fx, { ...sub, signature: "0x" + "00".repeat(65) }), fx.oracle, "OracleInvalidSignature");
      await send(submit(fx, sub));
    });
  });

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

    it("test_submitResults_batch_oneRootEachItemProvenAlone", async () => {
      const fx = await fixture();
      // Five OPTIMISTIC results (an odd count: a node moves up unchanged), a NONE result (final at once,
      // no leaf) and a duplicate (skipped, no leaf).
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await request(fx)).id);
      const none = (await request(fx, { tier: Tier.NONE })).id;
      const subs: object[] = [];
      for (const [i, id] of ids.entries()) subs.push(await submission(fx, id, fx.signers[i % 3]!));
      subs.splice(2, 0, await submission(fx, none, fx.signers[0]!));
      subs.push(await submission(fx, ids[0]!, fx.signers[1]!));
      const receipt = await send(fx.oracle.connect(fx.relayer).submitResults(subs));
      const batches = events(receipt, fx.oracle, "BatchCommitted");
      expect(batches).toHaveLength(1);
      expect(batches[0]!.args.count).toBe(5n);
      expect(events(receipt, fx.oracle, "ResultSkipped")).toHaveLength(1);
      const root = String(batches[0]!.args.root).toLowerCase();
      expect(await fx.oracle.isBatchRoot(root)).toBe(true);
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
      expect((await fx.oracle.getWorker(fx.ops[0]!.address)).openResults).toBe(0n);
    });

    it("test_submitResults_bondLocksAccumulateWithinOneCall", async () => {
      const fx = await fixture();
      // Worker 0 has 2 ETH free: exactly 20 result bonds. 22 of its results, interleaved with 4 of
      // worker 1's (so the call switches workers and writes each one's locks back), lock 20 bonds and
      // skip the last 2 for want of free stake.
      const signers: number[] = [];
      for (let i = 0; i < 26; i++) signers.push(i % 6 === 5 ? 1 : 0);
      const subs: object[] = [];
      for (const w of signers) subs.push(await submission(fx, (await request(fx)).id, fx.signers[w]!));
      const bond = PARAMS.resultBond;
      expect(await fx.oracle.connect(fx.relayer).submitResults.staticCall(subs)).toBe(24n);
      const receipt = await send(fx.oracle.connect(fx.relayer).submitResults(subs));
      const skipped = events(receipt, fx.oracle, "ResultSkipped");
      expect(skipped).toHaveLength(2);
      const selector = fx.oracle.interface.getError("StakeInsufficientFree")!.selector;
      for (const e of skipped) expect(e.args.reason).toBe(selector);
      expect(events(receipt, fx.oracle, "BatchCommitted")[0]!.args.count).toBe(24n);
      const w0 = await fx.oracle.getWorker(fx.ops[0]!.address);
      expect(w0.locked).toBe(20n * bond);
      expect(w0.openResults).toBe(20n);
      const w1 = await fx.oracle.getWorker(fx.ops[1]!.address);
      expect(w1.locked).toBe(4n * bond);
      expect(w1.openResults).toBe(4n);
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
    it("test_submitResults_mixedBatch_acceptsGoodSkipsBad", async () => {
      const fx = await fixture();
      const t = await now(fx);
      const good1 = await request(fx);
      const good2 = await request(fx, { tier: Tier.NONE });
      const late = await request(fx, { deadline: t + 50n });
      const bad = await request(fx);
      const good3 = await request(fx);
      await conn.networkHelpers.time.increase(60);
      const stranger = Wallet.createRandom();
      const items = [
        await submission(fx, good1.id, fx.signers[0]!),
        await submission(fx, late.id, fx.signers[0]!),
        await submission(fx, bad.id, stranger as any),
        await submission(fx, good2.id, fx.signers[1]!),
        { ...(await submission(fx, bad.id, fx.signers[1]!)), outputHash: ZeroHash },
        { ...(await submission(fx, bad.id, fx.signers[1]!, { output: tensorF32([1, 2], [1, 0]) })) },
        await submission(fx, good1.id, fx.signers[2]!), // already Submitted by the first item
        { ...(await submission(fx, good3.id, fx.signers[2]!)), signature: "0x00" },
        await submission(fx, good3.id, fx.signers[2]!),
      ];
      expect(await fx.oracle.connect(fx.relayer).submitResults.staticCall(items)).toBe(3n);
      const receipt = await send(fx.oracle.connect(fx.relayer).submitResults(items));
      const sel = (name: string) => fx.oracle.interface.getError(name)!.selector;
      const skipped = events(receipt, fx.oracle, "ResultSkipped").map((e) => [e.args.requestId, e.args.reason]);
      expect(skipped).toEqual([
        [late.id, sel("OracleDeadlinePassed")],
        [bad.id, sel("OracleUnknownSigner")],
        [bad.id, sel("OracleUnknownSigner")],
        [bad.id, sel("OracleOutputHashMismatch")],
        [good1.id, sel("UnexpectedRequestState")],
        [good3.id, sel("OracleInvalidSignature")],
      ]);
      expect(await fx.oracle.state(good1.id)).toBe(BigInt(Status.Submitted));
      expect(await fx.oracle.state(good2.id)).toBe(BigInt(Status.Fulfilled));
      expect(await fx.oracle.state(good3.id)).toBe(BigInt(Status.Submitted));
      expect(await fx.oracle.state(bad.id)).toBe(BigInt(Status.Requested));
      // Skipped items left no trace: only the two accepted optimistic results are locked.
      expect((await fx.oracle.getWorker(fx.ops[1]!.address)).locked).toBe(0n);
      expect((await fx.oracle.getWorker(fx.ops[2]!.address)).openResults).toBe(1n);
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
      gas["submitResult OPTIMISTIC"] = opt.gasUsed;
      const none = await request(fx, { tier: Tier.NONE });
      gas["submitResult NONE (settles, no callback)"] = (await send(submit(fx, await submission(fx, none.id, fx.signers[0]!)))).gasUsed;
      const noneOut = await request(fx, { tier: Tier.NONE });
      gas["submitResult NONE + 24 B output"] = (await send(submit(fx, await submission(fx, noneOut.id, fx.signers[0]!, { output: OUTPUT })))).gasUsed;
      const zk = await request(fx, { tier: Tier.ZK });
      const zr = await fx.oracle.getRequest(zk.id);
      gas["submitResult ZK (test verifier)"] = (await send(submit(fx, await submission(fx, zk.id, fx.signers[0]!, { proof: zkProof(zr.modelHash, zr.inputHash, OUTPUT_HASH) })))).gasUsed;
      for (const n of [1, 8, 32]) {
        const subs = [];
        for (let i = 0; i < n; i++) subs.push(await submission(fx, (await request(fx)).id, fx.signers[0]!));
        const receipt = await send(fx.oracle.connect(fx.relayer).submitResults(subs));
        expect(events(receipt, fx.oracle, "ResultSubmitted")).toHaveLength(n);
        gas[`submitResults OPTIMISTIC x${n} (per result)`] = receipt.gasUsed / BigInt(n);
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
