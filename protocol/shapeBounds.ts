/**
 * Shape bounds, checked before a model is registered or loaded (issue 13, finding 8): a 188-byte
 * model reached 6.4 GiB of resident memory by building a huge tensor from a few constants
 * (ConstantOfShape, Expand, Tile, broadcasting); onnxruntime's constant folding allocates such a
 * tensor while it *opens* the model. `modelShapeProblems` finds every tensor whose size is known
 * before any input is seen and which holds more than `maxElements`:
 *
 * - declared shapes: graph inputs, outputs and value_info (the known dimensions; a symbolic one
 *   counts as 1), initializers and Constant values;
 * - a static shape propagation through the graph (and every subgraph and model-local function)
 *   for the operators that can grow a tensor from small operands: ConstantOfShape, Expand, Tile,
 *   Reshape, Range, Resize/Upsample, Pad, MatMul/Gemm, Conv/ConvTranspose (pads, strides, output
 *   channels), Gather (indices of any shape) and every broadcasting element-wise operator, and the
 *   ones that carry a shape on to them (pooling, Slice, Transpose, Flatten, Squeeze, Unsqueeze,
 *   element-wise), with small integer constants folded through Shape, Cast, Identity, Concat,
 *   Unsqueeze, Squeeze, Slice, Gather and integer Add/Sub/Mul/Div, so a shape built from constants
 *   or sliced from the input's declared shape is seen.
 *
 * A size that depends on the input's values (ConstantOfShape(Cast(x))) cannot be known here: the
 * model process's memory cap (worker/model-process.ts) is the bound there. Unknown operators yield
 * unknown shapes, never a refusal: the check refuses only what it can prove too large.
 */
import onnxProto from "onnx-proto";
import { OracleError } from "./errors.js";

const onnx = onnxProto.onnx;
type GraphProto = onnxProto.onnx.IGraphProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

/** Default bound: 2^28 elements (1 GiB of float32) in any one tensor. */
export const DEFAULT_MAX_TENSOR_ELEMENTS = 2 ** 28;
/** Integer constants longer than this are not folded (shapes are short). */
const MAX_FOLDED = 64;
/** Problems reported at most (a hostile model can have millions of nodes). */
const MAX_PROBLEMS = 20;

/** A shape: each dimension a number, or undefined when unknown; undefined rank: unknown shape. */
type Shape = (number | undefined)[] | undefined;

interface Scope {
  shapes: Map<string, Shape>;
  consts: Map<string, number[]>;
  parent: Scope | undefined;
}

function lookup<T>(scope: Scope, key: "shapes" | "consts", name: string): T | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const m = s[key] as Map<string, T>;
    if (m.has(name)) return m.get(name);
  }
  return undefined;
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (v !== null && typeof v === "object" && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** The product of the known dimensions (unknown ones count as 1): a lower bound on the element count. */
function knownElements(shape: Shape): number {
  if (shape === undefined) return 0;
  let n = 1;
  for (const d of shape) if (d !== undefined && d >= 0) n *= d;
  return n;
}

/** The values of a small integer tensor, or undefined. */
function intValues(t: TensorProto): number[] | undefined {
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

function broadcast(a: Shape, b: Shape): Shape {
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

function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.i === undefined || a.i === null ? fallback : num(a.i);
}

function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a === undefined || (a.ints ?? []).length === 0 ? undefined : (a.ints ?? []).map(num);
}

const UNARY = new Set([
  "Identity", "Cast", "CastLike", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal",
  "Floor", "Ceil", "Round", "Sign", "Not", "Erf", "Softmax", "LogSoftmax", "Hardmax", "Clip", "Dropout", "Elu", "Selu", "Celu", "Gelu", "Softplus", "Softsign",
  "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "IsNaN", "IsInf", "BatchNormalization", "LayerNormalization", "InstanceNormalization",
  "LpNormalization", "QuantizeLinear", "DequantizeLinear", "CumSum", "Mish", "Shrink", "ThresholdedRelu",
]);
const BROADCAST = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Where", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"]);

