/**
 * protocol/batch.ts: the result-batch tree, proofs and the rebuild from logs. The on-chain twin
 * (BatchMerkle, RequestBook.leaf) is checked against these in test/contracts (submit, request and
 * property tests); here the tree itself is checked exhaustively for small sizes.
 */
import { describe, it, expect } from "vitest";
import { Interface, keccak256, toUtf8Bytes } from "ethers";
import { batchProof, batchRoot, batchesFromLogs, hashPair, processProof, proofFromLogs, resultLeaf, type LogLike } from "../../protocol/batch.js";
import { isError } from "../../protocol/errors.js";
import type { Hex } from "../../protocol/types.js";

const leafOf = (i: number) => keccak256(toUtf8Bytes(`leaf-${i}`)) as Hex;
const ORACLE = "0x00000000000000000000000000000000000000aa";
const iface = new Interface([
  "event ResultSubmitted(bytes32 indexed requestId, address worker, address relayer, bytes32 outputHash, uint64 challengeDeadline, uint8 attempt)",
  "event RequestFulfilled(bytes32 indexed requestId, bytes32 outputHash, bool callbackSucceeded, bool outputDelivered)",
  "event BatchCommitted(bytes32 indexed root, uint256 count)",
]);
const WORKER = "0x00000000000000000000000000000000000000b1";
const RELAYER = "0x00000000000000000000000000000000000000c1";
const id = (i: number) => keccak256(toUtf8Bytes(`request-${i}`)) as Hex;
const record = { worker: WORKER, relayer: RELAYER, outputHash: keccak256(toUtf8Bytes("out")) };

function log(name: string, args: unknown[], address = ORACLE): LogLike {
  const { topics, data } = iface.encodeEventLog(name, args);
  return { address, topics, data };
}
const submitted = (i: number, attempt = 0) => log("ResultSubmitted", [id(i), WORKER, RELAYER, record.outputHash, 1000, attempt]);

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

  it("test_batchesFromLogs_leavesAreOptimisticResultsOfEachCall", () => {
    // Call 1: results 1, 2 (NONE: fulfilled at once), 3 with attempt 1; call 2: result 4 alone.
    const leaves1 = [resultLeaf(id(1), 0, record), resultLeaf(id(3), 1, record)];
    const root1 = batchRoot(leaves1);
    const root2 = resultLeaf(id(4), 0, record);
    const logs = [
      submitted(1),
      submitted(2),
      log("RequestFulfilled", [id(2), record.outputHash, true, false]),
      log("BatchCommitted", [id(9), 1], "0x00000000000000000000000000000000000000ff"), // another contract
      submitted(3, 1),
      log("BatchCommitted", [root1, 2]),
      submitted(4),
      log("BatchCommitted", [root2, 1]),
    ];
    const batches = batchesFromLogs(logs, ORACLE);
    expect(batches.map((b) => b.root)).toEqual([root1, root2]);
    expect(batches[0]!.items.map((x) => [x.requestId, x.attempt])).toEqual([[id(1), 0], [id(3), 1]]);
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
    const logs = [submitted(1), submitted(2), log("BatchCommitted", [leafOf(0), 2])];
    expect(() => batchesFromLogs(logs, ORACLE)).toThrow(/do not rebuild/);
    const short = [submitted(1), log("BatchCommitted", [resultLeaf(id(1), 0, record), 2])];
    expect(() => batchesFromLogs(short, ORACLE)).toThrow(/do not rebuild/);
  });
});
