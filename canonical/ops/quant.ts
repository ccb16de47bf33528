/** Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, ConvInteger, QLinearMatMul, QLinearConv. */
import { type DType, dtypeFromCode } from "../../protocol/index.js";
import { attrInt, broadcastShapes, normAxis } from "../fold.js";
import type { Params } from "../program.js";
import { FLOAT, type LowerContext, type OperatorLowering, QUANT, type Value, checkDtype, input, numelOfShape } from "./context.js";
import { conv2d } from "./conv.js";
import { matmulStep } from "./matmul.js";
import { reduceAxes } from "./reduce.js";

/** x − zp as an int32 map (exact), zp read through `view` when given (per-axis zero points). */
export function subZeroPoint(ctx: LowerContext, x: Value, zp: Value, view?: number[]): Value {
  if (zp.type.dtype !== x.type.dtype) throw ctx.fail(`zero point dtype ${zp.type.dtype} differs from ${x.type.dtype}`);
  const shape = broadcastShapes([x.type.shape, view ?? zp.type.shape]);
  if (shape.length !== x.type.shape.length || shape.some((d, i) => d !== x.type.shape[i])) throw ctx.fail(`zero point [${zp.type.shape}] does not broadcast to [${x.type.shape}]`);
  return ctx.emit("map", "sub", [x, zp], { dtype: "int32", shape }, view ? { view1: view } : {});
}

/** The view of a per-axis (1-D) quantization parameter against x along `axis`; undefined for a scalar. */
export function axisView(ctx: LowerContext, x: Value, p: Value, axis: number): number[] | undefined {
  const rank = x.type.shape.length;
  if (p.type.shape.length === 0 || (p.type.shape.length === 1 && p.type.shape[0] === 1)) return undefined;
  if (p.type.shape.length !== 1 || p.type.shape[0] !== x.type.shape[axis]) throw ctx.fail(`quantization parameter [${p.type.shape}] must be a scalar or 1-D of size ${x.type.shape[axis]} (axis ${axis}); blocked quantization is not supported`);
  return x.type.shape.map((d, i) => (i === axis ? d : 1));
}

/** QuantizeLinear: y = sat(rhe(fl32(x / scale)) + zp), per tensor or per axis. */
export const QuantizeLinear: OperatorLowering = (ctx) => {
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
export const DequantizeLinear: OperatorLowering = (ctx) => {
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
export const DynamicQuantizeLinear: OperatorLowering = (ctx) => {
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
export const ConvInteger: OperatorLowering = (ctx) => {
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

/**
 * QLinearMatMul / QLinearConv: zero points subtracted (int32 maps), the int32 contraction, the
 * multiplier m = fl32(fl32(s_a · s_b) / s_y) (`map qscale`, per row of A / per column of B / per output
 * channel of W), then y = sat(rhe(fl32(fl32(acc) · m)) + y_zp) (`map requantize`).
 */
export function qlinear(conv: boolean): OperatorLowering {
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
