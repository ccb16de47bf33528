/** The scope of protocol/shapeBounds.ts's shape propagation: known shapes, folded constants and ONNX attribute readers. */
import onnxProto from "onnx-proto";

const onnx = onnxProto.onnx;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

/** Integer constants longer than this are not folded (shapes are short). */
export const MAX_FOLDED = 64;

/** A shape: each dimension a number, or undefined when unknown; undefined rank: unknown shape. */
export type Shape = (number | undefined)[] | undefined;

export interface Scope {
  shapes: Map<string, Shape>;
  consts: Map<string, number[]>;
  parent: Scope | undefined;
}

export function lookup<T>(scope: Scope, key: "shapes" | "consts", name: string): T | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const m = s[key] as Map<string, T>;
    if (m.has(name)) return m.get(name);
  }
  return undefined;
}

export function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (v !== null && typeof v === "object" && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** The product of the known dimensions (unknown ones count as 1): a lower bound on the element count. */
export function knownElements(shape: Shape): number {
  if (shape === undefined) return 0;
  let n = 1;
  for (const d of shape) if (d !== undefined && d >= 0) n *= d;
  return n;
}

/** The values of a small integer tensor, or undefined. */
export function intValues(t: TensorProto): number[] | undefined {
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > MAX_FOLDED) return undefined;
  const type = t.dataType ?? 0;
  const D = onnx.TensorProto.DataType;
  if (type !== D.INT64 && type !== D.INT32 && type !== D.INT16 && type !== D.INT8 && type !== D.UINT8 && type !== D.UINT32 && type !== D.UINT64) return undefined;
  if (t.rawData !== null && t.rawData !== undefined && t.rawData.byteLength > 0) {
    const raw = new Uint8Array(t.rawData);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const size = type === D.INT64 || type === D.UINT64 ? 8 : type === D.INT32 || type === D.UINT32 ? 4 : type === D.INT16 ? 2 : 1;
    if (raw.byteLength !== count * size) return undefined;
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const o = i * size;
      out.push(size === 8 ? Number(type === D.UINT64 ? view.getBigUint64(o, true) : view.getBigInt64(o, true)) : size === 4 ? (type === D.UINT32 ? view.getUint32(o, true) : view.getInt32(o, true)) : size === 2 ? view.getInt16(o, true) : type === D.INT8 ? view.getInt8(o) : view.getUint8(o));
    }
    return out;
  }
  const list = type === D.INT64 ? t.int64Data : type === D.UINT64 ? t.uint64Data : t.int32Data;
  const values = (list ?? []).map(num);
  return values.length === count ? values : undefined;
}

export function broadcast(a: Shape, b: Shape): Shape {
  if (a === undefined || b === undefined) return undefined;
  const rank = Math.max(a.length, b.length);
  const out: (number | undefined)[] = [];
  for (let i = 0; i < rank; i++) {
    const x = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const y = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (x === undefined) out.push(y);
    else if (y === undefined) out.push(x);
    else out.push(Math.max(x, y));
  }
  return out;
}

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.i === undefined || a.i === null ? fallback : num(a.i);
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a === undefined || (a.ints ?? []).length === 0 ? undefined : (a.ints ?? []).map(num);
}

export const UNARY = new Set([
  "Identity", "Cast", "CastLike", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal",
  "Floor", "Ceil", "Round", "Sign", "Not", "Erf", "Softmax", "LogSoftmax", "Hardmax", "Clip", "Dropout", "Elu", "Selu", "Celu", "Gelu", "Softplus", "Softsign",
  "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "IsNaN", "IsInf", "BatchNormalization", "LayerNormalization", "InstanceNormalization",
  "LpNormalization", "QuantizeLinear", "DequantizeLinear", "CumSum", "Mish", "Shrink", "ThresholdedRelu",
]);
export const BROADCAST = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Where", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"]);

export function attributeString(node: NodeProto, name: string): string | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.s === undefined || a.s === null || a.s.length === 0 ? undefined : new TextDecoder().decode(a.s);
}

/** The values of a small float constant (Resize scales), or undefined. */
export function floatConst(scope: Scope, name: string): number[] | undefined {
  return lookup<number[]>(scope, "consts", `${name}#float`);
}

export function declaredShape(v: onnxProto.onnx.IValueInfoProto): Shape {
  const dims = v.type?.tensorType?.shape?.dim;
  if (dims === undefined || dims === null) return undefined;
  return dims.map((d) => (d.dimValue === null || d.dimValue === undefined ? undefined : num(d.dimValue)));
}

export function tensorConsts(scope: Scope, t: TensorProto): void {
  const name = t.name ?? "";
  scope.shapes.set(name, (t.dims ?? []).map(num));
  const ints = intValues(t);
  if (ints !== undefined) scope.consts.set(name, ints);
  if (t.dataType === onnx.TensorProto.DataType.FLOAT && (t.floatData ?? []).length > 0 && (t.floatData ?? []).length <= MAX_FOLDED) {
    scope.consts.set(`${name}#float`, [...(t.floatData ?? [])]);
  } else if (t.dataType === onnx.TensorProto.DataType.FLOAT && t.rawData && t.rawData.byteLength > 0 && t.rawData.byteLength <= 4 * MAX_FOLDED && t.rawData.byteLength % 4 === 0) {
    const raw = new Uint8Array(t.rawData);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    scope.consts.set(`${name}#float`, Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true)));
  }
}
