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
import { OracleError } from "./errors.js";
import { assertModelSafe, withPrivateModelFile } from "./modelSafety.js";
import { chunkLeaves, merkleRoot, sha256, bytesToHex } from "./merkle.js";
import { DTYPES, dtypeFromCode, encodeHeader, hashTensor, numel, type DType, type Tensor, type TensorData } from "./tensor.js";
import type { Hex, TensorHash } from "./types.js";

export const onnx = onnxProto.onnx;
export type OnnxModel = onnxProto.onnx.ModelProto;
type GraphProto = onnxProto.onnx.GraphProto;
type NodeProto = onnxProto.onnx.NodeProto;
type TensorProto = onnxProto.onnx.TensorProto;

/** Domain prefix of a model commitment root. */
export const MODEL_COMMITMENT_PREFIX = 0x03;
/** Domain prefix of an operator table leaf. */
export const OPERATOR_LEAF_PREFIX = 0x04;
/** Version of encodeOperatorEntry's layout. */
export const OPERATOR_ENCODING_VERSION = 1;

export type AttributeValue =
  | { type: "float"; value: number }
  | { type: "int"; value: bigint }
  | { type: "string"; value: Uint8Array }
  | { type: "tensor"; value: Tensor }
  | { type: "floats"; value: number[] }
  | { type: "ints"; value: bigint[] }
  | { type: "strings"; value: Uint8Array[] };

/** ONNX AttributeProto.AttributeType codes, written into the canonical encoding. */
const ATTRIBUTE_CODES: Record<AttributeValue["type"], number> = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 };

export interface TensorType {
  dtype: DType;
  shape: number[];
}

/** Where an operator input comes from. */
export type TensorSource = { kind: "absent" } | { kind: "input" } | { kind: "weight"; index: number } | { kind: "trace"; index: number };
const SOURCE_CODES = { absent: 0, input: 1, weight: 2, trace: 3 } as const;

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

function unsupported(message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("MODEL_UNKNOWN", message, { details });
}

function toBigInt(v: number | { toString(): string } | null | undefined): bigint {
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
const LAZY_WEIGHT_BYTES = 64 * 1024;

/**
 * A weight stored as raw little-endian bytes, streamed (issue 14, "Scale"): its tensor hash is computed
 * from the raw bytes in the file (the same bytes the decoded typed array would hold, so the same hash),
 * and its `data` is decoded (an aligned copy) only when something reads it, then kept. Committing a
 * model therefore never holds a decoded copy of its weights: a weight is hashed where it lies in the
 * file, one tensor at a time. Small or non-raw weights are decoded at once.
 */
function lazyWeight(t: TensorProto): { tensor: Tensor; hash: TensorHash } {
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

function decodeAttribute(a: onnxProto.onnx.AttributeProto): { name: string } & AttributeValue {
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

/** Parses the model's structure: weights, operators in topological order, trace tensor names. */
export function modelGraph(bytes: Uint8Array | OnnxModel): ModelGraph {
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

  const inputs = (g.input as onnxProto.onnx.ValueInfoProto[]).filter((i) => !initializerNames.has(i.name));
  if (inputs.length !== 1 || g.output.length < 1) {
    throw unsupported(`the oracle commits models with one input (this one has ${inputs.length}) and reads the first output`);
  }
  const inputInfo = inputs[0]!;
  const inputDtype = dtypeFromCode(inputInfo.type?.tensorType?.elemType ?? 0);
  if (inputDtype === undefined) throw unsupported(`the model input ${inputInfo.name} has an unsupported type`);
  const inputShape = (inputInfo.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== null && d.dimValue !== undefined && toBigInt(d.dimValue) > 0n ? Number(toBigInt(d.dimValue)) : (d.dimParam ?? "") || "?",
  );

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
  const available = new Set<string>([inputInfo.name, ...weightIndex.keys(), ""]);
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
      if (name === inputInfo.name) return { name, source: { kind: "input" } };
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
  const outputName = (g.output[0] as onnxProto.onnx.ValueInfoProto).name;
  if (traceNames[traceNames.length - 1] !== outputName) {
    throw unsupported(`the model output ${outputName} is not the last operator output in topological order`);
  }
  return { input: { name: inputInfo.name, dtype: inputDtype, shape: inputShape }, output: { name: outputName }, weights, operators, traceNames };
}

// ---- canonical operator encoding ----

class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  f32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatBE(v);
    this.parts.push(b);
    return this;
  }
  bytes(v: Uint8Array): this {
    this.parts.push(Buffer.from(v));
    return this;
  }
  str(v: string | Uint8Array): this {
    const b = typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v);
    return this.u16(b.byteLength).bytes(b);
  }
  type(t: TensorType | undefined): this {
    if (t === undefined) return this.u8(0).u8(0);
    this.u8(DTYPES[t.dtype].code).u8(t.shape.length);
    for (const d of t.shape) this.u32(d);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * The canonical bytes of one operator entry (all integers big-endian, strings u16 length + UTF-8):
 *
 *   u8 version=1 | u32 index | str opType | str domain | u16 opset
 *   u16 #attributes, sorted by name: str name | u8 ONNX attribute type | value
 *       float: f32 | int: i64 | string: u32 len + bytes | tensor: 32-byte tensor hash
 *       floats: u32 n + n f32 | ints: u32 n + n i64 | strings: u32 n + n (u32 len + bytes)
 *   u16 #inputs:  u8 source (0 absent, 1 model input, 2 weight, 3 trace) | u32 index | u8 dtype | u8 rank | rank u32 dims
 *   u16 #outputs: u32 trace index | u8 dtype | u8 rank | rank u32 dims
 */
export function encodeOperatorEntry(entry: OperatorEntry): Buffer {
  const w = new Writer().u8(OPERATOR_ENCODING_VERSION).u32(entry.index).str(entry.opType).str(entry.domain).u16(entry.opset);
  w.u16(entry.attributes.length);
  for (const a of entry.attributes) {
    w.str(a.name).u8(ATTRIBUTE_CODES[a.type]);
    switch (a.type) {
      case "float":
        w.f32(a.value);
        break;
      case "int":
        w.i64(a.value);
        break;
      case "string":
        w.u32(a.value.byteLength).bytes(a.value);
        break;
      case "tensor":
        w.bytes(Buffer.from(hashTensor(a.value).slice(2), "hex"));
        break;
      case "floats":
        w.u32(a.value.length);
        a.value.forEach((f) => w.f32(f));
        break;
      case "ints":
        w.u32(a.value.length);
        a.value.forEach((i) => w.i64(i));
        break;
      case "strings":
        w.u32(a.value.length);
        a.value.forEach((s) => w.u32(s.byteLength).bytes(s));
        break;
    }
  }
  w.u16(entry.inputs.length);
  entry.inputs.forEach((input, i) => {
    const s = input.source;
    w.u8(SOURCE_CODES[s.kind]).u32(s.kind === "weight" || s.kind === "trace" ? s.index : 0).type(entry.inputTypes[i]);
  });
  w.u16(entry.outputs.length);
  entry.outputs.forEach((output, i) => w.u32(output.trace).type(entry.outputTypes[i]));
  return w.done();
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
