/** Reading an ONNX file's structure for a model commitment (protocol/commitment.ts): weights, operators, trace tensors. */
import onnxProto from "onnx-proto";
import { OracleError } from "./errors.js";
import { assertModelSafe } from "./modelSafety.js";
import { chunkLeaves, merkleRoot, sha256, bytesToHex } from "./merkle.js";
import { DTYPES, dtypeFromCode, encodeHeader, hashTensor, numel, type Tensor, type TensorData } from "./tensor.js";
import type { TensorHash } from "./types.js";
import type { AttributeValue, GraphOperator, ModelGraph, OperatorInput, OperatorOutput, Weight } from "./commitment.js";

export const onnx = onnxProto.onnx;
export type OnnxModel = onnxProto.onnx.ModelProto;
type GraphProto = onnxProto.onnx.GraphProto;
type NodeProto = onnxProto.onnx.NodeProto;
type TensorProto = onnxProto.onnx.TensorProto;

export function unsupported(message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("MODEL_UNKNOWN", message, { details });
}

export function toBigInt(v: number | { toString(): string } | null | undefined): bigint {
  return BigInt(v === null || v === undefined ? 0 : typeof v === "number" ? v : v.toString());
}

/**
 * Decodes an ONNX file; throws MODEL_UNKNOWN when it is not one and MODEL_UNSAFE when it refers to
 * external data anywhere (protocol/modelSafety.ts): every path that reads a model goes through here.
 */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  let model: OnnxModel;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw unsupported(`not an ONNX model: ${(error as Error).message}`);
  }
  assertModelSafe(bytes);
  return model;
}

/** A TensorProto (initializer or Constant value) as a protocol tensor. */
export function tensorFromProto(t: TensorProto): Tensor {
  const dtype = dtypeFromCode(t.dataType);
  if (dtype === undefined || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw unsupported(`weight ${t.name} has an unsupported dtype ${t.dataType} or external data`);
  }
  const shape = t.dims.map((d) => Number(toBigInt(d)));
  const n = numel(shape);
  const spec = DTYPES[dtype];
  let data: TensorData;
  if (t.rawData !== null && t.rawData !== undefined && t.rawData.byteLength > 0) {
    const aligned = new Uint8Array(t.rawData.byteLength);
    aligned.set(t.rawData);
    data = new spec.array(aligned.buffer, 0, aligned.byteLength / spec.size) as TensorData;
  } else if (dtype === "float32") data = Float32Array.from(t.floatData);
  else if (dtype === "float64") data = Float64Array.from(t.doubleData);
  else if (dtype === "int64") data = BigInt64Array.from(t.int64Data.map(toBigInt));
  else if (dtype === "uint64") data = BigUint64Array.from(t.uint64Data.map(toBigInt));
  else if (dtype === "uint32") data = Uint32Array.from(t.uint64Data.map((v) => Number(toBigInt(v))));
  else data = (spec.array as Int32ArrayConstructor).from(t.int32Data) as TensorData; // int32, int16, int8, uint16, uint8, bool, float16 bits
  if (data.length !== n) throw unsupported(`weight ${t.name} holds ${data.length} elements, its shape [${shape}] needs ${n}`);
  return { dtype, shape, data };
}

/** Raw data at least this large is decoded on first use, not at parse time (lazyWeight). */
export const LAZY_WEIGHT_BYTES = 64 * 1024;

/**
 * A weight stored as raw little-endian bytes, streamed: its tensor hash is computed
 * from the raw bytes in the file (the same bytes the decoded typed array would hold, so the same hash),
 * and its `data` is decoded (an aligned copy) only when something reads it, then kept. Committing a
 * model therefore never holds a decoded copy of its weights: a weight is hashed where it lies in the
 * file, one tensor at a time. Small or non-raw weights are decoded at once.
 */
export function lazyWeight(t: TensorProto): { tensor: Tensor; hash: TensorHash } {
  const raw = t.rawData;
  const dtype = dtypeFromCode(t.dataType);
  if (raw === null || raw === undefined || raw.byteLength < LAZY_WEIGHT_BYTES || dtype === undefined || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const tensor = tensorFromProto(t);
    return { tensor, hash: hashTensor(tensor) };
  }
  const shape = t.dims.map((d) => Number(toBigInt(d)));
  const spec = DTYPES[dtype];
  if (raw.byteLength !== numel(shape) * spec.size) throw unsupported(`weight ${t.name} holds ${raw.byteLength / spec.size} elements, its shape [${shape}] needs ${numel(shape)}`);
  const hash = bytesToHex(sha256(Buffer.from([2]), encodeHeader(dtype, shape), merkleRoot(chunkLeaves(raw)))) as TensorHash;
  let data: TensorData | undefined;
  const tensor = { dtype, shape } as Tensor;
  Object.defineProperty(tensor, "data", {
    enumerable: true,
    configurable: true,
    get: () => (data ??= tensorFromProto(t).data),
    set: (v: TensorData) => void (data = v),
  });
  return { tensor, hash };
}

export function decodeAttribute(a: onnxProto.onnx.AttributeProto): { name: string } & AttributeValue {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT:
      return { name: a.name, type: "float", value: Math.fround(a.f) };
    case T.INT:
      return { name: a.name, type: "int", value: toBigInt(a.i) };
    case T.STRING:
      return { name: a.name, type: "string", value: Uint8Array.from(a.s) };
    case T.TENSOR:
      return { name: a.name, type: "tensor", value: tensorFromProto(a.t as TensorProto) };
    case T.FLOATS:
      return { name: a.name, type: "floats", value: a.floats.map((f) => Math.fround(f)) };
    case T.INTS:
      return { name: a.name, type: "ints", value: a.ints.map(toBigInt) };
    case T.STRINGS:
      return { name: a.name, type: "strings", value: a.strings.map((s) => Uint8Array.from(s)) };
    default:
      throw unsupported(`attribute ${a.name} has type ${a.type} (graphs, sparse tensors and type protos are not supported)`);
  }
}

