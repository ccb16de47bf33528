/** models/vad-gru.onnx (scripts/stateful-model.ts) as a worker serves it: three named inputs, two outputs. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex, Tensor } from "../../protocol/index.js";
import { sha256Hex, type ModelEntry } from "../../worker/index.js";

export const VAD_FILE = join(process.cwd(), "models", "vad-gru.onnx");
const BYTES = readFileSync(VAD_FILE);
export const VAD_HASH = sha256Hex(BYTES) as Hex;
export const VAD_MODEL: ModelEntry = {
  modelHash: VAD_HASH,
  uris: [VAD_FILE],
  input: { dtype: "float32", shape: [1, 64] },
  output: { dtype: "float32", shape: [1, 1] },
  inputs: [
    { name: "input", dtype: "float32", shape: [1, 64] },
    { name: "sr", dtype: "int64", shape: [] },
    { name: "state", dtype: "float32", shape: [1, 1, 8] },
  ],
  outputs: [
    { name: "output", dtype: "float32", shape: [1, 1] },
    { name: "stateN", dtype: "float32", shape: [1, 1, 8] },
  ],
};

export function frame(i: number): Tensor {
  return { dtype: "float32", shape: [1, 64], data: Float32Array.from({ length: 64 }, (_, k) => Math.fround(Math.sin((k + 1) * (i + 1) * 0.37) * 0.8)) };
}
export const SR: Tensor = { dtype: "int64", shape: [], data: BigInt64Array.of(16000n) };
export const ZERO_STATE: Tensor = { dtype: "float32", shape: [1, 1, 8], data: new Float32Array(8) };

