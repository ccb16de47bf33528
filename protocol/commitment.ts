/**
 * Model commitments for the OPTIMISTIC tier (docs/OPTIMISTIC.md). From an ONNX file, deterministically:
 *
 * - the **weights**: every graph initializer (file order), then every `Constant` node's tensor
 *   (node order); weight i is leaf i of `weightsRoot = merkleRoot(tensorHash(weight_i))`;
 * - the **operator table**: every other node in the graph's topological order (a stable Kahn
 *   sort: ties keep file order), each entry naming its op, canonically encoded attributes, its
 *   inputs (model input, weight i, or trace tensor i) and its outputs (trace tensors, numbered in
 *   table order), with their dtypes and static shapes;
 *   `opsRoot = merkleRoot(sha256(0x04 || encodeOperatorEntry(entry)))`;
 * - `root = sha256(0x03 || weightsRoot || opsRoot)`.
 *
 * Domain prefixes (one byte, never reused): 0x00 chunk leaf, 0x01 Merkle node, 0x02 tensor hash
 * (protocol/tensor.ts), 0x03 model commitment root, 0x04 operator entry leaf.
 *
 * Shapes come from onnxruntime itself: the model, with every operator output exposed as a graph
 * output, is run once on a zero input of the reference shape (optimization disabled, one thread).
 * Shapes of this model class do not depend on input values, so the table is a function of the file
 * and the reference input shape only; a model whose shapes do depend on values (NonZero, dynamic
 * Reshape) is not committable this way.
 */
import onnxProto from "onnx-proto";
import { withPrivateModelFile } from "./modelSafety.js";
import { merkleRoot, sha256, bytesToHex } from "./merkle.js";
import { DTYPES, hashTensor, numel, type DType, type Tensor } from "./tensor.js";
import type { Hex, TensorHash } from "./types.js";
import { decodeOnnx, modelGraph, onnx, unsupported } from "./onnxGraph.js";
import { encodeOperatorEntry } from "./operatorEncoding.js";

export { decodeOnnx, modelGraph, onnx, tensorFromProto, type OnnxModel } from "./onnxGraph.js";
export { encodeOperatorEntry, OPERATOR_ENCODING_VERSION } from "./operatorEncoding.js";

type GraphProto = onnxProto.onnx.GraphProto;

/** Domain prefix of a model commitment root. */
export const MODEL_COMMITMENT_PREFIX = 0x03;
/** Domain prefix of an operator table leaf. */
export const OPERATOR_LEAF_PREFIX = 0x04;

export type AttributeValue =
  | { type: "float"; value: number }
  | { type: "int"; value: bigint }
  | { type: "string"; value: Uint8Array }
  | { type: "tensor"; value: Tensor }
  | { type: "floats"; value: number[] }
  | { type: "ints"; value: bigint[] }
  | { type: "strings"; value: Uint8Array[] };

export interface TensorType {
  dtype: DType;
  shape: number[];
}

/** Where an operator input comes from. */
export type TensorSource = { kind: "absent" } | { kind: "input"; index?: number } | { kind: "weight"; index: number } | { kind: "trace"; index: number };

export interface OperatorInput {
  name: string;
  source: TensorSource;
}

export interface OperatorOutput {
  name: string;
  /** Index of this tensor in the trace (trace tensors are numbered in table order). */
  trace: number;
}

/** One operator of the table (before shapes are known). */
export interface GraphOperator {
  index: number;
  opType: string;
  domain: string;
  /** The opset version of this operator's domain (semantics such as Softmax's axis depend on it). */
  opset: number;
  /** Sorted by name. */
  attributes: Array<{ name: string } & AttributeValue>;
  inputs: OperatorInput[];
  outputs: OperatorOutput[];
}

export interface Weight {
  name: string;
  tensor: Tensor;
  hash: TensorHash;
}

