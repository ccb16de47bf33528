/** Shared by the canonical suites: onnxruntime reference runs and difference measures. */
import ort from "onnxruntime-node";
import type { Tensor, TensorData } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";

export type Level = "disabled" | "basic" | "all";

/** The model's first output under onnxruntime-node (CPU, one thread). */
export async function ortRun(bytes: Uint8Array, inputName: string, input: Tensor, level: Level = "all"): Promise<Tensor> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, intraOpNumThreads: 1, executionProviders: ["cpu"] });
  try {
    const out = await session.run({ [inputName]: new ort.Tensor(input.dtype as "float32", input.data as Float32Array, input.shape) });
    const t = out[session.outputNames[0]!]!;
    return { dtype: t.type as Tensor["dtype"], shape: [...t.dims], data: (t.data as TensorData).slice() as TensorData };
  } finally {
    await session.release();
  }
}

/** Largest absolute and relative (to max(|b|, floor)) element difference. */
export function maxDiff(a: Tensor, b: Tensor, floor = 1e-3): { abs: number; rel: number } {
  const x = a.data as ArrayLike<number>;
  const y = b.data as ArrayLike<number>;
  if (x.length !== y.length) throw new Error(`lengths ${x.length} and ${y.length} differ`);
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (!(d <= abs)) abs = d;
    const r = d / Math.max(Math.abs(y[i]!), floor);
    if (!(r <= rel)) rel = r;
  }
  return { abs, rel };
}

/** A deterministic float32 tensor, uniform in [lo, hi). */
export function uniformTensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    data[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return { dtype: "float32", shape, data };
}

/** A rendered text line (the cls/rec preprocessing) padded to 64 rows: a [1, 3, 64, 192] detector input. */
export function detInput(text: string): Tensor {
  const line = textLineTensor(text).data as Float32Array;
  const data = new Float32Array(3 * 64 * 192);
  for (let c = 0; c < 3; c++) for (let h = 0; h < 48; h++) data.set(line.subarray((c * 48 + h) * 192, (c * 48 + h + 1) * 192), (c * 64 + h + 8) * 192);
  return { dtype: "float32", shape: [1, 3, 64, 192], data };
}
