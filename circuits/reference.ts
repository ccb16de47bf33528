import type { QuantizedDense, QuantizedMlp } from "./model.js";

/**
 * Integer reference of the quantized MLP, written straight from the arithmetic in model.ts
 * (not from the ONNX graph), so ORT, this and the circuit are three independent evaluations.
 * All intermediate values stay far below 2^53, so JS numbers are exact.
 */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** floor((acc * m + 2^(s-1)) / 2^s): rounds to nearest, halves towards +infinity. */
export function requantize(acc: number, multiplier: number, shift: number): number {
  return floorDiv(acc * multiplier + 2 ** (shift - 1), 2 ** shift);
}

export function clampInt8(v: number): number {
  return Math.min(127, Math.max(-128, v));
}

export function denseForward(layer: QuantizedDense, x: ArrayLike<number>): { acc: Int32Array; out: Int8Array } {
  const acc = new Int32Array(layer.outFeatures);
  const out = new Int8Array(layer.outFeatures);
  for (let n = 0; n < layer.outFeatures; n++) {
    let a = layer.bias[n] ?? 0;
    for (let k = 0; k < layer.inFeatures; k++) a += (x[k] ?? 0) * (layer.weights[k * layer.outFeatures + n] ?? 0);
    if (layer.relu) a = Math.max(a, 0);
    acc[n] = a;
    out[n] = clampInt8(requantize(a, layer.multiplier, layer.shift));
  }
  return { acc, out };
}

/** Runs the model on one int8 input (flattened row-major) and returns the int8 output. */
export function referenceForward(model: QuantizedMlp, input: ArrayLike<number>): Int8Array {
  let x: ArrayLike<number> = input;
  for (const layer of model.layers) x = denseForward(layer, x).out;
  return x as Int8Array;
}

/** Index of the largest logit; ties go to the lowest index (as argmax does). */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] ?? 0) > (v[best] ?? 0)) best = i;
  return best;
}
