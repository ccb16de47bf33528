/**
 * Per-operator lowerings (ONNX operator → canonical steps). Each returns the Values of the
 * operator's outputs. docs/CANONICAL.md lists every operator with the steps it becomes.
 */
import type { AttributeValue } from "../protocol/commitment.js";
import { dtypeFromCode, type DType, type Tensor } from "../protocol/tensor.js";
import { attrFloat, attrInt, attrInts, attrString, broadcastShapes, normAxis, reshapeTarget, sliceBounds, squeezeShape, unsqueezeShape, type IntConstant } from "./fold.js";
import { REDUCE_FNS, type MapOp, type MoveOp, type Operand, type Params, type ReduceOp, type StepKind, type TensorType } from "./program.js";

export interface Value {
  type: TensorType;
  /** Where steps read it (absent for folded shape arithmetic). */
  operand?: Operand;
  /** Its values, when known at lowering time (integer weights and folded shape arithmetic). */
  constant?: IntConstant;
  /** The weight tensor, for weights. */
  weight?: Tensor;
}

export interface LowerContext {
  opType: string;
  opset: number;
  node: string;
  attributes: ReadonlyMap<string, AttributeValue>;
  inputs: ReadonlyArray<Value | undefined>;
  /** The number of outputs the node declares. */
  outputs: number;
  emit(kind: StepKind, op: MapOp | MoveOp | ReduceOp, operands: Value[], output: TensorType, params?: Params): Value;
  fail(message: string): Error;
}

export type OperatorLowering = (ctx: LowerContext) => Value[];

const FLOAT = new Set<DType>(["float32"]);
const INTEGER = new Set<DType>(["int8", "uint8", "int16", "uint16", "int32", "uint32"]);

function input(ctx: LowerContext, i: number): Value {
  const v = ctx.inputs[i];
  if (v === undefined) throw ctx.fail(`input ${i} is required`);
  return v;
}

function checkDtype(ctx: LowerContext, v: Value, allowed: ReadonlySet<DType>): void {
  if (!allowed.has(v.type.dtype)) throw ctx.fail(`dtype ${v.type.dtype} is not supported`);
}

const NUMERIC = new Set<DType>([...FLOAT, ...INTEGER]);

/** Values of a constant input (an integer constant, or a float weight), as numbers. */
function constantValues(ctx: LowerContext, i: number): number[] | undefined {
  const v = ctx.inputs[i];
  if (v === undefined) return undefined;
  if (v.constant !== undefined) return v.constant.values;
  if (v.weight !== undefined) return Array.from(v.weight.data as ArrayLike<number | bigint>, Number);
  throw ctx.fail(`input ${i} must be a constant (a weight or shape arithmetic)`);
}

function requiredConstant(ctx: LowerContext, i: number): number[] {
  return constantValues(ctx, i) ?? (() => { throw ctx.fail(`input ${i} is required`); })();
}

// ---- map ----

function binary(op: MapOp): OperatorLowering {
  return (ctx) => {
    const a = input(ctx, 0);
    const b = input(ctx, 1);
    checkDtype(ctx, a, NUMERIC);
    if (a.type.dtype !== b.type.dtype) throw ctx.fail(`operand dtypes ${a.type.dtype} and ${b.type.dtype} differ`);
    if (op === "pow" && !FLOAT.has(a.type.dtype)) throw ctx.fail("integer Pow is not supported");
    return [ctx.emit("map", op, [a, b], { dtype: a.type.dtype, shape: broadcastShapes([a.type.shape, b.type.shape]) })];
  };
}

function variadic(op: MapOp): OperatorLowering {
  return (ctx) => {
    const vs = ctx.inputs.filter((v): v is Value => v !== undefined);
    if (vs.length === 1) return [ctx.emit("move", "reshape", [vs[0]!], vs[0]!.type)];
    let acc = vs[0]!;
    checkDtype(ctx, acc, NUMERIC);
    for (const v of vs.slice(1)) {
      if (v.type.dtype !== acc.type.dtype) throw ctx.fail("operand dtypes differ");
      acc = ctx.emit("map", op, [acc, v], { dtype: acc.type.dtype, shape: broadcastShapes([acc.type.shape, v.type.shape]) });
    }
    return [acc];
  };
}

function unary(op: MapOp, allowed: ReadonlySet<DType> = FLOAT, params: (ctx: LowerContext) => Params = () => ({})): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, allowed);
    return [ctx.emit("map", op, [x], x.type, params(ctx))];
  };
}

/** ONNX's defaults for an absent Clip bound: numeric_limits<T>::lowest() and max() (±FLT_MAX for float: +Inf clips to FLT_MAX). */
const FLT_MAX = 3.4028234663852886e38;

const Clip: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  checkDtype(ctx, x, NUMERIC);
  const limit = FLOAT.has(x.type.dtype) ? FLT_MAX : Infinity;
  let lo: number;
  let hi: number;
  if (ctx.opset < 11) {
    lo = attrFloat(ctx.attributes, "min", -limit);
    hi = attrFloat(ctx.attributes, "max", limit);
  } else {
    // A bound computed by the model (openWakeWord's melspectrogram clamps to max(x) − 80 dB): max(x, lo)
    // and min(·, hi) steps, which give the clip's value everywhere (NaN x stays NaN; equal values keep x).
    const bound = (i: number): number[] | Value | undefined => {
      const v = ctx.inputs[i];
      if (v === undefined || v.constant !== undefined || v.weight !== undefined) return constantValues(ctx, i);
      if (v.type.dtype !== x.type.dtype) throw ctx.fail(`input ${i} has dtype ${v.type.dtype}, not ${x.type.dtype}`);
      if (v.type.shape.reduce((a, d) => a * d, 1) !== 1) throw ctx.fail(`input ${i} must be a scalar`);
      return v;
    };
    const l = bound(1);
    const h = bound(2);
    if ((Array.isArray(l) && l.length !== 1) || (Array.isArray(h) && h.length !== 1)) throw ctx.fail("min and max must be scalars");
    const hiConst = h === undefined ? limit : Array.isArray(h) ? h[0]! : undefined;
    if (l !== undefined && !Array.isArray(l)) {
      const m = ctx.emit("map", "max", [x, l], { dtype: x.type.dtype, shape: broadcastShapes([x.type.shape, l.type.shape]) });
      if (hiConst === Infinity) return [m];
      if (hiConst !== undefined) return [ctx.emit("map", "clip", [m], m.type, { min: [-Infinity], max: [hiConst] })];
      return [ctx.emit("map", "min", [m, h as Value], { dtype: m.type.dtype, shape: broadcastShapes([m.type.shape, (h as Value).type.shape]) })];
    }
    lo = l?.[0] ?? -limit;
    if (hiConst === undefined) {
      const c = lo === -Infinity ? x : ctx.emit("map", "clip", [x], x.type, { min: [lo], max: [Infinity] });
      return [ctx.emit("map", "min", [c, h as Value], { dtype: c.type.dtype, shape: broadcastShapes([c.type.shape, (h as Value).type.shape]) })];
    }
    hi = hiConst;
  }
  return [ctx.emit("map", "clip", [x], x.type, { min: [lo], max: [hi] })];
};

const Cast: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const code = attrInt(ctx.attributes, "to", 0);
  const to = dtypeFromCode(code);
  if (to === undefined || !NUMERIC_OR_BOOL.has(to)) throw ctx.fail(`Cast to type code ${code} is not supported`);
  checkDtype(ctx, x, NUMERIC_OR_BOOL);
  if (to === x.type.dtype) return [ctx.emit("move", "reshape", [x], x.type)];
  // To bool: a ≠ 0 (NaN is true), as not(not(a)); from bool: the value 0 or 1 (an ordinary cast).
  if (to === "bool") return [ctx.emit("map", "not", [ctx.emit("map", "not", [x], { dtype: "bool", shape: x.type.shape })], { dtype: "bool", shape: x.type.shape })];
  return [ctx.emit("map", "cast", [x], { dtype: to, shape: x.type.shape }, { to: [code] })];
};

/** Per-channel view of a 1-D [C] operand against an [N, C, ...] tensor: [C, 1, ...]. */
function channelView(rank: number, c: number): number[] {
  return [c, ...new Array<number>(rank - 2).fill(1)];
}

