/**
 * A worker that lies about one element of a 3-D ConvTranspose (a convtranspose3d step: grouped, strided,
 * padded, with output_padding and a bias) by one bit is caught on the real FraudGame and StepVerifier:
 * - the cheater flips the lowest mantissa bit of element e and, to survive the element attack, reveals a
 *   partial-state tree whose last state finalizes to the flipped value (its other states honest);
 * - the challenger descends the partial tree to that last state; proveFold recomputes it from the two
 *   operand elements StepIndex names for term K − 1 (x and w, each proven against the worker's trace or the
 *   weights): WorkerFault. That leaf is the step's worst: two operand proofs and a contraction term;
 * - proving the honest state before it is FraudGameNoFault, so an honest worker cannot be framed;
 * - the challenger's client (canonical/descent.ts, with canonical/reads.ts) pinpoints the same lie
 *   off-chain: the last partial state of that element, which checkFinding rules a fault;
 * - a forged step (w's channels not x's, an output channel count not Mg · group) reverts StepMalformed.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodePartial, encodeStep, finalizeReduce, partialStates, reduceTerms, termReads, type Step } from "../../canonical/index.js";
import { bytesToHex, merklePath, type Tensor } from "../../protocol/index.js";
import { buildModel, values } from "../canonical/onnx-builder.js";
import { expectRevert } from "../contracts/helpers.js";
import { deployGame, RULING, worldOf, type ClsWorld, type GameFx } from "./game-fixture.js";
import { attackClaimedElement, expectLastPartialStatePinpointed, flipLowBit, operandProofsOf, readerOf, revealAndDescendPartial } from "./game-proof-helpers.js";

const SHAPE = [1, 4, 2, 3, 3];

/** Relu → ConvTranspose 3-D → Mul: the transposed convolution is an inner step of the trace. */
function world3d(): ClsWorld {
  const bytes = buildModel({
    input: { name: "x", shape: SHAPE },
    output: "y",
    nodes: [
      { op: "Relu", inputs: ["x"], outputs: ["r"] },
      { op: "ConvTranspose", inputs: ["r", "w", "b"], outputs: ["z"], attrs: { strides: { ints: [2, 1, 2] }, pads: { ints: [1, 0, 1, 0, 1, 0] }, output_padding: { ints: [1, 0, 1] }, group: { i: 2 } } },
      { op: "Mul", inputs: ["z", "k"], outputs: ["y"] },
    ],
    initializers: [
      { name: "w", dtype: "float32", shape: [4, 2, 2, 3, 2], values: values(96, 31, -1, 1) },
      { name: "b", dtype: "float32", shape: [4], values: values(4, 32, -1, 1) },
      { name: "k", dtype: "float32", shape: [1], values: [0.75] },
    ],
  });
  return worldOf(bytes, { dtype: "float32", shape: SHAPE, data: Float32Array.from(values(72, 5, -1, 2)) } as Tensor);
}

let conn: Awaited<ReturnType<typeof network.create>>;
let world: ClsWorld;
let fx: GameFx;
let step: Step;
beforeAll(async () => {
  conn = await network.create();
  world = world3d();
  fx = await deployGame(conn, world);
  expect(fx.verifier.real).toBe(true);
  step = world.program.steps.find((s) => s.op === "convtranspose3d")!;
}, 120_000);

/** The first element of chunk 0 whose last term reads both operands (the heaviest leaf). */
function heavyElement(K: number): number {
  for (let e = 0; e < 256; e++) if (termReads(step, e, K - 1).length === 2) return e;
  throw new Error("no element reads its last term");
}

describe("convtranspose3d: a one-bit-wrong element of a 3-D transposed convolution", () => {
  it("test_proveFold_convTranspose3dElementOneBitOff_rulesWorkerFault; an honest state is NoFault", async () => {
    const j = step.index;
    const r0 = reduceTerms(step, readerOf(world, world.honest, step), 0, "fp32");
    const K = r0.terms.length;
    expect(K).toBe(2 * 2 * 3 * 2);
    const e = heavyElement(K);
    const r = reduceTerms(step, readerOf(world, world.honest, step), e, "fp32");
    const claimed = flipLowBit((world.honest.tensors[j]!.data as Float32Array)[e]!);
    const honestStates = partialStates(r);
    const fake = honestStates.map((s, t) => (t === K ? { ...s, acc: claimed } : s));
    expect(finalizeReduce(step, r, fake[K]!.acc, "fp32")).toBe(claimed);
    const { requestId, cheat, enc } = await attackClaimedElement(fx, world, step, e, claimed);
    const leaves = await revealAndDescendPartial(fx, requestId, cheat, j, e, enc, fake);
    const readsOf = async (t: number) => [...(await fx.verifier.contract.termReads(enc, e, t))].map((x: any) => ({ operand: x.operand, index: x.index }));
    const last = await readsOf(K - 1);
    // On-chain reads equal canonical/reads.ts's: x and w.
    expect(last.map((x) => [Number(x.operand), Number(x.index)])).toEqual(termReads(step, e, K - 1).map((x) => [x.operand, x.index]));
    const prove = (t: number, reads: typeof last) =>
      fx.game.connect(fx.challenger).proveFold(requestId, j, e, enc, t, bytesToHex(encodePartial(fake[t - 1]!)), merklePath(leaves, t - 1).map(bytesToHex), bytesToHex(leaves[t]!), merklePath(leaves, t).map(bytesToHex), operandProofsOf(world, step, reads, cheat));
    await expectRevert(prove(K - 1, await readsOf(K - 2)), fx.game, "FraudGameNoFault");
    const rc = await (await prove(K, last)).wait();
    console.log(`proveFold (convtranspose3d, K = ${K}, term K − 1 reads x and w): ${rc.gasUsed} gas`);
    expect(rc.gasUsed).toBeLessThan(2_000_000n);
    expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerFault);
  }, 120_000);

  it("test_stepVerifier_forgedConvTranspose3dChannels_revertStepMalformed", async () => {
    const v = fx.verifier.contract;
    const forged = (over: Partial<Step>) => "0x" + encodeStep({ ...step, ...over }).toString("hex");
    expect(Number(await v.info(forged({})).then((i: any) => i.terms))).toBe(24);
    const t = step.operandTypes;
    const cases: Partial<Step>[] = [
      { operandTypes: [t[0]!, { ...t[1]!, shape: [2, 2, 2, 3, 2] }, t[2]!] },
      { output: { ...step.output, shape: [1, 6, ...step.output.shape.slice(2)] } },
      { params: { ...step.params, group: [3] } },
    ];
    for (const over of cases) await expectRevert(v.termReads(forged(over), 0, 0), v, "StepMalformed");
  });

  it("test_descent_convTranspose3dElementOneBitOff_lastPartialStatePinpointedAndFault", async () => {
    const r0 = reduceTerms(step, readerOf(world, world.honest, step), 0, "fp32");
    // The last state is the claimed element itself (the sum, finalized as is); its term reads x and w.
    await expectLastPartialStatePinpointed(world, step, heavyElement(r0.terms.length), (claimed) => claimed, 2);
  });
});