/** Output shapes (and folded constants) of one node, where they can be known statically. */
function inferNode(node: NodeProto, scope: Scope): { shapes: Shape[]; consts?: (number[] | undefined)[] } {
  const op = node.opType ?? "";
  const ins = node.input ?? [];
  const shape = (i: number): Shape => (ins[i] === undefined || ins[i] === "" ? undefined : lookup<Shape>(scope, "shapes", ins[i]!));
  const cnst = (i: number): number[] | undefined => (ins[i] === undefined || ins[i] === "" ? undefined : lookup<number[]>(scope, "consts", ins[i]!));
  if (op === "Constant") {
    const a = (node.attribute ?? [])[0];
    if (a?.t !== null && a?.t !== undefined) return { shapes: [(a.t.dims ?? []).map(num)], consts: [intValues(a.t)] };
    if (a?.name === "value_ints") return { shapes: [[(a.ints ?? []).length]], consts: [(a.ints ?? []).map(num)] };
    if (a?.name === "value_int") return { shapes: [[]], consts: [[num(a.i)]] };
    return { shapes: [undefined] };
  }
  if (op === "Identity" || op === "Cast") return { shapes: [shape(0)], consts: [cnst(0)] };
  if (UNARY.has(op)) return { shapes: [shape(0)] };
  if (BROADCAST.has(op)) {
    let s = shape(0);
    for (let i = 1; i < ins.length; i++) s = broadcast(s, shape(i));
    const a = cnst(0);
    const b = cnst(1);
    let folded: number[] | undefined;
    if (a !== undefined && b !== undefined && (op === "Add" || op === "Sub" || op === "Mul" || op === "Div") && (a.length === b.length || a.length === 1 || b.length === 1)) {
      const n = Math.max(a.length, b.length);
      folded = Array.from({ length: n }, (_, i) => {
        const x = a[a.length === 1 ? 0 : i]!;
        const y = b[b.length === 1 ? 0 : i]!;
        return op === "Add" ? x + y : op === "Sub" ? x - y : op === "Mul" ? x * y : y === 0 ? 0 : Math.trunc(x / y);
      });
    }
    return { shapes: [s], consts: [folded] };
  }
  switch (op) {
    case "Shape": {
      const s = shape(0);
      const known = s !== undefined && s.every((d) => d !== undefined);
      return { shapes: [[s?.length]], consts: [known ? (s as number[]) : undefined] };
    }
    case "Size":
      return { shapes: [[]] };
    case "ConstantOfShape": {
      const dims = cnst(0);
      return { shapes: [dims] };
    }
    case "Expand": {
      const dims = cnst(1);
      return { shapes: [dims === undefined ? undefined : broadcast(shape(0) ?? dims.map(() => undefined), dims)] };
    }
    case "Tile": {
      const reps = cnst(1);
      const s = shape(0);
      if (reps === undefined) return { shapes: [undefined] };
      return { shapes: [reps.map((r, i) => (s?.[i] === undefined ? (r > 1 ? r : undefined) : s[i]! * r))] };
    }
    case "Reshape": {
      const dims = cnst(1);
      if (dims === undefined) return { shapes: [undefined] };
      const s = shape(0);
      const out = dims.map((d, i) => (d === 0 ? s?.[i] : d === -1 ? undefined : d));
      const total = s !== undefined && s.every((d) => d !== undefined) ? knownElements(s) : undefined;
      const rest = knownElements(out);
      const inferred = dims.indexOf(-1);
      if (inferred >= 0 && total !== undefined && rest > 0 && out.every((d, i) => i === inferred || d !== undefined)) out[inferred] = Math.floor(total / rest);
      return { shapes: [out] };
    }
    case "Range": {
      const [start, limit, delta] = [cnst(0)?.[0], cnst(1)?.[0], cnst(2)?.[0]];
      if (start === undefined || limit === undefined || delta === undefined || delta === 0) return { shapes: [[undefined]] };
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      return { shapes: [[n]], consts: [n <= MAX_FOLDED ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined] };
    }
    case "Resize":
    case "Upsample": {
      const sizes = op === "Resize" ? cnst(3) : undefined;
      if (sizes !== undefined && sizes.length > 0) return { shapes: [sizes] };
      const s = shape(0);
      const scalesInput = op === "Resize" ? ins[2] : ins[1];
      const scales = scalesInput === undefined || scalesInput === "" ? undefined : floatConst(scope, scalesInput);
      if (s === undefined || scales === undefined || scales.length !== s.length) return { shapes: [undefined] };
      return { shapes: [s.map((d, i) => (d === undefined ? (scales[i]! > 1 ? Math.floor(scales[i]!) : undefined) : Math.floor(d * scales[i]!)))] };
    }
    case "Pad": {
      const s = shape(0);
      const pads = cnst(1) ?? attrInts(node, "pads");
      if (s === undefined || pads === undefined || pads.length !== 2 * s.length) return { shapes: [undefined] };
      return { shapes: [s.map((d, i) => (d === undefined ? undefined : d + pads[i]! + pads[i + s.length]!))] };
    }
    case "MatMul": {
      const a = shape(0);
      const b = shape(1);
      if (a === undefined || b === undefined || a.length < 2 || b.length < 2) return { shapes: [undefined] };
      const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
      return { shapes: [batch === undefined ? undefined : [...batch, a[a.length - 2], b[b.length - 1]]] };
    }
    case "Gemm": {
      const a = shape(0);
      const b = shape(1);
      if (a === undefined || b === undefined || a.length !== 2 || b.length !== 2) return { shapes: [undefined] };
      return { shapes: [[attrInt(node, "transA", 0) ? a[1] : a[0], attrInt(node, "transB", 0) ? b[0] : b[1]]] };
    }
    case "Concat": {
      const axis = attrInt(node, "axis", 0);
      const shapes = ins.map((_, i) => shape(i));
      const consts = ins.map((_, i) => cnst(i));
      const folded = consts.every((c) => c !== undefined) ? (consts as number[][]).flat() : undefined;
      if (shapes.some((s) => s === undefined)) return { shapes: [undefined], consts: [folded] };
      const first = shapes[0]!;
      const ax = axis < 0 ? axis + first.length : axis;
      const out = first.map((d, i) => (i === ax ? shapes.reduce<number | undefined>((acc, s) => (acc === undefined || s![i] === undefined ? undefined : acc + s![i]!), 0) : d));
      return { shapes: [out], consts: [folded] };
    }
    case "Unsqueeze": {
      const s = shape(0);
      const axes = cnst(1) ?? attrInts(node, "axes");
      if (s === undefined || axes === undefined) return { shapes: [undefined], consts: [cnst(0)] };
      const rank = s.length + axes.length;
      const at = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
      const out: (number | undefined)[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : s[k++]);
      return { shapes: [k === s.length ? out : undefined], consts: [cnst(0)] };
    }
    case "Squeeze": {
      const s = shape(0);
      const axes = cnst(1) ?? attrInts(node, "axes");
      if (s === undefined) return { shapes: [undefined], consts: [cnst(0)] };
      if (axes === undefined) return { shapes: [s.every((d) => d !== undefined) ? s.filter((d) => d !== 1) : undefined], consts: [cnst(0)] };
      const at = new Set(axes.map((a) => (a < 0 ? a + s.length : a)));
      return { shapes: [s.filter((_, i) => !at.has(i))], consts: [cnst(0)] };
    }
    case "Gather": {
      const axis = attrInt(node, "axis", 0);
      const s = shape(0);
      const idxShape = shape(1);
      const data = cnst(0);
      const idx = cnst(1);
      const folded = data !== undefined && idx !== undefined && axis === 0 && (s?.length ?? 1) <= 1 ? idx.map((i) => data[i < 0 ? i + data.length : i]!) : undefined;
      // data[:axis] + indices' shape + data[axis+1:]: indices of a large shape copy the data that often.
      let out: Shape;
      if (s !== undefined && idxShape !== undefined && s.length > 0) {
        const ax = axis < 0 ? axis + s.length : axis;
        out = [...s.slice(0, ax), ...idxShape, ...s.slice(ax + 1)];
      }
      return { shapes: [out], consts: [folded?.some((v) => v === undefined) ? undefined : folded] };
    }
    case "Slice": {
      const s = shape(0);
      const starts = cnst(1) ?? attrInts(node, "starts");
      const ends = cnst(2) ?? attrInts(node, "ends");
      if (s === undefined || starts === undefined || ends === undefined || starts.length !== ends.length) return { shapes: [undefined] };
      const axes = (ins.length > 3 ? cnst(3) : attrInts(node, "axes")) ?? starts.map((_, i) => i);
      const steps = (ins.length > 4 ? cnst(4) : undefined) ?? starts.map(() => 1);
      if (axes.length !== starts.length || steps.length !== starts.length || steps.some((st) => st === 0)) return { shapes: [undefined] };
      const out = [...s];
      const ranges: ([number, number, number] | undefined)[] = s.map((d) => (d === undefined ? undefined : [0, d, 1]));
      for (const [i, a] of axes.entries()) {
        const ax = a < 0 ? a + s.length : a;
        const d = s[ax];
        if (ax < 0 || ax >= s.length) return { shapes: [undefined] };
        if (d === undefined) {
          out[ax] = undefined;
          continue;
        }
        const step = steps[i]!;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const start = step > 0 ? clamp(starts[i]!, 0, d) : clamp(starts[i]!, -1, d - 1);
        const end = step > 0 ? clamp(ends[i]!, 0, d) : clamp(ends[i]!, -1, d - 1);
        out[ax] = Math.max(0, Math.ceil((end - start) / step));
        ranges[ax] = [start, end, step];
      }
      // A slice of a small 1-D constant (a shape) folds: Shape(x)[2:4] is x's spatial size.
      const data = cnst(0);
      let folded: number[] | undefined;
      if (data !== undefined && s.length === 1 && ranges[0] !== undefined) {
        const [start, , step] = ranges[0];
        folded = Array.from({ length: out[0]! }, (_, i) => data[start + i * step]!);
        if (folded.some((v) => v === undefined)) folded = undefined;
      }
      return { shapes: [out], consts: [folded] };
    }
    case "Transpose": {
      const s = shape(0);
      if (s === undefined) return { shapes: [undefined] };
      const perm = attrInts(node, "perm") ?? s.map((_, i) => s.length - 1 - i);
      return { shapes: [perm.length === s.length ? perm.map((p) => s[p]) : undefined] };
    }
    case "Flatten": {
      const s = shape(0);
      if (s === undefined) return { shapes: [undefined] };
      const axis = attrInt(node, "axis", 1);
      const ax = axis < 0 ? axis + s.length : axis;
      const product = (ds: (number | undefined)[]) => (ds.some((d) => d === undefined) ? undefined : ds.reduce<number>((a, b) => a * b!, 1));
      return { shapes: [[product(s.slice(0, ax)), product(s.slice(ax))]] };
    }
    case "Conv":
    case "ConvInteger":
    case "QLinearConv":
    case "MaxPool":
    case "AveragePool":
    case "LpPool":
    case "ConvTranspose":
      return { shapes: [windowShape(node, op, shape(0), shape(op === "QLinearConv" ? 3 : 1)), ...(op === "MaxPool" ? [undefined] : [])] };
    case "ReduceMean":
    case "ReduceSum":
    case "ReduceMax":
    case "ReduceMin":
    case "ReduceProd":
    case "ReduceL1":
    case "ReduceL2":
    case "ReduceLogSum":
    case "ReduceLogSumExp":
    case "ReduceSumSquare":
    case "ArgMax":
    case "ArgMin": {
      const s = shape(0);
      const arg = op.startsWith("Arg");
      const axes = arg ? [attrInt(node, "axis", 0)] : (attrInts(node, "axes") ?? (ins.length > 1 ? cnst(1) : undefined));
      if (s === undefined || (axes === undefined && ins.length > 1 && ins[1] !== "")) return { shapes: [undefined] };
      const keep = attrInt(node, "keepdims", 1) === 1;
      const noop = !arg && axes === undefined && attrInt(node, "noop_with_empty_axes", 0) === 1;
      if (noop) return { shapes: [s] };
      const at = new Set((axes ?? s.map((_, i) => i)).map((a) => (a < 0 ? a + s.length : a)));
      return { shapes: [keep ? s.map((d, i) => (at.has(i) ? 1 : d)) : s.filter((_, i) => !at.has(i))] };
    }
    case "GlobalAveragePool":
    case "GlobalMaxPool":
    case "GlobalLpPool": {
      const s = shape(0);
      return { shapes: [s === undefined || s.length < 2 ? undefined : [s[0], s[1], ...s.slice(2).map(() => 1)]] };
    }
    default:
      return { shapes: (node.output ?? []).map(() => undefined) };
  }
}

