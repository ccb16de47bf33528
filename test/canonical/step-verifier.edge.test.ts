/**
 * StepVerifier.sol on synthetic steps: every element and every term (at the first precision named; sampled
 * terms at the others) of small steps of each op (grouped, strided, dilated and padded windows; broadcast
 * batches; negative slice steps; concat; resize) over
 * operands full of NaN, ±Inf, subnormals and ±0 at each precision, bit for bit with element.ts; integer
 * wrap-around; element decoding and sameValue; malformed and unsupported steps; and the gas of one call
 * on steps with K = 2^20 terms and 2^32-element tensors.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { encodeStep, MAP_OPS, moveSource, type Precision, type Step, type TensorType } from "../../canonical/index.js";
import { canonicalBits, encodePartial } from "../../canonical/partial.js";
import { seededRandom } from "../../protocol/index.js";
import { checkStep, deployStepVerifier } from "./step-verifier.harness.js";

let verifier: any;
let harness: any;
beforeAll(async () => {
  ({ verifier, harness } = await deployStepVerifier());
});

const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-45, 3e38, -3e38, 65504, 70000, 1, -1, 0.1];
const f32 = (shape: number[]): TensorType => ({ dtype: "float32", shape });

function step(kind: Step["kind"], op: string, operandTypes: TensorType[], output: TensorType, params: Record<string, number[]> = {}): Step {
  return {
    index: 7, kind, op: op as Step["op"], operands: operandTypes.map((_, k) => ({ source: "step" as const, index: k })),
    operandTypes, output, params, origin: { node: "edge", opType: op },
  };
}

/** Seeded operand data: specials and float32 values across many binades (integers for integer dtypes). */
function dataFor(t: TensorType, rand: () => number): number[] {
  const n = t.shape.reduce((a, d) => a * d, 1);
  return Array.from({ length: n }, () => {
    if (t.dtype === "int8") return Math.floor(rand() * 256) - 128;
    if (t.dtype === "uint8") return Math.floor(rand() * 256);
    if (t.dtype === "bool") return rand() < 0.5 ? 0 : 1;
    if (t.dtype === "int32") return Math.floor((rand() - 0.5) * 2 ** 32);
    const r = rand();
    if (r < 0.3) return SPECIAL[Math.floor(rand() * SPECIAL.length)]!;
    return Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 60 - 30));
  });
}

async function checkAll(s: Step, precisions: Precision[], seed: number): Promise<number> {
  const rand = seededRandom(seed);
  const data = s.operandTypes.map((t) => dataFor(t, rand));
  const n = s.output.shape.reduce((a, d) => a * d, 1);
  const es = Array.from({ length: n }, (_, i) => i);
  const bad: string[] = [];
  let checked = 0;
  for (const [i, p] of precisions.entries()) {
    // Every term at the first precision; at the others 0, K − 1, the padding edges and two seeded terms.
    const termsOf = (_e: number, K: number, padding: number[]) =>
      i === 0 ? Array.from({ length: K }, (_, t) => t) : [0, K - 1, ...padding.slice(0, 1), ...padding.slice(-1), Math.floor(rand() * K), Math.floor(rand() * K)];
    const c = await checkStep(harness, s, (k) => data[k]!, p, es, termsOf, bad);
    checked += c.elements + c.terms;
  }
  expect(bad).toEqual([]);
  return checked;
}

const ALL: Precision[] = ["fp32", "tf32", "fp16", "bf16"];

async function revertName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e: any) {
    const data = e.data ?? e.error?.data ?? e.info?.error?.data;
    if (typeof data === "string" && data.length >= 10) {
      const parsed = verifier.interface.parseError(data);
      if (parsed !== null) return `${parsed.name}(${parsed.args.map(String).join(",")})`;
    }
    return String(e.message);
  }
  return "no revert";
}

