/** Leaf-proof builders for the FraudGame tests: one element of an encoded tensor with its chunk proof (IFraudGame.TensorChunkProof). */
import { expect } from "vitest";
import { CHUNK_BYTES, chunkLeaves, merklePath, bytesToHex, weightLeaves, DTYPES, encodeTensor, sha256 } from "../../protocol/index.js";
import { checkFinding, descend as descendTrace, encodePartial, encodeStep, partialStates, reduceTerms, stepLeaf, CanonicalTrace, type Finding, type PartialState, type Step } from "../../canonical/index.js";
import { editTensor, leafContext, ResponderTrace } from "../canonical/trace-fixtures.js";
import { commit, descend, levelsOf, openDispute, TraceBook, TREE, withElement, type ClsWorld, type GameFx, type Pos } from "./game-fixture.js";

/** A TensorChunkProof of element `index` of an encoded tensor, with the tensor's root path (`[]` when the game knows its hash). */
export function chunkProofOf(encoded: Buffer, index: number, rootPath: string[]) {
  const headerLen = 8 + 4 * encoded[6]!;
  const data = encoded.subarray(headerLen);
  const size = Object.values(DTYPES).find((d) => d.code === encoded[5])!.size;
  const c = Math.floor((index * size) / CHUNK_BYTES);
  const leaves = chunkLeaves(data);
  const levels = levelsOf(leaves);
  return {
    header: encoded.subarray(0, headerLen),
    dataRoot: bytesToHex(levels[levels.length - 1]![0]!),
    rootPath,
    chunk: data.subarray(c * CHUNK_BYTES, Math.min((c + 1) * CHUNK_BYTES, data.length)),
    chunkPath: merklePath(leaves, c).map(bytesToHex),
  };
}

/** Step j's programRoot path. */
export function programPathOf(world: ClsWorld, j: number): string[] {
  return merklePath(world.program.steps.map(stepLeaf), j).map(bytesToHex);
}

/** Proofs of the operand values `reads` names (IStepVerifier.Read), from the worker's trace `book`. */
export function operandProofsOf(world: ClsWorld, step: Step, reads: readonly { operand: bigint | number; index: bigint | number }[], book: TraceBook) {
  const wLeaves = weightLeaves(world.program.weights);
  return reads.map((r) => {
    const op = step.operands[Number(r.operand)]!;
    if (op.source === "input") return chunkProofOf(encodeTensor(world.input), Number(r.index), []);
    if (op.source === "weight") return chunkProofOf(encodeTensor(world.program.weights[op.index]!.tensor), Number(r.index), merklePath(wLeaves, op.index).map(bytesToHex));
    return chunkProofOf(encodeTensor(book.tensors[op.index]!), Number(r.index), book.manifestPath(op.index));
  });
}

/** canonical/element.ts's OperandReader over the model input, the weights and the trace `book`. */
export const readerOf = (world: ClsWorld, book: TraceBook, step: Step) => (k: number) => {
  const op = step.operands[k]!;
  if (op.source === "input") return world.input.data as Float32Array;
  if (op.source === "weight") return world.program.weights[op.index]!.tensor.data as Float32Array;
  return book.tensors[op.index]!.data as Float32Array;
};

/**
 * The worker answers the element attack on (step j, element e) with the partial-state tree of `states` (its last
 * state must finalize to the element in chunk 0 of the worker's `book`), and the challenger descends that tree to
 * leaf K, the worker answering each node. Returns the tree's leaves (what proveFold's paths are built from).
 */
export async function revealAndDescendPartial(fx: GameFx, requestId: string, book: TraceBook, j: number, e: number, enc: Buffer, states: PartialState[]): Promise<Buffer[]> {
  const K = states.length - 1;
  const leaves = states.map((s) => sha256(Buffer.from([0]), encodePartial(s)));
  const levels = levelsOf(leaves);
  const hp = levels.length - 1;
  await fx.game.answerElement(requestId, j, e, enc, book.chunk(j, 0), bytesToHex(levels[hp]![0]!), bytesToHex(encodePartial(states[K]!)), merklePath(leaves, K).map(bytesToHex));
  for (let h = hp; h > 0; h--) {
    const pos: Pos = { tree: TREE.PARTIAL, step: j, element: BigInt(e), height: h, index: BigInt(K >> h) };
    await fx.game.connect(fx.challenger).attack(requestId, pos);
    const i = K >> h;
    await fx.game.answerNode(requestId, pos, bytesToHex(levels[h - 1]![2 * i]!), bytesToHex(levels[h - 1]![2 * i + 1] ?? Buffer.alloc(32)));
  }
  return leaves;
}

/** The float32 `x` with its lowest mantissa bit flipped: a one-bit lie. */
export function flipLowBit(x: number): number {
  const bits = new Uint32Array(Float32Array.of(x).buffer);
  bits[0] = bits[0]! ^ 1;
  return new Float32Array(bits.buffer)[0]!;
}

/**
 * A cheater whose trace holds `claimed` at element e of `step` (the rest honest): the dispute opened on its
 * output, its trace committed and descended to the step's chunk 0, and element e attacked by the challenger.
 */
export async function attackClaimedElement(fx: GameFx, world: ClsWorld, step: Step, e: number, claimed: number): Promise<{ requestId: string; cheat: TraceBook; enc: Buffer }> {
  const j = step.index;
  const cheat = new TraceBook(world.honest.tensors.map((t, i) => (i === j ? withElement(t, e, claimed) : t)));
  const { requestId } = await openDispute(fx, world, cheat.tensors[cheat.n - 1]!);
  await commit(fx, requestId, cheat);
  await descend(fx, requestId, cheat, j, 0);
  const enc = encodeStep(step);
  await fx.game.connect(fx.challenger).attackElement(requestId, j, e, enc, programPathOf(world, j));
  return { requestId, cheat, enc };
}

/**
 * Off-chain (canonical/descent.ts) against a worker whose element e of `step` is one bit off and whose partial
 * states are honest but the last, `last(claimed, count)`: the finding is that last state, reading `reads`
 * operands, and checkFinding rules it a fault.
 */
export async function expectLastPartialStatePinpointed(world: ClsWorld, step: Step, e: number, last: (claimed: number, count: number) => number, reads: number): Promise<void> {
  const j = step.index;
  const mine = CanonicalTrace.build(world.program, world.input);
  const r = reduceTerms(step, readerOf(world, world.honest, step), e, "fp32");
  const tensors = editTensor(mine.tensors, j, (d) => {
    const u = new Uint32Array(d.buffer);
    u[e] = u[e]! ^ 1;
  });
  const claimed = (tensors[j]!.data as Float32Array)[e]!;
  const worker = new ResponderTrace(world.program, world.input, tensors);
  const states = Float64Array.from(partialStates(r), (st) => st.acc);
  states[r.terms.length] = last(claimed, r.count);
  worker.setPartialStates(j, e, states, "sum", r.count);
  const found = await descendTrace(mine, worker);
  expect(found.finding.kind).toBe("partial");
  const f = found.finding as Extract<Finding, { kind: "partial" }>;
  expect([f.claim.step, f.claim.element, f.t]).toEqual([j, e, r.terms.length]);
  expect(f.reads).toHaveLength(reads);
  expect(checkFinding(f, world.program, leafContext(world.program, world.input, worker.traceRoot))).toMatchObject({ valid: true, fault: true });
}
