/**
 * Clip with a bound the model computes (opset ≥ 11; openWakeWord's melspectrogram ends with
 * Clip(x, ReduceMax(x) − 80, +Inf), its top-dB clamp): lowered to max(x, lo) and min(·, hi) map steps
 * with a constant bound kept as a clip step. Every form (computed lo with +Inf, finite or computed hi;
 * constant lo with computed hi) against onnxruntime bit for bit, every element of every step through
 * element.ts and StepVerifier.sol bit for bit (NaN, ±Inf, ±0 and ties among the inputs), and a one-bit
 * error in the clamped tensor pinpointed by the descent and proven by the leaf check.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { checkFinding, descend, type Finding } from "../../canonical/descent.js";
import { finalizeReduce, foldPartials, mapElement, moveElement, reduceTerms } from "../../canonical/element.js";
import { encodeStep, lowerModel, runProgram, type Program } from "../../canonical/index.js";
import { CanonicalTrace } from "../../canonical/trace.js";
import type { Tensor } from "../../protocol/index.js";
import { ortRun } from "./helpers.js";
import { buildModel, values, type InitSpec, type NodeSpec } from "./onnx-builder.js";
import { checkStep, deployStepVerifier, wordOf } from "./step-verifier.harness.js";
import { editTensor, leafContext, ResponderTrace } from "./trace-fixtures.js";

const node = (op: string, inputs: string[], outputs: string[], attrs?: NodeSpec["attrs"]): NodeSpec => ({ op, inputs, outputs, attrs });
const scalar = (name: string, v: number): InitSpec => ({ name, dtype: "float32", shape: [], values: [v] });
const SHAPE = [1, 1, 5, 8];

/** The melspectrogram tail: lo = ReduceMax(x) − 80 (a scalar: keepdims 0), then Clip(x, lo, hi). */
const topDb = (hi: string): NodeSpec[] => [node("ReduceMax", ["x"], ["m"], { keepdims: { i: 0 } }), node("Sub", ["m", "db"], ["lo"]), node("Clip", hi === "" ? ["x", "lo"] : ["x", "lo", hi], ["y"])];

const CASES: Array<{ name: string; nodes: NodeSpec[]; inits: InitSpec[]; ops: string[] }> = [
  { name: "computed lo, +Inf hi (melspectrogram)", nodes: topDb("inf"), inits: [scalar("db", 80), scalar("inf", Infinity)], ops: ["reduce:reduce", "map:sub", "map:max"] },
  // An absent bound is ONNX's numeric_limits: +Inf clips to FLT_MAX.
  { name: "computed lo, hi absent", nodes: topDb(""), inits: [scalar("db", 1.5)], ops: ["reduce:reduce", "map:sub", "map:max", "map:clip"] },
  { name: "constant lo, hi absent", nodes: [node("Clip", ["x", "lo"], ["y"])], inits: [scalar("lo", -0.5)], ops: ["map:clip"] },
  { name: "both absent", nodes: [node("Clip", ["x"], ["y"])], inits: [], ops: ["map:clip"] },
  { name: "computed lo, finite hi", nodes: topDb("hi"), inits: [scalar("db", 1.5), scalar("hi", 0.25)], ops: ["reduce:reduce", "map:sub", "map:max", "map:clip"] },
  { name: "computed lo and hi", nodes: [...topDb("h"), node("Sub", ["m", "k"], ["h"])], inits: [scalar("db", 1.5), scalar("k", 0.5)], ops: ["reduce:reduce", "map:sub", "map:sub", "map:max", "map:min"] },
  { name: "constant lo, computed hi", nodes: [node("ReduceMax", ["x"], ["m"], { keepdims: { i: 0 } }), node("Sub", ["m", "k"], ["h"]), node("Clip", ["x", "lo", "h"], ["y"])], inits: [scalar("lo", -0.5), scalar("k", 0.5)], ops: ["reduce:reduce", "map:sub", "map:clip", "map:min"] },
  { name: "+Inf and -Inf constant bounds", nodes: [node("Clip", ["x", "ninf", "inf"], ["y"])], inits: [scalar("ninf", -Infinity), scalar("inf", Infinity)], ops: ["map:clip"] },
];

/**
 * Ordinary values; the specials ±Inf, ±0, a subnormal and ties with the bounds' likely values; and a NaN
 * as well. With a NaN, canonical max (ReduceMax and max(x, lo)) is NaN, as docs/CANONICAL.md defines it,
 * where onnxruntime's CPU kernels drop it: that input is checked between element.ts, the runtime and
 * StepVerifier only.
 */
