/** The fast runtimes calibration measures: onnxruntime-node (CPU, WebGPU) and onnxruntime-web's wasm backend, each loaded lazily. */
import type { DType, Tensor, TensorData } from "../protocol/index.js";
import type { OptimizationLevel } from "./calibrate.js";

export interface FastRuntime {
  name: string;
  /** One tensor (a one-input model), or one per input in `io.inputs` order; returns the output, or every output flattened in `io.outputs` order. */
  run(input: Tensor | readonly Tensor[]): Promise<Tensor>;
  close(): Promise<void>;
}

/** The model's input and output names a runtime feeds and fetches (canonical name order for several). */
export interface RuntimeIO {
  inputs?: readonly string[];
  outputs: readonly string[];
}

type OrtTensorCtor = new (type: "float32", data: Float32Array, dims: readonly number[]) => unknown;
type OrtSession = { inputNames: readonly string[]; run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, { type: string; dims: readonly number[]; data: unknown }>> };

/** One run of a session over the model's IO: a one-input model fed by its only input name; several outputs concatenated. */
async function runIO(session: OrtSession, Ctor: OrtTensorCtor, io: RuntimeIO, x: Tensor | readonly Tensor[]): Promise<Tensor> {
  const xs = Array.isArray(x) ? (x as readonly Tensor[]) : [x as Tensor];
  const names = io.inputs !== undefined && io.inputs.length > 1 ? io.inputs : [session.inputNames[0]!];
  const feeds = Object.fromEntries(names.map((n, i) => [n, new Ctor(xs[i]!.dtype as "float32", xs[i]!.data as Float32Array, xs[i]!.shape)]));
  const out = await session.run(feeds, [...io.outputs]);
  return concatTensors(io.outputs.map((n) => toTensor(out[n]!)));
}

/** One tensor as is; several flattened into one float64 vector (calibration compares element by element). */
export function concatTensors(ts: readonly Tensor[]): Tensor {
  if (ts.length === 1) return ts[0]!;
  const n = ts.reduce((a, t) => a + t.data.length, 0);
  const data = new Float64Array(n);
  let at = 0;
  for (const t of ts) for (let i = 0; i < t.data.length; i++) data[at++] = Number((t.data as ArrayLike<number>)[i]);
  return { dtype: "float64", shape: [n], data };
}

export type OrtModule = typeof import("onnxruntime-node");

export function toTensor(t: { type: string; dims: readonly number[]; data: unknown }): Tensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: (t.data as TensorData).slice() as TensorData };
}

export async function nodeRuntime(ort: OrtModule, bytes: Uint8Array, io: RuntimeIO, level: OptimizationLevel, threads: number): Promise<FastRuntime> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, ...(threads > 0 ? { intraOpNumThreads: threads } : {}), executionProviders: ["cpu"] });
  return {
    name: `onnxruntime-node cpu ${level} threads=${threads > 0 ? threads : "default"}`,
    run: (x) => runIO(session as unknown as OrtSession, ort.Tensor as unknown as OrtTensorCtor, io, x),
    close: () => session.release(),
  };
}

export async function webgpuRuntime(ort: OrtModule, bytes: Uint8Array, io: RuntimeIO): Promise<FastRuntime> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
  return {
    name: "onnxruntime-node webgpu",
    run: (x) => runIO(session as unknown as OrtSession, ort.Tensor as unknown as OrtTensorCtor, io, x),
    close: () => session.release(),
  };
}

export async function wasmRuntime(bytes: Uint8Array, io: RuntimeIO): Promise<FastRuntime> {
  const ortWeb = await import("onnxruntime-web");
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  return {
    name: "onnxruntime-web wasm threads=1",
    run: (x) => runIO(session as unknown as OrtSession, ortWeb.Tensor as unknown as OrtTensorCtor, io, x),
    close: () => session.release(),
  };
}

export function dataOf(t: Tensor): ArrayLike<number> {
  return t.data as ArrayLike<number>;
}
