/**
 * Issue 14: OPTIMISTIC disputes over a model with several named inputs and outputs (tensor bundles), through
 * the real game: InferenceOracle + FraudGame + StepVerifier + ModelRegistry on the in-process EVM, the worker's
 * client (GameWorker over prepareDispute) and the challenger's (GameChallenger) talking only through the chain.
 * The model: the 2-in / 2-out recurrent cell (test/canonical/multi-io-model.ts), registered with registerModelIO
 * in OPTIMISTIC, its canonical terms set.
 * - a worker whose trace is wrong at an element of a step reading input `x` (entry 1 of the input bundle), its
 *   outputs recomputed from it: descent, openBundle(inputs), proveStep reading x as bundle entry 1: WorkerFault;
 * - a worker with the canonical trace that signs one wrong element in output `stateN` (entry 0 of the output
 *   bundle, not the last step): openBundle(outputs), proveOutput against step stepCount − 2: WorkerFault;
 * - an honest worker against a lying challenger: every attack answered, WorkerRight, the result settles;
 * - a forged bundle entry list (swapped, altered, short) reverts; a proof reading an unopened bundle reverts;
 * - the ChallengerDaemon fetches the bundles from the blob store, audits both outputs, disputes the wrong
 *   result and wins against the worker's FraudGameAnswerer answering from the input bundle's bytes.
 * Prints gas per move.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { CanonicalTrace, canonicalTermsOf, checkFinding, commitProgram, descend, openElement, outputStep, runProgram, type Finding, type OperandProof, type Program } from "../../canonical/index.js";
import { GAME_RULING, type MoveRecord } from "../../protocol/fraud-game-client.js";
import { hashBundleEncoded, hashTensor, type Hex, type Tensor, type Weight } from "../../protocol/index.js";
import { prepareDispute, responderFor } from "../../worker/index.js";
import { auditResult } from "../../challenger/index.js";
import { blobStore } from "../challenger/fixtures.js";
import { PARAMS, requestAndSubmit, Ruling, send, Status, expectRevert, type Fx } from "../contracts/helpers.js";
import { TOL, withElement, type Connection } from "./game-fixture.js";
import { clients, expectDaemonWinsGame } from "./game-e2e-fixture.js";
import { CELL_OUTPUT_ELEMENTS, inputBundleOf, inputHashOf, multiIoAnswerer, multiIoDaemon, multiIoSetup, multiIoWorld, outputBundleOf, outputHashOf, type MultiIoWorld } from "./multi-io-fixture.js";

let w: MultiIoWorld;
let conn: Connection;
let program: Program;
let modelHash: Hex;
let inputs: Tensor[];
let honest: CanonicalTrace;
let bytes: Uint8Array;

beforeAll(async () => {
  w = await multiIoWorld();
  ({ conn, program, modelHash, inputs, honest, bytes } = w);
});

const inputHash = () => inputHashOf(w);
const setup = () => multiIoSetup(w);

/** A request on the cell answered by worker 0 with the output bundle `signed` (stateN, y), challenged by fx.challenger. */
async function disputed(fx: Fx, signed: Tensor[]) {
  const { id, rec } = await requestAndSubmit(fx, 0, { modelHash, inputHash: inputHash(), outputHash: outputHashOf(signed) });
  await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
  return { id: id as Hex, rec };
}

function report(label: string, moves: MoveRecord[]): bigint {
  const total = moves.reduce((a, m) => a + m.gas, 0n);
  console.log(`${label}: ${moves.length} moves, total gas ${total}\n${moves.map((m, i) => `  ${String(i + 1).padStart(2)} ${m.role.padEnd(10)} ${m.move.padEnd(20)} gas ${String(m.gas).padStart(8)}  calldata ${m.calldataBytes} B`).join("\n")}`);
  return total;
}

/** Step k of the program over the given step tensors (the inputs and weights as committed). */
function rerun(k: number, tensors: readonly Tensor[]): Tensor {
  const step = program.steps[k]!;
  const extra: Weight[] = [];
  const operands = step.operands.map((o) => {
    if (o.source !== "step") return o;
    extra.push({ name: `step${o.index}`, tensor: tensors[o.index]!, hash: `0x${"00".repeat(32)}` as Weight["hash"] });
    return { source: "weight" as const, index: program.weights.length + extra.length - 1 };
  });
  const out = { name: "out", ...step.output };
  const sub: Program = { ...program, weights: [...program.weights, ...extra], steps: [{ ...step, index: 0, operands }], output: out, outputs: [out] };
  return runProgram(sub, inputs).output;
}

