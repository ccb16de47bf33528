/** Reductions (Reduce*) and the normalizations built on them: LayerNormalization, InstanceNormalization, Softmax. */
import { attrFloat, attrInt, attrInts, normAxis } from "../fold.js";
import { type MapOp, REDUCE_FNS, type TensorType } from "../program.js";
import { FLOAT, type LowerContext, type OperatorLowering, type Value, channelView, checkDtype, constantValues, input, reshapeTo } from "./context.js";

/**
 * LayerNormalization (opset 17): mean = Σx/K, d = x − mean, var = Σd²/K over the axes from `axis` on,
 * y = d / √(var + ε) · scale + bias (five steps).
 */
export const LayerNormalization: OperatorLowering = (ctx) => {
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

export function reduceAxes(ctx: LowerContext, x: Value, fn: keyof typeof REDUCE_FNS, axes: number[], keepDims: boolean): Value {
  const sorted = [...new Set(axes)].sort((p, q) => p - q);
  const shape = x.type.shape.flatMap((d, i) => (sorted.includes(i) ? (keepDims ? [1] : []) : [d]));
  return ctx.emit("reduce", "reduce", [x], { dtype: x.type.dtype, shape }, { fn: [REDUCE_FNS[fn]], axes: sorted });
}

/** A Reduce* operator's axes (undefined: noop_with_empty_axes with no axes) and keepdims. */
export function reduceArgs(ctx: LowerContext, x: Value): { axes: number[] | undefined; keepDims: boolean } {
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

export function reduceOp(fn: keyof typeof REDUCE_FNS): OperatorLowering {
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
export function composedReduce(kind: "min" | "l1" | "l2" | "sumsquare" | "logsum" | "logsumexp"): OperatorLowering {
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
export const InstanceNormalization: OperatorLowering = (ctx) => {
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

/** Softmax: m = max over the axes, e = exp(x − m), s = Σ e, y = e / s (four steps). */
export const Softmax: OperatorLowering = (ctx) => {
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