/** `several`: accept several inputs and outputs (the canonical lowering); the v1 commitment takes one input and reads the first output. */
export interface ModelGraphOptions {
  several?: boolean;
}

/** Parses the model's structure: weights, operators in topological order, trace tensor names. */
export function modelGraph(bytes: Uint8Array | OnnxModel, options: ModelGraphOptions = {}): ModelGraph {
  const model = bytes instanceof Uint8Array ? decodeOnnx(bytes) : bytes;
  if (model.graph === null || model.graph === undefined) throw unsupported("the model has no graph");
  const g = model.graph as GraphProto;
  const opsets = new Map<string, number>();
  for (const o of model.opsetImport) opsets.set(o.domain === "ai.onnx" ? "" : o.domain ?? "", Number(toBigInt(o.version)));

  const weights: Weight[] = [];
  const weightIndex = new Map<string, number>();
  const addWeight = (name: string, tensor: Tensor, hash: TensorHash = hashTensor(tensor)) => {
    weightIndex.set(name, weights.length);
    weights.push({ name, tensor, hash });
  };
  const initializers = g.initializer as TensorProto[];
  for (const t of initializers) {
    const w = lazyWeight(t);
    addWeight(t.name, w.tensor, w.hash);
  }
  const initializerNames = new Set(initializers.map((t) => t.name));

  const inputInfos = (g.input as onnxProto.onnx.ValueInfoProto[]).filter((i) => !initializerNames.has(i.name));
  if ((options.several !== true && inputInfos.length !== 1) || inputInfos.length < 1 || g.output.length < 1) {
    throw unsupported(`the oracle commits models with one input (this one has ${inputInfos.length}) and reads the first output`);
  }
  const inputs = inputInfos.map((info) => {
    const dtype = dtypeFromCode(info.type?.tensorType?.elemType ?? 0);
    if (dtype === undefined) throw unsupported(`the model input ${info.name} has an unsupported type`);
    const shape = (info.type?.tensorType?.shape?.dim ?? []).map((d) =>
      d.dimValue !== null && d.dimValue !== undefined && toBigInt(d.dimValue) > 0n ? Number(toBigInt(d.dimValue)) : (d.dimParam ?? "") || "?",
    );
    return { name: info.name, dtype, shape };
  });
  const inputIndex = new Map(inputs.map((x, i) => [x.name, i]));

  // Constant nodes are weights; the rest are operators, ordered by a stable Kahn sort.
  const pending: Array<NodeProto> = [];
  for (const node of g.node as NodeProto[]) {
    if (node.opType === "Constant" && (node.domain ?? "") === "") {
      const value = node.attribute.find((a) => a.name === "value");
      if (value === undefined || node.attribute.length !== 1) throw unsupported(`Constant ${node.output[0]} must carry exactly one 'value' tensor`);
      addWeight(node.output[0]!, tensorFromProto(value.t as TensorProto));
    } else {
      for (const a of node.attribute) {
        if (a.type === onnx.AttributeProto.AttributeType.GRAPH || a.type === onnx.AttributeProto.AttributeType.GRAPHS) {
          throw unsupported(`${node.opType} ${node.name} has a subgraph; tensors inside If/Loop subgraphs cannot be traced`);
        }
      }
      pending.push(node as NodeProto);
    }
  }
  const available = new Set<string>([...inputIndex.keys(), ...weightIndex.keys(), ""]);
  const traceIndex = new Map<string, number>();
  const traceNames: string[] = [];
  const operators: GraphOperator[] = [];
  const done = new Array<boolean>(pending.length).fill(false);
  while (operators.length < pending.length) {
    const next = pending.findIndex((n, i) => !done[i] && n.input.every((name) => available.has(name)));
    if (next < 0) throw unsupported("the graph has a cycle or an input no node produces");
    done[next] = true;
    const node = pending[next]!;
    const opInputs: OperatorInput[] = node.input.map((name) => {
      if (name === "") return { name, source: { kind: "absent" } };
      const input = inputIndex.get(name);
      if (input !== undefined) return { name, source: input === 0 ? { kind: "input" } : { kind: "input", index: input } };
      const w = weightIndex.get(name);
      if (w !== undefined) return { name, source: { kind: "weight", index: w } };
      return { name, source: { kind: "trace", index: traceIndex.get(name)! } };
    });
    const outputs: OperatorOutput[] = [];
    for (const name of node.output) {
      if (name === "") continue;
      if (available.has(name)) throw unsupported(`tensor ${name} is produced twice`);
      available.add(name);
      traceIndex.set(name, traceNames.length);
      outputs.push({ name, trace: traceNames.length });
      traceNames.push(name);
    }
    const attributes = (node.attribute as onnxProto.onnx.AttributeProto[]).map(decodeAttribute).sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    const domain = node.domain ?? "";
    operators.push({ index: operators.length, opType: node.opType, domain, opset: opsets.get(domain) ?? 0, attributes, inputs: opInputs, outputs });
  }
  const outputs = (g.output as onnxProto.onnx.ValueInfoProto[]).map((o) => ({ name: o.name }));
  const outputName = outputs[0]!.name;
  if (options.several !== true && traceNames[traceNames.length - 1] !== outputName) {
    throw unsupported(`the model output ${outputName} is not the last operator output in topological order`);
  }
  return { input: inputs[0]!, output: { name: outputName }, inputs, outputs, weights, operators, traceNames };
}