/** A trace wrong at element e of step j (by delta), every later step recomputed from it: a consistent cheat. */
function forgedFrom(j: number, e: number, delta: number): CanonicalTrace {
  const tensors = [...honest.tensors];
  tensors[j] = withElement(tensors[j]!, e, (tensors[j]!.data as Float32Array)[e]! + delta);
  for (let k = j + 1; k < tensors.length; k++) tensors[k] = rerun(k, tensors);
  return new CanonicalTrace(program, inputs, tensors, "fp32");
}

const chunkOf = (t: { header: Hex; dataRoot: Hex }, rootPath: Hex[], c: { bytes: Hex; path: Hex[] }) => ({ header: t.header, dataRoot: t.dataRoot, rootPath, chunk: c.bytes, chunkPath: c.path });

/** An operand opening of element `index` of a tensor (its header, dataRoot and chunk proof). */
function openingOf(t: Tensor, index: number): Pick<OperandProof, "tensor" | "chunk"> {
  const o = openElement(t, index);
  return { tensor: o.tensor, chunk: o.chunk };
}

/** The map step reading input x (bundle entry 1). */
const readsX = () => program.steps.find((s) => s.kind === "map" && s.operands.some((o) => o.source === "input" && o.index === 1))!;

describe("OPTIMISTIC disputes over a 2-input / 2-output model", () => {
  it("test_multiIo_cheaterWrongStepReadingInputX_descentOpenBundleProveStep_WorkerFault_slashed", async () => {
    const { fx, gameAddr } = await setup();
    const j = readsX().index;
    const cheat = forgedFrom(j, 5, 1);
    const signed = cheat.outputs;
    expect(hashTensor(signed[1]!)).not.toBe(hashTensor(honest.outputs[1]!));
    const { id } = await disputed(fx, signed);
    const op = fx.ops[0]!.address;
    const stakeBefore = (await fx.oracle.getWorker(op)).stake;
    const { worker, challenger, moves } = clients(fx, gameAddr, { conn });
    const responding = worker.respond(responderFor(cheat, id, 0));
    // First the descent alone, then the leaf proof without the input bundle opened: the read of x (entry 1)
    // has nothing to be proven against; nor has a forged x (another tensor's opening) once the bundle is open.
    const d = await descend(honest, challenger.claims(id, honest, await challenger.awaitCommitment(id)));
    const found = d.finding as Extract<Finding, { kind: "element" }>;
    const game = fx.game.connect(fx.challenger);
    const proof = (reads: OperandProof[]) =>
      game.proveStep(id, found.claim.step, found.claim.element, found.stepProof.encoding, found.stepProof.path, chunkOf(found.claim.tensor, found.claim.manifestPath, found.claim.chunk), reads.map((r) => chunkOf(r.tensor, r.path, r.chunk)));
    await expectRevert(proof(found.reads), fx.game, "FraudGameBadProof", [16n]);
    // The TypeScript twin (checkFinding) agrees: without the input bundle's entries the read of x proves nothing.
    const terms = canonicalTermsOf(commitProgram(program, "fp32"), TOL);
    const ctx = { programRoot: terms.programRoot, weightsRoot: terms.weightsRoot, inputHash: inputHash(), precision: "fp32" as const, traceRoot: cheat.traceRoot };
    expect(checkFinding(found, program, ctx)).toMatchObject({ valid: false });
    expect(checkFinding(found, program, { ...ctx, inputMembers: inputs.map((t) => hashTensor(t)) })).toMatchObject({ valid: true, fault: true });
    await send(game.openBundle(id, false, inputs.map((t) => hashTensor(t))));
    const xRead = found.reads.findIndex((r) => r.source === "input");
    const forgedX = withElement(inputs[1]!, 5, 9);
    const forgedRead = { ...found.reads[xRead]!, ...openingOf(forgedX, found.reads[xRead]!.index) };
    await expectRevert(proof(found.reads.map((r, i) => (i === xRead ? forgedRead : r))), fx.game, "FraudGameBadProof", [16n]);
    const [wRuling, play] = await Promise.all([responding, challenger.play(id, honest, honest.outputs)]);
    expect(play.outcome).toBe("leafProof");
    const f = play.descent!.finding as Extract<Finding, { kind: "element" }>;
    expect([f.kind, f.claim.step, f.claim.element]).toEqual(["element", j, 5]);
    // The leaf read input x as entry 1 of the input bundle, opened on-chain just before the proof.
    expect(f.reads.some((r) => r.source === "input" && r.sourceIndex === 1)).toBe(true);
    expect(moves.slice(-2).map((m) => m.move)).toEqual(["openBundle(inputs)", "proveStep"]);
    expect(play.descent!.finding).toEqual(found);
    expect(play.ruling).toBe(GAME_RULING.WorkerFault);
    expect(wRuling).toBe(GAME_RULING.WorkerFault);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    expect((await fx.oracle.getWorker(op)).stake).toBeLessThan(stakeBefore);
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Requested));
    const total = report(`cheater at step ${j} (reads input x)`, moves);
    for (const m of moves) expect(m.gas).toBeLessThan(3_000_000n);
    expect(total).toBeLessThan(30_000_000n);
  });

  it("test_multiIo_honestTrace_wrongElementInOutputStateN_openBundleProveOutput_MAJOR_WorkerFault_slashed", async () => {
    const { fx, gameAddr } = await setup();
    const [stateN, y] = honest.outputs as [Tensor, Tensor];
    const v = (stateN.data as Float32Array)[42]!;
    // Beyond τ_major (1e-2 + 0.1·|c|, |c| < 1): a wrong element in one output, the other output right.
    const signed = [withElement(stateN, 42, v + 0.5), y];
    const { id } = await disputed(fx, signed);
    const op = fx.ops[0]!.address;
    const stakeBefore = (await fx.oracle.getWorker(op)).stake;
    const { worker, challenger, moves } = clients(fx, gameAddr, { conn });
    const responder = prepareDispute({ program, input: new Map([["x", inputs[1]!], ["state", inputs[0]!]]), precision: "fp32", requestId: id, attempt: 0, inputHash: inputHash() });
    expect(responder.commitment.traceRoot).toBe(honest.traceRoot);
    const [wRuling, play] = await Promise.all([worker.respond(responder), challenger.play(id, honest, signed)]);
    expect(play.outcome).toBe("toleranceProof");
    expect(moves.map((m) => m.move)).toEqual(["commitTrace", "openBundle(outputs)", "proveOutput", "resolve"]);
    expect(play.ruling).toBe(GAME_RULING.WorkerFault);
    expect(wRuling).toBe(GAME_RULING.WorkerFault);
    expect((await fx.oracle.getWorker(op)).stake).toBeLessThan(stakeBefore);
    const ev = (await fx.game.queryFilter(fx.game.filters.ToleranceFaultRecorded(id)))[0]!;
    expect([Number(ev.args.element), Number(ev.args.magnitude)]).toEqual([42, 2]);
    expect(outputStep(program, 0)).toBe(program.steps.length - 2);
    report("wrong element in output stateN", moves);
  });

  it("test_multiIo_canonicalAudit_flagsAWrongElementInEitherOutput", () => {
    const config = { secret: new Uint8Array(32).fill(7), fraction: 1 };
    const target = (outputs: Tensor[]) => ({ requestId: `0x${"11".repeat(32)}` as Hex, model: { key: modelHash, bytes, inputShape: [] }, precision: "fp32" as const, tau: { abs: TOL.outAbs, rel: TOL.outRel }, input: inputs[0]!, inputs, output: outputs[0]!, outputs });
    const [stateN, y] = honest.outputs as [Tensor, Tensor];
    expect(auditResult(target([stateN, y]), config).status).toBe("within");
    const wrongY = auditResult(target([stateN, withElement(y, 2, (y.data as Float32Array)[2]! + 0.01)]), config);
    expect(wrongY.status).toBe("dispute");
    expect(wrongY.status === "dispute" && wrongY.trace.traceRoot).toBe(honest.traceRoot);
    expect(auditResult(target([withElement(stateN, 0, 2), y]), config).status).toBe("dispute");
  });

  it("test_multiIo_honestWorker_lyingChallenger_WorkerRight_resultSettles", async () => {
    const { fx, gameAddr } = await setup();
    const { id, rec } = await disputed(fx, honest.outputs);
    const lie = forgedFrom(readsX().index, 3, -2);
    const { worker, challenger, moves } = clients(fx, gameAddr, { conn });
    const responder = prepareDispute({ program, input: inputs, precision: "fp32", requestId: id, attempt: 0, inputHash: inputHash() });
    const [wRuling, play] = await Promise.all([worker.respond(responder), challenger.play(id, lie, lie.outputs)]);
    expect(play.outcome).toBe("resolved");
    expect(play.verdict).toMatchObject({ valid: true, fault: false });
    expect(play.ruling).toBe(GAME_RULING.WorkerRight);
    expect(wRuling).toBe(GAME_RULING.WorkerRight);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerRight));
    report("lying challenger", moves);
    await send(fx.oracle.settle({ requestId: id, record: rec, output: "0x", proof: [] }));
    expect((await fx.oracle.getRequest(id)).status).toBe(BigInt(Status.Fulfilled));
  });

  it("test_multiIo_forgedBundleEntries_revert_and_the_true_list_opens", async () => {
    const { fx } = await setup();
    const { id } = await disputed(fx, honest.outputs);
    const game = fx.game.connect(fx.challenger);
    const [hs, hx] = inputs.map((t) => hashTensor(t));
    const [ho0, ho1] = honest.outputs.map((t) => hashTensor(t));
    await expectRevert(game.openBundle(id, false, [hx, hs]), fx.game, "FraudGameBadProof", [22n]); // swapped names
    await expectRevert(game.openBundle(id, false, [hs, ho0]), fx.game, "FraudGameBadProof", [22n]); // another tensor as x
    await expectRevert(game.openBundle(id, true, [ho0, hx]), fx.game, "FraudGameBadProof", [22n]);
    await expectRevert(game.openBundle(id, true, [ho1, ho0]), fx.game, "FraudGameBadProof", [22n]);
    await expectRevert(game.openBundle(id, false, [hs]), fx.registry, "RegistryInvalidSpec"); // not the model's count
    await expectRevert(game.openBundle(id, false, [hs, hx, hx]), fx.registry, "RegistryInvalidSpec");
    const opened = await send(game.openBundle(id, false, [hs, hx]));
    const openedOut = await send(game.openBundle(id, true, [ho0, ho1]));
    console.log(`openBundle gas: inputs ${opened.gasUsed}, outputs ${openedOut.gasUsed}`);
    expect(opened.gasUsed).toBeLessThan(120_000n);
  });
});

