/** The fast runtimes calibration measures: onnxruntime-node (CPU, WebGPU) and onnxruntime-web's wasm backend, each loaded lazily. */
import type { DType, Tensor, TensorData } from "../protocol/index.js";
import type { OptimizationLevel } from "./calibrate.js";

export interface FastRuntime {
  name: string;
  run(input: Tensor): Promise<Tensor>;
  close(): Promise<void>;
}

export type OrtModule = typeof import("onnxruntime-node");

export function toTensor(t: { type: string; dims: readonly number[]; data: unknown }): Tensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: (t.data as TensorData).slice() as TensorData };
}

export async function nodeRuntime(ort: OrtModule, bytes: Uint8Array, outputName: string, level: OptimizationLevel, threads: number): Promise<FastRuntime> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, ...(threads > 0 ? { intraOpNumThreads: threads } : {}), executionProviders: ["cpu"] });
  const inputName = session.inputNames[0]!;
  return {
    name: `onnxruntime-node cpu ${level} threads=${threads > 0 ? threads : "default"}`,
    async run(x) {
      const out = await session.run({ [inputName]: new ort.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape) }, [outputName]);
      return toTensor(out[outputName]!);
    },
    close: () => session.release(),
  };
}

export async function webgpuRuntime(ort: OrtModule, bytes: Uint8Array, outputName: string): Promise<FastRuntime> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
  const inputName = session.inputNames[0]!;
  return {
    name: "onnxruntime-node webgpu",
    async run(x) {
      const out = await session.run({ [inputName]: new ort.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape) }, [outputName]);
      return toTensor(out[outputName]!);
    },
    close: () => session.release(),
  };
}

export async function wasmRuntime(bytes: Uint8Array, outputName: string): Promise<FastRuntime> {
  const ortWeb = await import("onnxruntime-web");
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const inputName = session.inputNames[0]!;
  return {
    name: "onnxruntime-web wasm threads=1",
    async run(x) {
      const out = await session.run({ [inputName]: new ortWeb.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape) }, [outputName]);
      return toTensor(out[outputName]!);
    },
    close: () => session.release(),
  };
}

export function dataOf(t: Tensor): ArrayLike<number> {
  return t.data as ArrayLike<number>;
}
