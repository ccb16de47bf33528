/**
 * FraudGame's leaf proofs (docs/V2.md §5) with the real StepVerifier on the real PP-OCR cls program run canonically:
 * - a cheater who flips one element of a map step is caught by proveStep (its operands proven against the input,
 *   weightsRoot and the worker's traceRoot); proving an honest element fails and costs only the prover;
 * - a cheater whose reduce element rests on a wrong partial state is caught: the element attack reveals the
 *   partial-state tree, the descent finds the first false state, proveFold recomputes it;
 * - a cheater who answers an element attack with a last state that does not finalize to its element is refused,
 *   and loses by timeout;
 * - a trace tensor with the wrong header is caught by proveHeader;
 * - a signed output beyond τ_out is recorded, not ruled: resolve gives OutputMinor (beyond τ_major: WorkerFault),
 *   and a false step proven afterwards still rules WorkerFault at once.
 * Prints the gas of each leaf proof.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, encodePartial, finalizeReduce, partialStates, reduceTerms, type Step } from "../../canonical/index.js";
import { merklePath, sha256, bytesToHex, encodeTensor, type Tensor } from "../../protocol/index.js";
import { chunkProofOf as chunkProof, operandProofsOf, programPathOf, readerOf as readerOfWorld } from "./game-proof-helpers.js";
import { expectRevert } from "../contracts/helpers.js";
import {
  clsWorld, commit, deployGame, descend, levelsOf, MOVE_CLOCK, openDispute, RESPONSE_TIME, RULING, TraceBook, TREE, withElement,
  type ClsWorld, type Connection, type GameFx, type Pos,
} from "./game-fixture.js";

let conn: Connection;
let world: ClsWorld;
let fx: GameFx;
let verifier: any;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
  fx = await deployGame(conn, world);
  verifier = fx.verifier.contract;
  expect(fx.verifier.real).toBe(true);
});

const ruling = async (requestId: string) => Number((await fx.oracle.disputes(requestId)).ruling);
const gasLog: Record<string, bigint> = {};
const note = (what: string, g: bigint) => {
  if (gasLog[what] === undefined || g > gasLog[what]!) gasLog[what] = g;
};

const programPath = (j: number) => programPathOf(world, j);
const operandProofs = (step: Step, reads: { operand: bigint; index: bigint }[], book: TraceBook) => operandProofsOf(world, step, reads, book);

function firstStep(pred: (s: Step) => boolean, from = 1): Step {
  const s = world.program.steps.find((x) => x.index >= from && pred(x));
  if (!s) throw new Error("no such step");
  return s;
}

const readerOf = (book: TraceBook, step: Step) => readerOfWorld(world, book, step);

/** A cheater whose element e of reduce step `step` rests on a false state T (then folded on honestly), caught. */
async function caughtFold(step: Step, e: number, T: number, checkRefusals: boolean) {
  const j = step.index;
  const r = reduceTerms(step, readerOf(world.honest, step), e, "fp32");
  const K = r.terms.length;
  const honestStates = partialStates(r);
  // The cheater adds 1 to the state after T terms, folds on from there, and claims what that finalizes to.
  const fake = honestStates.map((s) => ({ ...s }));
  fake[T]!.acc = honestStates[T]!.acc + 1;
  for (let t = T; t < K; t++) fake[t + 1]!.acc = fake[t]!.acc + r.terms[t]!;
  const claimedValue = finalizeReduce(step, r, fake[K]!.acc, "fp32");
  const cheatT = withElement(world.honest.tensors[j]!, e, claimedValue);
  const cheat = new TraceBook(world.honest.tensors.map((t, i) => (i === j ? cheatT : t)));
  const { requestId } = await openDispute(fx, world, cheat.tensors[cheat.n - 1]!);
  await commit(fx, requestId, cheat);
  await descend(fx, requestId, cheat, j, 0);
  const enc = encodeStep(step);
  const atk = await (await fx.game.connect(fx.challenger).attackElement(requestId, j, e, enc, programPath(j))).wait();
  note("attackElement", atk.gasUsed);
  const leaves = fake.map((s) => sha256(Buffer.from([0]), encodePartial(s)));
  const levels = levelsOf(leaves);
  const hp = levels.length - 1;
  const chunk = cheat.chunk(j, 0);
  // A last state that does not finalize to the claimed element is refused.
  const honestLeaves = honestStates.map((s) => sha256(Buffer.from([0]), encodePartial(s)));
  const honestLevels = levelsOf(honestLeaves);
  if (checkRefusals) await expectRevert(
    fx.game.answerElement(requestId, j, e, enc, chunk, bytesToHex(honestLevels[hp]![0]!), bytesToHex(encodePartial(honestStates[K]!)), merklePath(honestLeaves, K).map(bytesToHex)),
    fx.game,
    "FraudGameBadProof",
    [7n],
  );
  const ans = await (await fx.game.answerElement(requestId, j, e, enc, chunk, bytesToHex(levels[hp]![0]!), bytesToHex(encodePartial(fake[K]!)), merklePath(leaves, K).map(bytesToHex))).wait();
  note(`answerElement (K = ${K})`, ans.gasUsed);
  // Descent in the partial tree toward leaf T (the leftmost differing state).
  for (let h = hp; h > 0; h--) {
    const pos: Pos = { tree: TREE.PARTIAL, step: j, element: BigInt(e), height: h, index: BigInt(T >> h) };
    await fx.game.connect(fx.challenger).attack(requestId, pos);
    const i = T >> h;
    const rc = await (await fx.game.answerNode(requestId, pos, bytesToHex(levels[h - 1]![2 * i]!), bytesToHex(levels[h - 1]![2 * i + 1] ?? Buffer.alloc(32)))).wait();
    note("answerNode (partial)", rc.gasUsed);
  }
  if (checkRefusals) await expectRevert(fx.game.connect(fx.challenger).attack(requestId, { tree: TREE.PARTIAL, step: j, element: BigInt(e), height: 0, index: BigInt(T) }), fx.game, "FraudGameBadPosition", [1n]);
  // Leaf T−1's path: the challenger's own leaves below the split (they match), the revealed nodes above.
  const termReads = [...(await verifier.termReads(enc, e, T - 1))].map((x: any) => ({ operand: x.operand, index: x.index }));
  const ops = operandProofs(step, termReads, cheat);
  const prevPath = merklePath(honestLeaves.slice(0, T).concat(leaves.slice(T)), T - 1).map(bytesToHex);
  if (checkRefusals) {
    // Proving an honest state (T − 1 from T − 2) fails.
    const reads2 = [...(await verifier.termReads(enc, e, T - 2))].map((x: any) => ({ operand: x.operand, index: x.index }));
    await expectRevert(
      fx.game.connect(fx.challenger).proveFold(requestId, j, e, enc, T - 1, bytesToHex(encodePartial(fake[T - 2]!)), merklePath(leaves, T - 2).map(bytesToHex), bytesToHex(leaves[T - 1]!), merklePath(leaves, T - 1).map(bytesToHex), operandProofs(step, reads2, cheat)),
      fx.game,
      "FraudGameNoFault",
    );
  }
  const rc = await (
    await fx.game.connect(fx.challenger).proveFold(requestId, j, e, enc, T, bytesToHex(encodePartial(fake[T - 1]!)), prevPath, bytesToHex(leaves[T]!), merklePath(leaves, T).map(bytesToHex), ops)
  ).wait();
  note(`proveFold (${step.op}, ${termReads.length} reads)`, rc.gasUsed);
  expect(await ruling(requestId)).toBe(RULING.WorkerFault);
}

