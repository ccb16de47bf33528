/**
 * Shape arithmetic folded at lowering time. The committed input shape is static, so `Shape` and the
 * integer computations on its result (Cast, Slice, Concat, Gather, Unsqueeze, Squeeze, Reshape, and
 * integer Add/Sub/Mul/Div on constants) are known before anything runs: they become step parameters
 * (a Reshape's target shape, a Slice's bounds), never steps. Only integer tensors fold.
 */
import type { AttributeValue, DType, Tensor } from "../protocol/index.js";
import { wrapTo } from "./kernels.js";
import { canonicalError, numelOf, stridesOf } from "./program.js";

/** A folded integer constant (values exact as JS numbers: shape arithmetic stays far below 2^53). */
export interface IntConstant {
  dtype: DType;
  shape: number[];
  values: number[];
}

const INT_CODES: Record<number, DType> = { 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 12: "uint32", 13: "uint64" };
export const FOLDABLE_OPS = new Set(["Shape", "Cast", "Slice", "Concat", "Gather", "Unsqueeze", "Squeeze", "Reshape", "Add", "Sub", "Mul", "Div", "Identity", "Range", "ConstantOfShape", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Where"]);

/** Whether constants of this dtype fold (integers, and bools: the masks of shape arithmetic). */
export function isFoldableDtype(dtype: DType): boolean {
  return isIntDtype(dtype) || dtype === "bool";
}

/** Whether an operator of FOLDABLE_OPS folds with these attributes (ConstantOfShape only with an integer value). */
export function foldsWith(opType: string, attrs: Attributes): boolean {
  if (opType !== "ConstantOfShape") return true;
  const v = attrs.get("value");
  return v?.type === "tensor" && isFoldableDtype(v.value.dtype);
}

export function isIntDtype(dtype: DType): boolean {
  return dtype !== "float32" && dtype !== "float64" && dtype !== "float16" && dtype !== "bool";
}

/** A weight as an integer constant, when it is an integer tensor. */
/**
 * Integer weights up to this many values are also held as constants (shape arithmetic, indices, zero
 * points); a larger one (an int8 layer's weights) is data only, never copied into a JS array: a
 * quantized model's commitment stays streamed.
 */
export const MAX_FOLDED_WEIGHT = 1 << 16;

export function intConstantOf(t: Tensor): IntConstant | undefined {
  if (!isFoldableDtype(t.dtype)) return undefined;
  if (t.shape.reduce((a, d) => a * d, 1) > MAX_FOLDED_WEIGHT) return undefined;
  const values = Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  return { dtype: t.dtype, shape: [...t.shape], values };
}

export function normAxis(axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw canonicalError("OP_UNSUPPORTED", `${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

export type Attributes = ReadonlyMap<string, AttributeValue>;

export function attrInt(attrs: Attributes, name: string, fallback: number): number {
  const a = attrs.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "int") throw canonicalError("OP_UNSUPPORTED", `attribute ${name} must be an int`);
  return Number(a.value);
}

export function attrInts(attrs: Attributes, name: string): number[] | undefined {
  const a = attrs.get(name);
  if (a === undefined) return undefined;
  if (a.type !== "ints") throw canonicalError("OP_UNSUPPORTED", `attribute ${name} must be ints`);
  return a.value.map(Number);
}

export function attrFloat(attrs: Attributes, name: string, fallback: number): number {
  const a = attrs.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "float") throw canonicalError("OP_UNSUPPORTED", `attribute ${name} must be a float`);
  return a.value;
}

export function attrString(attrs: Attributes, name: string, fallback: string): string {
  const a = attrs.get(name);
  if (a === undefined) return fallback;
  if (a.type !== "string") throw canonicalError("OP_UNSUPPORTED", `attribute ${name} must be a string`);
  return Buffer.from(a.value).toString("utf8");
}

/** Shape of a Reshape target (0 copies the input's dimension unless allowzero, −1 is inferred). */
export function reshapeTarget(inShape: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? inShape[i]! : d));
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const minus = out.filter((d) => d === -1).length;
  if (minus > 1) throw canonicalError("OP_UNSUPPORTED", `Reshape target [${target}] has more than one -1`);
  if (minus === 1) out[out.indexOf(-1)] = numelOf(inShape) / known;
  if (numelOf(out) !== numelOf(inShape) || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw canonicalError("OP_UNSUPPORTED", `Reshape of [${inShape}] to [${target}] does not preserve the element count`);
  }
  return out;
}

/** Normalized Slice bounds per axis of `shape`: start, step and output length (ONNX clamping rules). */
export function sliceBounds(shape: readonly number[], starts: readonly number[], ends: readonly number[], axes: readonly number[] | undefined, steps: readonly number[] | undefined): { starts: number[]; steps: number[]; out: number[] } {
  const rank = shape.length;
  const st = shape.map(() => 0);
  const sp = shape.map(() => 1);
  const out = [...shape];
  const ax = axes ?? starts.map((_, i) => i);
  ax.forEach((axis, i) => {
    const a = normAxis(axis, rank);
    const dim = shape[a]!;
    const step = steps?.[i] ?? 1;
    if (step === 0) throw canonicalError("OP_UNSUPPORTED", "Slice step 0");
    let s = starts[i]!;
    let e = ends[i]!;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
      out[a] = Math.max(0, Math.ceil((e - s) / step));
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
      out[a] = Math.max(0, Math.ceil((e - s) / step));
    }
    st[a] = s;
    sp[a] = step;
  });
  return { starts: st, steps: sp, out };
}

/** Numpy broadcast of shapes. */
export function broadcastShapes(shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) throw canonicalError("OP_UNSUPPORTED", `shapes [${shapes.map((x) => `[${x}]`).join(", ")}] do not broadcast`);
    }
  }
  return out;
}

/** Evaluates a foldable operator on integer constants (`inputs[i]` undefined for an absent input). */
export function foldOperator(opType: string, opset: number, attrs: Attributes, inputs: ReadonlyArray<IntConstant | undefined>, inputShapes: ReadonlyArray<number[] | undefined>): IntConstant {
  const need = (i: number): IntConstant => inputs[i] ?? (() => { throw canonicalError("OP_UNSUPPORTED", `${opType} input ${i} is not a constant`); })();
  switch (opType) {
    case "Shape": {
      const shape = inputShapes[0]!;
      const start = normStart(attrInt(attrs, "start", 0), shape.length);
      const endAttr = attrs.get("end");
      const end = endAttr === undefined ? shape.length : normStart(attrInt(attrs, "end", shape.length), shape.length);
      const values = shape.slice(start, Math.max(start, end));
      return { dtype: "int64", shape: [values.length], values };
    }
    case "Identity":
      return need(0);
    case "Cast": {
      const code = attrInt(attrs, "to", 0);
      const c = need(0);
      if (code === 9) return { dtype: "bool", shape: c.shape, values: c.values.map((v) => (v !== 0 ? 1 : 0)) };
      const to = INT_CODES[code];
      if (to === undefined) throw canonicalError("OP_UNSUPPORTED", "Cast of shape arithmetic to a non-integer type");
      return { dtype: to, shape: c.shape, values: c.values.map((v) => wrapTo(to, v)) };
    }
    case "Slice": {
      const c = need(0);
      let starts: number[];
      let ends: number[];
      let axes: number[] | undefined;
      let steps: number[] | undefined;
      if (opset < 10) {
        starts = attrInts(attrs, "starts") ?? [];
        ends = attrInts(attrs, "ends") ?? [];
        axes = attrInts(attrs, "axes");
      } else {
        starts = need(1).values;
        ends = need(2).values;
        axes = inputs[3]?.values;
        steps = inputs[4]?.values;
      }
      const b = sliceBounds(c.shape, starts, ends, axes, steps);
      return { dtype: c.dtype, shape: b.out, values: gatherStrided(c, b.out, b.starts, b.steps) };
    }
    case "Concat": {
      const parts = inputs.map((_, i) => need(i));
      const axis = normAxis(attrInt(attrs, "axis", 0), parts[0]!.shape.length);
      if (parts[0]!.shape.length !== 1 || axis !== 0) throw canonicalError("OP_UNSUPPORTED", "only 1-D Concat of shape arithmetic folds");
      const values = parts.flatMap((p) => p.values);
      return { dtype: parts[0]!.dtype, shape: [values.length], values };
    }
    case "Gather": {
      const c = need(0);
      const idx = need(1);
      const axis = normAxis(attrInt(attrs, "axis", 0), c.shape.length);
      if (c.shape.length !== 1 || axis !== 0) throw canonicalError("OP_UNSUPPORTED", "only 1-D Gather of shape arithmetic folds");
      const values = idx.values.map((i) => c.values[i < 0 ? i + c.shape[0]! : i]!);
      return { dtype: c.dtype, shape: [...idx.shape], values };
    }
    case "Unsqueeze":
    case "Squeeze":
    case "Reshape": {
      const c = need(0);
      let shape: number[];
      if (opType === "Reshape") shape = reshapeTarget(c.shape, need(1).values, attrInt(attrs, "allowzero", 0) === 1);
      else {
        const axes = opset < 13 ? attrInts(attrs, "axes") : inputs[1]?.values;
        shape = opType === "Squeeze" ? squeezeShape(c.shape, axes) : unsqueezeShape(c.shape, axes ?? []);
      }
      return { dtype: c.dtype, shape, values: c.values };
    }
    case "Add":
    case "Sub":
    case "Mul":
    case "Div": {
      const a = need(0);
      const b = need(1);
      const shape = broadcastShapes([a.shape, b.shape]);
      const ai = broadcastIndex(shape, a.shape);
      const bi = broadcastIndex(shape, b.shape);
      const f = { Add: (p: number, q: number) => p + q, Sub: (p: number, q: number) => p - q, Mul: (p: number, q: number) => p * q, Div: (p: number, q: number) => (q === 0 ? 0 : Math.trunc(p / q)) }[opType];
      const values = Array.from({ length: numelOf(shape) }, (_, i) => wrapTo(a.dtype, f(a.values[ai(i)]!, b.values[bi(i)]!)));
      return { dtype: a.dtype, shape, values };
    }
    case "Equal":
    case "Less":
    case "Greater":
    case "LessOrEqual":
    case "GreaterOrEqual":
    case "And":
    case "Or":
    case "Xor": {
      const a = need(0);
      const b = need(1);
      const shape = broadcastShapes([a.shape, b.shape]);
      const ai = broadcastIndex(shape, a.shape);
      const bi = broadcastIndex(shape, b.shape);
      const f = {
        Equal: (p: number, q: number) => p === q, Less: (p: number, q: number) => p < q, Greater: (p: number, q: number) => p > q,
        LessOrEqual: (p: number, q: number) => p <= q, GreaterOrEqual: (p: number, q: number) => p >= q,
        And: (p: number, q: number) => p !== 0 && q !== 0, Or: (p: number, q: number) => p !== 0 || q !== 0, Xor: (p: number, q: number) => (p !== 0) !== (q !== 0),
      }[opType]!;
      return { dtype: "bool", shape, values: Array.from({ length: numelOf(shape) }, (_, i) => (f(a.values[ai(i)]!, b.values[bi(i)]!) ? 1 : 0)) };
    }
    case "Not": {
      const a = need(0);
      return { dtype: "bool", shape: a.shape, values: a.values.map((v) => (v === 0 ? 1 : 0)) };
    }
    case "Where": {
      const [c, x, y] = [need(0), need(1), need(2)];
      const shape = broadcastShapes([c.shape, x.shape, y.shape]);
      const [ci, xi, yi] = [c, x, y].map((t) => broadcastIndex(shape, t.shape)) as [(i: number) => number, (i: number) => number, (i: number) => number];
      return { dtype: x.dtype, shape, values: Array.from({ length: numelOf(shape) }, (_, i) => (c.values[ci(i)]! !== 0 ? x.values[xi(i)]! : y.values[yi(i)]!)) };
    }
    case "Range": {
      const [start, limit, delta] = [0, 1, 2].map((i) => need(i).values[0]!);
      if (delta === 0) throw canonicalError("OP_UNSUPPORTED", "Range with delta 0");
      const n = Math.max(Math.ceil((limit! - start!) / delta!), 0);
      return { dtype: need(0).dtype, shape: [n], values: Array.from({ length: n }, (_, i) => start! + i * delta!) };
    }
    case "ConstantOfShape": {
      const shape = need(0).values;
      const v = attrs.get("value");
      if (v?.type !== "tensor" || !isFoldableDtype(v.value.dtype)) throw canonicalError("OP_UNSUPPORTED", "ConstantOfShape folds only with an integer or bool value");
      const x = Number((v.value.data as ArrayLike<number | bigint>)[0] ?? 0);
      return { dtype: v.value.dtype, shape: [...shape], values: new Array<number>(numelOf(shape)).fill(x) };
    }
    default:
      throw canonicalError("OP_UNSUPPORTED", `${opType} does not fold`);
  }
}

function normStart(v: number, rank: number): number {
  return Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
}

export function squeezeShape(shape: readonly number[], axes: readonly number[] | undefined): number[] {
  const drop = new Set((axes ?? shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, shape.length)));
  for (const a of drop) if (shape[a] !== 1) throw canonicalError("OP_UNSUPPORTED", `Squeeze of axis ${a} of size ${shape[a]}`);
  return shape.filter((_, i) => !drop.has(i));
}

export function unsqueezeShape(shape: readonly number[], axes: readonly number[]): number[] {
  const rank = shape.length + axes.length;
  const add = new Set(axes.map((a) => normAxis(a, rank)));
  const rest = [...shape];
  return Array.from({ length: rank }, (_, i) => (add.has(i) ? 1 : rest.shift()!));
}

/** Index into an operand of shape `from`, broadcast to `to`, for flat output index i. */
export function broadcastIndex(to: readonly number[], from: readonly number[]): (i: number) => number {
  const outStrides = stridesOf(to);
  const inStrides = stridesOf(from);
  const off = to.length - from.length;
  return (i) => {
    let j = 0;
    for (let d = 0; d < from.length; d++) {
      const coord = Math.floor(i / outStrides[d + off]!) % to[d + off]!;
      if (from[d] !== 1) j += coord * inStrides[d]!;
    }
    return j;
  };
}

function gatherStrided(c: IntConstant, out: readonly number[], starts: readonly number[], steps: readonly number[]): number[] {
  const os = stridesOf(out);
  const is = stridesOf(c.shape);
  return Array.from({ length: numelOf(out) }, (_, i) => {
    let j = 0;
    for (let d = 0; d < out.length; d++) j += (starts[d]! + (Math.floor(i / os[d]!) % out[d]!) * steps[d]!) * is[d]!;
    return c.values[j]!;
  });
}