const INPUTS = ["ordinary", "specials", "nan"] as const;
function inputOf(kind: (typeof INPUTS)[number]): Tensor {
  const n = SHAPE.reduce((a, b) => a * b, 1);
  const data = Float32Array.from(values(n, 7, -2, 2));
  if (kind !== "ordinary") [Infinity, -Infinity, 0, -0, 1e-45, 0.25, -0.5, 0.5].forEach((v, i) => (data[3 + 4 * i] = v));
  if (kind === "nan") data[1] = NaN;
  return { dtype: "float32", shape: SHAPE, data };
}

function sameValue(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

function modelOf(c: (typeof CASES)[number]): Uint8Array {
  return buildModel({ input: { name: "x", shape: SHAPE }, output: "y", nodes: c.nodes, initializers: c.inits, opset: 13 });
}

describe("Clip with computed bounds", () => {
  let harness: any;
  let verifier: any;
  beforeAll(async () => {
    ({ harness, verifier } = await deployStepVerifier());
  });

  for (const c of CASES) {
    it(`test_clip_${c.name.replace(/\W+/g, "_")}_onnxruntimeElementsAndStepVerifierBitExact`, async () => {
      const bytes = modelOf(c);
      const program = lowerModel(bytes);
      expect(program.steps.map((s) => `${s.kind}:${s.op}`)).toEqual(c.ops);
      for (const kind of INPUTS) {
        const x = inputOf(kind);
        const { output, trace } = runProgram(program, x);
        if (kind !== "nan") {
          const ort = await ortRun(bytes, "x", x, "disabled");
          const a = output.data as Float32Array;
          const b = ort.data as Float32Array;
          for (let i = 0; i < a.length; i++) expect(sameValue(a[i]!, b[i]!), `${kind} element ${i}: canonical ${a[i]} onnxruntime ${b[i]}`).toBe(true);
        }
        const bad: string[] = [];
        for (const step of program.steps) {
          const read = (k: number): ArrayLike<number> => {
            const o = step.operands[k]!;
            return (o.source === "input" ? x.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
          };
          const out = trace[step.index]!.data as Float32Array;
          for (let e = 0; e < out.length; e++) {
            let v: number;
            if (step.kind === "map") v = mapElement(step, read, e, "fp32");
            else if (step.kind === "move") v = moveElement(step, read, e);
            else {
              const r = reduceTerms(step, read, e, "fp32");
              v = finalizeReduce(step, r, foldPartials(r, false).at(-1)!, "fp32");
            }
            expect(sameValue(v, out[e]!), `step ${step.index} element ${e}`).toBe(true);
          }
          const all = Array.from({ length: out.length }, (_, e) => e);
          await checkStep(harness, step, read, "fp32", all, (_e, K) => Array.from({ length: K }, (_, t) => t), bad);
        }
        expect(bad).toEqual([]);
      }
    }, 120_000);
  }

  it("test_clip_oneBitErrorInTheClampedTensor_pinpointedByDescent_provenOnChain", async () => {
    const program: Program = lowerModel(modelOf(CASES[0]!));
    const x = inputOf("ordinary");
    const mine = CanonicalTrace.build(program, x);
    const j = program.steps.length - 1; // the max(x, lo) step
    const e = 17;
    const honest = (mine.tensor(j).data as Float32Array)[e]!;
    const tensors = editTensor(mine.tensors, j, (d) => {
      const u = new Uint32Array(d.buffer);
      u[e] = u[e]! ^ 1; // the lowest mantissa bit
    });
    const worker = new ResponderTrace(program, x, tensors);
    const r = await descend(mine, worker);
    expect(r.finding.kind).toBe("element");
    const f = r.finding as Extract<Finding, { kind: "element" }>;
    expect([f.claim.step, f.claim.element]).toEqual([j, e]);
    const verdict = checkFinding(f, program, leafContext(program, x, worker.traceRoot));
    expect(verdict).toMatchObject({ valid: true, fault: true });
    expect(verdict.recomputed).toBe(honest);
    // On-chain: StepVerifier recomputes the honest element from the operands it reads, not the flipped one.
    const step = program.steps[j]!;
    const enc = "0x" + encodeStep(step).toString("hex");
    const reads = await verifier.reads(enc, e);
    const ops = reads.map((rd: any) => {
      const k = Number(rd[0]);
      const o = step.operands[k]!;
      const data = (o.source === "input" ? x.data : mine.tensor(o.index).data) as ArrayLike<number>;
      return wordOf("float32", data[Number(rd[1])]!);
    });
    const value = await verifier.elementValue(enc, e, ops, 0);
    expect(value).toBe(wordOf("float32", honest));
    expect(value).not.toBe(wordOf("float32", (tensors[j]!.data as Float32Array)[e]!));
  }, 120_000);
});