const BatchNormalization: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  checkDtype(ctx, x, FLOAT);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => input(ctx, i));
  const c = x.type.shape[1]!;
  for (const v of [scale!, bias!, mean!, variance!]) if (v.type.shape.length !== 1 || v.type.shape[0] !== c) throw ctx.fail(`per-channel operands must have shape [${c}]`);
  if (ctx.opset >= 14 && attrInt(ctx.attributes, "training_mode", 0) !== 0) throw ctx.fail("training_mode is not supported");
  const view = channelView(x.type.shape.length, c);
  const eps = attrFloat(ctx.attributes, "epsilon", Math.fround(1e-5));
  const s = ctx.emit("map", "bn_scale", [scale!, variance!], { dtype: x.type.dtype, shape: view }, { epsilon: [eps], view0: view, view1: view });
  return [ctx.emit("map", "bn_apply", [x, mean!, s, bias!], x.type, { view1: view, view3: view })];
};

// ---- move ----

function reshapeTo(ctx: LowerContext, x: Value, shape: number[]): Value {
  return ctx.emit("move", "reshape", [x], { dtype: x.type.dtype, shape });
}

const Reshape: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  return [reshapeTo(ctx, x, reshapeTarget(x.type.shape, requiredConstant(ctx, 1), attrInt(ctx.attributes, "allowzero", 0) === 1))];
};

const Flatten: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = attrInt(ctx.attributes, "axis", 1);
  const a = axis < 0 ? axis + rank : axis;
  const lead = x.type.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const rest = x.type.shape.slice(a).reduce((p, d) => p * d, 1);
  return [reshapeTo(ctx, x, [lead, rest])];
};

const Squeeze: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const axes = ctx.opset < 13 ? attrInts(ctx.attributes, "axes") : constantValues(ctx, 1);
  return [reshapeTo(ctx, x, squeezeShape(x.type.shape, axes))];
};

const Unsqueeze: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const axes = ctx.opset < 13 ? attrInts(ctx.attributes, "axes") : constantValues(ctx, 1);
  if (axes === undefined) throw ctx.fail("axes are required");
  return [reshapeTo(ctx, x, unsqueezeShape(x.type.shape, axes))];
};

const Identity: OperatorLowering = (ctx) => [reshapeTo(ctx, input(ctx, 0), input(ctx, 0).type.shape)];

const Transpose: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const perm = attrInts(ctx.attributes, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || new Set(perm).size !== rank) throw ctx.fail(`perm [${perm}] is not a permutation of rank ${rank}`);
  return [ctx.emit("move", "transpose", [x], { dtype: x.type.dtype, shape: perm.map((p) => x.type.shape[p]!) }, { perm })];
};

const Slice: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  let b;
  if (ctx.opset < 10) b = sliceBounds(x.type.shape, attrInts(ctx.attributes, "starts") ?? [], attrInts(ctx.attributes, "ends") ?? [], attrInts(ctx.attributes, "axes"), undefined);
  else b = sliceBounds(x.type.shape, requiredConstant(ctx, 1), requiredConstant(ctx, 2), constantValues(ctx, 3), constantValues(ctx, 4));
  return [ctx.emit("move", "slice", [x], { dtype: x.type.dtype, shape: b.out }, { starts: b.starts, steps: b.steps })];
};

const Concat: OperatorLowering = (ctx) => {
  const xs = ctx.inputs.filter((v): v is Value => v !== undefined);
  const rank = xs[0]!.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", 0), rank);
  const shape = [...xs[0]!.type.shape];
  shape[axis] = 0;
  for (const v of xs) {
    if (v.type.dtype !== xs[0]!.type.dtype || v.type.shape.length !== rank || v.type.shape.some((d, i) => i !== axis && d !== shape[i])) throw ctx.fail("operands do not concatenate");
    shape[axis] += v.type.shape[axis]!;
  }
  return [ctx.emit("move", "concat", xs, { dtype: xs[0]!.type.dtype, shape }, { axis: [axis] })];
};

const Expand: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const shape = broadcastShapes([x.type.shape, requiredConstant(ctx, 1)]);
  return [ctx.emit("move", "expand", [x], { dtype: x.type.dtype, shape })];
};

// ---- reduce ----

function spatialPads(ctx: LowerContext, inSpatial: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  const n = inSpatial.length;
  const autoPad = attrString(ctx.attributes, "auto_pad", "NOTSET");
  if (autoPad === "NOTSET") return attrInts(ctx.attributes, "pads") ?? new Array<number>(2 * n).fill(0);
  if (autoPad === "VALID") return new Array<number>(2 * n).fill(0);
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < n; i++) {
      const out = Math.ceil(inSpatial[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - inSpatial[i]!);
      const small = Math.floor(total / 2);
      begin.push(autoPad === "SAME_UPPER" ? small : total - small);
      end.push(autoPad === "SAME_UPPER" ? total - small : small);
    }
    return [...begin, ...end];
  }
  throw ctx.fail(`auto_pad ${autoPad} is not supported`);
}

/**
 * Output sizes of a window operator. ceil_mode rounds up, but (as onnxruntime and PyTorch) a last
 * window must start inside the input or its begin padding; its positions past the end count as padding.
 */
function windowOut(ctx: LowerContext, inSpatial: number[], kernel: number[], strides: number[], pads: number[], dilations: number[]): number[] {
  const n = inSpatial.length;
  const ceil = attrInt(ctx.attributes, "ceil_mode", 0) !== 0;
  if (ceil && ctx.opType !== "MaxPool" && ctx.opType !== "AveragePool") throw ctx.fail("ceil_mode 1 is not supported");
  return inSpatial.map((d, i) => {
    const span = d + pads[i]! + pads[i + n]! - ((kernel[i]! - 1) * dilations[i]! + 1);
    if (!ceil) return Math.floor(span / strides[i]!) + 1;
    let out = Math.ceil(span / strides[i]!) + 1;
    if ((out - 1) * strides[i]! >= d + pads[i]!) out--;
    return out;
  });
}

/**
 * A 1-D window operator (x [N, C, L]) as its 2-D form over [N, C, 1, L]: the same terms in the same
 * order (kh is always 0), attributes widened with a leading 1 (pads [0, begin, 0, end]); the result is
 * reshaped back to [N, C', L'].
 */
function via2d(lower2d: OperatorLowering, weightInput?: number): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    if (x.type.shape.length !== 3) return lower2d(ctx);
    const widen = (v: Value): Value => reshapeTo(ctx, v, [...v.type.shape.slice(0, 2), 1, v.type.shape[2]!]);
    const inputs = ctx.inputs.map((v, i) => (v !== undefined && (i === 0 || i === weightInput) ? widen(v) : v));
    const attributes = new Map(ctx.attributes);
    for (const name of ["kernel_shape", "strides", "dilations"]) {
      const a = attributes.get(name);
      if (a?.type === "ints") attributes.set(name, { ...a, value: [1n, ...a.value] });
    }
    const pads = attributes.get("pads");
    if (pads?.type === "ints") attributes.set("pads", { ...pads, value: [0n, pads.value[0]!, 0n, pads.value[1]!] });
    const outPad = attributes.get("output_padding");
    if (outPad?.type === "ints") attributes.set("output_padding", { ...outPad, value: [0n, ...outPad.value] });
    const [y] = lower2d({ ...ctx, inputs, attributes });
    const shape = y!.type.shape;
    return [reshapeTo(ctx, y!, [shape[0]!, shape[1]!, shape[3]!])];
  };
}

const Conv2d: OperatorLowering = (ctx) => {
  checkDtype(ctx, input(ctx, 0), FLOAT);
  if (input(ctx, 0).type.shape.length === 5) return conv3d(ctx, input(ctx, 0), input(ctx, 1), ctx.inputs[2]);
  return conv2d(ctx, input(ctx, 0), input(ctx, 1), ctx.inputs[2]);
};

/** The conv3d step (NCDHW): terms (c, kd, kh, kw) row-major, init bias[m] or +0. */
function conv3d(ctx: LowerContext, x: Value, w: Value, b: Value | undefined): Value[] {
  if (w.type.shape.length !== 5) throw ctx.fail(`weight [${w.type.shape}] is not 5-D`);
  const [n, c, ...spatial] = x.type.shape as [number, number, number, number, number];
  const [m, cg, ...k] = w.type.shape as [number, number, number, number, number];
  const group = attrInt(ctx.attributes, "group", 1);
  if (c !== cg * group || m % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  const kernel = attrInts(ctx.attributes, "kernel_shape") ?? k;
  if (kernel.some((d, i) => d !== k[i])) throw ctx.fail("kernel_shape does not match the weight");
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1, 1];
  const pads = spatialPads(ctx, spatial, kernel, strides, dilations);
  const outSpatial = windowOut(ctx, spatial, kernel, strides, pads, dilations);
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  return [ctx.emit("reduce", "conv3d", operands, { dtype: x.type.dtype, shape: [n, m, ...outSpatial] }, { group: [group], strides, pads, dilations })];
}