describe("ChallengerDaemon and the worker's FraudGameAnswerer on a 2-input / 2-output model", () => {
  it("test_daemon_bundles_auditsEveryOutput_disputesTheWrongOne_WorkerFault; the honest result stands", async () => {
    const { fx, gameAddr } = await setup();
    const store = await blobStore();
    try {
      const put = (bytes: Buffer) => store.blobs.set(hashBundleEncoded(bytes).toLowerCase(), bytes);
      const [stateN, y] = honest.outputs as [Tensor, Tensor];
      const bad = [stateN, withElement(y, 1, (y.data as Float32Array)[1]! + 0.5)];
      put(inputBundleOf(w));
      put(outputBundleOf([stateN, y]));
      put(outputBundleOf(bad));
      const good = await requestAndSubmit(fx, 0, { modelHash, inputHash: inputHash(), outputHash: outputHashOf(honest.outputs) });
      const cheat = await requestAndSubmit(fx, 0, { modelHash, inputHash: inputHash(), outputHash: outputHashOf(bad) });
      const answerer = multiIoAnswerer(w, fx, gameAddr);
      await answerer.start();
      await expectDaemonWinsGame(multiIoDaemon(w, fx, gameAddr, store.url), { fx, answerer, good: good.id, cheat: cheat.id, honestReport: { checkedElements: CELL_OUTPUT_ELEMENTS } });
    } finally {
      await new Promise<void>((resolve) => store.server.close(() => resolve()));
    }
  });
});
