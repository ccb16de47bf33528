/**
 * protocol/batch.ts and batch-wire.ts: the result-batch tree, proofs, the packed items and the rebuild from
 * the batch records. The on-chain twin
 * (BatchMerkle, RequestBook.leaf) is checked against these in test/contracts (submit, request and
 * property tests); here the tree itself is checked exhaustively for small sizes.
 */
import { describe, it, expect } from "vitest";
import { AbiCoder, getAddress, keccak256, toUtf8Bytes } from "ethers";
import { BATCH_EVENTS, FLAG_OPTIMISTIC, ITEM_HEADER_BYTES, RESULT_LEAF_TAG, batchItemLeaf, batchProof, batchRoot, batchesFromLogs, decodeRecords, encodeRecords, hashPair, packItems, processProof, proofFromLogs, resultLeaf, submittedFromLogs, unpackItems, type LogLike } from "../../protocol/batch.js";
import { isError } from "../../protocol/errors.js";
import type { Hex } from "../../protocol/types.js";

const leafOf = (i: number) => keccak256(toUtf8Bytes(`leaf-${i}`)) as Hex;
const ORACLE = "0x00000000000000000000000000000000000000aa";
const WORKER = "0x00000000000000000000000000000000000000b1";
const RELAYER = "0x00000000000000000000000000000000000000c1";
const id = (i: number) => keccak256(toUtf8Bytes(`request-${i}`)) as Hex;
const record = { worker: WORKER, relayer: RELAYER, outputHash: keccak256(toUtf8Bytes("out")) };

/** A 71-byte record as PackedBatch.push writes it. */
function rec(i: number, attempt = 0, optimistic = true, time = 1000): string {
  const tail = new Uint8Array(7);
  tail[0] = Math.floor(time / 2 ** 32);
  new DataView(tail.buffer).setUint32(1, time % 2 ** 32);
  tail[5] = attempt;
  tail[6] = optimistic ? FLAG_OPTIMISTIC : 0;
  return id(i).slice(2) + record.outputHash.slice(2) + Buffer.from(tail).toString("hex");
}
/** One ResultBatchSubmitted of `records` under `acceptedRoot`. */
function batchLog(acceptedRoot: string, records: string[], address = ORACLE, items = records.length): LogLike {
  const { topics, data } = BATCH_EVENTS.encodeEventLog("ResultBatchSubmitted", [leafOf(99), WORKER, RELAYER, items, acceptedRoot, `0x${records.join("")}`]);
  return { address, topics, data };
}

