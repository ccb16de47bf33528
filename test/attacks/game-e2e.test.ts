/**
 * Issue 11 end to end: the challenger's client (protocol/fraud-game-client.ts GameChallenger) plays the whole
 * descent against the worker's client (GameWorker) on the real InferenceOracle + FraudGame + StepVerifier, with
 * the PP-OCR cls model's canonical terms registered, both clients running at once and talking only through the
 * chain (attacks, answers, events):
 * - a worker that signed a wrong output with a trace holding a flipped element in a middle step is caught by the
 *   descent and a leaf proof: WorkerFault (slash, burn share, the joiner paid via claimDispute);
 * - an honest trace but a signed output beyond τ_out (within τ_major): the tolerance proof, OutputMinor;
 * - a worker that commits and then goes silent, and one that never commits: timeout, WorkerFault;
 * - an honest worker facing a lying challenger (its own trace wrong) answers every attack and wins: WorkerRight.
 * - a worker whose reduce element rests on a false partial state at an interior leaf t0 (or a false init, t0 = 0),
 *   every later state folded on consistently and the rest of its trace recomputed from the forged element: the
 *   challenger finds leaf t0 and proves it with proveFold by the leaf's hash: WorkerFault. A lying challenger's
 *   proveFold against an honest partial tree (an interior leaf, the init, the last leaf) reverts FraudGameNoFault.
 * Prints rounds, calldata bytes and gas per move; the unchallenged result carries zero trace bytes.
 * The daemons' game pieces (FraudGameAnswerer, playGameDispute, ChallengerDaemon): game-e2e-daemons.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Finding, CanonicalTrace, descend, finalizeReduce, foldPartials, reduceTerms, encodeStep, type Program, partialKindOf, initReads, termReads, partialTreeOf, type PartialTree } from "../../canonical/index.js";
import { GAME_RULING } from "../../protocol/fraud-game-client.js";
import { hashTensor, type Tensor, bytesToHex } from "../../protocol/index.js";
import { prepareDispute, responderFor } from "../../worker/index.js";
import { operandProofsOf } from "./game-proof-helpers.js";
import { expectRevert, PARAMS, Ruling, send, Status } from "../contracts/helpers.js";
import { TraceBook, withElement, type ClsWorld } from "./game-fixture.js";
import { clients, disputed, flipped, gameE2eWorld, middleMapStep, report, setup } from "./game-e2e-fixture.js";
import { runStep } from "./drift-helpers.js";

let world: ClsWorld;
let honest: CanonicalTrace;
beforeAll(async () => {
  ({ world, honest } = await gameE2eWorld());
});

describe("FraudGame driven by the worker and challenger clients", () => {
  it("test_e2e_cheater_wrongOutputAndFlippedStep_descentAndLeafProof_WorkerFault", async () => {
    const { fx, gameAddr } = await setup();
    const { j, e } = middleMapStep();
    // The cheater's trace: one element of a middle step flipped, and the final tensor (what it signed) wrong too.
    const n = honest.stepCount;
    const cheat = flipped(flipped(honest, j, e, 1), n - 1, 0, 0.5);
    const signed = cheat.tensor(n - 1);
    const { id, submitBytes } = await disputed(fx, signed);
    const op = fx.ops[0]!.address;
    const stakeBefore = (await fx.oracle.getWorker(op)).stake;
    const burnedBefore = await fx.oracle.totalBurned();
    const { worker, challenger, moves } = clients(fx, gameAddr);
    const t0 = Date.now();
    const responder = responderFor(cheat, id, 0);
    const [wRuling, play] = await Promise.all([worker.respond(responder), challenger.play(id, honest, signed)]);
    const ms = Date.now() - t0;
    expect(play.outcome).toBe("leafProof");
    expect(play.descent!.finding.kind).toBe("element");
    const f = play.descent!.finding as Extract<Finding, { kind: "element" }>;
    expect([f.claim.step, f.claim.element]).toEqual([j, e]);
    expect(play.ruling).toBe(GAME_RULING.WorkerFault);
    expect(wRuling).toBe(GAME_RULING.WorkerFault);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    // Slashed, a share burned, the request reopened, the joiner paid through claimDispute.
    expect((await fx.oracle.getWorker(op)).stake).toBeLessThan(stakeBefore);
    expect(await fx.oracle.totalBurned()).toBeGreaterThan(burnedBefore);
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Requested));
    await send(fx.oracle.connect(fx.challenger).claimDispute(id, 0));
    expect(await fx.oracle.balanceOf(fx.challenger.address)).toBeGreaterThan(PARAMS.challengeBond);
    // Every attack was answered by the worker's client; the proof is the challenger's last move.
    expect(moves.filter((m) => m.role === "challenger" && m.move.startsWith("attack")).length).toBe(moves.filter((m) => m.role === "worker" && m.move.startsWith("answer")).length);
    expect(moves[moves.length - 1]!.move).toBe("proveStep");
    expect(moves.some((m) => m.move === "attack(data@1)")).toBe(true);
    const { total } = report(`cheater (step ${j} of ${n}, element ${e})`, moves, play.descent!.rounds, ms);
    for (const m of moves) expect(m.gas).toBeLessThan(3_000_000n);
    expect(total).toBeLessThan(30_000_000n);
    // The happy path (the result itself) carries no trace bytes: its submission is far smaller than one chunk of the trace.
    console.log(`submitBatch calldata ${submitBytes} B (the trace: ${honest.tensors.reduce((a, t) => a + t.data.byteLength, 0)} B, never sent unless disputed)`);
    expect(submitBytes).toBeLessThan(1024);
  });

  it("test_e2e_honestTrace_outputBeyondTauOut_toleranceProof_OutputMinor", async () => {
    const { fx, gameAddr } = await setup();
    const n = honest.stepCount;
    const final = honest.tensor(n - 1);
    const v = (final.data as Float32Array)[1]!;
    // Beyond τ_out (1e-5 + 1e-3·|c|), within τ_major (1e-2 + 0.1·|c|).
    const signed = withElement(final, 1, v + 0.005 * Math.abs(v) + 1e-4);
    const { id } = await disputed(fx, signed);
    const { worker, challenger, moves } = clients(fx, gameAddr);
    const t0 = Date.now();
    const responder = prepareDispute({ program: world.program, input: world.input, precision: "fp32", requestId: id, attempt: 0, inputHash: hashTensor(world.input) });
    expect(responder.commitment.traceRoot).toBe(honest.traceRoot);
    const [wRuling, play] = await Promise.all([worker.respond(responder), challenger.play(id, honest, signed)]);
    expect(play.outcome).toBe("toleranceProof");
    expect(play.ruling).toBe(GAME_RULING.OutputMinor);
    expect(wRuling).toBe(GAME_RULING.OutputMinor);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.OutputMinor));
    expect(moves.map((m) => m.move)).toEqual(["commitTrace", "proveOutput", "resolve"]);
    report("output beyond τ_out", moves, play.descent!.rounds, Date.now() - t0);
  });

  it("test_e2e_silentWorker_timeout_WorkerFault (after its commitment, and without one)", async () => {
    const { fx, gameAddr } = await setup();
    const { j, e } = middleMapStep();
    const cheat = flipped(honest, j, e, 1);
    const signed = cheat.tensor(cheat.stepCount - 1);
    const { id } = await disputed(fx, signed);
    const { worker, challenger, moves } = clients(fx, gameAddr, { silentAnswers: true });
    await worker.commit(responderFor(cheat, id, 0)); // then never answers
    const play = await challenger.play(id, honest, signed);
    expect(play.outcome).toBe("timeout");
    expect(play.ruling).toBe(GAME_RULING.WorkerFault);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    expect(moves.map((m) => m.move)).toEqual(["commitTrace", "attack(trace@" + honest.manifest.depth + ")", "timeout"]);
    report("silent after commit", moves, undefined, 0);

    const second = await disputed(fx, signed);
    const c2 = clients(fx, gameAddr, { silentAnswers: true });
    const play2 = await c2.challenger.play(second.id, honest, signed);
    expect(play2.outcome).toBe("timeoutCommitment");
    expect(play2.ruling).toBe(GAME_RULING.WorkerFault);
    expect(c2.moves.map((m) => m.move)).toEqual(["timeoutCommitment"]);
  });

  it("test_e2e_honestWorker_lyingChallenger_everyAttackAnswered_WorkerRight", async () => {
    const { fx, gameAddr } = await setup();
    const n = honest.stepCount;
    const signed = honest.tensor(n - 1);
    const { id, rec } = await disputed(fx, signed);
    const { j, e } = middleMapStep();
    // The lying challenger descends with a trace of its own that is wrong at (j, e).
    const lie = flipped(honest, j, e, -2);
    const { worker, challenger, moves } = clients(fx, gameAddr);
    const t0 = Date.now();
    const responder = prepareDispute({ program: world.program, input: world.input, precision: "fp32", requestId: id, attempt: 0, inputHash: hashTensor(world.input) });
    const [wRuling, play] = await Promise.all([worker.respond(responder), challenger.play(id, lie, signed)]);
    expect(play.outcome).toBe("resolved");
    expect(play.descent!.finding.kind).toBe("element");
    // The TypeScript twin of the leaf check finds no fault: the worker's element is the recomputed one.
    expect(play.verdict).toMatchObject({ valid: true, fault: false });
    expect(play.ruling).toBe(GAME_RULING.WorkerRight);
    expect(wRuling).toBe(GAME_RULING.WorkerRight);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerRight));
    const attacks = moves.filter((m) => m.role === "challenger" && m.move.startsWith("attack")).length;
    expect(attacks).toBe(play.descent!.rounds);
    expect(moves.filter((m) => m.role === "worker" && m.move.startsWith("answer")).length).toBe(attacks);
    report("lying challenger", moves, play.descent!.rounds, Date.now() - t0);
    // The result stands and settles.
    await send(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }));
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Fulfilled));
  });
});

describe("a reduce step: the element attack and its partial-state opening", () => {
  it("test_e2e_lyingChallenger_reduceElement_workerAnswersElement_workerHolds_WorkerRight", async () => {
    const { fx, gameAddr } = await setup();
    const n = honest.stepCount;
    const signed = honest.tensor(n - 1);
    const { id } = await disputed(fx, signed);
    const reduces = world.program.steps.filter((s) => s.kind === "reduce" && s.output.dtype === "float32" && s.index > 2);
    const step = reduces[Math.floor(reduces.length / 2)]!;
    // The liar's trace is wrong at one element of a reduce step; its own partial states (from the same operands)
    // are the worker's, so after the worker opens the element's partial tree the liar has nothing to prove.
    const lie = flipped(honest, step.index, 0, 3);
    const { worker, challenger, moves } = clients(fx, gameAddr);
    const responder = prepareDispute({ program: world.program, input: world.input, precision: "fp32", requestId: id, attempt: 0, inputHash: hashTensor(world.input) });
    const [wRuling, play] = await Promise.all([worker.respond(responder), challenger.play(id, lie, signed)]);
    expect(play.descent!.finding).toMatchObject({ kind: "workerHolds" });
    expect(moves.some((m) => m.move === "attackElement")).toBe(true);
    expect(moves.some((m) => m.move === "answerElement")).toBe(true);
    expect(play.ruling).toBe(GAME_RULING.WorkerRight);
    expect(wRuling).toBe(GAME_RULING.WorkerRight);
    report(`lying challenger, reduce step ${step.index}`, moves, play.descent!.rounds, 0);
  });
});

/** A cheating worker's trace whose element (fj, fe) rests on the given (forged) partial states. */
class ForgedFold extends CanonicalTrace {
  constructor(program: Program, input: Tensor, tensors: Tensor[], readonly fj: number, readonly fe: number, readonly forged: Float64Array) {
    super(program, input, tensors, "fp32");
  }
  protected override buildPartial(j: number, e: number): PartialTree {
    if (j !== this.fj || e !== this.fe) return super.buildPartial(j, e);
    const step = this.program.steps[j]!;
    const r = reduceTerms(step, this.reader(j), e, this.precision);
    return partialTreeOf(j, e, partialKindOf(r, step.output.dtype !== "float32"), r.count, this.forged);
  }
}