/** The conv step of x and w (float; or integer operands, folded in int32) with an optional bias (the init). */
function conv2d(ctx: LowerContext, x: Value, w: Value, b: Value | undefined): Value[] {
  if (x.type.shape.length !== 4 || w.type.shape.length !== 4) throw ctx.fail(`only 1-D, 2-D and 3-D convolutions are supported (input rank ${x.type.shape.length})`);
  const [n, c, h, wd] = x.type.shape as [number, number, number, number];
  const [m, cg, kh, kw] = w.type.shape as [number, number, number, number];
  const group = attrInt(ctx.attributes, "group", 1);
  if (c !== cg * group || m % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  const kernel = attrInts(ctx.attributes, "kernel_shape") ?? [kh, kw];
  if (kernel[0] !== kh || kernel[1] !== kw) throw ctx.fail("kernel_shape does not match the weight");
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1];
  const pads = spatialPads(ctx, [h, wd], kernel, strides, dilations);
  const [oh, ow] = windowOut(ctx, [h, wd], kernel, strides, pads, dilations);
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  const dtype: DType = FLOAT.has(x.type.dtype) ? x.type.dtype : "int32";
  return [ctx.emit("reduce", "conv", operands, { dtype, shape: [n, m, oh!, ow!] }, { group: [group], strides, pads, dilations })];
}

const Conv = via2d(Conv2d, 1);

/** MatMul shapes: a [..., M, K] · b [..., K, N] with batch broadcasting (1-D operands promoted, then dropped). */
const MatMul: OperatorLowering = (ctx) => {
  const a = input(ctx, 0);
  const b = input(ctx, 1);
  const integer = ctx.opType === "MatMulInteger";
  if (integer) {
    checkDtype(ctx, a, QUANT);
    checkDtype(ctx, b, QUANT);
    const m = a.type.shape[a.type.shape.length - 2]!;
    // Zero points: A − a_zp and B − b_zp as int32 maps (per row of A: a 1-D a_zp is viewed as [M, 1]; per column of B).
    const za = ctx.inputs[2];
    const zb = ctx.inputs[3];
    const sa = za === undefined ? a : subZeroPoint(ctx, a, za, za.type.shape.length === 1 && za.type.shape[0] === m && m !== 1 ? [m, 1] : undefined);
    const sb = zb === undefined ? b : subZeroPoint(ctx, b, zb);
    return [matmulStep(ctx, sa, sb, "int32")];
  } else {
    checkDtype(ctx, a, FLOAT);
    if (a.type.dtype !== b.type.dtype) throw ctx.fail("operand dtypes differ");
  }
  return [matmulStep(ctx, a, b, a.type.dtype)];
};

function matmulStep(ctx: LowerContext, a: Value, b: Value, dtype: DType): Value {
  if (a.type.shape.length < 2 || b.type.shape.length < 2) throw ctx.fail("1-D MatMul operands are not supported");
  const [m, k] = a.type.shape.slice(-2) as [number, number];
  const [k2, nn] = b.type.shape.slice(-2) as [number, number];
  if (k !== k2) throw ctx.fail(`inner dimensions ${k} and ${k2} differ`);
  const batch = broadcastShapes([a.type.shape.slice(0, -2), b.type.shape.slice(0, -2)]);
  return ctx.emit("reduce", "matmul", [a, b], { dtype, shape: [...batch, m, nn] }, { transA: [0], transB: [0] });
}

const QUANT = new Set<DType>(["int8", "uint8"]);

/** x − zp as an int32 map (exact), zp read through `view` when given (per-axis zero points). */
function subZeroPoint(ctx: LowerContext, x: Value, zp: Value, view?: number[]): Value {
  if (zp.type.dtype !== x.type.dtype) throw ctx.fail(`zero point dtype ${zp.type.dtype} differs from ${x.type.dtype}`);
  const shape = broadcastShapes([x.type.shape, view ?? zp.type.shape]);
  if (shape.length !== x.type.shape.length || shape.some((d, i) => d !== x.type.shape[i])) throw ctx.fail(`zero point [${zp.type.shape}] does not broadcast to [${x.type.shape}]`);
  return ctx.emit("map", "sub", [x, zp], { dtype: "int32", shape }, view ? { view1: view } : {});
}

/** The view of a per-axis (1-D) quantization parameter against x along `axis`; undefined for a scalar. */
function axisView(ctx: LowerContext, x: Value, p: Value, axis: number): number[] | undefined {
  const rank = x.type.shape.length;
  if (p.type.shape.length === 0 || (p.type.shape.length === 1 && p.type.shape[0] === 1)) return undefined;
  if (p.type.shape.length !== 1 || p.type.shape[0] !== x.type.shape[axis]) throw ctx.fail(`quantization parameter [${p.type.shape}] must be a scalar or 1-D of size ${x.type.shape[axis]} (axis ${axis}); blocked quantization is not supported`);
  return x.type.shape.map((d, i) => (i === axis ? d : 1));
}

/** QuantizeLinear: y = sat(rhe(fl32(x / scale)) + zp), per tensor or per axis. */
const QuantizeLinear: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const scale = input(ctx, 1);
  const zp = ctx.inputs[2];
  checkDtype(ctx, x, FLOAT);
  checkDtype(ctx, scale, FLOAT);
  if (attrInt(ctx.attributes, "block_size", 0) !== 0) throw ctx.fail("block_size (blocked quantization) is not supported");
  const code = attrInt(ctx.attributes, "output_dtype", 0);
  const dtype: DType = zp?.type.dtype ?? (code === 0 ? "uint8" : dtypeFromCode(code) ?? "float32");
  if (!QUANT.has(dtype)) throw ctx.fail(`output dtype ${dtype} is not supported`);
  const axis = normAxis(attrInt(ctx.attributes, "axis", 1), Math.max(x.type.shape.length, 1));
  const params: Params = {};
  const sv = axisView(ctx, x, scale, axis);
  if (sv) params.view1 = sv;
  const operands = [x, scale];
  if (zp !== undefined) {
    const zv = axisView(ctx, x, zp, axis);
    if (zv) params.view2 = zv;
    operands.push(zp);
  }
  return [ctx.emit("map", "quantize", operands, { dtype, shape: x.type.shape }, params)];
};

/** DequantizeLinear: y = (x − zp) · scale, per tensor or per axis. */
const DequantizeLinear: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const scale = input(ctx, 1);
  const zp = ctx.inputs[2];
  checkDtype(ctx, x, new Set<DType>(["int8", "uint8", "int32"]));
  checkDtype(ctx, scale, FLOAT);
  if (attrInt(ctx.attributes, "block_size", 0) !== 0) throw ctx.fail("block_size (blocked quantization) is not supported");
  const axis = normAxis(attrInt(ctx.attributes, "axis", 1), Math.max(x.type.shape.length, 1));
  const params: Params = {};
  const sv = axisView(ctx, x, scale, axis);
  if (sv) params.view1 = sv;
  const operands = [x, scale];
  if (zp !== undefined) {
    if (zp.type.dtype !== x.type.dtype) throw ctx.fail(`zero point dtype ${zp.type.dtype} differs from ${x.type.dtype}`);
    const zv = axisView(ctx, x, zp, axis);
    if (zv) params.view2 = zv;
    operands.push(zp);
  }
  return [ctx.emit("map", "dequantize", operands, { dtype: "float32", shape: x.type.shape }, params)];
};

/**
 * DynamicQuantizeLinear (uint8), as onnxruntime computes it in float32: h = max(max x, 0), r = max(−min x, 0)
 * (`reduce max`, `map neg`, `reduce max`, two `map relu`), scale = h + r == 0 ? 1 : fl32(fl32(h + r) / 255)
 * (`map dql_scale`), zero point = sat(rhe(fl32(r / scale))) (`map quantize`), y = quantize(x, scale, zp).
 */
