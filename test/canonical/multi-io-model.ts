/**
 * A small 2-input / 2-output recurrent cell built from operators the canonical lowering supports (no fused
 * GRU, unlike models/vad-gru.onnx): the issue-14 test model of OPTIMISTIC disputes over tensor bundles.
 *
 *   inputs   x      float32[1, 16]     this step's features
 *            state  float32[1, 300]    the recurrent state (the previous result's stateN)
 *   outputs  stateN float32[1, 300]    tanh((x ⊙ kx)·Wx + state·Wh + b + state)
 *            y      float32[1, 4]      sigmoid(stateN·Wy)
 *
 * Canonical name order: inputs (state, x), outputs (stateN, y); the program appends one copy step per
 * output, so y is the last step and stateN the one before. Map steps read each input directly (x ⊙ kx reads
 * input 1, the residual + state input 0), so leaf proofs of both kinds read bundle entries.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import type { Tensor } from "../../protocol/index.js";
import { buildModel, values, type InitSpec } from "./onnx-builder.js";

export const CELL_IN = 16;
export const CELL_STATE = 300;
export const CELL_OUT = 4;

const f = (name: string, shape: number[], seed: number, scale = 1): InitSpec => ({ name, dtype: "float32", shape, values: values(shape.reduce((a, b) => a * b, 1), seed, -scale, scale) });

export function multiIoModel(): Uint8Array {
  return buildModel({
    input: { name: "x", shape: [1, CELL_IN] },
    moreInputs: [{ name: "state", shape: [1, CELL_STATE] }],
    output: "y",
    moreOutputs: ["stateN"],
    outputShapes: { y: [1, CELL_OUT], stateN: [1, CELL_STATE] },
    initializers: [f("kx", [CELL_IN], 10, 1), f("Wx", [CELL_IN, CELL_STATE], 11, 0.3), f("Wh", [CELL_STATE, CELL_STATE], 12, 0.05), f("b", [CELL_STATE], 13, 0.1), f("Wy", [CELL_STATE, CELL_OUT], 14, 0.1)],
    nodes: [
      { op: "Mul", inputs: ["x", "kx"], outputs: ["xs"] },
      { op: "MatMul", inputs: ["xs", "Wx"], outputs: ["xw"] },
      { op: "MatMul", inputs: ["state", "Wh"], outputs: ["hw"] },
      { op: "Add", inputs: ["xw", "hw"], outputs: ["pre0"] },
      { op: "Add", inputs: ["pre0", "b"], outputs: ["pre"] },
      { op: "Add", inputs: ["pre", "state"], outputs: ["res"] },
      { op: "Tanh", inputs: ["res"], outputs: ["stateN"] },
      { op: "MatMul", inputs: ["stateN", "Wy"], outputs: ["logit"] },
      { op: "Sigmoid", inputs: ["logit"], outputs: ["y"] },
    ],
  });
}

/** The model written to a temporary file (for `oracle model check` / `model register`), with its hash. */
export function multiIoModelFile(): { file: string; bytes: Uint8Array; modelHash: string } {
  const bytes = multiIoModel();
  const file = join(tmpdir(), `multi-io-cell-${process.pid}.onnx`);
  writeFileSync(file, bytes);
  return { file, bytes, modelHash: `0x${createHash("sha256").update(bytes).digest("hex")}` };
}

/** Request inputs keyed by name (seeded). */
export function cellInputs(seed: number): { x: Tensor; state: Tensor } {
  return {
    x: { dtype: "float32", shape: [1, CELL_IN], data: Float32Array.from(values(CELL_IN, seed)) },
    state: { dtype: "float32", shape: [1, CELL_STATE], data: Float32Array.from(values(CELL_STATE, seed + 1, -0.9, 0.9)) },
  };
}
