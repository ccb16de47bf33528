/**
 * Issue 14's acceptance, "a wrong element in each newly supported operator kind proven on-chain", for EVERY step
 * kind the lowering can produce: each op of MAP_OPS, MOVE_OPS and REDUCE_OPS (enumerated from canonical/program.ts,
 * so a kind appended later without a model here fails the coverage test), plus integer matmul and conv (an int32
 * fold). A small ONNX model lowers to a step of that kind; an honest element of it is flipped in its lowest bit
 * (its raw little-endian bytes, as a worker's chunk carries it), and the on-chain leaf check rejects the flipped
 * element while accepting the honest one — the very StepVerifier calls FraudGame makes:
 * - map/move (proveStep): reads(e) names the operand elements (equal to canonical/reads.ts), decodeElement of
 *   their bytes, elementValue(e) then sameValue against the claimed element: true for the honest element
 *   (FraudGameNoFault), false for the flipped one (WorkerFault);
 * - reduce (answerElement + proveFold): the cheater's last partial record finalizes to the flipped element (so
 *   answerElement takes it), the honest record K − 1 is kept, and foldTerm(K − 1) from it over the operands
 *   termReads(K − 1) names (equal to canonical/reads.ts) recomputes the honest record K: equal to the honest
 *   leaf (NoFault), different from the cheater's (WorkerFault).
 * One StepVerifier deployment; every check of every kind is sent at once (concurrent eth_calls).
 */
import { network } from "hardhat";
import { beforeAll, describe, expect, it } from "vitest";
import {
  MAP_OPS,
  MOVE_OPS,
  REDUCE_OPS,
  elementReads,
  encodePartial,
  encodeStep,
  finalizeReduce,
  lowerModel,
  partialStates,
  precisionCode,
  reduceTerms,
  runProgram,
  termCount,
  termReads,
  type Program,
  type Read,
  type Step,
} from "../../canonical/index.js";
import { DTYPES, deployStepVerifier, type DType, type Tensor } from "../../protocol/index.js";
import { buildModel, values, type Attr, type InitSpec, type NodeSpec } from "../canonical/onnx-builder.js";

/** Kinds no model here reaches (none today). Listed explicitly: the test fails when this list and the truth differ. */
const UNCOVERED: string[] = [];
/** Integer folds keyed apart (their fold is int32, their terms exact int64 products). */
const INTEGER_REDUCES = ["reduce:matmul int32", "reduce:conv int32"];

const f = (name: string, shape: number[], seed: number, lo = -1, hi = 1): InitSpec => ({ name, dtype: "float32", shape, values: values(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });
const i64 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int64", shape, values: v });
const u8 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "uint8", shape, values: v });
const i8 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int8", shape, values: v });
const scalar = (name: string, v: number): InitSpec => ({ name, dtype: "float32", shape: [], values: [v] });
const ints = (v: number[]): Attr => ({ ints: v });
const str = (v: string): Attr => ({ s: v });
const node = (op: string, inputs: string[], outputs: string[], attrs?: Record<string, Attr>): NodeSpec => ({ op, inputs, outputs, attrs });
const one = (op: string, inputs: string[] = [], attrs?: Record<string, Attr>): NodeSpec[] => [node(op, ["x", ...inputs], ["y"], attrs)];

interface Model {
  shape: number[];
  dtype?: "float32" | "int8" | "uint8";
  nodes: NodeSpec[];
  inits?: InitSpec[];
  opset?: number;
  range?: [number, number];
}

const X = [2, 3, 4];
const unary = (op: string, range?: [number, number], attrs?: Record<string, Attr>): Model => ({ shape: X, nodes: one(op, [], attrs), range });
const binary = (op: string, range?: [number, number]): Model => ({ shape: X, nodes: one(op, ["c"]), inits: [f("c", [4], 3, range?.[0], range?.[1])], range });

