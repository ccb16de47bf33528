/**
 * Attack: cheat on a step whose encoding carries many values, the ones the lowering allows at its caps: a
 * `move constant` step of MAX_CONSTANT_STEP values (a folded int64 constant cast to int32 and used as data)
 * and a `move gather` with MAX_CONSTANT_INDICES constant indices. The worker flips the last element of that
 * step's output; the challenger descends to its chunk and proves the element with `proveStep` on the real
 * FraudGame and StepVerifier. Measures the WHOLE leaf: the gas of every transaction of the game (each of
 * proveStep's verifier calls — info, outputHeader, reads, elementValue — decodes the step in its own call),
 * and every one stays under the game's 2M gas per move with margin.
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, type Program, MAX_CONSTANT_INDICES, MAX_CONSTANT_STEP } from "../../canonical/index.js";
import { CHUNK_BYTES, DTYPES, encodeTensor, type Tensor } from "../../protocol/index.js";
import { buildModel } from "../canonical/onnx-builder.js";
import { chunkProofOf, operandProofsOf, programPathOf } from "./game-proof-helpers.js";
import { commit, deployGame, descend, openDispute, RULING, TraceBook, withElement, worldOf, type ClsWorld, type Connection } from "./game-fixture.js";

/** The game's budget for one move (docs/OPTIMISTIC.md); the leaves here must leave a quarter of it spare. */
const MOVE_GAS = 2_000_000n;
const MARGIN = 1_500_000n;

let conn: Connection;
beforeAll(async () => {
  conn = await network.create();
}, 120_000);

/** The worker flips the last element of step j's output; the challenger proves it. Returns the gas of every move. */
async function proveLastElement(world: ClsWorld, j: number): Promise<Record<string, bigint>> {
  const fx = await deployGame(conn, world);
  expect(fx.verifier.real).toBe(true);
  // Both contracts a leaf runs through stay deployable (EIP-170: 24,576 bytes).
  for (const a of [fx.verifier.address, fx.gameAddr]) expect((await conn.ethers.provider.getCode(a)).length / 2 - 1).toBeLessThanOrEqual(24_576);
  const honest = world.honest.tensors;
  const t = honest[j]!;
  const e = t.data.length - 1;
  const cheat = new TraceBook(honest.map((x, i) => (i === j ? withElement(x, e, Number(t.data[e]) + 1) : x)));
  const { requestId } = await openDispute(fx, world, cheat.tensors[cheat.n - 1]!);
  const gas: Record<string, bigint> = {};
  gas.commitTrace = (await commit(fx, requestId, cheat)).gasUsed;
  const size = DTYPES[t.dtype].size;
  const d = await descend(fx, requestId, cheat, j, Math.floor((e * size) / CHUNK_BYTES));
  gas.attack = d.attack.reduce((a, b) => (b > a ? b : a), 0n);
  gas.answer = d.answer.reduce((a, b) => (b > a ? b : a), 0n);
  const step = world.program.steps[j]!;
  const enc = encodeStep(step);
  const reads = [...(await fx.verifier.contract.reads(enc, e))];
  const rc = await (
    await fx.game
      .connect(fx.challenger)
      .proveStep(requestId, j, e, enc, programPathOf(world, j), chunkProofOf(encodeTensor(cheat.tensors[j]!), e, cheat.manifestPath(j)), operandProofsOf(world, step, reads, cheat))
  ).wait();
  gas.proveStep = rc.gasUsed;
  expect(Number((await fx.oracle.disputes(requestId)).ruling)).toBe(RULING.WorkerFault);
  return gas;
}

const show = (gas: Record<string, bigint>) => Object.entries(gas).map(([k, v]) => `${k} ${v}`).join(", ");

describe("attack: a false element of a step carrying many values, proven within 2M gas per move", () => {
  it("test_proveStep_constantStepAtCap_lastElementFlipped_workerFault_everyMoveUnder1p5MGas", async () => {
    const n = MAX_CONSTANT_STEP;
    const bytes = buildModel({
      input: { name: "x", shape: [1, n], dtype: "int32" },
      output: "y",
      nodes: [
        { op: "Cast", inputs: ["c"], outputs: ["ci"], attrs: { to: { i: 6 } } },
        { op: "Add", inputs: ["x", "ci"], outputs: ["y"] },
      ],
      // int32 values across the whole range: their binary64 encodings have the most nonzero bytes (calldata).
      initializers: [{ name: "c", dtype: "int64", shape: [1, n], values: Array.from({ length: n }, (_, k) => Number((BigInt(k + 1) * 2654435761n) % 4294967296n) - 2147483648) }],
    });
    const input: Tensor = { dtype: "int32", shape: [1, n], data: Int32Array.from({ length: n }, (_, k) => (k % 61) - 30) }; // int32 wraps
    const world = worldOf(bytes, input);
    const program: Program = world.program;
    expect(program.steps.map((s) => `${s.kind}:${s.op}`)).toEqual(["move:constant", "map:add"]);
    expect((program.steps[0]!.params.values as number[]).length).toBe(n);
    const gas = await proveLastElement(world, 0);
    console.log(`FraudGame gas, constant step of ${n} values (${encodeStep(program.steps[0]!).length} bytes): ${show(gas)}`);
    for (const g of Object.values(gas)) expect(g).toBeLessThan(MARGIN);
  }, 300_000);

  it("test_proveStep_gatherAtIndexCap_lastElementFlipped_workerFault_everyMoveUnder1p5MGas", async () => {
    const n = MAX_CONSTANT_INDICES;
    const W = 1 << 20;
    const bytes = buildModel({
      input: { name: "x", shape: [1, W] },
      output: "y",
      nodes: [{ op: "Gather", inputs: ["x", "i"], outputs: ["y"], attrs: { axis: { i: 1 } } }],
      // Indices across a 2^20-wide axis (more nonzero bytes in their encodings than small ones).
      initializers: [{ name: "i", dtype: "int64", shape: [n], values: Array.from({ length: n }, (_, k) => Number((BigInt(k + 1) * 2654435761n) % BigInt(W))) }],
    });
    const input: Tensor = { dtype: "float32", shape: [1, W], data: Float32Array.from({ length: W }, (_, k) => (k % 97) / 8 - 3) };
    const world = worldOf(bytes, input);
    expect(world.program.steps.map((s) => `${s.kind}:${s.op}`)).toEqual(["move:gather"]);
    const gas = await proveLastElement(world, 0);
    console.log(`FraudGame gas, gather with ${n} constant indices (${encodeStep(world.program.steps[0]!).length} bytes): ${show(gas)}`);
    for (const g of Object.values(gas)) expect(g).toBeLessThan(MARGIN);
    expect(gas.proveStep).toBeLessThan(MOVE_GAS);
  }, 300_000);
});
