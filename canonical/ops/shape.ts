/** Operators that move values without arithmetic: reshapes, transposes, slices, concatenation, Expand, Gather, Pad, Tile, Split, ConstantOfShape, Range. */
import { attrFloat, attrInt, attrInts, attrString, broadcastShapes, normAxis, reshapeTarget, sliceBounds, squeezeShape, unsqueezeShape } from "../fold.js";
import { FLOAT, INTEGER, type LowerContext, type OperatorLowering, type Value, constantValues, input, requiredConstant, reshapeTo } from "./context.js";

export const Reshape: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  return [reshapeTo(ctx, x, reshapeTarget(x.type.shape, requiredConstant(ctx, 1), attrInt(ctx.attributes, "allowzero", 0) === 1))];
};

export const Flatten: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = attrInt(ctx.attributes, "axis", 1);
  const a = axis < 0 ? axis + rank : axis;
  const lead = x.type.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const rest = x.type.shape.slice(a).reduce((p, d) => p * d, 1);
  return [reshapeTo(ctx, x, [lead, rest])];
};

export const Squeeze: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const axes = ctx.opset < 13 ? attrInts(ctx.attributes, "axes") : constantValues(ctx, 1);
  return [reshapeTo(ctx, x, squeezeShape(x.type.shape, axes))];
};

export const Unsqueeze: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const axes = ctx.opset < 13 ? attrInts(ctx.attributes, "axes") : constantValues(ctx, 1);
  if (axes === undefined) throw ctx.fail("axes are required");
  return [reshapeTo(ctx, x, unsqueezeShape(x.type.shape, axes))];
};

export const Identity: OperatorLowering = (ctx) => [reshapeTo(ctx, input(ctx, 0), input(ctx, 0).type.shape)];

export const Transpose: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const perm = attrInts(ctx.attributes, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || new Set(perm).size !== rank) throw ctx.fail(`perm [${perm}] is not a permutation of rank ${rank}`);
  return [ctx.emit("move", "transpose", [x], { dtype: x.type.dtype, shape: perm.map((p) => x.type.shape[p]!) }, { perm })];
};

export const Slice: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  let b;
  if (ctx.opset < 10) b = sliceBounds(x.type.shape, attrInts(ctx.attributes, "starts") ?? [], attrInts(ctx.attributes, "ends") ?? [], attrInts(ctx.attributes, "axes"), undefined);
  else b = sliceBounds(x.type.shape, requiredConstant(ctx, 1), requiredConstant(ctx, 2), constantValues(ctx, 3), constantValues(ctx, 4));
  return [ctx.emit("move", "slice", [x], { dtype: x.type.dtype, shape: b.out }, { starts: b.starts, steps: b.steps })];
};

export const Concat: OperatorLowering = (ctx) => {
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

export const Expand: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const shape = broadcastShapes([x.type.shape, requiredConstant(ctx, 1)]);
  return [ctx.emit("move", "expand", [x], { dtype: x.type.dtype, shape })];
};

/**
 * Constant indices a Gather/GatherElements step may carry. The step's encoding holds them (8 bytes each) and
 * a leaf proof on the step sends the whole encoding as calldata, so the cap keeps such a proof (every
 * call FraudGame makes) under the game's 2M gas per move with margin (test/attacks/game-leaf-gas.test.ts).
 */
export const MAX_CONSTANT_INDICES = 4096;

/** Constant indices of a Gather/GatherElements, normalized into [0, size) (refused outside or above MAX_CONSTANT_INDICES). */
export function constantIndices(ctx: LowerContext, size: number): number[] {
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

export const Gather: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", 0), rank);
  const indices = constantIndices(ctx, x.type.shape[axis]!);
  const iShape = ctx.inputs[1]!.type.shape;
  const shape = [...x.type.shape.slice(0, axis), ...iShape, ...x.type.shape.slice(axis + 1)];
  return [ctx.emit("move", "gather", [x], { dtype: x.type.dtype, shape }, { axis: [axis], indices })];
};

export const GatherElements: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.type.shape.length;
  const axis = normAxis(attrInt(ctx.attributes, "axis", 0), rank);
  const indices = constantIndices(ctx, x.type.shape[axis]!);
  const shape = ctx.inputs[1]!.type.shape;
  if (shape.length !== rank || shape.some((d, i) => i !== axis && d > x.type.shape[i]!)) throw ctx.fail(`indices [${shape}] do not fit data [${x.type.shape}]`);
  return [ctx.emit("move", "gather_elements", [x], { dtype: x.type.dtype, shape: [...shape] }, { axis: [axis], indices })];
};

export const PAD_MODES: Record<string, number> = { constant: 0, reflect: 1, edge: 2 };

/** Pad (constant, reflect, edge): one move; pads per axis [begin..., end...] (negative pads crop). */
export const Pad: OperatorLowering = (ctx) => {
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

export const Tile: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const repeats = requiredConstant(ctx, 1);
  if (repeats.length !== x.type.shape.length || repeats.some((r) => !Number.isInteger(r) || r < 0)) throw ctx.fail(`repeats [${repeats}] do not match rank ${x.type.shape.length}`);
  return [ctx.emit("move", "tile", [x], { dtype: x.type.dtype, shape: x.type.shape.map((d, i) => d * repeats[i]!) })];
};

/** Split: one slice move per output. */
export const Split: OperatorLowering = (ctx) => {
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
export const ConstantOfShape: OperatorLowering = (ctx) => {
  const shape = requiredConstant(ctx, 0);
  const attr = ctx.attributes.get("value");
  const t = attr?.type === "tensor" ? attr.value : undefined;
  if (attr !== undefined && t === undefined) throw ctx.fail("value must be a tensor");
  const dtype = t?.dtype ?? "float32";
  if (!FLOAT.has(dtype)) throw ctx.fail(`value of dtype ${dtype} is not supported`);
  const v = t === undefined ? 0 : Number((t.data as ArrayLike<number>)[0] ?? 0);
  return [ctx.emit("map", "fill", [], { dtype, shape }, { value: [Math.fround(v)] })];
};

export const Range: OperatorLowering = (ctx) => {
  throw ctx.fail(`only integer constant inputs fold (got ${ctx.inputs.map((v) => v?.type.dtype).join(", ")})`);
};
