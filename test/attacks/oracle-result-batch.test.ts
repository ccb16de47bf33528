/**
 * Result format v2 (docs/V2.md §3, issue 12): a worker signs ONE `ResultBatch(resultsRoot, payee)` over
 * the Merkle root of its items' (requestId, outputHash) leaves; the oracle rebuilds the root over every
 * item, recovers the signer once, then accepts or skips each item, and commits the accepted OPTIMISTIC
 * items as a root of accepted leaves (request, attempt, worker, payee, output). Attacks on that format,
 * on the real oracle:
 * - a skipped item of an accepted batch is proven as if accepted (settle, challenge);
 * - a batch signed for another chain or another oracle is submitted here;
 * - one item of a signed batch is tampered with (changed, dropped, reordered, added);
 * - an old batch is replayed after its result was slashed and the request reopened (new attempt).
 * (Copying a batch to take the relayer's fee: oracle-relayer-fee-theft.test.ts.)
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { AbiCoder, keccak256 } from "ethers";
import {
  deploy, events, submittedOf, expectRevert, expectSkipped, request, send, submission, batchSubmission, record,
  OUTPUT_HASH, PARAMS, Ruling, Status, tensorF32, type Connection, type Fx,
} from "../contracts/helpers.js";
import {
  oracleDomain,
  deployInferenceOracle,
  ACCEPTED_LEAF_TAG,
  batchItemLeaf,
  batchProof,
  batchesFromLogs,
  proofFromLogs,
  packBatch,
  hashEncoded,
} from "../../protocol/index.js";

const OTHER_OUTPUT_HASH = hashEncoded(tensorF32([1, 2], [0.1, 0.9]));

describe("attack: the worker-signed result batch (result format v2)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);
  const submit = (fx: Fx, sub: object, from = fx.relayer) => send(fx.oracle.connect(from).submitBatch(...packBatch(sub as never)));

  it("test_settleOrChallenge_skippedItemOfAcceptedBatch_reverts", async () => {
    const fx = await fixture();
    const a = (await request(fx)).id;
    const b = (await request(fx)).id;
    // Worker 1's result for B lands first.
    const first = await submit(fx, await submission(fx, b, fx.signers[1]!));
    // Worker 0 signs [A, B] with another output for B: A is accepted, B skipped (already Submitted).
    const order = [a, b];
    const batch = await batchSubmission(fx, order, fx.signers[0]!, { outputHashes: [OUTPUT_HASH, OTHER_OUTPUT_HASH] });
    const receipt = await submit(fx, batch);
    expect(events(receipt, fx.oracle, "ResultSkipped").map((e) => e.args.requestId)).toEqual([b]);
    expect(batchesFromLogs(receipt.logs, fx.oracleAddr).flatMap((x) => x.items.map((i) => i.requestId))).toEqual([a.toLowerCase()]);

    // Every way to name worker 0's skipped B result: its signed-tree proof, and its would-be accepted leaf
    // proven next to A's accepted leaf.
    const signedLeaves = order.map((id, i) => batchItemLeaf(id, [OUTPUT_HASH, OTHER_OUTPUT_HASH][i]!));
    const forged = record(fx.ops[0]!.address, fx.relayer.address, OTHER_OUTPUT_HASH);
    const acceptedA = proofFromLogs(receipt.logs, fx.oracleAddr, a).leaf;
    const attempts = [batchProof(signedLeaves, 1), [acceptedA], []];
    for (const proof of attempts) {
      await expectRevert(
        fx.oracle.connect(fx.challenger).challenge(b, forged, proof, { value: PARAMS.challengeBond }),
        fx.oracle,
        "OracleResultRecordMismatch",
        [b],
      );
    }
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    for (const proof of attempts) {
      await expectRevert(fx.oracle.settle({ requestId: b, record: forged, output: "0x", proof }), fx.oracle, "OracleResultRecordMismatch", [b]);
    }
    // The result that was accepted for B (worker 1's) settles; worker 0's A settles from its own batch.
    const pb = proofFromLogs(first.logs, fx.oracleAddr, b);
    await send(fx.oracle.settle({ requestId: b, record: pb.record, output: "0x", proof: pb.proof }));
    const pa = proofFromLogs(receipt.logs, fx.oracleAddr, a);
    await send(fx.oracle.settle({ requestId: a, record: pa.record, output: "0x", proof: pa.proof }));
    expect(await fx.oracle.state(a)).toBe(BigInt(Status.Fulfilled));
    expect(await fx.oracle.state(b)).toBe(BigInt(Status.Fulfilled));
    expect((await fx.oracle.getWorker(fx.ops[1]!.address)).openResults).toBe(0n);
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).openResults).toBe(0n);
  });

  it("test_submitBatch_signedForOtherChainOrOracle_reverts", async () => {
    const fx = await fixture();
    const ids = [(await request(fx)).id, (await request(fx)).id];
    const otherOracle = await deployInferenceOracle(fx.admin, await fx.registry.getAddress(), fx.admin.address, PARAMS);
    const domains = [
      oracleDomain(fx.chainId + 1n, fx.oracleAddr),
      oracleDomain(fx.chainId, await otherOracle.getAddress()),
      { ...fx.domain, version: "1" },
      { ...fx.domain, name: "FraudGame" },
    ];
    for (const domain of domains) {
      await expectRevert(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await batchSubmission(fx, ids, fx.signers[0]!, { domain }))), fx.oracle, "OracleUnknownSigner");
    }
    for (const id of ids) expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
  });

  it("test_submitBatch_tamperedItem_invalidatesWholeBatch", async () => {
    const fx = await fixture();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await request(fx)).id);
    const extra = (await request(fx)).id;
    const sub = await batchSubmission(fx, ids, fx.signers[0]!);
    const items = sub.items;
    const tampered = [
      items.map((it, i) => (i === 2 ? { ...it, outputHash: OTHER_OUTPUT_HASH } : it)), // one output changed
      items.map((it, i) => (i === 2 ? { ...it, requestId: extra } : it)), // one request swapped
      items.filter((_, i) => i !== 4), // one item dropped
      [items[2]!, items[1]!, items[0]!, ...items.slice(3)], // two items of different pairs swapped
      [...items, { ...items[0]!, requestId: extra }], // one item added
    ];
    for (const t of tampered) {
      await expectRevert(fx.oracle.connect(fx.relayer).submitBatch(...packBatch({ ...sub, items: t })), fx.oracle, "OracleUnknownSigner");
    }
    for (const id of [...ids, extra]) expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    expect((await fx.oracle.getWorker(fx.ops[0]!.address)).openResults).toBe(0n);
    // Sorted-pair hashing (OpenZeppelin MerkleProof) does not bind the order of the two leaves of a pair:
    // swapping them leaves the root, and every signed (requestId, outputHash), as they were. Harmless: the
    // same items are accepted or skipped on their own merits, only processed in another order.
    const swapped = [items[1]!, items[0]!, ...items.slice(2)];
    expect(await fx.oracle.connect(fx.relayer).submitBatch.staticCall(...packBatch({ ...sub, items: swapped }))).toBe(5n);
    // The untouched batch is accepted whole.
    const receipt = await submit(fx, sub);
    expect(submittedOf(receipt, fx.oracle)).toHaveLength(5);
  });

  it("test_submitBatch_replayAfterSlashAndReopen_skipped", async () => {
    const fx = await fixture();
    const id = (await request(fx)).id;
    const old = await submission(fx, id, fx.signers[0]!);
    const first = await submit(fx, old);
    const p0 = proofFromLogs(first.logs, fx.oracleAddr, id);
    await send(fx.oracle.connect(fx.challenger).challenge(id, p0.record, p0.proof, { value: PARAMS.challengeBond }));
    await send(fx.resolver.connect(fx.arbiter).rule(id, Ruling.WorkerFault));
    const reopened = await fx.oracle.getRequest(id);
    expect([reopened.status, reopened.attempt]).toEqual([BigInt(Status.Requested), 1n]);
    // Anyone replays the worker's old batch: skipped, the slashed worker is disqualified on the request ...
    await expectSkipped(fx.oracle.connect(fx.other).submitBatch(...packBatch(old)), fx.oracle, "OracleWorkerDisqualified");
    // ... also under a new signer key of the same operator.
    const fresh = (await import("../contracts/helpers.js")).signerWallet(7);
    await send(fx.oracle.connect(fx.ops[0]!).setSigner(fresh.address));
    await expectSkipped(fx.oracle.connect(fx.other).submitBatch(...packBatch(await submission(fx, id, fresh))), fx.oracle, "OracleWorkerDisqualified");
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Requested));
    // Another worker serves attempt 1; the overturned attempt-0 leaf (still in its committed root) names nothing.
    const second = await submit(fx, await submission(fx, id, fx.signers[1]!));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    await expectRevert(fx.oracle.settle({ requestId: id, record: p0.record, output: "0x", proof: p0.proof }), fx.oracle, "OracleResultRecordMismatch", [id]);
    const attempt0Leaf = keccak256(
      AbiCoder.defaultAbiCoder().encode(
        ["bytes32", "bytes32", "uint8", "address", "address", "bytes32"],
        [ACCEPTED_LEAF_TAG, id, 0, p0.record.worker, p0.record.relayer, p0.record.outputHash],
      ),
    );
    expect(await fx.oracle.isBatchRoot(attempt0Leaf)).toBe(true);
    const p1 = proofFromLogs(second.logs, fx.oracleAddr, id);
    expect(p1.attempt).toBe(1);
    await send(fx.oracle.settle({ requestId: id, record: p1.record, output: "0x", proof: p1.proof }));
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Fulfilled));
  });
});
