/** A small ONNX model builder for the canonical suites (onnx-proto, as circuits/model.ts writes models). */
import type onnxProto from "onnx-proto";
import { onnx } from "../../protocol/index.js";

export type Attr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string } | { t: InitSpec };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Attr>;
  domain?: string;
}

export interface InitSpec {
  name: string;
  dtype: "float32" | "int64" | "int32" | "int8" | "uint8" | "bool";
  shape: number[];
  values: number[];
}

type InputSpec = { name: string; dtype?: "float32" | "int32" | "int8" | "uint8"; shape: number[] };

export interface ModelSpec {
  input: InputSpec;
  output: string;
  /** Further graph inputs and outputs (a model with several), after `input` and `output`. */
  moreInputs?: InputSpec[];
  moreOutputs?: string[];
  /** Declared float32 output shapes by name (default: no type, as onnxruntime infers it). */
  outputShapes?: Record<string, number[]>;
  nodes: NodeSpec[];
  initializers?: InitSpec[];
  opset?: number;
}

const ELEM = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 } as const;

function attribute(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ("i" in a) return { name, type: T.INT, i: a.i };
  if ("f" in a) return { name, type: T.FLOAT, f: a.f };
  if ("ints" in a) return { name, type: T.INTS, ints: a.ints };
  if ("floats" in a) return { name, type: T.FLOATS, floats: a.floats };
  if ("t" in a) return { name, type: T.TENSOR, t: initializer(a.t) };
  return { name, type: T.STRING, s: Buffer.from(a.s) };
}

function initializer(t: InitSpec): onnxProto.onnx.ITensorProto {
  const base = { name: t.name, dims: t.shape, dataType: ELEM[t.dtype] };
  if (t.dtype === "float32") return { ...base, floatData: t.values };
  if (t.dtype !== "int64") return { ...base, int32Data: t.values }; // int32, int8, uint8, bool
  return { ...base, int64Data: t.values };
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    producerName: "test/canonical",
    graph: {
      name: "g",
      node: spec.nodes.map((n, k) => ({
        name: `n${k}`,
        opType: n.op,
        domain: n.domain ?? "",
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([name, a]) => attribute(name, a)),
      })),
      initializer: (spec.initializers ?? []).map(initializer),
      input: [spec.input, ...(spec.moreInputs ?? [])].map((x) => ({ name: x.name, type: { tensorType: { elemType: ELEM[x.dtype ?? "float32"], shape: { dim: x.shape.map((d) => ({ dimValue: d })) } } } })),
      output: [spec.output, ...(spec.moreOutputs ?? [])].map((name) => {
        const shape = spec.outputShapes?.[name];
        return shape === undefined ? { name } : { name, type: { tensorType: { elemType: ELEM.float32, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } };
      }),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Deterministic float values in [lo, hi). */
export function values(n: number, seed: number, lo = -1, hi = 1): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return Math.fround(lo + ((s >>> 8) / 2 ** 24) * (hi - lo));
  });
}