describe("StepVerifier edge cases", () => {
  it("test_reduceOps_everyElementAndTerm_specialValues_allPrecisions_matchElementTs", async () => {
    let n = 0;
    // Grouped conv, strides 2, pads 1 (begin) and 2 (end), dilation 2, with a bias.
    n += await checkAll(step("reduce", "conv", [f32([1, 4, 5, 6]), f32([4, 2, 2, 3]), f32([4])], f32([1, 4, 3, 2]), { group: [2], strides: [2, 2], pads: [1, 1, 2, 2], dilations: [2, 2] }), ALL, 1);
    // Transposed conv, strides 2, pads 1, group 2.
    n += await checkAll(step("reduce", "convtranspose", [f32([1, 4, 2, 3]), f32([4, 1, 3, 2]), f32([2])], f32([1, 2, 3, 4]), { group: [2], strides: [2, 2], pads: [1, 0, 1, 0], dilations: [1, 1] }), ["fp32", "tf32"], 2);
    // Batched matmul with a broadcast batch, Gemm transposes and a broadcast bias.
    n += await checkAll(step("reduce", "matmul", [f32([2, 1, 3, 2]), f32([3, 4, 3]), f32([4])], f32([2, 3, 2, 4]), { transA: [1], transB: [1] }), ["fp32", "bf16"], 3);
    // Pools: max (−∞ padding) and mean with and without the padding in the count.
    n += await checkAll(step("reduce", "pool", [f32([1, 2, 4, 5])], f32([1, 2, 3, 3]), { fn: [1], kernel: [3, 2], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], countIncludePad: [0] }), ["fp32"], 4);
    n += await checkAll(step("reduce", "pool", [f32([1, 2, 4, 5])], f32([1, 2, 2, 3]), { fn: [2], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], countIncludePad: [0] }), ["fp32", "bf16"], 5);
    n += await checkAll(step("reduce", "pool", [f32([1, 1, 4, 5])], f32([1, 1, 2, 3]), { fn: [2], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], countIncludePad: [1] }), ["fp32"], 6);
    // Reduce over axes 1 and 3, with and without the reduced dims kept; sum, max, mean.
    n += await checkAll(step("reduce", "reduce", [f32([2, 3, 2, 4])], f32([2, 2]), { fn: [2], axes: [1, 3] }), ["fp16"], 7);
    n += await checkAll(step("reduce", "reduce", [f32([2, 3, 2, 4])], f32([2, 1, 2, 1]), { fn: [1], axes: [1, 3] }), ["fp32"], 8);
    n += await checkAll(step("reduce", "reduce", [f32([3, 5])], f32([3]), { fn: [0], axes: [1] }), ["fp32"], 9);
    // Integer matmul (MatMulInteger): int32 sums of int8 · uint8 products.
    n += await checkAll(step("reduce", "matmul", [{ dtype: "int8", shape: [3, 5] }, { dtype: "uint8", shape: [5, 2] }], { dtype: "int32", shape: [3, 2] }, { transA: [0], transB: [0] }), ["fp32"], 10);
    // conv3d (grouped, strided, dilated, padded, with a bias) and pool3d (max; mean with and without the padding).
    n += await checkAll(step("reduce", "conv3d", [f32([1, 4, 3, 4, 3]), f32([2, 2, 2, 2, 2]), f32([2])], f32([1, 2, 2, 2, 2]), { group: [2], strides: [2, 2, 1], pads: [1, 0, 1, 0, 1, 0], dilations: [1, 2, 1] }), ["fp32", "tf32"], 30);
    n += await checkAll(step("reduce", "pool3d", [f32([1, 2, 3, 4, 3])], f32([1, 2, 2, 2, 2]), { fn: [1], kernel: [2, 3, 2], strides: [2, 2, 2], pads: [1, 1, 1, 0, 0, 0], dilations: [1, 1, 1], countIncludePad: [0] }), ["fp32"], 31);
    n += await checkAll(step("reduce", "pool3d", [f32([1, 1, 3, 4, 3])], f32([1, 1, 2, 2, 2]), { fn: [2], kernel: [2, 3, 2], strides: [2, 2, 2], pads: [1, 1, 1, 0, 0, 0], dilations: [1, 1, 1], countIncludePad: [0] }), ["fp32", "bf16"], 32);
    n += await checkAll(step("reduce", "pool3d", [f32([1, 1, 3, 4, 3])], f32([1, 1, 2, 2, 2]), { fn: [2], kernel: [2, 3, 2], strides: [2, 2, 2], pads: [1, 1, 1, 0, 0, 0], dilations: [1, 1, 1], countIncludePad: [1] }), ["fp32"], 33);
    expect(n).toBeGreaterThan(900);
  }, 120_000);

  it("test_int32MatmulAndConv_zeroPointDifferencesAndInt32Bias_wrapLikeElementTs", async () => {
    // int32 operands as a zero-point sub leaves them (|v| <= 510 for 8-bit data), an int32 bias near the
    // int32 range so that the sums wrap; every element and every term.
    const rand = seededRandom(40);
    const i32 = (shape: number[]): TensorType => ({ dtype: "int32", shape });
    const small = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 1021) - 510);
    const bias = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 2 ** 31 - 1 - Math.floor(rand() * 1000) : -(2 ** 31) + Math.floor(rand() * 1000)));
    const cases: [Step, number[][]][] = [
      [step("reduce", "matmul", [i32([2, 3, 5]), i32([5, 4]), i32([4])], i32([2, 3, 4]), { transA: [0], transB: [0] }), [small(30), small(20), bias(4)]],
      [step("reduce", "conv", [i32([1, 2, 4, 5]), i32([3, 2, 2, 3]), i32([3])], i32([1, 3, 3, 2]), { group: [1], strides: [1, 2], pads: [1, 0, 0, 1], dilations: [1, 1] }), [small(40), small(36), bias(3)]],
      [step("reduce", "conv", [{ dtype: "uint8", shape: [1, 2, 3, 3] }, { dtype: "int8", shape: [2, 2, 2, 2] }], i32([1, 2, 2, 2]), { group: [1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] }), [small(18).map((v) => (v + 510) % 256), small(16).map((v) => v % 128)]],
    ];
    const bad: string[] = [];
    let n = 0;
    for (const [s, data] of cases) {
      const numel = s.output.shape.reduce((a, d) => a * d, 1);
      const c = await checkStep(harness, s, (k) => data[k]!, "fp32", Array.from({ length: numel }, (_, i) => i), (_e, K) => Array.from({ length: K }, (_, t) => t), bad);
      n += c.elements + c.terms;
    }
    expect(bad).toEqual([]);
    expect(n).toBeGreaterThan(300);
  }, 120_000);

  it("test_mapAndMoveOps_everyElement_specialValuesWrapAndBroadcast_matchElementTs", async () => {
    let n = 0;
    n += await checkAll(step("map", "add", [f32([2, 1, 3]), f32([4, 1])], f32([2, 4, 3])), ALL, 11);
    n += await checkAll(step("map", "mul", [f32([3, 4]), f32([3])], f32([3, 4]), { view1: [3, 1] }), ALL, 12);
    n += await checkAll(step("map", "div", [f32([6]), f32([6])], f32([6])), ALL, 13);
    n += await checkAll(step("map", "sigmoid", [f32([8])], f32([8])), ["fp32", "bf16"], 14);
    n += await checkAll(step("map", "clip", [f32([8])], f32([8]), { min: [-0.5], max: [6] }), ALL, 15);
    n += await checkAll(step("map", "bn_apply", [f32([1, 2, 2]), f32([2]), f32([2]), f32([2])], f32([1, 2, 2]), { view1: [2, 1], view3: [2, 1] }), ALL, 16);
    n += await checkAll(step("map", "cast", [{ dtype: "int32", shape: [6] }], f32([6]), { to: [1] }), ["fp32", "fp16"], 17);
    // Every float map op with its parameters read from the step (MAP_PARAMS), at fp32 and bf16.
    const ARITY: Record<string, number[]> = { add: [2], sub: [2], mul: [2], div: [2], max: [2], min: [2], pow: [2], bn_scale: [2], exp_sub: [2], bn_apply: [4], ln_apply: [3, 4] };
    const PARAMS: Record<string, Record<string, number[]>> = { clip: { min: [-0.75], max: [6] }, hardsigmoid: { alpha: [0.2], beta: [0.5] }, leakyrelu: { alpha: [0.01] }, bn_scale: { epsilon: [1e-5] }, ln_apply: { epsilon: [1e-5] }, scale: { k: [1.702] }, cast: { to: [1] } };
    for (const op of MAP_OPS.slice(0, MAP_OPS.indexOf("where"))) {
      for (const arity of ARITY[op] ?? [1]) {
        n += await checkAll(step("map", op, Array.from({ length: arity }, () => f32([5])), f32([5]), PARAMS[op] ?? {}), ["fp32", "bf16"], 40 + arity);
      }
    }
    // The appended maps on special values: float outputs, bool outputs of float operands, quantizing maps.
    const NEW_FLOAT: [string, number, Record<string, number[]>][] = [["where", 3, {}], ["prelu", 2, {}], ["fill", 0, { value: [-2.5] }], ["dequantize", 2, {}], ["dequantize", 3, {}], ["qscale", 3, {}], ["dql_scale", 2, {}]];
    for (const [op, arity, params] of NEW_FLOAT) n += await checkAll(step("map", op, Array.from({ length: arity }, () => f32([7])), f32([7]), params), ["fp32", "fp16"], 60 + arity);
    for (const op of ["equal", "less", "greater", "less_equal", "greater_equal", "not", "and", "or", "xor"]) {
      n += await checkAll(step("map", op, Array.from({ length: op === "not" ? 1 : 2 }, () => f32([9])), { dtype: "bool", shape: [9] }), ["fp32"], 70);
    }
    for (const out of ["int8", "uint8"] as const) {
      n += await checkAll(step("map", "quantize", [f32([9]), f32([9])], { dtype: out, shape: [9] }), ["fp32"], 80);
      n += await checkAll(step("map", "quantize", [f32([9]), f32([1]), { dtype: out, shape: [1] }], { dtype: out, shape: [9] }), ["fp32"], 81);
      n += await checkAll(step("map", "requantize", [{ dtype: "int32", shape: [9] }, f32([9]), { dtype: out, shape: [9] }], { dtype: out, shape: [9] }), ["fp32"], 82);
    }
    n += await checkAll(step("map", "where", [{ dtype: "bool", shape: [2, 1] }, { dtype: "int8", shape: [3] }, { dtype: "int8", shape: [2, 3] }], { dtype: "int8", shape: [2, 3] }), ["fp32"], 83);
    n += await checkAll(step("map", "fill", [], { dtype: "int32", shape: [3] }, { value: [-7] }), ["fp32"], 84);
    // The appended moves: a constant step (float and bool), gather, gather_elements, every pad mode, tile.
    n += await checkAll(step("move", "constant", [], f32([2, 3]), { values: [0, -0, NaN, Infinity, 1e-40, -3.5] }), ["fp32"], 85);
    n += await checkAll(step("move", "constant", [], { dtype: "bool", shape: [4] }, { values: [1, 0, 0, 1] }), ["fp32"], 86);
    n += await checkAll(step("move", "gather", [f32([4, 3, 2])], f32([4, 2, 2, 2]), { axis: [1], indices: [2, 0, 1, 1] }), ["fp32"], 87);
    n += await checkAll(step("move", "gather", [f32([4, 3])], f32([3]), { axis: [0], indices: [3] }), ["fp32"], 88);
    n += await checkAll(step("move", "gather_elements", [f32([3, 4])], f32([2, 4]), { axis: [0], indices: [2, 0, 1, 1, 0, 0, 2, 1] }), ["fp32"], 89);
    for (const mode of [0, 1, 2]) n += await checkAll(step("move", "pad", [f32([3, 4])], f32([7, 5]), { mode: [mode], pads: [2, 0, 2, 1], value: [NaN] }), ["fp32"], 90 + mode);
    n += await checkAll(step("move", "pad", [{ dtype: "int8", shape: [3] }], { dtype: "int8", shape: [4] }, { mode: [0], pads: [-1, 2], value: [-128] }), ["fp32"], 93);
    n += await checkAll(step("move", "tile", [f32([2, 3])], f32([6, 6])), ["fp32"], 94);
    n += await checkAll(step("map", "cast", [f32([10])], { dtype: "int8", shape: [10] }, { to: [3] }), ["fp32"], 18);
    // Integer wrap-around.
    n += await checkAll(step("map", "add", [{ dtype: "int8", shape: [8] }, { dtype: "int8", shape: [8] }], { dtype: "int8", shape: [8] }), ["fp32"], 19);
    n += await checkAll(step("map", "mul", [{ dtype: "int32", shape: [8] }, { dtype: "int32", shape: [1] }], { dtype: "int32", shape: [8] }), ["fp32"], 20);
    n += await checkAll(step("map", "sub", [{ dtype: "uint8", shape: [8] }, { dtype: "uint8", shape: [8] }], { dtype: "uint8", shape: [8] }), ["fp32"], 21);
    // Moves.
    n += await checkAll(step("move", "transpose", [f32([2, 3, 4])], f32([4, 2, 3]), { perm: [2, 0, 1] }), ["fp32"], 22);
    n += await checkAll(step("move", "slice", [f32([5, 6])], f32([2, 3]), { starts: [4, 1], steps: [-2, 2] }), ["fp32"], 23);
    n += await checkAll(step("move", "concat", [f32([2, 1, 2]), f32([2, 3, 2]), f32([2, 2, 2])], f32([2, 6, 2]), { axis: [1] }), ["fp32"], 24);
    n += await checkAll(step("move", "expand", [f32([3, 1])], f32([2, 3, 4])), ["fp32"], 25);
    n += await checkAll(step("move", "resize_nearest", [f32([1, 1, 3, 2])], f32([1, 1, 6, 5]), { scales: [1, 1, 2, Math.fround(2.5)] }), ["fp32"], 27);
    n += await checkAll(step("move", "reshape", [{ dtype: "int8", shape: [2, 3] }], { dtype: "int8", shape: [6] }), ["fp32"], 28);
    expect(n).toBeGreaterThan(900);
    // A move of a NaN with a payload writes the canonical NaN; an integer is copied as is.
    const t = step("move", "reshape", [f32([2])], f32([2]));
    const enc = "0x" + encodeStep(t).toString("hex");
    expect(await verifier.elementValue(enc, 1, [0x7ff8000000000123n], 0)).toBe(0x7ff8000000000000n);
    expect(moveSource(t, 1)).toEqual({ operand: 0, index: 1 });
  }, 120_000);

  it("test_decodeElementAndSameValue_everyDtype_matchTensorBytes", async () => {
    const cases: [number, number[], bigint][] = [
      [1, [0x01, 0x00, 0xc0, 0x7f], 0x7ff8000000000000n], // a NaN with a payload → canonical
      [1, [0x00, 0x00, 0x00, 0x80], 0x8000000000000000n], // −0
      [1, [0x01, 0x00, 0x00, 0x00], canonicalBits(2 ** -149)], // the smallest subnormal
      [1, [0x00, 0x00, 0x80, 0xff], canonicalBits(-Infinity)],
      [1, [0xdb, 0x0f, 0x49, 0x40], canonicalBits(Math.fround(Math.PI))],
      [3, [0x80], BigInt.asUintN(64, -128n)],
      [2, [0xff], 255n],
      [5, [0x00, 0x80], BigInt.asUintN(64, -32768n)],
      [4, [0xff, 0xff], 65535n],
      [6, [0xff, 0xff, 0xff, 0xff], BigInt.asUintN(64, -1n)],
      [12, [0xff, 0xff, 0xff, 0xff], 4294967295n],
      [9, [0x01], 1n],
      [9, [0x00], 0n],
    ];
    for (const [dtype, bytes, want] of cases) expect(await verifier.decodeElement(dtype, Uint8Array.from(bytes))).toBe(want);
    expect(await revertName(verifier.decodeElement(1, "0x0000"))).toBe("StepMalformed(2)");
    expect(await revertName(verifier.decodeElement(7, "0x0000000000000000"))).toMatch(/StepUnsupported/);
    expect(await verifier.sameValue(1, 0x7ff8000000000000n, 0x7ff0000000000001n)).toBe(true);
    expect(await verifier.sameValue(1, 0n, 0x8000000000000000n)).toBe(false);
    expect(await verifier.sameValue(1, 0x7ff8000000000000n, 0n)).toBe(false);
    expect(await verifier.sameValue(6, 5n, 5n)).toBe(true);
    expect(await verifier.sameValue(6, 0x7ff8000000000000n, 0x7ff0000000000001n)).toBe(false);
  }, 60_000);

  it("test_malformedUnsupportedAndOutOfRange_revertWithTheirErrors", async () => {
    const add = step("map", "add", [f32([2, 3]), f32([3])], f32([2, 3]));
    const enc = encodeStep(add);
    const hex = (b: Buffer) => "0x" + b.toString("hex");
    const v2 = Buffer.from(enc);
    v2[0] = 2;
    expect(await revertName(verifier.info(hex(v2)))).toBe("StepMalformed(0)");
    expect(await revertName(verifier.info(hex(enc.subarray(0, enc.length - 1))))).toMatch(/^StepMalformed/);
    expect(await revertName(verifier.info(hex(Buffer.concat([enc, Buffer.from([0])]))))).toBe(`StepMalformed(${enc.length})`);
    const wrongKind = Buffer.from(enc);
    wrongKind[5] = 2;
    expect(await revertName(verifier.info(hex(wrongKind)))).toBe("StepMalformed(5)");
    expect(await revertName(verifier.info(hex(encodeStep({ ...add, op: "frobnicate" as Step["op"] }))))).toBe("StepUnsupported(frobnicate)");
    // A move op under the map kind: the kind byte is wrong.
    expect(await revertName(verifier.info(hex(encodeStep({ ...add, op: "gather" as Step["op"] }))))).toBe("StepMalformed(5)");
    expect(await revertName(verifier.reads(hex(enc), 6))).toBe("StepIndexOutOfRange(6,6)");
    // A model input is entry `index` of the input bundle (issue 14): 0..254 decode as encoded, 255 and up are malformed.
    const at = 6 + 2 + Buffer.byteLength("add") + 2; // operand 0: u8 source | u32 index
    const input = (i: number) => {
      const b = Buffer.from(enc);
      b[at] = 1;
      b.writeUInt32BE(i, at + 1);
      return b;
    };
    expect(Number((await verifier.info(hex(input(1)))).operands[0]!.index)).toBe(1);
    expect(Number((await verifier.info(hex(input(254)))).operands[0]!.source)).toBe(1);
    expect(await revertName(verifier.info(hex(input(255))))).toBe(`StepMalformed(${at + 1})`);
    expect(await revertName(verifier.elementValue(hex(enc), 0, [1n], 0))).toBe("StepReadsMismatch(2,1)");
    const conv = step("reduce", "conv", [f32([1, 1, 3, 3]), f32([1, 1, 2, 2])], f32([1, 1, 2, 2]), { group: [1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] });
    const cenc = hex(encodeStep(conv));
    expect(await revertName(verifier.termReads(cenc, 0, 4))).toBe("StepIndexOutOfRange(4,4)");
    expect(await revertName(verifier.reads(cenc, 0))).toMatch(/^StepUnsupported/);
    expect(await revertName(verifier.initReads(hex(enc), 0))).toMatch(/^StepUnsupported/);
    const rec = "0x" + Buffer.from(encodePartial({ kind: "sum", count: 1, t: 0, acc: 0 })).toString("hex");
    expect(await revertName(verifier.foldTerm(cenc, 0, 0, rec, [1n], 0))).toBe("StepReadsMismatch(2,1)");
    // A parameter that is not an integer where one is required.
    const badPerm = hex(encodeStep(step("move", "transpose", [f32([2, 3])], f32([3, 2]), { perm: [1.5, 0] })));
    expect(await revertName(verifier.reads(badPerm, 0))).toMatch(/^StepMalformed/);
    // The appended patterns: an index outside its axis, a wrong parameter count, a bad pad mode, a float
    // zero point, a float operand of a non-bool integer map.
    const bad = async (s: Step, call: "reads" | "value" = "reads") =>
      revertName(call === "reads" ? verifier.reads(hex(encodeStep(s)), 0) : verifier.elementValue(hex(encodeStep(s)), 0, s.operandTypes.map(() => 0n), 0));
    expect(await bad(step("move", "gather", [f32([4, 3])], f32([1, 3]), { axis: [0], indices: [4] }))).toMatch(/^StepMalformed/);
    expect(await bad(step("move", "gather", [f32([4, 3])], f32([2, 3]), { axis: [0], indices: [1] }))).toMatch(/^StepMalformed/);
    expect(await bad(step("move", "gather_elements", [f32([4, 3])], f32([1, 3]), { axis: [0], indices: [-1, 0, 2] }))).toMatch(/^StepMalformed/);
    expect(await bad(step("move", "pad", [f32([4])], f32([6]), { mode: [3], pads: [1, 1], value: [0] }))).toMatch(/^StepMalformed/);
    expect(await bad(step("move", "pad", [f32([4])], f32([6]), { mode: [0], pads: [1], value: [0] }))).toMatch(/^StepMalformed/);
    expect(await bad(step("move", "constant", [], f32([3]), { values: [1, 2] }), "value")).toMatch(/^StepMalformed/);
    expect(await bad(step("move", "constant", [f32([3])], f32([3]), { values: [1, 2, 3] }))).toMatch(/^StepMalformed/);
    expect(await bad(step("map", "quantize", [f32([3]), f32([1]), f32([1])], { dtype: "int8", shape: [3] }), "value")).toMatch(/^StepMalformed/);
    expect(await bad(step("map", "add", [f32([3]), f32([3])], { dtype: "int8", shape: [3] }), "value")).toMatch(/^StepUnsupported/);
    expect(await bad(step("reduce", "conv3d", [f32([1, 1, 2, 2, 2]), { dtype: "int8", shape: [1, 1, 1, 1, 1] }], f32([1, 1, 2, 2, 2]), { group: [1], strides: [1, 1, 1], pads: [0, 0, 0, 0, 0, 0], dilations: [1, 1, 1] }))).toMatch(/^Step/);
    expect(await revertName(verifier.info(hex(encodeStep(step("reduce", "conv3d", [f32([1, 1, 2, 2, 2]), { dtype: "int8", shape: [1, 1, 1, 1, 1] }], f32([1, 1, 2, 2, 2]), { group: [1], strides: [1, 1, 1], pads: [0, 0, 0, 0, 0, 0], dilations: [1, 1, 1] })))))).toMatch(/^StepMalformed/);
  }, 60_000);

  it("test_hugeSteps_K2pow20AndNumel2pow32_oneCallFarBelow2MGas", async () => {
    const K = 2 ** 20;
    const conv = step("reduce", "conv", [f32([1, 4096, 1024, 1024]), f32([2, 4096, 16, 16]), f32([2])], f32([1, 2, 1009, 1009]), { group: [1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] });
    const mm = step("reduce", "matmul", [f32([1, K]), f32([K, 4096])], f32([1, 4096]), { transA: [0], transB: [0] });
    const red = step("reduce", "reduce", [f32([4096, 1024, 1024])], f32([4096]), { fn: [2], axes: [1, 2] });
    const pool = step("reduce", "pool", [f32([1, 4096, 1024, 1024])], f32([1, 4096, 1024, 1024]), { fn: [2], kernel: [1024, 1024], strides: [1, 1], pads: [511, 511, 512, 512], dilations: [1, 1], countIncludePad: [0] });
    const map = step("map", "add", [f32([65536, 65536]), f32([65536])], f32([65536, 65536]));
    const rec = (count: number) => "0x" + Buffer.from(encodePartial({ kind: "sum", count, t: 5, acc: 1.5 })).toString("hex");
    const gas: Record<string, number> = {};
    const last = (s: Step) => s.output.shape.reduce((a, d) => a * d, 1) - 1;
    // The pool's first element reads its window's last term (the last element's is in the padding).
    for (const [name, s, reads, count, first] of [["conv", conv, 2, 1, false], ["matmul", mm, 2, 1, false], ["reduce mean", red, 1, K, false], ["pool mean", pool, 1, 1, true]] as const) {
      const enc = "0x" + encodeStep(s).toString("hex");
      const info = await verifier.info(enc);
      expect(Number(info.terms)).toBe(K);
      const e = first ? 0n : BigInt(last(s));
      const initN = s.operands.length > 2 ? 1 : 0;
      const o = await harness.run.staticCall(enc, 0, [{ e, values: Array(initN).fill(0x3ff0000000000000n), last: rec(count) }], [{ e, t: BigInt(K - 1), prev: rec(count), values: Array(reads).fill(0x3ff0000000000000n) }]);
      expect(o.termReads[0].length).toBe(reads);
      gas[name] = Math.max(...o.gas.map(Number));
    }
    // Hand-computed indices of the last term of the last element.
    const cenc = "0x" + encodeStep(conv).toString("hex");
    const [x, w] = await verifier.termReads(cenc, last(conv), K - 1);
    expect([x[1], w[1]]).toEqual([BigInt(((4095 * 1024) + 1008 + 15) * 1024 + 1008 + 15), BigInt(2 * K - 1)]);
    const [a, b] = await verifier.termReads("0x" + encodeStep(mm).toString("hex"), 4095, K - 1);
    expect([a[1], b[1]]).toEqual([BigInt(K - 1), BigInt(2 ** 32 - 1)]);
    const o = await harness.run.staticCall("0x" + encodeStep(map).toString("hex"), 0, [{ e: BigInt(2 ** 32 - 1), values: [0x3ff0000000000000n, 0x3ff0000000000000n], last: rec(1) }], []);
    expect(o.reads[0].map((r: any) => r[1])).toEqual([BigInt(2 ** 32 - 1), 65535n]);
    gas.map = Math.max(...o.gas.map(Number));
    console.log("StepVerifier gas at K = 2^20, 2^32 elements (worst call):", gas);
    for (const g of Object.values(gas)) expect(g).toBeLessThan(200_000);
  }, 60_000);
});