describe("FraudGame leaf proofs", () => {
  it("test_proveStep_flippedMapElement_rulesWorkerFault; an honest element is NoFault", async () => {
    const step = firstStep((s) => s.kind === "map" && s.output.dtype === "float32", 2);
    const j = step.index;
    const e = 7;
    const honestT = world.honest.tensors[j]!;
    const cheat = new TraceBook(world.honest.tensors.map((t, i) => (i === j ? withElement(honestT, e, (honestT.data as Float32Array)[e]! + 0.25) : t)));
    const { requestId } = await openDispute(fx, world, cheat.tensors[cheat.n - 1]!);
    await commit(fx, requestId, cheat);
    // The challenger descends to the chunk (the worker reveals its bytes), then proves the element.
    await descend(fx, requestId, cheat, j, 0);
    const enc = encodeStep(step);
    // A map element has no partial states: attacking it is refused (an honest worker would have nothing to answer).
    await expectRevert(fx.game.connect(fx.challenger).attackElement(requestId, j, e, enc, programPath(j)), fx.game, "FraudGameNotReduce", [BigInt(j)]);
    // A step encoding that is not the committed step j is refused.
    await expectRevert(fx.game.connect(fx.challenger).attackElement(requestId, j, e, encodeStep(world.program.steps[j + 1]!), programPath(j)), fx.game, "FraudGameBadProof", [10n]);
    const reads = [...(await verifier.reads(enc, e))].map((r: any) => ({ operand: r.operand, index: r.index }));
    const ops = operandProofs(step, reads, cheat);
    const claimedHonest = chunkProof(encodeTensor(cheat.tensors[j]!), 8, cheat.manifestPath(j));
    await expectRevert(fx.game.connect(fx.challenger).proveStep(requestId, j, 8, enc, programPath(j), claimedHonest, operandProofs(step, [...(await verifier.reads(enc, 8))].map((r: any) => ({ operand: r.operand, index: r.index })), cheat)), fx.game, "FraudGameNoFault");
    // Not a joiner: refused.
    const claimed = chunkProof(encodeTensor(cheat.tensors[j]!), e, cheat.manifestPath(j));
    await expectRevert(fx.game.connect(fx.outsider).proveStep(requestId, j, e, enc, programPath(j), claimed, ops), fx.game, "FraudGameNotChallenger");
    const rc = await (await fx.game.connect(fx.challenger).proveStep(requestId, j, e, enc, programPath(j), claimed, ops)).wait();
    note(`proveStep (${step.op}, ${reads.length} reads)`, rc.gasUsed);
    expect(await ruling(requestId)).toBe(RULING.WorkerFault);
  });

  it("test_proveFold_wrongPartialState_rulesWorkerFault after the element attack and the partial descent", async () => {
    await caughtFold(firstStep((s) => s.kind === "reduce" && s.op === "conv"), 3, 3, true);
  });

  it("test_proveFold_largestK_lastState: the deepest partial descent of cls (K = 1152, the last state false)", async () => {
    let best = world.program.steps[0]!;
    let bestK = 0;
    for (const s of world.program.steps) {
      if (s.kind !== "reduce") continue;
      const k = reduceTerms(s, readerOf(world.honest, s), 0, "fp32").terms.length;
      if (k > bestK) [best, bestK] = [s, k];
    }
    await caughtFold(best, 1, bestK, false);
  });

  it("test_proveHeader_wrongShape_rulesWorkerFault", async () => {
    const j = 5;
    const t = world.honest.tensors[j]!;
    const shape = [...t.shape];
    shape.reverse();
    const cheat = new TraceBook(world.honest.tensors.map((x, i) => (i === j ? { ...t, shape } : x)));
    const { requestId } = await openDispute(fx, world, cheat.tensors[cheat.n - 1]!);
    await commit(fx, requestId, cheat);
    const enc = encodeStep(world.program.steps[j]!);
    await expectRevert(
      fx.game.connect(fx.challenger).proveHeader(requestId, j + 1, world.honest.headers[j + 1]!, bytesToHex(world.honest.dataRoot(j + 1)), cheat.manifestPath(j + 1), encodeStep(world.program.steps[j + 1]!), programPath(j + 1)),
      fx.game,
      "FraudGameNoFault",
    );
    const rc = await (await fx.game.connect(fx.challenger).proveHeader(requestId, j, cheat.headers[j]!, bytesToHex(cheat.dataRoot(j)), cheat.manifestPath(j), enc, programPath(j))).wait();
    note("proveHeader", rc.gasUsed);
    expect(await ruling(requestId)).toBe(RULING.WorkerFault);
  });

  it("test_proveOutput_beyondTauOut_recordsThenResolvesOutputMinor; beyond τ_major → WorkerFault; a false step still rules at once", async () => {
    const final = world.honest.tensors[world.honest.n - 1]!;
    const last = world.program.steps[world.program.steps.length - 1]!;
    const enc = encodeStep(last);
    const n = world.honest.n;
    const signedFrom = (delta: number): Tensor => withElement(final, 0, (final.data as Float32Array)[0]! + delta);
    const prove = (requestId: string, signed: Tensor) =>
      fx.game.connect(fx.challenger).proveOutput(requestId, 0, chunkProof(encodeTensor(signed), 0, []), chunkProof(encodeTensor(final), 0, []), enc, programPath(n - 1));

    // Minor: recorded, then resolve → OutputMinor.
    const minor = signedFrom(0.005);
    const a = await openDispute(fx, world, minor);
    await commit(fx, a.requestId, world.honest);
    await expectRevert(prove(a.requestId, final), fx.game, "FraudGameBadProof", [20n]);
    const rc = await (await prove(a.requestId, minor)).wait();
    note("proveOutput", rc.gasUsed);
    expect(Number((await fx.game.game(a.requestId)).toleranceFault)).toBe(1);
    await expectRevert(prove(a.requestId, minor), fx.game, "FraudGameNoFault");
    await expectRevert(fx.game.resolve(a.requestId), fx.game, "FraudGameNotEnded");
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    await fx.game.resolve(a.requestId);
    expect(await ruling(a.requestId)).toBe(RULING.OutputMinor);

    // Major: beyond τ_major → WorkerFault at the end.
    const major = signedFrom(0.5);
    const b = await openDispute(fx, world, major);
    await commit(fx, b.requestId, world.honest);
    await prove(b.requestId, major);
    expect(Number((await fx.game.game(b.requestId)).toleranceFault)).toBe(2);
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    await fx.game.resolve(b.requestId);
    expect(await ruling(b.requestId)).toBe(RULING.WorkerFault);

    // A cheater with a false step whose output is only slightly off: the minor record does not shield it.
    const step = world.program.steps.find((s) => s.kind === "map" && s.output.dtype === "float32" && s.index > 2)!;
    const j = step.index;
    const ht = world.honest.tensors[j]!;
    const cheat = new TraceBook(world.honest.tensors.map((t, i) => (i === j ? withElement(ht, 0, (ht.data as Float32Array)[0]! - 1) : t)));
    const c = await openDispute(fx, world, minor);
    await commit(fx, c.requestId, cheat);
    await fx.game.connect(fx.challenger).proveOutput(c.requestId, 0, chunkProof(encodeTensor(minor), 0, []), chunkProof(encodeTensor(cheat.tensors[n - 1]!), 0, []), enc, programPath(n - 1));
    const reads = [...(await verifier.reads(encodeStep(step), 0))].map((r: any) => ({ operand: r.operand, index: r.index }));
    await fx.game.connect(fx.challenger).proveStep(c.requestId, j, 0, encodeStep(step), programPath(j), chunkProof(encodeTensor(cheat.tensors[j]!), 0, cheat.manifestPath(j)), operandProofs(step, reads, cheat));
    expect(await ruling(c.requestId)).toBe(RULING.WorkerFault);
  });

  it("test_answerElement_silentOrInconsistentCheater_losesByTimeout", async () => {
    const step = firstStep((s) => s.kind === "reduce" && s.op === "conv");
    const j = step.index;
    const { requestId } = await openDispute(fx, world, world.honest.tensors[world.honest.n - 1]!);
    await commit(fx, requestId, world.honest);
    await descend(fx, requestId, world.honest, j, 0);
    // An element whose chunk was never revealed (chunk 1) cannot be attacked; nor one of an unrevealed tensor.
    await expectRevert(fx.game.connect(fx.challenger).attackElement(requestId, j, 256, encodeStep(step), programPath(j)), fx.game, "FraudGameBadPosition", [4n]);
    await expectRevert(fx.game.connect(fx.challenger).attackElement(requestId, j - 1, 0, encodeStep(world.program.steps[j - 1]!), programPath(j - 1)), fx.game, "FraudGameBadPosition", [3n]);
    await fx.game.connect(fx.challenger).attackElement(requestId, j, 0, encodeStep(step), programPath(j));
    await conn.networkHelpers.time.increase(RESPONSE_TIME + 1);
    await fx.game.timeout(requestId, { tree: TREE.ELEMENT, step: j, element: 0n, height: 0, index: 0n });
    expect(await ruling(requestId)).toBe(RULING.WorkerFault);
    console.log("FraudGame leaf-proof gas (cls, worst seen):", Object.entries(gasLog).map(([k, v]) => `${k} ${v}`).join(", "));
    for (const g of Object.values(gasLog)) expect(g).toBeLessThan(2_000_000n);
  });
});

