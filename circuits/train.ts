import { seededRandom } from "../protocol/index.js";
import * as dataset from "./dataset.js";
import { loadMnist7x7, type Sample } from "./dataset.js";
import type { QuantizedDense, QuantizedMlp } from "./model.js";
import { argmax, referenceForward } from "./reference.js";

/**
 * Deterministic training of a 49-H-10 MLP on 7x7 MNIST, then post-training quantization to
 * the integer model of model.ts. Everything is seeded and sequential (no threads, no
 * Math.random), so the quantized integers, and so the ONNX bytes, are the same on every run.
 */
// Local copies: hot loops reading imported bindings go through module getters under tsx.
const IMAGE_PIXELS = dataset.IMAGE_PIXELS;
const IMAGE_SIDE = dataset.IMAGE_SIDE;
const NUM_CLASSES = dataset.NUM_CLASSES;

export interface TrainOptions {
  hidden: number;
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = { hidden: 32, epochs: 20, learningRate: 0.3, batchSize: 32, seed: 20261121 };

export interface TrainResult {
  model: QuantizedMlp;
  floatTestAccuracy: number;
  quantizedTestAccuracy: number;
  quantizedTrainAccuracy: number;
  trainSize: number;
  testSize: number;
}

/** The shared seeded PRNG (protocol/random.ts), under the name the training code uses. */
export const mulberry32 = seededRandom;

interface FloatMlp {
  w1: Float64Array; // [IN][H]
  b1: Float64Array;
  w2: Float64Array; // [H][OUT]
  b2: Float64Array;
  hidden: number;
}

function toUnit(pixels: Int8Array): Float64Array {
  // The float model sees exactly the int8 input the integer model will, at scale 1/127.
  const x = new Float64Array(IMAGE_PIXELS);
  for (let i = 0; i < IMAGE_PIXELS; i++) x[i] = pixels[i]! / 127;
  return x;
}

function forward(m: FloatMlp, x: Float64Array, h: Float64Array, logits: Float64Array): void {
  const H = m.hidden;
  for (let j = 0; j < H; j++) {
    let a = m.b1[j] ?? 0;
    for (let i = 0; i < IMAGE_PIXELS; i++) a += x[i]! * m.w1[i * H + j]!;
    h[j] = a > 0 ? a : 0;
  }
  for (let o = 0; o < NUM_CLASSES; o++) {
    let a = m.b2[o] ?? 0;
    for (let j = 0; j < H; j++) a += h[j]! * m.w2[j * NUM_CLASSES + o]!;
    logits[o] = a;
  }
}

function trainFloat(train: Sample[], opts: TrainOptions): FloatMlp {
  const rand = mulberry32(opts.seed);
  const H = opts.hidden;
  const uniform = (fanIn: number) => (rand() * 2 - 1) * Math.sqrt(6 / fanIn);
  const m: FloatMlp = {
    w1: Float64Array.from({ length: IMAGE_PIXELS * H }, () => uniform(IMAGE_PIXELS)),
    b1: new Float64Array(H),
    w2: Float64Array.from({ length: H * NUM_CLASSES }, () => uniform(H)),
    b2: new Float64Array(NUM_CLASSES),
    hidden: H,
  };
  const inputs = train.map((s) => toUnit(s.pixels));
  const order = train.map((_, i) => i);
  const g = { w1: new Float64Array(m.w1.length), b1: new Float64Array(H), w2: new Float64Array(m.w2.length), b2: new Float64Array(NUM_CLASSES) };
  const h = new Float64Array(H);
  const logits = new Float64Array(NUM_CLASSES);
  const dLogits = new Float64Array(NUM_CLASSES);
  const dh = new Float64Array(H);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const lr = opts.learningRate * (epoch < opts.epochs / 2 ? 1 : epoch < (3 * opts.epochs) / 4 ? 0.3 : 0.1);
    for (let start = 0; start < order.length; start += opts.batchSize) {
      g.w1.fill(0); g.b1.fill(0); g.w2.fill(0); g.b2.fill(0);
      const end = Math.min(order.length, start + opts.batchSize);
      for (let b = start; b < end; b++) {
        const idx = order[b] as number;
        const x = inputs[idx] as Float64Array;
        const label = (train[idx] as Sample).label;
        forward(m, x, h, logits);
        let max = -Infinity;
        for (const v of logits) max = Math.max(max, v);
        let sum = 0;
        for (let o = 0; o < NUM_CLASSES; o++) sum += Math.exp(logits[o]! - max);
        for (let o = 0; o < NUM_CLASSES; o++) dLogits[o] = Math.exp(logits[o]! - max) / sum - (o === label ? 1 : 0);
        dh.fill(0);
        for (let j = 0; j < H; j++) {
          for (let o = 0; o < NUM_CLASSES; o++) {
            g.w2[j * NUM_CLASSES + o] = g.w2[j * NUM_CLASSES + o]! + h[j]! * dLogits[o]!;
            dh[j] = dh[j]! + m.w2[j * NUM_CLASSES + o]! * dLogits[o]!;
          }
          if (h[j]! <= 0) dh[j] = 0;
        }
        for (let o = 0; o < NUM_CLASSES; o++) g.b2[o] = g.b2[o]! + dLogits[o]!;
        for (let i = 0; i < IMAGE_PIXELS; i++) {
          const xi = x[i] ?? 0;
          if (xi === 0) continue;
          for (let j = 0; j < H; j++) g.w1[i * H + j] = g.w1[i * H + j]! + xi * dh[j]!;
        }
        for (let j = 0; j < H; j++) g.b1[j] = g.b1[j]! + dh[j]!;
      }
      const step = lr / (end - start);
      for (let i = 0; i < m.w1.length; i++) m.w1[i] = m.w1[i]! - step * g.w1[i]!;
      for (let i = 0; i < H; i++) m.b1[i] = m.b1[i]! - step * g.b1[i]!;
      for (let i = 0; i < m.w2.length; i++) m.w2[i] = m.w2[i]! - step * g.w2[i]!;
      for (let i = 0; i < NUM_CLASSES; i++) m.b2[i] = m.b2[i]! - step * g.b2[i]!;
    }
  }
  return m;
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}

