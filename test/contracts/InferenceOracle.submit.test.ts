/**
 * InferenceOracle submissions: OPTIMISTIC, NONE and ZK results in one-signature batches, the inline
 * output checks, state, deadline and stake checks, and the binding of the ResultBatch signature to the
 * chain, the oracle, the request, every item and the payee. Settlement and mixed batches:
 * InferenceOracle.settle.test.ts.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { Signature, TypedDataEncoder, ZeroHash } from "ethers";
import {
  deploy, expectRevert, expectSkipped, events, submittedOf, request, send, submission, record, now, zkProof, tensorF32, ETH, FEE, MODEL_FEE, OUTPUT, OUTPUT_HASH, PARAMS, Status, Tier, type Connection, type Fx,
} from "./helpers.js";
import { batchDigest, oracleDomain, RESULT_BATCH_TYPES, hashEncoded, resultLeaf, packBatch, type Hex } from "../../protocol/index.js";

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
  const submit = (fx: Fx, sub: object) => fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub as never));

  it("test_submitBatch_optimistic_succeeds", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const sub = await submission(fx, id, fx.signers[0]!, { output: OUTPUT });
    const receipt = await send(submit(fx, sub));
    const t = await now(fx);
    const [ev] = submittedOf(receipt, fx.oracle);
    expect(ev!.worker).toBe(fx.ops[0]!.address);
    expect(ev!.relayer).toBe(fx.relayer.address);
    expect(ev!.outputHash).toBe(OUTPUT_HASH);
    expect(BigInt(ev!.time)).toBe(t + BigInt(PARAMS.challengeWindow));
    expect([ev!.attempt, ev!.optimistic]).toEqual([0, true]);
    const r = await fx.oracle.getRequest(id);
    expect(r.status).toBe(BigInt(Status.Submitted));
    expect(r.timeout).toBe(t + BigInt(PARAMS.challengeWindow));
    expect(r.attempt).toBe(0n);
    // A batch of one: its root is the result's leaf, and the leaf is what protocol/batch.ts computes.
    const [batch] = events(receipt, fx.oracle, "ResultBatchSubmitted");
    const leaf = resultLeaf(id, 0, record(fx.ops[0]!.address, fx.relayer.address));
    expect(await fx.oracle.resultLeaf(id, 0, record(fx.ops[0]!.address, fx.relayer.address))).toBe(leaf);
    expect(batch!.args.acceptedRoot).toBe(leaf);
    expect(batch!.args.items).toBe(1n);
    expect(await fx.oracle.isBatchRoot(leaf)).toBe(true);
    const w = await fx.oracle.getWorker(fx.ops[0]!.address);
    expect(w.locked).toBe(PARAMS.resultBond);
    expect(w.openResults).toBe(1n);
  });

  it("test_submitBatch_none_settlesAtOnce", async () => {
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

  it("test_submitBatch_zk_validProof_settlesAtOnce", async () => {
    const fx = await fixture();
    const { id } = await request(fx, { tier: Tier.ZK });
    const r = await fx.oracle.getRequest(id);
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!)), fx.oracle, "OracleProofRequired");
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!, { proof: ZeroHash })), fx.oracle, "OracleProofInvalid");
    const proof = zkProof(r.modelHash, r.inputHash, OUTPUT_HASH);
    await send(submit(fx, await submission(fx, id, fx.signers[0]!, { proof, output: OUTPUT })));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
    // Revoking the verifier stops the ZK tier for results not yet accepted.
    const { id: id2 } = await request(fx, { tier: Tier.ZK });
    await fx.registry.connect(fx.admin).setResolverApproval(await fx.zk.getAddress(), false);
    await expectSkipped(submit(fx, await submission(fx, id2, fx.signers[0]!, { proof })), fx.oracle, "OracleTierUnsupported");
  });

  it("test_submitBatch_inlineOutputChecks_revert", async () => {
    const fx = await fixture();
    const { id } = await request(fx);
    const other = tensorF32([1, 2], [0.5, 0.5]);
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!, { output: other })), fx.oracle, "OracleOutputHashMismatch");
    const malformed = Buffer.concat([OUTPUT, Buffer.from([0])]);
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!, { output: malformed })), fx.oracle, "OracleMalformedTensor");
    const big = tensorF32([1100], new Array(1100).fill(1));
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!, { output: big, outputHash: hashEncoded(big) })), fx.oracle, "OracleOutputTooLarge");
  });

  it("test_submitBatch_wrongStateOrLate_reverts", async () => {
    const fx = await fixture();
    const t = await now(fx);
    const { id } = await request(fx, { deadline: t + 100n });
    const missing = "0x" + "03".repeat(32);
    await expectSkipped(submit(fx, await submission(fx, missing, fx.signers[0]!)), fx.oracle, "OracleRequestNotFound");
    await conn.networkHelpers.time.increase(100);
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!)), fx.oracle, "OracleDeadlinePassed");
  });

  it("test_submitBatch_insufficientStake_reverts", async () => {
    const fx = await fixture();
    // Free stake 2 ETH < a 3 ETH bond (params version 2, in effect after the delay).
    await fx.oracle.connect(fx.admin).scheduleParams({ ...PARAMS, resultBond: 3n * ETH });
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    const big = await request(fx);
    await expectSkipped(submit(fx, await submission(fx, big.id, fx.signers[0]!)), fx.oracle, "StakeInsufficientFree");
    await fx.oracle.connect(fx.admin).scheduleParams(PARAMS);
    await conn.networkHelpers.time.increase(PARAMS.paramsDelay);
    const { id } = await request(fx);
    // Unbonding stake no longer counts towards the minimum.
    await fx.oracle.connect(fx.ops[0]).requestUnbond(ETH + 1n);
    await expectSkipped(submit(fx, await submission(fx, id, fx.signers[0]!)), fx.oracle, "StakeBelowMinimum");
  });

  describe("signature binding (one ResultBatch signature per batch)", () => {
    it("test_batchDigest_matchesTypeScript", async () => {
      const fx = await fixture();
      const root = ("0x" + "5a".repeat(32)) as Hex;
      expect(await fx.oracle.batchDigest(root, fx.relayer.address)).toBe(batchDigest(fx.domain, { resultsRoot: root, payee: fx.relayer.address }));
      expect(TypedDataEncoder.from(RESULT_BATCH_TYPES).encodeType("ResultBatch")).toBe("ResultBatch(bytes32 resultsRoot,address payee)");
      // The leaves: the oracle's view of an accepted leaf equals the TypeScript twin.
      const { id } = await request(fx);
      const rec = record(fx.ops[0]!.address, fx.relayer.address);
      expect(await fx.oracle.resultLeaf(id, 0, rec)).toBe(resultLeaf(id, 0, rec));
    });

    it("test_submitBatch_otherChainId_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!, { domain: oracleDomain(fx.chainId + 1n, fx.oracleAddr) });
      await expectRevert(submit(fx, sub), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitBatch_otherOracleAddress_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!, { domain: oracleDomain(fx.chainId, fx.relayer.address) });
      await expectRevert(submit(fx, sub), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitBatch_signatureForOtherRequest_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const { id: other } = await request(fx);
      await expectRevert(submit(fx, await submission(fx, id, fx.signers[0]!, { signedId: other })), fx.oracle, "OracleUnknownSigner");
    });

    it("test_submitBatch_alteredItemOrPayee_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!);
      const item = sub.items[0]!;
      await expectRevert(submit(fx, { ...sub, items: [{ ...item, outputHash: "0x" + "ab".repeat(32) }] }), fx.oracle, "OracleUnknownSigner");
      await expectRevert(submit(fx, { ...sub, payee: fx.other.address }), fx.oracle, "OracleUnknownSigner");
      await expectRevert(submit(fx, { ...sub, items: [item, item] }), fx.oracle, "OracleUnknownSigner");
      await expectRevert(submit(fx, { ...sub, items: [] }), fx.oracle, "OracleEmptyBatch");
      // The output and proof bytes are not signed (the output must hash to the signed outputHash).
      await send(submit(fx, { ...sub, items: [{ ...item, output: OUTPUT }] }));
      expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    });

    it("test_submitBatch_replayedBatch_skipsItems", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!);
      await send(submit(fx, sub));
      await expectSkipped(submit(fx, sub), fx.oracle, "UnexpectedRequestState");
    });

    it("test_submitBatch_malleatedOrMalformedSignature_reverts", async () => {
      const fx = await fixture();
      const { id } = await request(fx);
      const sub = await submission(fx, id, fx.signers[0]!);
      const sig = Signature.from(sub.signature);
      // The (r, n - s, flipped v) twin recovers the same signer: refused.
      const twin = sig.r + (SECP256K1_N - BigInt(sig.s)).toString(16).padStart(64, "0") + (sig.v === 27 ? "1c" : "1b");
      await expectRevert(submit(fx, { ...sub, signature: twin }), fx.oracle, "OracleInvalidSignature");
      await expectRevert(submit(fx, { ...sub, signature: sub.signature.slice(0, 130) + "1d" }), fx.oracle, "OracleInvalidSignature");
      await expectRevert(submit(fx, { ...sub, signature: sub.signature.slice(0, 130) }), fx.oracle, "OracleInvalidSignature");
      await expectRevert(submit(fx, { ...sub, signature: "0x" + "00".repeat(65) }), fx.oracle, "OracleInvalidSignature");
      await send(submit(fx, sub));
    });
  });
});
