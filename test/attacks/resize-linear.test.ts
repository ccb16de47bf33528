/**
 * A worker that lies about one element of a bilinear Resize (a resize_linear step: four corners, each x
 * times an exact integer weight, ÷ the divisor) by one bit is caught on-chain with the real StepVerifier:
 * - the cheater flips the lowest mantissa bit of element e and, to survive the element attack, reveals a
 *   partial-state tree whose last state finalizes to the flipped value (its other states honest);
 * - the challenger descends the partial tree to that last state and proveFold recomputes it from the
 *   corner StepIndex names (the operand proven against the worker's trace) and its weight: WorkerFault;
 * - proving an honest state (the fold before it) is FraudGameNoFault, so an honest worker cannot be framed;
 * - a last state that does not finalize to the claimed element is refused (FraudGameBadProof 7);
 * - the challenger's client (canonical/descent.ts) pinpoints the same lie off-chain: the last partial
 *   state of that element, which checkFinding rules a fault;
 * - a forged resize_linear step (a zero or oversized divisor, unsorted axes, a negative numerator, an axis
 *   left out that changes size) reverts StepMalformed: no weight can leave the exact range.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodePartial, encodeStep, finalizeReduce, partialStates, reduceTerms } from "../../canonical/index.js";
import { bytesToHex, merklePath, sha256, type Tensor } from "../../protocol/index.js";
import { buildModel, values } from "../canonical/onnx-builder.js";
import { expectRevert } from "../contracts/helpers.js";
import { deployGame, levelsOf, RULING, worldOf, type ClsWorld, type GameFx } from "./game-fixture.js";
import { attackClaimedElement, expectLastPartialStatePinpointed, flipLowBit, operandProofsOf, readerOf, revealAndDescendPartial } from "./game-proof-helpers.js";

const SHAPE = [1, 2, 3, 4];

/** Relu → Resize (linear, half_pixel, 2× on H and W) → Mul: the resize is an inner step of the trace. */
function resizeWorld(): ClsWorld {
  const bytes = buildModel({
    input: { name: "x", shape: SHAPE },
    output: "y",
    nodes: [
      { op: "Relu", inputs: ["x"], outputs: ["r"] },
      { op: "Resize", inputs: ["r", "", "s"], outputs: ["z"], attrs: { mode: { s: "linear" } } },
      { op: "Mul", inputs: ["z", "k"], outputs: ["y"] },
    ],
    initializers: [
      { name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 2] },
      { name: "k", dtype: "float32", shape: [1], values: [0.75] },
    ],
    opset: 13,
  });
  const input: Tensor = { dtype: "float32", shape: SHAPE, data: Float32Array.from(values(24, 5, -1, 2)) };
  return worldOf(bytes, input);
}

let conn: Awaited<ReturnType<typeof network.create>>;
let world: ClsWorld;
let fx: GameFx;
beforeAll(async () => {
  conn = await network.create();
  world = resizeWorld();
  fx = await deployGame(conn, world);
  expect(fx.verifier.real).toBe(true);
});