/** The structure of a model: what the trace builder needs (no shapes, no hashing of operators). */
export interface ModelGraph {
  input: { name: string; dtype: DType; shape: Array<number | string> };
  output: { name: string };
  /** Every model input and output, in file order (`input`/`output` are the first ones; several only with `modelGraph(.., { several: true })`). */
  inputs: Array<{ name: string; dtype: DType; shape: Array<number | string> }>;
  outputs: Array<{ name: string }>;
  weights: Weight[];
  operators: GraphOperator[];
  /** Trace tensor names in order: every operator output, table order; the last is the model's output. */
  traceNames: string[];
}

export interface OperatorEntry extends GraphOperator {
  inputTypes: Array<TensorType | undefined>;
  outputTypes: TensorType[];
}

export interface ModelCommitment {
  modelHash: Hex;
  input: { name: string } & TensorType;
  output: { name: string } & TensorType;
  weights: Weight[];
  operators: OperatorEntry[];
  /** dtype and shape of every trace tensor (in trace order). */
  traceTypes: TensorType[];
  weightsRoot: Hex;
  opsRoot: Hex;
  root: Hex;
}

export function operatorLeaf(entry: OperatorEntry): Buffer {
  return sha256(Buffer.from([OPERATOR_LEAF_PREFIX]), encodeOperatorEntry(entry));
}

export function weightLeaves(weights: readonly Weight[]): Buffer[] {
  return weights.map((w) => Buffer.from(w.hash.slice(2), "hex"));
}

export function commitmentRoot(weightsRoot: Uint8Array, opsRoot: Uint8Array): Buffer {
  return sha256(Buffer.from([MODEL_COMMITMENT_PREFIX]), weightsRoot, opsRoot);
}

/** ONNX with every trace tensor exposed as an extra (name-only) graph output, in trace order. */
export function exposeTraceOutputs(bytes: Uint8Array): { bytes: Uint8Array; graph: ModelGraph } {
  const model = decodeOnnx(bytes);
  const graph = modelGraph(model);
  const g = model.graph as GraphProto;
  const declared = new Set(g.output.map((o) => o.name));
  for (const name of graph.traceNames) if (!declared.has(name)) g.output.push(onnx.ValueInfoProto.create({ name }));
  return { bytes: onnx.ModelProto.encode(model).finish(), graph };
}

export interface CommitModelOptions {
  /** The reference input shape (the model's declared shape fills in when it is static). */
  inputShape?: readonly number[];
}

/** Static dtypes and shapes of every trace tensor: onnxruntime on a zero input of the reference shape. */
export async function inferTraceTypes(bytes: Uint8Array, inputShape: readonly number[]): Promise<{ graph: ModelGraph; types: TensorType[] }> {
  const { bytes: traced, graph } = exposeTraceOutputs(bytes);
  const mod = await import("onnxruntime-node");
  // The package's default export is the namespace under some loaders and missing under others.
  const ort = (mod as unknown as { default?: typeof mod }).default ?? mod;
  // Loaded from a path in a private empty folder, never from bytes (protocol/modelSafety.ts).
  const session = await withPrivateModelFile(traced, (path) =>
    ort.InferenceSession.create(path, { graphOptimizationLevel: "disabled", intraOpNumThreads: 1, executionProviders: ["cpu"] }),
  );
  try {
    const Ctor = DTYPES[graph.input.dtype].array;
    const zero = new ort.Tensor(graph.input.dtype as "float32", new Ctor(numel(inputShape)) as Float32Array, [...inputShape]);
    const out = await session.run({ [graph.input.name]: zero }, graph.traceNames);
    const types = graph.traceNames.map((name) => {
      const t = out[name]!;
      const dtype = t.type as DType;
      if (!(dtype in DTYPES)) throw unsupported(`trace tensor ${name} has type ${t.type}, which the protocol cannot encode`);
      return { dtype, shape: [...t.dims] };
    });
    return { graph, types };
  } finally {
    await session.release();
  }
}