const MODELS: Model[] = [
  ...["Add", "Sub", "Mul", "Div", "Max", "Min"].map((op) => binary(op)),
  binary("Pow", [0.5, 2]),
  ...["Neg", "Abs", "Relu", "Exp", "Sigmoid", "Tanh", "Erf", "Reciprocal", "Floor", "Ceil", "HardSigmoid", "HardSwish", "LeakyRelu"].map((op) => unary(op, [-2, 2])),
  unary("Sqrt", [0.1, 2]),
  unary("Log", [0.1, 2]),
  { shape: X, nodes: one("Clip", ["lo", "hi"]), inits: [scalar("lo", -0.5), scalar("hi", 0.5)], opset: 13 },
  { shape: X, nodes: one("Gelu"), opset: 20 },
  { shape: X, nodes: one("Gelu", [], { approximate: str("tanh") }), opset: 20 },
  { shape: [2, 3, 4, 5], nodes: one("BatchNormalization", ["s", "b", "m", "v"]), inits: [f("s", [3], 4), f("b", [3], 5), f("m", [3], 6), f("v", [3], 7, 0.5, 2)] },
  { shape: X, nodes: one("Softmax", [], { axis: { i: -1 } }), opset: 13 },
  { shape: X, nodes: one("LayerNormalization", ["s", "b"], { axis: { i: -1 } }), inits: [f("s", [4], 8), f("b", [4], 9)], opset: 17 },
  { shape: [3, 5], nodes: one("Gemm", ["w", "c"], { alpha: { f: 0.5 }, beta: { f: 2 } }), inits: [f("w", [5, 4], 10), f("c", [4], 11)] },
  { shape: X, nodes: one("Cast", [], { to: { i: 6 } }), range: [-50, 50] },
  { shape: X, nodes: [node("Greater", ["x", "c"], ["m"]), node("Where", ["m", "x", "d"], ["y"])], inits: [f("c", [4], 12), f("d", [3, 1], 13)] },
  { shape: X, nodes: [node("Less", ["x", "z"], ["a"]), node("Equal", ["x", "x"], ["b"]), node("LessOrEqual", ["x", "h"], ["c"]), node("GreaterOrEqual", ["x", "h"], ["d"]), node("And", ["a", "b"], ["ab"]), node("Or", ["ab", "c"], ["o"]), node("Not", ["o"], ["n"]), node("Xor", ["n", "d"], ["y"])], inits: [f("z", [1], 14), f("h", [4], 15)] },
  { shape: [2, 3, 4, 5], nodes: one("PRelu", ["s"]), inits: [f("s", [3, 1, 1], 16)] },
  { shape: X, nodes: [node("Shape", ["x"], ["s"]), node("ConstantOfShape", ["s"], ["c"], { value: { t: { name: "v", dtype: "float32", shape: [1], values: [1.5] } } }), node("Mul", ["x", "c"], ["y"])] },
  { shape: X, nodes: one("QuantizeLinear", ["s", "z"]), inits: [scalar("s", 0.0125), u8("z", [128], [])], range: [-2, 2] },
  { shape: X, dtype: "uint8", nodes: one("DequantizeLinear", ["s", "z"]), inits: [scalar("s", 0.03), u8("z", [131], [])] },
  { shape: [3, 6], dtype: "uint8", nodes: [node("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [scalar("sa", 0.015), u8("za", [128], []), i8("w", values(24, 17, -128, 128).map(Math.floor), [6, 4]), scalar("sw", 0.012), i8("zw", [0], []), scalar("sy", 0.07), u8("zy", [100], [])] },
  { shape: X, nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])], range: [-3, 1.7] },
  { shape: [1, 2, 5, 6], dtype: "uint8", nodes: one("ConvInteger", ["w", "zx"], { pads: ints([1, 0, 1, 2]) }), inits: [u8("w", values(36, 18, 0, 256).map(Math.floor), [2, 2, 3, 3]), u8("zx", [120], [])] },
  // move
  { shape: X, nodes: one("Reshape", ["s"]), inits: [i64("s", [6, 4])] },
  { shape: X, nodes: one("Transpose", [], { perm: ints([2, 0, 1]) }) },
  { shape: X, nodes: one("Slice", ["st", "en", "ax", "sp"]), inits: [i64("st", [0, 3]), i64("en", [3, 0]), i64("ax", [1, 2]), i64("sp", [2, -1])], opset: 13 },
  { shape: X, nodes: one("Concat", ["c"], { axis: { i: 1 } }), inits: [f("c", [2, 2, 4], 19)] },
  { shape: [3, 1], nodes: one("Expand", ["s"]), inits: [i64("s", [2, 3, 4])], opset: 13 },
  { shape: [1, 2, 3, 4], nodes: one("Upsample", ["s"], { mode: str("nearest") }), inits: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 3] }], opset: 9 },
  { shape: [5, 3], nodes: one("Gather", ["i"], { axis: { i: 0 } }), inits: [i64("i", [4, 0, -1, 2, 2, -5], [2, 3])] },
  { shape: X, nodes: one("GatherElements", ["i"], { axis: { i: -1 } }), inits: [i64("i", [3, 0, -1, 1, 2, 0], [2, 1, 3])] },
  { shape: X, nodes: one("Pad", ["p"], { mode: str("reflect") }), inits: [i64("p", [1, 2, 3, 0, 2, 3])] },
  { shape: X, nodes: one("Tile", ["r"]), inits: [i64("r", [2, 1, 3])] },
  { shape: [2, 4, 4], nodes: [node("Range", ["z", "n", "one"], ["r"]), node("Unsqueeze", ["r", "ax"], ["rr"]), node("GreaterOrEqual", ["rr", "r"], ["m"]), node("Where", ["m", "x", "big"], ["y"])], inits: [i64("z", [0], []), i64("n", [4], []), i64("one", [1], []), i64("ax", [1]), scalar("big", -1e9)] },
  // reduce
  { shape: [1, 3, 5, 6], nodes: one("Conv", ["w", "b"], { pads: ints([1, 1, 0, 2]), strides: ints([2, 1]) }), inits: [f("w", [4, 3, 3, 3], 20), f("b", [4], 21)] },
  { shape: [1, 4, 3, 4], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 2]), pads: ints([1, 0, 0, 1]) }), inits: [f("w", [4, 3, 3, 2], 22), f("b", [3], 23)] },
  { shape: [1, 2, 5, 6], nodes: one("AveragePool", [], { kernel_shape: ints([3, 2]), pads: ints([1, 0, 1, 1]) }) },
  { shape: X, nodes: one("ReduceSum", [], { axes: ints([1]), keepdims: { i: 0 } }), opset: 11 },
  { shape: [1, 3, 4, 5, 4], nodes: one("Conv", ["w", "b"], { pads: ints([1, 0, 1, 0, 1, 1]), strides: ints([1, 2, 1]) }), inits: [f("w", [2, 3, 2, 3, 2], 24), f("b", [2], 25)] },
  { shape: [1, 2, 4, 5, 6], nodes: one("MaxPool", [], { kernel_shape: ints([2, 3, 2]), strides: ints([2, 1, 2]), pads: ints([1, 0, 1, 0, 1, 0]) }) },
  { shape: [1, 2, 3, 4], nodes: one("Resize", ["", "s"], { mode: str("linear") }), inits: [{ name: "s", dtype: "float32", shape: [4], values: [1, 1, 2, 2] }], opset: 13 },
  { shape: [1, 4, 2, 3, 3], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 1, 2]), pads: ints([1, 0, 1, 0, 1, 0]), output_padding: ints([1, 0, 1]), group: { i: 2 } }), inits: [f("w", [4, 2, 2, 3, 2], 26), f("b", [4], 27)] },
];