const DynamicQuantizeLinear: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  checkDtype(ctx, x, FLOAT);
  const all = x.type.shape.map((_, i) => i);
  const scalar = { dtype: "float32" as DType, shape: [] as number[] };
  const h = ctx.emit("map", "relu", [reduceAxes(ctx, x, "max", all, false)], scalar);
  const r = ctx.emit("map", "relu", [reduceAxes(ctx, ctx.emit("map", "neg", [x], x.type), "max", all, false)], scalar);
  const scale = ctx.emit("map", "dql_scale", [h, r], scalar);
  const zp = ctx.emit("map", "quantize", [r, scale], { dtype: "uint8", shape: [] });
  const y = ctx.emit("map", "quantize", [x, scale, zp], { dtype: "uint8", shape: x.type.shape });
  return [y, scale, zp];
};

/** ConvInteger: (x − x_zp) conv (w − w_zp), folded in int32 (w_zp per output channel viewed as [M, 1, 1, 1]). */
const ConvInteger: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1);
  checkDtype(ctx, x, QUANT);
  checkDtype(ctx, w, QUANT);
  if (x.type.shape.length !== 4) throw ctx.fail(`only 1-D and 2-D integer convolutions are supported (input rank ${x.type.shape.length})`);
  const zx = ctx.inputs[2];
  const zw = ctx.inputs[3];
  if (zx !== undefined && numelOfShape(zx.type.shape) !== 1) throw ctx.fail("x_zero_point must be a scalar");
  const sx = zx === undefined ? x : subZeroPoint(ctx, x, zx);
  const sw = zw === undefined ? w : subZeroPoint(ctx, w, zw, axisView(ctx, w, zw, 0));
  return conv2d(ctx, sx, sw, undefined);
};

function numelOfShape(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/**
 * QLinearMatMul / QLinearConv: zero points subtracted (int32 maps), the int32 contraction, the
 * multiplier m = fl32(fl32(s_a · s_b) / s_y) (`map qscale`, per row of A / per column of B / per output
 * channel of W), then y = sat(rhe(fl32(fl32(acc) · m)) + y_zp) (`map requantize`).
 */
function qlinear(conv: boolean): OperatorLowering {
  return (ctx) => {
    const [a, sa, za, b, sb, zb, sy, zy] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => input(ctx, i)) as Value[] as [Value, Value, Value, Value, Value, Value, Value, Value];
    checkDtype(ctx, a, QUANT);
    checkDtype(ctx, b, QUANT);
    checkDtype(ctx, zy, QUANT);
    for (const s of [sa, sb, sy]) checkDtype(ctx, s, FLOAT);
    if (numelOfShape(sy.type.shape) !== 1 || numelOfShape(zy.type.shape) !== 1) throw ctx.fail("y_scale and y_zero_point must be scalars");
    let acc: Value;
    let mA: number[] | undefined;
    let mB: number[] | undefined;
    if (conv) {
      if (a.type.shape.length !== 4) throw ctx.fail(`only 1-D and 2-D QLinearConv is supported (input rank ${a.type.shape.length})`);
      if (numelOfShape(za.type.shape) !== 1 || numelOfShape(sa.type.shape) !== 1) throw ctx.fail("x_scale and x_zero_point must be scalars");
      const M = b.type.shape[0]!;
      const wView = axisView(ctx, b, zb, 0);
      mB = axisView(ctx, b, sb, 0) ? [M, 1, 1] : undefined;
      const bias = ctx.inputs[8];
      if (bias !== undefined) checkDtype(ctx, bias, new Set<DType>(["int32"]));
      [acc] = conv2d(ctx, subZeroPoint(ctx, a, za), subZeroPoint(ctx, b, zb, wView), bias) as [Value];
    } else {
      if (a.type.shape.length !== 2 || b.type.shape.length !== 2) throw ctx.fail("only 2-D QLinearMatMul operands are supported");
      const [M] = a.type.shape as [number, number];
      const N = b.type.shape[1]!;
      const rowView = (p: Value) => (p.type.shape.length === 1 && p.type.shape[0] === M && M !== 1 ? [M, 1] : undefined);
      const colOk = (p: Value) => numelOfShape(p.type.shape) === 1 || (p.type.shape.length === 1 && p.type.shape[0] === N);
      if (!(numelOfShape(za.type.shape) === 1 || rowView(za)) || !(numelOfShape(sa.type.shape) === 1 || rowView(sa))) throw ctx.fail(`a_scale and a_zero_point must be scalars or [${M}]`);
      if (!colOk(zb) || !colOk(sb)) throw ctx.fail(`b_scale and b_zero_point must be scalars or [${N}]`);
      mA = rowView(sa);
      acc = matmulStep(ctx, subZeroPoint(ctx, a, za, rowView(za)), subZeroPoint(ctx, b, zb), "int32");
    }
    const params: Params = {};
    if (mA) params.view0 = mA;
    if (mB) params.view1 = mB;
    const mShape = broadcastShapes([mA ?? sa.type.shape, mB ?? sb.type.shape, sy.type.shape]);
    const m = ctx.emit("map", "qscale", [sa, sb, sy], { dtype: "float32", shape: mShape }, params);
    const shape = broadcastShapes([acc.type.shape, mShape]);
    if (shape.length !== acc.type.shape.length || shape.some((d, i) => d !== acc.type.shape[i])) throw ctx.fail(`scales [${mShape}] do not broadcast to [${acc.type.shape}]`);
    return [ctx.emit("map", "requantize", [acc, m, zy], { dtype: zy.type.dtype, shape: acc.type.shape })];
  };
}

const Gemm: OperatorLowering = (ctx) => {
  const a = input(ctx, 0);
  const b = input(ctx, 1);
  const c = ctx.inputs[2];
  checkDtype(ctx, a, FLOAT);
  const transA = attrInt(ctx.attributes, "transA", 0);
  const transB = attrInt(ctx.attributes, "transB", 0);
  const alpha = attrFloat(ctx.attributes, "alpha", 1);
  const beta = attrFloat(ctx.attributes, "beta", 1);
  if (a.type.shape.length !== 2 || b.type.shape.length !== 2) throw ctx.fail("Gemm operands must be 2-D");
  const m = transA ? a.type.shape[1]! : a.type.shape[0]!;
  const k = transA ? a.type.shape[0]! : a.type.shape[1]!;
  const n = transB ? b.type.shape[0]! : b.type.shape[1]!;
  if ((transB ? b.type.shape[1] : b.type.shape[0]) !== k) throw ctx.fail("inner dimensions differ");
  const out = { dtype: a.type.dtype, shape: [m, n] };
  const params = { transA: [transA], transB: [transB] };
  if (c !== undefined) broadcastShapes([out.shape, c.type.shape]);
  // alpha = beta = 1: the bias is the reduction's init (one step). Otherwise the product, then
  // maps: scale by alpha, and add beta·C.
  if (alpha === 1 && (beta === 1 || c === undefined)) return [ctx.emit("reduce", "matmul", c === undefined ? [a, b] : [a, b, c], out, params)];
  let y = ctx.emit("reduce", "matmul", [a, b], out, params);
  if (alpha !== 1) y = ctx.emit("map", "scale", [y], out, { k: [alpha] });
  if (c !== undefined && beta !== 0) {
    const bc = beta === 1 ? c : ctx.emit("map", "scale", [c], c.type, { k: [beta] });
    y = ctx.emit("map", "add", [y, bc], out);
  }
  return [y];
};

/**
 * LayerNormalization (opset 17): mean = Σx/K, d = x − mean, var = Σd²/K over the axes from `axis` on,
 * y = d / √(var + ε) · scale + bias (five steps).
 */
const LayerNormalization: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const scale = input(ctx, 1);
  const bias = ctx.inputs[2];
  checkDtype(ctx, x, FLOAT);
  if (ctx.opType === "LayerNormalization" && ctx.opset < 17) throw ctx.fail("opset 17 or later is required");
  const rank = x.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", -1), rank);
  if (attrInt(ctx.attributes, "stash_type", 1) !== 1) throw ctx.fail("stash_type other than float is not supported");
  const eps = attrFloat(ctx.attributes, "epsilon", Math.fround(1e-5));
  const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const mean = reduceAxes(ctx, x, "mean", axes, true);
  const d = ctx.emit("map", "sub", [x, mean], x.type);
  const d2 = ctx.emit("map", "mul", [d, d], x.type);
  const variance = reduceAxes(ctx, d2, "mean", axes, true);
  const operands = [d, variance, scale];
  if (bias !== undefined) operands.push(bias);
  return [ctx.emit("map", "ln_apply", operands, x.type, { epsilon: [eps] })];
};