/**
 * A worker whose element e of reduce step j rests on a false state t0 (its accumulator + 1), every later state folded
 * on from it, the element the finalization of the forged last state, and every later step recomputed from that
 * element: its element, chunk and trace are consistent with its own partial states; only leaf t0 is a false fold.
 */
function forgedFold(j: number, e: number, t0: number): { cheat: ForgedFold; K: number } {
  const step = world.program.steps[j]!;
  const r = reduceTerms(step, honest.reader(j), e, "fp32");
  const K = r.terms.length;
  expect(t0).toBeLessThan(K);
  const states = foldPartials(r);
  states[t0] = states[t0]! + 1;
  states.set(foldPartials({ ...r, init: states[t0]!, terms: r.terms.subarray(t0) }), t0);
  const claimed = finalizeReduce(step, r, states[K]!, "fp32");
  expect(claimed).not.toBe((honest.tensor(j).data as Float32Array)[e]);
  const tensors = honest.tensors.slice();
  tensors[j] = withElement(honest.tensor(j), e, claimed);
  for (let k = j + 1; k < tensors.length; k++) tensors[k] = runStep(world.program, k, tensors, world.input);
  return { cheat: new ForgedFold(world.program, world.input, tensors, j, e, states), K };
}

/** A float32 conv step in the middle of the program with at least `minK` terms. */
function middleConv(minK: number) {
  const convs = world.program.steps.filter((s) => s.kind === "reduce" && s.op === "conv" && s.output.dtype === "float32" && s.index > 2 && reduceTerms(s, honest.reader(s.index), 0, "fp32").terms.length >= minK);
  return convs[Math.floor(convs.length / 2)]!;
}