/** The model commitment of an ONNX file for a reference input shape. */
export async function commitModel(bytes: Uint8Array, options: CommitModelOptions = {}): Promise<ModelCommitment> {
  const declared = modelGraph(bytes).input;
  const inputShape = options.inputShape ?? declared.shape.map((d) => (typeof d === "number" ? d : NaN));
  if (inputShape.length !== declared.shape.length || inputShape.some((d, i) => !Number.isInteger(d) || d <= 0 || (typeof declared.shape[i] === "number" && declared.shape[i] !== d))) {
    throw unsupported(`a reference input shape matching [${declared.shape}] is needed, got [${inputShape}]`);
  }
  const { graph, types } = await inferTraceTypes(bytes, inputShape);
  const input = { name: graph.input.name, dtype: graph.input.dtype, shape: [...inputShape] };
  const typeOf = (source: TensorSource): TensorType | undefined => {
    switch (source.kind) {
      case "absent":
        return undefined;
      case "input":
        return { dtype: input.dtype, shape: input.shape };
      case "weight": {
        const t = graph.weights[source.index]!.tensor;
        return { dtype: t.dtype, shape: t.shape };
      }
      case "trace":
        return types[source.index];
    }
  };
  const operators: OperatorEntry[] = graph.operators.map((op) => ({
    ...op,
    inputTypes: op.inputs.map((i) => typeOf(i.source)),
    outputTypes: op.outputs.map((o) => types[o.trace]!),
  }));
  const weightsRoot = merkleRoot(weightLeaves(graph.weights));
  const opsRoot = merkleRoot(operators.map(operatorLeaf));
  return {
    modelHash: bytesToHex(sha256(bytes)),
    input,
    output: { name: graph.output.name, ...types[types.length - 1]! },
    weights: graph.weights,
    operators,
    traceTypes: types,
    weightsRoot: bytesToHex(weightsRoot),
    opsRoot: bytesToHex(opsRoot),
    root: bytesToHex(commitmentRoot(weightsRoot, opsRoot)),
  };
}

/** A JSON-friendly summary (weights by hash, attributes readable, int64 as strings). */
export function commitmentToJson(c: ModelCommitment, options: { operators?: boolean } = {}): Record<string, unknown> {
  const attr = (a: { name: string } & AttributeValue): unknown => {
    switch (a.type) {
      case "int":
        return a.value.toString();
      case "ints":
        return a.value.map(String);
      case "string":
        return Buffer.from(a.value).toString("utf8");
      case "strings":
        return a.value.map((s) => Buffer.from(s).toString("utf8"));
      case "tensor":
        return { tensorHash: hashTensor(a.value) };
      default:
        return a.value;
    }
  };
  const counts: Record<string, number> = {};
  for (const op of c.operators) counts[op.opType] = (counts[op.opType] ?? 0) + 1;
  return {
    modelHash: c.modelHash,
    root: c.root,
    weightsRoot: c.weightsRoot,
    opsRoot: c.opsRoot,
    input: c.input,
    output: c.output,
    weightCount: c.weights.length,
    weightElements: c.weights.reduce((n, w) => n + w.tensor.data.length, 0),
    operatorCount: c.operators.length,
    operatorTypes: counts,
    traceTensorCount: c.traceTypes.length,
    traceBytes: c.traceTypes.reduce((n, t) => n + numel(t.shape) * DTYPES[t.dtype].size, 0),
    ...(options.operators === true
      ? {
          weights: c.weights.map((w, i) => ({ index: i, name: w.name, dtype: w.tensor.dtype, shape: w.tensor.shape, hash: w.hash })),
          operators: c.operators.map((op) => ({
            index: op.index,
            opType: op.opType,
            leaf: bytesToHex(operatorLeaf(op)),
            attributes: Object.fromEntries(op.attributes.map((a) => [a.name, attr(a)])),
            inputs: op.inputs.map((inp, i) => ({ name: inp.name, ...inp.source, ...(op.inputTypes[i] ?? {}) })),
            outputs: op.outputs.map((out, i) => ({ ...out, ...op.outputTypes[i] })),
          })),
        }
      : {}),
  };
}