function inputOf(m: Model, seed: number): Tensor {
  const n = m.shape.reduce((a, b) => a * b, 1);
  if (m.dtype === "uint8") return { dtype: "uint8", shape: m.shape, data: Uint8Array.from(values(n, seed, 0, 256), Math.floor) };
  const [lo, hi] = m.range ?? [-1, 1];
  return { dtype: "float32", shape: m.shape, data: Float32Array.from(values(n, seed, lo, hi)) };
}

const keyOf = (s: Step) => `${s.kind}:${s.op}${s.kind === "reduce" && s.output.dtype !== "float32" ? ` ${s.output.dtype}` : ""}`;
/** An element's raw little-endian bytes, as a trace chunk carries them. */
const rawOf = (dtype: DType, v: number): Uint8Array => new Uint8Array(new DTYPES[dtype].array([dtype === "bool" ? (v ? 1 : 0) : (v as never)] as never).buffer);
const hex = (u: Uint8Array) => "0x" + Buffer.from(u).toString("hex");
const readsText = (rs: ReadonlyArray<{ operand: unknown; index: unknown }>) => rs.map((r) => `${Number(r.operand)}@${Number(r.index)}`).join(" ");

interface Leaf {
  key: string;
  step: Step;
  e: number;
  honest: Uint8Array;
  flipped: Uint8Array;
  /** The operand elements the leaf reads (reads(e), or termReads(e, K − 1)), with their values. */
  reads: Read[];
  operandRaw: { dtype: DType; raw: Uint8Array }[];
  /** reduce: K and the honest records K − 1 and K, the cheater's record K. */
  K?: number;
  prev?: Uint8Array;
  honestLast?: Uint8Array;
  cheatLast?: Uint8Array;
}