/** Fixed-point multiplier m / 2^s ~= real, with m in [128, 256) (8 significant bits). */
export function fixedPoint(real: number): { multiplier: number; shift: number } {
  if (!(real > 0 && real < 1)) throw new Error(`requantization scale ${real} outside (0, 1)`);
  let shift = 0;
  while (real * 2 ** shift < 128) shift++;
  let multiplier = Math.round(real * 2 ** shift);
  if (multiplier === 256) { multiplier = 128; shift--; }
  return { multiplier, shift };
}

function quantizeLayer(w: Float64Array, b: Float64Array, inF: number, outF: number, inScale: number, outScale: number, relu: boolean): QuantizedDense {
  const wScale = maxAbs(w) / 127;
  const weights = Int8Array.from(w, (v) => Math.max(-127, Math.min(127, Math.round(v / wScale))));
  const accScale = inScale * wScale;
  const bias = Int32Array.from(b, (v) => Math.round(v / accScale));
  return { inFeatures: inF, outFeatures: outF, weights, bias, relu, ...fixedPoint(accScale / outScale) };
}

function quantize(m: FloatMlp, train: Sample[]): QuantizedMlp {
  // Calibrate activation scales on the training set: the largest hidden activation and logit map to 127.
  const h = new Float64Array(m.hidden);
  const logits = new Float64Array(NUM_CLASSES);
  let hMax = 0;
  let yMax = 0;
  for (const s of train) {
    forward(m, toUnit(s.pixels), h, logits);
    hMax = Math.max(hMax, maxAbs(h));
    yMax = Math.max(yMax, maxAbs(logits));
  }
  const inScale = 1 / 127;
  const hScale = hMax / 127;
  const yScale = yMax / 127;
  return {
    inputShape: [1, IMAGE_SIDE, IMAGE_SIDE],
    layers: [
      quantizeLayer(m.w1, m.b1, IMAGE_PIXELS, m.hidden, inScale, hScale, true),
      quantizeLayer(m.w2, m.b2, m.hidden, NUM_CLASSES, hScale, yScale, false),
    ],
  };
}

function accuracy(samples: Sample[], predict: (s: Sample) => number): number {
  let ok = 0;
  for (const s of samples) if (predict(s) === s.label) ok++;
  return ok / samples.length;
}

export function trainMnistMlp(opts: TrainOptions = DEFAULT_TRAIN_OPTIONS): TrainResult {
  const { train, test } = loadMnist7x7();
  const fm = trainFloat(train, opts);
  const model = quantize(fm, train);
  const h = new Float64Array(fm.hidden);
  const logits = new Float64Array(NUM_CLASSES);
  return {
    model,
    floatTestAccuracy: accuracy(test, (s) => { forward(fm, toUnit(s.pixels), h, logits); return argmax(logits); }),
    quantizedTestAccuracy: accuracy(test, (s) => argmax(referenceForward(model, s.pixels))),
    quantizedTrainAccuracy: accuracy(train, (s) => argmax(referenceForward(model, s.pixels))),
    trainSize: train.length,
    testSize: test.length,
  };
}
