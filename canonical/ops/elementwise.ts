/** Elementwise operators (one map step each, or a few): arithmetic, Clip, Cast, BatchNormalization, Gelu, Where, comparisons and logic, PRelu. */
import { type DType, dtypeFromCode } from "../../protocol/index.js";
import { attrFloat, attrInt, attrString, broadcastShapes } from "../fold.js";
import type { MapOp, Params } from "../program.js";
import { BOOL, FLOAT, type LowerContext, NUMERIC, NUMERIC_OR_BOOL, type OperatorLowering, type Value, channelView, checkDtype, constantValues, input } from "./context.js";

export function binary(op: MapOp): OperatorLowering {
  return (ctx) => {
    const a = input(ctx, 0);
    const b = input(ctx, 1);
    checkDtype(ctx, a, NUMERIC);
    if (a.type.dtype !== b.type.dtype) throw ctx.fail(`operand dtypes ${a.type.dtype} and ${b.type.dtype} differ`);
    if (op === "pow" && !FLOAT.has(a.type.dtype)) throw ctx.fail("integer Pow is not supported");
    return [ctx.emit("map", op, [a, b], { dtype: a.type.dtype, shape: broadcastShapes([a.type.shape, b.type.shape]) })];
  };
}

export function variadic(op: MapOp): OperatorLowering {
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

export function unary(op: MapOp, allowed: ReadonlySet<DType> = FLOAT, params: (ctx: LowerContext) => Params = () => ({})): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, allowed);
    return [ctx.emit("map", op, [x], x.type, params(ctx))];
  };
}

/** ONNX's defaults for an absent Clip bound: numeric_limits<T>::lowest() and max() (±FLT_MAX for float: +Inf clips to FLT_MAX). */
export const FLT_MAX = 3.4028234663852886e38;

export const Clip: OperatorLowering = (ctx) => {
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

export const Cast: OperatorLowering = (ctx) => {
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

export const BatchNormalization: OperatorLowering = (ctx) => {
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

/** Gelu (opset 20), exact form: x · (1 + erf(x / √2)) / 2; approximate tanh: x · (1 + tanh(√(2/π)·(x + 0.044715·x³))) / 2. */
export const Gelu: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  checkDtype(ctx, x, FLOAT);
  const approximate = attrString(ctx.attributes, "approximate", "none");
  if (approximate !== "none" && approximate !== "tanh") throw ctx.fail(`approximate ${approximate} is not supported`);
  return [ctx.emit("map", approximate === "tanh" ? "gelu_tanh" : "gelu", [x], x.type)];
};

/** Where(cond, x, y): one map, all three broadcast (numpy rules). */
export const Where: OperatorLowering = (ctx) => {
  const [c, x, y] = [0, 1, 2].map((i) => input(ctx, i)) as [Value, Value, Value];
  checkDtype(ctx, c, BOOL);
  checkDtype(ctx, x, NUMERIC_OR_BOOL);
  if (x.type.dtype !== y.type.dtype) throw ctx.fail(`operand dtypes ${x.type.dtype} and ${y.type.dtype} differ`);
  return [ctx.emit("map", "where", [c, x, y], { dtype: x.type.dtype, shape: broadcastShapes([c.type.shape, x.type.shape, y.type.shape]) })];
};

/** Comparisons and logical operators: a bool map (operands broadcast). */
export function logical(op: MapOp, allowed: ReadonlySet<DType>): OperatorLowering {
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
export const PRelu: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const slope = input(ctx, 1);
  checkDtype(ctx, x, FLOAT);
  checkDtype(ctx, slope, FLOAT);
  const shape = broadcastShapes([x.type.shape, slope.type.shape]);
  if (shape.length !== x.type.shape.length || shape.some((d, i) => d !== x.type.shape[i])) throw ctx.fail(`slope [${slope.type.shape}] does not broadcast to x [${x.type.shape}]`);
  return [ctx.emit("map", "prelu", [x, slope], x.type)];
};