/** The first element of each step kind: a non-NaN one (a flipped NaN stays NaN), preferring a reduce element whose last term reads its operands. */
function leavesOf(program: Program, input: Tensor): Leaf[] {
  const { trace } = runProgram(program, input);
  const out: Leaf[] = [];
  for (const step of program.steps) {
    const read = (k: number): ArrayLike<number> => {
      const o = step.operands[k]!;
      return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
    };
    const data = trace[step.index]!.data as ArrayLike<number>;
    const dtype = step.output.dtype;
    const candidates = Array.from({ length: data.length }, (_, e) => e).filter((e) => data[e] === data[e]);
    if (candidates.length === 0) continue;
    const K = step.kind === "reduce" ? termCount(step) : 0;
    const e = step.kind === "reduce" ? (candidates.find((i) => termReads(step, i, K - 1).length > 0) ?? candidates[0]!) : candidates[0]!;
    const honest = rawOf(dtype, Number(data[e]));
    const flipped = Uint8Array.from(honest);
    flipped[0] = flipped[0]! ^ 1;
    const reads = step.kind === "reduce" ? termReads(step, e, K - 1) : elementReads(step, e);
    const operandRaw = reads.map((r) => ({ dtype: step.operandTypes[r.operand]!.dtype, raw: rawOf(step.operandTypes[r.operand]!.dtype, Number(read(r.operand)[r.index])) }));
    const leaf: Leaf = { key: keyOf(step), step, e, honest, flipped, reads, operandRaw };
    if (step.kind === "reduce") {
      const integer = dtype !== "float32";
      const r = reduceTerms(step, read, e, "fp32");
      const states = partialStates(r, integer);
      const claimed = new DTYPES[dtype].array(flipped.buffer)[0] as number;
      const cheat = { ...states[K]!, acc: r.count === 1 ? claimed : claimed * r.count };
      expect(Object.is(finalizeReduce(step, r, cheat.acc, "fp32"), claimed)).toBe(true);
      Object.assign(leaf, { K, prev: encodePartial(states[K - 1]!), honestLast: encodePartial(states[K]!), cheatLast: encodePartial(cheat) });
    }
    out.push(leaf);
  }
  return out;
}

let verifier: any;
const LEAVES = new Map<string, Leaf>();
beforeAll(async () => {
  const conn = await network.create();
  const [deployer] = await conn.ethers.getSigners();
  ({ verifier } = await deployStepVerifier(deployer!));
  MODELS.forEach((m, i) => {
    const program = lowerModel(buildModel({ input: { name: "x", shape: m.shape, dtype: m.dtype }, output: "y", nodes: m.nodes, initializers: m.inits, opset: m.opset }));
    for (const leaf of leavesOf(program, inputOf(m, 100 + i))) if (!LEAVES.has(leaf.key)) LEAVES.set(leaf.key, leaf);
  });
}, 60_000);