/**
 * The output shape of a sliding-window operator (Conv, ConvTranspose, pooling) from its input's shape
 * [N, C, D1..Dn], the weight's shape ([M, C/group, k1..kn]; [C, M/group, k...] for ConvTranspose) and
 * its attributes. Unknown where an input dimension or the kernel is unknown; never an overestimate.
 */
function windowShape(node: NodeProto, op: string, x: Shape, w: Shape): Shape {
  if (x === undefined || x.length < 3) return undefined;
  const n = x.length - 2;
  const pooling = op.endsWith("Pool");
  const kernel = attrInts(node, "kernel_shape") ?? (pooling ? undefined : w?.slice(2));
  if (kernel === undefined || kernel.length !== n || kernel.some((k) => k === undefined)) return undefined;
  const strides = attrInts(node, "strides") ?? kernel.map(() => 1);
  const dilations = attrInts(node, "dilations") ?? kernel.map(() => 1);
  const pads = attrInts(node, "pads") ?? kernel.flatMap(() => [0, 0]);
  const autoPad = attributeString(node, "auto_pad") ?? "NOTSET";
  const ceil = attrInt(node, "ceil_mode", 0) === 1;
  if (strides.length !== n || dilations.length !== n || pads.length !== 2 * n) return undefined;
  let channels: number | undefined;
  if (pooling) channels = x[1];
  else if (op === "ConvTranspose") channels = w?.[1] === undefined ? undefined : w[1] * attrInt(node, "group", 1);
  else channels = w?.[0];
  const spatial = x.slice(2).map((d, i): number | undefined => {
    const k = (kernel[i]! - 1) * dilations[i]! + 1;
    const s = strides[i]!;
    if (op === "ConvTranspose") {
      const outputShape = attrInts(node, "output_shape");
      if (outputShape !== undefined && outputShape.length === n) return outputShape[i];
      if (d === undefined) return undefined;
      if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return d * s;
      const outputPadding = attrInts(node, "output_padding")?.[i] ?? 0;
      return s * (d - 1) + outputPadding + k - (autoPad === "VALID" ? 0 : pads[i]! + pads[i + n]!);
    }
    if (d === undefined || s <= 0) return undefined;
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return Math.ceil(d / s);
    const padded = d + (autoPad === "VALID" ? 0 : pads[i]! + pads[i + n]!) - k;
    return (ceil ? Math.ceil(padded / s) : Math.floor(padded / s)) + 1;
  });
  const out = [x[0], channels, ...spatial];
  return out.map((d) => (d === undefined || !Number.isFinite(d) || d < 0 ? undefined : d));
}