describe("resize_linear: a one-bit-wrong bilinear element", () => {
  it("test_proveFold_resizeLinearElementOneBitOff_rulesWorkerFault; an honest state is NoFault", async () => {
    const step = world.program.steps.find((s) => s.op === "resize_linear")!;
    const j = step.index;
    // An interior element (both fractions nonzero: four corners with weights 9, 3, 3, 1 of 16).
    const e = 1 * 8 + 3;
    const r = reduceTerms(step, readerOf(world, world.honest, step), e, "fp32");
    const K = r.terms.length;
    expect([K, r.count]).toEqual([4, 16]);
    const claimed = flipLowBit((world.honest.tensors[j]!.data as Float32Array)[e]!);
    // The cheater's states: honest up to K − 1, the last one claimed · 16 (exact), which finalizes to the flipped element.
    const honestStates = partialStates(r);
    const fake = honestStates.map((s, t) => (t === K ? { ...s, acc: claimed * r.count } : s));
    expect(finalizeReduce(step, r, fake[K]!.acc, "fp32")).toBe(claimed);
    const { requestId, cheat, enc } = await attackClaimedElement(fx, world, step, e, claimed);
    const leafOf = (s: (typeof fake)[number]) => sha256(Buffer.from([0]), encodePartial(s));
    const leaves = fake.map(leafOf);
    const honestLeaves = honestStates.map(leafOf);
    const levels = levelsOf(leaves);
    const hp = levels.length - 1;
    const chunk = cheat.chunk(j, 0);
    // The honest tree's last state finalizes to the honest element, not the claimed one: refused.
    await expectRevert(
      fx.game.answerElement(requestId, j, e, enc, chunk, bytesToHex(levelsOf(honestLeaves)[hp]![0]!), bytesToHex(encodePartial(honestStates[K]!)), merklePath(honestLeaves, K).map(bytesToHex)),
      fx.game,
      "FraudGameBadProof",
      [7n],
    );
    await revealAndDescendPartial(fx, requestId, cheat, j, e, enc, fake);
    const readsOf = async (t: number) => [...(await fx.verifier.contract.termReads(enc, e, t))].map((x: any) => ({ operand: x.operand, index: x.index }));
    // Every term reads one corner; the fold of term K − 2 (state K − 1, honest) is no fault.
    const prevReads = await readsOf(K - 2);
    expect(prevReads.length).toBe(1);
    await expectRevert(
      fx.game.connect(fx.challenger).proveFold(requestId, j, e, enc, K - 1, bytesToHex(encodePartial(fake[K - 2]!)), merklePath(leaves, K - 2).map(bytesToHex), bytesToHex(leaves[K - 1]!), merklePath(leaves, K - 1).map(bytesToHex), operandProofsOf(world, step, prevReads, cheat)),
      fx.game,
      "FraudGameNoFault",
    );
    const rc = await (
      await fx.game.connect(fx.challenger).proveFold(requestId, j, e, enc, K, bytesToHex(encodePartial(fake[K - 1]!)), merklePath(leaves, K - 1).map(bytesToHex), bytesToHex(leaves[K]!), merklePath(leaves, K).map(bytesToHex), operandProofsOf(world, step, await readsOf(K - 1), cheat))
    ).wait();
    console.log(`proveFold (resize_linear, K = ${K}): ${rc.gasUsed} gas`);
    expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerFault);
  }, 120_000);

  it("test_stepVerifier_forgedResizeLinearParameters_revertStepMalformed", async () => {
    const step = world.program.steps.find((s) => s.op === "resize_linear")!;
    const v = fx.verifier.contract;
    const forged = (params: Record<string, number[]>) => "0x" + encodeStep({ ...step, params: { ...step.params, ...params } }).toString("hex");
    expect(step.params).toEqual({ axes: [2, 3], num: [2, 2], off: [-1, -1], den: [4, 4] });
    expect((await v.termReads(forged({}), 11, 3)).length).toBe(1);
    await expectRevert(v.termReads(forged({}), 11, 4), v, "StepIndexOutOfRange", [4n, 4n]);
    const cases: Record<string, number[]>[] = [{ den: [0, 4] }, { den: [4096, 8192] }, { axes: [3, 2] }, { num: [-2, 2] }, { axes: [3], num: [2], off: [-1], den: [4] }];
    for (const params of cases) {
      await expectRevert(v.termReads(forged(params), 11, 0), v, "StepMalformed");
      await expectRevert(v.foldTerm(forged(params), 11, 0, "0x" + "00".repeat(32), [0n], 0), v, "StepMalformed");
    }
  });

  it("test_descent_resizeLinearElementOneBitOff_lastPartialStatePinpointedAndFault", async () => {
    const step = world.program.steps.find((s) => s.op === "resize_linear")!;
    // The last state is the claimed element times the divisor (exact); its term reads one corner.
    await expectLastPartialStatePinpointed(world, step, 11, (claimed, count) => claimed * count, 1);
  });
});