/** Gelu (opset 20), exact form: x · (1 + erf(x / √2)) / 2; approximate tanh: x · (1 + tanh(√(2/π)·(x + 0.044715·x³))) / 2. */
const Gelu: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  checkDtype(ctx, x, FLOAT);
  const approximate = attrString(ctx.attributes, "approximate", "none");
  if (approximate !== "none" && approximate !== "tanh") throw ctx.fail(`approximate ${approximate} is not supported`);
  return [ctx.emit("map", approximate === "tanh" ? "gelu_tanh" : "gelu", [x], x.type)];
};

function pool(fn: "max" | "mean"): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, FLOAT);
    if (x.type.shape.length !== 4 && x.type.shape.length !== 5) throw ctx.fail(`only 1-D, 2-D and 3-D pooling are supported (input rank ${x.type.shape.length})`);
    if (ctx.opType === "MaxPool" && attrInt(ctx.attributes, "storage_order", 0) !== 0) throw ctx.fail("storage_order 1 is not supported");
    if (x.type.shape.length === 5) return [pool3d(ctx, x, fn)];
    const [n, c, h, w] = x.type.shape as [number, number, number, number];
    const kernel = attrInts(ctx.attributes, "kernel_shape") ?? (() => { throw ctx.fail("kernel_shape is required"); })();
    const strides = attrInts(ctx.attributes, "strides") ?? [1, 1];
    const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1];
    const pads = spatialPads(ctx, [h, w], kernel, strides, dilations);
    const [oh, ow] = windowOut(ctx, [h, w], kernel, strides, pads, dilations);
    const countIncludePad = attrInt(ctx.attributes, "count_include_pad", 0);
    // ceil_mode: a last window may reach past the end padding; a mean that counts the padding would
    // divide by less than kh·kw there (onnxruntime clips the window), which the pool pattern does not define.
    if (fn === "mean" && countIncludePad === 1 && [oh!, ow!].some((o, i) => (o - 1) * strides[i]! - pads[i]! + (kernel[i]! - 1) * dilations[i]! + 1 > [h, w][i]! + pads[i + 2]!)) {
      throw ctx.fail("ceil_mode with count_include_pad 1 and a window past the end padding is not supported");
    }
    return [ctx.emit("reduce", "pool", [x], { dtype: x.type.dtype, shape: [n, c, oh!, ow!] }, { fn: [REDUCE_FNS[fn]], kernel, strides, pads, dilations, countIncludePad: [countIncludePad] })];
  };
}

/** The pool3d step (NCDHW): window (kd, kh, kw) row-major. */
function pool3d(ctx: LowerContext, x: Value, fn: "max" | "mean"): Value {
  const [n, c, ...spatial] = x.type.shape as [number, number, number, number, number];
  const kernel = attrInts(ctx.attributes, "kernel_shape") ?? (() => { throw ctx.fail("kernel_shape is required"); })();
  if (kernel.length !== 3) throw ctx.fail(`kernel_shape [${kernel}] is not 3-D`);
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1, 1];
  const pads = spatialPads(ctx, spatial, kernel, strides, dilations);
  const outSpatial = windowOut(ctx, spatial, kernel, strides, pads, dilations);
  const countIncludePad = attrInt(ctx.attributes, "count_include_pad", 0);
  if (fn === "mean" && countIncludePad === 1 && outSpatial.some((o, i) => (o - 1) * strides[i]! - pads[i]! + (kernel[i]! - 1) * dilations[i]! + 1 > spatial[i]! + pads[i + 3]!)) {
    throw ctx.fail("ceil_mode with count_include_pad 1 and a window past the end padding is not supported");
  }
  return ctx.emit("reduce", "pool3d", [x], { dtype: x.type.dtype, shape: [n, c, ...outSpatial] }, { fn: [REDUCE_FNS[fn]], kernel, strides, pads, dilations, countIncludePad: [countIncludePad] });
}

function globalPool(fn: "max" | "mean"): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, FLOAT);
    const rank = x.type.shape.length;
    const axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
    return [reduceAxes(ctx, x, fn, axes, true)];
  };
}

function reduceAxes(ctx: LowerContext, x: Value, fn: keyof typeof REDUCE_FNS, axes: number[], keepDims: boolean): Value {
  const sorted = [...new Set(axes)].sort((p, q) => p - q);
  const shape = x.type.shape.flatMap((d, i) => (sorted.includes(i) ? (keepDims ? [1] : []) : [d]));
  return ctx.emit("reduce", "reduce", [x], { dtype: x.type.dtype, shape }, { fn: [REDUCE_FNS[fn]], axes: sorted });
}

/** A Reduce* operator's axes (undefined: noop_with_empty_axes with no axes) and keepdims. */
function reduceArgs(ctx: LowerContext, x: Value): { axes: number[] | undefined; keepDims: boolean } {
  const rank = x.type.shape.length;
  // Axes moved from an attribute to an input: ReduceSum at opset 13, the others at 18.
  const fromInput = ctx.opType === "ReduceSum" ? ctx.opset >= 13 : ctx.opset >= 18;
  const axesIn = fromInput ? constantValues(ctx, 1) : attrInts(ctx.attributes, "axes");
  const keepDims = attrInt(ctx.attributes, "keepdims", 1) === 1;
  if (axesIn === undefined || axesIn.length === 0) {
    if (attrInt(ctx.attributes, "noop_with_empty_axes", 0) === 1) return { axes: undefined, keepDims };
    return { axes: Array.from({ length: rank }, (_, i) => i), keepDims };
  }
  return { axes: axesIn.map((a) => normAxis(a, rank)), keepDims };
}

function reduceOp(fn: keyof typeof REDUCE_FNS): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, FLOAT);
    const { axes, keepDims } = reduceArgs(ctx, x);
    if (axes === undefined) return [reshapeTo(ctx, x, x.type.shape)];
    return [reduceAxes(ctx, x, fn, axes, keepDims)];
  };
}

/**
 * Reductions composed of maps and the sum/max folds (each step exact as defined):
 * ReduceMin = −max(−x); ReduceL1 = Σ|x|; ReduceL2 = √(Σ x·x); ReduceSumSquare = Σ x·x; ReduceLogSum =
 * log(Σ x); ReduceLogSumExp = log(Σ exp(x − m)) + m with m = max x (every reduced axis kept for the
 * broadcast, then reshaped when keepdims is 0).
 */
function composedReduce(kind: "min" | "l1" | "l2" | "sumsquare" | "logsum" | "logsumexp"): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, FLOAT);
    const { axes, keepDims } = reduceArgs(ctx, x);
    const all = axes ?? [];
    const map = (op: MapOp, vs: Value[], type: TensorType) => ctx.emit("map", op, vs, type);
    switch (kind) {
      case "min": {
        if (axes === undefined) return [reshapeTo(ctx, x, x.type.shape)];
        const m = reduceAxes(ctx, map("neg", [x], x.type), "max", all, keepDims);
        return [map("neg", [m], m.type)];
      }
      case "l1":
      case "l2":
      case "sumsquare": {
        const t = map(kind === "l1" ? "abs" : "mul", kind === "l1" ? [x] : [x, x], x.type);
        if (axes === undefined) return [kind === "l2" ? map("abs", [x], x.type) : t];
        const s = reduceAxes(ctx, t, "sum", all, keepDims);
        return [kind === "l2" ? map("sqrt", [s], s.type) : s];
      }
      case "logsum": {
        const s = axes === undefined ? x : reduceAxes(ctx, x, "sum", all, keepDims);
        return [map("log", [s], s.type)];
      }
      case "logsumexp": {
        if (axes === undefined) return [reshapeTo(ctx, x, x.type.shape)];
        const m = reduceAxes(ctx, x, "max", all, true);
        const e = ctx.emit("map", "exp_sub", [x, m], x.type);
        const s = reduceAxes(ctx, e, "sum", all, true);
        const y = map("add", [map("log", [s], s.type), m], m.type);
        return [keepDims ? y : reshapeTo(ctx, y, x.type.shape.filter((_, i) => !all.includes(i)))];
      }
    }
  };
}

/**
 * InstanceNormalization: per (n, c) over the spatial axes, mean = Σx/K, d = x − mean, var = Σd²/K,
 * y = d / √(var + ε) · scale[c] + bias[c] (five steps, as LayerNormalization's).
 */
