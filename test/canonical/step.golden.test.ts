/**
 * CanonicalStep.sol against canonical/element.ts, bit for bit, on the real PP-OCR cls program: seeded
 * elements of every map step (mapElement) and of every reduce step (every fold of its K + 1 partial
 * states as encoded records, and the finalize), at each precision and on huge inputs that overflow;
 * plus every float map op of FLOAT_EXPR on seeded and special operands. One StepHarness deployment,
 * elements evaluated in batches. Prints the gas of a fold, a finalize and each map op. The integer,
 * quantize and coverage-program steps: step.golden-integer.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MAP_OPS } from "../../canonical/index.js";
import { roundOperand } from "../../canonical/float.js";
import { canonicalBits, mapOpCode, mapParamsOf, precisionCode } from "../../canonical/partial.js";
import { textLineTensor } from "../../examples/text-images.js";
import { seededRandom } from "../../protocol/index.js";
import { uniformTensor } from "./helpers.js";
import { ARITY, checkFolds, checkMaps, clsFolds, clsMapVecs, deployStepHarness, hex64, packMaps, PARAM_VALUES, QUANT_OUT, SHAPE, SPECIAL, syntheticStep, syntheticVecs } from "./step-golden.harness.js";

let harness: any;
beforeAll(async () => {
  harness = await deployStepHarness(true);
});

describe("CanonicalStep (golden, bit for bit with canonical/element.ts)", () => {
  it("test_clsMapSteps_seededElements_allPrecisionsAndOverflow_matchElementTs", async () => {
    const x = textLineTensor("Step by step");
    const vecs = [
      ...clsMapVecs(x, "fp32", 3, 31),
      ...clsMapVecs(x, "tf32", 1, 32),
      ...clsMapVecs(x, "fp16", 1, 33),
      ...clsMapVecs(x, "bf16", 1, 34),
      ...clsMapVecs(uniformTensor(SHAPE, 4, -3e38, 3e38), "fp32", 1, 35),
    ];
    expect(new Set(vecs.map((v) => v.op)).size).toBeGreaterThanOrEqual(9);
    await checkMaps(vecs);
  }, 60_000);

  it("test_everyFloatMapOp_seededAndSpecialOperands_matchFloatExpr", async () => {
    const vecs = syntheticVecs(36);
    await checkMaps(vecs);
    // Gas of each map op alone: one typical finite element (operands 1.25, 0.75, 1.5, 0.5), fp32 storage.
    const typical = [1.25, 0.75, 1.5, 0.5];
    const gasVecs = MAP_OPS.filter((op) => !QUANT_OUT.has(op)).flatMap((op) => (ARITY[op] ?? [1]).map((arity) => ({ op, arity, step: syntheticStep(op, arity, PARAM_VALUES[op] ?? {}) })));
    const [gas]: [bigint[]] = await harness.gasMap.staticCall(packMaps(gasVecs.map(({ op, step, arity }) => ({ op: mapOpCode(op), precision: 0, operands: typical.slice(0, arity), params: mapParamsOf(step), want: 0n, what: op }))));
    console.log("CanonicalStep.mapElement gas (fp32):", Object.fromEntries(gasVecs.map(({ op, arity }, i) => [ARITY[op] && ARITY[op]!.length > 1 ? `${op}/${arity}` : op, Number(gas[i])])));
    expect(gasVecs.length).toBe(MAP_OPS.length - QUANT_OUT.size + 2); // ln_apply and dequantize with and without the last operand
  }, 60_000);

  it("test_clsReduceSteps_everyFoldAndFinalize_fp32AndOverflow_matchElementTs", async () => {
    const x = textLineTensor("Step by step");
    const fp32 = clsFolds(x, "fp32", 1, 41);
    const folds = (await checkFolds(fp32)) + (await checkFolds(clsFolds(uniformTensor(SHAPE, 4, -3e38, 3e38), "fp32", 1, 42, 3)));
    // Gas: a sum fold, a max fold (the pool's or the softmax's max), a finalize per precision.
    const sums = fp32.records.flatMap((r, i) => (r.slice(4, 6) === "00" && i % 37 === 0 ? [i] : [])).slice(0, 300);
    const maxes = fp32.records.flatMap((r, i) => (r.slice(4, 6) === "01" ? [i] : [])).slice(0, 50);
    const gasOf = async (idx: number[]) => ((await harness.gasFold.staticCall(idx.map((i) => fp32.records[i]), idx.map((i) => fp32.terms[i]))) as bigint[]).map(Number).sort((p, q) => p - q);
    const [gs, gm] = [await gasOf(sums), await gasOf(maxes)];
    const g = [`${gs[gs.length >> 1]} median, ${gs.at(-1)} max of ${gs.length}`, `${gm[gm.length >> 1]} median, ${gm.at(-1)} max of ${gm.length}`];
    const last = fp32.finals[0]!.record;
    const gf: bigint[] = await harness.gasFinalize.staticCall([last, last, last, last], [0, 1, 2, 3]);
    console.log(`CanonicalStep gas: fold sum ${g[0]}, fold max ${g[1] ?? "-"}, finalize fp32/tf32/fp16/bf16 ${gf.join("/")}; folds checked ${folds}`);
    expect(maxes.length).toBeGreaterThan(0);
    expect(folds).toBeGreaterThan(5000);
  }, 60_000);

  it("test_clsReduceSteps_tf32Fp16Bf16_everyFoldAndFinalize_matchElementTs", async () => {
    const x = textLineTensor("Step by step");
    let folds = 0;
    for (const [p, seed] of [["tf32", 51], ["fp16", 52], ["bf16", 53]] as const) folds += await checkFolds(clsFolds(x, p, 1, seed, 4));
    expect(folds).toBeGreaterThan(1000);
  }, 60_000);

  it("test_contractionTerms_seededAndSpecialOperands_allPrecisions_matchRoundOperand", async () => {
    const rand = seededRandom(61);
    const value = () => (rand() < 0.2 ? SPECIAL[Math.floor(rand() * SPECIAL.length)]! : Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 80 - 40)));
    const a = Array.from({ length: 300 }, value);
    const b = Array.from({ length: 300 }, value);
    for (const p of ["fp32", "tf32", "fp16", "bf16"] as const) {
      const got: bigint[] = await harness.evalTerm.staticCall(a.map(canonicalBits), b.map(canonicalBits), precisionCode(p));
      const want = a.map((x, i) => canonicalBits(roundOperand(x, p) * roundOperand(b[i]!, p)));
      expect(got.map(hex64)).toEqual(want.map(hex64));
    }
  }, 60_000);

});