function attributeString(node: NodeProto, name: string): string | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.s === undefined || a.s === null || a.s.length === 0 ? undefined : new TextDecoder().decode(a.s);
}

/** The values of a small float constant (Resize scales), or undefined. */
function floatConst(scope: Scope, name: string): number[] | undefined {
  return lookup<number[]>(scope, "consts", `${name}#float`);
}

function declaredShape(v: onnxProto.onnx.IValueInfoProto): Shape {
  const dims = v.type?.tensorType?.shape?.dim;
  if (dims === undefined || dims === null) return undefined;
  return dims.map((d) => (d.dimValue === null || d.dimValue === undefined ? undefined : num(d.dimValue)));
}

function tensorConsts(scope: Scope, t: TensorProto): void {
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

function checkGraph(graph: GraphProto, parent: Scope | undefined, where: string, maxElements: number, problems: string[]): Scope {
  const scope: Scope = { shapes: new Map(), consts: new Map(), parent };
  const report = (what: string, shape: Shape) => {
    const n = knownElements(shape);
    if (n > maxElements && problems.length < MAX_PROBLEMS) {
      problems.push(`${where}: ${what} has shape [${(shape ?? []).map((d) => d ?? "?").join(", ")}] (${n.toExponential(3)} elements), more than the limit of ${maxElements}`);
    }
  };
  for (const t of graph.initializer ?? []) {
    tensorConsts(scope, t);
    report(`initializer "${t.name ?? ""}"`, (t.dims ?? []).map(num));
  }
  for (const v of graph.input ?? []) {
    const s = declaredShape(v);
    if (!scope.shapes.has(v.name ?? "")) scope.shapes.set(v.name ?? "", s);
    report(`input "${v.name ?? ""}"`, s);
  }
  for (const [kind, list] of [["output", graph.output], ["value_info", graph.valueInfo]] as const) {
    for (const v of list ?? []) report(`${kind} "${v.name ?? ""}"`, declaredShape(v));
  }
  for (const [i, node] of (graph.node ?? []).entries()) {
    const label = `node ${JSON.stringify(node.name || `#${i}`)} (${node.opType ?? "?"})`;
    for (const a of node.attribute ?? []) {
      if (a.t) report(`${label} attribute "${a.name ?? ""}"`, (a.t.dims ?? []).map(num));
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) checkGraph(g, scope, `${where}/${node.opType ?? "?"}.${a.name ?? ""}`, maxElements, problems);
    }
    const inferred = inferNode(node, scope);
    for (const [k, out] of (node.output ?? []).entries()) {
      if (out === "") continue;
      const s = inferred.shapes[k];
      scope.shapes.set(out, s);
      const c = inferred.consts?.[k];
      if (c !== undefined) scope.consts.set(out, c);
      if (node.opType === "Constant") {
        const t = (node.attribute ?? [])[0]?.t;
        if (t) tensorConsts(scope, { ...t, name: out });
      }
      report(`${label} output "${out}"`, s);
    }
  }
  return scope;
}