const InstanceNormalization: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const scale = input(ctx, 1);
  const bias = input(ctx, 2);
  checkDtype(ctx, x, FLOAT);
  const rank = x.type.shape.length;
  if (rank < 3) throw ctx.fail(`input rank ${rank} < 3`);
  const c = x.type.shape[1]!;
  for (const v of [scale, bias]) if (v.type.shape.length !== 1 || v.type.shape[0] !== c) throw ctx.fail(`scale and bias must have shape [${c}]`);
  const eps = attrFloat(ctx.attributes, "epsilon", Math.fround(1e-5));
  const axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
  const mean = reduceAxes(ctx, x, "mean", axes, true);
  const d = ctx.emit("map", "sub", [x, mean], x.type);
  const d2 = ctx.emit("map", "mul", [d, d], x.type);
  const variance = reduceAxes(ctx, d2, "mean", axes, true);
  const view = channelView(rank, c);
  return [ctx.emit("map", "ln_apply", [d, variance, scale, bias], x.type, { epsilon: [eps], view2: view, view3: view })];
};

/**
 * Einsum with two operands, as a batched matmul: batch letters (in both operands and the output),
 * the contracted letters K (in both, not in the output), the free letters I of the first and J of the
 * second. Each operand is transposed to [batch, I, K] / [batch, K, J] and reshaped to one I, K, J axis
 * each, multiplied (`reduce matmul`: terms over the K letters row-major, in the first operand's order),
 * reshaped to [batch, I, J] and transposed to the output's order. Refused: other operand counts, a
 * letter repeated in one operand (diagonals), a letter summed within one operand only.
 */
const Einsum: OperatorLowering = (ctx) => {
  const equation = attrString(ctx.attributes, "equation", "").replace(/\s+/g, "");
  const refuse = (why: string) => ctx.fail(`equation "${equation}": ${why}`);
  const operands = ctx.inputs.filter((v): v is Value => v !== undefined);
  if (operands.length !== 1 && operands.length !== 2) throw refuse(`${operands.length} operands (only 1 or 2 are supported)`);
  const a = operands[0]!;
  checkDtype(ctx, a, FLOAT);
  if (operands.some((v) => v.type.dtype !== a.type.dtype)) throw refuse("operand dtypes differ");
  const [lhs, rhsIn] = equation.split("->") as [string, string | undefined];
  const terms = lhs.split(",");
  if (terms.length !== operands.length) throw refuse(`${terms.length} input terms for ${operands.length} operands`);
  terms.forEach((t, k) => {
    if (!/^[a-zA-Z]*(\.\.\.)?[a-zA-Z]*$/.test(t)) throw refuse(`term ${k} must be letters with at most one "..."`);
  });
  if (rhsIn !== undefined && !/^[a-zA-Z]*(\.\.\.)?[a-zA-Z]*$/.test(rhsIn)) throw refuse("the output must be letters with at most one \"...\"");
  // "..." becomes placeholders of its own (the digits 0-7, right-aligned across operands).
  const ellipsisRank = Math.max(...terms.map((t, k) => (t.includes("...") ? operands[k]!.type.shape.length - (t.length - 3) : 0)));
  if (ellipsisRank > 8) throw refuse("ellipsis too wide");
  const placeholder = (k: number, len: number) => Array.from({ length: len }, (_, i) => String.fromCharCode(48 + ellipsisRank - len + i)).join("");
  const letters = terms.map((t, k) => (t.includes("...") ? t.replace("...", placeholder(k, operands[k]!.type.shape.length - (t.length - 3))) : t).split(""));
  letters.forEach((l, k) => {
    if (l.length !== operands[k]!.type.shape.length) throw refuse(`term ${k} has ${l.length} letters for rank ${operands[k]!.type.shape.length}`);
    if (new Set(l).size !== l.length) throw refuse(`term ${k} repeats a letter (diagonals are not supported)`);
  });
  const la = letters[0]!;
  const lb = letters[1] ?? [];
  let out: string[];
  if (rhsIn === undefined) {
    const counts = new Map<string, number>();
    for (const c of [...la, ...lb]) counts.set(c, (counts.get(c) ?? 0) + 1);
    const ell = placeholder(0, ellipsisRank).split("").filter((c) => c !== "");
    out = [...ell, ...[...counts.keys()].filter((c) => counts.get(c) === 1 && !ell.includes(c)).sort()];
  } else out = (rhsIn.includes("...") ? rhsIn.replace("...", placeholder(0, ellipsisRank)) : rhsIn).split("");
  if (new Set(out).size !== out.length || out.some((c) => !la.includes(c) && !lb.includes(c))) throw refuse("the output repeats a letter or names one no operand has");
  const transposeTo = (v: Value, perm: number[]): Value =>
    perm.some((p, i) => p !== i) ? ctx.emit("move", "transpose", [v], { dtype: v.type.dtype, shape: perm.map((p) => v.type.shape[p]!) }, { perm }) : v;
  if (operands.length === 1) {
    // One operand: a `reduce sum` over the letters the output drops (row-major), then a transpose.
    const summed = la.filter((c) => !out.includes(c));
    const y = summed.length > 0 ? reduceAxes(ctx, a, "sum", summed.map((c) => la.indexOf(c)), false) : a;
    const kept = la.filter((c) => out.includes(c));
    const t = transposeTo(y, out.map((c) => kept.indexOf(c)));
    return [t === a ? reshapeTo(ctx, a, a.type.shape) : t];
  }
  const b = operands[1]!;
  const batch = out.filter((c) => la.includes(c) && lb.includes(c));
  const I = la.filter((c) => out.includes(c) && !lb.includes(c));
  const J = lb.filter((c) => out.includes(c) && !la.includes(c));
  const K = la.filter((c) => lb.includes(c) && !out.includes(c));
  const lonely = [...la, ...lb].filter((c) => !out.includes(c) && !(la.includes(c) && lb.includes(c)));
  if (lonely.length > 0) throw refuse(`letter ${lonely[0]} is summed within one operand only`);
  const sizeIn = (l: string[], v: Value, c: string) => v.type.shape[l.indexOf(c)]!;
  if (K.length === 0) {
    // No contraction (outer or batched elementwise products): each operand transposed to the output's
    // letter order and viewed with 1 for the other's letters; one `map mul` (exact: one rounding).
    const arranged = [[a, la], [b, lb]].map(([v, l]) => {
      const own = out.filter((c) => (l as string[]).includes(c));
      return { t: transposeTo(v as Value, own.map((c) => (l as string[]).indexOf(c))), view: out.map((c) => ((l as string[]).includes(c) ? sizeIn(l as string[], v as Value, c) : 1)) };
    });
    const shape = broadcastShapes(arranged.map((x) => x.view));
    return [ctx.emit("map", "mul", arranged.map((x) => x.t), { dtype: a.type.dtype, shape }, { view0: arranged[0]!.view, view1: arranged[1]!.view })];
  }
  for (const c of K) if (sizeIn(la, a, c) !== sizeIn(lb, b, c)) throw refuse(`contracted letter ${c} has sizes ${sizeIn(la, a, c)} and ${sizeIn(lb, b, c)}`);
  const prod = (l: string[], v: Value, cs: string[]) => cs.reduce((p, c) => p * sizeIn(l, v, c), 1);
  const arrange = (v: Value, l: string[], order: string[], shape: number[]): Value => {
    const perm = order.map((c) => l.indexOf(c));
    let t = v;
    if (perm.some((p, i) => p !== i)) t = ctx.emit("move", "transpose", [t], { dtype: t.type.dtype, shape: perm.map((p) => v.type.shape[p]!) }, { perm });
    if (shape.length !== t.type.shape.length || shape.some((d, i) => d !== t.type.shape[i])) t = reshapeTo(ctx, t, shape);
    return t;
  };
  const batchA = batch.map((c) => sizeIn(la, a, c));
  const batchB = batch.map((c) => sizeIn(lb, b, c));
  const batchOut = broadcastShapes([batchA, batchB]);
  const ma = arrange(a, la, [...batch, ...I, ...K], [...batchA, prod(la, a, I), prod(la, a, K)]);
  const mb = arrange(b, lb, [...batch, ...K, ...J], [...batchB, prod(lb, b, K), prod(lb, b, J)]);
  const mm = ctx.emit("reduce", "matmul", [ma, mb], { dtype: a.type.dtype, shape: [...batchOut, prod(la, a, I), prod(lb, b, J)] }, { transA: [0], transB: [0] });
  const natural = [...batch, ...I, ...J];
  const naturalShape = [...batchOut, ...I.map((c) => sizeIn(la, a, c)), ...J.map((c) => sizeIn(lb, b, c))];
  let y = naturalShape.length !== mm.type.shape.length || naturalShape.some((d, i) => d !== mm.type.shape[i]) ? reshapeTo(ctx, mm, naturalShape) : mm;
  const perm = out.map((c) => natural.indexOf(c));
  if (perm.some((p, i) => p !== i)) y = ctx.emit("move", "transpose", [y], { dtype: y.type.dtype, shape: perm.map((p) => naturalShape[p]!) }, { perm });
  return [y];
};

