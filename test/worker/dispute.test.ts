/**
 * The worker's dispute responder (worker/dispute.ts): the TraceCommitment payload from the cached
 * input, and answers that carry a challenger's descent to a leaf proof that holds for the worker.
 */
import { describe, expect, it } from "vitest";
import { checkFinding, descend, CanonicalTrace } from "../../canonical/index.js";
import { fromHex, rootFromPath, hashTensor, type Hex } from "../../protocol/index.js";
import { answerReveal, claimsFrom, prepareDispute } from "../../worker/dispute.js";
import { cls, clsInput, editTensor, leafContext, ResponderTrace } from "../canonical/trace-fixtures.js";

const REQUEST = `0x${"ab".repeat(32)}` as Hex;

describe("worker dispute responder", () => {
  const program = cls();
  const input = clsInput("Worker responder");

  it("test_prepareDispute_cls_commitmentBindsFinalHashAsLeafNMinus1", () => {
    const r = prepareDispute({ program, input, precision: "fp32", requestId: REQUEST, attempt: 1, inputHash: hashTensor(input) });
    const n = program.steps.length;
    expect(r.commitment).toMatchObject({ requestId: REQUEST, attempt: 1, stepCount: n });
    expect(r.commitment.finalHash).toBe(hashTensor(r.trace.tensor(n - 1)));
    expect(rootFromPath(fromHex(r.commitment.finalHash), n - 1, r.commitment.finalPath.map(fromHex)).equals(fromHex(r.commitment.traceRoot))).toBe(true);
    // A wrong final hash does not verify at leaf n−1.
    expect(rootFromPath(fromHex(hashTensor(r.trace.tensor(n - 2))), n - 1, r.commitment.finalPath.map(fromHex)).equals(fromHex(r.commitment.traceRoot))).toBe(false);
  });

  it("test_prepareDispute_inputNotTheRequests_refused", () => {
    expect(() => prepareDispute({ program, input, precision: "fp32", requestId: REQUEST, attempt: 0, inputHash: hashTensor(clsInput("other")) })).toThrow(/inputHash/);
  });

  it("test_answers_challengerWithWrongTraceDescendsThroughRevealRequests_workerHolds", async () => {
    const worker = prepareDispute({ program, input, precision: "fp32", requestId: REQUEST, attempt: 0 });
    const asked: string[] = [];
    const claims = claimsFrom(worker.commitment, (req) => {
      asked.push(req.kind);
      return worker.answer(req);
    });
    // A challenger whose trace is wrong at one conv element (its own run is faulty), its fold ending there.
    const conv = program.steps.find((s) => s.op === "conv" && s.index > 30)!;
    const e = 3;
    const states = worker.trace.partial(conv.index, e).states.slice();
    states[states.length - 1] = states[states.length - 1]! + 1;
    const challenger = new ResponderTrace(program, input, editTensor(worker.trace.tensors, conv.index, (d) => (d[e] = Math.fround(states[states.length - 1]!))));
    challenger.setPartialStates(conv.index, e, states);
    const { finding } = await descend(challenger, claims);
    expect(finding.kind).toBe("partial");
    expect(asked).toContain("partialOpening");
    const verdict = checkFinding(finding, program, leafContext(program, input, worker.commitment.traceRoot));
    expect(verdict).toMatchObject({ valid: true, fault: false });
    // Without a matching fold, its partial root equals the worker's: the descent says the worker holds.
    const plain = new ResponderTrace(program, input, editTensor(worker.trace.tensors, conv.index, (d) => (d[e] = d[e]! + 1)));
    expect((await descend(plain, claims)).finding).toEqual({ kind: "workerHolds", at: `step ${conv.index} element ${e} partial root` });
  });

  it("test_answerReveal_partialOpeningOfAMapStep_refused", () => {
    const trace = CanonicalTrace.build(program, input);
    const map = program.steps.find((s) => s.kind === "map")!;
    expect(() => answerReveal(trace, { kind: "partialOpening", step: map.index, element: 0 })).toThrow(/not a reduce step/);
    const conv = program.steps.find((s) => s.op === "conv")!;
    expect(() => answerReveal(trace, { kind: "partialNode", step: conv.index, element: 1e9, depth: 0, index: 0 })).toThrow(/out of/);
  });
});