/**
 * The shape this check infers for every value of the top-level graph (a dimension it cannot know is
 * undefined): for tests that hold the propagation to onnxruntime's real shapes.
 */
export function inferredShapes(bytes: Uint8Array): Map<string, (number | undefined)[] | undefined> {
  const model = onnx.ModelProto.decode(bytes);
  return model.graph ? checkGraph(model.graph, undefined, "graph", Number.POSITIVE_INFINITY, []).shapes : new Map();
}

/**
 * How many times the top-level `graph` field (7) occurs. protobufjs keeps the last copy of a singular
 * message field while onnxruntime's C++ protobuf merges all of them: a second copy could hide the
 * first graph's nodes from this check. No serializer writes two.
 */
function graphFieldCount(bytes: Uint8Array): number {
  let pos = 0;
  let count = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10 && pos < bytes.byteLength; i++) {
      const b = bytes[pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new OracleError("MODEL_UNSAFE", "the model is not a well-formed ONNX protobuf (a bad varint)");
  };
  while (pos < bytes.byteLength) {
    const key = varint();
    const wire = key % 8;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      if (Math.floor(key / 8) === 7) count++;
      pos += length;
    } else throw new OracleError("MODEL_UNSAFE", `the model is not a well-formed ONNX protobuf (wire type ${wire})`);
  }
  return count;
}