/** Softmax: m = max over the axes, e = exp(x − m), s = Σ e, y = e / s (four steps). */
const Softmax: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  checkDtype(ctx, x, FLOAT);
  const rank = x.type.shape.length;
  let axes: number[];
  if (ctx.opset < 13) {
    const axis = normAxis(attrInt(ctx.attributes, "axis", 1), rank);
    axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  } else axes = [normAxis(attrInt(ctx.attributes, "axis", -1), rank)];
  const m = reduceAxes(ctx, x, "max", axes, true);
  const e = ctx.emit("map", "exp_sub", [x, m], x.type);
  const s = reduceAxes(ctx, e, "sum", axes, true);
  return [ctx.emit("map", "div", [e, s], x.type)];
};

/**
 * ConvTranspose (2-D): out[n, m, oh, ow] = fl(fold(init, terms)), terms (c, kh, kw) row-major over the
 * group's input channels; term = x[n, c, ih, iw] · w[c, m, kh, kw] where oh = ih·sh − ph + kh·dh (same
 * for w), or +0 where no such input coordinate exists.
 */
const ConvTranspose: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1);
  const b = ctx.inputs[2];
  checkDtype(ctx, x, FLOAT);
  if (x.type.shape.length !== 4 || w.type.shape.length !== 4) throw ctx.fail(`only 1-D and 2-D transposed convolutions are supported (input rank ${x.type.shape.length})`);
  const [n, c, h, wd] = x.type.shape as [number, number, number, number];
  const [cw, mg, kh, kw] = w.type.shape as [number, number, number, number];
  const group = attrInt(ctx.attributes, "group", 1);
  if (cw !== c || c % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  if (attrString(ctx.attributes, "auto_pad", "NOTSET") !== "NOTSET" || ctx.attributes.has("output_shape")) throw ctx.fail("auto_pad and output_shape are not supported");
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1];
  const pads = attrInts(ctx.attributes, "pads") ?? [0, 0, 0, 0];
  const outPad = attrInts(ctx.attributes, "output_padding") ?? [0, 0];
  const m = mg * group;
  const oh = (h - 1) * strides[0]! - pads[0]! - pads[2]! + dilations[0]! * (kh - 1) + outPad[0]! + 1;
  const ow = (wd - 1) * strides[1]! - pads[1]! - pads[3]! + dilations[1]! * (kw - 1) + outPad[1]! + 1;
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  return [ctx.emit("reduce", "convtranspose", operands, { dtype: x.type.dtype, shape: [n, m, oh, ow] }, { group: [group], strides, pads, dilations })];
};

/** Resize, nearest neighbour with asymmetric coordinates and floor rounding: in = min(floor(out / scale), size − 1). */
const Resize: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  if (attrString(ctx.attributes, "mode", "nearest") !== "nearest") throw ctx.fail("only mode nearest is supported");
  if (attrString(ctx.attributes, "coordinate_transformation_mode", "half_pixel") !== "asymmetric") throw ctx.fail("only coordinate_transformation_mode asymmetric is supported");
  if (attrString(ctx.attributes, "nearest_mode", "round_prefer_floor") !== "floor") throw ctx.fail("only nearest_mode floor is supported");
  const scalesIndex = ctx.opset >= 11 ? 2 : 1;
  const scales = constantValues(ctx, scalesIndex);
  const sizes = ctx.opset >= 11 ? constantValues(ctx, 3) : undefined;
  const rank = x.type.shape.length;
  let s: number[];
  let shape: number[];
  if (scales !== undefined && scales.length === rank) {
    s = scales.map(Math.fround);
    shape = x.type.shape.map((d, i) => Math.floor(d * s[i]!));
  } else if (sizes !== undefined && sizes.length === rank) {
    shape = sizes;
    s = sizes.map((d, i) => Math.fround(d / x.type.shape[i]!));
  } else throw ctx.fail("scales or sizes of the input's rank are required");
  return [ctx.emit("move", "resize_nearest", [x], { dtype: x.type.dtype, shape }, { scales: s })];
};

const ANY_NUMERIC = NUMERIC;
const BOOL = new Set<DType>(["bool"]);
const NUMERIC_OR_BOOL = new Set<DType>([...NUMERIC, "bool"]);

/** Where(cond, x, y): one map, all three broadcast (numpy rules). */
const Where: OperatorLowering = (ctx) => {
  const [c, x, y] = [0, 1, 2].map((i) => input(ctx, i)) as [Value, Value, Value];
  checkDtype(ctx, c, BOOL);
  checkDtype(ctx, x, NUMERIC_OR_BOOL);
  if (x.type.dtype !== y.type.dtype) throw ctx.fail(`operand dtypes ${x.type.dtype} and ${y.type.dtype} differ`);
  return [ctx.emit("map", "where", [c, x, y], { dtype: x.type.dtype, shape: broadcastShapes([c.type.shape, x.type.shape, y.type.shape]) })];
};

/** Comparisons and logical operators: a bool map (operands broadcast). */
function logical(op: MapOp, allowed: ReadonlySet<DType>): OperatorLowering {
  return (ctx) => {
    const a = input(ctx, 0);
    checkDtype(ctx, a, allowed);
    if (op === "not") return [ctx.emit("map", op, [a], { dtype: "bool", shape: a.type.shape })];
    const b = input(ctx, 1);
    if (a.type.dtype !== b.type.dtype) throw ctx.fail(`operand dtypes ${a.type.dtype} and ${b.type.dtype} differ`);
    return [ctx.emit("map", op, [a, b], { dtype: "bool", shape: broadcastShapes([a.type.shape, b.type.shape]) })];
  };
}

/** PRelu(x, slope): slope broadcast to x (unidirectional). */
const PRelu: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const slope = input(ctx, 1);
  checkDtype(ctx, x, FLOAT);
  checkDtype(ctx, slope, FLOAT);
  const shape = broadcastShapes([x.type.shape, slope.type.shape]);
  if (shape.length !== x.type.shape.length || shape.some((d, i) => d !== x.type.shape[i])) throw ctx.fail(`slope [${slope.type.shape}] does not broadcast to x [${x.type.shape}]`);
  return [ctx.emit("map", "prelu", [x, slope], x.type)];
};

/**
 * Constant indices a Gather/GatherElements step may carry. The step's encoding holds them (8 bytes each) and
 * a leaf proof on the step sends the whole encoding as calldata, so the cap keeps such a proof (every
 * call FraudGame makes) under the game's 2M gas per move with margin (test/attacks/game-leaf-gas.test.ts).
 */
export const MAX_CONSTANT_INDICES = 4096;

/** Constant indices of a Gather/GatherElements, normalized into [0, size) (refused outside or above MAX_CONSTANT_INDICES). */
function constantIndices(ctx: LowerContext, size: number): number[] {
  const v = ctx.inputs[1];
  if (v?.constant === undefined) throw ctx.fail("indices must be constant (integer weights or shape arithmetic); data-dependent indices are not supported");
  if (v.constant.values.length > MAX_CONSTANT_INDICES) {
    throw ctx.fail(`${v.constant.values.length} constant indices: a gather step carries at most ${MAX_CONSTANT_INDICES} (MAX_CONSTANT_INDICES: its encoding holds them and a leaf proof on it must fit the game's 2M gas per move)`);
  }
  return v.constant.values.map((i) => {
    if (!Number.isInteger(i) || i < -size || i >= size) throw ctx.fail(`index ${i} is out of range [${-size}, ${size})`);
    return i < 0 ? i + size : i;
  });
}

const Gather: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", 0), rank);
  const indices = constantIndices(ctx, x.type.shape[axis]!);
  const iShape = ctx.inputs[1]!.type.shape;
  const shape = [...x.type.shape.slice(0, axis), ...iShape, ...x.type.shape.slice(axis + 1)];
  return [ctx.emit("move", "gather", [x], { dtype: x.type.dtype, shape }, { axis: [axis], indices })];
};