describe("protocol/batch", () => {
  it("test_batchProof_everyLeafOfEverySize_reachesTheRoot", () => {
    for (let n = 1; n <= 17; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafOf(i));
      const root = batchRoot(leaves);
      if (n === 1) expect(root).toBe(leaves[0]);
      for (let i = 0; i < n; i++) {
        const proof = batchProof(leaves, i);
        expect(processProof(leaves[i]!, proof), `n=${n} i=${i}`).toBe(root);
        expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        // Another leaf's proof never leads there.
        if (n > 1) expect(processProof(leaves[i]!, batchProof(leaves, (i + 1) % n))).not.toBe(root);
      }
    }
  });

  it("test_hashPair_commutativeAndSorted", () => {
    const [a, b] = [leafOf(1), leafOf(2)];
    expect(hashPair(a, b)).toBe(hashPair(b, a));
    const [lo, hi] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
    expect(hashPair(a, b)).toBe(keccak256(`0x${lo.slice(2)}${hi.slice(2)}`));
  });

  it("test_batchesFromLogs_leavesAreOptimisticRecordsOfEachBatch", () => {
    // Batch 1: results 1, 2 (NONE: final at once, no leaf), 3 with attempt 1; batch 2: result 4 alone.
    const leaves1 = [resultLeaf(id(1), 0, record), resultLeaf(id(3), 1, record)];
    const root1 = batchRoot(leaves1);
    const root2 = resultLeaf(id(4), 0, record);
    const logs = [
      batchLog(leafOf(9), [rec(9)], "0x00000000000000000000000000000000000000ff"), // another contract
      batchLog(root1, [rec(1), rec(2, 0, false), rec(3, 1)], ORACLE, 4),
      batchLog(root2, [rec(4)]),
    ];
    const batches = batchesFromLogs(logs, ORACLE);
    expect(batches.map((b) => b.root)).toEqual([root1, root2]);
    expect(batches[0]!.items.map((x) => [x.requestId, x.attempt])).toEqual([[id(1), 0], [id(3), 1]]);
    const all = submittedFromLogs(logs, ORACLE);
    expect(all.map((r) => [r.requestId, r.optimistic, r.time, r.relayer])).toEqual([
      [id(1), true, 1000, getAddress(RELAYER)], [id(2), false, 1000, getAddress(RELAYER)], [id(3), true, 1000, getAddress(RELAYER)], [id(4), true, 1000, getAddress(RELAYER)],
    ]);
    const p = proofFromLogs(logs, ORACLE, id(3));
    expect(p.attempt).toBe(1);
    expect(processProof(p.leaf, p.proof)).toBe(root1);
    expect(proofFromLogs(logs, ORACLE, id(4)).proof).toEqual([]);
    let err: unknown;
    try {
      proofFromLogs(logs, ORACLE, id(2));
    } catch (e) {
      err = e;
    }
    expect(isError(err, "BATCH_PROOF_UNAVAILABLE")).toBe(true);
  });

  it("test_batchesFromLogs_rootThatDoesNotRebuild_throws", () => {
    expect(() => batchesFromLogs([batchLog(leafOf(0), [rec(1), rec(2)])], ORACLE)).toThrow(/do not rebuild/);
    expect(() => batchesFromLogs([batchLog(resultLeaf(id(1), 0, record), [rec(1), rec(2)])], ORACLE)).toThrow(/do not rebuild/);
  });

  it("test_decodeRecords_partialRecord_throws", () => {
    expect(() => decodeRecords(`0x${rec(1)}00`)).toThrow(/not whole/);
    expect(decodeRecords(`0x${rec(1, 7, true, 2 ** 39 + 5)}`)[0]).toMatchObject({ requestId: id(1), attempt: 7, flags: 1, time: 2 ** 39 + 5 });
    // encodeRecords writes what PackedBatch.push writes.
    const records = [{ requestId: id(1), outputHash: record.outputHash, time: 2 ** 39 + 5, attempt: 7, optimistic: true }, { requestId: id(2), outputHash: record.outputHash, time: 1000, attempt: 0, optimistic: false }];
    expect(encodeRecords(records)).toBe(`0x${rec(1, 7, true, 2 ** 39 + 5)}${rec(2, 0, false)}`);
  });

  it("test_packItems_roundTripsAndMatchesTheLayout", () => {
    const items = [
      { requestId: id(1), outputHash: record.outputHash, output: "0x", proof: "0x" },
      { requestId: id(2), outputHash: record.outputHash, output: `0x${"ab".repeat(70_000)}`, proof: "0x0102" },
    ];
    const packed = packItems(items);
    expect((packed.length - 2) / 2).toBe(2 * ITEM_HEADER_BYTES + 70_002);
    // The header's lengths are big-endian uint24s: 70,000 = 0x011170.
    expect(packed.slice(2 + 2 * (ITEM_HEADER_BYTES + 64), 2 + 2 * (ITEM_HEADER_BYTES + 70))).toBe("011170000002");
    expect(unpackItems(packed)).toEqual(items);
    expect(() => unpackItems(packed.slice(0, -2))).toThrow(/ends mid-item/);
    expect(() => unpackItems(packed.slice(0, 2 + 2 * 69))).toThrow(/ends mid-item/);
    expect(() => packItems([{ ...items[0]!, output: `0x${"00".repeat(2 ** 24)}` }])).toThrow(/longer than/);
  });
});

describe("the signed leaves and nodes, written without the ABI coder", () => {
  it("test_batchItemLeaf_andHashPair_equalTheirAbiAndBigIntDefinitions_inAnyCase", () => {
    const coder = AbiCoder.defaultAbiCoder();
    for (let i = 0; i < 64; i++) {
      const a = i % 3 === 0 ? (`0x${id(i).slice(2).toUpperCase()}` as Hex) : id(i);
      const b = leafOf(i);
      expect(batchItemLeaf(a, b)).toBe(keccak256(coder.encode(["bytes32", "bytes32", "bytes32"], [RESULT_LEAF_TAG, a, b])));
      const [lo, hi] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
      expect(hashPair(a, b)).toBe(keccak256(`0x${lo.slice(2)}${hi.slice(2)}`));
      expect(hashPair(b, a)).toBe(hashPair(a, b));
    }
    // Not two 32-byte words: the ABI coder's own error, as before.
    expect(() => batchItemLeaf("0x1234", leafOf(0))).toThrow();
  });
});