/** Every tensor of `bytes` (an ONNX file) known to exceed `maxElements`, described; empty when none. */
export function modelShapeProblems(bytes: Uint8Array, maxElements: number = DEFAULT_MAX_TENSOR_ELEMENTS): string[] {
  const graphs = graphFieldCount(bytes);
  if (graphs > 1) return [`the model has ${graphs} graph fields (a well-formed file has one; onnxruntime would merge them, so no single copy shows what it runs)`];
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OracleError("MODEL_UNSAFE", `the model is not a well-formed ONNX protobuf (${(error as Error).message})`);
  }
  const problems: string[] = [];
  if (model.graph) checkGraph(model.graph, undefined, "graph", maxElements, problems);
  for (const f of model.functions ?? []) {
    checkGraph({ node: f.node ?? [], input: [], output: [] }, undefined, `function ${f.domain ?? ""}.${f.name ?? ""}`, maxElements, problems);
  }
  for (const [i, t] of (model.trainingInfo ?? []).entries()) {
    for (const g of [t.initialization, t.algorithm]) if (g) checkGraph(g, undefined, `training_info ${i}`, maxElements, problems);
  }
  return problems;
}

/**
 * Throws MODEL_TOO_LARGE (never retryable) naming the offending tensors when the model declares or
 * statically builds a tensor of more than `maxElements` elements.
 */
export function assertModelShapesBounded(bytes: Uint8Array, maxElements: number = DEFAULT_MAX_TENSOR_ELEMENTS): void {
  const problems = modelShapeProblems(bytes, maxElements);
  if (problems.length > 0) {
    throw new OracleError("MODEL_TOO_LARGE", `the model builds tensors larger than workers accept: ${problems.slice(0, 3).join("; ")}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ""}`, {
      details: { problems, maxElements },
    });
  }
}