const GatherElements: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", 0), rank);
  const indices = constantIndices(ctx, x.type.shape[axis]!);
  const shape = ctx.inputs[1]!.type.shape;
  if (shape.length !== rank || shape.some((d, i) => i !== axis && d > x.type.shape[i]!)) throw ctx.fail(`indices [${shape}] do not fit data [${x.type.shape}]`);
  return [ctx.emit("move", "gather_elements", [x], { dtype: x.type.dtype, shape: [...shape] }, { axis: [axis], indices })];
};

const PAD_MODES: Record<string, number> = { constant: 0, reflect: 1, edge: 2 };

/** Pad (constant, reflect, edge): one move; pads per axis [begin..., end...] (negative pads crop). */
const Pad: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const modeName = attrString(ctx.attributes, "mode", "constant");
  const mode = PAD_MODES[modeName];
  if (mode === undefined) throw ctx.fail(`mode ${modeName} is not supported`);
  let padsIn: number[];
  let value: number;
  let axes: number[];
  if (ctx.opset < 11) {
    padsIn = attrInts(ctx.attributes, "pads") ?? (() => { throw ctx.fail("pads are required"); })();
    value = attrFloat(ctx.attributes, "value", 0);
    axes = Array.from({ length: rank }, (_, i) => i);
  } else {
    padsIn = requiredConstant(ctx, 1);
    const v = constantValues(ctx, 2);
    if (v !== undefined && v.length !== 1) throw ctx.fail("constant_value must be a scalar");
    value = v?.[0] ?? 0;
    axes = (constantValues(ctx, 3) ?? Array.from({ length: rank }, (_, i) => i)).map((a) => normAxis(a, rank));
  }
  if (padsIn.length !== 2 * axes.length) throw ctx.fail(`pads [${padsIn}] do not match ${axes.length} axes`);
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a, i) => {
    pads[a] = padsIn[i]!;
    pads[a + rank] = padsIn[i + axes.length]!;
  });
  const shape = x.type.shape.map((d, a) => d + pads[a]! + pads[a + rank]!);
  if (shape.some((d) => d < 0)) throw ctx.fail(`pads [${padsIn}] crop below zero`);
  if (mode === 1 && x.type.shape.some((d, a) => pads[a]! >= d || pads[a + rank]! >= d)) throw ctx.fail("reflect pads must be smaller than the padded axis");
  if (mode !== 0 && x.type.shape.some((d, a) => d === 0 && shape[a]! > 0)) throw ctx.fail(`mode ${modeName} cannot pad an empty axis`);
  if (!INTEGER.has(x.type.dtype) && !FLOAT.has(x.type.dtype)) throw ctx.fail(`dtype ${x.type.dtype} is not supported`);
  const fill = FLOAT.has(x.type.dtype) ? Math.fround(value) : value;
  return [ctx.emit("move", "pad", [x], { dtype: x.type.dtype, shape }, { mode: [mode], pads, value: [fill] })];
};

const Tile: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const repeats = requiredConstant(ctx, 1);
  if (repeats.length !== x.type.shape.length || repeats.some((r) => !Number.isInteger(r) || r < 0)) throw ctx.fail(`repeats [${repeats}] do not match rank ${x.type.shape.length}`);
  return [ctx.emit("move", "tile", [x], { dtype: x.type.dtype, shape: x.type.shape.map((d, i) => d * repeats[i]!) })];
};

/** Split: one slice move per output. */
const Split: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", 0), rank);
  const dim = x.type.shape[axis]!;
  let sizes = ctx.opset < 13 ? attrInts(ctx.attributes, "split") : constantValues(ctx, 1);
  if (sizes === undefined) {
    const n = ctx.opset >= 18 ? attrInt(ctx.attributes, "num_outputs", 0) : ctx.outputs;
    if (!(n > 0)) throw ctx.fail("the number of outputs is unknown");
    const chunk = Math.ceil(dim / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== dim || sizes.some((v) => v < 0)) throw ctx.fail(`split [${sizes}] does not add up to ${dim}`);
  let at = 0;
  return sizes.map((len) => {
    const starts = x.type.shape.map((_, d) => (d === axis ? at : 0));
    at += len;
    return ctx.emit("move", "slice", [x], { dtype: x.type.dtype, shape: x.type.shape.map((d, i) => (i === axis ? len : d)) }, { starts, steps: x.type.shape.map(() => 1) });
  });
};

/** ConstantOfShape with a float value (integer values fold): a `fill` map. */
const ConstantOfShape: OperatorLowering = (ctx) => {
  const shape = requiredConstant(ctx, 0);
  const attr = ctx.attributes.get("value");
  const t = attr?.type === "tensor" ? attr.value : undefined;
  if (attr !== undefined && t === undefined) throw ctx.fail("value must be a tensor");
  const dtype = t?.dtype ?? "float32";
  if (!FLOAT.has(dtype)) throw ctx.fail(`value of dtype ${dtype} is not supported`);
  const v = t === undefined ? 0 : Number((t.data as ArrayLike<number>)[0] ?? 0);
  return [ctx.emit("map", "fill", [], { dtype, shape }, { value: [Math.fround(v)] })];
};

const Range: OperatorLowering = (ctx) => {
  throw ctx.fail(`only integer constant inputs fold (got ${ctx.inputs.map((v) => v?.type.dtype).join(", ")})`);
};

export const OPERATOR_LOWERINGS: Readonly<Record<string, OperatorLowering>> = {
  Add: binary("add"),
  Sub: binary("sub"),
  Mul: binary("mul"),
  Div: binary("div"),
  Pow: binary("pow"),
  Max: variadic("max"),
  Min: variadic("min"),
  Sum: variadic("add"),
  Neg: unary("neg", ANY_NUMERIC),
  Abs: unary("abs", ANY_NUMERIC),
  Relu: unary("relu", ANY_NUMERIC),
  Sqrt: unary("sqrt"),
  Exp: unary("exp"),
  Log: unary("log"),
  Sigmoid: unary("sigmoid"),
  Tanh: unary("tanh"),
  Erf: unary("erf"),
  Reciprocal: unary("reciprocal"),
  Floor: unary("floor"),
  Ceil: unary("ceil"),
  HardSigmoid: unary("hardsigmoid", FLOAT, (ctx) => ({ alpha: [attrFloat(ctx.attributes, "alpha", Math.fround(0.2))], beta: [attrFloat(ctx.attributes, "beta", 0.5)] })),
  HardSwish: unary("hardswish"),
  LeakyRelu: unary("leakyrelu", FLOAT, (ctx) => ({ alpha: [attrFloat(ctx.attributes, "alpha", Math.fround(0.01))] })),
  Clip,
  Cast,
  BatchNormalization,
  LayerNormalization,
  Gelu,
  Identity,
  Dropout: Identity,
  Reshape,
  Flatten,
  Squeeze,
  Unsqueeze,
  Transpose,
  Slice,
  Concat,
  Expand,
  Conv,
  ConvTranspose: via2d(ConvTranspose, 1),
  Resize,
  MatMul,
  MatMulInteger: MatMul,
  Gemm,
  MaxPool: via2d(pool("max")),
  AveragePool: via2d(pool("mean")),
  GlobalAveragePool: globalPool("mean"),
  GlobalMaxPool: globalPool("max"),
  ReduceMean: reduceOp("mean"),
  ReduceSum: reduceOp("sum"),
  ReduceMax: reduceOp("max"),
  ReduceMin: composedReduce("min"),
  ReduceL1: composedReduce("l1"),
  ReduceL2: composedReduce("l2"),
  ReduceSumSquare: composedReduce("sumsquare"),
  ReduceLogSum: composedReduce("logsum"),
  ReduceLogSumExp: composedReduce("logsumexp"),
  InstanceNormalization,
  Einsum,
  QuantizeLinear,
  DequantizeLinear,
  DynamicQuantizeLinear,
  ConvInteger: via2d(ConvInteger, 1),
  QLinearMatMul: qlinear(false),
  QLinearConv: via2d(qlinear(true), 3),
  Softmax,
  Where,
  Equal: logical("equal", NUMERIC_OR_BOOL),
  Less: logical("less", NUMERIC),
  Greater: logical("greater", NUMERIC),
  LessOrEqual: logical("less_equal", NUMERIC),
  GreaterOrEqual: logical("greater_equal", NUMERIC),
  Not: logical("not", BOOL),
  And: logical("and", BOOL),
  Or: logical("or", BOOL),
  Xor: logical("xor", BOOL),
  PRelu,
  Gather,
  GatherElements,
  Pad,
  Tile,
  Split,
  ConstantOfShape,
  Range,
};
