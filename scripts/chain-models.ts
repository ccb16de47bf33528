/**
 * The first model of the chained-request demo: the MNIST MLP's preprocessing as an ONNX model.
 * It takes a 28x28 picture (float32 [1, 1, 28, 28], ink high, in [0, 1]), pools it 4x4 to 7x7, scales to
 * [0, 127], rounds, clips and casts to int8: the int8 [1, 7, 7] input of models/mnist-mlp.onnx (as
 * sdk/models.ts mnistTensor does in TypeScript). Chained, the two models classify a raw picture in one
 * request. Built with the repository's ONNX builder (test/canonical/onnx-builder.ts), deterministically,
 * so its sha256 (the model hash) is the same on every machine.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { onnx, type Hex } from "../protocol/index.js";
import { buildModel } from "../test/canonical/onnx-builder.js";

export const PREPROCESS_INPUT = { dtype: 1, shape: [1, 1, 28, 28] } as const;
export const PREPROCESS_OUTPUT = { dtype: 3, shape: [1, 7, 7] } as const;

/** The preprocessing model's ONNX bytes (opset 13). */
export function buildMnistPreprocess(): Uint8Array {
  const bytes = buildModel({
    input: { name: "picture", dtype: "float32", shape: [1, 1, 28, 28] },
    output: "small",
    nodes: [
      { op: "AveragePool", inputs: ["picture"], outputs: ["pooled"], attrs: { kernel_shape: { ints: [4, 4] }, strides: { ints: [4, 4] } } },
      { op: "Mul", inputs: ["pooled", "scale"], outputs: ["scaled"] },
      { op: "Round", inputs: ["scaled"], outputs: ["rounded"] },
      { op: "Clip", inputs: ["rounded", "lo", "hi"], outputs: ["clipped"] },
      { op: "Cast", inputs: ["clipped"], outputs: ["q"], attrs: { to: { i: 3 } } },
      { op: "Reshape", inputs: ["q", "shape"], outputs: ["small"] },
    ],
    initializers: [
      { name: "scale", dtype: "float32", shape: [], values: [127] },
      { name: "lo", dtype: "float32", shape: [], values: [0] },
      { name: "hi", dtype: "float32", shape: [], values: [127] },
      { name: "shape", dtype: "int64", shape: [3], values: [1, 7, 7] },
    ],
  });
  // The builder leaves the output untyped; a registrable file declares it (int8 [1, 7, 7]).
  const model = onnx.ModelProto.decode(bytes);
  model.graph!.output![0]!.type = { tensorType: { elemType: PREPROCESS_OUTPUT.dtype, shape: { dim: PREPROCESS_OUTPUT.shape.map((d) => ({ dimValue: d })) } } };
  return onnx.ModelProto.encode(model).finish();
}

/** Writes the preprocessing model into `dir`; returns its path and model hash (sha256 of the file). */
export function writeMnistPreprocess(dir: string): { path: string; modelHash: Hex } {
  mkdirSync(dir, { recursive: true });
  const bytes = buildMnistPreprocess();
  const path = join(dir, "mnist-preprocess.onnx");
  writeFileSync(path, bytes);
  return { path, modelHash: `0x${createHash("sha256").update(bytes).digest("hex")}` as Hex };
}