/** The leaf check of one kind on-chain: what it recomputes for the honest and for the flipped element. */
async function checkOnChain(leaf: Leaf): Promise<string[]> {
  const { step, e } = leaf;
  const enc = hex(encodeStep(step));
  const code = DTYPES[step.output.dtype].code;
  const fp32 = precisionCode("fp32");
  const problems: string[] = [];
  const onChainReads = step.kind === "reduce" ? await verifier.termReads(enc, e, leaf.K! - 1) : await verifier.reads(enc, e);
  if (readsText(onChainReads) !== readsText(leaf.reads)) problems.push(`reads ${readsText(onChainReads)}, canonical/reads.ts ${readsText(leaf.reads)}`);
  const vals: bigint[] = await Promise.all(leaf.operandRaw.map((o) => verifier.decodeElement(DTYPES[o.dtype].code, hex(o.raw))));
  const [honest, flipped]: bigint[] = await Promise.all([verifier.decodeElement(code, hex(leaf.honest)), verifier.decodeElement(code, hex(leaf.flipped))]);
  if (step.kind !== "reduce") {
    // proveStep: NoFault when sameValue(expected, claimed), else WorkerFault.
    const expected: bigint = await verifier.elementValue(enc, e, vals, fp32);
    const [okHonest, okFlipped] = await Promise.all([verifier.sameValue(code, expected, honest), verifier.sameValue(code, expected, flipped)]);
    if (!okHonest) problems.push("the honest element is not accepted");
    if (okFlipped) problems.push("the flipped element is accepted");
    return problems;
  }
  // answerElement takes the cheater's last record (it finalizes to the flipped element), proveFold(K) recomputes it.
  const [finCheat, finHonest, folded] = await Promise.all([verifier.finalize(enc, hex(leaf.cheatLast!), fp32), verifier.finalize(enc, hex(leaf.honestLast!), fp32), verifier.foldTerm(enc, e, leaf.K! - 1, hex(leaf.prev!), vals, fp32)]);
  if (!(await verifier.sameValue(code, finCheat, flipped))) problems.push("the cheater's last record does not finalize to the flipped element");
  if (!(await verifier.sameValue(code, finHonest, honest))) problems.push("the honest last record does not finalize to the honest element");
  if (folded !== hex(leaf.honestLast!)) problems.push(`foldTerm(K − 1) gives ${folded}, the honest record is ${hex(leaf.honestLast!)}`);
  if (folded === hex(leaf.cheatLast!)) problems.push("foldTerm(K − 1) gives the cheater's record");
  return problems;
}

describe("attack: one wrong bit in one element of every step kind, rejected by the on-chain leaf check", () => {
  it("test_everyStepKind_coveredByAModel_orListedUncovered", () => {
    const kinds = [...MAP_OPS.map((o) => `map:${o}`), ...MOVE_OPS.map((o) => `move:${o}`), ...REDUCE_OPS.map((o) => `reduce:${o}`), ...INTEGER_REDUCES];
    expect(kinds.filter((k) => !LEAVES.has(k))).toEqual(UNCOVERED);
    expect(kinds.length).toBe(MAP_OPS.length + MOVE_OPS.length + REDUCE_OPS.length + 2);
  });

  it("test_everyStepKind_flippedElementRejected_honestElementAccepted_onStepVerifier", async () => {
    const leaves = [...LEAVES.values()];
    const results = await Promise.all(leaves.map(async (leaf) => ({ leaf, problems: await checkOnChain(leaf) })));
    const bad = results.filter((r) => r.problems.length > 0).map((r) => `${r.leaf.key} (step ${r.leaf.step.index}, element ${r.leaf.e}): ${r.problems.join("; ")}`);
    expect(bad).toEqual([]);
    const reading = leaves.filter((l) => l.reads.length > 0).length;
    console.log(`${leaves.length} step kinds: a one-bit-wrong element rejected, the honest one accepted (${reading} leaves read operands)`);
    expect(leaves.length).toBeGreaterThanOrEqual(MAP_OPS.length + MOVE_OPS.length + REDUCE_OPS.length);
  }, 60_000);
});
