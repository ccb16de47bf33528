/** Pools: MaxPool, AveragePool (2-D and 3-D), GlobalAveragePool, GlobalMaxPool. */
import { attrInt, attrInts } from "../fold.js";
import { REDUCE_FNS } from "../program.js";
import { FLOAT, type LowerContext, type OperatorLowering, type Value, checkDtype, input } from "./context.js";
import { reduceAxes } from "./reduce.js";
import { spatialPads, windowOut } from "./window.js";

export function pool(fn: "max" | "mean"): OperatorLowering {
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
export function pool3d(ctx: LowerContext, x: Value, fn: "max" | "mean"): Value {
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

export function globalPool(fn: "max" | "mean"): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    checkDtype(ctx, x, FLOAT);
    const rank = x.type.shape.length;
    const axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
    return [reduceAxes(ctx, x, fn, axes, true)];
  };
}