describe("a false partial state: the challenger proves any leaf t by its hash (proveFold)", () => {
  async function caught(t0OfK: (K: number) => number) {
    const { fx, gameAddr } = await setup();
    const step = middleConv(8);
    const j = step.index;
    const e = 5;
    const K0 = reduceTerms(step, honest.reader(j), e, "fp32").terms.length;
    const t0 = t0OfK(K0);
    const { cheat, K } = forgedFold(j, e, t0);
    const signed = cheat.tensor(cheat.stepCount - 1);
    const { id } = await disputed(fx, signed);
    const { worker, challenger, moves } = clients(fx, gameAddr);
    const [wRuling, play] = await Promise.all([worker.respond(responderFor(cheat, id, 0)), challenger.play(id, honest, signed)]);
    expect(play.descent!.finding.kind).toBe("partial");
    const f = play.descent!.finding as Extract<Finding, { kind: "partial" }>;
    expect([f.claim.step, f.claim.element, f.t]).toEqual([j, e, t0]);
    // The worker's leaf t0 (a hash the game revealed, never its record) is what the proof names.
    expect(f.leaf.hash).toBe(bytesToHex(cheat.partial(j, e).tree.leaf(t0)));
    expect(play.verdict).toMatchObject({ valid: true, fault: true });
    expect(play.outcome).toBe("leafProof");
    expect(moves[moves.length - 1]!.move).toBe("proveFold");
    expect(play.ruling).toBe(GAME_RULING.WorkerFault);
    expect(wRuling).toBe(GAME_RULING.WorkerFault);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    report(`false partial state (step ${j} ${step.op}, element ${e}, leaf ${t0} of K = ${K})`, moves, play.descent!.rounds, 0);
    console.log(`proveFold at leaf ${t0} of K = ${K}: gas ${moves[moves.length - 1]!.gas}`);
  }

  it("test_e2e_falseInteriorPartialState_challengerProvesLeafT0ByHash_WorkerFault", async () => {
    await caught((K) => Math.floor(K / 2) + 1);
  });

  it("test_e2e_falseInit_t0_challengerProvesLeaf0_WorkerFault", async () => {
    await caught(() => 0);
  });

  it("test_proveFold_honestLeaf_interior_init_last_revertsNoFault: a lying challenger cannot slash", async () => {
    const { fx, gameAddr } = await setup();
    const signed = honest.tensor(honest.stepCount - 1);
    const { id } = await disputed(fx, signed);
    const step = middleConv(8);
    const j = step.index;
    // The liar's element 0 of step j is wrong; the honest worker opens its (honest) partial tree.
    const lie = flipped(honest, j, 0, 3);
    const { worker, challenger } = clients(fx, gameAddr);
    const responder = prepareDispute({ program: world.program, input: world.input, precision: "fp32", requestId: id, attempt: 0, inputHash: hashTensor(world.input) });
    const answering = worker.respond(responder);
    const committed = await challenger.awaitCommitment(id);
    const d = await descend(lie, challenger.claims(id, lie, committed));
    expect(d.finding).toMatchObject({ kind: "workerHolds" });
    // Every fold proof against the honest tree's leaves fails, the leaf named by its hash as the game takes it.
    const p = honest.partial(j, 0);
    const K = p.terms;
    const enc = encodeStep(step);
    const book = new TraceBook(honest.tensors);
    const path = (t: number) => p.tree.path(t).map(bytesToHex);
    for (const t of [Math.floor(K / 2) + 1, 0, K]) {
      const reads = t === 0 ? initReads(step, 0) : termReads(step, 0, t - 1);
      await expectRevert(
        challenger.game.proveFold(id, j, 0, enc, t, bytesToHex(t === 0 ? Buffer.alloc(32) : p.record(t - 1)), t === 0 ? [] : path(t - 1), bytesToHex(p.tree.leaf(t)), path(t), operandProofsOf(world, step, reads, book)),
        challenger.game,
        "FraudGameNoFault",
      );
    }
    // A leaf hash not under the worker's partial root is refused (the expected record's hash at a wrong place).
    await expectRevert(
      challenger.game.proveFold(id, j, 0, enc, 2, bytesToHex(p.record(1)), path(1), bytesToHex(p.tree.leaf(3)), path(2), operandProofsOf(world, step, termReads(step, 0, 1), book)),
      challenger.game,
      "FraudGameBadProof",
      [18n],
    );
    expect(await challenger.resolveWhenEnded(id)).toBe(GAME_RULING.WorkerRight);
    expect(await answering).toBe(GAME_RULING.WorkerRight);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerRight));
  });
});
