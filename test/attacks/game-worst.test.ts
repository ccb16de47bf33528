/**
 * FraudGame at its partial-state bound (docs/V2.md §5: K ≤ 2^20): a real ONNX model built here (one MatMul
 * x[1, 2^20] · W[2^20, 1], lowered by canonical/lower.ts to a single reduce step with K = 2^20, run canonically) and a
 * cheater whose last partial state is false. The challenger descends the 21-level partial tree and proves the last
 * fold, with two operand proofs (the 4 MiB input and weight: 12-level chunk paths). Also the smallest trace: one step
 * (a 0-level manifest). Prints the gas of the deepest moves; every one stays under 2M.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, encodePartial, finalizeReduce, partialStates, reduceTerms, stepLeaf } from "../../canonical/index.js";
import { weightLeaves, merklePath, sha256, bytesToHex, encodeTensor, type Tensor } from "../../protocol/index.js";
import { buildModel, values } from "../canonical/onnx-builder.js";
import { chunkProofOf } from "./game-proof-helpers.js";
import {
  answer, commit, deployGame, levelsOf, openDispute, RULING, TraceBook, TREE, withElement, worldOf,
  type ClsWorld, type Connection, type GameFx, type Pos,
} from "./game-fixture.js";

const K = 1 << 20;
let conn: Connection;
let world: ClsWorld;
let fx: GameFx;
beforeAll(async () => {
  conn = await network.create();
  const bytes = buildModel({
    input: { name: "x", shape: [1, K] },
    output: "y",
    nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }],
    initializers: [{ name: "w", dtype: "float32", shape: [K, 1], values: values(K, 7) }],
  });
  const input: Tensor = { dtype: "float32", shape: [1, K], data: Float32Array.from(values(K, 8)) };
  world = worldOf(bytes, input);
  fx = await deployGame(conn, world);
  expect(fx.verifier.real).toBe(true);
}, 300_000);

describe("FraudGame at K = 2^20", () => {
  it("test_proveFold_K2pow20_lastState_rulesWorkerFault; gas of the deepest moves", async () => {
    expect(world.program.steps).toHaveLength(1);
    const step = world.program.steps[0]!;
    expect(step.kind).toBe("reduce");
    const read = (k: number) => (step.operands[k]!.source === "input" ? world.input.data : world.program.weights[0]!.tensor.data) as Float32Array;
    const r = reduceTerms(step, read, 0, "fp32");
    expect(r.terms.length).toBe(K);
    const fake = partialStates(r);
    fake[K]!.acc += 1;
    const claimed = finalizeReduce(step, r, fake[K]!.acc, "fp32");
    const cheat = new TraceBook([withElement(world.honest.tensors[0]!, 0, claimed)]);
    const { requestId } = await openDispute(fx, world, cheat.tensors[0]!);
    const gas: Record<string, bigint> = {};
    gas.commitTrace = (await commit(fx, requestId, cheat)).gasUsed; // a one-step trace: the root is leaf 0
    for (const pos of [
      { tree: TREE.TRACE, step: 0, element: 0n, height: 0, index: 0n },
      { tree: TREE.DATA, step: 0, element: 0n, height: 0, index: 0n },
    ] as Pos[]) {
      await fx.game.connect(fx.challenger).attack(requestId, pos);
      await answer(fx, requestId, cheat, pos);
    }
    const enc = encodeStep(step);
    const programPath = merklePath([stepLeaf(step)], 0).map(bytesToHex);
    gas.attackElement = (await (await fx.game.connect(fx.challenger).attackElement(requestId, 0, 0, enc, programPath)).wait()).gasUsed;
    const leaves = fake.map((s) => sha256(Buffer.from([0]), encodePartial(s)));
    const levels = levelsOf(leaves);
    const hp = levels.length - 1;
    expect(hp).toBe(21);
    gas.answerElement = (
      await (await fx.game.answerElement(requestId, 0, 0, enc, cheat.chunk(0, 0), bytesToHex(levels[hp]![0]!), bytesToHex(encodePartial(fake[K]!)), merklePath(leaves, K).map(bytesToHex))).wait()
    ).gasUsed;
    let maxNode = 0n;
    for (let h = hp; h > 0; h--) {
      const i = K >> h;
      const pos: Pos = { tree: TREE.PARTIAL, step: 0, element: 0n, height: h, index: BigInt(i) };
      await fx.game.connect(fx.challenger).attack(requestId, pos);
      const g = (await (await fx.game.answerNode(requestId, pos, bytesToHex(levels[h - 1]![2 * i]!), bytesToHex(levels[h - 1]![2 * i + 1] ?? Buffer.alloc(32)))).wait()).gasUsed;
      if (g > maxNode) maxNode = g;
    }
    gas.answerNodePartial = maxNode;
    const reads = [...(await fx.verifier.contract.termReads(enc, 0, K - 1))].map((x: any) => ({ operand: Number(x.operand), index: Number(x.index) }));
    expect(reads).toHaveLength(2);
    const wLeaves = weightLeaves(world.program.weights);
    const ops = reads.map((x) =>
      step.operands[x.operand]!.source === "input"
        ? chunkProofOf(encodeTensor(world.input), x.index, [])
        : chunkProofOf(encodeTensor(world.program.weights[0]!.tensor), x.index, merklePath(wLeaves, 0).map(bytesToHex)),
    );
    expect(ops[0]!.chunkPath).toHaveLength(12);
    const rc = await (
      await fx.game.connect(fx.challenger).proveFold(requestId, 0, 0, enc, K, bytesToHex(encodePartial(fake[K - 1]!)), merklePath(leaves, K - 1).map(bytesToHex), bytesToHex(leaves[K]!), merklePath(leaves, K).map(bytesToHex), ops)
    ).wait();
    gas.proveFold = rc.gasUsed;
    expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerFault);
    console.log(`FraudGame gas at K = 2^20 (21-level partial tree, 12-level operand chunk paths): ${Object.entries(gas).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    for (const g of Object.values(gas)) expect(g).toBeLessThan(2_000_000n);
  }, 300_000);
});
